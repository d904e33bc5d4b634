"""``esak mail stats``: how a site's incoming mail was filed — letters, the share routed by
esak itself, the Klärfälle by reason, the oldest letter still waiting (its deadlines run
from the receipt stamp), and the corrections people made."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from esak.errors import ExitCode
from esak.index import mail as mail_rows
from esak.index.db import Index
from esak.profiles import load_profile
from esak.vocabulary import CaseStatus, MailReason, MailRoute
from esak.workspace import Workspace


@dataclass
class MailStats:
    site: str
    since: str | None
    letters: int = 0
    by_route: dict[str, int] = field(default_factory=dict)
    cases_open: int = 0
    cases_resolved: int = 0
    #: every letter not routed by itself, by its case's reason (open and resolved)
    by_reason: dict[str, int] = field(default_factory=dict)
    open_by_reason: dict[str, int] = field(default_factory=dict)
    #: the open case whose letter was received first: id, receipt date, days since then
    oldest_open: dict[str, Any] | None = None
    #: cases a person resolved: letters filed by hand, letters given up (closed)
    assigned: int = 0
    closed: int = 0
    exit_code: ExitCode = ExitCode.OK

    @property
    def auto_routed(self) -> int:
        return self.by_route.get(MailRoute.BARCODE, 0) + self.by_route.get(MailRoute.TEXT, 0)

    @property
    def auto_routed_share(self) -> float | None:
        return round(self.auto_routed / self.letters, 4) if self.letters else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "since": self.since,
            "letters": self.letters,
            "auto_routed": self.auto_routed,
            "auto_routed_share": self.auto_routed_share,
            "routed": {route.value: self.by_route.get(route, 0) for route in MailRoute},
            "cases": {
                "open": self.cases_open,
                "resolved": self.cases_resolved,
                "by_reason": self.by_reason,
                "open_by_reason": self.open_by_reason,
            },
            "oldest_open": self.oldest_open,
            "corrections": {"assigned": self.assigned, "closed": self.closed},
        }


def mail_stats(
    workspace: Workspace, site: str, since: dt.date | None = None, today: dt.date | None = None
) -> MailStats:
    """The site's incoming mail (received on or after ``since``), read only."""
    profile = load_profile(site)
    workspace.existing()
    stats = MailStats(profile.key, since.isoformat() if since else None)
    if not workspace.index_path.is_file():
        return stats  # an empty workspace: no mail yet
    with Index.open_readonly(workspace.index_path) as index:
        letters = mail_rows.site_letters(index, profile.key, stats.since)
        states = mail_rows.case_states(index, [x.case_id for x in letters if x.case_id])
    today = today or dt.date.today()
    stats.letters = len(letters)
    stats.by_route = dict(Counter(x.route for x in letters if x.route))
    reasons: Counter[str] = Counter()
    open_reasons: Counter[str] = Counter()
    for letter in letters:
        if letter.case_id is None:
            continue
        reason = letter.reason or MailReason.NO_CANDIDATE
        reasons[reason] += 1
        status = states.get(letter.case_id, (CaseStatus.OPEN, ""))[0]
        if letter.route == MailRoute.ASSIGN:
            stats.assigned += 1
        if status == CaseStatus.OPEN:
            stats.cases_open += 1
            open_reasons[reason] += 1
            waiting = (today - dt.date.fromisoformat(letter.received_at or today.isoformat())).days
            if stats.oldest_open is None or waiting > stats.oldest_open["days"]:
                stats.oldest_open = {"case": letter.case_id, "received_at": letter.received_at,
                                     "days": waiting, "file": letter.file,
                                     "first_page": letter.first_page}  # fmt: skip
        else:
            stats.cases_resolved += 1
            if letter.route != MailRoute.ASSIGN:
                stats.closed += 1
    stats.by_reason = {r.value: reasons[r] for r in MailReason if reasons[r]}
    stats.open_by_reason = {r.value: open_reasons[r] for r in MailReason if open_reasons[r]}
    return stats

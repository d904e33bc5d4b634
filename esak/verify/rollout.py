"""``esak rollout``: where every site of the district stands, and what blocks the next one.

A site's state follows from its profile and the index alone:

- ``unplanned``: no go-live date, nothing ingested;
- ``planned``: a go-live date, nothing ingested;
- ``importing``: files ingested, but no passing verification since the last ingest (or
  withdrawal of a delivery);
- ``verified``: the last verification passed and nothing was ingested or withdrawn after it;
- ``live``: verified, its go-live date has come, and the paper originals of every delivery
  were released for destruction (``esak release``): until then the paper is the file too.

Deliveries blocked with few days left before the provider destroys their paper are the site's
``urgent_holds``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from esak.errors import ExitCode
from esak.i18n import N_
from esak.index.cases import open_case_counts
from esak.index.db import Index
from esak.profiles import Profile
from esak.verify.fixity import Level
from esak.vocabulary import POST_VOLUME, SiteState

STATES = tuple(SiteState)


@dataclass
class SiteStatus:
    key: str
    name: str
    rollout_order: int | None
    go_live: dt.date | None
    go_live_note: str | None
    expected: int = 0
    #: expected households with archived documents (as verify counts them)
    archived: int = 0
    missing: int = 0
    #: households with archived documents that the expected list does not name
    unexpected: int = 0
    #: Klärfälle not yet resolved (as of the last ingest or verify of the site)
    open_cases: int = 0
    documents: int = 0
    pages_input: int = 0
    pages_archived: int = 0
    files_set_aside: int = 0
    last_ingest: str | None = None
    last_verification: dict[str, Any] | None = None
    state: SiteState = SiteState.UNPLANNED
    overdue: bool = False
    #: what stands between this site and its sign-off, each with what to do about it
    blockers: list[dict[str, str]] = field(default_factory=list)
    #: deliveries (not withdrawn), those released for destruction, and the urgent holds:
    #: blocked, undecided, and at most warn_days before the paper's destruction
    deliveries: int = 0
    released: int = 0
    urgent_holds: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.key,
            "name": self.name,
            "rollout_order": self.rollout_order,
            "go_live": self.go_live.isoformat() if self.go_live else None,
            "go_live_note": self.go_live_note,
            "state": self.state,
            "overdue": self.overdue,
            "households": {
                "expected": self.expected,
                "archived": self.archived,
                "missing": self.missing,
                "unexpected": self.unexpected,
            },
            "open_cases": self.open_cases,
            "documents": self.documents,
            "pages": {"input": self.pages_input, "archived": self.pages_archived},
            "files_set_aside": self.files_set_aside,
            "deliveries": {"total": self.deliveries, "released": self.released},
            "urgent_holds": self.urgent_holds,
            "last_ingest": self.last_ingest,
            "last_verification": self.last_verification,
            "blockers": [
                {k: v for k, v in b.items() if not k.startswith("_")} for b in self.blockers
            ],
        }


@dataclass
class RolloutStatus:
    today: dt.date
    sites: list[SiteStatus]

    @property
    def overdue(self) -> list[str]:
        return [s.key for s in self.sites if s.overdue]

    @property
    def exit_code(self) -> ExitCode:
        """``rollout status``: 1 when a site is overdue."""
        return ExitCode.PROBLEMS if self.overdue else ExitCode.OK

    @property
    def plan_exit_code(self) -> ExitCode:
        """``rollout plan``: 1 when something blocks the next site."""
        nxt = self.next_site
        return ExitCode.PROBLEMS if nxt and nxt.blockers else ExitCode.OK

    @property
    def next_site(self) -> SiteStatus | None:
        """The first site in rollout order that is not live yet."""
        return next((s for s in self.sites if s.state != SiteState.LIVE), None)

    @property
    def totals(self) -> dict[str, int]:
        return {
            "expected": sum(s.expected for s in self.sites),
            "archived": sum(s.archived for s in self.sites),
            "missing": sum(s.missing for s in self.sites),
            "documents": sum(s.documents for s in self.sites),
            "pages_input": sum(s.pages_input for s in self.sites),
            "pages_archived": sum(s.pages_archived for s in self.sites),
        }

    def to_dict(self) -> dict[str, Any]:
        nxt = self.next_site
        return {
            "today": self.today.isoformat(),
            "ok": not self.overdue,
            "overdue": self.overdue,
            "next": nxt.key if nxt else None,
            "next_blocked": bool(nxt and nxt.blockers),
            "totals": self.totals,
            "states": {state: sum(s.state == state for s in self.sites) for state in STATES},
            "sites": [s.to_dict() for s in self.sites],
        }


def rollout_status(
    index: Index, profiles: list[Profile], today: dt.date | None = None
) -> RolloutStatus:
    """Every site, in rollout order, with its figures from the index and its state."""
    today = today or dt.date.today()
    db = index.db
    sites = {
        p.key: SiteStatus(p.key, p.name, p.rollout_order, p.go_live, p.go_live_note)
        for p in profiles
    }
    expected = _by_site(db.execute("SELECT site, household FROM expected"))
    # A household's incoming mail (volume 0) does not make its paper file archived.
    sql = "SELECT DISTINCT site, household FROM documents WHERE volume != ?"
    archived = _by_site(db.execute(sql, [POST_VOLUME]))
    for site, documents, pages in db.execute(
        "SELECT site, COUNT(*), SUM(pages) FROM documents GROUP BY site"
    ):
        if site in sites:
            sites[site].documents, sites[site].pages_archived = documents, pages or 0
    for site, pages, set_aside, last in db.execute(
        "SELECT site, SUM(CASE WHEN outcome = 'withdrawn' THEN 0 ELSE COALESCE(page_count, 0) "
        "END), SUM(outcome = 'quarantined'), MAX(ingested_at) FROM input_files "
        "WHERE outcome != 'duplicate' GROUP BY site"
    ):
        if site in sites:
            s = sites[site]
            s.pages_input, s.files_set_aside, s.last_ingest = pages or 0, set_aside or 0, last
    # A withdrawal changes what a site has archived as an ingest does: a verification from
    # before it no longer holds.
    for site, last in db.execute("SELECT site, MAX(at) FROM withdrawals GROUP BY site"):
        if site in sites and (sites[site].last_ingest or "") < last:
            sites[site].last_ingest = last
    for row in db.execute(
        "SELECT v.site, v.id, v.level, v.finished_at, v.ok, v.findings FROM verifications v "
        "JOIN (SELECT site, MAX(id) AS id FROM verifications GROUP BY site) m ON m.id = v.id"
    ):
        if row[0] in sites:
            sites[row[0]].last_verification = {
                "id": row[1],
                "level": row[2],
                "at": row[3],
                "ok": bool(row[4]),
                "findings": json.loads(row[5]),
            }
    for site, n in open_case_counts(index).items():
        if site in sites:
            sites[site].open_cases = n
    from esak.verify.release import site_releases

    for p in profiles:
        judged = site_releases(None, index, p, today)
        s = sites[p.key]
        s.deliveries = len(judged)
        s.released = sum(1 for d in judged if (d.decision or {}).get("decision") == "release")
        s.urgent_holds = [d.delivery for d in judged if d.urgent]
    for s in sites.values():
        exp, arc = expected.get(s.key, set()), archived.get(s.key, set())
        # Counted as verify counts them: a household not on the list is not "archived".
        s.expected, s.archived = len(exp), len(arc & exp)
        s.missing, s.unexpected = len(exp - arc), len(arc - exp)
        _judge(s, today)
    return RolloutStatus(today, [sites[p.key] for p in profiles])


def _by_site(rows: Any) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for site, household in rows:
        out.setdefault(site, set()).add(household)
    return out


def _judge(s: SiteStatus, today: dt.date) -> None:
    verified = bool(
        s.last_verification
        and s.last_verification["ok"]
        # A fast verification does not look for untracked files: it signs nothing off.
        and s.last_verification["level"] != Level.FAST
        and (s.last_ingest is None or s.last_verification["at"] >= s.last_ingest)
    )
    if s.last_ingest is None:
        s.state = SiteState.PLANNED if s.go_live else SiteState.UNPLANNED
    elif not verified:
        s.state = SiteState.IMPORTING
    else:
        released = s.released == s.deliveries
        due = bool(s.go_live and s.go_live <= today)
        s.state = SiteState.LIVE if due and released else SiteState.VERIFIED
    s.overdue = bool(
        s.go_live and s.go_live <= today and s.state not in (SiteState.VERIFIED, SiteState.LIVE)
    )

    def block(reason: str, action: str, **params: Any) -> None:
        # The reason in English for JSON; its template and values for a translated report.
        s.blockers.append(
            {"reason": reason.format(**params), "action": action, "_text": (reason, params)}
        )

    due_now = bool(s.go_live and s.go_live <= today)
    if s.urgent_holds:
        block(
            N_("{n} delivery/ies blocked shortly before their paper is destroyed"),
            f"esak release check --site {s.key}; tell the scanning provider to hold them "
            f"(esak release list --site {s.key} -o sperrliste.pdf)",
            n=len(s.urgent_holds),
        )
    if s.state == SiteState.VERIFIED and s.released < s.deliveries and due_now:
        block(
            N_("{n} of {total} delivery/ies not released for the destruction of their paper"),
            f"esak release check --site {s.key}",
            n=s.deliveries - s.released,
            total=s.deliveries,
        )
    if s.state in (SiteState.VERIFIED, SiteState.LIVE):
        return
    if s.go_live is None:
        block(N_("no go-live date"), f"set go_live in profiles/{s.key}.toml")
    if s.expected == 0:
        block(N_("no expected list imported"), f"esak expected import --site {s.key} FILE.csv")
    if s.last_ingest is None:
        block(N_("nothing ingested yet"), f"esak ingest --site {s.key} DELIVERY_DIR")
        return
    if s.missing:
        block(
            N_("{n} expected household(s) not archived"),
            "ingest the deliveries that hold them; `esak verify` lists them",
            n=s.missing,
        )
    if s.files_set_aside:
        block(
            N_("{n} input file(s) set aside"),
            "clear them up with the scanning service; `esak verify` gives the reasons",
            n=s.files_set_aside,
        )
    if s.open_cases:
        block(
            N_("{n} open Klärfall/Klärfälle"), f"esak clarify list --site {s.key}", n=s.open_cases
        )
    last = s.last_verification
    if last is None:
        block(N_("never verified"), f"esak verify --site {s.key}")
    elif s.last_ingest and last["at"] < s.last_ingest:
        block(N_("not verified since the last ingest"), f"esak verify --site {s.key}")
    elif last["level"] == Level.FAST and last["ok"]:
        block(
            N_("last verification was at level fast, which does not look for untracked files"),
            f"esak verify --site {s.key}",
        )
    elif not last["ok"]:
        block(
            N_("last verification found {n} problem(s)"),
            f"esak verify --site {s.key} lists them",
            n=len(last["findings"]),
        )


def blocker_text(blocker: dict[str, Any], translate: Any) -> str:
    """A blocker's reason in the reader's language (``translate``: gettext's ``_``)."""
    template, params = blocker.get("_text", (blocker["reason"], {}))
    return str(translate(template)).format(**params)

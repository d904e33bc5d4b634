"""Klärfälle: every finding that blocks a site's sign-off is a case, with a stable id.

A case is made from a finding (:func:`site_findings`) the first time ingest or verify sees it
(:func:`sync_cases`) and is keyed by what the finding is about, so a re-run never makes it
twice. When the finding goes away by itself (the missing household's file arrives, a broken
file is delivered again and ingests, the manifest's file turns up) the case is closed with
the action ``auto_close``; if it comes back, it opens again (so does a case resolved because
its delivery was withdrawn, ``withdrawn``, when that delivery is ingested again). A person
resolves the rest (``assign``, ``close``) or opens a case again (``reopen``), always with a
name and a reason.
Every change is a row in ``case_events``; nothing is ever deleted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from esak.errors import UsageError
from esak.i18n import N_
from esak.index.audit import CASE_EVENT, CASE_EVENT_FIELDS, append_audit, audit_fields, now
from esak.index.db import Index
from esak.index.facts import (
    Scope,
    delivery_problems,
    expected_volumes,
    files_with_outcome,
    page_count_mismatches,
    quarantined_pages,
)
from esak.vocabulary import POST_VOLUME, CaseKind, CaseStatus, FileOutcome, PageOutcome

#: What a person does about each kind of case: the command a list shows beside it.
ACTIONS = {
    CaseKind.PAGES: N_(
        "esak clarify assign {id} --household H --by NAME --reason TEXT "
        "(or: esak clarify close {id} …)"
    ),
    CaseKind.FILE: N_(
        "deliver the file again and ingest it, or: esak clarify close {id} --by NAME --reason TEXT"
    ),
    CaseKind.MISSING_HOUSEHOLD: N_(
        "ingest the delivery that holds it, or (no paper file): "
        "esak clarify close {id} --by NAME --reason TEXT"
    ),
    CaseKind.UNEXPECTED_HOUSEHOLD: N_(
        "add it to the expected list, or accept it: esak clarify close {id} --by NAME --reason TEXT"
    ),
    CaseKind.DELIVERY_PROBLEM: N_(
        "have the scanning service deliver what is missing, or: "
        "esak clarify close {id} --by NAME --reason TEXT"
    ),
    CaseKind.PAGE_COUNT_MISMATCH: N_(
        "count the paper again; then esak clarify close {id} --by NAME --reason TEXT"
    ),
    CaseKind.QA_DEFECT: N_(
        "check the paper and scan the page again (or correct its file); then "
        "esak clarify close {id} --by NAME --reason TEXT"
    ),
    CaseKind.MAIL: N_(
        "read the letter and file it: esak clarify assign {id} --household H --by NAME "
        "--reason TEXT (or: esak clarify close {id} …)"
    ),
}

#: Kinds a person reports rather than a finding of the index: sync_cases never closes them.
REPORTED_KINDS = frozenset({CaseKind.QA_DEFECT, CaseKind.MAIL})

#: The reason recorded when a finding went away by itself.
GONE = N_("the finding is gone")
#: The reason recorded when a finding that had gone away came back.
BACK = N_("the finding is back")


@dataclass(frozen=True)
class Finding:
    kind: CaseKind
    #: what the finding is about, the same on every run: one case per key and site
    key: str
    detail: str
    file: str | None = None
    file_id: int | None = None
    delivery_id: int | None = None
    #: pages counted from 1
    first_page: int | None = None
    last_page: int | None = None
    household: str | None = None
    volume: int | None = None


# The key of each kind of finding, from the rows of esak.index.facts (used by verify too, to
# tell a resolved finding from an open one).
def pages_key(row: dict[str, Any]) -> str:
    return f"pages:{row['file_id']}:{row['first']}-{row['last']}"


def file_key(row: dict[str, Any]) -> str:
    return f"file:{row['file']}"


def missing_key(household: str, volume: int | None = None) -> str:
    return f"missing:{household}" if volume is None else f"missing:{household}:{volume}"


def unexpected_key(household: str) -> str:
    return f"unexpected:{household}"


def delivery_key(row: dict[str, Any]) -> str:
    return f"delivery:{row['delivery_id']}:{row['file']}:{row['problem']}"


def count_key(row: dict[str, Any]) -> str:
    return f"count:{row['file_id']}:{row['household']}:{row['volume']}"


def site_findings(index: Index, site: str) -> list[Finding]:
    """Every finding that blocks the site's sign-off, as it stands in the index now."""
    scope = Scope(site)
    found: list[Finding] = []
    for q in quarantined_pages(index, scope):
        found.append(
            Finding(CaseKind.PAGES, pages_key(q),
                    q["reason"], q["file"], q["file_id"], q["delivery_id"],
                    q["first"] + 1, q["last"] + 1)
        )  # fmt: skip
    for f in files_with_outcome(index, scope, FileOutcome.QUARANTINED):
        found.append(
            Finding(CaseKind.FILE, file_key(f), f["reason"] or "", f["file"],
                    f["file_id"], f["delivery_id"])
        )  # fmt: skip
    expected = expected_volumes(index, site)
    archived: dict[str, set[int]] = {}
    # A household's incoming mail (volume 0) is not its paper file: it neither makes an
    # expected household archived nor an unknown one unexpected.
    for household, volume in index.db.execute(
        "SELECT DISTINCT household, volume FROM documents WHERE site = ? AND volume != ?",
        [site, POST_VOLUME],
    ):
        archived.setdefault(household, set()).add(volume)
    for household, volumes in expected.items():
        have = archived.get(household, set())
        if not have:
            found.append(
                Finding(CaseKind.MISSING_HOUSEHOLD, missing_key(household),
                        N_("expected household without archived documents"), household=household)
            )  # fmt: skip
            continue
        for volume in range(1, volumes + 1):
            if volume not in have:
                found.append(
                    Finding(CaseKind.MISSING_HOUSEHOLD, missing_key(household, volume),
                            N_("expected volume not archived"), household=household, volume=volume)
                )  # fmt: skip
    for household in sorted(set(archived) - set(expected)):
        found.append(
            Finding(CaseKind.UNEXPECTED_HOUSEHOLD, unexpected_key(household),
                    N_("archived household not on the expected list"), household=household)
        )  # fmt: skip
    for p in delivery_problems(index, scope):
        found.append(
            Finding(CaseKind.DELIVERY_PROBLEM, delivery_key(p),
                    p["problem"], p["file"], delivery_id=p["delivery_id"])
        )  # fmt: skip
    for m in page_count_mismatches(index, scope):
        found.append(
            Finding(CaseKind.PAGE_COUNT_MISMATCH, count_key(m),
                    f"cover sheet declares {m['declared']} pages, {m['found']} found",
                    m["file"], m["file_id"], household=m["household"], volume=m["volume"])
        )  # fmt: skip
    return found


@dataclass
class CaseSync:
    opened: list[int] = field(default_factory=list)
    closed: list[int] = field(default_factory=list)
    reopened: list[int] = field(default_factory=list)


def sync_cases(index: Index, site: str, run_id: int | None = None) -> CaseSync:
    """Bring the site's cases in line with its findings, in one transaction."""
    result = CaseSync()
    findings = {f.key: f for f in site_findings(index, site)}
    with index.transaction() as db:
        cases = {
            key: (case_id, status, last)
            for case_id, key, status, last, kind in db.execute(
                "SELECT c.id, c.key, c.status, (SELECT e.action FROM case_events e "
                "WHERE e.case_id = c.id ORDER BY e.id DESC LIMIT 1), c.kind FROM cases c "
                "WHERE c.site = ?",
                [site],
            )
            if kind not in REPORTED_KINDS
        }
        stamp = now()
        for key, finding in findings.items():
            if key not in cases:
                case_id = int(
                    db["cases"]
                    .insert(
                        {
                            "site": site,
                            "kind": finding.kind,
                            "key": key,
                            "status": CaseStatus.OPEN,
                            "delivery_id": finding.delivery_id,
                            "file_id": finding.file_id,
                            "file": finding.file,
                            "first_page": finding.first_page,
                            "last_page": finding.last_page,
                            "household": finding.household,
                            "volume": finding.volume,
                            "detail": finding.detail,
                            "opened_at": stamp,
                        }
                    )
                    .last_pk
                )
                _event(db, case_id, "opened", run_id=run_id, at=stamp)
                result.opened.append(case_id)
                continue
            case_id, status, last = cases[key]
            # Gone by itself, or with a withdrawn delivery (ingested again since): open again.
            if status == CaseStatus.RESOLVED and last in ("auto_close", "withdrawn"):
                _set_status(db, case_id, CaseStatus.OPEN)
                _event(db, case_id, "auto_reopen", reason=BACK, run_id=run_id, at=stamp)
                result.reopened.append(case_id)
        for key, (case_id, status, _last) in cases.items():
            if status == CaseStatus.OPEN and key not in findings:
                _set_status(db, case_id, CaseStatus.RESOLVED, stamp)
                _event(db, case_id, "auto_close", reason=GONE, run_id=run_id, at=stamp)
                result.closed.append(case_id)
    return result


def _set_status(
    db: sqlite_utils.Database, case_id: int, status: CaseStatus, at: str | None = None
) -> None:
    db.execute(
        "UPDATE cases SET status = ?, resolved_at = ? WHERE id = ?",
        [status, at if status == CaseStatus.RESOLVED else None, case_id],
    )


def _event(db: sqlite_utils.Database, case_id: int, action: str, **values: Any) -> None:
    row = {"case_id": case_id, "action": action, "at": values.pop("at", None) or now(), **values}
    event_id = int(db["case_events"].insert(row).last_pk)
    append_audit(db, CASE_EVENT, ("case_events", event_id), audit_fields(row, CASE_EVENT_FIELDS))


# --- reading --------------------------------------------------------------------------------


@dataclass
class Case:
    id: int
    site: str
    kind: str
    status: str
    file: str | None
    first_page: int | None
    last_page: int | None
    household: str | None
    volume: int | None
    detail: str
    opened_at: str
    resolved_at: str | None
    file_id: int | None = None
    delivery_id: int | None = None
    resolution: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def age_days(self, today: dt.date | None = None) -> int:
        today = today or dt.date.today()
        return (today - dt.datetime.fromisoformat(self.opened_at).date()).days

    @property
    def action(self) -> str:
        if self.status == CaseStatus.RESOLVED:
            return f"esak clarify reopen {self.id} --by NAME --reason TEXT"
        return ACTIONS.get(CaseKind(self.kind), "esak clarify close {id} …").format(id=self.id)

    def to_dict(self, today: dt.date | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "site": self.site,
            "kind": self.kind,
            "status": self.status,
            "file": self.file,
            "first_page": self.first_page,
            "last_page": self.last_page,
            "household": self.household,
            "volume": self.volume,
            "detail": self.detail,
            "opened_at": self.opened_at,
            "age_days": self.age_days(today),
            "resolution": self.resolution,
            "action": self.action,
        }


_COLUMNS = (
    "id, site, kind, status, file, first_page, last_page, household, volume, detail, "
    "opened_at, resolved_at, file_id, delivery_id"
)


def list_cases(index: Index, site: str | None = None, status: str = "open") -> list[Case]:
    """The cases, oldest first; ``status``: open, resolved or all."""
    if status not in ("open", "resolved", "all"):
        raise UsageError(f"unknown status {status!r}", "use --status open, resolved or all")
    sql, params = f"SELECT {_COLUMNS} FROM cases WHERE 1 = 1", []
    if site:
        sql += " AND site = ?"
        params.append(site)
    if status != "all":
        sql += " AND status = ?"
        params.append(status)
    cases = [Case(*row) for row in index.db.execute(sql + " ORDER BY opened_at, id", params)]
    for case in cases:
        _with_history(index, case)
    return cases


def get_case(index: Index, case_id: int) -> Case:
    row = index.db.execute(f"SELECT {_COLUMNS} FROM cases WHERE id = ?", [case_id]).fetchone()
    if row is None:
        raise UsageError(f"there is no case {case_id}", "esak clarify list --status all")
    return _with_history(index, Case(*row))


def _with_history(index: Index, case: Case) -> Case:
    case.history = [
        {"action": a, "by": b, "reason": r, "household": h, "volume": v, "type": t, "at": at}
        for a, b, r, h, v, t, at in index.db.execute(
            "SELECT action, by_name, reason, household, volume, doc_type, at FROM case_events "
            "WHERE case_id = ? ORDER BY id",
            [case.id],
        )
    ]
    if case.status == CaseStatus.RESOLVED:
        last = case.history[-1] if case.history else None
        if last and last["action"] in ("assign", "close", "auto_close", "withdrawn"):
            case.resolution = {
                "action": last["action"],
                "household": last["household"],
                "by": last["by"],
                "reason": last["reason"],
                "at": last["at"],
            }
    return case


def open_case_counts(index: Index) -> dict[str, int]:
    """Open cases per site."""
    return dict(
        index.db.execute(
            "SELECT site, COUNT(*) FROM cases WHERE status = 'open' GROUP BY site"
        ).fetchall()
    )


def resolved_keys(index: Index, site: str) -> set[str]:
    """The keys of the site's cases that a person resolved (or that went away)."""
    return {
        r[0]
        for r in index.db.execute(
            "SELECT key FROM cases WHERE site = ? AND status = 'resolved'", [site]
        )
    }


# --- resolving, inside the caller's transaction ----------------------------------------------


def open_reported(
    db: sqlite_utils.Database,
    site: str,
    kind: CaseKind,
    key: str,
    detail: str,
    *,
    by: str | None,
    run_id: int | None,
    **about: Any,
) -> int:
    """Open a case a person reported (a QA defect) or esak found that no finding of the
    index brings back (a letter of the incoming mail, ``by`` None), with its ``opened``
    event; returns its id. ``about``: file, file_id, delivery_id, first_page, last_page,
    household, volume."""
    stamp = now()
    row = {"site": site, "kind": kind, "key": key, "status": CaseStatus.OPEN,
           "detail": detail, "opened_at": stamp, **about}  # fmt: skip
    case_id = int(db["cases"].insert(row).last_pk)
    _event(db, case_id, "opened", by_name=by, reason=detail, run_id=run_id, at=stamp)
    return case_id


def resolve(
    db: sqlite_utils.Database,
    case: Case,
    action: str,
    by: str,
    reason: str,
    run_id: int | None,
    **extra: Any,
) -> None:
    _set_status(db, case.id, CaseStatus.RESOLVED, now())
    _event(db, case.id, action, by_name=by, reason=reason, run_id=run_id, **extra)


def reopen(db: sqlite_utils.Database, case: Case, by: str, reason: str, run_id: int | None) -> None:
    _set_status(db, case.id, CaseStatus.OPEN)
    _event(db, case.id, "reopen", by_name=by, reason=reason, run_id=run_id)


def discard_pages(db: sqlite_utils.Database, case: Case, back: bool = False) -> int:
    """A closed pages or file case: its pages (or file) become ``discarded``; ``back``: set
    aside again (the case was reopened). Returns how many rows changed."""
    old, new = (PageOutcome.QUARANTINED, PageOutcome.DISCARDED)
    if back:
        old, new = new, old
    if case.kind in (CaseKind.PAGES, CaseKind.MAIL):
        # A letter's case spans its pages; its blank pages and separators keep their outcome.
        assert case.file_id is not None and case.first_page and case.last_page
        cursor = db.execute(
            "UPDATE pages SET outcome = ? WHERE file_id = ? AND outcome = ? "
            "AND page_index BETWEEN ? AND ?",
            [new, case.file_id, old, case.first_page - 1, case.last_page - 1],
        )
        return cursor.rowcount
    if case.kind == CaseKind.FILE:
        cursor = db.execute(
            "UPDATE input_files SET outcome = ? WHERE id = ? AND outcome = ?",
            [new, case.file_id, old],
        )
        return cursor.rowcount
    return 0

"""``esak verify``: is a site complete (every expected household, every page accounted for) and
is its archive intact? The answer admins sign off, recorded in the index each time.

Everything but fixity comes from SQL aggregates over the index, so the report for a district
of 7,000 households takes about as long as reading the archive's folder tree.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from esak.errors import ExitCode
from esak.index.audit import now, recorded_run
from esak.index.db import Index
from esak.index.facts import (
    Scope,
    delivery_problems,
    expected_volumes,
    files_with_outcome,
    only,
    page_count_mismatches,
    quarantined_pages,
    rows,
)
from esak.profiles import Profile
from esak.verify.fixity import Fixity, Level, check_fixity
from esak.vocabulary import FileOutcome, PageOutcome
from esak.workspace import Workspace

OUTCOMES = tuple(PageOutcome)


@dataclass
class SiteReport:
    site: str
    site_name: str
    level: Level
    checked_at: str
    expected_households: int
    archived: list[str]
    missing: list[str]
    unexpected: list[str]
    missing_volumes: list[dict[str, Any]]
    pages: dict[str, int]
    batches: list[dict[str, Any]]
    accounting_errors: list[dict[str, Any]]
    page_count_mismatches: list[dict[str, Any]]
    delivery_problems: list[dict[str, Any]]
    quarantined_files: list[dict[str, Any]]
    quarantined_pages: list[dict[str, Any]]
    duplicate_files: list[dict[str, Any]]
    documents: int
    fixity: Fixity
    verification_id: int = 0
    #: False: checked read-only (a member of the read group, an empty workspace), not recorded
    recorded: bool = True
    seconds: float = 0.0
    findings: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.expected_households > 0 and not (
            self.missing
            or self.unexpected
            or self.missing_volumes
            or self.accounting_errors
            or self.page_count_mismatches
            or self.delivery_problems
            or self.quarantined_files
            or self.quarantined_pages
        )

    @property
    def intact(self) -> bool:
        return self.fixity.intact

    @property
    def ok(self) -> bool:
        return self.complete and self.intact

    @property
    def exit_code(self) -> ExitCode:
        # A damaged archive is an alarm; an unfinished site is work still to do.
        if not self.intact:
            return ExitCode.INTEGRITY
        return ExitCode.OK if self.complete else ExitCode.PROBLEMS

    @property
    def status(self) -> str:
        if not self.intact:
            return "damaged"
        return "complete" if self.complete else "incomplete"

    def to_dict(self) -> dict[str, Any]:
        """CONTRACT §6, plus what the HTML and CSV reports show."""
        return {
            "site": self.site,
            "site_name": self.site_name,
            "status": self.status,
            "ok": self.ok,
            "complete": self.complete,
            "intact": self.intact,
            "level": self.level.value,
            "checked_at": self.checked_at,
            "verification_id": self.verification_id,
            "recorded": self.recorded,
            "expected_households": self.expected_households,
            "archived_households": len(self.archived),
            "missing_households": self.missing,
            "unexpected_households": self.unexpected,
            "missing_volumes": self.missing_volumes,
            "documents": self.documents,
            "pages": self.pages,
            "batches": self.batches,
            "accounting_errors": self.accounting_errors,
            "page_count_mismatches": self.page_count_mismatches,
            "delivery_problems": self.delivery_problems,
            "quarantined_files": self.quarantined_files,
            "quarantined_pages": self.quarantined_pages,
            "duplicate_files": self.duplicate_files,
            "fixity": self.fixity.to_dict(),
            "findings": self.findings,
            "seconds": round(self.seconds, 2),
        }


def verify_site(
    workspace: Workspace, index: Index, profile: Profile, level: Level = Level.COMPLETE
) -> SiteReport:
    """Check one site and record the verification (and the run) in the index."""
    with recorded_run(index, "verify", profile.key, {"level": level.value}) as run:
        report = build_report(index, workspace, profile, level)
        _record(index, report, run.id)
        run.finish(report.exit_code)
        run.outcome = report.status  # complete, incomplete or damaged: more than the code
    return report


def build_report(index: Index, workspace: Workspace, profile: Profile, level: Level) -> SiteReport:
    """The report for one site, computed from the index and the archive; writes nothing."""
    started = time.monotonic()
    db = index.db
    site = profile.key
    scope = Scope(site)
    expected = expected_volumes(index, site)
    volumes_by_household: dict[str, set[int]] = {}
    documents = 0
    for household, volume, count in db.execute(
        "SELECT household, volume, COUNT(*) FROM documents WHERE site = ? "
        "GROUP BY household, volume",
        [site],
    ):
        volumes_by_household.setdefault(household, set()).add(volume)
        documents += count
    # CONTRACT §6: "archived" counts expected households; the others are "unexpected".
    archived = sorted(set(volumes_by_household) & set(expected))
    missing = sorted(set(expected) - set(volumes_by_household))
    unexpected = sorted(set(volumes_by_household) - set(expected))
    missing_volumes = [
        {"household": h, "volume": v}
        for h in archived
        if h in expected
        for v in range(1, expected[h] + 1)
        if v not in volumes_by_household[h]
    ]

    batches, accounting_errors, pages = _accounting(index, site)
    accounting_errors += _document_errors(index, site)

    report = SiteReport(
        site=site,
        site_name=profile.name,
        level=level,
        checked_at=now(),
        expected_households=len(expected),
        archived=archived,
        missing=missing,
        unexpected=unexpected,
        missing_volumes=missing_volumes,
        pages=pages,
        batches=batches,
        accounting_errors=accounting_errors,
        page_count_mismatches=only(
            page_count_mismatches(index, scope), "household", "volume", "declared", "found", "file"
        ),
        delivery_problems=delivery_problems(index, scope),
        quarantined_files=files_with_outcome(index, scope, FileOutcome.QUARANTINED),
        quarantined_pages=quarantined_pages(index, scope),
        duplicate_files=only(
            files_with_outcome(index, scope, FileOutcome.DUPLICATE), "delivery", "file", "reason"
        ),
        documents=documents,
        fixity=check_fixity(index, workspace.archive_dir, site, level),
    )
    report.findings = _findings(report)
    report.seconds = time.monotonic() - started
    return report


def _accounting(
    index: Index, site: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
    """Per batch: every input page in exactly one outcome, and the sum equal to its pages."""
    counts: dict[int, Counter[str]] = {}
    spans: dict[int, tuple[int, int, int]] = {}
    for file_id, outcome, n, first, last in index.db.execute(
        "SELECT p.file_id, p.outcome, COUNT(*), MIN(p.page_index), MAX(p.page_index) "
        "FROM pages p JOIN input_files f ON f.id = p.file_id "
        "WHERE f.site = ? AND f.outcome = 'ingested' GROUP BY p.file_id, p.outcome",
        [site],
    ):
        counts.setdefault(file_id, Counter())[outcome] = n
        lo, hi, total = spans.get(file_id, (first, last, 0))
        spans[file_id] = (min(lo, first), max(hi, last), total + n)

    batches: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    totals: Counter[str] = Counter()
    for file_id, delivery, relpath, outcome, page_count in index.db.execute(
        "SELECT f.id, d.path, f.relpath, f.outcome, f.page_count FROM input_files f "
        "JOIN deliveries d ON d.id = f.delivery_id "
        "WHERE f.site = ? AND f.outcome IN ('ingested', 'quarantined') ORDER BY d.path, f.relpath",
        [site],
    ):
        if outcome == "quarantined":
            # Set aside whole: its pages (where the file could be counted) are set aside.
            totals["input"] += page_count or 0
            totals["quarantined"] += page_count or 0
            continue
        c = counts.get(file_id, Counter())
        row: dict[str, Any] = {"delivery": delivery, "file": relpath, "input": page_count}
        row.update({o: c[o] for o in OUTCOMES})
        accounted = sum(c[o] for o in OUTCOMES)
        lo, hi, _ = spans.get(file_id, (0, -1, 0))
        row["balanced"] = accounted == page_count and (
            accounted == 0 or (lo, hi) == (0, accounted - 1)
        )
        batches.append(row)
        totals["input"] += page_count or 0
        for o in OUTCOMES:
            totals[o] += c[o]
        if not row["balanced"]:
            errors.append(
                {
                    "delivery": delivery,
                    "file": relpath,
                    "problem": f"{page_count} input pages, {accounted} accounted for",
                }
            )
    pages = {"input": totals["input"], **{o: totals[o] for o in OUTCOMES}}
    return batches, errors, pages


def _document_errors(index: Index, site: str) -> list[dict[str, Any]]:
    """Each document holds exactly the pages that the index says were archived into it."""
    return [
        {"delivery": None, "file": path, "problem": f"document of {pages} pages, {n} recorded"}
        for path, pages, n in index.db.execute(
            "SELECT d.path, d.pages, (SELECT COUNT(*) FROM pages p WHERE p.document_id = d.id) "
            "AS n FROM documents d WHERE d.site = ? AND d.pages != n ORDER BY d.path",
            [site],
        )
    ]


def _findings(r: SiteReport) -> list[str]:
    """One plain sentence per problem, for the top of every report."""
    out = []
    if r.expected_households == 0:
        out.append("no expected list imported: run `esak expected import --site SITE FILE.csv`")
    for items, text in (
        (r.missing, "expected household(s) have no archived documents"),
        (r.missing_volumes, "expected volume(s) of archived households are missing"),
        (r.unexpected, "archived household(s) are not on the expected list"),
        (r.accounting_errors, "batch(es) or document(s) where the pages do not add up"),
        (r.page_count_mismatches, "cover sheet(s) declare another page count than was found"),
        (r.delivery_problems, "delivery problem(s) (manifest)"),
        (r.quarantined_files, "input file(s) set aside"),
        (r.quarantined_pages, "page range(s) set aside"),
        (r.fixity.missing, "archived file(s) missing"),
        (r.fixity.changed, "archived file(s) changed"),
        (r.fixity.untracked, "file(s) in the archive that the index does not know"),
        (r.fixity.invalid, "archived document(s) no longer valid PDF/A with text"),
    ):
        if items:
            out.append(f"{len(items)} {text}")
    return out


def _record(index: Index, report: SiteReport, run_id: int) -> None:
    f = report.fixity
    with index.transaction() as db:
        report.verification_id = int(
            db["verifications"]
            .insert(
                {
                    "run_id": run_id,
                    "site": report.site,
                    "level": report.level.value,
                    "started_at": report.checked_at,
                    "finished_at": now(),
                    "ok": report.ok,
                    "complete": report.complete,
                    "intact": report.intact,
                    "expected_households": report.expected_households,
                    "archived_households": len(report.archived),
                    "missing_households": len(report.missing),
                    "documents_checked": f.checked,
                    "files_changed": len(f.changed),
                    "files_missing": len(f.missing),
                    "files_untracked": len(f.untracked),
                    "documents_invalid": len(f.invalid),
                    "findings": json.dumps(report.findings, ensure_ascii=False),
                }
            )
            .last_pk
        )


def verification_history(index: Index, site: str | None = None, limit: int = 50) -> list[dict]:
    """Past verifications, newest first: when each site was last proven complete and intact."""
    sql = (
        "SELECT v.id, v.site, v.level, v.finished_at, v.ok, v.complete, v.intact, "
        "v.expected_households, v.archived_households, v.missing_households, "
        "v.documents_checked, v.files_changed, v.files_missing, v.files_untracked, "
        "v.documents_invalid, v.findings, r.os_user FROM verifications v "
        "LEFT JOIN runs r ON r.id = v.run_id"
    )
    params: list[Any] = []
    if site:
        sql += " WHERE v.site = ?"
        params.append(site)
    sql += " ORDER BY v.id DESC LIMIT ?"
    params.append(limit)
    keys = (
        "id", "site", "level", "finished_at", "ok", "complete", "intact", "expected_households",
        "archived_households", "missing_households", "documents_checked", "files_changed",
        "files_missing", "files_untracked", "documents_invalid", "findings", "os_user",
    )  # fmt: skip
    out = []
    for row in rows(index, sql, params, keys):
        for flag in ("ok", "complete", "intact"):
            row[flag] = bool(row[flag])
        row["findings"] = json.loads(row["findings"])
        out.append(row)
    return out


def sites_in_index(index: Index) -> list[str]:
    """Sites with an expected list or anything ingested: what ``verify --all`` checks."""
    return [
        r[0]
        for r in index.db.execute(
            "SELECT site FROM expected UNION SELECT site FROM input_files ORDER BY 1"
        )
    ]

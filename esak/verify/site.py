"""``esak verify``: is a site complete (every expected household, every page accounted for) and
is its archive intact? The answer admins sign off, recorded in the index each time.

Everything but fixity comes from SQL aggregates over the index, so the report for a district
of 7,000 households takes about as long as reading the archive's folder tree.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from esak.errors import ExitCode
from esak.files import sha256_file
from esak.i18n import N_
from esak.index.audit import now, recorded_run
from esak.index.cases import (
    count_key,
    delivery_key,
    file_key,
    list_cases,
    missing_key,
    pages_key,
    resolved_keys,
    sync_cases,
    unexpected_key,
)
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
    site_fingerprint,
)
from esak.profiles import Profile
from esak.verify.fixity import Fixity, Level, check_fixity
from esak.vocabulary import ACCOUNTED, POST_VOLUME, FileOutcome
from esak.workspace import Workspace

OUTCOMES = ACCOUNTED


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
    #: SHA-256 of the site's documents and expected list in the index (facts.site_fingerprint)
    fingerprint: str = ""
    #: Klärfälle that were resolved, with who, when and why ("Geklärt")
    resolved_cases: list[dict[str, Any]] = field(default_factory=list)
    #: the site profile the report was made with, and its file's SHA-256
    profile_file: str = ""
    profile_sha256: str = ""

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
    def open_cases(self) -> int:
        """Findings that block the sign-off: each is an open Klärfall (CONTRACT §8)."""
        return (
            len(self.missing) + len(self.unexpected) + len(self.missing_volumes)
            + len(self.page_count_mismatches) + len(self.delivery_problems)
            + len(self.quarantined_files) + len(self.quarantined_pages)
        )  # fmt: skip

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
            "open_cases": self.open_cases,
            "resolved_cases": self.resolved_cases,
            "fingerprint": self.fingerprint,
            "profile": {"file": self.profile_file, "sha256": self.profile_sha256},
            "seconds": round(self.seconds, 2),
        }


def verify_site(
    workspace: Workspace, index: Index, profile: Profile, level: Level = Level.COMPLETE
) -> SiteReport:
    """Check one site and record the verification (and the run) in the index."""
    with recorded_run(index, "verify", profile.key, {"level": level.value}) as run:
        sync_cases(index, profile.key, run.id)
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
        documents += count
        # A household's incoming mail (post/, volume 0) is not its paper file.
        if volume != POST_VOLUME:
            volumes_by_household.setdefault(household, set()).add(volume)
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

    # A finding whose Klärfall was resolved (assigned, closed, gone by itself) no longer
    # stands between the site and its sign-off: it is listed under resolved_cases instead.
    resolved = resolved_keys(index, site)
    report = SiteReport(
        site=site,
        site_name=profile.name,
        level=level,
        checked_at=now(),
        expected_households=len(expected),
        archived=archived,
        missing=[h for h in missing if missing_key(h) not in resolved],
        unexpected=[h for h in unexpected if unexpected_key(h) not in resolved],
        missing_volumes=[
            m for m in missing_volumes if missing_key(m["household"], m["volume"]) not in resolved
        ],
        pages=pages,
        batches=batches,
        accounting_errors=accounting_errors,
        page_count_mismatches=only(
            [m for m in page_count_mismatches(index, scope) if count_key(m) not in resolved],
            "household", "volume", "declared", "found", "file",
        ),
        delivery_problems=only(
            [p for p in delivery_problems(index, scope) if delivery_key(p) not in resolved],
            "delivery", "file", "problem",
        ),
        quarantined_files=only(
            [f for f in files_with_outcome(index, scope, FileOutcome.QUARANTINED)
             if file_key(f) not in resolved],
            "delivery", "file", "pages", "reason",
        ),
        quarantined_pages=only(
            [q for q in quarantined_pages(index, scope) if pages_key(q) not in resolved],
            "delivery", "file", "pages", "reason",
        ),
        duplicate_files=only(
            files_with_outcome(index, scope, FileOutcome.DUPLICATE), "delivery", "file", "reason"
        ),
        documents=documents,
        fixity=check_fixity(index, workspace.archive_dir, site, level),
        resolved_cases=[c.to_dict() for c in list_cases(index, site, "resolved")],
    )  # fmt: skip
    report.findings = _findings(report)
    report.fingerprint = site_fingerprint(index, site)
    report.profile_file = profile.path.name
    with contextlib.suppress(OSError):
        report.profile_sha256 = sha256_file(profile.path)
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
        "WHERE f.site = ? AND f.outcome IN ('ingested', 'quarantined', 'discarded') "
        "ORDER BY d.path, f.relpath",
        [site],
    ):
        if outcome != FileOutcome.INGESTED:
            # Set aside whole (or given up after that): its pages, where the file could be
            # counted, are set aside (or discarded).
            totals["input"] += page_count or 0
            totals[outcome] += page_count or 0
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


#: The sentence for a site without an expected list.
NO_EXPECTED_LIST = N_("no expected list imported: run `esak expected import --site SITE FILE.csv`")
#: One sentence per kind of problem, ``{n}`` how many: the top of every report.
_FINDINGS: tuple[tuple[Callable[[SiteReport], list[Any]], str], ...] = (
    (lambda r: r.missing, N_("{n} expected household(s) have no archived documents")),
    (lambda r: r.missing_volumes, N_("{n} expected volume(s) of archived households are missing")),
    (lambda r: r.unexpected, N_("{n} archived household(s) are not on the expected list")),
    (
        lambda r: r.accounting_errors,
        N_("{n} batch(es) or document(s) where the pages do not add up"),
    ),
    (
        lambda r: r.page_count_mismatches,
        N_("{n} cover sheet(s) declare another page count than was found"),
    ),
    (lambda r: r.delivery_problems, N_("{n} delivery problem(s) (manifest)")),
    (lambda r: r.quarantined_files, N_("{n} input file(s) set aside")),
    (lambda r: r.quarantined_pages, N_("{n} page range(s) set aside")),
    (lambda r: r.fixity.missing, N_("{n} archived file(s) missing")),
    (lambda r: r.fixity.changed, N_("{n} archived file(s) changed")),
    (lambda r: r.fixity.untracked, N_("{n} file(s) in the archive that the index does not know")),
    (
        lambda r: r.fixity.invalid,
        N_("{n} archived document(s) no longer valid PDF/A with text"),
    ),
)


def finding_sentences(
    r: SiteReport, translate: Callable[[str], str] = lambda text: text
) -> list[str]:
    """One plain sentence per problem; in English for JSON and the index, ``translate``
    gives them in the reader's language."""
    out = []
    if r.expected_households == 0:
        out.append(translate(NO_EXPECTED_LIST))
    for items, text in _FINDINGS:
        if found := items(r):
            out.append(translate(text).format(n=len(found)))
    return out


def _findings(r: SiteReport) -> list[str]:
    return finding_sentences(r)


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

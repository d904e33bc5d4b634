"""What the index records of an ingest, and the report of a delivery built from it.

The ingest coordinator is the only writer: it calls a :class:`DeliveryRecorder` for the
delivery, each input file set aside or duplicated, and, inside the one transaction of an
ingested file, its documents, sections, pages and set-aside ranges. :func:`delivery_report`
reads back what a delivery came to (CONTRACT §5, §6).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import sqlite_utils

from esak.errors import ExitCode, UsageError
from esak.index.audit import DOCUMENT_ARCHIVED, DOCUMENT_FIELDS, append_audit, audit_fields, now
from esak.index.db import Index
from esak.index.facts import (
    Scope,
    delivery_problems,
    files_with_outcome,
    only,
    page_count_mismatches,
    quarantined_pages,
)
from esak.vocabulary import ACCOUNTED, FileOutcome, PageOutcome


class InputLike(Protocol):
    """What the index keeps of a delivery's input (a :class:`esak.migrate.delivery.InputItem`)."""

    relpath: str
    format: str
    sha256: str | None
    size: int


@dataclass
class IngestReport:
    site: str
    delivery: str
    run_id: int
    files: dict[str, int]
    pages: dict[str, int]
    households: list[str]
    documents_written: int
    pages_ocr: int
    already_ingested: int
    quarantined_files: list[dict[str, Any]]
    quarantined_pages: list[dict[str, Any]]
    delivery_problems: list[dict[str, str]]
    page_count_mismatches: list[dict[str, Any]]
    seconds: float
    notes: list[str] = field(default_factory=list)
    #: When the run was to stop taking new work (ISO 8601 with UTC offset); None: no deadline.
    deadline: str | None = None
    #: Klärfälle of the site this run opened, and closed because their finding went away
    cases_opened: int = 0
    cases_closed: int = 0

    @property
    def ok(self) -> bool:
        return not (
            self.quarantined_files
            or self.quarantined_pages
            or self.delivery_problems
            or self.page_count_mismatches
        )

    @property
    def exit_code(self) -> ExitCode:
        """0 when all is well, 1 (problems) otherwise: for the CLI and the run log alike."""
        return ExitCode.OK if self.ok else ExitCode.PROBLEMS

    @property
    def pages_per_minute(self) -> float:
        return self.pages_ocr * 60.0 / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "delivery": self.delivery,
            "ok": self.ok,
            "run_id": self.run_id,
            "files": self.files,
            "pages": self.pages,
            "households": self.households,
            "documents_written": self.documents_written,
            "already_ingested": self.already_ingested,
            "quarantined_files": self.quarantined_files,
            "quarantined_pages": self.quarantined_pages,
            "delivery_problems": self.delivery_problems,
            "page_count_mismatches": self.page_count_mismatches,
            "deadline": self.deadline,
            "cases": {"opened": self.cases_opened, "closed": self.cases_closed},
            "seconds": round(self.seconds, 1),
            "pages_per_minute": round(self.pages_per_minute, 1),
            "notes": self.notes,
        }


class DeliveryRecorder:
    """The index writes of one ingest run of one delivery of one site."""

    def __init__(self, index: Index, site: str, run_id: int = 0) -> None:
        self.index = index
        self.site = site
        self.run_id = run_id
        self.delivery_id = 0
        #: the day the delivery's paper was scanned (ingest --scanned-on), ISO; None: not said
        self.scanned_on: str | None = None

    def start(self, root: str, problems: Iterable[dict[str, str]], kind: str = "migration") -> int:
        """The delivery's row (found or made), its problems recomputed as the folder is now.

        ``kind``: ``migration`` (``esak ingest``) or ``mail`` (``esak mail ingest``); a
        delivery ingested as the one is refused as the other."""
        with self.index.transaction() as db:
            row = db.execute(
                "SELECT id, kind FROM deliveries WHERE site = ? AND path = ?", [self.site, root]
            ).fetchone()
            if row and row[1] != kind:
                command = "esak mail ingest" if row[1] == "mail" else "esak ingest"
                raise UsageError(
                    f"{root} was ingested as a {row[1]} delivery of site {self.site} "
                    f"(delivery {row[0]}), not as a {kind} delivery",
                    f"ingest it again the way it was ingested: {command} --site {self.site} …",
                )
            if row:
                self.delivery_id = row[0]
                # Ingested again after it was withdrawn: it is a delivery of the site again.
                db.execute(
                    "UPDATE deliveries SET withdrawal_id = NULL WHERE id = ?", [self.delivery_id]
                )
            else:
                self.delivery_id = (
                    db["deliveries"]
                    .insert({"site": self.site, "path": root, "first_seen": now(), "kind": kind})
                    .last_pk
                )
            if self.scanned_on is not None:
                db.execute(
                    "UPDATE deliveries SET scanned_on = ? WHERE id = ?",
                    [self.scanned_on, self.delivery_id],
                )
            db.execute("DELETE FROM delivery_problems WHERE delivery_id = ?", [self.delivery_id])
            for problem in problems:
                db["delivery_problems"].insert({"delivery_id": self.delivery_id, **problem})
        return self.delivery_id

    def known(self, item: InputLike) -> bool:
        """Whether this input, with this content, was recorded for this delivery before."""
        row = self.index.db.execute(
            "SELECT 1 FROM input_files WHERE delivery_id = ? AND relpath = ? "
            "AND sha256 IS ? AND outcome != ? LIMIT 1",
            [self.delivery_id, item.relpath, item.sha256, FileOutcome.WITHDRAWN],
        ).fetchone()
        return row is not None

    def duplicate_of(self, item: InputLike) -> tuple[int, str] | None:
        """The site's ingested file with the same content, if there is one: (id, relpath)."""
        if item.sha256 is None:
            return None
        row = self.index.db.execute(
            "SELECT id, relpath FROM input_files WHERE site = ? AND sha256 = ? "
            "AND outcome = ? ORDER BY id LIMIT 1",
            [self.site, item.sha256, FileOutcome.INGESTED],
        ).fetchone()
        return (row[0], row[1]) if row else None

    def _file_row(self, item: InputLike, outcome: FileOutcome, **extra: Any) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "site": self.site,
            "relpath": item.relpath,
            "format": item.format,
            "sha256": item.sha256,
            "size": item.size,
            "outcome": outcome,
            "run_id": self.run_id,
            "ingested_at": now(),
            **extra,
        }

    def quarantine_file(self, item: InputLike, reason: str, page_count: int | None = None) -> None:
        """An input set aside whole, with its reason (and its pages, where they are known)."""
        with self.index.transaction() as db:
            file_id = (
                db["input_files"]
                .insert(
                    self._file_row(
                        item, FileOutcome.QUARANTINED, reason=reason, page_count=page_count
                    )
                )
                .last_pk
            )
            db["quarantine"].insert(
                {
                    "site": self.site,
                    "file_id": file_id,
                    "first_page": 0 if page_count else None,
                    "last_page": page_count - 1 if page_count else None,
                    "reason": reason,
                    "created_at": now(),
                }
            )

    def duplicate(self, item: InputLike, of_id: int, of_path: str) -> None:
        """An input with the same content as a file already archived: not archived twice."""
        with self.index.transaction() as db:
            db["input_files"].insert(
                self._file_row(
                    item,
                    FileOutcome.DUPLICATE,
                    reason=f"same content as {of_path}, already archived: not archived twice",
                    duplicate_of=of_id,
                )
            )

    # --- inside the one transaction of an ingested file -----------------------------------

    def ingested_file(
        self,
        db: sqlite_utils.Database,
        item: InputLike,
        page_count: int,
        scanned_at: str | None = None,
        scanner: str | None = None,
    ) -> int:
        """An ingested input, with when and on what it was scanned where the manifest says."""
        row = self._file_row(
            item, FileOutcome.INGESTED, page_count=page_count, scanned_at=scanned_at,
            scanner=scanner,
        )  # fmt: skip
        return int(db["input_files"].insert(row).last_pk)

    def next_seq(self, db: sqlite_utils.Database, household: str, volume: int) -> int:
        """The number of a household volume's next document."""
        (last,) = db.execute(
            "SELECT COALESCE(MAX(seq), 0) FROM documents "
            "WHERE site = ? AND household = ? AND volume = ?",
            [self.site, household, volume],
        ).fetchone()
        return int(last) + 1

    def document(self, db: sqlite_utils.Database, row: dict[str, Any]) -> int:
        """One archived document (site, household, volume, seq, path, hash, …), and its event."""
        full = {"site": self.site, **row, "created_at": now()}
        doc_id = int(db["documents"].insert(full).last_pk)
        append_audit(
            db, DOCUMENT_ARCHIVED, ("documents", doc_id), audit_fields(full, DOCUMENT_FIELDS)
        )
        return doc_id

    def sections(self, db: sqlite_utils.Database, file_id: int, sections: Iterable[Any]) -> None:
        for section in sections:
            db["sections"].insert(
                {
                    "file_id": file_id,
                    "site": self.site,
                    "household": section.household,
                    "volume": section.volume,
                    "cover_page": section.cover_page,
                    "declared_pages": section.declared_pages,
                    "found_pages": section.found_pages,
                }
            )

    def pages(
        self,
        db: sqlite_utils.Database,
        file_id: int,
        pages: list[dict[str, Any]],
        set_aside_ranges: bool = True,
    ) -> None:
        """Every page of the file with its outcome; set-aside pages also as ranges (each a
        Klärfall of kind ``pages``), unless ``set_aside_ranges`` is false: the pages of a
        letter of the incoming mail belong to its own case (kind ``mail``)."""
        rows = []
        quarantined: list[tuple[int, str]] = []
        for page in pages:
            barcodes = page.get("barcodes")
            rows.append(
                {
                    "file_id": file_id,
                    **page,
                    "barcodes": json.dumps([list(b) for b in barcodes]) if barcodes else None,
                }
            )
            if page["outcome"] == PageOutcome.QUARANTINED and set_aside_ranges:
                quarantined.append((page["page_index"], page["reason"] or "set aside"))
        db["pages"].insert_all(rows)
        for first, last, reason in _ranges(quarantined):
            db["quarantine"].insert(
                {
                    "site": self.site,
                    "file_id": file_id,
                    "first_page": first,
                    "last_page": last,
                    "reason": reason,
                    "created_at": now(),
                }
            )

    def delivery_problem(self, db: sqlite_utils.Database, file: str, problem: str) -> None:
        db["delivery_problems"].insert(
            {"delivery_id": self.delivery_id, "file": file, "problem": problem}
        )


def _ranges(pages: list[tuple[int, str]]) -> list[tuple[int, int, str]]:
    """Consecutive pages with the same reason as (first, last, reason)."""
    out: list[tuple[int, int, str]] = []
    for index, reason in pages:
        if out and out[-1][1] == index - 1 and out[-1][2] == reason:
            out[-1] = (out[-1][0], index, reason)
        else:
            out.append((index, index, reason))
    return out


def _by_file(row: dict[str, Any]) -> str:
    return row["file"]


def delivery_report(index: Index, site: str, delivery_id: int) -> IngestReport:
    """The state of one delivery as the index records it."""
    db = index.db
    (path,) = db.execute("SELECT path FROM deliveries WHERE id = ?", [delivery_id]).fetchone()
    files = dict.fromkeys(map(str, FileOutcome), 0)
    for outcome, count in db.execute(
        "SELECT outcome, COUNT(*) FROM input_files WHERE delivery_id = ? GROUP BY outcome",
        [delivery_id],
    ):
        files[outcome] = count
    pages = {"input": 0, **dict.fromkeys(map(str, ACCOUNTED), 0)}
    for outcome, count in db.execute(
        "SELECT p.outcome, COUNT(*) FROM pages p JOIN input_files f ON f.id = p.file_id "
        "WHERE f.delivery_id = ? AND f.outcome != 'withdrawn' GROUP BY p.outcome",
        [delivery_id],
    ):
        pages[outcome] = count
    # Files set aside whole count with their pages, where their page count is known.
    (whole,) = db.execute(
        "SELECT COALESCE(SUM(page_count), 0) FROM input_files "
        "WHERE delivery_id = ? AND outcome = 'quarantined'",
        [delivery_id],
    ).fetchone()
    pages["quarantined"] += whole
    # The pages of an earlier ingest of this delivery that was withdrawn are not its input.
    pages["input"] = sum(v for k, v in pages.items() if k in ACCOUNTED)
    households = [
        r[0]
        for r in db.execute(
            "SELECT DISTINCT d.household FROM documents d JOIN input_files f ON f.id = d.file_id "
            "WHERE f.delivery_id = ? ORDER BY d.household",
            [delivery_id],
        )
    ]
    scope = Scope(site, delivery_id)
    set_aside = files_with_outcome(index, scope, FileOutcome.QUARANTINED)
    duplicates = files_with_outcome(index, scope, FileOutcome.DUPLICATE)
    quarantined_files = sorted(only(set_aside + duplicates, "file", "reason"), key=_by_file)
    quarantined = only(quarantined_pages(index, scope), "file", "pages", "reason")
    problems = only(delivery_problems(index, scope), "file", "problem")
    mismatches = only(
        page_count_mismatches(index, scope), "household", "volume", "declared", "found", "file"
    )
    return IngestReport(
        site=site,
        delivery=path,
        run_id=0,
        files=files,
        pages=pages,
        households=households,
        documents_written=0,
        pages_ocr=0,
        already_ingested=0,
        quarantined_files=quarantined_files,
        quarantined_pages=quarantined,
        delivery_problems=problems,
        page_count_mismatches=mismatches,
        seconds=0.0,
    )

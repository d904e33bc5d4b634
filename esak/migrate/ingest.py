"""``esak ingest``: a scan delivery becomes per-household PDF/A e-files and index records.

The coordinator (this module) alone writes the index. Per input file it classifies the pages
(in workers), plans sections and documents, has the documents OCR'd (in workers), then moves
the finished PDFs into the archive and records everything in one transaction. A file is
either fully recorded or not at all, so a killed run is finished by running it again.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from esak import __version__
from esak.errors import DependencyError, DiskFullError, InputError
from esak.index.db import Index
from esak.migrate.delivery import DeliveryScan, InputItem, scan_delivery
from esak.migrate.executor import make_executor
from esak.migrate.pages import open_pages
from esak.migrate.plan import ORPHAN_REASON, BatchPlan, PageRecord, PlannedDocument, plan_batch
from esak.migrate.tasks import (
    ClassifyResult,
    ClassifyTask,
    DocumentResult,
    DocumentTask,
    build_document,
    classify_chunk,
)
from esak.profiles import Profile
from esak.workspace import Workspace

#: Document number of a probe: OCR of orphan pages, read for a cover sheet's printed text.
_PROBE = -1

#: Pages one classification task takes: small enough to spread a big batch over all workers.
CHUNK_PAGES = 16


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_dependencies(languages: tuple[str, ...]) -> None:
    """Fail early, with the apt line, if Tesseract or a language pack is missing."""
    if shutil.which("tesseract") is None:
        raise DependencyError(
            "Tesseract is not installed", "apt-get install tesseract-ocr tesseract-ocr-deu"
        )
    out = subprocess.run(
        ["tesseract", "--list-langs"], capture_output=True, text=True, check=False
    ).stdout
    have = set(out.split())
    missing = [lang for lang in languages if lang not in have]
    if missing:
        packages = " ".join(f"tesseract-ocr-{m.replace('_', '-')}" for m in missing)
        raise DependencyError(
            f"Tesseract has no language data for {', '.join(missing)}",
            f"apt-get install {packages}",
        )


@dataclass
class Progress:
    pages_total: int = 0
    pages_classified: int = 0
    documents_total: int = 0
    documents_done: int = 0
    files_total: int = 0
    files_done: int = 0


ProgressCallback = Callable[[Progress], None]


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

    @property
    def ok(self) -> bool:
        return not (
            self.quarantined_files
            or self.quarantined_pages
            or self.delivery_problems
            or self.page_count_mismatches
        )

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
            "seconds": round(self.seconds, 1),
            "pages_per_minute": round(self.pages_per_minute, 1),
            "notes": self.notes,
        }


@dataclass
class _Batch:
    """The coordinator's state for one input file on its way through the pipeline."""

    item: InputItem
    page_count: int
    records: dict[int, PageRecord] = field(default_factory=dict)
    chunks_left: int = 0
    plan: BatchPlan | None = None
    attempts: dict[tuple[int, ...], int] = field(default_factory=dict)
    #: a document's pages -> its OCR result; a re-plan that keeps a document reuses it
    done_by_pages: dict[tuple[int, ...], DocumentResult] = field(default_factory=dict)
    failed: dict[tuple[int, ...], str] = field(default_factory=dict)
    docs_left: int = 0
    #: a document's text showed a cover sheet: plan again once the running documents are back
    replan: bool = False
    #: pages before the first cover were read once for a cover sheet's printed text
    probed: bool = False


class _Run:
    def __init__(
        self,
        workspace: Workspace,
        index: Index,
        profile: Profile,
        scan: DeliveryScan,
        workers: int | None,
        scheduler: str | None,
        on_progress: ProgressCallback | None,
    ) -> None:
        self.ws = workspace
        self.index = index
        self.db = index.db
        self.profile = profile
        self.scan = scan
        self.workers = workers
        self.scheduler = scheduler
        self.on_progress = on_progress or (lambda p: None)
        self.progress = Progress()
        self.documents_written = 0
        self.pages_ocr = 0
        self.already = 0
        self.fatal: Exception | None = None
        self.run_id = 0
        self.delivery_id = 0
        self.tmp = workspace.tmp_dir
        #: Files of this delivery with the same content as an earlier one in it: recorded
        #: once that earlier file is archived (or not).
        self.pending_duplicates: list[tuple[InputItem, str]] = []

    # --- index helpers ------------------------------------------------------------------

    def _start(self) -> None:
        root = str(self.scan.root)
        with self.index.transaction() as db:
            self.run_id = (
                db["runs"]
                .insert(
                    {
                        "command": "ingest",
                        "site": self.profile.key,
                        "options": json.dumps({"delivery": root, "workers": self.workers}),
                        "os_user": getpass.getuser(),
                        "esak_version": __version__,
                        "started_at": now(),
                    }
                )
                .last_pk
            )
            row = db.execute(
                "SELECT id FROM deliveries WHERE site = ? AND path = ?", [self.profile.key, root]
            ).fetchone()
            if row:
                self.delivery_id = row[0]
            else:
                self.delivery_id = (
                    db["deliveries"]
                    .insert({"site": self.profile.key, "path": root, "first_seen": now()})
                    .last_pk
                )
            # Delivery problems describe the folder as it is now: recomputed on every run.
            db.execute("DELETE FROM delivery_problems WHERE delivery_id = ?", [self.delivery_id])
            for problem in self.scan.problems:
                db["delivery_problems"].insert(
                    {"delivery_id": self.delivery_id, **problem.to_dict()}
                )

    def _known(self, item: InputItem) -> bool:
        row = self.db.execute(
            "SELECT 1 FROM input_files WHERE delivery_id = ? AND relpath = ? "
            "AND sha256 IS ? LIMIT 1",
            [self.delivery_id, item.relpath, item.sha256],
        ).fetchone()
        return row is not None

    def _duplicate_of(self, item: InputItem) -> tuple[int, str] | None:
        if item.sha256 is None:
            return None
        row = self.db.execute(
            "SELECT id, relpath FROM input_files WHERE site = ? AND sha256 = ? "
            "AND outcome = 'ingested' ORDER BY id LIMIT 1",
            [self.profile.key, item.sha256],
        ).fetchone()
        return (row[0], row[1]) if row else None

    def _file_row(self, item: InputItem, outcome: str, **extra: Any) -> dict[str, Any]:
        return {
            "delivery_id": self.delivery_id,
            "site": self.profile.key,
            "relpath": item.relpath,
            "format": item.format,
            "sha256": item.sha256,
            "size": item.size,
            "outcome": outcome,
            "run_id": self.run_id,
            "ingested_at": now(),
            **extra,
        }

    def _quarantine_file(self, item: InputItem, reason: str, page_count: int | None = None) -> None:
        with self.index.transaction() as db:
            file_id = (
                db["input_files"]
                .insert(self._file_row(item, "quarantined", reason=reason, page_count=page_count))
                .last_pk
            )
            db["quarantine"].insert(
                {
                    "site": self.profile.key,
                    "file_id": file_id,
                    "first_page": 0 if page_count else None,
                    "last_page": page_count - 1 if page_count else None,
                    "reason": reason,
                    "created_at": now(),
                }
            )

    def _record_duplicate(self, item: InputItem, of_id: int, of_path: str) -> None:
        with self.index.transaction() as db:
            db["input_files"].insert(
                self._file_row(
                    item,
                    "duplicate",
                    reason=f"same content as {of_path}, already archived: not archived twice",
                    duplicate_of=of_id,
                )
            )

    # --- the pipeline -------------------------------------------------------------------

    def run(self) -> None:
        self._start()
        batches: list[_Batch] = []
        seen: dict[str, str] = {}
        for item in self.scan.items:
            if self._known(item):
                self.already += 1
                continue
            if item.problem:
                self._quarantine_file(item, item.problem)
                continue
            dup = self._duplicate_of(item)
            if dup:
                self._record_duplicate(item, *dup)
                continue
            if item.sha256 in seen:
                # Same content twice in this delivery: the first one is archived.
                self.pending_duplicates.append((item, seen[item.sha256]))
                continue
            try:
                with open_pages(item.path, item.files or None) as src:
                    count = src.page_count
            except InputError as exc:
                self._quarantine_file(item, exc.message)
                continue
            if item.sha256:
                seen[item.sha256] = item.relpath
            batches.append(_Batch(item, count))
        self.progress.files_total = len(batches)
        self.progress.pages_total = sum(b.page_count for b in batches)
        self.on_progress(self.progress)
        if batches:
            self._process(batches)
        for item, first in self.pending_duplicates:
            dup = self._duplicate_of(item)
            if dup:
                self._record_duplicate(item, *dup)
            else:
                self._quarantine_file(item, f"same content as {first}, which was not archived")

    def _process(self, batches: list[_Batch]) -> None:
        run_tmp = self.tmp / f"run-{self.run_id}"
        run_tmp.mkdir(parents=True, exist_ok=True)
        futures: dict[Future[Any], tuple[str, _Batch, Any]] = {}
        executor = make_executor(self.workers, self.scheduler)
        try:
            for batch in batches:
                item = batch.item
                for first in range(0, batch.page_count, CHUNK_PAGES):
                    last = min(first + CHUNK_PAGES, batch.page_count) - 1
                    task = ClassifyTask(
                        str(item.path), item.files or None, first, last, self.profile
                    )
                    futures[executor.submit(classify_chunk, task)] = ("classify", batch, None)
                    batch.chunks_left += 1
            while futures:
                done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
                for future in done:
                    kind, batch, payload = futures.pop(future)
                    if self.fatal:
                        continue
                    try:
                        result = future.result()
                    except Exception as exc:  # a worker died: its work is retried or set aside
                        result = exc
                    if kind == "classify":
                        self._classified(batch, result, executor, futures, run_tmp)
                    else:
                        self._documented(batch, payload, result, executor, futures, run_tmp)
                if self.fatal:
                    for f in futures:
                        f.cancel()
                    futures.clear()
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
            shutil.rmtree(run_tmp, ignore_errors=True)
        if self.fatal:
            raise self.fatal

    def _classified(self, batch, result, executor, futures, run_tmp) -> None:
        batch.chunks_left -= 1
        if isinstance(result, ClassifyResult):
            for record in result.records:
                batch.records[record.index] = record
            self.progress.pages_classified += len(result.records)
        else:
            # The chunk's worker died; the pages are recorded as unreadable, not lost.
            reason = f"page could not be classified: {type(result).__name__}: {result}"
            for index in range(batch.page_count):
                batch.records.setdefault(index, PageRecord(index, "content", error=reason))
        self.on_progress(self.progress)
        if batch.chunks_left == 0:
            self._plan(batch, executor, futures, run_tmp)

    def _plan(self, batch: _Batch, executor, futures, run_tmp) -> None:
        item = batch.item
        records = [batch.records[i] for i in range(batch.page_count)]
        household_file = (item.household, item.volume or 1) if item.household else None
        batch.plan = plan_batch(
            records, blank_pages=self.profile.blank_pages, household_file=household_file
        )
        batch.docs_left = 0
        for doc in batch.plan.documents:
            key = tuple(doc.pages)
            # Done before, or failed twice (its pages are set aside at commit): not again.
            if key in batch.done_by_pages or key in batch.failed:
                continue
            self._submit_doc(batch, doc, executor, futures, run_tmp)
        orphans = [
            p.index
            for p in batch.plan.pages
            if p.reason == ORPHAN_REASON and batch.records[p.index].kind == "content"
        ]
        if orphans and not batch.probed:
            # Pages before the first cover may follow a cover whose barcode is unreadable:
            # OCR them once and look for the cover sheet's printed text.
            batch.probed = True
            probe = PlannedDocument(_PROBE, "", 0, None, orphans)
            self._submit_doc(batch, probe, executor, futures, run_tmp)
        self.on_progress(self.progress)
        if batch.docs_left == 0:
            self._commit(batch)

    def _submit_doc(self, batch: _Batch, doc, executor, futures, run_tmp) -> None:
        task = DocumentTask(
            key=f"{batch.item.relpath}#{doc.number}",
            source=str(batch.item.path),
            format=batch.item.format,
            files=batch.item.files or None,
            pages=tuple(doc.pages),
            languages=tuple(self.profile.ocr_languages),
            tmp_dir=str(run_tmp),
            title=f"{doc.household} Band {doc.volume}",
        )
        futures[executor.submit(build_document, task)] = ("document", batch, doc)
        batch.docs_left += 1
        self.progress.documents_total += 1

    def _documented(self, batch: _Batch, doc, result, executor, futures, run_tmp) -> None:
        batch.docs_left -= 1
        key = tuple(doc.pages)
        if not isinstance(result, DocumentResult):
            result = DocumentResult.failure(str(key), f"OCR worker died: {result!r}")
        if result.fatal == "disk-full":
            self.fatal = DiskFullError(result.error or "", "free space, then run again to resume")
            return
        if result.fatal:
            self.fatal = DependencyError(result.error or "", "install what is missing (make demo)")
            return
        if doc.number == _PROBE:
            self._probed(batch, doc, result)
        elif result.error:
            attempts = batch.attempts.get(key, 0) + 1
            batch.attempts[key] = attempts
            if attempts < 2:
                self._submit_doc(batch, doc, executor, futures, run_tmp)
                return
            batch.failed[key] = result.error
        else:
            batch.done_by_pages[key] = result
            covers = self._valid_text_covers(doc, result)
            if covers:
                # A cover sheet whose barcode could not be read: split the batch anew.
                _mark_text_covers(batch, covers)
        self.progress.documents_done += 1
        self.on_progress(self.progress)
        if batch.docs_left == 0:
            if batch.replan:
                batch.replan = False
                self._plan(batch, executor, futures, run_tmp)
                return
            self._commit(batch)

    def _probed(self, batch: _Batch, doc: PlannedDocument, result: DocumentResult) -> None:
        """A probe's OCR output is only read for cover sheets, never archived."""
        if result.output:
            Path(result.output).unlink(missing_ok=True)
        covers = self._valid_text_covers(doc, result) if not result.error else []
        if covers:
            _mark_text_covers(batch, covers)

    def _valid_text_covers(self, doc, result: DocumentResult) -> list[tuple[int, str]]:
        found = []
        for pos, household in result.text_covers:
            if self.profile.is_household(household):
                found.append((doc.pages[pos], household))
        return found

    # --- committing one file ----------------------------------------------------------

    def _commit(self, batch: _Batch) -> None:
        assert batch.plan is not None
        plan = batch.plan
        item = batch.item
        site = self.profile.key
        failed_docs = {
            d.number: batch.failed[tuple(d.pages)]
            for d in plan.documents
            if tuple(d.pages) in batch.failed
        }
        moved: list[Path] = []
        with self.index.transaction() as db:
            file_id = (
                db["input_files"]
                .insert(self._file_row(item, "ingested", page_count=batch.page_count))
                .last_pk
            )
            doc_ids: dict[int, int] = {}
            for doc in plan.documents:
                if doc.number in failed_docs:
                    continue
                result = batch.done_by_pages[tuple(doc.pages)]
                seq = (
                    db.execute(
                        "SELECT COALESCE(MAX(seq), 0) FROM documents "
                        "WHERE site = ? AND household = ? AND volume = ?",
                        [site, doc.household, doc.volume],
                    ).fetchone()[0]
                    + 1
                )
                # Only validated household numbers and integers make up the path.
                rel = Path(site) / doc.household / f"band-{doc.volume:02d}" / f"{seq:04d}.pdf"
                target = self.ws.archive_dir / rel
                target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                assert result.output is not None
                os.replace(result.output, target)
                moved.append(target)
                doc_ids[doc.number] = (
                    db["documents"]
                    .insert(
                        {
                            "site": site,
                            "household": doc.household,
                            "volume": doc.volume,
                            "seq": seq,
                            "doc_type": doc.doc_type,
                            "path": rel.as_posix(),
                            "pages": result.pages,
                            "size": result.size,
                            "sha256": result.sha256,
                            "pdfa": result.pdfa,
                            "text_chars": result.text_chars,
                            "file_id": file_id,
                            "created_at": now(),
                        }
                    )
                    .last_pk
                )
                self.documents_written += 1
                self.pages_ocr += result.pages
            for section in plan.sections:
                db["sections"].insert(
                    {
                        "file_id": file_id,
                        "site": site,
                        "household": section.household,
                        "volume": section.volume,
                        "cover_page": section.cover_page,
                        "declared_pages": section.declared_pages,
                        "found_pages": section.found_pages,
                    }
                )
            doc_page: dict[int, int] = {}
            rows = []
            quarantined: list[tuple[int, str]] = []
            for outcome in plan.pages:
                record = batch.records[outcome.index]
                state, reason, document_id = outcome.outcome, outcome.reason, None
                if state == "archived" and outcome.document in failed_docs:
                    state = "quarantined"
                    reason = f"document could not be archived: {failed_docs[outcome.document]}"
                if state == "archived":
                    document_id = doc_ids[outcome.document]
                    doc_page[document_id] = doc_page.get(document_id, 0) + 1
                if state == "quarantined":
                    quarantined.append((outcome.index, reason or "set aside"))
                rows.append(
                    {
                        "file_id": file_id,
                        "page_index": outcome.index,
                        "kind": record.kind,
                        "barcodes": json.dumps([list(b) for b in record.barcodes])
                        if record.barcodes
                        else None,
                        "detected_by": record.detected_by if record.kind == "cover" else None,
                        "outcome": state,
                        "household": outcome.household,
                        "volume": outcome.volume,
                        "document_id": document_id,
                        "document_page": doc_page.get(document_id) if document_id else None,
                        "reason": reason,
                    }
                )
            db["pages"].insert_all(rows)
            for first, last, reason in _ranges(quarantined):
                db["quarantine"].insert(
                    {
                        "site": site,
                        "file_id": file_id,
                        "first_page": first,
                        "last_page": last,
                        "reason": reason,
                        "created_at": now(),
                    }
                )
            expected_pages = self.scan.manifest_pages.get(item.relpath)
            if expected_pages is not None and expected_pages != batch.page_count:
                db["delivery_problems"].insert(
                    {
                        "delivery_id": self.delivery_id,
                        "file": item.relpath,
                        "problem": f"page count differs from manifest "
                        f"(manifest {expected_pages}, found {batch.page_count})",
                    }
                )
        self.progress.files_done += 1
        self.on_progress(self.progress)


def _mark_text_covers(batch: _Batch, covers: list[tuple[int, str]]) -> None:
    """Pages whose printed text shows a cover sheet become covers; the batch is planned anew."""
    for index, household in covers:
        batch.records[index] = replace(
            batch.records[index],
            kind="cover",
            household=household,
            volume=1,
            declared_pages=0,
            detected_by="ocr",
        )
    batch.replan = True


def _ranges(pages: list[tuple[int, str]]) -> list[tuple[int, int, str]]:
    out: list[tuple[int, int, str]] = []
    for index, reason in pages:
        if out and out[-1][1] == index - 1 and out[-1][2] == reason:
            out[-1] = (out[-1][0], index, reason)
        else:
            out.append((index, index, reason))
    return out


def ingest_delivery(
    workspace: Workspace,
    profile: Profile,
    delivery_dir: Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    on_progress: ProgressCallback | None = None,
) -> IngestReport:
    """Ingest one scan delivery for one site. Running it again changes nothing."""
    started = time.monotonic()
    check_dependencies(tuple(profile.ocr_languages))
    scan = scan_delivery(Path(delivery_dir), profile.is_household)
    workspace.ensure()
    with workspace.lock(), Index.open(workspace.index_path) as index:
        # Leftovers of a killed run: never counted, never archived.
        for leftover in workspace.tmp_dir.glob("run-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        run = _Run(workspace, index, profile, scan, workers, scheduler, on_progress)
        outcome, code = "failed", 70
        try:
            run.run()
            report = delivery_report(index, profile.key, run.delivery_id)
            report.run_id = run.run_id
            report.documents_written = run.documents_written
            report.pages_ocr = run.pages_ocr
            report.already_ingested = run.already
            report.seconds = time.monotonic() - started
            if run.already and not (run.documents_written or run.progress.files_total):
                report.notes.append(
                    f"nothing to do: all {run.already} file(s) of this delivery "
                    "were ingested before"
                )
            outcome, code = ("ok", 0) if report.ok else ("problems", 1)
            return report
        finally:
            with index.transaction() as db:
                db["runs"].update(
                    run.run_id, {"finished_at": now(), "outcome": outcome, "exit_code": code}
                )


def delivery_report(index: Index, site: str, delivery_id: int) -> IngestReport:
    """The state of one delivery as the index records it."""
    db = index.db
    (path,) = db.execute("SELECT path FROM deliveries WHERE id = ?", [delivery_id]).fetchone()
    files = {"ingested": 0, "quarantined": 0, "duplicate": 0}
    for outcome, count in db.execute(
        "SELECT outcome, COUNT(*) FROM input_files WHERE delivery_id = ? GROUP BY outcome",
        [delivery_id],
    ):
        files[outcome] = count
    pages = {"input": 0, "archived": 0, "cover": 0, "separator": 0, "blank": 0, "quarantined": 0}
    for outcome, count in db.execute(
        "SELECT p.outcome, COUNT(*) FROM pages p JOIN input_files f ON f.id = p.file_id "
        "WHERE f.delivery_id = ? GROUP BY p.outcome",
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
    pages["input"] = sum(v for k, v in pages.items() if k != "input")
    households = [
        r[0]
        for r in db.execute(
            "SELECT DISTINCT d.household FROM documents d JOIN input_files f ON f.id = d.file_id "
            "WHERE f.delivery_id = ? ORDER BY d.household",
            [delivery_id],
        )
    ]
    quarantined_files = [
        {"file": r[0], "reason": r[1]}
        for r in db.execute(
            "SELECT relpath, reason FROM input_files WHERE delivery_id = ? "
            "AND outcome IN ('quarantined', 'duplicate') ORDER BY relpath",
            [delivery_id],
        )
    ]
    quarantined_pages = [
        {"file": r[0], "pages": _page_span(r[1], r[2]), "reason": r[3]}
        for r in db.execute(
            "SELECT f.relpath, q.first_page, q.last_page, q.reason FROM quarantine q "
            "JOIN input_files f ON f.id = q.file_id "
            "WHERE f.delivery_id = ? AND f.outcome = 'ingested' ORDER BY f.relpath, q.first_page",
            [delivery_id],
        )
    ]
    problems = [
        {"file": r[0], "problem": r[1]}
        for r in db.execute(
            "SELECT file, problem FROM delivery_problems WHERE delivery_id = ? ORDER BY file",
            [delivery_id],
        )
    ]
    mismatches = [
        {"household": r[0], "volume": r[1], "declared": r[2], "found": r[3], "file": r[4]}
        for r in db.execute(
            "SELECT s.household, s.volume, s.declared_pages, s.found_pages, f.relpath "
            "FROM sections s JOIN input_files f ON f.id = s.file_id WHERE f.delivery_id = ? "
            "AND s.declared_pages > 0 AND s.declared_pages != s.found_pages",
            [delivery_id],
        )
    ]
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
        quarantined_pages=quarantined_pages,
        delivery_problems=problems,
        page_count_mismatches=mismatches,
        seconds=0.0,
    )


def _page_span(first: int | None, last: int | None) -> str:
    """Pages as people count them (from 1)."""
    if first is None:
        return "all"
    return f"{first + 1}" if first == last else f"{first + 1}-{(last or first) + 1}"

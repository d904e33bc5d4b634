"""``esak ingest``: a scan delivery becomes per-household PDF/A e-files and index records.

The coordinator (this module) alone writes the index. Per input file it classifies the pages
(in workers), plans sections and documents, has the documents OCR'd (in workers), then moves
the finished PDFs into the archive and records everything in one transaction. A file is
either fully recorded or not at all, so a killed run is finished by running it again.
"""

from __future__ import annotations

import errno
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from esak.archive import recover_journal
from esak.errors import DependencyError, DiskFullError, InputError, StoppedError
from esak.faults import fault
from esak.files import display_name
from esak.index.audit import recorded_run
from esak.index.db import Index
from esak.index.deliveries import DeliveryRecorder, IngestReport, delivery_report
from esak.migrate.batch import Batch
from esak.migrate.commit import commit_batch
from esak.migrate.delivery import DeliveryScan, InputItem, scan_delivery
from esak.migrate.executor import Pool
from esak.migrate.ocr import check_dependencies
from esak.migrate.pages import open_pages
from esak.migrate.plan import ORPHAN_REASON, PageRecord, PlannedDocument, plan_batch
from esak.migrate.scheduler import Job, Scheduler, StopRequest
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

#: A task is tried this often before its pages are set aside.
MAX_ATTEMPTS = 2
#: Seconds Tesseract may spend on one page before the page counts as failed.
PAGE_TIMEOUT_S = 180.0
#: Beyond Tesseract's time per page, what a document may take (Ghostscript, PDF/A, hashing).
DOCUMENT_SLACK_S = 120.0
#: A classification chunk (16 pages) that takes longer than this is stuck.
CLASSIFY_TIMEOUT_S = 600.0
#: After a deadline or a signal, work in flight may still finish (and be committed) this long.
STOP_GRACE_S = 30.0


def _describe(error: object) -> str:
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}".rstrip(": ")
    return str(error)


@dataclass
class Progress:
    pages_total: int = 0
    pages_classified: int = 0
    documents_total: int = 0
    documents_done: int = 0
    files_total: int = 0
    files_done: int = 0


ProgressCallback = Callable[[Progress], None]


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
        deadline: float | None = None,
        page_timeout_s: float = PAGE_TIMEOUT_S,
        document_slack_s: float = DOCUMENT_SLACK_S,
    ) -> None:
        self.ws = workspace
        self.index = index
        self.db = index.db
        self.profile = profile
        self.scan = scan
        self.workers = workers
        self.scheduler_address = scheduler
        self.on_progress = on_progress or (lambda p: None)
        self.progress = Progress()
        self.documents_written = 0
        self.pages_ocr = 0
        self.already = 0
        self.recorder = DeliveryRecorder(index, profile.key)
        self.tmp = workspace.tmp_dir
        self.run_tmp = self.tmp / "run"
        #: the deadline, and SIGTERM or Ctrl-C: no new work after them
        self.stop = StopRequest(deadline)
        self.page_timeout_s = page_timeout_s
        self.document_slack_s = document_slack_s
        self.scheduler: Scheduler | None = None
        #: Files of this delivery with the same content as an earlier one in it: recorded
        #: once that earlier file is archived (or not).
        self.pending_duplicates: list[tuple[InputItem, str]] = []

    @property
    def run_id(self) -> int:
        return self.recorder.run_id

    @run_id.setter
    def run_id(self, value: int) -> None:
        self.recorder.run_id = value

    # --- the pipeline -------------------------------------------------------------------

    def run(self) -> None:
        rec = self.recorder
        rec.start(display_name(str(self.scan.root)), [p.to_dict() for p in self.scan.problems])
        batches: list[Batch] = []
        seen: dict[str, str] = {}
        for item in self.scan.items:
            if self.stop.check():
                break
            if rec.known(item):
                self.already += 1
                continue
            if item.problem:
                rec.quarantine_file(item, item.problem)
                continue
            dup = rec.duplicate_of(item)
            if dup:
                rec.duplicate(item, *dup)
                continue
            if item.sha256 in seen:
                # Same content twice in this delivery: the first one is archived.
                self.pending_duplicates.append((item, seen[item.sha256]))
                continue
            try:
                with open_pages(item.path, item.files or None) as src:
                    count = src.page_count
            except InputError as exc:
                rec.quarantine_file(item, exc.message)
                continue
            if item.sha256:
                seen[item.sha256] = item.relpath
            batches.append(Batch(item, count))
        self.progress.files_total = len(batches)
        self.progress.pages_total = sum(b.page_count for b in batches)
        self.on_progress(self.progress)
        if batches:
            self._process(batches)
        if self.stop.stopping:
            # Duplicates wait for their original's outcome, which the next run decides.
            return
        for item, first in self.pending_duplicates:
            dup = rec.duplicate_of(item)
            if dup:
                rec.duplicate(item, *dup)
            else:
                rec.quarantine_file(item, f"same content as {first}, which was not archived")

    def _process(self, batches: list[Batch]) -> None:
        self.run_tmp = self.tmp / f"run-{self.run_id}"
        self.run_tmp.mkdir(parents=True, exist_ok=True)
        pool = Pool(self.workers, self.scheduler_address)
        self.scheduler = Scheduler(pool, self.stop, max_attempts=MAX_ATTEMPTS, grace_s=STOP_GRACE_S)
        try:
            for batch in batches:
                for first in range(0, batch.page_count, CHUNK_PAGES):
                    self._submit_classify(batch, first)
            self.scheduler.run()
        finally:
            if self.stop.stopping or self.scheduler.fatal:
                pool.kill()
            else:
                pool.close()
            shutil.rmtree(self.run_tmp, ignore_errors=True)
        if self.scheduler.fatal:
            raise self.scheduler.fatal

    # --- the pipeline steps -------------------------------------------------------------

    def _submit_classify(self, batch: Batch, first: int) -> None:
        item = batch.item
        last = min(first + CHUNK_PAGES, batch.page_count) - 1
        task = ClassifyTask(str(item.path), item.files or None, first, last, self.profile)
        assert self.scheduler is not None
        self.scheduler.submit(
            Job(
                classify_chunk,
                task,
                CLASSIFY_TIMEOUT_S,
                on_done=lambda result: self._classified(batch, result),
                on_failed=lambda reason: self._classified(batch, reason),
                check=lambda result: (
                    None
                    if isinstance(result, ClassifyResult)
                    else f"page could not be classified: {_describe(result)}"
                ),
            )
        )
        batch.chunks_left += 1

    def _classified(self, batch: Batch, result: ClassifyResult | str) -> None:
        batch.chunks_left -= 1
        if isinstance(result, ClassifyResult):
            for record in result.records:
                batch.records[record.index] = record
            self.progress.pages_classified += len(result.records)
        else:
            # Classification failed twice: the pages are recorded as unreadable, not lost.
            for index in range(batch.page_count):
                batch.records.setdefault(index, PageRecord(index, "content", error=result))
        self.on_progress(self.progress)
        if batch.chunks_left == 0:
            fault("classified")
            self._plan(batch)

    def _plan(self, batch: Batch) -> None:
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
            self._submit_doc(batch, doc)
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
            self._submit_doc(batch, probe, probe=True)
        self.on_progress(self.progress)
        if batch.docs_left == 0:
            self._commit(batch)

    def _submit_doc(self, batch: Batch, doc: PlannedDocument, probe: bool = False) -> None:
        """OCR one planned document in a worker; a probe is read for cover sheets only, never
        archived, and not tried again."""
        task = DocumentTask(
            key=f"{batch.item.relpath}#{doc.number}",
            source=str(batch.item.path),
            format=batch.item.format,
            files=batch.item.files or None,
            pages=tuple(doc.pages),
            languages=tuple(self.profile.ocr_languages),
            tmp_dir=str(self.run_tmp),
            title=f"{doc.household} Band {doc.volume}",
            timeout=self.page_timeout_s,
        )

        def as_result(result: Any) -> DocumentResult:
            if isinstance(result, DocumentResult):
                return result
            return DocumentResult.failure(task.key, f"OCR failed: {_describe(result)}")

        def check(result: Any) -> str | None:
            result = as_result(result)
            return result.error if result.error and not result.fatal and not probe else None

        def done(result: Any) -> None:
            fault("ocr-done")
            self._documented(batch, doc, as_result(result), probe)

        def failed(reason: str) -> None:
            self._documented(batch, doc, DocumentResult.failure(task.key, reason), probe)

        # Tesseract has its own limit per page; this one catches everything else that hangs.
        limit = self.page_timeout_s * len(doc.pages) + self.document_slack_s
        assert self.scheduler is not None
        self.scheduler.submit(Job(build_document, task, limit, done, failed, check, urgent=True))
        batch.docs_left += 1
        self.progress.documents_total += 1

    def _documented(
        self, batch: Batch, doc: PlannedDocument, result: DocumentResult, probe: bool = False
    ) -> None:
        batch.docs_left -= 1
        key = tuple(doc.pages)
        assert self.scheduler is not None
        if result.fatal == "disk-full":
            self.scheduler.abort(
                DiskFullError(result.error or "", "free space, then run again to resume")
            )
            return
        if result.fatal:
            self.scheduler.abort(
                DependencyError(result.error or "", "install what is missing (make demo)")
            )
            return
        if probe:
            self._probed(batch, doc, result)
        elif result.error:
            batch.failed[key] = result.error
        else:
            batch.done_by_pages[key] = result
            covers = self._valid_text_covers(doc, result)
            if covers:
                # A cover sheet whose barcode could not be read: split the batch anew.
                batch.mark_text_covers(covers)
        self.progress.documents_done += 1
        self.on_progress(self.progress)
        if batch.docs_left == 0:
            if batch.replan:
                batch.replan = False
                self._plan(batch)
                return
            self._commit(batch)

    def _probed(self, batch: Batch, doc: PlannedDocument, result: DocumentResult) -> None:
        """A probe's OCR output is only read for cover sheets, never archived."""
        if result.output:
            Path(result.output).unlink(missing_ok=True)
        covers = self._valid_text_covers(doc, result) if not result.error else []
        if covers:
            batch.mark_text_covers(covers)

    def _valid_text_covers(self, doc, result: DocumentResult) -> list[tuple[int, str]]:
        found = []
        for pos, household in result.text_covers:
            if self.profile.is_household(household):
                found.append((doc.pages[pos], household))
        return found

    def _commit(self, batch: Batch) -> None:
        documents, pages = commit_batch(
            self.ws,
            self.index,
            self.recorder,
            batch,
            self.scan.manifest_pages.get(batch.item.relpath),
        )
        self.documents_written += documents
        self.pages_ocr += pages
        self.progress.files_done += 1
        self.on_progress(self.progress)


def ingest_delivery(
    workspace: Workspace,
    profile: Profile,
    delivery_dir: Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    on_progress: ProgressCallback | None = None,
    deadline: float | None = None,
    page_timeout_s: float = PAGE_TIMEOUT_S,
    document_slack_s: float = DOCUMENT_SLACK_S,
) -> IngestReport:
    """Ingest one scan delivery for one site. Running it again changes nothing.

    Stops taking new work at ``deadline`` (a ``time.time()`` value), on SIGTERM or Ctrl-C,
    lets work in flight finish for ``STOP_GRACE_S`` seconds and raises :class:`StoppedError`;
    what was committed stays, the next run does the rest.
    """
    started = time.monotonic()
    check_dependencies(tuple(profile.ocr_languages))
    scan = scan_delivery(Path(delivery_dir), profile.is_household)
    workspace.ensure()
    options = {"delivery": display_name(str(scan.root)), "workers": workers, "deadline": deadline}
    with workspace.lock() as lock, Index.open(workspace.index_path) as index:
        notes = []
        if lock.stale_holder:
            notes.append(f"took over the lock of a run that did not finish ({lock.stale_holder})")
        # Leftovers of a killed run: never counted, never archived.
        removed = recover_journal(workspace, index)
        if removed:
            notes.append(f"removed {len(removed)} archive file(s) a killed run left uncommitted")
        for leftover in workspace.tmp_dir.glob("run-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        run = _Run(
            workspace, index, profile, scan, workers, scheduler, on_progress,
            deadline=deadline, page_timeout_s=page_timeout_s,
            document_slack_s=document_slack_s,
        )  # fmt: skip
        with recorded_run(index, "ingest", profile.key, options) as record:
            run.run_id = record.id
            try:
                with run.stop.on_signals():
                    run.run()
            except OSError as exc:
                if exc.errno == errno.ENOSPC:
                    raise DiskFullError(
                        f"the workspace's disk is full ({workspace.root})",
                        "free space, then run the same command again to resume",
                    ) from exc
                raise
            if run.stop.stopping:
                raise StoppedError(
                    f"stopped ({run.stop.reason}): {run.progress.files_done} of "
                    f"{run.progress.files_total} file(s) finished and recorded; "
                    "work in flight was abandoned, nothing of it is counted",
                    "run the same command again (e.g. next night) to go on",
                )
            report = delivery_report(index, profile.key, run.recorder.delivery_id)
            report.run_id = run.run_id
            report.documents_written = run.documents_written
            report.pages_ocr = run.pages_ocr
            report.already_ingested = run.already
            report.seconds = time.monotonic() - started
            report.notes += notes
            if run.already and not (run.documents_written or run.progress.files_total):
                report.notes.append(
                    f"nothing to do: all {run.already} file(s) of this delivery "
                    "were ingested before"
                )
            record.finish(report.exit_code)
            return report

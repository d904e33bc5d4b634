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
from datetime import date
from pathlib import Path
from typing import Any

from esak.archive import recover_journal
from esak.errors import DependencyError, DiskFullError, StoppedError
from esak.faults import fault
from esak.files import display_name
from esak.index.audit import recorded_run
from esak.index.cases import sync_cases
from esak.index.db import Index
from esak.index.deliveries import DeliveryRecorder, IngestReport, delivery_report
from esak.migrate.batch import Batch
from esak.migrate.commit import commit_batch
from esak.migrate.delivery import (
    DeliveryScan,
    InputItem,
    check_scan_day,
    refuse_workspace_as_delivery,
    scan_delivery,
)
from esak.migrate.executor import WorkerPool, open_pool
from esak.migrate.ocr import check_dependencies
from esak.migrate.plan import ORPHAN_REASON, PageRecord, PlannedDocument, plan_batch
from esak.migrate.progress import FileDone, Progress, ProgressCallback
from esak.migrate.scheduler import Job, Scheduler, StopRequest, deadline_text, describe
from esak.migrate.tasks import (
    ENGINE,
    ClassifyResult,
    ClassifyTask,
    CountResult,
    CountTask,
    DocumentResult,
    DocumentTask,
    Engine,
)
from esak.profiles import Profile
from esak.vocabulary import FileOutcome, PageKind
from esak.workspace import Workspace

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


class _Run:
    """One ingest: the coordinator's side of the pipeline. Per input file, in this order:

    count its pages (in a worker: the file is untrusted) → classify them (in chunks) → plan
    sections and documents → OCR the documents (and probe pages before the first cover for a
    cover sheet's printed text) → plan again where OCR found such a cover → commit. Jobs end
    in any order; after each one :meth:`_advance` takes the file as far as it can go.
    """

    def __init__(
        self,
        workspace: Workspace,
        index: Index,
        profile: Profile,
        scan: DeliveryScan,
        pool: Callable[[], WorkerPool],
        on_progress: ProgressCallback | None,
        deadline: float | None = None,
        page_timeout_s: float = PAGE_TIMEOUT_S,
        document_slack_s: float = DOCUMENT_SLACK_S,
        engine: Engine = ENGINE,
    ) -> None:
        self.ws = workspace
        self.engine = engine
        self.index = index
        self.profile = profile
        self.scan = scan
        self.make_pool = pool
        self.on_progress = on_progress or (lambda p: None)
        self.progress = Progress()
        self.documents_written = 0
        self.pages_ocr = 0
        self.already = 0
        self.recorder = DeliveryRecorder(index, profile.key)
        self.run_tmp = workspace.tmp_dir / "run"
        #: the deadline, and SIGTERM or Ctrl-C: no new work after them
        self.stop = StopRequest(deadline)
        self.page_timeout_s = page_timeout_s
        self.document_slack_s = document_slack_s
        self.scheduler: Scheduler | None = None
        #: Files of this delivery with the same content as an earlier one in it: recorded
        #: once that earlier file is archived (or not).
        self.pending_duplicates: list[tuple[InputItem, str]] = []

    # --- the steps of a delivery ----------------------------------------------------------

    def start(self) -> None:
        self.recorder.start(
            display_name(str(self.scan.root)), [p.to_dict() for p in self.scan.problems]
        )

    def select(self) -> list[InputItem]:
        """The files this run has to read. Every other file of the delivery is recorded here
        (done before, unusable, a duplicate) or waits for the file it repeats."""
        rec = self.recorder
        chosen: list[InputItem] = []
        seen: dict[str, str] = {}
        for item in self.scan.items:
            if self.stop.check():
                break
            if rec.known(item):
                self.already += 1
                continue
            if item.problem:
                rec.quarantine_file(item, item.problem)
                self._done(FileDone(item.relpath, FileOutcome.QUARANTINED, reason=item.problem))
                continue
            dup = rec.duplicate_of(item)
            if dup:
                rec.duplicate(item, *dup)
                self._done(FileDone(item.relpath, FileOutcome.DUPLICATE, reason=dup[1]))
                continue
            if item.sha256 in seen:
                # Same content twice in this delivery: the first one is archived.
                self.pending_duplicates.append((item, seen[item.sha256]))
                continue
            if item.sha256:
                seen[item.sha256] = item.relpath
            chosen.append(item)
        self.progress.files_total = len(chosen)
        self.on_progress(self.progress)
        return chosen

    def process(self, items: list[InputItem]) -> None:
        """Count, classify, plan, OCR, re-plan and commit every file; returns when all are
        done, or when a stop has let the work in flight finish."""
        if not items:
            return
        self.run_tmp = self.ws.tmp_dir / f"run-{self.recorder.run_id}"
        pool = self.make_pool()  # first: a scheduler that cannot be reached leaves no tmp/
        self.run_tmp.mkdir(parents=True, exist_ok=True)
        self.scheduler = Scheduler(pool, self.stop, max_attempts=MAX_ATTEMPTS, grace_s=STOP_GRACE_S)
        try:
            for item in items:
                self._count(item)
            self.scheduler.run()
        finally:
            if self.stop.stopping or self.scheduler.fatal:
                pool.kill()
            else:
                pool.close()
            shutil.rmtree(self.run_tmp, ignore_errors=True)
        if self.scheduler.fatal:
            raise self.scheduler.fatal

    def settle_duplicates(self) -> None:
        """Files that repeat another file of this delivery: duplicates if it was archived."""
        if self.stop.stopping:
            # Duplicates wait for their original's outcome, which the next run decides.
            return
        rec = self.recorder
        for item, first in self.pending_duplicates:
            dup = rec.duplicate_of(item)
            if dup:
                rec.duplicate(item, *dup)
                self._done(FileDone(item.relpath, FileOutcome.DUPLICATE, reason=dup[1]))
            else:
                reason = f"same content as {first}, which was not archived"
                rec.quarantine_file(item, reason)
                self._done(FileDone(item.relpath, FileOutcome.QUARANTINED, reason=reason))

    # --- the steps of one file ------------------------------------------------------------

    def _count(self, item: InputItem) -> None:
        def counted(result: CountResult) -> None:
            if result.error:
                self.recorder.quarantine_file(item, result.error)
                self.progress.files_done += 1
                self._done(FileDone(item.relpath, FileOutcome.QUARANTINED, reason=result.error))
                return
            batch = Batch(item, result.pages)
            self.progress.pages_total += batch.page_count
            for first in range(0, batch.page_count, CHUNK_PAGES):
                self._classify(batch, first)

        def failed(reason: str) -> None:
            counted(CountResult(error=f"the file could not be read: {reason}"))

        assert self.scheduler is not None
        self.scheduler.submit(
            Job(
                self.engine.count,
                CountTask(str(item.path), item.files or None),
                CLASSIFY_TIMEOUT_S,
                on_done=counted,
                on_failed=failed,
                check=lambda result: None if isinstance(result, CountResult) else describe(result),
            )
        )

    def _advance(self, batch: Batch) -> None:
        """Take a file as far as it can go: the pipeline's order, in one place."""
        if batch.chunks_left or batch.docs_left:
            return  # jobs of this file still running
        if batch.plan is None or batch.replan:
            # First plan after classification; again when OCR found a cover sheet's text.
            batch.replan = False
            self._plan(batch)
            if batch.docs_left:
                return
        self._commit(batch)

    def _classify(self, batch: Batch, first: int) -> None:
        item = batch.item
        last = min(first + CHUNK_PAGES, batch.page_count) - 1
        task = ClassifyTask(str(item.path), item.files or None, first, last, self.profile)
        assert self.scheduler is not None
        self.scheduler.submit(
            Job(
                self.engine.classify,
                task,
                CLASSIFY_TIMEOUT_S,
                on_done=lambda result: self._classified(batch, result),
                on_failed=lambda reason: self._classified(batch, reason),
                check=lambda result: (
                    None
                    if isinstance(result, ClassifyResult)
                    else f"page could not be classified: {describe(result)}"
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
                batch.records.setdefault(index, PageRecord(index, PageKind.CONTENT, error=result))
        self.on_progress(self.progress)
        if batch.chunks_left == 0:
            fault("classified")
        self._advance(batch)

    def _plan(self, batch: Batch) -> None:
        item = batch.item
        records = [batch.records[i] for i in range(batch.page_count)]
        household_file = (item.household, item.volume or 1) if item.household else None
        batch.plan = plan_batch(
            records, blank_pages=self.profile.blank_pages, household_file=household_file
        )
        for doc in batch.plan.documents:
            key = tuple(doc.pages)
            # Done before, or failed twice (its pages are set aside at commit): not again.
            if key in batch.done_by_pages or key in batch.failed:
                continue
            self._ocr(
                batch,
                doc.pages,
                f"{batch.item.relpath}#{doc.number}",
                f"{doc.household} Band {doc.volume}",
                lambda result, doc=doc: self._documented(batch, doc, result),
            )
        orphans = [
            p.index
            for p in batch.plan.pages
            if p.reason == ORPHAN_REASON and batch.records[p.index].kind == PageKind.CONTENT
        ]
        if orphans and not batch.probed:
            # Pages before the first cover may follow a cover whose barcode is unreadable:
            # OCR them once and look for the cover sheet's printed text.
            batch.probed = True
            self._ocr(
                batch,
                orphans,
                f"{batch.item.relpath}#probe",
                "",
                lambda result: self._probed(batch, orphans, result),
                retry=False,
            )
        self.on_progress(self.progress)

    def _ocr(
        self,
        batch: Batch,
        pages: list[int],
        key: str,
        title: str,
        on_result: Callable[[DocumentResult], None],
        retry: bool = True,
    ) -> None:
        """OCR pages of a batch in a worker; ``on_result`` gets the result or the failure."""
        task = DocumentTask(
            key=key,
            source=str(batch.item.path),
            format=batch.item.format,
            files=batch.item.files or None,
            pages=tuple(pages),
            languages=tuple(self.profile.ocr_languages),
            tmp_dir=str(self.run_tmp),
            title=title,
            timeout=self.page_timeout_s,
        )

        def as_result(result: Any) -> DocumentResult:
            if isinstance(result, DocumentResult):
                return result
            return DocumentResult.failure(key, f"OCR failed: {describe(result)}")

        def check(result: Any) -> str | None:
            result = as_result(result)
            return result.error if result.error and not result.fatal and retry else None

        def done(result: Any) -> None:
            fault("ocr-done")
            finished(as_result(result))

        def finished(result: DocumentResult) -> None:
            batch.docs_left -= 1
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
            on_result(result)
            self.progress.documents_done += 1
            self.on_progress(self.progress)
            self._advance(batch)

        # Tesseract has its own limit per page; this one catches everything else that hangs.
        limit = self.page_timeout_s * len(pages) + self.document_slack_s
        assert self.scheduler is not None
        self.scheduler.submit(
            Job(
                self.engine.build,
                task,
                limit,
                done,
                lambda reason: finished(DocumentResult.failure(key, reason)),
                check,
                urgent=True,
            )
        )
        batch.docs_left += 1
        self.progress.documents_total += 1

    def _documented(self, batch: Batch, doc: PlannedDocument, result: DocumentResult) -> None:
        key = tuple(doc.pages)
        if result.error:
            batch.failed[key] = result.error
            return
        batch.done_by_pages[key] = result
        covers = self._valid_text_covers(doc.pages, result)
        if covers:
            # A cover sheet whose barcode could not be read: split the batch anew.
            batch.mark_text_covers(covers)

    def _probed(self, batch: Batch, pages: list[int], result: DocumentResult) -> None:
        """A probe's OCR output is only read for cover sheets, never archived."""
        if result.output:
            Path(result.output).unlink(missing_ok=True)
        covers = self._valid_text_covers(pages, result) if not result.error else []
        if covers:
            batch.mark_text_covers(covers)

    def _valid_text_covers(self, pages: list[int], result: DocumentResult) -> list[tuple[int, str]]:
        return [
            (pages[pos], household)
            for pos, household in result.text_covers
            if self.profile.is_household(household)
        ]

    def _commit(self, batch: Batch) -> None:
        documents, pages = commit_batch(self.ws, self.index, self.recorder, batch, self.scan)
        self.documents_written += documents
        self.pages_ocr += pages
        self.progress.files_done += 1
        self.progress.pages_done += batch.page_count
        self._done(FileDone(batch.item.relpath, FileOutcome.INGESTED, batch.page_count))

    def _done(self, event: FileDone) -> None:
        self.progress.last = event
        self.on_progress(self.progress)
        self.progress.last = None


def ingest_delivery(
    workspace: Workspace,
    profile: Profile,
    delivery_dir: Path,
    *,
    workers: int | None = None,
    scheduler: Any = None,  # a tcp:// address or a dask_pool.Cluster: Dask instead
    on_progress: ProgressCallback | None = None,
    deadline: float | None = None,
    page_timeout_s: float = PAGE_TIMEOUT_S,
    document_slack_s: float = DOCUMENT_SLACK_S,
    scanned_on: date | None = None,
    engine: Engine = ENGINE,  # another only in benchmarks/bench_scaling.py
) -> IngestReport:
    """Ingest one scan delivery for one site. Running it again changes nothing.

    Stops taking new work at ``deadline`` (a ``time.time()`` value), on SIGTERM or Ctrl-C,
    lets work in flight finish for ``STOP_GRACE_S`` seconds and raises :class:`StoppedError`;
    what was committed stays, the next run does the rest.

    Raises :class:`InputError` before taking the workspace's lock when the delivery folder is
    the workspace, lies inside it or holds it, or holds no scan file at all; ``scanned_on``
    (when the paper was scanned: the destruction clock) may not lie ahead."""
    started = time.monotonic()
    check_scan_day(scanned_on)
    refuse_workspace_as_delivery(workspace.root, Path(delivery_dir))
    # Before a delivery is read: someone who may only read the workspace is told at once.
    workspace.check_writable()
    check_dependencies(tuple(profile.ocr_languages))
    scan = scan_delivery(Path(delivery_dir), profile.is_household)
    workspace.ensure()
    day = scanned_on.isoformat() if scanned_on else None
    options = {"delivery": display_name(str(scan.root)), "workers": workers, "deadline": deadline,
               "scanned_on": day, "scheduler": scheduler and str(scheduler)}  # fmt: skip
    with workspace.lock() as lock, Index.open(workspace.index_path, workspace.access) as index:
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
            workspace, index, profile, scan, lambda: open_pool(workers, scheduler), on_progress,
            deadline=deadline, page_timeout_s=page_timeout_s,
            document_slack_s=document_slack_s, engine=engine,
        )  # fmt: skip
        with recorded_run(index, "ingest", profile.key, options) as record:
            run.recorder.run_id, run.recorder.scanned_on = record.id, day
            try:
                with run.stop.on_signals():
                    run.start()
                    run.process(run.select())
                    run.settle_duplicates()
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
            cases = sync_cases(index, profile.key, record.id)
            report = delivery_report(index, profile.key, run.recorder.delivery_id)
            report.run_id = record.id
            report.cases_opened, report.cases_closed = len(cases.opened), len(cases.closed)
            report.documents_written = run.documents_written
            report.pages_ocr = run.pages_ocr
            report.already_ingested = run.already
            report.seconds = time.monotonic() - started
            report.deadline = deadline_text(deadline)
            report.notes += notes
            if run.already and not (run.documents_written or run.progress.files_total):
                report.notes.append(
                    f"nothing to do: all {run.already} file(s) of this delivery "
                    "were ingested before"
                )
            record.finish(report.exit_code)
            return report

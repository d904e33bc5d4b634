"""``esak mail ingest``: a day's mail delivery, each letter filed in its household's e-file
or made a Klärfall, never filed in a wrong one.

The delivery is read as a migration delivery is (:func:`esak.migrate.delivery.scan_delivery`:
the folder is never modified, its manifest reconciled, with a ``received_at`` column: the
date on each letter's receipt stamp). Per input file: its pages are counted and classified
in workers, split into letters (:mod:`esak.mail.letters`), each letter OCR'd into PDF/A with
its numbers read twice (:mod:`esak.mail.task`) and routed (:mod:`esak.mail.route`). Then, in
one transaction per file: a routed letter becomes a document of type ``Posteingang`` in
``archive/<site>/<household>/post/<yyyy>/<nnnn>.pdf`` with its receipt date; a letter not
routed a Klärfall of kind ``mail`` with its reason, its pages set aside; every letter a row
of ``mail_letters`` and an audit event with its evidence; every page its outcome (page
accounting as for migration deliveries). Then each letter archived gets its transfer note.

Running it again changes nothing (a file recorded before is not read again); a run that
was killed is finished by running it again.
"""

from __future__ import annotations

import errno
import shutil
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from esak.archive import recover_journal
from esak.errors import (
    DependencyError,
    DiskFullError,
    StoppedError,
    UsageError,
)
from esak.files import display_name
from esak.i18n import N_
from esak.index import mail as mail_rows
from esak.index.audit import os_user, recorded_run
from esak.index.cases import sync_cases
from esak.index.db import Index
from esak.index.deliveries import DeliveryRecorder
from esak.mail.commit import FiledLetter, commit_letters
from esak.mail.letters import FilePlan, Letter, split_letters
from esak.mail.report import MailReport, mail_report
from esak.mail.route import (
    Decision,
    Households,
    read_numbers,
    route_letter,
    template_of,
)
from esak.mail.task import LetterResult, LetterTask, build_letter
from esak.migrate.delivery import (
    Capture,
    DeliveryScan,
    InputItem,
    letter_items,
    refuse_workspace_as_delivery,
    scan_delivery,
)
from esak.migrate.executor import Pool
from esak.migrate.ingest import (
    CHUNK_PAGES,
    CLASSIFY_TIMEOUT_S,
    DOCUMENT_SLACK_S,
    MAX_ATTEMPTS,
    PAGE_TIMEOUT_S,
    STOP_GRACE_S,
)
from esak.migrate.ocr import check_dependencies
from esak.migrate.plan import PageRecord
from esak.migrate.scheduler import Job, Scheduler, StopRequest, describe
from esak.migrate.tasks import (
    ClassifyResult,
    ClassifyTask,
    CountResult,
    CountTask,
    DocumentResult,
    DocumentTask,
    classify_chunk,
    count_pages,
)
from esak.profiles import Profile
from esak.verify.transfer import responsible_person, write_document_notes
from esak.vocabulary import (
    MAIL_DOC_TYPE,
    BlankPolicy,
    MailReason,
    PageKind,
)
from esak.workspace import Workspace

#: The detail of a letter that could not be OCR'd.
UNREAD = N_("the letter could not be read")


def ingest_mail(
    workspace: Workspace,
    profile: Profile,
    delivery_dir: Path,
    *,
    received: date | None = None,
    by: str | None = None,
    workers: int | None = None,
    page_timeout_s: float = PAGE_TIMEOUT_S,
) -> MailReport:
    """Ingest one mail delivery for one site. Running it again changes nothing.

    ``received``: the date on the receipt stamp of every letter whose manifest row gives
    none (required for those: a letter's deadlines run from it). ``by``: the person named by
    the transfer notes of the letters archived (default: the OS user)."""
    started = time.monotonic()
    if received is not None and received > date.today():
        raise UsageError(
            f"--received {received.isoformat()} lies in the future",
            "give the date on the receipt stamp (YYYY-MM-DD)",
        )
    person = responsible_person(by or os_user())
    refuse_workspace_as_delivery(workspace.root, Path(delivery_dir))
    workspace.check_writable()
    check_dependencies(tuple(profile.ocr_languages))
    # A letter's file name is no evidence: no file is taken as a household's by its name.
    scan = letter_items(scan_delivery(Path(delivery_dir), lambda name: False))
    day = received.isoformat() if received else None
    undated = [
        i.relpath
        for i in scan.items
        if not i.problem and not _capture(scan, i).received_at and day is None
    ]
    if undated:
        shown = ", ".join(undated[:3]) + (" …" if len(undated) > 3 else "")
        raise UsageError(
            f"no receipt date for {len(undated)} letter file(s) ({shown})",
            "give the date on the receipt stamp: --received YYYY-MM-DD, or a manifest.csv "
            "column received_at per file",
        )
    workspace.ensure()
    root = display_name(str(scan.root))
    options = {"delivery": root, "received": day, "by": person, "workers": workers}
    with workspace.lock(), Index.open(workspace.index_path, workspace.access) as index:
        notes: list[str] = []
        removed = recover_journal(workspace, index)
        if removed:
            notes.append(f"removed {len(removed)} archive file(s) a killed run left uncommitted")
        for leftover in workspace.tmp_dir.glob("mail-*"):
            shutil.rmtree(leftover, ignore_errors=True)
        with recorded_run(index, "mail ingest", profile.key, options) as record:
            run = _MailRun(workspace, index, profile, scan, record.id, day, workers)
            run.page_timeout_s = page_timeout_s
            try:
                with run.stop.on_signals():
                    run.recorder.start(root, [p.to_dict() for p in scan.problems], kind="mail")
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
                    f"stopped ({run.stop.reason}): the letter files finished are recorded",
                    "run the same command again to go on",
                )
            sync_cases(index, profile.key, record.id)
            written = write_document_notes(
                workspace, index, profile.key, mail_rows.documents_without_note(index, profile.key),
                by=person, run_id=record.id,
            )  # fmt: skip
            report = mail_report(index, profile.key, run.recorder.delivery_id)
            report.run_id = record.id
            report.documents_written = run.documents_written
            report.cases_opened = run.cases_opened
            report.already_ingested = run.already
            report.notes = notes + [
                f"no transfer note for {s['document']}: its file is {s['problem']}"
                for s in written.skipped
            ]
            if run.already and not run.files_read:
                report.notes.append(
                    f"nothing to do: all {run.already} file(s) of this delivery were "
                    "ingested before"
                )
            report.seconds = time.monotonic() - started
            record.finish(report.exit_code)
            return report


def _capture(scan: DeliveryScan, item: InputItem) -> Capture:
    return scan.manifest_capture.get(item.relpath) or Capture()


@dataclass
class _File:
    """One input file on its way: its pages classified, its letters built and routed."""

    item: InputItem
    page_count: int
    records: dict[int, PageRecord] = field(default_factory=dict)
    chunks_left: int = 0
    plan: FilePlan | None = None
    results: dict[int, LetterResult | str] = field(default_factory=dict)
    letters_left: int = 0


class _MailRun:
    """The coordinator's side of one mail ingest: per file, count its pages → classify them
    (in chunks) → split the letters → build and read each letter → route and commit."""

    def __init__(
        self,
        workspace: Workspace,
        index: Index,
        profile: Profile,
        scan: DeliveryScan,
        run_id: int,
        received: str | None,
        workers: int | None,
    ) -> None:
        self.ws = workspace
        self.index = index
        self.profile = profile
        self.scan = scan
        self.received = received
        self.workers = workers
        self.recorder = DeliveryRecorder(index, profile.key, run_id)
        self.stop = StopRequest()
        self.tmp = workspace.tmp_dir / f"mail-{run_id}"
        self.template = template_of(profile.household_pattern)
        known, elsewhere = mail_rows.site_households(index, profile.key)
        self.households = Households(profile.key, known, elsewhere)
        self.page_timeout_s = PAGE_TIMEOUT_S
        self.scheduler: Scheduler | None = None
        self.already = 0
        self.files_read = 0
        self.documents_written = 0
        self.cases_opened = 0
        self.pending_duplicates: list[tuple[InputItem, str]] = []

    # --- which files ----------------------------------------------------------------------

    def select(self) -> list[InputItem]:
        rec, chosen, seen = self.recorder, [], {}
        for item in self.scan.items:
            if rec.known(item):
                self.already += 1
            elif item.problem:
                rec.quarantine_file(item, item.problem)
            elif dup := rec.duplicate_of(item):
                rec.duplicate(item, *dup)
            elif item.sha256 in seen:
                self.pending_duplicates.append((item, seen[item.sha256]))
            else:
                if item.sha256:
                    seen[item.sha256] = item.relpath
                chosen.append(item)
        self.files_read = len(chosen)
        return chosen

    def settle_duplicates(self) -> None:
        """A letter delivered twice in one delivery is filed once: the second is a duplicate."""
        for item, first in self.pending_duplicates:
            dup = self.recorder.duplicate_of(item)
            if dup:
                self.recorder.duplicate(item, *dup)
            else:
                self.recorder.quarantine_file(
                    item, f"same content as {first}, which was not archived"
                )

    # --- the pipeline ---------------------------------------------------------------------

    def process(self, items: list[InputItem]) -> None:
        if not items:
            return
        self.tmp.mkdir(parents=True, exist_ok=True)
        pool = Pool(self.workers)
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
            shutil.rmtree(self.tmp, ignore_errors=True)
        if self.scheduler.fatal:
            raise self.scheduler.fatal

    def _submit(self, job: Job) -> None:
        assert self.scheduler is not None
        self.scheduler.submit(job)

    def _count(self, item: InputItem) -> None:
        def counted(result: CountResult) -> None:
            if result.error:
                self.recorder.quarantine_file(item, result.error)
                return
            state = _File(item, result.pages)
            for first in range(0, state.page_count, CHUNK_PAGES):
                self._classify(state, first)
            if not state.page_count:
                self._split(state)

        def failed(why: str) -> None:
            counted(CountResult(error=f"the file could not be read: {why}"))

        task = CountTask(str(item.path), item.files or None)
        self._submit(
            Job(
                count_pages,
                task,
                CLASSIFY_TIMEOUT_S,
                on_done=counted,
                on_failed=failed,
                check=lambda r: None if isinstance(r, CountResult) else describe(r),
            )
        )

    def _classify(self, state: _File, first: int) -> None:
        item = state.item
        last = min(first + CHUNK_PAGES, state.page_count) - 1
        task = ClassifyTask(str(item.path), item.files or None, first, last, self.profile)

        def done(result: ClassifyResult | str) -> None:
            state.chunks_left -= 1
            if isinstance(result, ClassifyResult):
                for record in result.records:
                    state.records[record.index] = record
            else:
                for index in range(first, last + 1):
                    unread = PageRecord(index, PageKind.CONTENT, error=result)
                    state.records.setdefault(index, unread)
            if state.chunks_left == 0:
                self._split(state)

        def check(result: Any) -> str | None:
            if isinstance(result, ClassifyResult):
                return None
            return f"page could not be classified: {describe(result)}"

        state.chunks_left += 1
        self._submit(Job(classify_chunk, task, CLASSIFY_TIMEOUT_S, done, done, check))

    def _split(self, state: _File) -> None:
        records = [state.records[i] for i in range(state.page_count)]
        keep = self.profile.blank_pages == BlankPolicy.KEEP
        state.plan = split_letters(records, self.profile, keep_blanks=keep)
        for number, letter in enumerate(state.plan.letters):
            if letter.error:
                state.results[number] = letter.error
                continue
            self._build(state, number, letter)
        if state.letters_left == 0:
            self._commit(state)

    def _build(self, state: _File, number: int, letter: Letter) -> None:
        item = state.item
        key = f"{item.relpath}#{number + 1}"
        task = LetterTask(
            DocumentTask(
                key=key, source=str(item.path), format=item.format, files=item.files or None,
                pages=tuple(letter.pages), languages=tuple(self.profile.ocr_languages),
                tmp_dir=str(self.tmp), title=f"{MAIL_DOC_TYPE} {self.profile.name}",
                timeout=self.page_timeout_s, words=True,
            ),
            self.profile.household_pattern,
        )  # fmt: skip

        def as_result(result: Any) -> LetterResult:
            if isinstance(result, LetterResult):
                return result
            return LetterResult(DocumentResult.failure(key, f"OCR failed: {describe(result)}"))

        def check(result: Any) -> str | None:
            doc = as_result(result).document
            return doc.error if doc.error and not doc.fatal else None

        def finished(result: LetterResult) -> None:
            state.letters_left -= 1
            doc = result.document
            assert self.scheduler is not None
            if doc.fatal == "disk-full":
                self.scheduler.abort(DiskFullError(doc.error or "", "free space, then run again"))
                return
            if doc.fatal:
                self.scheduler.abort(DependencyError(doc.error or "", "install what is missing"))
                return
            state.results[number] = doc.error if doc.error else result
            if state.letters_left == 0:
                self._commit(state)

        def failed(why: str) -> None:
            finished(LetterResult(DocumentResult.failure(key, why)))

        # Tesseract has its own limit per page (and per number read again): this catches
        # everything else that hangs.
        limit = self.page_timeout_s * (len(letter.pages) + 1) + DOCUMENT_SLACK_S
        state.letters_left += 1
        self._submit(
            Job(build_letter, task, limit, lambda r: finished(as_result(r)), failed, check, True)
        )

    # --- routing and committing -----------------------------------------------------------

    def _decide(self, letter: Letter, result: LetterResult | str | None) -> Decision:
        if not isinstance(result, LetterResult):
            error = result or "no result"
            return Decision(
                reason=MailReason.NO_CANDIDATE,
                why=f"{UNREAD}: {error}",
                evidence={"rule": "not read", "error": error},
            )
        readings = read_numbers(result.words, self.template)
        checks = {(page, word): text for page, word, text in result.checks}
        return route_letter(readings, letter.codes, self.households, checks, self.template)

    def _commit(self, state: _File) -> None:
        assert state.plan is not None
        decisions = [
            self._decide(letter, state.results.get(n))
            for n, letter in enumerate(state.plan.letters)
        ]
        capture = _capture(self.scan, state.item)
        received = capture.received_at or self.received
        assert received is not None  # checked before the run began
        letters = [
            FiledLetter(letter, decision, result if isinstance(result, LetterResult) else None)
            for letter, decision, result in zip(
                state.plan.letters,
                decisions,
                [state.results.get(n) for n in range(len(decisions))],
                strict=True,
            )
        ]
        documents, cases = commit_letters(
            self.ws, self.index, self.recorder, state.item, state.page_count,
            [state.records[i] for i in range(state.page_count)], state.plan.outcomes, letters,
            received=received, capture=capture,
            manifest_pages=self.scan.manifest_pages.get(state.item.relpath),
        )  # fmt: skip
        self.documents_written += documents
        self.cases_opened += cases

"""``esak blanks keep``: a dropped blank page that a reviewer found to hold something goes
back into its household's e-file.

The page joins the archived document of its section that holds the nearest archived page
before it (else the next one after it; a section with no document gets a new one). That
document is built again from the delivery as ingest builds it (:func:`tasks.build_document`:
the same OCR, the same PDF/A check), and replaces the old file at the same archive path.
The old file's path, sha256, size and pages are kept on record (``superseded_documents``),
the run in the audit log.

Nothing is lost if esak is killed at any point. The new PDF is built under ``tmp/``; the old
file is hard-linked there and ``keep.journal`` names both before anything in the archive
changes; the files are swapped just before the index transaction commits. The next
``blanks keep`` reads the journal: if the index does not record the new version, the old
bytes go back where they were; if it does, the leftovers are removed. Between the swap and
the commit (microseconds, as with ingest's moves into the archive) the archive is ahead of
the index until that recovery has run.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esak.archive import document_path, post_path, sync_removals, write_durably
from esak.errors import (
    DependencyError,
    DiskFullError,
    InputError,
    ProblemsError,
    UsageError,
)
from esak.faults import fault
from esak.files import sha256_file
from esak.i18n import N_
from esak.index import keeps
from esak.index.audit import recorded_run
from esak.index.db import Index
from esak.index.keeps import InputFileRow
from esak.index.records import document_sha256
from esak.index.texts import set_document_text
from esak.migrate.delivery import find_item
from esak.migrate.executor import Pool
from esak.migrate.ingest import PAGE_TIMEOUT_S
from esak.migrate.tasks import DocumentResult, DocumentTask, build_document
from esak.profiles import Profile
from esak.vocabulary import FileOutcome, PageOutcome
from esak.workspace import Workspace

__all__ = [
    "KEPT_REASON",
    "KeepResult",
    "Target",
    "build_documents",
    "commit_documents",
    "keep_pages",
    "recover_keep",
]

#: The reason recorded on a page that was blank and kept: also how a rerun recognises it.
KEPT_REASON = N_("blank page kept after review")

_JOURNAL = "keep.journal"
#: What to do with a blank page that belongs to no household.
_CLARIFY = (
    "it must be clarified which household's file it belongs to; then scan it again behind "
    "that household's cover sheet and ingest the new batch"
)


@dataclass
class KeepResult:
    site: str
    file: str
    delivery: int
    run_id: int
    kept: list[dict[str, Any]] = field(default_factory=list)
    already_kept: list[dict[str, Any]] = field(default_factory=list)
    documents: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "file": self.file,
            "delivery": self.delivery,
            "run_id": self.run_id,
            "kept": self.kept,
            "already_kept": self.already_kept,
            "documents": self.documents,
            "notes": self.notes,
        }


@dataclass
class Target:
    """One document to build again (``document_id``), or a new one for a section without."""

    household: str
    volume: int
    document_id: int | None
    old: dict[str, Any] | None
    pages: list[int]
    kept: list[int] = field(default_factory=list)
    result: DocumentResult | None = None
    path: str | None = None
    #: the document type of a new document (a separator's DOC;<type>, or clarify --type)
    doc_type: str | None = None
    #: a letter of the incoming mail (its receipt date, ISO): a new document goes to the
    #: household's ``post/<yyyy>/`` (volume 0) with this ``received_at``
    received_at: str | None = None


def keep_pages(
    workspace: Workspace,
    profile: Profile,
    file: str,
    pages: Sequence[int],
    *,
    delivery: int | None = None,
) -> KeepResult:
    """Turn the dropped blank pages ``pages`` (counted from 1) of input ``file`` into content.

    Holds the workspace lock; first finishes what a killed earlier run left. Running it
    again for pages already kept changes nothing and says so.
    """
    if not pages:
        raise UsageError("name at least one page with --page N", "esak blanks keep --help")
    workspace.check_writable()
    with Index.open_existing(workspace.index_path, workspace.access) as index, workspace.lock():
        notes = recover_keep(workspace, index)
        options = {"file": file, "pages": list(pages), "delivery": delivery}
        with recorded_run(index, "blanks keep", profile.key, options) as record:
            source = _input_file(index, profile.key, file, delivery)
            targets, already = _targets(index, profile.key, source, sorted(set(pages)))
            result = KeepResult(profile.key, source.relpath, source.delivery, record.id)
            result.notes = notes
            result.already_kept = already
            if targets:
                work = workspace.tmp_dir / f"keep-{record.id}"
                try:
                    build_documents(workspace, profile, source, targets, work)
                    commit_documents(
                        workspace, index, profile.key, source, targets, record.id, work
                    )
                    refresh_file_notes(workspace, index, profile.key, record.id, source.id)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
                result.kept, result.documents = _report(index, source, targets)
            elif already:
                result.notes.append("nothing to do: the page(s) were kept before")
            return result


def refresh_file_notes(
    workspace: Workspace, index: Index, site: str, run_id: int, file_id: int
) -> None:
    """The transfer notes of the file's documents state the change (a page kept or assigned)."""
    from esak.verify.transfer import refresh_notes

    refresh_notes(workspace, index, site, run_id, file_ids=[file_id])


# --- what to do ---------------------------------------------------------------------------


def _input_file(index: Index, site: str, relpath: str, delivery: int | None) -> InputFileRow:
    rows = keeps.input_files_named(index, site, relpath, delivery)
    listed = f"use the file as `esak blanks --site {site} --json` lists it"
    if not rows:
        where = f" of delivery {delivery}" if delivery is not None else ""
        raise UsageError(f"site {site} has no input file {relpath!r}{where}", listed)
    ingested = [r for r in rows if r.outcome == FileOutcome.INGESTED]
    if not ingested:
        raise UsageError(
            f"{relpath} was not ingested ({rows[-1].outcome}): it has no dropped pages", listed
        )
    deliveries = sorted({r.delivery for r in ingested})
    if len(deliveries) > 1:
        raise UsageError(
            f"{relpath} is in deliveries {', '.join(map(str, deliveries))} of site {site}",
            "name one with --delivery ID",
        )
    # The same name ingested twice (its content changed in between): the latest is current.
    return ingested[-1]


def _targets(
    index: Index, site: str, source: InputFileRow, pages: list[int]
) -> tuple[list[Target], list[dict[str, Any]]]:
    """The documents the pages go into, after checking every page; nothing is built before."""
    listed = f"only pages that `esak blanks --site {site}` lists can be kept"
    already: list[dict[str, Any]] = []
    wanted: list[tuple[int, str, int]] = []
    for number in pages:
        if not 1 <= number <= source.page_count:
            raise UsageError(
                f"{source.relpath} has {source.page_count} page(s): there is no page {number}",
                "pages count from 1, as on the review sheet (S. 7 = --page 7)",
            )
        state = keeps.page_state(index, source.id, number - 1)
        outcome, household, volume = state.outcome, state.household, state.volume
        if outcome == PageOutcome.ARCHIVED and state.reason == KEPT_REASON:
            already.append({"file": source.relpath, "index": number - 1, "page": number,
                            "household": household, "volume": volume,
                            "document": state.document})  # fmt: skip
            continue
        if outcome != PageOutcome.BLANK:
            raise UsageError(
                f"page {number} of {source.relpath} is not a dropped blank page "
                f"(it is recorded as {outcome})",
                listed,
            )
        if household is None:
            raise ProblemsError(
                f"page {number} of {source.relpath} lies before the first cover sheet of the "
                "batch: the page belongs to no household",
                _CLARIFY,
            )
        wanted.append((number - 1, household, volume))

    targets: dict[Any, Target] = {}
    for page, household, volume in wanted:
        section = keeps.section_span(index, source.id, household, volume, page)
        if section is None:
            raise ProblemsError(
                f"page {page + 1} of {source.relpath} belongs to no household section",
                _CLARIFY,
            )
        section_id, first, last = section
        # The document that holds the nearest archived page before it, else after it.
        near = keeps.nearest_document(index, source.id, first, last, page)
        key: Any = near if near is not None else ("new", section_id)
        if key not in targets:
            targets[key] = _target(index, household, volume, near)
        targets[key].kept.append(page)
        targets[key].pages = sorted({*targets[key].pages, page})
    return list(targets.values()), already


def _target(index: Index, household: str, volume: int, document_id: int | None) -> Target:
    if document_id is None:
        return Target(household, volume, None, None, [])
    doc = keeps.document_state(index, document_id)
    if doc.purged:
        raise ProblemsError(
            f"the document {doc.path} was handed over to the DMS and deleted here (esak purge): "
            "a page can no longer be added to it",
            "add the page to the e-file in the DMS, and close the Klärfall with esak clarify "
            "close CASE --by NAME --reason TEXT",
        )
    return Target(household, volume, document_id, doc.record(), doc.page_indexes, path=doc.path)


# --- building -----------------------------------------------------------------------------


def build_documents(
    workspace: Workspace, profile: Profile, source: InputFileRow, targets: list[Target], work: Path
) -> None:
    """Each document OCR'd again from the delivery, in a worker process as ingest does it."""
    item = find_item(
        Path(source.delivery_path), source.relpath, profile.is_household, single_images=True
    )
    where = f"{source.delivery_path}/{source.relpath}"
    if item is None:
        raise InputError(
            f"{where} is no longer in the delivery: the page cannot be taken from it",
            "put the delivery folder back where it was ingested from, unchanged",
        )
    if item.sha256 != source.sha256:
        raise InputError(
            f"{where} has changed since it was ingested (sha256 differs)",
            f"restore the file as it was delivered (sha256 {source.sha256})",
        )
    work.mkdir(parents=True, exist_ok=True)
    pool = Pool(workers=1)
    try:
        for target in targets:
            task = DocumentTask(
                key=f"{source.relpath}#keep",
                source=str(item.path),
                format=source.format,
                files=item.files or None,
                pages=tuple(target.pages),
                languages=tuple(profile.ocr_languages),
                tmp_dir=str(work),
                title=(
                    f"{target.household} Posteingang {target.received_at}"
                    if target.received_at
                    else f"{target.household} Band {target.volume}"
                ),
                timeout=PAGE_TIMEOUT_S,
            )
            try:
                result = pool.submit(build_document, task).result()
            except BrokenProcessPool as exc:
                raise InputError(
                    f"the document of {source.relpath} could not be built again: "
                    "the worker process died (crash or out of memory)",
                    "nothing was changed; run the same command again",
                ) from exc
            if result.fatal == "disk-full":
                raise DiskFullError(result.error or "", "free space, then run again")
            if result.fatal:
                raise DependencyError(result.error or "", "install what is missing (make demo)")
            if result.error or result.output is None:
                raise InputError(
                    f"the document of {source.relpath} could not be built again: {result.error}",
                    "nothing was changed; run the same command again, or report it",
                )
            target.result = result
    finally:
        pool.close()


# --- committing ---------------------------------------------------------------------------


def _journal_path(workspace: Workspace) -> Path:
    return workspace.root / _JOURNAL


def commit_documents(
    workspace: Workspace,
    index: Index,
    site: str,
    source: InputFileRow,
    targets: list[Target],
    run_id: int,
    work: Path,
    *,
    reason: str = KEPT_REASON,
    from_outcome: PageOutcome = PageOutcome.BLANK,
    within: Callable[[Any, list[Target]], None] | None = None,
) -> None:
    """One transaction; the archive files are swapped just before it commits.

    The pages ``kept`` of each target go from ``from_outcome`` to archived with ``reason``;
    ``within`` adds the caller's own changes to the same transaction (a Klärfall resolved).

    On disk before the journal is written: the new files' bytes and the old files' second
    names in ``work``; before the commit: the swapped names (:func:`esak.archive.sync_folders`)."""
    from contextlib import suppress

    from esak.archive import sync_folders
    from esak.atomic import fsync_dirs, fsync_file

    archive = workspace.archive_dir
    swaps: list[tuple[Target, Path, Path, Path | None]] = []
    swapped: list[tuple[Path, Path | None]] = []
    try:
        with index.transaction() as db:
            for target in targets:
                result = target.result
                assert result is not None and result.output is not None
                new = {"pages": result.pages, "size": result.size, "sha256": result.sha256,
                       "pdfa": result.pdfa, "text_chars": result.text_chars,
                       "engine": result.engine}  # fmt: skip
                if target.document_id is None:
                    seq = keeps.next_seq(db, site, target.household, target.volume)
                    # Only validated household numbers and integers make up the path.
                    if target.received_at:
                        year = int(target.received_at[:4])
                        rel = post_path(site, target.household, year, seq)
                    else:
                        rel = document_path(site, target.household, target.volume, seq)
                    target.path = rel
                    target.document_id = keeps.add_document(
                        db,
                        {"site": site, "household": target.household, "volume": target.volume,
                         "seq": seq, "doc_type": target.doc_type, "path": rel,
                         "file_id": source.id, "received_at": target.received_at, **new},
                    )  # fmt: skip
                    backup = None
                else:
                    assert target.old is not None and target.path is not None
                    why = f"{reason}: {source.relpath} page(s) " + ", ".join(
                        str(p + 1) for p in target.kept
                    )
                    keeps.supersede_document(db, target.document_id, target.old, new, run_id, why)
                    backup = work / f"old-{target.document_id}.pdf"
                    _link(archive / target.path, backup)
                keeps.place_pages(
                    db, source.id, target.document_id, target.kept, target.pages, reason,
                    household=target.household, volume=target.volume, from_outcome=from_outcome,
                    rotations=result.rotations,
                )  # fmt: skip
                set_document_text(db, target.document_id, site, target.household,
                                  result.page_texts)  # fmt: skip
                swaps.append((target, Path(result.output), archive / target.path, backup))
            if within is not None:
                within(db, targets)
            for _, new, _, _ in swaps:
                if workspace.access.shared:
                    workspace.access.apply(new)
                fsync_file(new)
            # The backups' names (work/ is new in tmp/, made by build_documents).
            fsync_dirs([work, work.parent])
            _write_journal(workspace, run_id, swaps)
            fault("keep-journal")
            for _, new, final, backup in swaps:
                workspace.access.make_dirs(final.parent)
                os.replace(new, final)
                swapped.append((final, backup))
            sync_folders(final for _, _, final, _ in swaps)
            fault("keep-swapped")
    except BaseException:
        # Rolled back: the old files go back, a new document's file leaves the archive.
        for final, backup in reversed(swapped):
            if backup is not None:
                os.replace(backup, final)
            else:
                final.unlink(missing_ok=True)
        with suppress(OSError):  # the undo on disk before the journal goes
            sync_folders(final for final, _ in swapped)
        raise
    finally:
        # Committed, or rolled back and undone: either way the archive agrees with the index.
        _journal_path(workspace).unlink(missing_ok=True)


def _link(file: Path, backup: Path) -> None:
    """The old archive file's bytes kept under tmp/: a second name for the same file, or a
    copy where the file system has no hard links."""
    try:
        os.link(file, backup)
    except OSError:
        shutil.copy2(file, backup)
        with open(backup, "rb") as fh:
            os.fsync(fh.fileno())


def _write_journal(
    workspace: Workspace, run_id: int, swaps: list[tuple[Target, Path, Path, Path | None]]
) -> None:
    entries = [
        {
            "path": target.path,
            "old_sha256": target.old["sha256"] if target.old else None,
            "new_sha256": target.result.sha256 if target.result else None,
            "new": str(new),
            "backup": str(backup) if backup else None,
        }
        for target, new, _, backup in swaps
    ]
    write_durably(_journal_path(workspace), {"run_id": run_id, "entries": entries})


def keep_pending(workspace: Workspace) -> bool:
    """True if a killed ``blanks keep`` left a journal that :func:`recover_keep` must finish."""
    return _journal_path(workspace).exists()


def recover_keep(workspace: Workspace, index: Index) -> list[str]:
    """After a killed ``blanks keep``: the archive back in line with the index, tmp/ cleared.

    The index decides: a document whose recorded sha256 is the new version's was committed;
    any other gets its old bytes back (or, if it was new, leaves the archive).
    """
    notes: list[str] = []
    path = _journal_path(workspace)
    if path.exists():
        try:
            entries = json.loads(path.read_text(encoding="utf-8"))["entries"]
        except (OSError, ValueError, KeyError, TypeError):
            entries = []  # torn while written: nothing had been swapped yet
        restored = 0
        touched: list[Path] = []
        for entry in entries:
            rel = entry["path"]
            recorded = document_sha256(index, rel)
            if recorded is not None and recorded == entry["new_sha256"]:
                continue  # committed
            target = workspace.archive_dir / rel
            backup = Path(entry["backup"]) if entry["backup"] else None
            if backup is None:
                if recorded is None and target.is_file():
                    target.unlink()
                    restored += 1
                    touched.append(target)
            elif backup.is_file() and (
                not target.is_file() or sha256_file(target) != entry["old_sha256"]
            ):
                os.replace(backup, target)
                restored += 1
                touched.append(target)
        # What was put back is on disk before the journal that says how goes.
        sync_removals(touched)
        path.unlink(missing_ok=True)
        if restored:
            notes.append(
                f"restored {restored} archive file(s) that a killed `blanks keep` had replaced "
                "before its change was recorded"
            )
    for leftover in workspace.tmp_dir.glob("keep-*"):
        shutil.rmtree(leftover, ignore_errors=True)
    return notes


# --- the answer -------------------------------------------------------------------------


def _report(
    index: Index, source: InputFileRow, targets: list[Target]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    kept: list[dict[str, Any]] = []
    documents: list[dict[str, Any]] = []
    for target in targets:
        assert target.result is not None
        for page in target.kept:
            position = keeps.document_page(index, source.id, page)
            kept.append({"file": source.relpath, "index": page, "page": page + 1,
                         "household": target.household, "volume": target.volume,
                         "document": target.path, "document_page": position})  # fmt: skip
        documents.append(
            {
                "path": target.path,
                "household": target.household,
                "volume": target.volume,
                "new": target.old is None,
                "pages_before": target.old["pages"] if target.old else 0,
                "pages": target.result.pages,
                "sha256_before": target.old["sha256"] if target.old else None,
                "sha256": target.result.sha256,
            }
        )
    return kept, documents

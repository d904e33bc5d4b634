"""The commit step: one input file's documents into the archive and everything about it into
the index, whole or not at all.

The index transaction records the file, its documents, sections, pages and set-aside ranges;
just before it commits, the journal names the finished PDFs and they are renamed into the
archive (:mod:`esak.archive`). If the transaction fails, the moved files leave the archive
again; if the process dies, the next run removes them (``recover_journal``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from esak.archive import clear_journal, document_path, move_in, sync_removals, write_journal
from esak.faults import fault
from esak.index.db import Index
from esak.index.deliveries import DeliveryRecorder
from esak.index.texts import set_document_text
from esak.migrate.batch import Batch
from esak.migrate.delivery import Capture, DeliveryScan
from esak.vocabulary import PageKind, PageOutcome
from esak.workspace import Workspace


def commit_batch(
    workspace: Workspace,
    index: Index,
    recorder: DeliveryRecorder,
    batch: Batch,
    scan: DeliveryScan,
) -> tuple[int, int]:
    """Archive and record one planned, OCR'd batch: (documents archived, pages in them);
    the manifest of the delivery ``scan`` says how many pages it has and when and on what it
    was scanned."""
    assert batch.plan is not None
    manifest_pages = scan.manifest_pages.get(batch.item.relpath)
    capture = scan.manifest_capture.get(batch.item.relpath)
    failed = batch.failed_documents()
    moves: list[tuple[str, Path]] = []
    try:
        _record(workspace, index, recorder, batch, failed, manifest_pages, moves, capture)
    except BaseException:
        # The transaction was rolled back: files moved for it are not part of the archive.
        for _, target in moves:
            target.unlink(missing_ok=True)
        sync_removals(target for _, target in moves)
        raise
    finally:
        clear_journal(workspace)
    archived = [doc for doc in batch.plan.documents if doc.number not in failed]
    pages = sum(batch.done_by_pages[tuple(d.pages)].pages for d in archived)
    return len(archived), pages


def _record(
    workspace: Workspace,
    index: Index,
    rec: DeliveryRecorder,
    batch: Batch,
    failed: dict[int, str],
    manifest_pages: int | None,
    moves: list[tuple[str, Path]],
    capture: Capture | None,
) -> None:
    """One transaction for the file; the PDFs are moved in just before it commits."""
    assert batch.plan is not None
    item = batch.item
    with index.transaction() as db:
        capture = capture or Capture()
        file_id = rec.ingested_file(
            db, item, batch.page_count, capture.scanned_at, capture.scanner
        )
        doc_ids: dict[int, int] = {}
        for doc in batch.plan.documents:
            if doc.number in failed:
                continue
            result = batch.done_by_pages[tuple(doc.pages)]
            seq = rec.next_seq(db, doc.household, doc.volume)
            rel = document_path(rec.site, doc.household, doc.volume, seq)
            assert result.output is not None
            moves.append((result.output, workspace.archive_dir / rel))
            doc_ids[doc.number] = rec.document(
                db,
                {
                    "household": doc.household,
                    "volume": doc.volume,
                    "seq": seq,
                    "doc_type": doc.doc_type,
                    "path": rel,
                    "pages": result.pages,
                    "size": result.size,
                    "sha256": result.sha256,
                    "pdfa": result.pdfa,
                    "text_chars": result.text_chars,
                    "engine": result.engine,
                    "file_id": file_id,
                },
            )
            set_document_text(db, doc_ids[doc.number], rec.site, doc.household, result.page_texts)
        rec.sections(db, file_id, batch.plan.sections)
        rec.pages(db, file_id, _page_rows(batch, failed, doc_ids))
        if manifest_pages is not None and manifest_pages != batch.page_count:
            rec.delivery_problem(
                db,
                item.relpath,
                f"page count differs from manifest "
                f"(manifest {manifest_pages}, found {batch.page_count})",
            )
        write_journal(workspace, [target for _, target in moves])
        move_in(moves, workspace.access)
        fault("moved")


def _page_rows(
    batch: Batch, failed: dict[int, str], doc_ids: dict[int, int]
) -> list[dict[str, Any]]:
    """Every page's outcome as planned; the pages of a document that failed set aside."""
    assert batch.plan is not None
    doc_page: dict[int, int] = {}
    rotations = {
        doc.number: batch.done_by_pages[tuple(doc.pages)].rotations
        for doc in batch.plan.documents
        if doc.number not in failed
    }
    rows = []
    for outcome in batch.plan.pages:
        record = batch.records[outcome.index]
        state, reason, document_id = outcome.outcome, outcome.reason, None
        if state == PageOutcome.ARCHIVED and outcome.document in failed:
            state = PageOutcome.QUARANTINED
            reason = f"document could not be archived: {failed[outcome.document]}"
        rotation = None
        if state == PageOutcome.ARCHIVED:
            document_id = doc_ids[outcome.document]
            doc_page[document_id] = doc_page.get(document_id, 0) + 1
            turned = rotations[outcome.document]
            position = doc_page[document_id] - 1
            rotation = turned[position] if position < len(turned) else None
        rows.append(
            {
                "page_index": outcome.index,
                "kind": record.kind,
                "barcodes": record.barcodes,
                "detected_by": record.detected_by if record.kind == PageKind.COVER else None,
                "outcome": state,
                "household": outcome.household,
                "volume": outcome.volume,
                "document_id": document_id,
                "document_page": doc_page.get(document_id) if document_id else None,
                "reason": reason,
                "rotation": rotation,
            }
        )
    return rows

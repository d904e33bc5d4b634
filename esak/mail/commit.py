"""The commit step of a mail delivery: one input file's letters into the archive (each
routed one) or into Klärfälle (each other one), and everything about them into the index,
whole or not at all.

As for a migration delivery (:mod:`esak.migrate.commit`): one transaction records the file,
its pages (each its outcome), its documents, Klärfälle and letters; just before it commits,
the journal names the finished PDFs and they are renamed into the archive. If the
transaction fails, the moved files leave the archive again; if the process dies, the next
run removes them (``recover_journal``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from esak.archive import clear_journal, move_in, post_path, write_journal
from esak.atomic import fsync_dirs
from esak.index import mail as mail_rows
from esak.index.cases import open_reported
from esak.index.db import Index
from esak.index.deliveries import DeliveryRecorder
from esak.index.texts import set_document_text
from esak.mail.letters import Letter
from esak.mail.route import Decision
from esak.mail.task import LetterResult
from esak.migrate.delivery import Capture, InputItem
from esak.migrate.plan import PageRecord
from esak.vocabulary import MAIL_DOC_TYPE, POST_VOLUME, CaseKind, PageOutcome
from esak.workspace import Workspace


@dataclass
class FiledLetter:
    """A letter with its decision, and what its worker made of it (None: it was not read)."""

    letter: Letter
    decision: Decision
    result: LetterResult | None


def commit_letters(
    workspace: Workspace,
    index: Index,
    recorder: DeliveryRecorder,
    item: InputItem,
    page_count: int,
    records: list[PageRecord],
    outcomes: dict[int, PageOutcome],
    letters: list[FiledLetter],
    *,
    received: str,
    capture: Capture,
    manifest_pages: int | None,
) -> tuple[int, int]:
    """Archive and record one file of a mail delivery: (letters archived, cases opened).
    The PDFs of the letters not archived are removed from ``tmp/``."""
    moves: list[tuple[str, Path]] = []
    try:
        with index.transaction() as db:
            file_id = recorder.ingested_file(
                db, item, page_count, capture.scanned_at, capture.scanner
            )
            pages = {i: _page(outcome) for i, outcome in outcomes.items()}
            cases = 0
            for filed in letters:
                cases += _record_letter(
                    workspace, db, recorder, item, file_id, filed, received, pages, moves
                )
            rows = [
                {"page_index": i, "kind": records[i].kind, "barcodes": records[i].barcodes,
                 "detected_by": "barcode" if pages[i]["outcome"] == PageOutcome.COVER else None,
                 **pages[i]}
                for i in range(page_count)
            ]  # fmt: skip
            # The pages of a letter not routed belong to its own case (kind mail), not to a
            # case of pages set aside.
            recorder.pages(db, file_id, rows, set_aside_ranges=False)
            if manifest_pages is not None and manifest_pages != page_count:
                recorder.delivery_problem(
                    db, item.relpath, f"page count differs from manifest "
                    f"(manifest {manifest_pages}, found {page_count})",
                )  # fmt: skip
            write_journal(workspace, [target for _, target in moves])
            move_in(moves, workspace.access)
            if moves:
                fsync_dirs([workspace.archive_dir])  # post/<yyyy>/ lies one folder deeper
    except BaseException:
        # Rolled back: the files moved for it are not part of the archive.
        for _, target in moves:
            target.unlink(missing_ok=True)
        raise
    finally:
        clear_journal(workspace)
        for filed in letters:
            if filed.result is not None and filed.result.document.output:
                Path(filed.result.document.output).unlink(missing_ok=True)  # not archived
    return len(moves), cases


def _page(outcome: PageOutcome, **values: Any) -> dict[str, Any]:
    row = {"outcome": outcome, "household": None, "volume": None, "document_id": None,
           "document_page": None, "reason": None, "rotation": None}  # fmt: skip
    return {**row, **values}


def _record_letter(
    workspace: Workspace,
    db: sqlite_utils.Database,
    rec: DeliveryRecorder,
    item: InputItem,
    file_id: int,
    filed: FiledLetter,
    received: str,
    pages: dict[int, dict[str, Any]],
    moves: list[tuple[str, Path]],
) -> int:
    """One letter: its document or its case, its pages, its row and audit event; 1 when a
    case was opened."""
    letter, decision, result = filed.letter, filed.decision, filed.result
    document_id = case_id = None
    if decision.routed and result is not None:
        household = decision.household
        document_id = _archive(workspace, db, rec, household or "", result, file_id, received,
                               moves)  # fmt: skip
        turned = result.document.rotations
        for position, index in enumerate(letter.pages):
            pages[index] = _page(
                PageOutcome.ARCHIVED, household=household, volume=POST_VOLUME,
                document_id=document_id, document_page=position + 1,
                rotation=turned[position] if position < len(turned) else None,
            )  # fmt: skip
        for index in [*letter.blanks, letter.cover_page]:
            if index is not None:
                pages[index].update(household=household, volume=POST_VOLUME)
    else:
        case_id = open_reported(
            db, rec.site, CaseKind.MAIL, f"mail:{file_id}:{letter.first + 1}", decision.why,
            by=None, run_id=rec.run_id, file=item.relpath, file_id=file_id,
            delivery_id=rec.delivery_id, first_page=letter.first + 1,
            last_page=letter.last + 1,
        )  # fmt: skip
        for index in letter.pages:
            pages[index] = _page(PageOutcome.QUARANTINED, reason=decision.why)
    mail_rows.add_letter(
        db,
        {"site": rec.site, "delivery_id": rec.delivery_id, "file_id": file_id,
         "first_page": letter.first + 1, "last_page": letter.last + 1, "received_at": received,
         "household": decision.household, "route": decision.route, "reason": decision.reason,
         "evidence": decision.evidence, "document_id": document_id, "case_id": case_id},
    )  # fmt: skip
    return 0 if case_id is None else 1


def _archive(
    workspace: Workspace,
    db: sqlite_utils.Database,
    rec: DeliveryRecorder,
    household: str,
    result: LetterResult,
    file_id: int,
    received: str,
    moves: list[tuple[str, Path]],
) -> int:
    """The letter's document row (type Posteingang, with its receipt date), its text for the
    search, and its PDF named to move into the household's post/<yyyy>/."""
    doc = result.document
    assert doc.output is not None
    seq = rec.next_seq(db, household, POST_VOLUME)
    # Only a validated household number and integers make up the path.
    rel = post_path(rec.site, household, int(received[:4]), seq)
    document_id = rec.document(
        db,
        {"household": household, "volume": POST_VOLUME, "seq": seq, "doc_type": MAIL_DOC_TYPE,
         "path": rel, "pages": doc.pages, "size": doc.size, "sha256": doc.sha256,
         "pdfa": doc.pdfa, "text_chars": doc.text_chars, "engine": doc.engine,
         "file_id": file_id, "received_at": received},
    )  # fmt: skip
    set_document_text(db, document_id, rec.site, household, doc.page_texts)
    moves.append((doc.output, workspace.archive_dir / rel))
    return document_id

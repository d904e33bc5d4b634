"""The index side of ``esak blanks keep``: where a dropped page stands, and its writes.

:mod:`esak.migrate.keep` decides and builds; the rows it reads and the rows it changes are
here, so the tables' names and columns stay in the index package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlite_utils

from esak.index.audit import (
    DOCUMENT_ARCHIVED,
    DOCUMENT_FIELDS,
    DOCUMENT_REPLACED,
    append_audit,
    audit_fields,
    now,
)
from esak.index.db import Index
from esak.vocabulary import PageOutcome


@dataclass
class InputFileRow:
    id: int
    delivery: int
    delivery_path: str
    relpath: str
    format: str
    sha256: str | None
    page_count: int
    outcome: str


@dataclass
class PageState:
    outcome: str
    household: str | None
    volume: int | None
    reason: str | None
    document: str | None


@dataclass
class DocumentState:
    path: str
    pages: int
    size: int
    sha256: str
    text_chars: int
    #: the input pages it holds, in document order
    page_indexes: list[int]
    #: handed over to the DMS and deleted here (esak purge)
    purged: bool = False

    def record(self) -> dict[str, Any]:
        return {"path": self.path, "pages": self.pages, "size": self.size,
                "sha256": self.sha256, "text_chars": self.text_chars}  # fmt: skip


def input_files_named(
    index: Index, site: str, relpath: str, delivery: int | None = None
) -> list[InputFileRow]:
    """Every input file of the site with this name (in one delivery), oldest first."""
    sql = (
        "SELECT f.id, f.delivery_id, d.path, f.relpath, f.format, f.sha256, f.page_count, "
        "f.outcome FROM input_files f JOIN deliveries d ON d.id = f.delivery_id "
        "WHERE f.site = ? AND f.relpath = ?"
    )
    params: list[Any] = [site, relpath]
    if delivery is not None:
        sql += " AND f.delivery_id = ?"
        params.append(delivery)
    return [InputFileRow(*r) for r in index.db.execute(sql + " ORDER BY f.id", params)]


def page_state(index: Index, file_id: int, page_index: int) -> PageState:
    row = index.db.execute(
        "SELECT p.outcome, p.household, p.volume, p.reason, d.path FROM pages p "
        "LEFT JOIN documents d ON d.id = p.document_id "
        "WHERE p.file_id = ? AND p.page_index = ?",
        [file_id, page_index],
    ).fetchone()
    return PageState(*row)


def section_span(
    index: Index, file_id: int, household: str, volume: int, page_index: int
) -> tuple[int, int, int] | None:
    """(section id, first page, last page) of the household section that holds the page."""
    row = index.db.execute(
        "SELECT id, cover_page, found_pages FROM sections WHERE file_id = ? "
        "AND household = ? AND volume = ? AND COALESCE(cover_page + 1, 0) <= ? "
        "AND COALESCE(cover_page + 1, 0) + found_pages > ?",
        [file_id, household, volume, page_index, page_index],
    ).fetchone()
    if row is None:
        return None
    first = 0 if row[1] is None else row[1] + 1
    return row[0], first, first + row[2] - 1


def nearest_document(
    index: Index, file_id: int, first: int, last: int, page_index: int
) -> int | None:
    """The document holding the archived page of ``first..last`` nearest before the page,
    else the nearest after it."""
    row = index.db.execute(
        "SELECT document_id FROM pages WHERE file_id = ? AND outcome = 'archived' "
        "AND document_id IS NOT NULL AND page_index BETWEEN ? AND ? "
        "ORDER BY page_index < ? DESC, ABS(page_index - ?) LIMIT 1",
        [file_id, first, last, page_index, page_index],
    ).fetchone()
    return None if row is None else int(row[0])


def document_state(index: Index, document_id: int) -> DocumentState:
    path, pages, size, sha256, text_chars, purge_id = index.db.execute(
        "SELECT path, pages, size, sha256, text_chars, purge_id FROM documents WHERE id = ?",
        [document_id],
    ).fetchone()
    indexes = [
        r[0]
        for r in index.db.execute(
            "SELECT page_index FROM pages WHERE document_id = ? ORDER BY document_page",
            [document_id],
        )
    ]
    return DocumentState(path, pages, size, sha256, text_chars, indexes, purge_id is not None)


def document_page(index: Index, file_id: int, page_index: int) -> int:
    """The position (from 1) of an input page in its archived document."""
    return int(
        index.db.execute(
            "SELECT document_page FROM pages WHERE file_id = ? AND page_index = ?",
            [file_id, page_index],
        ).fetchone()[0]
    )


# --- writes, inside the caller's transaction ------------------------------------------------


def next_seq(db: sqlite_utils.Database, site: str, household: str, volume: int) -> int:
    """The number of a new document in a household's volume."""
    return int(
        db.execute(
            "SELECT COALESCE(MAX(seq), 0) + 1 FROM documents "
            "WHERE site = ? AND household = ? AND volume = ?",
            [site, household, volume],
        ).fetchone()[0]
    )


def add_document(db: sqlite_utils.Database, row: dict[str, Any]) -> int:
    full = {**row, "created_at": now()}
    doc_id = int(db["documents"].insert(full).last_pk)
    append_audit(db, DOCUMENT_ARCHIVED, ("documents", doc_id), audit_fields(full, DOCUMENT_FIELDS))
    return doc_id


def supersede_document(
    db: sqlite_utils.Database,
    document_id: int,
    old: dict[str, Any],
    new: dict[str, Any],
    run_id: int,
    reason: str,
) -> None:
    """The document's new file recorded; its old one kept on record."""
    db["superseded_documents"].insert(
        {
            "document_id": document_id,
            **{k: old[k] for k in ("path", "sha256", "size", "pages", "text_chars")},
            "superseded_at": now(),
            "run_id": run_id,
            "reason": reason,
        }
    )
    db.execute(
        "UPDATE documents SET pages = ?, size = ?, sha256 = ?, pdfa = ?, text_chars = ?, "
        "engine = ? WHERE id = ?",
        [new["pages"], new["size"], new["sha256"], new["pdfa"], new["text_chars"],
         new.get("engine"), document_id],
    )
    append_audit(
        db,
        DOCUMENT_REPLACED,
        ("documents", document_id),
        {"path": old["path"], "pages": new["pages"], "size": new["size"], "sha256": new["sha256"],
         "old_sha256": old["sha256"], "old_size": old["size"], "old_pages": old["pages"],
         "reason": reason, "run_id": run_id},
    )  # fmt: skip


def place_pages(
    db: sqlite_utils.Database,
    file_id: int,
    document_id: int,
    kept: list[int],
    pages: list[int],
    reason: str,
    *,
    household: str,
    volume: int,
    from_outcome: str = PageOutcome.BLANK,
    rotations: tuple[int, ...] = (),
) -> None:
    """Pages ``kept`` (blank, or set aside) become archived pages of the document, which
    holds ``pages`` in this order, each turned by ``rotations`` (as the new build did)."""
    for page in kept:
        db.execute(
            "UPDATE pages SET outcome = ?, document_id = ?, reason = ?, household = ?, "
            "volume = ? WHERE file_id = ? AND page_index = ? AND outcome = ?",
            [PageOutcome.ARCHIVED, document_id, reason, household, volume, file_id, page,
             from_outcome],
        )  # fmt: skip
    for position, page in enumerate(pages, 1):
        rotation = rotations[position - 1] if position <= len(rotations) else None
        db.execute(
            "UPDATE pages SET document_page = ?, rotation = ? WHERE file_id = ? "
            "AND page_index = ?",
            [position, rotation, file_id, page],
        )


def input_file(index: Index, file_id: int) -> InputFileRow:
    """One input file by its id."""
    row = index.db.execute(
        "SELECT f.id, f.delivery_id, d.path, f.relpath, f.format, f.sha256, f.page_count, "
        "f.outcome FROM input_files f JOIN deliveries d ON d.id = f.delivery_id WHERE f.id = ?",
        [file_id],
    ).fetchone()
    return InputFileRow(*row)

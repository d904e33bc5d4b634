"""The rows of transfer notes (``transfer_notes``) and the facts a note states about a document.

A note is a file beside its PDF (``<nnnn>.tv.xml``, CONTRACT §9); the index keeps the
document's stable UUID, the note's path, sha256 and size (so fixity can check it) and the
sha256 of the PDF it vouches for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlite_utils

from esak.index.audit import append_audit
from esak.index.db import Index

#: The audit event of a note written or rewritten.
TRANSFER_NOTE = "transfer_note"

#: The reasons on page rows that a note reports (set by ``blanks keep`` and ``clarify assign``).
KEPT_REASON = "blank page kept after review"
ASSIGNED_PREFIX = "assigned after clarification"


def note_path(document_path: str) -> str:
    """The note beside an archived PDF: ``…/band-01/0001.pdf`` → ``…/band-01/0001.tv.xml``."""
    stem = document_path[:-4] if document_path.lower().endswith(".pdf") else document_path
    return f"{stem}.tv.xml"


@dataclass
class NoteRow:
    document_id: int
    uuid: str
    path: str
    sha256: str
    size: int
    document_sha256: str
    status: str
    written_at: str
    run_id: int | None
    by_name: str

    def to_show(self) -> dict[str, Any]:
        """What ``show --json`` lists for a document (CONTRACT §6)."""
        return {"path": self.path, "sha256": self.sha256, "status": self.status}


_COLUMNS = (
    "document_id, uuid, path, sha256, size, document_sha256, status, written_at, run_id, by_name"
)


def note_of(index: Index, document_id: int) -> NoteRow | None:
    row = index.db.execute(
        f"SELECT {_COLUMNS} FROM transfer_notes WHERE document_id = ?", [document_id]
    ).fetchone()
    return None if row is None else NoteRow(*row)


def notes_of_household(index: Index, household: str) -> dict[int, NoteRow]:
    """The notes of a household's archived documents, by document id."""
    rows = index.db.execute(
        f"SELECT {', '.join('n.' + c.strip() for c in _COLUMNS.split(','))} "
        "FROM transfer_notes n JOIN documents d ON d.id = n.document_id WHERE d.household = ?",
        [household],
    ).fetchall()
    return {r[0]: NoteRow(*r) for r in rows}


def site_notes(index: Index, site: str) -> list[tuple[str, int, str]]:
    """``(path, size, sha256)`` of every note of a document archived at ``site`` (fixity)."""
    return [
        (r[0], int(r[1]), r[2])
        for r in index.db.execute(
            "SELECT n.path, n.size, n.sha256 FROM transfer_notes n "
            "JOIN documents d ON d.id = n.document_id WHERE d.site = ? AND d.purge_id IS NULL "
            "ORDER BY n.path",
            [site],
        )
    ]


def record_note(db: sqlite_utils.Database, note: NoteRow) -> None:
    """Insert or update a note's row and log it; inside the transaction that writes the file."""
    values = {name.strip(): getattr(note, name.strip()) for name in _COLUMNS.split(",")}
    db["transfer_notes"].upsert(values, pk="document_id")
    append_audit(db, TRANSFER_NOTE, ("transfer_notes", note.document_id), values)


# --- what a note states ------------------------------------------------------------------------


@dataclass
class DocumentFacts:
    """Everything the index knows about one archived document that its note states."""

    document: dict[str, Any]
    input_file: dict[str, Any]
    delivery: dict[str, Any]
    #: the document's pages in order: (document page from 1, input page index from 0, reason)
    pages: list[tuple[int, int, str | None]] = field(default_factory=list)
    #: dropped blank pages of the document's section (input page indexes from 0)
    dropped_blanks: list[int] = field(default_factory=list)
    #: resolved cases about the document's input file
    cases: list[dict[str, Any]] = field(default_factory=list)
    #: sections whose declared page count differs from the pages found
    count_differences: list[dict[str, int]] = field(default_factory=list)
    #: input page index → clockwise degrees esak turned its display to show it upright
    rotations: dict[int, int] = field(default_factory=dict)


def site_documents(index: Index, site: str, household: str | None) -> list[dict[str, Any]]:
    # A purged document's note is gone with its content (esak purge): nothing to rewrite.
    sql = "SELECT * FROM documents WHERE site = ? AND purge_id IS NULL"
    args: list[Any] = [site]
    if household is not None:
        sql += " AND household = ?"
        args.append(household)
    return list(index.db.query(sql + " ORDER BY household, volume, seq", args))


def document_facts(index: Index, document: dict[str, Any]) -> DocumentFacts:
    db = index.db
    file_row = next(db.query("SELECT * FROM input_files WHERE id = ?", [document["file_id"]]))
    delivery = next(db.query("SELECT * FROM deliveries WHERE id = ?", [file_row["delivery_id"]]))
    facts = DocumentFacts(document, file_row, delivery)
    facts.pages = [
        (int(r[0] or 0), int(r[1]), r[2])
        for r in db.execute(
            "SELECT document_page, page_index, reason FROM pages WHERE document_id = ? "
            "ORDER BY document_page, page_index",
            [document["id"]],
        )
    ]
    facts.rotations = {
        int(r[0]): int(r[1])
        for r in db.execute(
            "SELECT page_index, rotation FROM pages WHERE document_id = ? AND rotation > 0",
            [document["id"]],
        )
    }
    facts.dropped_blanks = _dropped_blanks(index, document)
    for case_id, kind, detail, first, last, resolved_at in db.execute(
        "SELECT id, kind, detail, first_page, last_page, resolved_at FROM cases "
        "WHERE file_id = ? AND status = 'resolved' ORDER BY id",
        [document["file_id"]],
    ):
        event = db.execute(
            "SELECT action, by_name FROM case_events WHERE case_id = ? ORDER BY id DESC LIMIT 1",
            [case_id],
        ).fetchone()
        facts.cases.append(
            {
                "id": case_id,
                "kind": kind,
                "detail": detail,
                "first_page": first,
                "last_page": last,
                "resolved_at": resolved_at,
                "action": event[0] if event else None,
                "by": event[1] if event else None,
            }
        )
    facts.count_differences = [
        {"declared": int(r[0]), "found": int(r[1])}
        for r in db.execute(
            "SELECT declared_pages, found_pages FROM sections WHERE file_id = ? AND "
            "household = ? AND volume = ? AND declared_pages > 0 AND declared_pages != found_pages",
            [document["file_id"], document["household"], document["volume"]],
        )
    ]
    return facts


def _dropped_blanks(index: Index, document: dict[str, Any]) -> list[int]:
    """The blank pages left out of the document's household section that belong to it: the
    document holds the nearest archived page before the blank (else the next one after it) —
    the rule ``blanks keep`` uses to put one back."""
    rows = index.db.execute(
        "SELECT page_index, outcome, document_id FROM pages WHERE file_id = ? AND household = ? "
        "AND volume = ? AND outcome IN ('archived', 'blank') ORDER BY page_index",
        [document["file_id"], document["household"], document["volume"]],
    ).fetchall()
    owners: list[int | None] = []
    last: int | None = None
    for _, outcome, doc in rows:
        if outcome == "archived":
            last = doc
        owners.append(last)
    following: int | None = None
    result = []
    for i in range(len(rows) - 1, -1, -1):
        page_index, outcome, doc = rows[i]
        if outcome == "archived":
            following = doc
        elif (owners[i] if owners[i] is not None else following) == document["id"]:
            result.append(int(page_index))
    return sorted(result)


def latest_verification(index: Index, site: str) -> dict[str, Any] | None:
    row = index.db.execute(
        "SELECT id, level, ok, finished_at FROM verifications WHERE site = ? "
        "ORDER BY id DESC LIMIT 1",
        [site],
    ).fetchone()
    if row is None:
        return None
    return {"id": row[0], "level": row[1], "ok": bool(row[2]), "at": row[3]}

"""The index side of the incoming mail: the households a letter may go to, the rows of
``mail_letters`` (one per letter, with its routing evidence) and their audit events.

:mod:`esak.mail` decides and builds; the rows it reads and writes are here, so the tables'
names and columns stay in the index package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from esak.index.audit import append_audit, now
from esak.index.db import Index
from esak.vocabulary import POST_VOLUME, FileOutcome, MailRoute

#: The audit event of a letter: routed (with its evidence), made a Klärfall, or assigned.
MAIL_LETTER = "mail_letter"


def site_households(index: Index, site: str) -> tuple[set[str], dict[str, str]]:
    """The site's households (on its expected list or with archived documents), and those
    of every other site with their site."""
    known = {
        r[0]
        for r in index.db.execute(
            "SELECT household FROM expected WHERE site = ? "
            "UNION SELECT household FROM documents WHERE site = ?",
            [site, site],
        )
    }
    elsewhere = dict(
        index.db.execute(
            "SELECT household, MIN(site) FROM (SELECT household, site FROM expected "
            "WHERE site != ? UNION SELECT household, site FROM documents WHERE site != ?) "
            "GROUP BY household",
            [site, site],
        ).fetchall()
    )
    return known, elsewhere


@dataclass
class LetterRow:
    id: int
    site: str
    delivery_id: int
    file_id: int
    file: str
    #: pages of the input file, from 1
    first_page: int
    last_page: int
    received_at: str | None
    household: str | None
    route: str | None
    reason: str | None
    evidence: dict[str, Any]
    document_id: int | None
    case_id: int | None
    created_at: str
    #: the archived document's path (under archive/), while it is in the archive
    document: str | None = None

    def to_item(self) -> dict[str, Any]:
        """One letter of ``mail ingest --json`` (CONTRACT §11)."""
        return {
            "file": self.file,
            "first_page": self.first_page,
            "last_page": self.last_page,
            "received_at": self.received_at,
            "household": self.household,
            "route": self.route,
            "reason": self.reason,
            "case": self.case_id,
            "document": self.document,
        }


_COLUMNS = (
    "m.id, m.site, m.delivery_id, m.file_id, f.relpath, m.first_page, m.last_page, "
    "m.received_at, m.household, m.route, m.reason, m.evidence, m.document_id, m.case_id, "
    "m.created_at, d.path"
)
_FROM = (
    "FROM mail_letters m JOIN input_files f ON f.id = m.file_id "
    "LEFT JOIN documents d ON d.id = m.document_id"
)


def _row(values: tuple[Any, ...]) -> LetterRow:
    row = LetterRow(*values[:15], document=values[15])  # type: ignore[arg-type]
    row.evidence = json.loads(row.evidence) if row.evidence else {}  # type: ignore[arg-type]
    return row


def add_letter(db: sqlite_utils.Database, row: dict[str, Any]) -> int:
    """One letter (its ``evidence`` a dict) and its audit event; inside the transaction that
    records its input file."""
    full = {**row, "evidence": json.dumps(row.get("evidence") or {}, sort_keys=True),
            "created_at": now()}  # fmt: skip
    letter_id = int(db["mail_letters"].insert(full).last_pk)
    append_audit(db, MAIL_LETTER, ("mail_letters", letter_id), _event(full))
    return letter_id


def _event(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("site", "delivery_id", "file_id", "first_page", "last_page", "received_at",
            "household", "route", "reason", "document_id", "case_id")  # fmt: skip
    event = {k: row.get(k) for k in keys}
    evidence = row.get("evidence")
    event["evidence"] = json.loads(evidence) if isinstance(evidence, str) else evidence
    return event


def letter_of_case(index: Index, case_id: int) -> LetterRow | None:
    found = index.db.execute(
        f"SELECT {_COLUMNS} {_FROM} WHERE m.case_id = ? ORDER BY m.id DESC LIMIT 1", [case_id]
    ).fetchone()
    return None if found is None else _row(found)


def assign_letter(
    db: sqlite_utils.Database,
    letter: LetterRow,
    household: str,
    document_id: int,
    *,
    by: str,
    reason: str,
    run_id: int,
) -> None:
    """A person filed the letter of a Klärfall in ``household``'s file (``clarify assign``)."""
    db.execute(
        "UPDATE mail_letters SET household = ?, route = ?, document_id = ? WHERE id = ?",
        [household, MailRoute.ASSIGN, document_id, letter.id],
    )
    evidence = {"by": by, "reason": reason, "run_id": run_id, "case": letter.case_id,
                "before": letter.reason}  # fmt: skip
    event = {"site": letter.site, "delivery_id": letter.delivery_id, "file_id": letter.file_id,
             "first_page": letter.first_page, "last_page": letter.last_page,
             "received_at": letter.received_at, "household": household,
             "route": MailRoute.ASSIGN.value, "reason": letter.reason,
             "document_id": document_id, "case_id": letter.case_id,
             "evidence": evidence}  # fmt: skip
    append_audit(db, MAIL_LETTER, ("mail_letters", letter.id), event)


def delivery_letters(index: Index, delivery_id: int) -> list[LetterRow]:
    """The letters of a delivery's files as they stand (not those of a withdrawn ingest)."""
    return [
        _row(r)
        for r in index.db.execute(
            f"SELECT {_COLUMNS} {_FROM} WHERE m.delivery_id = ? AND f.outcome != ? "
            "ORDER BY f.relpath, m.first_page",
            [delivery_id, FileOutcome.WITHDRAWN],
        )
    ]


def site_letters(index: Index, site: str, since: str | None = None) -> list[LetterRow]:
    """The site's letters (received on or after ``since``, ISO), withdrawn ones left out."""
    sql = f"SELECT {_COLUMNS} {_FROM} WHERE m.site = ? AND f.outcome != ?"
    params: list[Any] = [site, FileOutcome.WITHDRAWN]
    if since is not None:
        sql += " AND m.received_at >= ?"
        params.append(since)
    return [_row(r) for r in index.db.execute(sql + " ORDER BY m.id", params)]


def documents_without_note(index: Index, site: str) -> list[int]:
    """The site's letters in the archive that have no transfer note yet."""
    return [
        r[0]
        for r in index.db.execute(
            "SELECT d.id FROM documents d WHERE d.site = ? AND d.volume = ? "
            "AND NOT EXISTS (SELECT 1 FROM transfer_notes n WHERE n.document_id = d.id) "
            "ORDER BY d.id",
            [site, POST_VOLUME],
        )
    ]


def case_states(index: Index, case_ids: list[int]) -> dict[int, tuple[str, str]]:
    """Each case's status and when it was opened."""
    if not case_ids:
        return {}
    marks = ", ".join("?" * len(case_ids))
    return {
        r[0]: (r[1], r[2])
        for r in index.db.execute(
            f"SELECT id, status, opened_at FROM cases WHERE id IN ({marks})", case_ids
        )
    }

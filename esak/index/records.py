"""Read-only queries over the index for people and scripts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from esak.errors import InputError, ProblemsError
from esak.index.db import Index
from esak.index.transfer_notes import NoteRow, notes_of_household


def household_documents(index: Index, household: str, archive_dir: Path) -> dict[str, Any]:
    """A household's documents, in file order (CONTRACT §6: path, volume, type, pages, sha256,
    and ``transfer_note``: its path, sha256 and status, or None while it has none), its
    incoming mail after them (volume 0, type ``Posteingang``, with ``received_at``: the date
    on the letter's receipt stamp; None for a document of the paper file).

    ``source`` names the delivery file and its pages, counted from 1 (CONTRACT §6: fields
    named ``first_page``/``last_page`` count as printed on a sheet). Raises
    :class:`InputError` for a household esak has never heard of and :class:`ProblemsError`
    for one that is expected but has nothing archived yet: an empty list would read as "all
    is well" to a script.
    """
    rows = index.db.execute(
        "SELECT d.site, d.volume, d.seq, d.doc_type, d.path, d.pages, d.sha256, d.size, d.pdfa, "
        "d.created_at, f.relpath, "
        "(SELECT MIN(page_index) FROM pages p WHERE p.document_id = d.id), "
        "(SELECT MAX(page_index) FROM pages p WHERE p.document_id = d.id), d.id, d.received_at, "
        "u.id, u.finished_at, u.by_name "
        "FROM documents d JOIN input_files f ON f.id = d.file_id "
        "LEFT JOIN purges u ON u.id = d.purge_id "
        "WHERE d.household = ? ORDER BY d.site, d.volume = 0, d.volume, d.seq",
        [household],
    ).fetchall()
    if not rows:
        sites = [
            site
            for (site,) in index.db.execute(
                "SELECT site FROM expected WHERE household = ? ORDER BY site", [household]
            )
        ]
        if not sites:
            raise InputError(
                f"household {household} is not in the index",
                "check the number (as printed on the cover sheet); "
                "ingest the delivery that holds it first",
            )
        site = ", ".join(sites)
        raise ProblemsError(
            f"household {household} is on the expected list of site {site} but has no "
            "archived documents yet",
            f"ingest the delivery that holds it; esak verify --site {sites[0]} lists every "
            "household still missing",
        )
    notes = notes_of_household(index, household)
    documents = [
        {
            "site": r[0],
            "volume": r[1],
            "document": r[2],
            "type": r[3],
            "path": str(archive_dir / r[4]),
            "pages": r[5],
            "sha256": r[6],
            "size": r[7],
            "pdfa": r[8],
            "archived_at": r[9],
            "source": {"file": r[10], "first_page": _from_1(r[11]), "last_page": _from_1(r[12])},
            "transfer_note": _note(notes.get(r[13]), archive_dir),
            "received_at": r[14],
            # Handed over to the DMS and deleted here (esak purge): the hashes stay.
            "status": "archived" if r[15] is None else "purged",
            "purged": None if r[15] is None else {"purge": r[15], "at": r[16], "by": r[17]},
        }
        for r in rows
    ]
    return {"household": household, "documents": documents}


def _note(note: NoteRow | None, archive_dir: Path) -> dict[str, Any] | None:
    """A document's transfer note for ``show`` (CONTRACT §6), its path as the document's."""
    if note is None:
        return None
    return {**note.to_show(), "path": str(archive_dir / note.path)}


def _from_1(page_index: int | None) -> int | None:
    """A page index (from 0, as stored) as a page number (from 1)."""
    return None if page_index is None else page_index + 1


def page_span(first: int | None, last: int | None) -> str:
    """Pages as people count them (from 1): "3", "3-5", or "all" for a whole file."""
    if first is None:
        return "all"
    return f"{first + 1}" if first == last else f"{first + 1}-{(last or first) + 1}"


def document_sha256(index: Index, path: str) -> str | None:
    """The recorded sha256 of the archive file at ``path`` that the index keeps (a document's
    PDF, or the transfer note of one); ``None``: none kept (never recorded, withdrawn, or
    purged after its handover)."""
    row = index.db.execute(
        "SELECT sha256 FROM documents WHERE path = ? AND purge_id IS NULL", [path]
    ).fetchone()
    if row is None:
        row = index.db.execute(
            "SELECT n.sha256 FROM transfer_notes n JOIN documents d ON d.id = n.document_id "
            "WHERE n.path = ? AND d.purge_id IS NULL",
            [path],
        ).fetchone()
    return None if row is None else str(row[0])

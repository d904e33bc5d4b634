"""The facts about what was ingested, one query each, for a whole site or one delivery.

The ingest report (one delivery) and verify (a whole site) ask the same questions: which
files and pages were set aside and why, which delivery problems there are, where a cover
sheet's declared page count differs from what was found. Each is answered here once, with
its scope as a parameter, so both always count the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from esak.index.db import Index
from esak.index.records import page_span
from esak.vocabulary import FileOutcome


@dataclass(frozen=True)
class Scope:
    """A site, or one delivery of it."""

    site: str
    delivery_id: int | None = None

    def where(self, site_column: str, delivery_column: str) -> tuple[str, list[Any]]:
        if self.delivery_id is None:
            return f"{site_column} = ?", [self.site]
        return f"{site_column} = ? AND {delivery_column} = ?", [self.site, self.delivery_id]


def only(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    """The rows with just these keys, for a report that shows less of a fact."""
    return [{k: row[k] for k in keys} for row in rows]


def rows(index: Index, sql: str, params: list[Any], keys: tuple[str, ...]) -> list[dict[str, Any]]:
    """The rows of a query as dicts with these keys."""
    return [dict(zip(keys, r, strict=True)) for r in index.db.execute(sql, params)]


def page_count_mismatches(index: Index, scope: Scope) -> list[dict[str, Any]]:
    """Cover sheets whose declared page count differs from the pages found after them."""
    where, params = scope.where("s.site", "f.delivery_id")
    return rows(
        index,
        "SELECT s.household, s.volume, s.declared_pages, s.found_pages, f.relpath, d.path, "
        "f.id FROM sections s JOIN input_files f ON f.id = s.file_id "
        f"JOIN deliveries d ON d.id = f.delivery_id WHERE {where} AND f.outcome = ? "
        "AND s.declared_pages > 0 AND s.declared_pages != s.found_pages "
        "ORDER BY s.household, s.volume, f.relpath",
        [*params, FileOutcome.INGESTED],
        ("household", "volume", "declared", "found", "file", "delivery", "file_id"),
    )


def delivery_problems(index: Index, scope: Scope) -> list[dict[str, Any]]:
    """Manifest gaps, checksum and page-count differences of the deliveries (not of one that
    was withdrawn)."""
    where, params = scope.where("d.site", "d.id")
    return rows(
        index,
        "SELECT d.path, p.file, p.problem, d.id FROM delivery_problems p "
        f"JOIN deliveries d ON d.id = p.delivery_id WHERE {where} "
        "AND d.withdrawal_id IS NULL ORDER BY d.path, p.file",
        params,
        ("delivery", "file", "problem", "delivery_id"),
    )


def files_with_outcome(index: Index, scope: Scope, outcome: FileOutcome) -> list[dict[str, Any]]:
    """Input files set aside whole (with their pages, where known) or found duplicate.

    A file set aside that was delivered again under the same name and then ingested is no
    longer set aside: the new delivery replaced it."""
    where, params = scope.where("f.site", "f.delivery_id")
    replaced = (
        " AND NOT EXISTS (SELECT 1 FROM input_files g WHERE g.site = f.site "
        "AND g.relpath = f.relpath AND g.id > f.id AND g.outcome = 'ingested')"
        if outcome == FileOutcome.QUARANTINED
        else ""
    )
    return rows(
        index,
        "SELECT d.path, f.relpath, f.page_count, f.reason, f.id, d.id FROM input_files f "
        f"JOIN deliveries d ON d.id = f.delivery_id WHERE {where} AND f.outcome = ?{replaced} "
        "ORDER BY d.path, f.relpath",
        [*params, outcome],
        ("delivery", "file", "pages", "reason", "file_id", "delivery_id"),
    )


def quarantined_pages(index: Index, scope: Scope) -> list[dict[str, Any]]:
    """Page ranges of ingested files set aside, with the reason (pages counted from 1); a
    range whose pages were assigned or discarded since (a resolved Klärfall) is not."""
    where, params = scope.where("q.site", "f.delivery_id")
    return [
        {"delivery": d, "file": f, "pages": page_span(first, last), "reason": reason,
         "file_id": file_id, "delivery_id": delivery_id, "first": first, "last": last}
        for d, f, first, last, reason, file_id, delivery_id in index.db.execute(
            "SELECT d.path, f.relpath, q.first_page, q.last_page, q.reason, f.id, d.id "
            "FROM quarantine q JOIN input_files f ON f.id = q.file_id "
            f"JOIN deliveries d ON d.id = f.delivery_id WHERE {where} AND f.outcome = ? "
            "AND EXISTS (SELECT 1 FROM pages p WHERE p.file_id = q.file_id "
            "AND p.outcome = 'quarantined' AND p.page_index BETWEEN q.first_page AND q.last_page) "
            "ORDER BY d.path, f.relpath, q.first_page",
            [*params, FileOutcome.INGESTED],
        )
    ]  # fmt: skip


def expected_volumes(index: Index, site: str) -> dict[str, int]:
    """The site's expected households (by number) with their volume counts."""
    return {
        household: volumes or 1
        for household, volumes in index.db.execute(
            "SELECT household, volumes FROM expected WHERE site = ? ORDER BY household", [site]
        )
    }


def site_fingerprint(index: Index, site: str) -> str:
    """SHA-256 over what the index records of a site: every document (path, sha256, pages)
    and every expected household. A signed report names it, so that the signature is bound
    to exactly this state of the archive."""
    digest = hashlib.sha256()
    for path, sha256, pages in index.db.execute(
        "SELECT path, sha256, pages FROM documents WHERE site = ? ORDER BY path", [site]
    ):
        digest.update(f"d\t{path}\t{sha256}\t{pages}\n".encode())
    for household, volumes in index.db.execute(
        "SELECT household, volumes FROM expected WHERE site = ? ORDER BY household", [site]
    ):
        digest.update(f"e\t{household}\t{volumes or 1}\n".encode())
    return digest.hexdigest()

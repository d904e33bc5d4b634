"""The rows of the QA sample (``esak qa``): samples, their deliveries and items, escalations.

A sample is one draw: its seed and rate, the deliveries it covers (``qa_sample_deliveries``),
and one item per archived page drawn (``qa_items``), which later carries the reviewer's
result. A defect leaves an escalation (``qa_escalations``): the site's next draws at double
rate, ``draws_left`` counting them down. Every result is an event ``qa_result`` of the
audit log, appended in the transaction that records it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlite_utils

from esak.index.audit import append_audit, now
from esak.index.db import Index
from esak.vocabulary import FileOutcome, PageOutcome

#: The audit event of one QA result.
QA_RESULT = "qa_result"
#: The audit event of a sample drawn.
QA_DRAWN = "qa_sample_drawn"

_PAGE_COLUMNS = ("page_id", "file_id", "file", "page_index", "household", "volume",
                 "document_id", "document", "document_page", "reason", "delivery_id",
                 "rotation", "engine")  # fmt: skip


def _in(values: Iterable[int]) -> tuple[str, list[int]]:
    values = list(values)
    return ", ".join("?" * len(values)) or "NULL", values


def deliveries(index: Index, site: str) -> list[dict[str, Any]]:
    """The site's deliveries not withdrawn, with whether a sample covers them yet."""
    return [
        {"id": i, "path": p, "sampled": bool(s)}
        for i, p, s in index.db.execute(
            "SELECT d.id, d.path, EXISTS (SELECT 1 FROM qa_sample_deliveries q "
            "WHERE q.delivery_id = d.id) FROM deliveries d WHERE d.site = ? "
            "AND d.withdrawal_id IS NULL ORDER BY d.id",
            [site],
        )
    ]


def archived_pages(index: Index, delivery_ids: list[int]) -> list[dict[str, Any]]:
    """Every archived page of the ingested files of these deliveries, in file and page order."""
    marks, params = _in(delivery_ids)
    rows = index.db.execute(
        "SELECT p.id, f.id, f.relpath, p.page_index, p.household, p.volume, p.document_id, "
        "doc.path, p.document_page, p.reason, f.delivery_id, p.rotation, doc.engine FROM pages p "
        "JOIN input_files f ON f.id = p.file_id JOIN documents doc ON doc.id = p.document_id "
        f"WHERE f.delivery_id IN ({marks}) AND f.outcome = ? AND p.outcome = ? "
        "AND doc.purge_id IS NULL ORDER BY f.id, p.page_index",  # purged: nothing to look at
        [*params, FileOutcome.INGESTED, PageOutcome.ARCHIVED],
    )
    return [dict(zip(_PAGE_COLUMNS, row, strict=True)) for row in rows]


def mismatched_sections(index: Index, file_ids: list[int]) -> list[dict[str, Any]]:
    """Sections whose cover sheet declares another page count than was found, with where the
    next cover sheet of their file begins (the section's pages lie between)."""
    marks, params = _in(file_ids)
    sections = [
        dict(zip(("file_id", "household", "volume", "cover_page", "declared", "found"), r,
                 strict=True))
        for r in index.db.execute(
            "SELECT file_id, household, volume, cover_page, declared_pages, found_pages "
            f"FROM sections WHERE file_id IN ({marks}) AND declared_pages > 0 "
            "AND declared_pages != found_pages ORDER BY file_id, cover_page",
            params,
        )
    ]  # fmt: skip
    covers: dict[int, list[int]] = {}
    for file_id, cover in index.db.execute(
        f"SELECT file_id, cover_page FROM sections WHERE file_id IN ({marks}) "
        "AND cover_page IS NOT NULL ORDER BY file_id, cover_page",
        params,
    ):
        covers.setdefault(file_id, []).append(cover)
    for s in sections:
        later = [c for c in covers.get(s["file_id"], []) if s["cover_page"] is not None
                 and c > s["cover_page"]]  # fmt: skip
        s["until"] = min(later) if later else None
    return sections


def active_escalations(index: Index, site: str) -> list[int]:
    return [
        r[0]
        for r in index.db.execute(
            "SELECT id FROM qa_escalations WHERE site = ? AND draws_left > 0 ORDER BY id", [site]
        )
    ]


def insert_sample(
    db: sqlite_utils.Database,
    site: str,
    seed: int,
    rate: float,
    protection: str,
    delivery_ids: list[int],
    items: list[dict[str, Any]],
    *,
    escalations: list[int],
    run_id: int | None,
) -> int:
    """Record a drawn sample with its items; an escalation it used counts one draw down."""
    sample_id = int(
        db["qa_samples"]
        .insert({"site": site, "seed": seed, "rate": rate, "protection": protection,
                 "escalated": int(bool(escalations)), "drawn_at": now(), "run_id": run_id})
        .last_pk
    )  # fmt: skip
    for delivery_id in delivery_ids:
        db["qa_sample_deliveries"].insert({"sample_id": sample_id, "delivery_id": delivery_id})
    add_items(db, sample_id, items)
    marks, params = _in(escalations)
    db.execute(f"UPDATE qa_escalations SET draws_left = draws_left - 1 WHERE id IN ({marks})",
               params)  # fmt: skip
    append_audit(db, QA_DRAWN, ("qa_samples", sample_id),
                 {"site": site, "seed": seed, "rate": rate, "deliveries": delivery_ids,
                  "items": len(items), "escalations": escalations, "run_id": run_id})  # fmt: skip
    return sample_id


def add_items(db: sqlite_utils.Database, sample_id: int, items: list[dict[str, Any]]) -> None:
    db["qa_items"].insert_all(
        {
            "sample_id": sample_id,
            "page_id": i["page_id"],
            "file_id": i["file_id"],
            "page_index": i["page_index"],
            "household": i["household"],
            "volume": i["volume"],
            "document_id": i["document_id"],
            "document_path": i["document"],
            "document_page": i["document_page"],
            "reason": i["kind"],
            "why": i.get("why"),
        }
        for i in items
    )


def sample_row(index: Index, sample_id: int) -> dict[str, Any] | None:
    row = index.db.execute(
        "SELECT id, site, seed, rate, protection, escalated, drawn_at, run_id FROM qa_samples "
        "WHERE id = ?",
        [sample_id],
    ).fetchone()
    if row is None:
        return None
    keys = ("id", "site", "seed", "rate", "protection", "escalated", "drawn_at", "run_id")
    sample = dict(zip(keys, row, strict=True))
    sample["deliveries"] = [
        r[0]
        for r in index.db.execute(
            "SELECT delivery_id FROM qa_sample_deliveries WHERE sample_id = ? ORDER BY 1",
            [sample_id],
        )
    ]
    return sample


_ITEM_COLUMNS = ("item", "page_id", "file_id", "file", "index", "household", "volume",
                 "document_id", "document", "page", "reason", "why", "result", "note",
                 "reviewer", "checked_at", "case")  # fmt: skip


def items(index: Index, sample_id: int) -> list[dict[str, Any]]:
    """The sample's items in the order they were drawn (file and page order within a kind)."""
    rows = index.db.execute(
        "SELECT i.id, i.page_id, i.file_id, f.relpath, i.page_index, i.household, i.volume, "
        "i.document_id, i.document_path, i.document_page, i.reason, i.why, i.result, i.note, "
        "i.reviewer, i.checked_at, i.case_id FROM qa_items i "
        "JOIN input_files f ON f.id = i.file_id WHERE i.sample_id = ? ORDER BY i.id",
        [sample_id],
    )
    return [dict(zip(_ITEM_COLUMNS, r, strict=True)) for r in rows]


def ingest_people(index: Index, delivery_ids: list[int]) -> set[str]:
    """Who ran the ingest of these deliveries: the OS user of each ingest run of their files,
    and the ``by`` of its options where one was given."""
    marks, params = _in(delivery_ids)
    people: set[str] = set()
    for user, options in index.db.execute(
        "SELECT r.os_user, r.options FROM runs r WHERE r.id IN (SELECT f.run_id FROM "
        f"input_files f WHERE f.delivery_id IN ({marks}) AND f.run_id IS NOT NULL)",
        params,
    ):
        if user:
            people.add(user)
        try:
            by = json.loads(options or "{}").get("by")
        except (ValueError, AttributeError):
            by = None
        if isinstance(by, str) and by.strip():
            people.add(by)
    return people


def record_result(
    db: sqlite_utils.Database,
    item_id: int,
    result: str,
    note: str | None,
    reviewer: str,
    run_id: int | None,
    case_id: int | None,
) -> None:
    row = {"result": result, "note": note, "reviewer": reviewer, "checked_at": now(),
           "run_id": run_id, "case_id": case_id}  # fmt: skip
    db["qa_items"].update(item_id, row)
    append_audit(db, QA_RESULT, ("qa_items", item_id), {"item": item_id, **row})


def add_escalation(db: sqlite_utils.Database, site: str, sample_id: int, item_id: int) -> int:
    return int(
        db["qa_escalations"]
        .insert({"site": site, "sample_id": sample_id, "item_id": item_id, "draws_left": 2,
                 "created_at": now()})
        .last_pk
    )  # fmt: skip


def site_samples(index: Index, site: str) -> list[dict[str, Any]]:
    """The site's samples, oldest first, with their counts."""
    rows = index.db.execute(
        "SELECT s.id, s.drawn_at, s.rate, s.escalated, COUNT(i.id), COUNT(i.result), "
        "SUM(CASE WHEN i.result = 'defect' THEN 1 ELSE 0 END) FROM qa_samples s "
        "LEFT JOIN qa_items i ON i.sample_id = s.id WHERE s.site = ? GROUP BY s.id "
        "ORDER BY s.id",
        [site],
    )
    out = []
    for sample_id, drawn_at, rate, escalated, total, checked, defects in rows:
        delivered = [
            r[0]
            for r in index.db.execute(
                "SELECT delivery_id FROM qa_sample_deliveries WHERE sample_id = ? ORDER BY 1",
                [sample_id],
            )
        ]
        out.append({"sample": sample_id, "deliveries": delivered, "drawn_at": drawn_at,
                    "rate": rate, "escalated": bool(escalated), "total": total,
                    "checked": checked, "defects": defects or 0})  # fmt: skip
    return out


def sample_status(total: int, checked: int, defects: int) -> str:
    """``failed`` once a defect is found, ``passed`` when every item is checked, else ``open``."""
    if defects:
        return "failed"
    return "passed" if total and checked == total else "open"


def delivery_qa(index: Index, delivery_id: int) -> dict[str, Any] | None:
    """The QA of a delivery: its latest sample with status, reviewers and the day of the last
    check; None while no sample covers it. A later sample (drawn after a defect was put
    right) decides over an earlier one."""
    row = index.db.execute(
        "SELECT s.id, s.drawn_at, COUNT(i.id), COUNT(i.result), "
        "SUM(CASE WHEN i.result = 'defect' THEN 1 ELSE 0 END), MAX(i.checked_at), "
        "GROUP_CONCAT(DISTINCT i.reviewer) FROM qa_samples s "
        "JOIN qa_sample_deliveries q ON q.sample_id = s.id "
        "LEFT JOIN qa_items i ON i.sample_id = s.id WHERE q.delivery_id = ? "
        "GROUP BY s.id ORDER BY s.id DESC LIMIT 1",
        [delivery_id],
    ).fetchone()
    if row is None:
        return None
    sample_id, drawn_at, total, checked, defects, last, reviewers = row
    return {
        "sample": sample_id,
        "drawn_at": drawn_at,
        "status": sample_status(total, checked, defects or 0),
        "total": total,
        "checked": checked,
        "defects": defects or 0,
        "checked_at": last,
        "reviewers": sorted(set((reviewers or "").split(",")) - {""}),
    }


def last_changed(index: Index, document_id: int) -> str:
    """When the document's archived file last changed: archived, or replaced (blanks keep)."""
    return str(
        index.db.execute(
            "SELECT COALESCE((SELECT MAX(superseded_at) FROM superseded_documents "
            "WHERE document_id = d.id), d.created_at) FROM documents d WHERE d.id = ?",
            [document_id],
        ).fetchone()[0]
    )

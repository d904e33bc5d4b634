"""The rows the release of the paper originals reads and writes (``esak release``).

A delivery's facts for the eight-week clock and its blockers: when its paper was scanned, when
its products last changed, its open Klärfälle, its documents and their transfer notes; and the
decisions (``releases``: release or hold, the latest counts), each an audit-log event in the
transaction that records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlite_utils

from esak.index.audit import append_audit, now
from esak.index.db import Index
from esak.vocabulary import FileOutcome

#: The audit events of a decision.
RELEASED = "delivery_released"
HELD = "delivery_held"


@dataclass
class DeliveryFacts:
    id: int
    path: str
    #: the delivery's own scan date (ingest --scanned-on), ISO
    scanned_on: str | None
    #: the earliest scan date of its files, as the manifest gives them
    earliest_file_scan: str | None
    #: ingested files that have no scan date of their own
    undated_files: int
    files: int
    #: when the delivery's products last changed: a file ingested, a document archived or
    #: replaced, a note written, a Klärfall resolved
    last_change: str | None
    open_cases: int

    @property
    def scanned_at(self) -> str | None:
        """The day the clock starts: the earliest date known (the provider's clock runs from
        the first paper it scanned); None when some files have no date at all."""
        if self.scanned_on:
            return min(d for d in (self.scanned_on, self.earliest_file_scan) if d)
        return None if self.undated_files else self.earliest_file_scan


def deliveries(index: Index, site: str) -> list[DeliveryFacts]:
    """The site's deliveries not withdrawn, oldest first."""
    out = []
    for row in index.db.execute(
        "SELECT id, path, scanned_on FROM deliveries WHERE site = ? AND withdrawal_id IS NULL "
        "ORDER BY id",
        [site],
    ).fetchall():
        out.append(_facts(index, int(row[0]), row[1], row[2]))
    return out


def _facts(index: Index, delivery_id: int, path: str, scanned_on: str | None) -> DeliveryFacts:
    db = index.db
    earliest, undated, files, ingested = db.execute(
        "SELECT MIN(scanned_at), SUM(scanned_at IS NULL), COUNT(*), MAX(ingested_at) "
        "FROM input_files WHERE delivery_id = ? AND outcome = ?",
        [delivery_id, FileOutcome.INGESTED],
    ).fetchone()
    changes = [ingested]
    changes += db.execute(
        "SELECT MAX(d.created_at), MAX(s.superseded_at), MAX(n.written_at) FROM documents d "
        "JOIN input_files f ON f.id = d.file_id LEFT JOIN superseded_documents s "
        "ON s.document_id = d.id LEFT JOIN transfer_notes n ON n.document_id = d.id "
        "WHERE f.delivery_id = ?",
        [delivery_id],
    ).fetchone()
    resolved, open_cases = db.execute(
        "SELECT MAX(resolved_at), SUM(status = 'open') FROM cases WHERE delivery_id = ?",
        [delivery_id],
    ).fetchone()
    changes.append(resolved)
    known = [c for c in changes if c]
    return DeliveryFacts(
        delivery_id, path, scanned_on, earliest, int(undated or 0), int(files or 0),
        max(known) if known else None, int(open_cases or 0),
    )  # fmt: skip


def documents(index: Index, delivery_id: int) -> list[dict[str, Any]]:
    """The delivery's archived documents with their note's status and hashes (None: no note)."""
    rows = index.db.execute(
        "SELECT d.id, d.path, d.sha256, d.size, d.doc_type, n.path, n.sha256, n.size, n.status, "
        "n.document_sha256 FROM documents d JOIN input_files f ON f.id = d.file_id "
        "LEFT JOIN transfer_notes n ON n.document_id = d.id WHERE f.delivery_id = ? "
        "AND d.purge_id IS NULL ORDER BY d.path",  # purged: released, handed over, gone
        [delivery_id],
    )
    keys = ("id", "path", "sha256", "size", "doc_type", "note_path", "note_sha256", "note_size",
            "note_status", "note_document_sha256")  # fmt: skip
    return [dict(zip(keys, r, strict=True)) for r in rows]


def input_files(index: Index, delivery_id: int) -> list[dict[str, Any]]:
    """Every file the provider delivered in it, as named in the delivery (for the lists)."""
    rows = index.db.execute(
        "SELECT f.id, f.relpath, f.outcome, f.page_count, f.scanned_at, "
        "(SELECT GROUP_CONCAT(DISTINCT d.doc_type) FROM documents d WHERE d.file_id = f.id) "
        "FROM input_files f WHERE f.delivery_id = ? AND f.outcome != ? ORDER BY f.relpath",
        [delivery_id, FileOutcome.WITHDRAWN],
    )
    keys = ("id", "file", "outcome", "pages", "scanned_at", "doc_types")
    return [dict(zip(keys, r, strict=True)) for r in rows]


def latest_valid_verification(index: Index, site: str) -> dict[str, Any] | None:
    """The site's newest verification at level valid that found every file intact and every
    document valid PDF/A (completeness of the site is not asked: the paper of a delivery may
    go when its own products are sound)."""
    row = index.db.execute(
        "SELECT id, finished_at FROM verifications WHERE site = ? AND level = 'valid' "
        "AND intact = 1 AND documents_invalid = 0 ORDER BY id DESC LIMIT 1",
        [site],
    ).fetchone()
    return None if row is None else {"id": row[0], "at": row[1]}


def decision(index: Index, delivery_id: int) -> dict[str, Any] | None:
    """The delivery's latest decision, None while there is none."""
    row = index.db.execute(
        "SELECT id, decision, by_name, reason, decided_at, destroy_on FROM releases "
        "WHERE delivery_id = ? ORDER BY id DESC LIMIT 1",
        [delivery_id],
    ).fetchone()
    if row is None:
        return None
    keys = ("id", "decision", "by", "reason", "at", "destroy_on")
    return dict(zip(keys, row, strict=True))


def qa_reviewers(index: Index, delivery_id: int) -> set[str]:
    """Everyone who recorded a QA result for a sample of the delivery."""
    return {
        r[0]
        for r in index.db.execute(
            "SELECT DISTINCT i.reviewer FROM qa_items i JOIN qa_sample_deliveries q "
            "ON q.sample_id = i.sample_id WHERE q.delivery_id = ? AND i.reviewer IS NOT NULL",
            [delivery_id],
        )
    }


def is_released(index: Index, delivery_id: int) -> bool:
    latest = decision(index, delivery_id)
    return bool(latest and latest["decision"] == "release")


def record_decision(
    db: sqlite_utils.Database,
    site: str,
    delivery_id: int,
    decision: str,
    *,
    by: str,
    reason: str | None,
    scanned_on: str | None,
    destroy_on: str | None,
    run_id: int,
) -> int:
    row = {"site": site, "delivery_id": delivery_id, "decision": decision, "by_name": by,
           "reason": reason, "scanned_on": scanned_on, "destroy_on": destroy_on,
           "decided_at": now(), "run_id": run_id}  # fmt: skip
    release_id = int(db["releases"].insert(row).last_pk)
    append_audit(db, RELEASED if decision == "release" else HELD, ("releases", release_id), row)
    return release_id

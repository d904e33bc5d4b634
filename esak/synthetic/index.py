"""An index filled with generated rows, for benchmarks and tests of the reports.

No scans, no OCR: the rows look like what ingest records (a batch per box of households, a
cover sheet per household, documents split at separators, blank back sides), and each
document may get a small stand-in file in the archive so that fixity has something to stat.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from esak.index.audit import now
from esak.index.db import Index


@dataclass(frozen=True)
class Shape:
    households: int = 7000
    documents_per_household: int = 5
    pages_per_document: int = 6
    blank_per_document: int = 2
    households_per_batch: int = 40


def household_number(n: int, agency: str = "95401") -> str:
    return f"{agency}BG{n:07d}"


def populate(
    index: Index, archive_dir: Path | None, site: str, shape: Shape, *, first: int = 1
) -> list[str]:
    """Record ``shape.households`` expected and archived households; return their numbers.

    With ``archive_dir`` each document gets a stand-in file whose size and sha256 are the
    recorded ones (a few dozen bytes: fixity at ``complete`` stats them, never reads them).
    """
    households = [household_number(first + i) for i in range(shape.households)]
    stamp = now()
    db = index.db
    with index.transaction():
        db["expected"].insert_all(
            {
                "site": site,
                "household": h,
                "source_file": "synthetic.csv",
                "source_line": i + 2,
                "imported_at": stamp,
            }
            for i, h in enumerate(households)
        )
        delivery_id = (
            db["deliveries"]
            .insert({"site": site, "path": f"/synthetic/{site}", "first_seen": stamp})
            .last_pk
        )
        per_batch = shape.households_per_batch
        for b in range(0, len(households), per_batch):
            _batch(index, archive_dir, site, delivery_id, households[b : b + per_batch], shape)
    return households


def _batch(
    index: Index,
    archive_dir: Path | None,
    site: str,
    delivery_id: int,
    households: list[str],
    shape: Shape,
) -> None:
    db = index.db
    stamp = now()
    per_doc = shape.pages_per_document + shape.blank_per_document + 1  # + separator
    page_count = len(households) * (1 + shape.documents_per_household * per_doc)
    file_id = (
        db["input_files"]
        .insert(
            {
                "delivery_id": delivery_id,
                "site": site,
                "relpath": f"box/{households[0]}.pdf",
                "format": "pdf",
                "sha256": hashlib.sha256(households[0].encode()).hexdigest(),
                "size": page_count * 500_000,
                "page_count": page_count,
                "outcome": "ingested",
                "ingested_at": stamp,
            }
        )
        .last_pk
    )
    pages: list[tuple] = []
    index_no = 0
    for h in households:
        pages.append((file_id, index_no, "cover", "cover", h, 1, None, None))
        index_no += 1
        db.execute(
            "INSERT INTO sections (file_id, site, household, volume, cover_page, "
            "declared_pages, found_pages) VALUES (?, ?, ?, 1, ?, ?, ?)",
            [file_id, site, h, index_no - 1, 0, shape.documents_per_household * per_doc],
        )
        for seq in range(1, shape.documents_per_household + 1):
            rel = f"{site}/{h}/band-01/{seq:04d}.pdf"
            content = f"%PDF-1.7 synthetic {rel}\n".encode()
            if archive_dir is not None:
                target = archive_dir / rel
                target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as fh:
                    fh.write(content)
            doc_id = db.execute(
                "INSERT INTO documents (site, household, volume, seq, doc_type, path, pages, "
                "size, sha256, pdfa, text_chars, file_id, created_at) "
                "VALUES (?, ?, 1, ?, NULL, ?, ?, ?, ?, '2B', 1000, ?, ?)",
                [site, h, seq, rel, shape.pages_per_document, len(content),
                 hashlib.sha256(content).hexdigest(), file_id, stamp],
            ).lastrowid  # fmt: skip
            pages.append((file_id, index_no, "separator", "separator", h, 1, None, None))
            index_no += 1
            for p in range(shape.pages_per_document):
                pages.append((file_id, index_no, "content", "archived", h, 1, doc_id, p + 1))
                index_no += 1
            for _ in range(shape.blank_per_document):
                pages.append((file_id, index_no, "blank", "blank", h, 1, None, None))
                index_no += 1
    db.conn.executemany(
        "INSERT INTO pages (file_id, page_index, kind, outcome, household, volume, document_id, "
        "document_page, barcodes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(*p, json.dumps([]) if p[2] in ("cover", "separator") else None) for p in pages],
    )

"""The searchable text of the archive (``page_text`` and its FTS5 trigram table).

One row per archived page: the text as OCR made it, and a German normalisation of it that
the search compares with (lower case; ß → ss; ä, ö, ü → ae, oe, ue; other accents dropped),
so that ``strasse`` finds ``Straße`` and ``Mueller`` finds ``Müller``. The trigram tokenizer
finds substrings: ``bescheid`` finds ``Bewilligungsbescheid``. Rows are written in the
transaction that archives or replaces their document.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from esak.index.db import Index

_GERMAN = str.maketrans({"ß": "ss", "ä": "ae", "ö": "oe", "ü": "ue", "ẞ": "ss"})


def normalise(text: str) -> str:
    """The text as the search compares it."""
    lowered = text.casefold().translate(_GERMAN)
    decomposed = unicodedata.normalize("NFKD", lowered)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _mapped(text: str) -> tuple[str, list[int]]:
    """The normalised text and, for each of its characters, where it came from in ``text``."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        piece = normalise(ch)
        out.append(piece)
        where += [i] * len(piece)
    return "".join(out), where


def set_document_text(
    db: sqlite_utils.Database,
    document_id: int,
    site: str,
    household: str,
    pages: Sequence[str],
) -> None:
    """The document's pages (``pages[0]`` is page 1) replace what was indexed of it."""
    db.execute("DELETE FROM page_text WHERE document_id = ?", [document_id])
    db["page_text"].insert_all(
        {"document_id": document_id, "page": n, "site": site, "household": household,
         "text": text, "plain": normalise(text)}
        for n, text in enumerate(pages, 1)
    )  # fmt: skip


def drop_document_text(db: sqlite_utils.Database, document_id: int) -> None:
    db.execute("DELETE FROM page_text WHERE document_id = ?", [document_id])


@dataclass
class Hit:
    site: str
    household: str
    path: str
    document: int
    doc_type: str | None
    page: int
    snippet: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site, "household": self.household, "path": self.path,
                "document": self.document, "type": self.doc_type, "page": self.page,
                "snippet": self.snippet, "score": round(self.score, 3)}  # fmt: skip


_WORD = re.compile(r"\w+", re.UNICODE)


def terms(query: str) -> list[str]:
    """The normalised words of a query (every one must appear)."""
    return _WORD.findall(normalise(query))


def search(
    index: Index,
    query: str,
    *,
    site: str | None = None,
    household: str | None = None,
    doc_type: str | None = None,
    limit: int = 20,
) -> list[Hit]:
    """Pages whose text holds every word of ``query``, best first (BM25 over the trigrams;
    words shorter than three letters are matched as substrings, slowly)."""
    words = terms(query)
    if not words:
        return []
    long_words = [w for w in words if len(w) >= 3]
    short = [f"%{w}%" for w in words if len(w) < 3]
    select = "SELECT t.site, t.household, d.path, d.seq, d.doc_type, t.page, t.text"
    joined = "page_text t JOIN documents d ON d.id = t.document_id"
    after = ["t.plain LIKE ?"] * len(short) + (["d.doc_type = ?"] if doc_type else [])
    after_args = [*short, *([doc_type] if doc_type else [])]
    if long_words:
        match = " AND ".join('"' + w.replace('"', '""') + '"' for w in long_words)
        # Ranked inside FTS5 (ORDER BY rank with a LIMIT; site and household are columns of
        # the FTS table) before anything is joined: a common word must not send every
        # matching page through the join first. What is checked after the ranking (short
        # words, the type) takes more rows, so that enough remain.
        inner = [("site", site), ("household", household)]
        narrow = "".join(f" AND {c} = ?" for c, v in inner if v is not None)
        ranked = (f"SELECT rowid AS id, rank FROM page_text_fts WHERE page_text_fts MATCH ?"
                  f"{narrow} ORDER BY rank LIMIT ?")  # fmt: skip
        sql = (f"{select}, r.rank FROM ({ranked}) r JOIN page_text t ON t.id = r.id "
               "JOIN documents d ON d.id = t.document_id"
               + (f" WHERE {' AND '.join(after)}" if after else "")
               + " ORDER BY r.rank, d.path, t.page")  # fmt: skip
        args = [match, *(v for _c, v in inner if v is not None),
                limit * (20 if after else 1), *after_args]  # fmt: skip
    else:
        filters = [f"t.{c} = ?" for c, v in (("site", site), ("household", household)) if v]
        values = [v for v in (site, household) if v]
        conditions = " AND ".join(after + filters)
        sql = f"{select}, 0 FROM {joined} WHERE {conditions} ORDER BY d.path, t.page LIMIT ?"
        args = [*after_args, *values, limit]
    hits = []
    for site_, house, path, seq, kind, page, text, s in index.db.execute(sql, args):
        hits.append(Hit(site_, house, path, int(seq), kind, int(page),
                        snippet(text, words), -float(s or 0)))  # fmt: skip
    return hits[:limit]


def snippet(text: str, words: Sequence[str], width: int = 60) -> str:
    """About ``2 × width`` characters of the original text around the first word found."""
    plain, where = _mapped(text)
    found = [plain.find(w) for w in words]
    first = min((f for f in found if f >= 0), default=-1)
    if first < 0 or not where:
        return " ".join(text[: 2 * width].split())
    at = where[first]
    start, end = max(0, at - width), min(len(text), at + width)
    core = " ".join(text[start:end].split())
    return ("…" if start else "") + core + ("…" if end < len(text) else "")


def size(index: Index) -> dict[str, int]:
    """Pages indexed and the bytes the text and its trigram index take in the file."""
    pages = int(index.db.execute("SELECT COUNT(*) FROM page_text").fetchone()[0])
    try:
        used = dict(index.db.execute(
            "SELECT name, SUM(pgsize) FROM dbstat WHERE name LIKE 'page_text%' GROUP BY name"
        ).fetchall())  # fmt: skip
    except Exception:  # dbstat is a compile-time option of SQLite
        used = {}
    fts = sum(v for k, v in used.items() if k.startswith("page_text_fts"))
    return {"pages": pages, "text_bytes": int(used.get("page_text", 0)), "fts_bytes": int(fts)}

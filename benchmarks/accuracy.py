"""Accuracy is part of speed: the character error rate (CER) of a text layer against the
generator's ground truth (``texts.json``: every content page's text as drawn).

CER = Levenshtein distance / characters of the truth, after both texts are brought to one
form: every run of whitespace one space (line breaks and the order of table cells within a
line are layout, not reading). Summed over pages (a long page weighs more than a short one).
Levenshtein by rapidfuzz (C++): a page is ~2,000 characters, and pure Python would take
seconds per page.

The CER counts a block or a table read in another order as errors: on generated 200-dpi pages
one page's CER swings by 150-200 edits when Tesseract segments it differently. Beside it, the
**word miss rate** ignores order: the share of the truth's words (as a multiset) that the text
does not contain. It tells misread words from reordered ones.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz.distance import Levenshtein

_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


@dataclass
class Accuracy:
    pages: int = 0
    edits: int = 0
    chars: int = 0
    #: content pages with no text found at all (counted in the CER as all wrong)
    missing: int = 0
    #: the truth's words, and those of them the text lacks (order ignored)
    words: int = 0
    words_missed: int = 0

    @property
    def cer(self) -> float:
        return self.edits / self.chars if self.chars else float("nan")

    @property
    def word_miss(self) -> float:
        return self.words_missed / self.words if self.words else float("nan")

    def add(self, ocr: str | None, truth: str) -> None:
        want = normalise(truth)
        got = normalise(ocr or "")
        self.pages += 1
        self.chars += len(want)
        self.edits += Levenshtein.distance(got, want)
        self.missing += ocr is None
        truth_words = Counter(want.split())
        self.words += sum(truth_words.values())
        self.words_missed += sum((truth_words - Counter(got.split())).values())

    def to_dict(self) -> dict[str, float | int]:
        return {"pages": self.pages, "cer": self.cer, "edits": self.edits, "chars": self.chars,
                "missing": self.missing, "word_miss": self.word_miss, "words": self.words,
                "words_missed": self.words_missed}  # fmt: skip


def truth_texts(root: Path) -> dict[tuple[str, int], str]:
    """(file as in the delivery, input page from 0) -> the text drawn on that content page."""
    data = json.loads((root / "texts.json").read_text(encoding="utf-8"))
    return {(f, int(i)): t for f, pages in data["files"].items() for i, t in pages.items()}


def esak_accuracy(workspace: Path, truth: dict[tuple[str, int], str]) -> Accuracy:
    """The text esak archived for each page (its search index holds each page's text layer)."""
    db = sqlite3.connect(f"file:{workspace / 'index.sqlite'}?mode=ro", uri=True)
    try:
        found = {(f, i): t for f, i, t in db.execute(
            "SELECT f.relpath, p.page_index, t.text FROM pages p JOIN input_files f "
            "ON f.id = p.file_id JOIN page_text t ON t.document_id = p.document_id "
            "AND t.page = p.document_page")}  # fmt: skip
    finally:
        db.close()
    result = Accuracy()
    for key, text in sorted(truth.items()):
        result.add(found.get(key), text)
    return result


def pdf_accuracy(pdfs: dict[str, Path], truth: dict[tuple[str, int], str]) -> Accuracy:
    """The text layers of PDFs made page for page from the delivery's files (``pdfs``: file
    as in the delivery -> its OCR'd PDF), as a PDF reader extracts them."""
    import pypdfium2 as pdfium

    result = Accuracy()
    texts: dict[str, list[str]] = {}
    for file, path in pdfs.items():
        if not path.is_file():
            continue
        pdf = pdfium.PdfDocument(str(path))
        try:
            texts[file] = [page.get_textpage().get_text_range() for page in pdf]
        finally:
            pdf.close()
    for (file, index), text in sorted(truth.items()):
        pages = texts.get(file, [])
        result.add(pages[index] if index < len(pages) else None, text)
    return result


def text_files_accuracy(found: dict[tuple[str, int], Path],
                        truth: dict[tuple[str, int], str]) -> Accuracy:  # fmt: skip
    """Tesseract's own ``.txt`` output per page image."""
    result = Accuracy()
    for key, text in sorted(truth.items()):
        path = found.get(key)
        ocr = path.read_text(encoding="utf-8") if path is not None and path.is_file() else None
        result.add(ocr, text)
    return result

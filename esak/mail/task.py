"""The worker's part of a letter: OCR'd into PDF/A as ingest does it, and each household
number found in its words read a second time, from its own box.

The second reading crops the number's box from the page (upright, as Tesseract read it),
and has Tesseract read that line alone with only the characters the site's pattern allows
(:func:`esak.migrate.ocr.read_line`). The router (:mod:`esak.mail.route`) trusts a reading
only when both agree. Like every task, small and picklable: it runs in a worker process.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from esak.errors import InputError
from esak.mail.route import Reading, Template, Word, read_numbers, template_of
from esak.migrate.ocr import MissingProgram, OcrError, read_line
from esak.migrate.pages import open_pages
from esak.migrate.tasks import DocumentResult, DocumentTask, build_document
from esak.sandbox import CLASSIFY_MEMORY_LIMIT, memory_limit

#: Resolution a page is rendered at for the second reading (a PDF page; images keep theirs).
CHECK_DPI = 300.0
#: Seconds Tesseract may spend on one number's box.
CHECK_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class LetterTask:
    #: the letter as a document to build (``words=True``)
    document: DocumentTask
    #: the site's household pattern
    pattern: str


@dataclass(frozen=True)
class LetterResult:
    document: DocumentResult
    #: (page within the letter, first word's index, what the second reading read)
    checks: tuple[tuple[int, int, str], ...] = ()

    @property
    def words(self) -> list[Word]:
        return list(self.document.words)


def build_letter(task: LetterTask) -> LetterResult:
    """The letter's PDF/A and words, and the second reading of each number in them."""
    result = build_document(task.document)
    if result.error or not result.words:
        return LetterResult(result)
    letter = LetterResult(result)
    template = template_of(task.pattern)
    readings = [r for r in read_numbers(letter.words, template) if r.number is not None]
    if template is None or not readings:
        return letter
    checks: list[tuple[int, int, str]] = []
    try:
        checks = _second_readings(task, result, readings, template)
    except (InputError, OcrError, MissingProgram, OSError, ValueError):
        checks = []  # no second reading: the router trusts none of the first ones
    return LetterResult(result, tuple(checks))


def _second_readings(
    task: LetterTask, result: DocumentResult, readings: list[Reading], template: Template
) -> list[tuple[int, int, str]]:
    doc = task.document
    out: list[tuple[int, int, str]] = []
    tmp_dir = Path(doc.tmp_dir)
    languages = "+".join(doc.languages)
    with (
        memory_limit(CLASSIFY_MEMORY_LIMIT),
        open_pages(Path(doc.source), doc.files) as source,
        tempfile.TemporaryDirectory(prefix="check-", dir=tmp_dir) as work,
    ):
        pages: dict[int, tuple[Image.Image, float]] = {}
        for reading in readings:
            if reading.page not in pages:
                page = source.page(doc.pages[reading.page], CHECK_DPI)
                turns = result.rotations
                turned = turns[reading.page] if reading.page < len(turns) else 0
                # Upright, as Tesseract read it: the boxes are of the upright page.
                image = page.image.rotate(-turned, expand=True) if turned else page.image
                pages[reading.page] = (image, page.dpi)
            image, dpi = pages[reading.page]
            left, top, right, bottom = reading.box
            w, h = image.size
            pad = (bottom - top) * h * 0.6
            box = (max(0, round(left * w - pad)), max(0, round(top * h - pad)),
                   min(w, round(right * w + pad)), min(h, round(bottom * h + pad)))  # fmt: skip
            if box[2] - box[0] < 4 or box[3] - box[1] < 4:
                continue
            crop = Path(work) / f"n{len(out)}.png"
            image.crop(box).save(crop, dpi=(round(dpi), round(dpi)))
            with contextlib.suppress(OcrError):
                text = read_line(crop, languages, dpi, template.allowed, CHECK_TIMEOUT_S)
                out.append((reading.page, reading.words[0], text))
    return out

"""An ingest engine without OCR and without rasterising, for ``benchmarks/bench_scaling.py``
only: it measures what grows with a site (the coordinator, planning, the index, the commit
path, verify) on 100 to 100,000 pages in minutes, not days.

Never used by esak itself. Its deliveries (:func:`write_batch`) are PDFs of tiny pages that
carry what each page is in the page dictionary (``/EsakBenchKind`` …), so that
:func:`classify` reads the kind instead of looking at pixels; :func:`build` makes a real
PDF/A-2b of the delivered pages (the same pikepdf split and save as ingest, without a text
layer) and returns a page text of a typical length for the search index.
"""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
import time
from pathlib import Path

import pikepdf

from esak.migrate.codes import cover_code
from esak.migrate.ocr import save_pdfa
from esak.migrate.plan import PageRecord
from esak.migrate.tasks import (
    ClassifyResult,
    ClassifyTask,
    DocumentResult,
    DocumentTask,
    Engine,
    _assemble_input,
    count_pages,
)
from esak.vocabulary import PageKind

_WORDS = (
    "Bescheid", "Bewilligung", "Leistungen", "Arbeitslosengeld", "Kosten", "Unterkunft",
    "Heizung", "Miete", "Nebenkosten", "Antrag", "Weiterbewilligung", "Einkommen",
    "Lohnabrechnung", "Kontoauszug", "Jobcenter", "Bedarfsgemeinschaft", "Mitwirkung",
    "Nachweis", "Frist", "Widerspruch", "Anhoerung", "Erstattung", "Sozialgesetzbuch",
    "Zweites", "Buch", "Monat", "Betrag", "Euro", "Strasse", "Hausnummer",
)
#: About the characters OCR reads on a typical letter page.
TEXT_CHARS = 1800


def page_text(seed: str) -> str:
    rng = random.Random(seed)
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < TEXT_CHARS:
        words.append(rng.choice(_WORDS))
    return " ".join(words)


def write_batch(path: Path, site: str, pages: list[tuple[str, str | None, int | None]]) -> None:
    """A batch PDF: per page (kind, household of a cover, volume of a cover), each page a
    small grey image (so that splitting copies real image data) and its kind in its dict."""
    pdf = pikepdf.new()
    image = pikepdf.Stream(pdf, os.urandom(64 * 64))  # 64×64 grey: bytes worth copying
    image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
    image.Width, image.Height, image.BitsPerComponent = 64, 64, 8
    image.ColorSpace = pikepdf.Name.DeviceGray
    for kind, household, volume in pages:
        page = pdf.add_blank_page(page_size=(595, 842))
        page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
        page.Contents = pdf.make_stream(b"q 595 0 0 842 0 0 cm /Im0 Do Q")
        page.obj.EsakBenchKind = pikepdf.Name(f"/{kind}")
        if household:
            page.obj.EsakBenchHousehold = pikepdf.String(household)
            page.obj.EsakBenchVolume = volume or 1
            page.obj.EsakBenchCode = pikepdf.String(cover_code(site, household, volume or 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    pdf.save(path)


def classify(task: ClassifyTask) -> ClassifyResult:
    """The kinds the pages carry (no rendering, no barcode reading, no blank test)."""
    started = time.process_time()
    records = []
    with pikepdf.open(task.path) as pdf:
        for index in range(task.first, task.last + 1):
            obj = pdf.pages[index].obj
            kind = str(obj.get("/EsakBenchKind", "/content"))[1:]
            if kind == PageKind.COVER:
                records.append(PageRecord(
                    index=index, kind=kind,
                    barcodes=(("QRCode", str(obj.EsakBenchCode)),),
                    household=str(obj.EsakBenchHousehold), volume=int(obj.EsakBenchVolume),
                    declared_pages=0))  # fmt: skip
            elif kind == PageKind.SEPARATOR:
                records.append(PageRecord(index=index, kind=kind, barcodes=(("Code39", "PATCHT"),)))
            else:
                records.append(PageRecord(index=index, kind=kind))
    return ClassifyResult(task.first, tuple(records), time.process_time() - started)


def build(task: DocumentTask) -> DocumentResult:
    """The delivered pages as a PDF/A-2b, with a page text of typical length; no OCR."""
    started = time.monotonic()
    fd, name = tempfile.mkstemp(prefix="doc-", suffix=".pdf", dir=task.tmp_dir)
    os.close(fd)
    output = Path(name)
    source = output.with_suffix(".in.pdf")
    try:
        _assemble_input(task, source)
        with pikepdf.open(source) as pdf:
            for page in pdf.pages:  # the benchmark's marks are no part of a PDF/A page
                for key in [k for k in list(page.obj.keys()) if k.startswith("/EsakBench")]:
                    del page.obj[key]
            save_pdfa(pdf, output, task.title)
    finally:
        source.unlink(missing_ok=True)
    texts = tuple(page_text(f"{task.key}:{n}") for n in range(len(task.pages)))
    digest = hashlib.sha256(output.read_bytes()).hexdigest()
    with pikepdf.open(output) as done:
        pdfa = done.open_metadata().pdfa_status
    return DocumentResult(
        key=task.key, output=str(output), pages=len(task.pages), sha256=digest,
        size=output.stat().st_size, pdfa=pdfa, text_chars=sum(len(t) for t in texts),
        text_covers=(), error=None, fatal=None, seconds=time.monotonic() - started,
        engine="no-ocr (benchmark)", rotations=(0,) * len(task.pages), page_texts=texts,
    )  # fmt: skip


NO_OCR = Engine("no-ocr (benchmark only)", count_pages, classify, build)

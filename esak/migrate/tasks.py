"""Work done in worker processes: classifying pages and building one OCR'd PDF/A document.

Tasks and results are small picklable records, so they run unchanged in a local process pool
or on a Dask worker. Workers never touch the index; they write only their own temporary
files under the workspace's tmp folder, which the coordinator renames into the archive.
"""

from __future__ import annotations

import contextlib
import errno
import io
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import img2pdf
import pikepdf
from PIL import Image

from esak.errors import InputError
from esak.faults import fault
from esak.files import sha256_file, sniff
from esak.migrate.classify import classify_page
from esak.migrate.codes import SiteRules, find_text_covers
from esak.migrate.ocr import (
    MissingProgram,
    NotScanned,
    OcrError,
    OcrTimeout,
    OcrWord,
    disk_is_full,
    ocr_scanned_pages,
    save_pdfa,
    words_from_text,
    words_from_tsv,
)
from esak.migrate.pages import _image_dpi, has_alpha, on_white_paper, open_pages
from esak.migrate.plan import PageRecord
from esak.sandbox import CLASSIFY_MEMORY_LIMIT, memory_limit
from esak.vocabulary import InputFormat, PageKind

#: OCRmyPDF's deskew costs a Tesseract layout pass per page (--psm 2, no time limit of its
#: own): 191 s -> 139 s for the benchmark delivery on 2 cores. Tesseract's recognition copes
#: with the few degrees of skew a feed scanner leaves.
DESKEW = False

def ocr_engine() -> str:
    """``ESAK_OCR_ENGINE``: "tesseract" (the default), plain scans go straight to Tesseract
    (esak.migrate.ocr), everything else to OCRmyPDF; "ocrmypdf", every document through
    OCRmyPDF (for comparison in benchmarks)."""
    return os.environ.get("ESAK_OCR_ENGINE", "tesseract")

#: Resolution pages are classified at (barcode samples are specified at 300 dpi).
CLASSIFY_DPI = 300.0


@dataclass(frozen=True)
class CountTask:
    path: str
    files: tuple[str, ...] | None


@dataclass(frozen=True)
class CountResult:
    pages: int = 0
    #: why the input cannot be read at all (it is set aside with this reason)
    error: str | None = None


def count_pages(task: CountTask) -> CountResult:
    """How many pages an input has, read in a worker under the memory limit: a delivery file
    is untrusted, and one built to exhaust memory must not take the coordinator with it."""
    fault("worker-count")
    try:
        with memory_limit(CLASSIFY_MEMORY_LIMIT), open_pages(Path(task.path), task.files) as src:
            return CountResult(src.page_count)
    except InputError as exc:
        return CountResult(error=exc.message)


@dataclass(frozen=True)
class ClassifyTask:
    path: str
    files: tuple[str, ...] | None
    first: int
    last: int  # inclusive
    rules: SiteRules
    dpi: float = CLASSIFY_DPI


@dataclass(frozen=True)
class ClassifyResult:
    first: int
    records: tuple[PageRecord, ...]
    seconds: float


def classify_chunk(task: ClassifyTask) -> ClassifyResult:
    """Classify pages ``first..last`` of one input; a page that cannot be read gets ``error``."""
    started = time.process_time()
    records: list[PageRecord] = []
    with memory_limit(CLASSIFY_MEMORY_LIMIT), open_pages(Path(task.path), task.files) as source:
        for index in range(task.first, task.last + 1):
            try:
                # A scan of less than CLASSIFY_DPI at its own resolution, as image files are.
                page = source.page(index, task.dpi, scale_up=False)
            except InputError as exc:
                records.append(PageRecord(index=index, kind=PageKind.CONTENT, error=exc.message))
                continue
            cls = classify_page(page.image, page.dpi, task.rules)
            page.image.close()
            records.append(
                PageRecord(
                    index=index,
                    kind=str(cls.kind),
                    barcodes=tuple((b.format, b.text) for b in cls.barcodes),
                    household=cls.cover.household if cls.cover else None,
                    volume=cls.cover.volume if cls.cover else None,
                    declared_pages=cls.cover.declared_pages if cls.cover else None,
                    doc_type=cls.separator.doc_type if cls.separator else None,
                    problem=cls.problem,
                )
            )
    return ClassifyResult(task.first, tuple(records), time.process_time() - started)


# --- documents --------------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentTask:
    key: str
    source: str
    format: str
    files: tuple[str, ...] | None
    pages: tuple[int, ...]
    languages: tuple[str, ...]
    tmp_dir: str
    title: str
    timeout: float = 180.0
    #: also return every word OCR read, with its confidence and place (incoming mail routes
    #: letters by them: esak.mail)
    words: bool = False


@dataclass(frozen=True)
class DocumentResult:
    key: str
    output: str | None
    pages: int
    sha256: str | None
    size: int
    pdfa: str | None
    text_chars: int
    #: (position within the document, household text) of pages whose printed text says
    #: AKTENDECKBLATT: a cover sheet whose barcode could not be read.
    text_covers: tuple[tuple[int, str], ...]
    error: str | None
    #: The error is not about this document but stops the run: "dependency" (a program is
    #: missing) or "disk-full".
    fatal: str | None
    seconds: float
    #: Which OCR made it: "tesseract" (scan kept as delivered) or "ocrmypdf".
    engine: str | None = None
    #: Per page of the document, the clockwise degrees its display was turned from the
    #: delivered page's to show it upright (0: as delivered).
    rotations: tuple[int, ...] = ()
    #: Per page of the document, its OCR text (for the search index, esak.index.texts).
    page_texts: tuple[str, ...] = ()
    #: With ``DocumentTask.words``: the words OCR read, page by page (confidence -1 where
    #: the OCRmyPDF path made the text).
    words: tuple[OcrWord, ...] = ()

    @classmethod
    def failure(
        cls, key: str, message: str, fatal: str | None = None, seconds: float = 0.0
    ) -> DocumentResult:
        return cls(key, None, 0, None, 0, None, 0, (), message, fatal, seconds)


def _image_page_pdf(img: Image.Image, dpi: float) -> bytes:
    """One lossless PDF page of a scanned image at its own resolution."""
    if has_alpha(img):
        img = on_white_paper(img)
    elif img.mode not in ("1", "L", "RGB"):
        img = img.convert("RGB")
    buf = io.BytesIO()
    if img.mode == "1":
        img.save(buf, format="TIFF", compression="group4", dpi=(dpi, dpi))
    else:
        img.save(buf, format="PNG", dpi=(round(dpi), round(dpi)))
    layout = img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))
    return img2pdf.convert(buf.getvalue(), layout_fun=layout, nodate=True)


def _page_pdf_as_is(path: Path) -> bytes:
    """A JPEG, or a PNG img2pdf can take (see ``_png_as_it_is``), goes into the PDF with its
    compressed data as it is: re-encoding a JPEG loses quality, re-encoding a PNG costs about
    0.3 s of CPU for a grey A4 page at 300 dpi."""
    with Image.open(path) as img:
        dpi = _image_dpi(img)
    layout = img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))
    return img2pdf.convert(str(path), layout_fun=layout, nodate=True)


def _png_as_it_is(path: Path) -> bool:
    """Whether img2pdf can take the PNG's compressed data as it is: 1, 8 bits grey, RGB or a
    palette, not interlaced, nothing transparent."""
    with Image.open(path) as img:
        return (
            img.mode in ("1", "L", "RGB", "P")
            and not img.info.get("interlace")
            and "transparency" not in img.info
        )


def _assemble_input(task: DocumentTask, target: Path) -> None:
    """The document's pages, unchanged, as one PDF for OCR."""
    out = pikepdf.new()
    if task.format in (InputFormat.PDF, InputFormat.HOUSEHOLD_PDF):
        # Through a file handle: pikepdf refuses a path with bytes that are not UTF-8.
        with open(task.source, "rb") as fh, pikepdf.open(fh) as src:
            for index in task.pages:
                out.pages.append(src.pages[index])
            out.save(target)
        return
    parts: list[pikepdf.Pdf] = []
    try:
        if task.format == InputFormat.IMAGE_FOLDER:
            assert task.files is not None
            for index in task.pages:
                path = Path(task.source) / task.files[index]
                kind = sniff(path)
                if kind == "jpeg" or (kind == "png" and _png_as_it_is(path)):
                    data = _page_pdf_as_is(path)
                else:
                    with Image.open(path) as img:
                        img.load()
                        data = _image_page_pdf(img, _image_dpi(img))
                parts.append(pikepdf.open(io.BytesIO(data)))
        else:
            with Image.open(task.source) as img:
                for index in task.pages:
                    img.seek(index)
                    img.load()
                    parts.append(pikepdf.open(io.BytesIO(_image_page_pdf(img, _image_dpi(img)))))
        for part in parts:
            out.pages.extend(part.pages)
        out.save(target)
    finally:
        for part in parts:
            part.close()


#: OCRmyPDF's sign for the counter-clockwise quarter turns that make a page upright.
_OCRMYPDF_TURNS = {"⬏": 90, "↻": 180, "⬑": 270}


class _Collect(logging.Handler):
    """OCRmyPDF's warnings, and the pages it turned (its INFO "will rotate" lines)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []
        #: page (from 1) → clockwise degrees its display was turned
        self.turned: dict[int, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            self.messages.append(message)
        elif "will rotate" in message and isinstance(getattr(record, "pageno", None), int):
            turn = _OCRMYPDF_TURNS.get(message.rstrip()[-1:], 0)
            self.turned[record.pageno] = (360 - turn) % 360  # type: ignore[attr-defined]


def build_document(task: DocumentTask) -> DocumentResult:
    """OCR one document's pages into a PDF/A-2b with a text layer, under the tmp folder."""
    tmp_dir = Path(task.tmp_dir)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    with _temp_files_in(tmp_dir):
        return _build_document(task, tmp_dir)


@contextlib.contextmanager
def _temp_files_in(folder: Path) -> Iterator[None]:
    """OCR's intermediates (a page image each, OCRmyPDF's ~100 MB a page) go under the
    workspace, not /tmp; the caller's TMPDIR is restored afterwards (a TMPDIR deep in a
    workspace left behind made Chromium's socket path too long in the same process)."""
    old_env, old_tempdir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = str(folder)
    try:
        yield
    finally:
        tempfile.tempdir = old_tempdir
        if old_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = old_env


def _build_document(task: DocumentTask, tmp_dir: Path) -> DocumentResult:
    started = time.monotonic()
    fd, name = tempfile.mkstemp(prefix="doc-", suffix=".pdf", dir=tmp_dir)
    os.close(fd)
    output = Path(name)
    source_pdf = output.with_suffix(".in.pdf")
    sidecar = output.with_suffix(".txt")
    work = output.with_suffix(".d")
    collector = _Collect()
    log = logging.getLogger("ocrmypdf")
    # Set for this task and put back after it: a worker process lives on for other tasks.
    saved = log.level, log.propagate
    log.addHandler(collector)
    log.setLevel(logging.INFO)
    log.propagate = False

    def failed(message: str, fatal: str | None = None) -> DocumentResult:
        output.unlink(missing_ok=True)
        return DocumentResult.failure(task.key, message, fatal, time.monotonic() - started)

    try:
        fault("worker-doc")
        _assemble_input(task, source_pdf)
        texts: list[str] | None = None
        tables: list[str] = []
        engine = "tesseract"
        if ocr_engine() == "tesseract":
            work.mkdir(exist_ok=True)
            try:
                texts, tables = _ocr_direct(task, source_pdf, output, work)
            except NotScanned as why:
                # Not a plain scan (text on it already, drawings, masks, colours PDF/A
                # cannot take as they are): OCRmyPDF's pipeline takes the whole document.
                logging.getLogger(__name__).info("%s goes to OCRmyPDF: %s", task.key, why)
        if texts is None:
            engine = "ocrmypdf"
            _ocr_with_ocrmypdf(task, source_pdf, output, sidecar)
            if any("took too long" in m for m in collector.messages):
                # OCRmyPDF keeps going without text for that page; a page without its text
                # layer is not archived silently: the document is tried again, then set aside.
                return failed(f"Tesseract took longer than {task.timeout:.0f} s on a page")
            texts = sidecar.read_text(encoding="utf-8", errors="replace").split("\f")
        with pikepdf.open(output) as pdf, pikepdf.open(source_pdf) as delivered:
            pdfa = pdf.open_metadata().pdfa_status
            pages = len(pdf.pages)
            # The direct path turns a page with /Rotate; OCRmyPDF turns its content and says so.
            rotations = tuple(
                collector.turned.get(number, 0)
                if engine == "ocrmypdf"
                else (_rotate(page) - _rotate(before)) % 360
                for number, (page, before) in enumerate(
                    zip(pdf.pages, delivered.pages, strict=False), 1
                )
            )
        if not pdfa.startswith("2"):
            return failed(f"{engine} did not produce PDF/A-2 (got {pdfa or 'plain PDF'})")
        if pages != len(task.pages):
            return failed(f"OCR output has {pages} pages, expected {len(task.pages)}")
        return DocumentResult(
            key=task.key,
            output=str(output),
            pages=pages,
            sha256=sha256_file(output),
            size=output.stat().st_size,
            pdfa=pdfa,
            text_chars=sum(len(t.strip()) for t in texts),
            text_covers=find_text_covers(texts),
            error=None,
            fatal=None,
            seconds=time.monotonic() - started,
            engine=engine,
            rotations=rotations,
            page_texts=tuple(t.strip() for t in texts[:pages]),
            words=_words(texts[:pages], tables) if task.words else (),
        )
    except MissingProgram as exc:
        return failed(f"a program OCR needs is missing: {exc}", fatal="dependency")
    except OcrTimeout as exc:
        return failed(str(exc))
    except OcrError as exc:
        if disk_is_full(tmp_dir):
            return failed("no space left on the workspace's disk", fatal="disk-full")
        return failed(f"OCR failed: {exc}")
    except (pikepdf.PdfError, OSError, ValueError, img2pdf.ImageOpenError) as exc:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return failed("no space left on the workspace's disk", fatal="disk-full")
        return failed(f"document cannot be built: {type(exc).__name__}: {exc}")
    finally:
        log.removeHandler(collector)
        log.setLevel(saved[0])
        log.propagate = saved[1]
        source_pdf.unlink(missing_ok=True)
        sidecar.unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)


def _rotate(page: pikepdf.Page) -> int:
    try:
        return int(page.obj.get("/Rotate", 0)) % 360
    except (TypeError, ValueError):
        return 0


def _words(texts: list[str], tables: list[str]) -> tuple[OcrWord, ...]:
    """Every word of the document: from Tesseract's TSV where the direct path kept it, else
    from the page's text."""
    found: list[OcrWord] = []
    for page, text in enumerate(texts):
        table = tables[page] if page < len(tables) else ""
        found += words_from_tsv(table, page) if table else words_from_text(text, page)
    return tuple(found)


def _ocr_direct(
    task: DocumentTask, source_pdf: Path, output: Path, work: Path
) -> tuple[list[str], list[str]]:
    """Tesseract on each page's own image, the scan kept as delivered; NotScanned if not."""
    keep: list[pikepdf.Pdf] = []
    try:
        with pikepdf.open(source_pdf) as pdf:
            pages = ocr_scanned_pages(pdf, work, "+".join(task.languages), task.timeout, keep)
            save_pdfa(pdf, output, task.title)
    finally:
        for text in keep:
            text.close()
    return [p.text for p in pages], [p.tsv for p in pages]


def _ocr_with_ocrmypdf(task: DocumentTask, source_pdf: Path, output: Path, sidecar: Path) -> None:
    # Imported here: most workers never need OCRmyPDF, and importing it costs each of them
    # about a second of CPU.
    import ocrmypdf
    from ocrmypdf.exceptions import ExitCodeException, MissingDependencyError

    try:
        ocrmypdf.ocr(
            source_pdf,
            output,
            language=list(task.languages),
            output_type="pdfa-2",
            # Scans may carry a scanner's OCR layer; we always make our own German one.
            force_ocr=True,
            rotate_pages=True,
            deskew=DESKEW,
            jobs=1,
            optimize=0,
            # Linearising ("fast web view") rewrites every file over 1 MB; the archive is
            # read whole, from a local disk.
            fast_web_view=1e6,
            progress_bar=False,
            sidecar=sidecar,
            tesseract_timeout=task.timeout,
            title=task.title,
        )
    except MissingDependencyError as exc:
        raise MissingProgram(str(exc)) from exc
    except ExitCodeException as exc:
        raise OcrError(str(exc).strip() or type(exc).__name__) from exc


@dataclass(frozen=True)
class Engine:
    """The functions ingest runs in its workers, one per kind of job. Ingest always runs
    :data:`ENGINE`; only ``benchmarks/bench_scaling.py`` passes another
    (:data:`esak.synthetic.no_ocr.NO_OCR`), to measure the coordinator without OCR."""

    name: str
    count: Callable[[CountTask], CountResult]
    classify: Callable[[ClassifyTask], ClassifyResult]
    build: Callable[[DocumentTask], DocumentResult]


ENGINE = Engine("ocr", count_pages, classify_chunk, build_document)

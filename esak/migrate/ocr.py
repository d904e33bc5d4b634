"""OCR of scanned pages straight through Tesseract, with the scan kept as it was delivered.

A scanning service delivers pages that are one image each. For those, OCRmyPDF's pipeline
(rasterise, analyse, orientation pass, render, PDF/A conversion) costs about as much CPU as
Tesseract's recognition itself. Here each page's image goes to Tesseract once, which writes
an invisible text layer. Tesseract runs inside the worker process (tesserocr), with its model
loaded once per worker instead of once per page (``ESAK_TESSERACT=cli`` starts a ``tesseract``
process per page instead); the layer is laid over the page as it was delivered (the image is not
re-encoded), and pikepdf writes and validates the PDF/A-2b. The orientation check (Tesseract's
OSD pass) runs only for pages whose recognition looks like sideways or upside-down text.

Pages this path cannot take as they are (text already on them, drawings, masks, several
images, unusual colour or scaling) raise :class:`NotScanned`; the caller gives the document
to OCRmyPDF instead.
"""

from __future__ import annotations

import functools
import io
import os
import re
import shutil
import signal
import struct
import subprocess
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pikepdf
from PIL import Image

from esak.errors import DependencyError
from esak.faults import fault

#: Below this mean word confidence (0-100) a page's text may be turned: upright German
#: text scores about 90, text on its head or turned anticlockwise about 25.
SUSPECT_CONFIDENCE = 60.0
#: Tesseract reads text turned clockwise with good confidence but as vertical lines: a page
#: where most longer words are taller than wide is checked too.
SUSPECT_VERTICAL_SHARE = 0.5
#: Pages with fewer words say too little about their orientation to be turned.
MIN_WORDS = 5
#: A turned candidate is kept only when its recognition is clearly better.
GAIN = 10.0


class NotScanned(Exception):
    """The page is not a plain scanned image: the document goes to OCRmyPDF."""


class OcrError(Exception):
    """Tesseract failed on a page; the message says how."""


class OcrTimeout(OcrError):
    pass


class MissingProgram(Exception):
    """A program OCR needs is not installed; the run cannot go on."""


@dataclass
class Recognition:
    pdf: Path
    text: str
    confidence: float
    words: int
    vertical: float
    #: Tesseract's TSV of the page: every word with its confidence and box
    tsv: str = ""


@dataclass
class PageOcr:
    text: str
    rotate: int  # clockwise degrees the image was turned to read it
    checked_orientation: bool
    #: the TSV of the recognition kept (of the upright image)
    tsv: str = ""


@dataclass(frozen=True)
class OcrWord:
    """One word as Tesseract read it, with where it stands (small and picklable).

    ``page`` counts the document's pages from 0; ``line`` numbers the page's lines in reading
    order; the box is relative to the upright page (0..1, from its top left corner);
    ``conf`` is Tesseract's word confidence (0-100), -1 where it is not known (the text of
    the OCRmyPDF path)."""

    text: str
    conf: float
    page: int
    line: int
    left: float
    top: float
    right: float
    bottom: float


def words_from_tsv(tsv: str, page: int) -> list[OcrWord]:
    """The words of one page's TSV (level 5 rows), with boxes relative to the page."""
    width = height = 0
    lines: dict[tuple[str, str, str], int] = {}
    words: list[OcrWord] = []
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) != 12:
            continue
        try:
            left, top, w, h = (int(c) for c in cells[6:10])
            conf = float(cells[10])
        except ValueError:
            continue
        if cells[0] == "1":
            width, height = w, h
            continue
        text = cells[11].strip()
        if cells[0] != "5" or not text or width <= 0 or height <= 0:
            continue
        line = lines.setdefault((cells[2], cells[3], cells[4]), len(lines))
        words.append(
            OcrWord(text, max(conf, -1.0), page, line, left / width, top / height,
                    (left + w) / width, (top + h) / height)
        )  # fmt: skip
    return words


def words_from_text(text: str, page: int) -> list[OcrWord]:
    """Words of a page's plain text, without confidence or box (lines spread down the page)."""
    rows = [line.split() for line in text.splitlines() if line.strip()]
    words: list[OcrWord] = []
    for number, row in enumerate(rows):
        top = number / max(len(rows), 1)
        bottom = (number + 1) / max(len(rows), 1)
        for pos, word in enumerate(row):
            left = pos / max(len(row), 1)
            words.append(OcrWord(word, -1.0, page, number, left, top, left, bottom))
    return words


@dataclass(frozen=True)
class _Scan:
    """A page that is one image filling its media box."""

    image: pikepdf.Object
    x0: float
    y0: float
    width: float
    height: float
    dpi: float


def _number(obj: object) -> float:
    if isinstance(obj, int | float | Decimal):
        return float(obj)
    raise NotScanned("page content has a non-numeric operand")


def scanned_image(page: pikepdf.Page) -> _Scan:
    """The page's only image and where it is drawn, or NotScanned saying why not."""
    try:
        return _scanned_image(page)
    except NotScanned:
        raise
    except (pikepdf.PdfError, AttributeError, KeyError, IndexError, TypeError, ValueError) as exc:
        # A structure this check does not understand is OCRmyPDF's to judge.
        raise NotScanned(f"page structure not understood: {type(exc).__name__}") from exc


def _scanned_image(page: pikepdf.Page) -> _Scan:
    if "/Annots" in page.obj:
        raise NotScanned("page has annotations")
    resources = page.obj.get("/Resources", pikepdf.Dictionary())
    if "/Font" in resources and len(resources.Font) > 0:
        raise NotScanned("page already carries text")
    xobjects = resources.get("/XObject", pikepdf.Dictionary())
    ops = [(list(i.operands), str(i.operator)) for i in pikepdf.parse_content_stream(page)]
    if [op for _, op in ops] != ["q", "cm", "Do", "Q"]:
        raise NotScanned("page content is more than one drawn image")
    a, b, c, d, e, f = (_number(x) for x in ops[1][0])
    name = ops[2][0][0]
    if len(xobjects.keys()) != 1 or name not in xobjects:
        raise NotScanned("page has other objects than its image")
    image = xobjects[name]
    if image.get("/Subtype") != pikepdf.Name.Image:
        raise NotScanned("page draws a form, not an image")
    for key in ("/SMask", "/Mask", "/Decode", "/ImageMask", "/Alternates", "/OC"):
        if key in image:
            raise NotScanned(f"image has {key}")
    if b != 0 or c != 0 or a <= 0 or d <= 0:
        raise NotScanned("image is turned or mirrored on the page")
    box = [float(v) for v in page.mediabox]
    width_pt, height_pt = box[2] - box[0], box[3] - box[1]
    if (
        abs(e - box[0]) > 1
        or abs(f - box[1]) > 1
        or abs(a - width_pt) > 1
        or abs(d - height_pt) > 1
    ):
        raise NotScanned("image does not fill the page")
    px_w, px_h = int(image.Width), int(image.Height)
    dpi_x, dpi_y = px_w * 72 / a, px_h * 72 / d
    if abs(dpi_x - dpi_y) > 0.01 * dpi_x or not 70 <= dpi_x <= 1200:
        raise NotScanned(f"image resolution {dpi_x:.0f} x {dpi_y:.0f} dpi")
    return _Scan(image, e, f, a, d, dpi_x)


def flate_as_png(image: pikepdf.Object) -> bytes | None:
    """A Flate image with PNG predictors as a PNG file: its compressed data is a PNG's IDAT
    as it is. None: not such an image (other filters, bit depths, colours)."""
    params = image.get("/DecodeParms")
    if image.get("/Filter") != pikepdf.Name.FlateDecode or not isinstance(
        params, pikepdf.Dictionary
    ):
        return None
    width, height = int(image.Width), int(image.Height)
    bits = int(image.get("/BitsPerComponent", 8))
    colours = int(params.get("/Colors", 1))
    if (int(params.get("/Predictor", 1)) < 10 or int(params.get("/Columns", 1)) != width
            or int(params.get("/BitsPerComponent", 8)) != bits or bits not in (1, 8)
            or colours not in (1, 3) or (bits == 1 and colours != 1)):  # fmt: skip
        return None
    # A PNG's pixels are grey or RGB: a palette (Indexed), a Separation's tints or Lab
    # values would be read as something else.
    space = image.get("/ColorSpace")
    if isinstance(space, pikepdf.Array):
        if (len(space) != 2 or space[0] != pikepdf.Name.ICCBased
                or not isinstance(space[1], pikepdf.Stream)
                or int(space[1].get("/N", 0)) != colours):  # fmt: skip
            return None
    elif space != (pikepdf.Name.DeviceRGB if colours == 3 else pikepdf.Name.DeviceGray):
        return None

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))  # fmt: skip

    header = struct.pack(">IIBBBBB", width, height, bits, 0 if colours == 1 else 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", image.read_raw_bytes()) + chunk(b"IEND", b""))  # fmt: skip


def _plain_g4(image: pikepdf.Object) -> bool:
    """A CCITT Group 4 image without byte alignment (what scanners write for bilevel pages):
    pikepdf wraps its data in a TIFF as it is, /BlackIs1 as the TIFF's photometric."""
    params = image.get("/DecodeParms")
    if image.get("/Filter") not in (pikepdf.Name.CCITTFaxDecode,
                                    pikepdf.Array([pikepdf.Name.CCITTFaxDecode])):  # fmt: skip
        return False
    if isinstance(params, pikepdf.Array):
        params = params[0] if len(params) == 1 else None
    if not isinstance(params, pikepdf.Dictionary) or image.get("/ColorSpace") != (
        pikepdf.Name.DeviceGray
    ):
        return False
    return (
        int(params.get("/K", 0)) < 0
        and not bool(params.get("/EncodedByteAlign", False))
        # The TIFF takes its size from the image; the stream's own width must agree.
        and int(params.get("/Columns", 1728)) == int(image.Width)
    )


def _image_file(scan: _Scan, base: Path, *, as_is: bool = True) -> Path:
    """The image as a file Tesseract reads: JPEG and (``as_is``) a Flate image with PNG
    predictors (as a PNG) and a Group 4 image (as a TIFF) with their data as it is, anything
    else decoded and written as PNM (no encoding). Leptonica reads PNM slowly: handing
    Tesseract the PNG made its page 17 % cheaper (876 -> 725 ms CPU, grey A4 at 300 dpi),
    the TIFF 8 % (400 -> 368 ms, bilevel), with the same pixels and the same text."""
    if as_is:
        png = flate_as_png(scan.image)
        if png is not None:
            target = base.with_suffix(".png")
            target.write_bytes(png)
            return target
        if _plain_g4(scan.image):
            return Path(pikepdf.PdfImage(scan.image).extract_to(fileprefix=str(base)))
    filters = scan.image.get("/Filter")
    colourspace = scan.image.get("/ColorSpace")
    if filters == pikepdf.Name.DCTDecode and colourspace in (
        pikepdf.Name.DeviceGray,
        pikepdf.Name.DeviceRGB,
    ):
        target = base.with_suffix(".jpg")
        target.write_bytes(scan.image.read_raw_bytes())
        return target
    try:
        img = pikepdf.PdfImage(scan.image).as_pil_image()
    except Exception as exc:
        # Any image pikepdf cannot decode (JBIG2, odd bit depths) is OCRmyPDF's; an OSError
        # with an errno is the disk, not the image.
        if isinstance(exc, OSError) and exc.errno is not None:
            raise
        raise NotScanned(f"image cannot be decoded here: {type(exc).__name__}") from exc
    with img:
        plain = img.convert("RGB") if img.mode == "P" else img
        if plain.mode not in ("1", "L", "RGB"):
            raise NotScanned(f"image mode {plain.mode}")
        target = base.with_suffix(".pnm")
        plain.save(target, format="PPM")
    return target


def _env() -> dict[str, str]:
    # One page is one process on one core: the workers are the parallelism.
    return {**os.environ, "OMP_THREAD_LIMIT": "1"}


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess[bytes]:
    try:
        done = subprocess.run(args, capture_output=True, timeout=timeout, env=_env(), check=False)
    except FileNotFoundError as exc:
        raise MissingProgram(args[0]) from exc
    except subprocess.TimeoutExpired as exc:
        raise OcrTimeout(f"Tesseract took longer than {timeout:.0f} s on a page") from exc
    if done.returncode != 0:
        if done.returncode < 0:
            how = f"killed by {signal.Signals(-done.returncode).name}"
        else:
            how = f"exit code {done.returncode}"
        tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise OcrError(f"Tesseract failed ({how}) {tail[0]}".strip())
    return done


def _words(tsv: str) -> tuple[float, int, float]:
    """Mean word confidence, number of words, share of longer words taller than wide."""
    confs: list[float] = []
    long_words = vertical = 0
    for line in tsv.splitlines()[1:]:
        cells = line.split("\t")
        if len(cells) != 12 or cells[0] != "5" or not cells[11].strip():
            continue
        try:
            conf = float(cells[10])
            w, h = int(cells[8]), int(cells[9])
        except ValueError:
            continue
        if conf < 0:
            continue
        confs.append(conf)
        if len(cells[11].strip()) >= 3:
            long_words += 1
            vertical += h > w
    mean = sum(confs) / len(confs) if confs else 0.0
    return mean, len(confs), vertical / long_words if long_words else 0.0


def recognise(image: Path, base: Path, languages: str, dpi: float, timeout: float) -> Recognition:
    """Tesseract's invisible text layer (a one-page PDF) and text for one page image; on
    failure nothing of what Tesseract wrote is left beside ``base``."""
    try:
        return _recognise(image, base, languages, dpi, timeout)
    except OcrError:
        for written in (".pdf", ".txt", ".tsv"):
            base.with_suffix(written).unlink(missing_ok=True)
        raise


def _recognise(image: Path, base: Path, languages: str, dpi: float, timeout: float
               ) -> Recognition:  # fmt: skip
    if reader() == "api":
        table = _api_recognise(image, base, languages, dpi, timeout)
    else:
        _run(
            ["tesseract", str(image), str(base), "-l", languages, "--dpi", str(round(dpi)),
             "-c", "textonly_pdf=1", "pdf", "txt", "tsv"],
            timeout,
        )  # fmt: skip
        tsv = base.with_suffix(".tsv")
        table = tsv.read_text(encoding="utf-8", errors="replace") if tsv.exists() else ""
        tsv.unlink(missing_ok=True)
    pdf, txt = base.with_suffix(".pdf"), base.with_suffix(".txt")
    if not pdf.exists():
        raise OcrError("Tesseract wrote no text layer")
    text = txt.read_text(encoding="utf-8", errors="replace")
    confidence, words, vertical = _words(table)
    txt.unlink(missing_ok=True)
    return Recognition(pdf, text, confidence, words, vertical, table)


def orientation(image: Path, dpi: float, timeout: float) -> int:
    """Clockwise degrees that turn the image upright, by Tesseract's OSD; 0 when it cannot say."""
    if reader() == "api":
        return _api_orientation(image, dpi)
    try:
        done = _run(
            ["tesseract", str(image), "stdout", "-l", "osd", "--psm", "0",
             "--dpi", str(round(dpi))],
            timeout,
        )  # fmt: skip
    except OcrTimeout:
        raise
    except OcrError:
        return 0  # "Too few characters": nothing to turn by
    for line in done.stdout.decode("utf-8", "replace").splitlines():
        if line.startswith("Rotate:"):
            try:
                return int(line.split(":", 1)[1]) % 360
            except ValueError:
                return 0
    return 0


# --- Tesseract in the worker process ----------------------------------------------------------

#: ``ESAK_TESSERACT=cli`` reads plain scans with a ``tesseract`` process per page (Debian's)
#: instead of Tesseract inside the worker (tesserocr): for comparison, and for machines
#: without the tesserocr wheel.
READER_ENV = "ESAK_TESSERACT"
#: An API object is ended and made again after this many pages, so that whatever Tesseract
#: keeps between pages cannot grow without bound in a worker that runs all night.
RECYCLE_PAGES = 200
#: Header of Tesseract's TSV (the API returns the rows without it).
TSV_HEADER = (
    "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\t"
    "left\ttop\twidth\theight\tconf\ttext\n"
)

_local = threading.local()


def reader() -> str:
    """``"api"`` (tesserocr in this process, the default) or ``"cli"``."""
    return "cli" if os.environ.get(READER_ENV, "").strip().lower() == "cli" else "api"


@functools.cache
def tessdata() -> str:
    """The folder of the installed language data (Debian's, as the ``tesseract`` CLI has it)."""
    prefix = os.environ.get("TESSDATA_PREFIX")
    if prefix:
        return str(Path(prefix)) + "/"
    try:
        out = subprocess.run(
            ["tesseract", "--list-langs"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise MissingProgram("tesseract") from exc
    match = re.search(r'"([^"]+)"', out)
    if not match:
        raise MissingProgram("tesseract")
    return match.group(1).rstrip("/") + "/"


@dataclass
class _Api:
    api: Any
    pages: int = 0


def _get_api(key: str, make: Callable[[], Any]) -> Any:
    """This thread's API object for ``key``, made on first use and again every RECYCLE_PAGES
    pages (Tesseract objects are not to be shared between threads)."""
    apis: dict[str, _Api] = _local.__dict__.setdefault("apis", {})
    held = apis.get(key)
    if held is not None and held.pages >= RECYCLE_PAGES:
        held.api.End()
        held = None
    if held is None:
        held = apis[key] = _Api(make())
    held.pages += 1
    return held.api


def _tesserocr() -> Any:
    try:
        import tesserocr
    except ImportError as exc:
        raise MissingProgram("tesserocr") from exc
    return tesserocr


def _text_api(languages: str) -> Any:
    tesserocr = _tesserocr()

    def make() -> Any:
        # The CLI's defaults: automatic page segmentation, the model's own engine mode.
        api = tesserocr.PyTessBaseAPI(path=tessdata(), lang=languages, psm=tesserocr.PSM.AUTO)
        for name, value in (
            ("tessedit_create_pdf", "1"),
            ("tessedit_create_txt", "1"),
            ("textonly_pdf", "1"),
        ):
            if not api.SetVariable(name, value):
                raise OcrError(f"Tesseract does not know the setting {name}")
        return api

    return _get_api(f"text:{languages}", make)


def _api_recognise(image: Path, base: Path, languages: str, dpi: float, timeout: float) -> str:
    """Writes ``base``.pdf (text only) and .txt as the CLI would; returns the page's TSV."""
    api = _text_api(languages)
    fault("tesseract-page")  # a crash inside Tesseract takes its worker process with it
    api.SetVariable("user_defined_dpi", str(round(dpi)))
    started = time.monotonic()
    try:
        done = api.ProcessPages(str(base), str(image), timeout=max(1, round(timeout * 1000)))
    except RuntimeError as exc:
        raise OcrError(f"Tesseract failed: {exc}") from exc
    if not done:
        base.with_suffix(".pdf").unlink(missing_ok=True)
        if time.monotonic() - started >= timeout * 0.95:
            raise OcrTimeout(f"Tesseract took longer than {timeout:.0f} s on a page")
        raise OcrError("Tesseract failed on the page (it could not read the image)")
    # The recognition the renderers wrote is still held: its TSV costs no second pass.
    table = TSV_HEADER + api.GetTSVText(0)
    api.Clear()
    return table


def _api_orientation(image: Path, dpi: float) -> int:
    tesserocr = _tesserocr()
    api = _get_api(
        "osd",
        lambda: tesserocr.PyTessBaseAPI(path=tessdata(), lang="osd", psm=tesserocr.PSM.OSD_ONLY),
    )
    api.SetVariable("user_defined_dpi", str(round(dpi)))
    api.SetImageFile(str(image))
    found = api.DetectOrientationScript()
    api.Clear()
    if not found:
        return 0  # too few characters: nothing to turn by
    # Tesseract names the orientation the text is in; the CLI's "Rotate:" is what undoes it.
    return (360 - int(found["orient_deg"])) % 360


@functools.cache
def cli_version() -> str:
    """The first line of ``tesseract --version`` (e.g. ``tesseract 5.3.0``), or "missing"."""
    try:
        done = subprocess.run(
            ["tesseract", "--version"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return "missing"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0] if lines else "missing"


def reader_version() -> str:
    """The Tesseract that reads plain scans: the library's or the CLI's version line."""
    if reader() == "cli":
        return cli_version()
    try:
        tesserocr = _tesserocr()
    except MissingProgram:
        return "missing"
    return f"tesserocr {tesserocr.__version__}: {tesserocr.tesseract_version().splitlines()[0]}"


def read_line(image: Path, languages: str, dpi: float, allowed: str, timeout: float) -> str:
    """One line of an image read again on its own (``--psm 7``), only the characters
    ``allowed`` (Tesseract's whitelist): a second reading to check a first one by; "" when
    Tesseract reads nothing."""
    done = _run(
        ["tesseract", str(image), "stdout", "-l", languages, "--psm", "7",
         "--dpi", str(round(dpi)), "-c", f"tessedit_char_whitelist={allowed}"],
        timeout,
    )  # fmt: skip
    return done.stdout.decode("utf-8", "replace").strip()


def _suspect(rec: Recognition) -> bool:
    if rec.words < MIN_WORDS:
        return False
    return rec.confidence < SUSPECT_CONFIDENCE or rec.vertical > SUSPECT_VERTICAL_SHARE


def _better(turned: Recognition, first: Recognition) -> bool:
    """Whether the turned page reads better: clearly more confident, or as confident with
    its lines now horizontal (Tesseract reads clockwise-turned text well, as vertical lines)."""
    if turned.confidence >= first.confidence + GAIN:
        return True
    return (
        first.vertical > SUSPECT_VERTICAL_SHARE
        and turned.vertical <= SUSPECT_VERTICAL_SHARE
        and turned.confidence >= first.confidence - GAIN / 2
    )


_TRANSPOSE = {
    90: Image.Transpose.ROTATE_270,  # PIL turns anticlockwise
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


def _overlay_matrix(scan: _Scan, text_box: list[float], rotate: int) -> list[float]:
    """Maps the text layer of the upright image onto the image as it lies on the page."""
    tw, th = text_box[2] - text_box[0], text_box[3] - text_box[1]
    w, h, x0, y0 = scan.width, scan.height, scan.x0, scan.y0
    if rotate == 0:
        return [w / tw, 0, 0, h / th, x0, y0]
    if rotate == 90:
        return [0, h / tw, -w / th, 0, x0 + w, y0]
    if rotate == 180:
        return [-w / tw, 0, 0, -h / th, x0 + w, y0 + h]
    return [0, -h / tw, w / th, 0, x0, y0 + h]


def _graft(
    pdf: pikepdf.Pdf, page: pikepdf.Page, text: pikepdf.Pdf, scan: _Scan, rotate: int
) -> None:
    text_page = text.pages[0]
    box = [float(v) for v in text_page.mediabox]
    form = pdf.copy_foreign(text_page.as_form_xobject())
    name = page.add_resource(form, pikepdf.Name.XObject, prefix="OCR")
    matrix = " ".join(f"{v:.6f}" for v in _overlay_matrix(scan, box, rotate))
    page.contents_add(pdf.make_stream(f"q {matrix} cm {name} Do Q".encode()), prepend=False)
    if rotate or "/Rotate" in page.obj:
        # What the page shows is what Tesseract read upright; a scanner's own /Rotate that
        # showed readable text sideways is replaced.
        page.obj.Rotate = rotate


def ocr_scanned_pages(
    pdf: pikepdf.Pdf,
    work: Path,
    languages: str,
    timeout: float,
    keep: list[pikepdf.Pdf],
) -> list[PageOcr]:
    """Adds a text layer to every page of ``pdf`` in place; raises NotScanned if a page is not
    a plain scan (decided for all pages before any OCR, except for images that turn out not to
    decode), OcrError/OcrTimeout if Tesseract fails.

    The text layers' own PDFs are appended to ``keep``: pikepdf copies stream data from them
    only when ``pdf`` is saved, so the caller closes them after saving."""
    scans = [scanned_image(page) for page in pdf.pages]  # decide before spending CPU
    results: list[PageOcr] = []
    for index, (page, scan) in enumerate(zip(pdf.pages, scans, strict=True)):
        base = work / f"p{index:04d}"
        image = _image_file(scan, base)
        try:
            try:
                rec = recognise(image, base, languages, scan.dpi, timeout)
            except OcrTimeout:
                raise
            except OcrError:
                if image.suffix not in (".png", ".tif"):
                    raise
                # A damaged stream Tesseract cannot read: decoded here instead, so that an
                # image that does not decode goes to OCRmyPDF (NotScanned) as it always did.
                image.unlink(missing_ok=True)
                image = _image_file(scan, base, as_is=False)
                rec = recognise(image, base, languages, scan.dpi, timeout)
            rotate, checked = 0, False
            if _suspect(rec):
                checked = True
                rotate = orientation(image, scan.dpi, timeout)
                if rotate:
                    turned = base.with_name(base.name + "-turned")
                    with Image.open(image) as img:
                        img.transpose(_TRANSPOSE[rotate]).save(turned.with_suffix(".pnm"), "PPM")
                    better = recognise(
                        turned.with_suffix(".pnm"), turned, languages, scan.dpi, timeout
                    )
                    turned.with_suffix(".pnm").unlink(missing_ok=True)
                    if _better(better, rec):
                        rec.pdf.unlink(missing_ok=True)
                        rec = better
                    else:
                        better.pdf.unlink(missing_ok=True)
                        rotate = 0
            keep.append(pikepdf.open(io.BytesIO(rec.pdf.read_bytes())))
            rec.pdf.unlink(missing_ok=True)
            _graft(pdf, page, keep[-1], scan, rotate)
            results.append(PageOcr(rec.text, rotate, checked, rec.tsv))
        finally:
            image.unlink(missing_ok=True)
    return results


def save_pdfa(pdf: pikepdf.Pdf, target: Path, title: str) -> None:
    """Writes PDF/A-2b, validated by pikepdf after writing; NotScanned if it is not approved."""
    import pikepdf.pdfa

    with pdf.open_metadata(set_pikepdf_as_editor=False) as meta:
        meta["dc:title"] = title
        meta["xmp:CreatorTool"] = "esak"
    try:
        pikepdf.pdfa.save(pdf, target, "2b")
    except pikepdf.pdfa.PdfaError as exc:
        findings = "; ".join(str(f) for f in exc.report.findings[:3])
        raise NotScanned(f"not approved as PDF/A-2b: {findings}") from exc


def disk_is_full(folder: Path, need: int = 64 << 20) -> bool:
    try:
        return shutil.disk_usage(folder).free < need
    except OSError:
        return False


def check_dependencies(languages: tuple[str, ...]) -> None:
    """Fail early, with the apt line, if Tesseract or a language pack is missing."""
    if shutil.which("tesseract") is None:
        raise DependencyError(
            "Tesseract is not installed", "apt-get install tesseract-ocr tesseract-ocr-deu"
        )
    if reader() == "api":
        try:
            _tesserocr()
        except MissingProgram:
            raise DependencyError(
                "tesserocr (Tesseract inside the worker) is not installed",
                f"pip install tesserocr, or run with {READER_ENV}=cli",
            ) from None
    out = subprocess.run(
        ["tesseract", "--list-langs"], capture_output=True, text=True, check=False
    ).stdout
    have = set(out.split())
    missing = [lang for lang in languages if lang not in have]
    if missing:
        packages = " ".join(f"tesseract-ocr-{m.replace('_', '-')}" for m in missing)
        raise DependencyError(
            f"Tesseract has no language data for {', '.join(missing)}",
            f"apt-get install {packages}",
        )

"""Reading scanned pages: PDFs, multi-page TIFFs, single images and folders of images.

Pages are rasterised one at a time and handed out as 8-bit grey images, so a 500-page
batch never sits in memory or on disk as a whole. The file type is decided by the bytes,
not by the name: a delivery may hold anything under any name.
"""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pikepdf
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
from PIL import Image, UnidentifiedImageError

from esak.errors import InputError, redeliver
from esak.files import display_name, natural_key, sniff

#: Pixels one page may have when decoded. 120 MP is an A3 page at 800 dpi; more than that is a
#: broken file or a decompression bomb (a tiny PNG claiming 40000x40000 pixels).
MAX_PAGE_PIXELS = 120_000_000
#: Pixels we rasterise a PDF page to at most; huge page sizes are rendered at a lower
#: resolution instead of filling memory.
MAX_RENDER_PIXELS = 40_000_000
#: A page side longer than this (in mm) is no scan of a case file (A0 is 1189 mm).
MAX_PAGE_SIDE_MM = 1500.0

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff"}
PDF_SUFFIXES = {".pdf"}

# Pillow only warns between 1x and 2x its limit; we want a hard stop at our own limit.
Image.MAX_IMAGE_PIXELS = MAX_PAGE_PIXELS


@dataclass
class PageImage:
    """One rasterised page: an 8-bit grey image and the resolution it was made at."""

    index: int
    image: Image.Image
    dpi: float
    #: The page's physical size in millimetres (width, height), as far as it is known.
    size_mm: tuple[float, float]


_SUFFIX_TYPES = {
    ".pdf": {"pdf"},
    ".tif": {"tiff"},
    ".tiff": {"tiff"},
    ".png": {"png"},
    ".jpg": {"jpeg"},
    ".jpeg": {"jpeg"},
}


def has_alpha(img: Image.Image) -> bool:
    return img.mode in ("LA", "RGBA", "PA") or (img.mode == "P" and "transparency" in img.info)


def on_white_paper(img: Image.Image) -> Image.Image:
    """An RGB image with any transparency laid on white paper, as a scanner would see it."""
    rgba = img.convert("RGBA")
    paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(paper, rgba).convert("RGB")


def to_grey(img: Image.Image) -> Image.Image:
    """An 8-bit grey version of any Pillow image; transparency is laid on white paper.

    Works in grey and in slices, so that a page at the pixel limit (120 MP) costs a few
    hundred MB beyond its own pixels, not several GB.
    """
    if has_alpha(img):
        # Composited in grey: going through RGBA and RGB costs four full-size copies.
        if img.mode not in ("LA", "RGBA"):
            img = img.convert("RGBA")
        grey, alpha = img.convert("L"), img.getchannel("A")
        paper = Image.new("L", img.size, 255)
        paper.paste(grey, mask=alpha)
        return paper
    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        return _deep_to_grey(img)
    if img.mode == "L":
        return img
    return img.convert("L")


def _deep_to_grey(img: Image.Image) -> Image.Image:
    """16- and 32-bit grey scaled to 8 bits (the brightest pixel becomes white)."""
    arr = np.asarray(img)
    with np.errstate(invalid="ignore", over="ignore"):
        top = float(np.nanmax(arr)) if arr.size and not np.isnan(arr).all() else 0.0
    scale = 255.0 / top if math.isfinite(top) and top > 0 else 1.0
    out = np.empty(arr.shape, dtype=np.uint8)
    step = max(1, (1 << 22) // max(1, arr.shape[1]))  # about 4 M pixels a slice
    for start in range(0, arr.shape[0], step):
        block = arr[start : start + step].astype(np.float32)
        np.nan_to_num(block, copy=False, nan=0.0, posinf=255.0, neginf=0.0)
        block *= scale
        np.clip(block, 0, 255, out=block)
        out[start : start + step] = block
    return Image.fromarray(out, "L")


def _image_dpi(img: Image.Image) -> float:
    """The resolution an image says it has; 300 when it says nothing believable."""
    dpi = img.info.get("dpi")
    try:
        value = float(dpi[0]) if dpi else 0.0
    except (TypeError, ValueError, IndexError):
        value = 0.0
    return value if 50.0 <= value <= 2400.0 else 300.0


class PageSource:
    """Pages of one input: a file or a folder of images. Use as a context manager."""

    path: Path
    format: str
    page_count: int
    #: Files in an image folder that are not page images; reported, never silently skipped.
    ignored: list[str]

    def pages(self, dpi: float = 300.0) -> Iterator[PageImage]:
        for index in range(self.page_count):
            yield self.page(index, dpi)

    def page(self, index: int, dpi: float = 300.0, *, scale_up: bool = True) -> PageImage:
        """Page ``index`` as a grey image of about ``dpi``. Image files come at their own
        resolution; a PDF page is rendered at ``dpi``, or (``scale_up=False``) a plain scan
        of less is given at its own, as image files are."""
        raise NotImplementedError  # pragma: no cover - abstract

    def close(self) -> None:
        pass

    def __enter__(self) -> PageSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PdfSource(PageSource):
    def __init__(self, path: Path) -> None:
        self.path = path
        self.format = "pdf"
        self.ignored = []
        try:
            self._doc = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as exc:
            # PDFium's error codes are unreliable (an empty PDF may say "password");
            # qpdf tells encrypted, empty and broken apart.
            state = _pdf_state(path)
            if state == "encrypted":
                raise InputError(
                    f"{display_name(path)}: the PDF is encrypted with a password",
                    "ask the scanning service for an unencrypted copy",
                ) from exc
            if state == "empty":
                raise InputError(
                    f"{display_name(path)}: the PDF has no pages",
                    redeliver(),
                ) from exc
            raise InputError(
                f"{display_name(path)}: the PDF cannot be read ({exc})",
                redeliver("the file is damaged or incomplete"),
            ) from exc
        self.page_count = len(self._doc)
        if self.page_count == 0:
            self._doc.close()
            raise InputError(
                f"{display_name(path)}: the PDF has no pages",
                redeliver(),
            )
        # The same file through qpdf, to take a plain scan's own image instead of rendering
        # it (see _scan); None: pikepdf cannot read it, PDFium renders every page.
        self._pike: pikepdf.Pdf | None = None
        try:
            self._pike = pikepdf.open(path)
        except (pikepdf.PdfError, OSError, ValueError):
            self._pike = None

    def page(self, index: int, dpi: float = 300.0, *, scale_up: bool = True) -> PageImage:
        try:
            page = self._doc[index]
            try:
                width_pt, height_pt = page.get_size()
                if page.get_rotation() in (90, 270):
                    width_pt, height_pt = height_pt, width_pt
                size_mm = (width_pt * 25.4 / 72.0, height_pt * 25.4 / 72.0)
                # Written so that NaN fails too.
                if not (width_pt > 0 and height_pt > 0):
                    raise InputError(
                        f"{display_name(self.path)}, page {index + 1}: the page has no size",
                        redeliver("the file is damaged"),
                    )
                if max(size_mm) > MAX_PAGE_SIDE_MM:
                    raise InputError(
                        f"{display_name(self.path)}, page {index + 1}: the page measures "
                        f"{size_mm[0]:.1f} x {size_mm[1]:.1f} mm, larger than any sheet of paper",
                        redeliver("the file is damaged"),
                    )
                self._check_images(page, index)
                scan = self._scan(index, dpi, scale_up)
                if scan is not None:
                    image, dpi = scan
                    return PageImage(index=index, image=image, dpi=dpi, size_mm=size_mm)
                # A huge page is rendered coarser rather than filling memory.
                pixels = (width_pt / 72.0 * dpi) * (height_pt / 72.0 * dpi)
                if pixels > MAX_RENDER_PIXELS:
                    dpi = dpi * (MAX_RENDER_PIXELS / pixels) ** 0.5
                bitmap = page.render(scale=dpi / 72.0, grayscale=True)
                try:
                    image = to_grey(bitmap.to_pil())
                    # to_pil shares the bitmap's buffer; copy before the bitmap goes.
                    image = image.copy()
                finally:
                    bitmap.close()
            finally:
                page.close()
        except pdfium.PdfiumError as exc:
            raise InputError(
                f"{display_name(self.path)}, page {index + 1}: the page cannot be rendered ({exc})",
                redeliver("the file is damaged"),
            ) from exc
        return PageImage(index=index, image=image, dpi=dpi, size_mm=size_mm)

    def _check_images(self, page: pdfium.PdfPage, index: int) -> None:
        """Refuse a page with an image of absurd pixel size before PDFium decodes it.

        PDFium decodes an image at its full size whatever the page size: a 3 KB PDF whose
        image claims 46000x46000 grey pixels costs 2 GB. Only the image's header is read here.
        """
        for obj in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]):
            width, height = obj.get_px_size()
            if width * height > MAX_PAGE_PIXELS:
                raise InputError(
                    f"{display_name(self.path)}, page {index + 1}: an image on the page claims "
                    f"{width}x{height} pixels, more than any scan has",
                    redeliver("a broken file or a decompression bomb"),
                )

    def _scan(self, index: int, dpi: float, scale_up: bool = True
              ) -> tuple[Image.Image, float] | None:  # fmt: skip
        """A plain scan's own pixels (one image filling the page: what scanning services
        deliver), decoded as they are, instead of a rendering of the page: the same pixels
        for less than half the CPU. Halved while that keeps at least ``dpi``, turned as the
        page's /Rotate shows it. None for every other page, and (``scale_up``) for a scan of
        less than ``dpi``: PDFium renders it, scaled up."""
        from esak.migrate.ocr import NotScanned, scanned_image

        if self._pike is None:
            return None
        try:
            page = self._pike.pages[index]
            scan = scanned_image(page)
            image = scan.image
            space = image.get("/ColorSpace")
            if isinstance(space, pikepdf.Array):
                icc = space[0] == pikepdf.Name.ICCBased and int(space[1].get("/N", 0)) in (1, 3)
                if not icc:
                    return None  # Indexed, Separation, Lab …: PDFium's colour handling
            elif space not in (pikepdf.Name.DeviceGray, pikepdf.Name.DeviceRGB):
                return None
            if int(image.get("/BitsPerComponent", 8)) not in (1, 8):
                return None
            if int(image.Width) * int(image.Height) > MAX_PAGE_PIXELS:
                return None  # refused by the render path with its message
            if scale_up and scan.dpi < dpi * 0.99:
                return None  # asked for more than the scan has: PDFium scales it up
            img = _png_predicted(image) or pikepdf.PdfImage(image).as_pil_image()
        except NotScanned:
            return None
        except Exception as exc:  # JBIG2, an odd filter: not ours to decode
            if isinstance(exc, OSError) and exc.errno is not None:
                raise
            return None
        img.load()
        grey = to_grey(img)
        native = scan.dpi
        while native / 2 >= dpi * 0.99:
            grey, native = grey.reduce(2), native / 2
        turn = int(page.obj.get("/Rotate", 0)) % 360
        if turn:
            # /Rotate turns the page clockwise for display, as PDFium renders it.
            transpose = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
                         270: Image.Transpose.ROTATE_90}.get(turn)  # fmt: skip
            if transpose is None:
                return None
            grey = grey.transpose(transpose)
        return grey, native

    def close(self) -> None:
        self._doc.close()
        if self._pike is not None:
            self._pike.close()


def _png_predicted(image: pikepdf.Object) -> Image.Image | None:
    """A Flate image with PNG predictors (what img2pdf and most scanners write for lossless
    scans) decoded by Pillow's PNG reader: its compressed data is a PNG's IDAT as it is (see
    :func:`esak.migrate.ocr.flate_as_png`), and zlib and libpng's unfiltering in C take half
    the time of qpdf's predictor. None: not such an image."""
    from esak.migrate.ocr import flate_as_png

    png = flate_as_png(image)
    if png is None:
        return None
    img = Image.open(io.BytesIO(png))
    img.load()
    return img


def _pdf_state(path: Path) -> str:
    """``encrypted``, ``empty`` or ``broken``, as qpdf sees the file."""
    try:
        # Opened by handle: pikepdf refuses a path whose name is not UTF-8 (TypeError).
        with open(path, "rb") as fh, pikepdf.open(fh) as pdf:
            return "empty" if len(pdf.pages) == 0 else "broken"
    except pikepdf.PasswordError:
        return "encrypted"
    except Exception:  # any other failure just means "not a readable PDF"
        return "broken"


#: What "damaged" looks like from Pillow: its decoders raise OSError, ValueError, SyntaxError,
#: but also TypeError, KeyError, IndexError, struct.error, EOFError, ... on damaged files (the
#: fuzz tests find them). Any of them in the coordinator would end the whole run with exit 70.
_DAMAGED = Exception


def _why(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, OSError | ValueError) else f"{type(exc).__name__}: {exc}"


def _open_image(path: Path) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(
            f"{display_name(path)}: the image claims more pixels than any scan has ({exc})",
            redeliver("a broken file or a decompression bomb"),
        ) from exc
    except UnidentifiedImageError as exc:
        raise InputError(
            f"{display_name(path)}: not a readable image",
            redeliver(),
        ) from exc
    except MemoryError:
        raise
    except _DAMAGED as exc:
        raise InputError(
            f"{display_name(path)}: the image cannot be read ({_why(exc)})",
            redeliver(),
        ) from exc
    return img


def _frame_to_page(path: Path, frame: Image.Image, index: int, frame_no: int) -> PageImage:
    width, height = frame.size
    if width * height > MAX_PAGE_PIXELS:
        raise InputError(
            f"{display_name(path)}, page {frame_no + 1}: the image claims {width}x{height} pixels, "
            "more than any scan has",
            redeliver("a broken file or a decompression bomb"),
        )
    dpi = _image_dpi(frame)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            frame.load()
            image = to_grey(frame)
            if image is frame:
                image = frame.copy()
    except MemoryError:
        raise
    except _DAMAGED as exc:
        raise InputError(
            f"{display_name(path)}, page {frame_no + 1}: the image data cannot be decoded "
            f"({_why(exc)})",
            redeliver("the file is damaged or truncated"),
        ) from exc
    size_mm = (width / dpi * 25.4, height / dpi * 25.4)
    return PageImage(index=index, image=image, dpi=dpi, size_mm=size_mm)


class ImageFileSource(PageSource):
    """A single image or a multi-page TIFF."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path = path
        self.format = fmt
        self.ignored = []
        self._img = _open_image(path)
        try:
            self.page_count = getattr(self._img, "n_frames", 1)
        except MemoryError:
            raise
        except _DAMAGED as exc:
            self._img.close()
            raise InputError(
                f"{display_name(path)}: the TIFF's page directory cannot be read ({_why(exc)})",
                redeliver("the file is damaged or truncated"),
            ) from exc
        if self.page_count < 1:
            self._img.close()
            raise InputError(
                f"{display_name(path)}: the image has no pages", "ask for a new delivery"
            )

    def page(self, index: int, dpi: float = 300.0, *, scale_up: bool = True) -> PageImage:
        try:
            self._img.seek(index)
        except MemoryError:
            raise
        except _DAMAGED as exc:
            raise InputError(
                f"{display_name(self.path)}, page {index + 1}: the page cannot be read "
                f"({_why(exc)})",
                redeliver("the file is damaged or truncated"),
            ) from exc
        return _frame_to_page(self.path, self._img, index, index)

    def close(self) -> None:
        self._img.close()


class ImageFolderSource(PageSource):
    """A folder of single-page images: one batch, pages in file-name order."""

    def __init__(self, path: Path, files: Sequence[str] | None = None) -> None:
        self.path = path
        self.format = "image-folder"
        if files is not None:
            # The delivery scan decided which files are this batch's pages.
            self.files = [path / name for name in files]
            self.ignored = []
        else:
            entries = sorted(path.iterdir(), key=lambda p: natural_key(p.name))
            self.files = [p for p in entries if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
            self.ignored = [p.name for p in entries if p not in self.files]
        self.page_count = len(self.files)
        if not self.files:
            raise InputError(
                f"{display_name(path)}: the folder holds no page images (.jpg, .png, .tif)",
                "a batch folder must contain the scanned pages as image files",
            )

    def page(self, index: int, dpi: float = 300.0, *, scale_up: bool = True) -> PageImage:
        file = self.files[index]
        kind = sniff(file)
        if kind not in _SUFFIX_TYPES[file.suffix.lower()]:
            raise InputError(
                f"{display_name(self.path)}/{display_name(file)}: named like an image "
                f"but is {_describe(kind)}",
                "ask the scanning service to deliver the page again",
            )
        img = _open_image(file)
        try:
            try:
                frames = getattr(img, "n_frames", 1)
            except MemoryError:
                raise
            except _DAMAGED as exc:
                raise InputError(
                    f"{display_name(self.path)}/{display_name(file)}: the image's page "
                    f"directory cannot be read ({_why(exc)})",
                    "the file is damaged; ask the scanning service to deliver the page again",
                ) from exc
            if frames != 1:
                raise InputError(
                    f"{display_name(self.path)}/{display_name(file)}: "
                    "a page image with several pages",
                    "a batch folder holds one image per page; deliver multi-page TIFFs as files",
                )
            return _frame_to_page(file, img, index, 0)
        finally:
            img.close()


def _describe(kind: str) -> str:
    return {"unknown": "not a PDF, TIFF, PNG or JPEG file"}.get(kind, f"a {kind.upper()} file")


def open_pages(path: Path, files: Sequence[str] | None = None) -> PageSource:
    """Open a scanned input for reading page by page.

    Raises :class:`InputError` for anything that cannot be read: missing, empty, encrypted,
    damaged, not what its name says, or with absurd dimensions.
    """
    path = Path(path)
    if path.is_dir():
        return ImageFolderSource(path, files)
    if not path.exists():
        raise InputError(f"{display_name(str(path))}: no such file or folder", "check the path")
    if not path.is_file():
        raise InputError(
            f"{display_name(str(path))}: not a regular file", "name a PDF, TIFF, image or folder"
        )
    try:
        if path.stat().st_size == 0:
            raise InputError(
                f"{display_name(path)}: the file is empty (0 bytes)",
                redeliver("the transfer was incomplete"),
            )
        kind = sniff(path)
    except PermissionError as exc:
        raise InputError(
            f"{display_name(str(path))}: permission denied", "make the file readable for esak"
        ) from exc
    expected = _SUFFIX_TYPES.get(path.suffix.lower())
    if kind == "unknown":
        raise InputError(
            f"{display_name(path)}: not a PDF, TIFF, PNG or JPEG file",
            redeliver("the file is damaged or of another kind"),
        )
    if expected is not None and kind not in expected:
        raise InputError(
            f"{display_name(path)}: the name says {path.suffix.lower()} "
            f"but the content is {_describe(kind)}",
            "ask the scanning service to deliver the file under its right name",
        )
    if kind == "pdf":
        return PdfSource(path)
    return ImageFileSource(path, kind)

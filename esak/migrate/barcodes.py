"""Reading barcodes off a page image, and drawing them, with zxing-cpp."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import zxingcpp
from PIL import Image

_F = zxingcpp.BarcodeFormat
#: The symbologies of cover sheets and separators (CONTRACT §4). Asking zxing for these
#: alone keeps it from "finding" exotic 1-D codes in lines of text.
SYMBOLOGIES = (_F.Code128, _F.Code39, _F.QRCode, _F.DataMatrix)
_NAMES = {"Code128": "Code128", "Code39": "Code39", "QRCode": "QR", "DataMatrix": "DataMatrix"}
#: esak's names of the symbologies (as in ``esak inspect`` and the generator's truth).
_WRITE = {"Code128": _F.Code128, "Code39": _F.Code39, "QR": _F.QRCode, "DataMatrix": _F.DataMatrix}
CODE39_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -.$/+%")


@dataclass(frozen=True)
class Barcode:
    format: str
    text: str

    def to_dict(self) -> dict[str, str]:
        return {"format": self.format, "text": self.text}


#: zxing-cpp refuses images with a longer side (ValueError).
MAX_SIDE = 65535


#: From this resolution on, barcodes are read at half of it: cover sheets, patch sheets and
#: every code of ../shared/samples/paperless read the same at 150 dpi as at 300 (576 generated
#: covers and separators, sideways and upside down among them; bilevel and grey), for a
#: quarter of the pixels and a third of the time. Below it, at the page's own resolution.
HALVE_FROM_DPI = 280.0


#: How much darker than the paper a pixel must be to count as a bar in the second reading.
#: The worn sheets' bars lie 55 or more grey levels below their paper (esak.synthetic.worn),
#: and every value from 30 to 60 reads them all; a crease's shadow may lie 45 below, but it
#: blackens a thin line across the page, not a code.
PALE_BAR_DROP = 40
#: Every how many pixels the paper level is sampled, along and across.
_PAPER_STEP = 8


def against_paper(image: Image.Image) -> Image.Image:
    """The page in black and white, black where it is :data:`PALE_BAR_DROP` grey levels
    darker than its paper (the 90th percentile of its pixels).

    zxing's own binariser compares each pixel with its neighbourhood's average, which
    follows uneven light but loses pale bars beside dark ones: a print from a worn drum
    with streaks where the toner takes half (``esak.synthetic.worn.streaks``). Measured
    against the paper, those bars are plainly bars."""
    if image.mode != "L":
        image = image.convert("L")  # the table below is one of 256 grey levels
    pixels = np.asarray(image)
    paper = float(np.percentile(pixels[::_PAPER_STEP, ::_PAPER_STEP], 90))
    cut = paper - PALE_BAR_DROP
    return image.point([0 if value < cut else 255 for value in range(256)])


def read_barcodes(image: Image.Image, dpi: float | None = None) -> list[Barcode]:
    """Every barcode zxing finds on the page, top to bottom; a code printed twice is
    reported once. With ``dpi`` of at least :data:`HALVE_FROM_DPI`, read at half
    resolution. Where no cover or separator code is among them, the classifier reads the
    page again (:func:`read_again`)."""
    page = _readable(image.reduce(2) if _halved(image, dpi) else image)
    # Cover sheets and patch sheets are printed dark on white paper: the inverted pass
    # (light codes on dark) costs a third of the reading time and finds nothing.
    found = zxingcpp.read_barcodes(page, formats=SYMBOLOGIES, try_invert=False)
    return _placed(found, page.height)


def read_again(image: Image.Image, dpi: float | None = None) -> list[Barcode]:
    """The page read a second time: in black and white measured against its paper
    (:func:`against_paper`) and, where :func:`read_barcodes` halves it, halved one pixel
    further on. It reads worn sheets (esak.synthetic.worn) that zxing's own reading loses,
    for about as much CPU as that reading."""
    page = image
    if _halved(image, dpi):
        # Halved one pixel further on than the first reading: bars drawn on a grid that
        # beats with the halving's (a faxed sheet printed and scanned at 300 dpi) lose their
        # edges in one phase of it and keep them in the other.
        page = image.reduce(2, box=(1, 1, image.width, image.height))
    page = _readable(page)
    # zxing's downscaled passes found nothing more here on the worn sheets.
    found = zxingcpp.read_barcodes(
        against_paper(page), formats=SYMBOLOGIES, try_invert=False,
        binarizer=zxingcpp.Binarizer.BoolCast, try_downscale=False,
    )  # fmt: skip
    return _placed(found, page.height)


def _halved(image: Image.Image, dpi: float | None) -> bool:
    return dpi is not None and dpi >= HALVE_FROM_DPI and min(image.size) >= 1000


def _readable(image: Image.Image) -> Image.Image:
    if max(image.size) > MAX_SIDE:
        # Only a broken image is this long (a 1 x 100000 pixel strip); read it scaled down
        # rather than fail the whole chunk of pages it was classified with.
        return image.reduce(-(-max(image.size) // MAX_SIDE))
    return image


def _placed(found: list[Any], height: int) -> list[Barcode]:
    placed = []
    for result in found:
        if not result.valid:
            continue
        pos = result.position
        top = min(pos.top_left.y, pos.top_right.y, pos.bottom_left.y, pos.bottom_right.y)
        left = min(pos.top_left.x, pos.bottom_left.x, pos.top_right.x, pos.bottom_right.x)
        name = result.format.name
        placed.append((top, left, Barcode(_NAMES.get(name, name), result.text)))
    # Top to bottom; codes side by side (tops within a row's height of the first of them:
    # 2 % of the image) left to right, whatever a pixel of skew or of scaling says.
    placed.sort(key=lambda item: (item[0], item[1]))
    row = 0.02 * height
    ordered: list[tuple[float, float, Barcode]] = []
    while placed:
        first = placed[0][0]
        same = [p for p in placed if p[0] - first <= row]
        ordered += sorted(same, key=lambda item: item[1])
        placed = [p for p in placed if p[0] - first > row]
    codes: list[Barcode] = []
    for _, _, code in ordered:
        if code not in codes:
            codes.append(code)
    return codes


def barcode_modules(text: str, symbology: str) -> np.ndarray:
    """The code's modules as a boolean array (True = dark), without quiet zones.

    ``symbology`` is one of Code128, Code39, QR, DataMatrix; 1-D codes come back as one row.
    """
    if symbology not in _WRITE:
        raise ValueError(f"unknown symbology {symbology!r}; use one of {', '.join(_WRITE)}")
    if symbology == "Code39" and not set(text) <= CODE39_CHARS:
        raise ValueError(f"Code 39 cannot hold {text!r}: only A-Z, 0-9 and ' -.$/+%'")
    code = zxingcpp.create_barcode(text, _WRITE[symbology])
    arr = np.asarray(zxingcpp.write_barcode_to_image(code, scale=1, add_quiet_zones=False))
    dark = arr < 128
    if symbology in ("Code128", "Code39"):
        return dark[:1, :]
    return dark

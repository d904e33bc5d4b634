"""Pages drawn by hand as a 20-year-old case file holds them, not by esak's generator: a
pencil note on yellowed paper (a JPEG scan), a faded stamp alone in the margin, a negative
copy, a fax (bilevel, 204 x 196 dpi, G4), a small blurred archive barcode on a faded receipt.
Each must be content, and reading a plain scan from its own pixels (the fast path of
classification) must classify it exactly as rendering the page does."""

from __future__ import annotations

import io
import math
import random

import img2pdf
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from esak.migrate.barcodes import barcode_modules
from esak.migrate.classify import classify_page
from esak.migrate.pages import PdfSource
from esak.profiles import load_profile

W, H = 2480, 3508  # A4 at 300 dpi


def _paper(level: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    grain = rng.normal(level, 3.0, (H, W)).clip(0, 255).astype(np.uint8)
    return Image.fromarray(grain, "L")


def _scribble(draw: ImageDraw.ImageDraw, x: float, y: float, length: float, ink: int,
              seed: int, width: int = 3) -> None:  # fmt: skip
    """A line of cursive-like loops, as a pencil leaves it."""
    rng = random.Random(seed)
    points = []
    for i in range(int(length)):
        t = i / 6.0
        points.append((x + i, y + 14 * math.sin(t) + rng.uniform(-2, 2) + 6 * math.sin(t / 3)))
    draw.line(points, fill=ink, width=width)


def pencil_note() -> tuple[Image.Image, str]:
    img = _paper(236, 1)
    d = ImageDraw.Draw(img)
    _scribble(d, 700, 1900, 700, 196, 2)
    _scribble(d, 700, 1980, 420, 200, 3)
    return img.filter(ImageFilter.GaussianBlur(0.8)), "jpeg"


def faded_stamp() -> tuple[Image.Image, str]:
    img = _paper(240, 4)
    d = ImageDraw.Draw(img)
    d.ellipse([2050, 300, 2350, 600], outline=185, width=9)
    d.ellipse([2090, 340, 2310, 560], outline=190, width=5)
    d.line([2100, 450, 2300, 450], fill=188, width=7)
    return img.filter(ImageFilter.GaussianBlur(1.2)), "png"


def negative_copy() -> tuple[Image.Image, str]:
    img = _paper(45, 5)
    d = ImageDraw.Draw(img)
    for row in range(30):
        _scribble(d, 300, 400 + row * 90, 1800, 215, 10 + row, width=4)
    return img, "png"


def fax() -> tuple[Image.Image, str]:
    img = _paper(250, 6)
    d = ImageDraw.Draw(img)
    for row in range(25):
        d.rectangle([300, 500 + row * 100, 300 + (row * 37) % 1500 + 300, 530 + row * 100],
                    fill=20)  # fmt: skip
    rng = np.random.default_rng(7)
    arr = np.asarray(img).copy()
    arr[rng.random(arr.shape) < 0.002] = 0  # the line noise of a fax
    return Image.fromarray(arr).point(lambda v: 255 if v > 128 else 0, mode="1"), "fax"


def receipt_with_small_code() -> tuple[Image.Image, str]:
    img = _paper(228, 8)
    d = ImageDraw.Draw(img)
    for row in range(12):
        d.rectangle([600, 900 + row * 60, 600 + 900 - row * 30, 918 + row * 60], fill=165)
    bars = barcode_modules("ASN00417", "Code128")[0]
    module = 5  # 0.42 mm at 300 dpi: a small archive label
    x0, y0 = 1500, 2600
    for i, dark in enumerate(bars):
        if dark:
            d.rectangle([x0 + i * module, y0, x0 + (i + 1) * module - 1, y0 + 140], fill=60)
    return img.filter(ImageFilter.GaussianBlur(1.0)), "png"


PAGES = {f.__name__: f for f in (pencil_note, faded_stamp, negative_copy, fax,
                                 receipt_with_small_code)}  # fmt: skip


def _pdf(img: Image.Image, how: str, path) -> None:
    buf = io.BytesIO()
    dpi = (300, 300)
    if how == "jpeg":
        img.save(buf, "JPEG", quality=70)
    elif how == "fax":
        img = img.resize((round(W * 204 / 300), round(H * 196 / 300)))
        img.save(buf, "TIFF", compression="group4")
        dpi = (204, 196)
    else:
        img.save(buf, "PNG")
    layout = img2pdf.get_fixed_dpi_layout_fun(dpi)
    path.write_bytes(img2pdf.convert(buf.getvalue(), layout_fun=layout))


@pytest.mark.parametrize("name", sorted(PAGES))
def test_a_hard_page_is_content_and_read_alike_from_its_pixels_and_rendered(name, tmp_path):
    img, how = PAGES[name]()
    path = tmp_path / f"{name}.pdf"
    _pdf(img, how, path)
    rules = load_profile("borken")
    source = PdfSource(path)
    try:
        fast = source.page(0, 300.0, scale_up=False)
        pike, source._pike = source._pike, None  # what PDFium renders of the same page
        rendered = source.page(0, 300.0, scale_up=False)
        source._pike = pike
    finally:
        source.close()
    a = classify_page(fast.image, fast.dpi, rules)
    b = classify_page(rendered.image, rendered.dpi, rules)
    assert a.kind == "content", (name, a.why)
    assert (a.kind, a.barcodes) == (b.kind, b.barcodes), name
    if name == "receipt_with_small_code":
        assert [c.text for c in a.barcodes] == ["ASN00417"]

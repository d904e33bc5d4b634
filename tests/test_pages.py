"""Reading pages: every kind of input, and every kind of bad input, with a clear error."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import img2pdf
import numpy as np
import pikepdf
import pytest
from PIL import Image

from esak.errors import InputError
from esak.migrate.inspect import inspect_path
from esak.migrate.pages import MAX_PAGE_PIXELS, open_pages


def _page_png(text_level: int = 30) -> bytes:
    arr = np.full((350, 248), 245, dtype=np.uint8)  # A4 at ~30 dpi
    arr[100:110, 40:200] = text_level
    buf = io.BytesIO()
    Image.fromarray(arr, "L").save(buf, format="PNG", dpi=(30, 30))
    return buf.getvalue()


@pytest.fixture
def good_pdf(tmp_path):
    path = tmp_path / "batch.pdf"
    path.write_bytes(img2pdf.convert([_page_png(), _page_png(), _page_png()]))
    return path


def test_pdf_pages_are_read_one_by_one(good_pdf):
    with open_pages(good_pdf) as src:
        assert src.format == "pdf" and src.page_count == 3
        page = src.page(2, dpi=100)
        assert page.image.mode == "L"
        assert page.size_mm[0] == pytest.approx(210, abs=2)


def test_multipage_g4_tiff(tmp_path):
    frames = [Image.new("1", (850, 1100), 1) for _ in range(3)]
    path = tmp_path / "scan.tif"
    frames[0].save(
        path, save_all=True, append_images=frames[1:], compression="group4", dpi=(100, 100)
    )
    with open_pages(path) as src:
        assert src.format == "tiff" and src.page_count == 3
        pages = list(src.pages())
        assert [p.index for p in pages] == [0, 1, 2]
        assert pages[0].dpi == 100 and pages[0].image.mode == "L"


def test_image_folder_in_natural_file_name_order(tmp_path):
    folder = tmp_path / "batch_7"
    folder.mkdir()
    for name in ("page10.png", "page2.png", "page1.png"):
        (folder / name).write_bytes(_page_png())
    with open_pages(folder) as src:
        assert [f.name for f in src.files] == ["page1.png", "page2.png", "page10.png"]
        assert src.ignored == []


def test_stray_file_in_image_folder_is_reported_not_skipped(tmp_path, rules):
    folder = tmp_path / "batch"
    folder.mkdir()
    (folder / "0001.png").write_bytes(_page_png())
    (folder / "Thumbs.db").write_bytes(b"junk")
    report = inspect_path(folder, rules, dpi=100)
    assert report.ignored_files == ["Thumbs.db"]
    assert any("Thumbs.db" in p for p in report.problems)


# --- bad input ---------------------------------------------------------------------------


def _bomb_png() -> bytes:
    """A few hundred bytes claiming 40000x40000 pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", 40000, 40000, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 40001 * 4)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _bad_inputs(tmp_path, good_pdf):
    cases = {}
    p = tmp_path / "random.pdf"
    p.write_bytes(os.urandom(4096))
    cases["random bytes named .pdf"] = (p, "not a PDF")
    p = tmp_path / "random.tif"
    p.write_bytes(os.urandom(4096))
    cases["random bytes named .tif"] = (p, "not a PDF, TIFF")
    p = tmp_path / "empty.pdf"
    p.write_bytes(b"")
    cases["empty file"] = (p, "empty")
    p = tmp_path / "nopages.pdf"
    pikepdf.new().save(p)
    cases["zero-page PDF"] = (p, "no pages")
    p = tmp_path / "truncated.pdf"
    p.write_bytes(good_pdf.read_bytes()[: good_pdf.stat().st_size // 3])
    cases["truncated PDF"] = (p, "cannot be")
    p = tmp_path / "actually_tiff.pdf"
    Image.new("L", (100, 100), 255).save(p, format="TIFF")
    cases["TIFF named .pdf"] = (p, "the name says .pdf")
    p = tmp_path / "bomb.png"
    p.write_bytes(_bomb_png())
    cases["decompression bomb"] = (p, "pixels")
    p = tmp_path / "cut.png"
    p.write_bytes(_page_png()[:200])
    cases["truncated PNG"] = (p, "cannot be")
    p = tmp_path / "encrypted.pdf"
    with pikepdf.open(good_pdf) as pdf:
        pdf.save(p, encryption=pikepdf.Encryption(user="secret", owner="secret"))
    cases["encrypted PDF"] = (p, "encrypted")
    folder = tmp_path / "noimages"
    folder.mkdir()
    (folder / "notes.txt").write_text("x")
    cases["folder without images"] = (folder, "no page images")
    folder = tmp_path / "liar"
    folder.mkdir()
    buf = io.BytesIO()
    Image.new("L", (80, 80), 255).save(buf, format="JPEG")
    (folder / "0001.png").write_bytes(buf.getvalue())
    cases["JPEG named .png in a folder"] = (folder, "named like an image but is a JPEG")
    cases["missing file"] = (tmp_path / "nope.pdf", "no such file")
    return cases


BAD = [
    "random bytes named .pdf",
    "random bytes named .tif",
    "empty file",
    "zero-page PDF",
    "truncated PDF",
    "TIFF named .pdf",
    "decompression bomb",
    "truncated PNG",
    "encrypted PDF",
    "folder without images",
    "JPEG named .png in a folder",
    "missing file",
]


@pytest.mark.parametrize("case", BAD)
def test_bad_input_gets_a_clear_input_error(case, tmp_path, good_pdf, rules):
    path, words = _bad_inputs(tmp_path, good_pdf)[case]
    with pytest.raises(InputError) as info:
        inspect_path(path, rules, dpi=100)
    assert words in info.value.message
    assert info.value.remedy


def test_pixel_limit_is_above_any_real_scan():
    a3_at_600_dpi = (297 / 25.4 * 600) * (420 / 25.4 * 600)
    assert a3_at_600_dpi < MAX_PAGE_PIXELS < 40000 * 40000


# --- a plain scan's own pixels instead of a rendering ----------------------------------------


def _scan_pdf(tmp_path, img: Image.Image, dpi: int, name: str = "scan.pdf",
              rotate: int = 0) -> Path:  # fmt: skip
    """``img`` as a one-page PDF written the way scanners write lossless scans."""
    buf = io.BytesIO()
    img.save(buf, "PNG", dpi=(dpi, dpi))
    path = tmp_path / name
    layout = img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))
    path.write_bytes(img2pdf.convert(buf.getvalue(), engine=img2pdf.Engine.internal,
                                     layout_fun=layout))  # fmt: skip
    if rotate:
        with pikepdf.open(path, allow_overwriting_input=True) as pdf:
            pdf.pages[0].Rotate = rotate
            pdf.save(path)
    return path


def _noise(mode: str, size=(620, 877)) -> Image.Image:
    rng = np.random.default_rng(7)
    shape = (size[1], size[0]) + ((3,) if mode == "RGB" else ())
    return Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_a_plain_scan_is_read_from_its_own_pixels(tmp_path, mode):
    from esak.migrate.pages import _png_predicted

    img = _noise(mode)
    path = _scan_pdf(tmp_path, img, 75)
    with pikepdf.open(path) as pdf:
        (_, raw), *_ = pdf.pages[0].get_images().items()
        assert raw.DecodeParms.Predictor >= 10  # the PNG path, not qpdf's
        decoded = _png_predicted(raw)
        assert decoded.tobytes() == pikepdf.PdfImage(raw).as_pil_image().tobytes()
    with open_pages(path) as source:
        page = source.page(0, 75.0)
    expected = img.convert("L") if mode == "RGB" else img
    assert page.image.tobytes() == expected.tobytes() and page.dpi == pytest.approx(75.0)


def test_a_plain_scan_keeps_its_rotation_and_is_halved_down_to_the_dpi_asked(tmp_path):
    img = _noise("L", (1240, 1754))
    path = _scan_pdf(tmp_path, img, 150, rotate=90)
    with open_pages(path) as source:
        page = source.page(0, 72.0)
    # /Rotate 90 shows the page turned clockwise; 150 dpi halved once to 75 (>= 72).
    assert page.dpi == pytest.approx(75.0)
    assert page.image.tobytes() == img.reduce(2).transpose(Image.Transpose.ROTATE_270).tobytes()


def test_a_page_that_is_not_a_plain_scan_is_rendered(tmp_path):
    from esak.migrate.pages import PdfSource

    img = _noise("L")
    path = _scan_pdf(tmp_path, img, 75)
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        pdf.pages[0].Annots = pdf.make_indirect(pikepdf.Array())  # no longer a bare scan
        pdf.save(path)
    source = PdfSource(path)
    try:
        assert source._scan(0, 75.0) is None
        width, height = source.page(0, 75.0).image.size  # rendered instead: PDFium rounds up
        assert abs(width - img.width) <= 1 and abs(height - img.height) <= 1
    finally:
        source.close()


def test_a_scan_of_less_than_asked_is_scaled_up_unless_its_own_resolution_will_do(tmp_path):
    img = _noise("L")
    path = _scan_pdf(tmp_path, img, 75)
    with open_pages(path) as source:
        up = source.page(0, 150.0)  # what a reader of a region at a fixed dpi gets
        own = source.page(0, 150.0, scale_up=False)  # what classification reads
    assert up.dpi == pytest.approx(150.0) and abs(up.image.width - 2 * img.width) <= 1
    assert own.dpi == pytest.approx(75.0) and own.image.tobytes() == img.tobytes()

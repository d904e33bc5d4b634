"""``verify --level valid``: PDF/A judged by the file's bytes, and no JBIG2 symbol coding
(TR-RESISCAN A.SC.12: a symbol dictionary may put one scanned glyph where another was)."""

from __future__ import annotations

import io
from pathlib import Path

import pikepdf
import pikepdf.pdfa
import pytest
from PIL import Image

from esak.verify.fixity import jbig2_has_symbols, pdf_problem


def _segment(number: int, kind: int, data: bytes = b"", page: int = 1) -> bytes:
    """A JBIG2 segment (T.88 7.2): number, flags (type), no referred segments, page, length."""
    return number.to_bytes(4, "big") + bytes([kind, 0, page]) + len(data).to_bytes(4, "big") + data


def test_jbig2_segments_are_read_for_symbol_coding():
    page_info = _segment(0, 48, bytes(19))
    generic = _segment(1, 38, bytes(30))
    assert not jbig2_has_symbols(page_info + generic)  # lossless generic coding: fine
    assert jbig2_has_symbols(page_info + _segment(1, 0, bytes(12)) + generic)  # dictionary
    assert jbig2_has_symbols(page_info + _segment(2, 6, bytes(17)))  # an immediate text region
    assert not jbig2_has_symbols(b"")
    assert not jbig2_has_symbols(b"\x00\x00")  # torn: no segment at all


def _pdfa(target: Path) -> Path:
    img = Image.new("L", (200, 280), 255)
    buffer = io.BytesIO()
    img.save(buffer, format="PDF", resolution=50)
    with pikepdf.open(io.BytesIO(buffer.getvalue())) as pdf:
        pikepdf.pdfa.save(pdf, target, "2b")
    return target


def _with_jbig2(source: Path, target: Path, data: bytes, globals_: bytes | None) -> Path:
    with pikepdf.open(source) as pdf:
        image = pikepdf.Stream(pdf, data)
        image.Type, image.Subtype = pikepdf.Name.XObject, pikepdf.Name.Image
        image.Width, image.Height, image.BitsPerComponent = 8, 8, 1
        image.ColorSpace, image.Filter = pikepdf.Name.DeviceGray, pikepdf.Name.JBIG2Decode
        if globals_ is not None:
            image.DecodeParms = pikepdf.Dictionary(JBIG2Globals=pikepdf.Stream(pdf, globals_))
        page = pdf.pages[0]
        page.Resources.XObject = pikepdf.Dictionary(Im9=image)
        pdf.save(target)
    return target


def test_a_sound_pdfa_passes(tmp_path):
    assert pdf_problem(_pdfa(tmp_path / "ok.pdf"), 1, None) is None


@pytest.mark.parametrize(
    ("data", "globals_", "how"),
    [
        (_segment(1, 38, bytes(30)), _segment(0, 0, bytes(12)), "global symbol dictionary"),
        (_segment(0, 0, bytes(12)) + _segment(1, 6, bytes(17)), None, "in the image"),
    ],
)
def test_jbig2_symbol_coding_is_refused(tmp_path, data, globals_, how):
    pdf = _with_jbig2(_pdfa(tmp_path / "ok.pdf"), tmp_path / "jbig2.pdf", data, globals_)
    problem = pdf_problem(pdf, 1, None)
    assert problem is not None and "JBIG2 with symbol coding" in problem and how in problem


def test_generic_jbig2_without_symbols_is_not_refused_for_that(tmp_path):
    pdf = _with_jbig2(_pdfa(tmp_path / "ok.pdf"), tmp_path / "g.pdf",
                      _segment(0, 48, bytes(19)) + _segment(1, 38, bytes(30)), None)  # fmt: skip
    problem = pdf_problem(pdf, 1, None)
    assert problem is None or "JBIG2" not in problem


def test_a_pdf_that_only_claims_pdfa_is_not_valid(tmp_path):
    plain = tmp_path / "claims.pdf"
    img = Image.new("L", (200, 280), 255)
    img.save(plain, format="PDF", resolution=50)
    with pikepdf.open(plain, allow_overwriting_input=True) as pdf:
        with pdf.open_metadata() as meta:  # the claim, and nothing behind it (no OutputIntent)
            meta["pdfaid:part"] = "2"
            meta["pdfaid:conformance"] = "B"
        pdf.save(plain)
    with pikepdf.open(plain) as pdf:
        assert pdf.open_metadata().pdfa_status == "2B"
    problem = pdf_problem(plain, 1, None)
    assert problem is not None and "bytes are not valid PDF/A-2b" in problem

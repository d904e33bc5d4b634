"""Cover-sheet and separator payloads, and the blank-page test, on synthetic pages."""

from __future__ import annotations

import math

import numpy as np
import pytest
import zxingcpp
from PIL import Image, ImageDraw, ImageFilter

from esak.migrate.barcodes import Barcode, read_barcodes
from esak.migrate.blank import blank_verdict
from esak.migrate.classify import (
    CoverInfo,
    PageKind,
    PayloadProblem,
    SeparatorInfo,
    classify_barcodes,
    classify_page,
    parse_payload,
)

DPI = 300
A4 = (2480, 3508)


class BorkenRules:
    key = "borken"

    def is_household(self, text: str) -> bool:
        import re

        return re.fullmatch(r"\d{5}BG\d{7}", text) is not None


R = BorkenRules()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("95401BG0000101", CoverInfo("95401BG0000101", 1, 0, structured=False)),
        (" 95401BG0000101\n", CoverInfo("95401BG0000101", 1, 0, structured=False)),
        ("ESAK1;borken;95401BG0000101;2;17", CoverInfo("95401BG0000101", 2, 17, structured=True)),
        ("ESAK1;borken;95401BG0000101;1;0", CoverInfo("95401BG0000101", 1, 0, structured=True)),
        ("PATCHT", SeparatorInfo(None)),
        ("patcht", SeparatorInfo(None)),
        ("DOC;Einkommen", SeparatorInfo("Einkommen")),
        ("DOC;Schriftverkehr Ämter", SeparatorInfo("Schriftverkehr Ämter")),
        ("ASN00123", None),
        ("CUSTOM BARCODE", None),
        ("TAG:invoice", None),
    ],
)
def test_payloads(text, expected):
    assert parse_payload(text, R) == expected


@pytest.mark.parametrize(
    ("text", "kind", "reason"),
    [
        ("ESAK1;rhede;95401BG0000101;1;3", PageKind.COVER, "site 'rhede'"),
        ("ESAK1;borken;95401BG000010;1;3", PageKind.COVER, "not a household number"),
        ("ESAK1;borken;../95401BG0000101;1;3", PageKind.COVER, "not a household number"),
        ("ESAK1;borken;95401BG0000101;0;3", PageKind.COVER, "volume"),
        ("ESAK1;borken;95401BG0000101;x;3", PageKind.COVER, "volume"),
        ("ESAK1;borken;95401BG0000101;1;-3", PageKind.COVER, "page count"),
        ("ESAK1;borken;95401BG0000101;1", PageKind.COVER, "expected ESAK1"),
        ("ESAK2;borken;95401BG0000101;1;3", PageKind.COVER, "expected ESAK1"),
        ("95401BG000010", PageKind.COVER, "not a household number"),
        ("95401BG0000101/../../etc", PageKind.COVER, "not a household number"),
        ("DOC;../../etc/passwd", PageKind.SEPARATOR, "document type"),
        ("DOC;", PageKind.SEPARATOR, "document type"),
        ("DOC;%2F%2E%2E", PageKind.SEPARATOR, "document type"),
    ],
)
def test_unusable_payloads_are_problems_not_guesses(text, kind, reason):
    result = parse_payload(text, R)
    assert isinstance(result, PayloadProblem)
    assert result.kind is kind
    assert reason in result.reason


def test_cover_wins_over_separator_and_structured_over_bare():
    codes = [
        Barcode("Code39", "95401BG0000101"),
        Barcode("QR", "ESAK1;borken;95401BG0000101;3;9"),
        Barcode("Code39", "PATCHT"),
    ]
    page = classify_barcodes(codes, R)
    assert page.kind is PageKind.COVER and page.problem is None
    assert page.cover == CoverInfo("95401BG0000101", 3, 9, structured=True)


def test_cover_with_two_households_is_a_problem():
    codes = [Barcode("Code39", "95401BG0000101"), Barcode("Code39", "95401BG0000102")]
    page = classify_barcodes(codes, R)
    assert page.kind is PageKind.COVER and page.cover is None
    assert "different households" in page.problem


def test_other_systems_codes_make_content():
    assert classify_barcodes([Barcode("Code39", "ASN00123")], R) is None


# --- blank detection on synthetic scans ------------------------------------------------------


def _paper(rng: np.random.Generator, level: int = 243) -> np.ndarray:
    noise = rng.normal(0, 4, size=(A4[1], A4[0]))
    return np.clip(level + noise, 0, 255)


def _specks(arr: np.ndarray, rng: np.random.Generator, count: int = 40) -> None:
    h, w = arr.shape
    for _ in range(count):
        y, x = rng.integers(0, h - 8), rng.integers(0, w - 8)
        size = int(rng.integers(1, 5))  # up to 0.4 mm: dust
        arr[y : y + size, x : x + size] = rng.integers(20, 90)


def _img(arr: np.ndarray) -> Image.Image:
    return Image.fromarray(arr.astype(np.uint8), "L")


def test_page_with_dust_specks_is_blank():
    rng = np.random.default_rng(1)
    arr = _paper(rng)
    _specks(arr, rng)
    verdict = blank_verdict(_img(arr), DPI)
    assert verdict.blank, verdict


def _faint_layer(rng: np.random.Generator, blur_mm: float) -> Image.Image:
    """A page of faint "text" blocks at 212-228 on paper 243: bleed-through when blurred,
    a faded photocopy when sharp."""
    img = _img(np.full((A4[1], A4[0]), 243.0))
    draw = ImageDraw.Draw(img)
    for row in range(40):
        y = 400 + row * 70
        for word in range(12):
            x = 300 + word * 160
            draw.rectangle([x, y, x + 120, y + 28], fill=int(rng.integers(212, 228)))
    if blur_mm:
        img = img.filter(ImageFilter.GaussianBlur(blur_mm * DPI / 25.4))
    arr = np.asarray(img, dtype=np.float64) + rng.normal(0, 4, size=(A4[1], A4[0]))
    return _img(np.clip(arr, 0, 255))


def test_bleed_through_from_the_back_is_blank():
    verdict = blank_verdict(_faint_layer(np.random.default_rng(2), blur_mm=0.4), DPI)
    assert verdict.blank, verdict
    assert dict(verdict.ignored).get("bleed", 0) > 100


def test_a_faded_page_with_sharp_print_is_not_bleed_through():
    verdict = blank_verdict(_faint_layer(np.random.default_rng(2), blur_mm=0.0), DPI)
    assert not verdict.blank, verdict


def test_one_short_handwritten_line_is_not_blank():
    rng = np.random.default_rng(3)
    arr = _paper(rng)
    _specks(arr, rng)
    img = _img(arr)
    draw = ImageDraw.Draw(img)
    # A 4 cm wavy pen stroke, 0.5 mm wide: "gesehen" scribbled in a corner.
    x0, y0 = 1500, 2900
    points = [(x0 + t * 4, y0 + 25 * math.sin(t / 6.0)) for t in range(120)]
    draw.line(points, fill=40, width=6)
    verdict = blank_verdict(img, DPI)
    assert not verdict.blank and verdict.marks >= 1


def test_punch_holes_and_edge_shadow_do_not_make_a_page_content():
    rng = np.random.default_rng(4)
    img = _img(_paper(rng))
    draw = ImageDraw.Draw(img)
    for cy in (1200, 2300):  # two punch holes 12 mm from the left edge, 5.5 mm across
        draw.ellipse([142 - 33, cy - 33, 142 + 33, cy + 33], fill=15)
    draw.rectangle([0, 0, A4[0], 40], fill=30)  # scanner lid shadow along the top
    assert blank_verdict(img, DPI).blank


def test_a_single_typed_word_is_not_blank():
    rng = np.random.default_rng(5)
    img = _img(_paper(rng))
    ImageDraw.Draw(img).text((1000, 1500), "Kenntnis genommen", fill=0, font_size=40)
    assert not blank_verdict(img, DPI).blank


def _barcode_page(text: str, fmt) -> Image.Image:
    code = zxingcpp.write_barcode_to_image(zxingcpp.create_barcode(text, fmt), scale=4)
    page = Image.new("L", A4, 245)
    page.paste(Image.fromarray(np.asarray(code)), (300, 400))
    return page


@pytest.mark.parametrize(
    ("fmt", "name"),
    [
        (zxingcpp.BarcodeFormat.Code128, "Code128"),
        (zxingcpp.BarcodeFormat.QRCode, "QR"),
        (zxingcpp.BarcodeFormat.DataMatrix, "DataMatrix"),
    ],
)
def test_cover_sheets_in_each_symbology(fmt, name):
    page = classify_page(_barcode_page("ESAK1;borken;95401BG0000101;1;4", fmt), DPI, R)
    assert page.kind is PageKind.COVER
    assert page.barcodes == [Barcode(name, "ESAK1;borken;95401BG0000101;1;4")]
    assert page.cover.declared_pages == 4


def test_code39_bare_cover():
    page = classify_page(_barcode_page("95401BG0000101", zxingcpp.BarcodeFormat.Code39), DPI, R)
    assert page.kind is PageKind.COVER and page.cover.household == "95401BG0000101"


def test_empty_page_has_no_barcodes():
    assert read_barcodes(Image.new("L", A4, 250)) == []

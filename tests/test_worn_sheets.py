"""Worn cover and separator sheets (esak.synthetic.worn) are still read, on both sides of the
line: every worn sheet's code is read, at 300 and at 200 dpi and turned any way, also beside
another system's label; a destroyed code yields no invented one; a blank page is not read
twice."""

from __future__ import annotations

import random

import numpy as np
import pytest
from PIL import Image

import esak.migrate.classify as classify
from esak.migrate.barcodes import (
    PALE_BAR_DROP,
    against_paper,
    barcode_modules,
    read_again,
    read_barcodes,
)
from esak.migrate.classify import classify_page
from esak.profiles import load_profile
from esak.synthetic.documents import render_blank_page, render_handwritten_note_page
from esak.synthetic.worn import KINDS, TURNS, UNREADABLE, worn_sheets
from esak.vocabulary import PageKind

RULES = load_profile("borken")


def _worn(kinds: dict, dpi: int, seed: int = 3):
    """Every sheet worn every way; the turns taken in rotation, so that each kind lies each
    way on some sheet and each sheet lies each way under some kind."""
    for n, worn in enumerate(worn_sheets(seed=seed, dpis=(dpi,), kinds=kinds, turns=(0,))):
        s, k = divmod(n, len(kinds))
        turn = TURNS[(s + k) % len(TURNS)]
        name = f"{worn.kind}/{worn.sheet}-{worn.symbology}/{turn}"
        yield name, worn.sheet, worn.text, worn.image.rotate(turn, expand=True)


@pytest.fixture(scope="module", params=(300, 200), ids=lambda dpi: f"{dpi}dpi")
def worn(request):
    dpi = request.param
    return dpi, list(_worn(KINDS, dpi))


def test_every_worn_sheet_is_read_and_decides_its_page(worn):
    dpi, sheets = worn
    wrong = []
    for name, sheet, text, image in sheets:
        page = classify_page(image, dpi, RULES)
        expected = PageKind.COVER if sheet == "cover" else PageKind.SEPARATOR
        if page.kind != expected or text not in [b.text for b in page.barcodes]:
            wrong.append((name, str(page.kind), [b.text for b in page.barcodes]))
    assert not wrong, f"{len(wrong)} of {len(sheets)} worn sheets not read: {wrong}"


def test_the_first_reading_alone_loses_worn_sheets(worn):
    """The corpus lies beyond what zxing's own reading does: without the second reading,
    sheets with streaks are lost (and at 300 dpi faxed ones too), so the test above would
    fail without it."""
    dpi, sheets = worn
    lost = {name.split("/")[0] for name, _, text, image in sheets
            if text not in [b.text for b in read_barcodes(image, dpi)]}  # fmt: skip
    assert "streaks" in lost
    for name, _, text, image in sheets:
        if name.split("/")[0] in lost:
            assert text in [b.text for b in read_again(image, dpi)] or text in [
                b.text for b in read_barcodes(image, dpi)
            ], name


@pytest.mark.parametrize("dpi", (300, 200))
def test_a_destroyed_code_is_not_invented_and_the_sheet_is_not_blank(dpi):
    for name, _, text, image in _worn(UNREADABLE, dpi):
        read = [b.text for b in read_barcodes(image, dpi) + read_again(image, dpi)]
        assert set(read) <= {text}, name
        page = classify_page(image, dpi, RULES)
        assert page.kind != PageKind.BLANK, name


def _labelled(image: Image.Image, dpi: int) -> Image.Image:
    """The sheet with another system's label (a Code 128 ASN, 0.5 mm modules, printed
    clean) in its lower right corner."""
    modules = barcode_modules("ASN0001234", "Code128")
    m = max(2, round(0.5 * dpi / 25.4))
    bars = np.where(np.repeat(modules, m, axis=1), 20, 250).astype(np.uint8)
    label = Image.fromarray(np.repeat(bars, round(10 * dpi / 25.4), axis=0), "L")
    out = image.copy()
    out.paste(label, (out.width - label.width - round(20 * dpi / 25.4),
                      out.height - label.height - round(20 * dpi / 25.4)))  # fmt: skip
    return out


def test_another_systems_label_does_not_hide_a_worn_sheets_code(worn):
    """A label read while the sheet's own code is not must not end the reading: the page
    would be content, and a cover sheet's household would go to the one before it."""
    dpi, sheets = worn
    lost = [(name, sheet, text, image) for name, sheet, text, image in sheets
            if text not in [b.text for b in read_barcodes(image, dpi)]]  # fmt: skip
    assert lost
    for name, sheet, text, image in lost:
        labelled = _labelled(image, dpi)
        assert "ASN0001234" in [b.text for b in read_barcodes(labelled, dpi)], name
        page = classify_page(labelled, dpi, RULES)
        expected = PageKind.COVER if sheet == "cover" else PageKind.SEPARATOR
        assert page.kind == expected, name
        assert {text, "ASN0001234"} <= {b.text for b in page.barcodes}, name


def test_against_paper_cuts_at_the_paper_level_less_the_drop():
    rng = np.random.default_rng(1)
    paper = 236
    pixels = paper + rng.integers(-2, 3, (400, 400))  # the 90th percentile: 237 or 238
    pixels[::50] = 0  # a few dark rows, below the percentile's reach
    pixels[100:120, 100:300] = paper - PALE_BAR_DROP - 3  # a pale bar: black
    pixels[200:220, 100:300] = paper - PALE_BAR_DROP + 5  # a fold's shadow: white
    pixels = pixels.astype(np.uint8)
    out = np.asarray(against_paper(Image.fromarray(pixels, "L")))
    assert set(np.unique(out)) <= {0, 255}
    assert (out[100:120, 100:300] == 0).all()
    assert (out[200:220, 100:300] == 255).all()
    assert (out[0] == 0).all() and (out[301:340] == 255).all()


def test_a_blank_page_is_not_read_again_and_a_written_one_is(monkeypatch):
    calls = []

    def again(image, dpi=None):
        calls.append(dpi)
        return read_again(image, dpi)

    monkeypatch.setattr(classify, "read_again", again)
    blank = render_blank_page(random.Random(4), dpi=300)
    assert classify_page(blank, 300, RULES).kind == PageKind.BLANK
    assert calls == []
    written = render_handwritten_note_page(random.Random(4), dpi=300)
    page = classify_page(written, 300, RULES)
    assert page.kind == PageKind.CONTENT and page.why
    assert calls == [300]

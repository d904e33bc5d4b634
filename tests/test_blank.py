"""The blank-page test's rules, one at a time, on both sides of each line.

Each written case is drawn faint and small on purpose, beside or on top of the marks the
test knows not to be writing (holes, shadows, dust, bleed-through), at 300 and 200 dpi. The
corpus test (tests/test_blank_corpus.py) runs the whole rule over generated back sides.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from esak.migrate.blank import blank_verdict

DPIS = (300, 200)
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


class Sheet:
    """An A4 back side: paper with noise, drawn on in millimetres."""

    def __init__(self, dpi: int, paper: int = 240, seed: int = 0) -> None:
        self.dpi = dpi
        self.paper = paper
        self.rng = np.random.default_rng(seed)
        self.img = Image.new("L", (round(210 / 25.4 * dpi), round(297 / 25.4 * dpi)), paper)
        self.draw = ImageDraw.Draw(self.img)

    def px(self, mm: float) -> int:
        return round(mm * self.dpi / 25.4)

    def scribble(self, x: float, y: float, length: float, level: int, pen: float = 0.4) -> None:
        """A handwritten word: a wavy stroke with up and down strokes, ``length`` mm long."""
        pts = []
        for i in range(int(length * 4)):
            t = i / 4
            pts.append(
                (self.px(x + t), self.px(y + 1.5 * math.sin(t * 1.7) + 0.6 * math.sin(t * 5)))
            )
        self.draw.line(pts, fill=level, width=max(1, self.px(pen)), joint="curve")

    def text(self, x: float, y: float, s: str, pt: float, level: int, angle: float = 0) -> None:
        font = ImageFont.truetype(FONT, max(4, round(pt / 72 * self.dpi)))
        if not angle:
            self.draw.text((self.px(x), self.px(y)), s, font=font, fill=level)
            return
        box = font.getbbox(s)
        layer = Image.new("L", (box[2] + 4, box[3] + 4), 0)
        ImageDraw.Draw(layer).text((2, 2), s, font=font, fill=255)
        layer = layer.rotate(angle, expand=True)
        ink = Image.new("L", layer.size, level)
        self.img.paste(ink, (self.px(x), self.px(y)), layer)

    def hole(self, x: float, y: float, level: int = 25, d: float = 6.0) -> None:
        r = self.px(d / 2)
        cx, cy = self.px(x), self.px(y)
        self.draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=level)

    def holes(self, level: int = 25) -> None:
        for y in (108.5, 188.5):  # 80 mm apart, centred, 12 mm from the right edge
            self.hole(198, y, level)

    def scan(self, noise: float = 3.0, blur_mm: float = 0.05) -> Image.Image:
        img = self.img.filter(ImageFilter.GaussianBlur(blur_mm * self.dpi / 25.4))
        arr = np.asarray(img, dtype=np.float32)
        arr = arr + self.rng.normal(0, noise, arr.shape)
        return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")


def verdict(sheet: Sheet, **scan: float):
    return blank_verdict(sheet.scan(**scan), sheet.dpi)


# --- written: every one of these must be content --------------------------------------------


@pytest.mark.parametrize("dpi", DPIS)
@pytest.mark.parametrize("level", [200, 215])
def test_a_faint_short_word_is_content(dpi, level):
    s = Sheet(dpi)
    s.scribble(80, 150, 12, level)
    v = verdict(s)
    assert not v.blank, v


@pytest.mark.parametrize("dpi", DPIS)
def test_pencil_initials_on_grey_recycled_paper_are_content(dpi):
    s = Sheet(dpi, paper=205, seed=3)
    s.scribble(150, 40, 5, 160, pen=0.3)
    v = verdict(s, noise=6.0)
    assert not v.blank, v


@pytest.mark.parametrize("dpi", DPIS)
def test_a_page_number_in_the_corner_margin_is_content(dpi):
    s = Sheet(dpi)
    s.text(201, 287, "17", 8, 60)
    assert not verdict(s).blank


@pytest.mark.parametrize("dpi", DPIS)
def test_one_line_of_6pt_print_is_content(dpi):
    s = Sheet(dpi)
    s.text(25, 280, "Eingang bestätigt, Az. 4711/03", 6, 40)
    assert not verdict(s).blank


@pytest.mark.parametrize("dpi", DPIS)
def test_a_note_along_the_punched_edge_beside_the_holes_is_content(dpi):
    s = Sheet(dpi)
    s.holes()
    s.text(201, 120, "erl. 3/04", 9, 90, angle=90)
    v = verdict(s)
    assert not v.blank, v


@pytest.mark.parametrize("dpi", DPIS)
def test_a_pencil_note_right_beside_a_punch_hole_is_content(dpi):
    s = Sheet(dpi)
    s.holes()
    s.scribble(185, 104, 6, 150, pen=0.3)  # 4 mm left of the upper hole's rim
    assert not verdict(s).blank


@pytest.mark.parametrize("dpi", DPIS)
def test_writing_touching_a_scanner_shadow_is_content(dpi):
    s = Sheet(dpi)
    s.draw.rectangle([0, 0, s.img.width, s.px(4)], fill=40)
    s.scribble(60, 4.5, 15, 70)  # a signature that runs into the shadow band
    v = verdict(s)
    assert not v.blank, v


@pytest.mark.parametrize("dpi", DPIS)
def test_a_stamp_cut_by_the_page_edge_is_content(dpi):
    s = Sheet(dpi)
    s.draw.rectangle([s.px(-10), s.px(40), s.px(25), s.px(55)], outline=90, width=s.px(0.5))
    s.text(2, 44, "EINGANG", 9, 90)
    assert not verdict(s).blank


@pytest.mark.parametrize("dpi", DPIS)
def test_a_stroke_from_the_edge_into_the_page_is_content(dpi):
    s = Sheet(dpi)
    s.draw.line([(0, s.px(150)), (s.px(20), s.px(152))], fill=60, width=s.px(0.5))
    assert not verdict(s).blank


@pytest.mark.parametrize("dpi", DPIS)
def test_a_lone_hole_rim_is_content_without_a_second_hole(dpi):
    # A ring of 6 mm near the edge is a hole only as one of a pair: alone it may be an "O".
    s = Sheet(dpi)
    r = s.px(3)
    cx, cy = s.px(198), s.px(108)
    s.draw.arc([cx - r, cy - r, cx + r, cy + r], 200, 340, fill=120, width=s.px(0.5))
    assert not verdict(s).blank


@pytest.mark.parametrize("dpi", DPIS)
def test_a_highlighter_stroke_is_content(dpi):
    s = Sheet(dpi, paper=245)
    s.draw.rectangle([s.px(40), s.px(200), s.px(110), s.px(205)], fill=222)
    assert not verdict(s).blank


@pytest.mark.parametrize("dpi", DPIS)
def test_a_faint_pencil_note_on_a_page_with_holes_shadow_and_dust_is_content(dpi):
    s = Sheet(dpi, seed=5)
    s.holes()
    s.draw.rectangle([0, s.img.height - s.px(3), s.img.width, s.img.height], fill=50)
    for _ in range(30):
        x, y = s.rng.uniform(10, 200), s.rng.uniform(10, 280)
        s.draw.ellipse([s.px(x), s.px(y), s.px(x + 0.3), s.px(y + 0.3)], fill=60)
    s.scribble(30, 60, 9, 185, pen=0.35)
    assert not verdict(s).blank


@pytest.mark.parametrize("dpi", DPIS)
@pytest.mark.parametrize("level", [0, 60])
def test_dark_and_negative_pages_are_content(dpi, level):
    s = Sheet(dpi, paper=level)
    s.text(30, 100, "Kopie vom Mikrofilm", 12, 230)
    v = verdict(s)
    assert not v.blank and "dark page" in v.reason


@pytest.mark.parametrize("dpi", DPIS)
def test_a_negative_print_block_on_white_paper_is_content(dpi):
    s = Sheet(dpi)
    s.draw.rectangle([s.px(30), s.px(100), s.px(180), s.px(130)], fill=20)
    s.text(35, 105, "Bescheid", 14, 235)
    assert not verdict(s).blank


# --- not written: each of these alone must stay blank ---------------------------------------


@pytest.mark.parametrize("dpi", DPIS)
def test_two_and_four_punch_holes_are_blank(dpi):
    s = Sheet(dpi)
    s.holes()
    s.hole(198, 28.5)
    s.hole(198, 268.5)
    v = verdict(s)
    assert v.blank, v
    assert dict(v.ignored)["hole"] == 4


@pytest.mark.parametrize("dpi", DPIS)
def test_the_largest_holes_furthest_in_are_blank_and_writing_beyond_them_content(dpi):
    # A written page ends at its first strong stroke far enough in (INSIDE_MM): that must
    # lie beyond the furthest any hole reaches, a 9-mm hole centred 25 mm from the edge.
    s = Sheet(dpi)
    for y in (108.5, 188.5):
        s.hole(210 - 24.8, y, d=8.4)  # reaches 29.0 mm in
    v = verdict(s)
    assert v.blank, v
    assert dict(v.ignored)["hole"] == 2
    s.text(36, 140, "Eingang", 9, 40)  # print just beyond: the shortcut's case
    scan = s.scan()
    quick, full = blank_verdict(scan, dpi), blank_verdict(scan, dpi, shortcut=False)
    assert not quick.blank and not full.blank
    assert "mm from the left" in quick.reason


@pytest.mark.parametrize("dpi", DPIS)
def test_light_holes_with_a_grey_rim_are_blank(dpi):
    s = Sheet(dpi)
    for y in (108.5, 188.5):
        r = s.px(3)
        cx, cy = s.px(198), s.px(y)
        s.draw.arc([cx - r, cy - r, cx + r, cy + r], 160, 330, fill=150, width=s.px(0.5))
        s.draw.ellipse([cx - r + 2, cy - r + 2, cx + r - 2, cy + r - 2], fill=250)
    v = verdict(s)
    assert v.blank, v


@pytest.mark.parametrize("dpi", DPIS)
def test_shadows_along_every_edge_and_a_skew_wedge_are_blank(dpi):
    s = Sheet(dpi)
    w, h = s.img.size
    s.draw.rectangle([0, 0, w, s.px(3)], fill=30)
    s.draw.rectangle([0, 0, s.px(2), h], fill=30)
    s.draw.rectangle([0, h - s.px(4), w, h], fill=30)
    s.draw.polygon([(w, 0), (w - s.px(5), 0), (w, h)], fill=35)  # a wedge down the right
    v = verdict(s)
    assert v.blank, v


@pytest.mark.parametrize("dpi", DPIS)
def test_a_fold_from_edge_to_edge_is_blank(dpi):
    s = Sheet(dpi)
    y = s.px(99)
    # A crease's shadow: about 1 mm wide, soft, a little off the horizontal.
    s.draw.line([(0, y), (s.img.width, y + s.px(2))], fill=218, width=s.px(0.8))
    v = verdict(s, blur_mm=0.4)
    assert v.blank, v


@pytest.mark.parametrize("dpi", DPIS)
def test_vignetting_and_a_gradient_are_blank(dpi):
    s = Sheet(dpi)
    h, w = s.img.height, s.img.width
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = np.hypot((xx - w / 2) / (w / 2), (yy - h / 2) / (h / 2))
    arr = 240 - 28 * np.clip(r - 0.6, 0, None) ** 2 - 6 * yy / h
    s.img = Image.fromarray(arr.astype(np.uint8), "L")
    assert verdict(s).blank


@pytest.mark.parametrize("dpi", DPIS)
def test_dust_specks_are_blank(dpi):
    s = Sheet(dpi, seed=9)
    for _ in range(60):
        x, y = s.rng.uniform(3, 205), s.rng.uniform(3, 292)
        d = s.rng.uniform(0.1, 0.5)
        s.draw.ellipse(
            [s.px(x), s.px(y), s.px(x + d), s.px(y + d)], fill=int(s.rng.uniform(30, 150))
        )
    v = verdict(s)
    assert v.blank, v


@pytest.mark.parametrize("dpi", DPIS)
def test_faint_blurred_bleed_through_is_blank_sharp_faint_print_is_not(dpi):
    def page(blur: float) -> Image.Image:
        s = Sheet(dpi, paper=242)
        for row in range(35):
            s.text(25, 30 + row * 7, "Sehr geehrte Damen und Herren, hiermit", 10, 222)
        img = s.img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if blur:
            img = img.filter(ImageFilter.GaussianBlur(blur * dpi / 25.4))
        s.img = img
        return s.scan(blur_mm=0.05)

    assert blank_verdict(page(0.4), dpi).blank
    assert not blank_verdict(page(0.0), dpi).blank


def test_the_verdict_says_where_the_writing_is():
    s = Sheet(300)
    s.scribble(120, 200, 10, 120)
    v = verdict(s)
    assert not v.blank
    assert "120 mm from the left" in v.reason and "mm from the top" in v.reason


def test_at_100_dpi_faint_marks_are_never_taken_for_bleed_through():
    # A pixel of 0.25 mm cannot show whether an edge is soft: a highlighter stroke beside
    # faint blurred text must stay content rather than pass for part of a bleed layer.
    s = Sheet(100, paper=242)
    for row in range(35):
        s.text(25, 30 + row * 7, "Sehr geehrte Damen und Herren, hiermit", 10, 226)
    s.img = s.img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).filter(
        ImageFilter.GaussianBlur(0.4 * 100 / 25.4)
    )
    s.draw = ImageDraw.Draw(s.img)
    s.draw.rectangle([s.px(40), s.px(150), s.px(110), s.px(155)], fill=225)
    assert not verdict(s).blank

"""A corpus of hard back sides, on both sides of the "blank" line.

Ingest drops blank back sides. Dropping a back side that carries a pencil note, a receipt
stamp or a faded till receipt loses information for good once the paper is shredded, so the
blank test must be checked against the pages a 20-year-old case file really holds: faint marks
that must be kept, and empty pages full of things that are not writing (punch holes, scanner
shadows, dust, bleed-through of the front side, folds, recycled paper).

This module renders such pages synthetically, with known truth, as held-out test material for
the blank-page detector; it knows nothing of that detector and must stay that way. Every case
in :data:`CASES` is a render function ``(rng, dpi) -> "L" image`` of an A4 grey scan plus the
truth ``written`` (True: something on the page must be kept). :func:`write_corpus` writes the
cases as PDFs the way scanning services deliver them (grey JPEG, or bilevel CCITT G4) with a
``truth.json``.

How the pages are made, so that a detector author knows what is and is not modelled:

- Paper: white (232-250) or recycled (195-220, blotchy at 1-40 mm, fibres, dark inclusions),
  a slight illumination gradient, Gaussian sensor noise (sigma 2-5), scanner black 8-25.
- Ink is multiplicative (a mark takes a share of the light, so it shows the paper's texture
  through): ``value = black + (paper - black) * (1 - k * coverage)``. A mark's *contrast* is
  how many grey levels it takes from the mean paper level at full coverage.
- Geometry is drawn in millimetres from the case's ``random.Random``; the same case and seed
  give the same page layout at every resolution, only the pixel noise differs.
- Bilevel (G4) pages are thresholded at a paper-relative level (see :func:`g4_threshold`);
  faint marks vanish there, and such pages are left out of a G4 corpus (see :func:`survives`).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import img2pdf
import numpy as np
from PIL import Image, ImageDraw, ImageFont
from scipy import ndimage

__all__ = [
    "A4_MM",
    "CASES",
    "Case",
    "Layers",
    "blank_cases",
    "case_by_name",
    "case_rng",
    "encode_page",
    "g4_threshold",
    "page_survives",
    "survives",
    "write_corpus",
    "written_cases",
]

A4_MM = (210.0, 297.0)
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
_FONT_FILES = {
    "sans": "DejaVuSans.ttf",
    "sans-bold": "DejaVuSans-Bold.ttf",
    "sans-light": "DejaVuSans-ExtraLight.ttf",
    "sans-oblique": "DejaVuSans-Oblique.ttf",
    "serif": "DejaVuSerif.ttf",
    "serif-bold": "DejaVuSerif-Bold.ttf",
    "mono": "DejaVuSansMono.ttf",
    "mono-bold": "DejaVuSansMono-Bold.ttf",
    "cond": "DejaVuSansCondensed.ttf",
    "cond-bold": "DejaVuSansCondensed-Bold.ttf",
}

#: A written mark survives thresholding if at least this much of it (mm²) turns black ...
SURVIVE_MIN_MM2 = 1.0
#: ... and at least this share of the mark's core pixels does (scattered single pixels of a
#: 60 mm pencil line are not a line a reader of the G4 file could see).
SURVIVE_MIN_SHARE = 0.10
#: In a JPEG page the mark's core must still be this many grey levels darker than without it.
SURVIVE_MIN_JPEG_LEVELS = 8.0


@lru_cache(maxsize=512)
def _font(name: str, size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype(str(FONT_DIR / _FONT_FILES[name]), max(4, size_px))
    except OSError:
        # Without DejaVu the pages still render in Pillow's own font.
        return ImageFont.load_default(size=max(4, size_px))


# --- the page --------------------------------------------------------------------------------


@dataclass
class Layers:
    """One rendered page with what is needed to judge it.

    ``unmarked`` is the same scan (same paper, noise and distractors) without the written
    marks; ``mark`` is True on the core pixels of the written marks (coverage at least half).
    """

    image: Image.Image
    unmarked: np.ndarray
    mark: np.ndarray
    dpi: int
    paper: float
    features: list[str] = field(default_factory=list)


class _Page:
    """An A4 scan under construction, in millimetres."""

    def __init__(self, rng: random.Random, dpi: int, paper: str | None = None) -> None:
        self.rng = rng
        self.dpi = dpi
        self.np = np.random.default_rng(rng.getrandbits(64))
        self.w = round(A4_MM[0] / 25.4 * dpi)
        self.h = round(A4_MM[1] / 25.4 * dpi)
        self.features: list[str] = []
        if paper is None:
            paper = "recycled" if rng.random() < 0.2 else "white"
        self.kind = paper
        self.black = rng.uniform(8, 25)
        self.noise_sigma = rng.uniform(2.0, 5.0)
        if paper == "recycled":
            self.paper = rng.uniform(195, 220)
            amp = (rng.uniform(2.5, 5.0), rng.uniform(1.5, 3.5), rng.uniform(0.8, 2.0))
        else:
            self.paper = rng.uniform(232, 250)
            amp = (rng.uniform(0.5, 1.8), rng.uniform(0.3, 1.0), rng.uniform(0.2, 0.6))
        self.features.append(f"paper-{paper}")
        self.base = self._paper(amp)
        # Dust, fibres and inclusions: levels of darkening, drawn in one go onto one canvas.
        self.dark = Image.new("L", (self.w, self.h), 0)
        self.dark_draw = ImageDraw.Draw(self.dark)
        self._dark_used = False
        self.trans: np.ndarray | None = None
        self.mark: np.ndarray | None = None
        # Illumination: a tilt of a few levels across the page; vignetting added by a case.
        self.tilt = (rng.uniform(-0.02, 0.02), rng.uniform(-0.02, 0.02))
        self.vignette = 0.0
        self.vignette_power = 2.0
        if paper == "recycled":
            self.fibres(rng.randint(20, 70), contrast=(12, 45))
            self.specks(rng.randint(10, 40), size=(0.08, 0.3), contrast=(20, 70))

    # geometry
    def px(self, mm: float) -> float:
        return mm * self.dpi / 25.4

    @property
    def mm_per_px(self) -> float:
        return 25.4 / self.dpi

    # paper
    def _paper(self, amp: tuple[float, float, float]) -> np.ndarray:
        # Built on a 0.5 mm grid and scaled up once: three octaves of blotchiness cost one
        # full-size resize instead of three.
        gh, gw = round(A4_MM[1] * 2), round(A4_MM[0] * 2)
        grid = np.zeros((gh, gw), np.float32)
        for a, cell_mm in zip(
            amp, (self.rng.uniform(15, 40), self.rng.uniform(3, 8), 1.0), strict=True
        ):
            grid += a * _smooth(self.np, (gh, gw), cell_mm * 2)
        return _upscale(grid, (self.h, self.w), scale=0.25, offset=self.paper)

    # darkening canvas
    def specks(
        self,
        n: int,
        *,
        size: tuple[float, float] = (0.1, 0.6),
        contrast: tuple[float, float] = (40, 200),
        clusters: float = 0.0,
    ) -> None:
        """Dust and dirt: small dark ellipses, at most ``size[1]`` mm across."""
        rng = self.rng
        for _ in range(n):
            cx, cy = rng.uniform(1, A4_MM[0] - 1), rng.uniform(1, A4_MM[1] - 1)
            parts = rng.randint(2, 3) if rng.random() < clusters else 1
            d = rng.uniform(*size)
            c = round(rng.uniform(*contrast))
            for k in range(parts):
                # The parts of a cluster stay within the speck's size.
                dd = d if k == 0 else d * rng.uniform(0.3, 0.5)
                ox = 0.0 if k == 0 else rng.uniform(-0.5, 0.5) * (d - dd)
                oy = 0.0 if k == 0 else rng.uniform(-0.5, 0.5) * (d - dd)
                rx = max(0.5, self.px(dd) / 2 * rng.uniform(0.6, 1.0))
                ry = max(0.5, self.px(dd) / 2 * rng.uniform(0.6, 1.0))
                x, y = self.px(cx + ox), self.px(cy + oy)
                self.dark_draw.ellipse([x - rx, y - ry, x + rx, y + ry], fill=c)
        self._dark_used = True

    def fibres(
        self,
        n: int,
        *,
        length: tuple[float, float] = (0.5, 2.5),
        width: tuple[float, float] = (0.04, 0.1),
        contrast: tuple[float, float] = (15, 60),
    ) -> None:
        """Short thin curved fibres of recycled paper."""
        rng = self.rng
        for _ in range(n):
            x, y = rng.uniform(0, A4_MM[0]), rng.uniform(0, A4_MM[1])
            ln = rng.uniform(*length)
            ang = rng.uniform(0, math.pi)
            bend = rng.uniform(-0.8, 0.8)
            pts = []
            for i in range(6):
                t = i / 5
                a = ang + bend * (t - 0.5)
                pts.append((self.px(x + math.cos(a) * ln * t), self.px(y + math.sin(a) * ln * t)))
            wpx = max(1, round(self.px(rng.uniform(*width))))
            self.dark_draw.line(pts, fill=round(rng.uniform(*contrast)), width=wpx)
        self._dark_used = True

    # marks
    def ink(
        self,
        cov: np.ndarray,
        cx: float,
        cy: float,
        contrast: float,
        *,
        blur_mm: float = 0.05,
        grain: float = 0.0,
        fade: tuple[float, float, float] | None = None,
        written: bool = True,
        core: np.ndarray | None = None,
    ) -> None:
        """Lay a coverage crop (0..1, float) centred at (cx, cy) mm, ``contrast`` levels deep.

        ``grain`` is the relative spread of pencil graphite per pixel; ``fade`` is
        (low, high, cell_mm): a smooth factor across the mark, for stamp ink and a drying pen.
        ``core`` (same shape as ``cov``) says where the mark is, when that is not simply where
        it covers half the paper (a photo has light parts too).
        """
        cov = np.asarray(cov, np.float32)
        bpx = self.px(blur_mm)
        if bpx >= 0.3:
            cov = ndimage.gaussian_filter(cov, bpx)
        core = cov >= 0.5 if core is None else core
        eff = cov
        if fade is not None:
            lo, hi, cell = fade
            f = _smooth(self.np, cov.shape, self.px(cell))
            eff = eff * np.clip((lo + hi) / 2 + (hi - lo) / 2 * f, 0.0, 1.5)
        if grain:
            g = 1.0 + grain * self.np.standard_normal(cov.shape, dtype=np.float32)
            eff = eff * np.clip(g, 0.15, 2.0)
        k = contrast / max(1.0, self.paper - self.black)
        t = np.clip(1.0 - k * eff, 0.0, 1.0)
        sl_page, sl_crop = _place(cov.shape, self.px(cx), self.px(cy), (self.h, self.w))
        if sl_page is None:
            return
        if written:
            if self.trans is None:
                self.trans = np.ones((self.h, self.w), np.float32)
                self.mark = np.zeros((self.h, self.w), bool)
            assert self.mark is not None
            self.trans[sl_page] *= t[sl_crop]
            self.mark[sl_page] |= core[sl_crop]
        else:
            region = self.base[sl_page]
            region -= self.black
            region *= t[sl_crop]
            region += self.black

    def cover_page(self, cov_row: np.ndarray) -> None:
        """A written mark over the whole page (coverage varying only across it)."""
        self.trans = np.empty((self.h, self.w), np.float32)
        # Full coverage takes all the light: the page goes to the scanner's black.
        self.trans[:] = (1.0 - cov_row.astype(np.float32))[None, :]
        self.mark = np.ones((self.h, self.w), bool)

    def set_level(self, cov: np.ndarray, x0: int, y0: int, level: float | np.ndarray) -> None:
        """Blend a crop of the paper towards an absolute level (holes, backing, shadows)."""
        h, w = cov.shape
        y1, x1 = min(self.h, y0 + h), min(self.w, x0 + w)
        ya, xa = max(0, y0), max(0, x0)
        if ya >= y1 or xa >= x1:
            return
        c = cov[ya - y0 : y1 - y0, xa - x0 : x1 - x0]
        lv = level if np.isscalar(level) else level[ya - y0 : y1 - y0, xa - x0 : x1 - x0]
        region = self.base[ya:y1, xa:x1]
        region += c * (lv - region)

    # finishing
    def finish(self) -> Layers:
        # Written with in-place operations on few full-page buffers: allocating a fresh 35 MB
        # array costs more than the arithmetic on it.
        base = self.base
        h, w = self.h, self.w
        if self._dark_used:
            base -= np.asarray(self.dark)
        ty, tx = self.tilt
        illum = np.add.outer(
            ty * np.linspace(-1, 1, h, dtype=np.float32),
            tx * np.linspace(-1, 1, w, dtype=np.float32),
        )
        illum += 1.0
        if self.vignette:
            p = self.vignette_power
            a = 0.5 * self.vignette / self.paper
            # Corners lose ``vignette`` levels, the middle of an edge half as much.
            illum -= (a * np.abs(np.linspace(-1, 1, h, dtype=np.float32)) ** p)[:, None]
            illum -= (a * np.abs(np.linspace(-1, 1, w, dtype=np.float32)) ** p)[None, :]
        base *= illum
        # The illumination buffer is reused for the noise, then for the unmarked page.
        unmarked = _noise(self.np, h, w, self.noise_sigma, out=illum)
        unmarked += base
        np.clip(unmarked, 0, 255, out=unmarked)
        unmarked_u8 = unmarked.astype(np.uint8)
        if self.trans is not None:
            # final = black + (base - black) * T + noise = unmarked - (base - black) * (1 - T)
            t = self.trans
            t *= -1.0
            t += 1.0
            base -= self.black
            base *= t
            np.subtract(unmarked, base, out=base)
            np.clip(base, 0, 255, out=base)
            final_u8 = base.astype(np.uint8)
            mark = self.mark
        else:
            final_u8 = unmarked_u8
            mark = np.zeros((h, w), bool)
        assert mark is not None
        return Layers(
            image=Image.fromarray(final_u8, "L"),
            unmarked=unmarked_u8,
            mark=mark,
            dpi=self.dpi,
            paper=self.paper,
            features=self.features,
        )


def _place(shape: tuple[int, int], cx: float, cy: float, page: tuple[int, int]) -> tuple[Any, Any]:
    """Slices of page and crop for a crop centred at (cx, cy) px, clipped to the page."""
    h, w = shape
    y0, x0 = round(cy - h / 2), round(cx - w / 2)
    ya, xa = max(0, y0), max(0, x0)
    yb, xb = min(page[0], y0 + h), min(page[1], x0 + w)
    if ya >= yb or xa >= xb:
        return None, None
    return (slice(ya, yb), slice(xa, xb)), (slice(ya - y0, yb - y0), slice(xa - x0, xb - x0))


def _upscale(
    grid: np.ndarray,
    shape: tuple[int, int],
    *,
    scale: float,
    offset: float = 0.0,
    centre: int = 128,
) -> np.ndarray:
    """A small float grid scaled up bilinearly to a full page, as float32 ``offset + grid``.

    Scaled in Pillow's 8-bit mode, in steps of ``scale`` levels around ``centre``: a float image of
    page size costs several times as much to scale and to hand over to numpy (on a loaded
    machine a third of a second), and the sensor noise added later dithers the steps away.
    """
    q = np.clip(np.rint(grid / scale) + centre, 0, 255).astype(np.uint8)
    img = Image.fromarray(q, "L").resize((shape[1], shape[0]), Image.Resampling.BILINEAR)
    out = np.asarray(img).astype(np.float32)
    out -= centre
    out *= scale
    out += offset
    return out


def _smooth(nprng: np.random.Generator, shape: tuple[int, int], cell_px: float) -> np.ndarray:
    """Smooth random field of about unit spread, varying over ``cell_px`` pixels."""
    h, w = shape
    gh = max(2, math.ceil(h / max(1.0, cell_px)) + 1)
    gw = max(2, math.ceil(w / max(1.0, cell_px)) + 1)
    grid = nprng.standard_normal((gh, gw)).astype(np.float32)
    if gh >= h and gw >= w:
        return grid[:h, :w] / max(1e-6, float(grid.std()))
    img = Image.fromarray(grid, "F").resize((w, h), Image.Resampling.BICUBIC)
    out = np.array(img, dtype=np.float32)
    sd = float(out[:: max(1, h // 64), :: max(1, w // 64)].std())
    out /= max(sd, 1e-6)
    return out


def _noise(
    nprng: np.random.Generator, h: int, w: int, sigma: float, out: np.ndarray | None = None
) -> np.ndarray:
    """Gaussian sensor noise, cheaply.

    Bands of 64 rows are copied from one random tile, each band shifted sideways by its own
    random amount: no pattern a reader or a classifier can see, at a fiftieth of the cost of
    drawing 9 million normal numbers.
    """
    th, extra = 64, 509
    tile = nprng.standard_normal((th, w + extra), dtype=np.float32)
    tile *= sigma
    if out is None:
        out = np.empty((h, w), np.float32)
    for top in range(0, h, th):
        rows = min(th, h - top)
        off = int(nprng.integers(0, extra))
        start = int(nprng.integers(0, th - rows + 1))
        out[top : top + rows] = tile[start : start + rows, off : off + w]
    return out


def _rotate(cov: np.ndarray, angle: float) -> np.ndarray:
    """A float coverage crop rotated counter-clockwise by ``angle`` degrees, grown to fit."""
    if abs(angle) < 0.05:
        return cov
    img = Image.fromarray((np.clip(cov, 0, 1) * 255).astype(np.uint8), "L")
    img = img.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=0)
    return np.asarray(img, np.float32) / 255.0


# --- drawing marks ---------------------------------------------------------------------------


def _hand_text(
    p: _Page, text: str, xh_mm: float, pen_mm: float, *, upright: bool = False
) -> np.ndarray:
    """Handwritten print letters: a thin font thickened to the pen, slanted and warped.

    Each letter gets its own size and baseline; a smooth displacement field bends the strokes
    so that no two letters are alike; the slant of a hand leans right.
    """
    rng = p.rng
    xh = p.px(xh_mm)
    fs = xh / 0.547  # DejaVu's x-height is 0.547 em
    pen = p.px(pen_mm)
    sw = max(0, round((pen - 0.04 * fs) / 2))
    width = int(len(text) * fs * 0.9 + 2 * fs + 4 * sw)
    height = int(fs * 2.0 + 4 * sw)
    img = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(img)
    x = fs * 0.4 + sw
    base_y = fs * 1.25 + sw
    drift = rng.uniform(-0.04, 0.04)
    for ch in text:
        if ch == " ":
            x += fs * rng.uniform(0.28, 0.45)
            continue
        size = round(fs * rng.uniform(0.88, 1.12))
        font = _font("sans-light", size)
        y = base_y + xh * rng.uniform(-0.08, 0.08) + drift * (x - fs)
        draw.text((x, y), ch, font=font, fill=255, anchor="ls", stroke_width=sw, stroke_fill=255)
        x += font.getlength(ch) * rng.uniform(0.85, 1.02) + sw
    bbox = img.getbbox()
    if bbox is None:
        return np.zeros((1, 1), np.float32)
    pad = round(fs * 0.3)
    box = (
        max(0, bbox[0] - pad),
        max(0, bbox[1] - pad),
        min(width, bbox[2] + pad),
        min(height, bbox[3] + pad),
    )
    src = np.asarray(img.crop(box), np.float32) / 255.0
    slant = 0.0 if upright else rng.uniform(0.08, 0.35)
    h, w = src.shape
    grow = round(slant * h)
    rr, cc = np.mgrid[0:h, 0 : w + grow].astype(np.float32)
    amp = xh * rng.uniform(0.05, 0.09)
    dx = amp * _smooth(p.np, (h, w + grow), xh * 0.8)
    dy = amp * _smooth(p.np, (h, w + grow), xh * 0.8)
    period = max(1.0, xh * rng.uniform(4, 9))
    wave = xh * rng.uniform(0.05, 0.15) * np.sin(cc / period + rng.uniform(0, 6))
    src_c = cc - grow + slant * rr + dx
    src_r = rr + dy + wave
    return ndimage.map_coordinates(src, [src_r, src_c], order=1, cval=0.0).astype(np.float32)


def _polyline_cov(p: _Page, strokes: list[list[tuple[float, float]]], pen_mm: float) -> np.ndarray:
    """Strokes (lists of points in mm, any origin) drawn with a round pen, as a crop."""
    xs = [x for s in strokes for x, _ in s]
    ys = [y for s in strokes for _, y in s]
    pad = pen_mm * 2 + 0.5
    x0, y0 = min(xs) - pad, min(ys) - pad
    w = round(p.px(max(xs) - x0 + pad)) + 1
    h = round(p.px(max(ys) - y0 + pad)) + 1
    img = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(img)
    wpx = max(1, round(p.px(pen_mm)))
    for s in strokes:
        pts = [(p.px(x - x0), p.px(y - y0)) for x, y in s]
        draw.line(pts, fill=255, width=wpx, joint="curve")
        r = wpx / 2
        for x, y in (pts[0], pts[-1]):
            draw.ellipse([x - r, y - r, x + r, y + r], fill=255)
    return np.asarray(img, np.float32) / 255.0


def _signature(rng: random.Random, length: float, height: float) -> list[list[tuple[float, float]]]:
    """A paraph: a tall first loop, cursive loops of mixed height, maybe a flourish under it."""
    loops = max(3, round(length / rng.uniform(2.6, 4.2)))
    slant = rng.uniform(0.2, 0.5)
    slope = rng.uniform(-0.06, 0.06)
    advance = length / loops
    swing = advance / (2 * math.pi) * rng.uniform(1.1, 1.7)
    heights = []
    for i in range(loops + 1):
        if i == 0:
            heights.append(height * rng.uniform(0.75, 1.0))
        elif rng.random() < 0.25:
            heights.append(height * rng.uniform(0.6, 0.9))
        elif rng.random() < 0.1:
            heights.append(-height * rng.uniform(0.3, 0.45))
        else:
            heights.append(height * rng.uniform(0.2, 0.4))
    pts = []
    steps = 20 * loops
    for i in range(steps + 1):
        t = i / steps
        phase = 2 * math.pi * loops * t
        hh = heights[min(loops, int(loops * t))]
        rise = hh * (0.5 - 0.5 * math.cos(phase))
        x = t * length - swing * math.sin(phase) + slant * rise
        y = slope * t * length - rise + 0.2 * math.sin(phase / 5)
        pts.append((x, y))
    # Pen lifts: a signature is two or three strokes, not one.
    cut = sorted(rng.sample(range(steps // 4, steps - steps // 4), rng.randint(0, 2)))
    strokes, last = [], 0
    for c in [*cut, steps + 1]:
        if c - last > 3:
            strokes.append(pts[last:c])
        last = c + rng.randint(1, 3)
    if rng.random() < 0.6:
        ex, ey = pts[-1]
        back = rng.uniform(0.4, 0.95) * length
        tail = []
        for i in range(13):
            t = i / 12
            tail.append((ex - back * t, ey + height * 0.18 + 0.6 * math.sin(math.pi * t)))
        strokes.append(tail)
    return strokes


def _tick(rng: random.Random, size: float) -> list[list[tuple[float, float]]]:
    """A check mark: a short stroke down, a long one up, slightly curved."""
    down = size * rng.uniform(0.3, 0.45)
    pts = []
    for i in range(7):
        t = i / 6
        pts.append((down * 0.6 * t, -down * (1 - t) + 0.1 * math.sin(math.pi * t)))
    for i in range(1, 13):
        t = i / 12
        bow = size * 0.08 * math.sin(math.pi * t)
        pts.append((down * 0.6 + (size * 0.75) * t, -size * t + bow))
    return [pts]


def _text_cov(
    p: _Page, lines: Sequence[tuple[str, str, float]], *, gap: float = 1.25, align: str = "l"
) -> np.ndarray:
    """Printed or stamped lines (text, font, pt) as a coverage crop."""
    fonts = [_font(f, round(pt * p.dpi / 72.0)) for _, f, pt in lines]
    widths = [f.getlength(t) for (t, _, _), f in zip(lines, fonts, strict=True)]
    heights = [pt * p.dpi / 72.0 for _, _, pt in lines]
    w = int(max(widths) + heights[0]) + 4
    h = int(sum(heights) * gap + heights[0]) + 4
    img = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(img)
    y = heights[0] * 0.3
    for (text, _, _), font, lh, lw in zip(lines, fonts, heights, widths, strict=True):
        x = (w - lw) / 2 if align == "c" else heights[0] * 0.5
        draw.text((x, y + lh), text, font=font, fill=255, anchor="ls")
        y += lh * gap
    return np.asarray(img, np.float32) / 255.0


def _date(rng: random.Random) -> str:
    return f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}.{rng.randint(1998, 2008)}"


def _stamp_cov(
    p: _Page,
    lines: Sequence[tuple[str, str, float]],
    *,
    w_mm: float,
    h_mm: float,
    round_frame: bool = False,
) -> np.ndarray:
    """A rubber stamp: a frame with centred text; gaps where the rubber took no ink."""
    rng = p.rng
    w, h = round(p.px(w_mm)), round(p.px(h_mm))
    img = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(img)
    lw = max(1, round(p.px(rng.uniform(0.35, 0.6))))
    if round_frame:
        draw.ellipse([lw, lw, w - lw, h - lw], outline=255, width=lw)
        inner = round(p.px(1.2))
        draw.ellipse(
            [inner + lw, inner + lw, w - inner - lw, h - inner - lw],
            outline=255,
            width=max(1, lw // 2),
        )
    else:
        draw.rounded_rectangle(
            [lw, lw, w - lw, h - lw], radius=round(p.px(1.0)), outline=255, width=lw
        )
    text = _text_cov(p, lines, align="c", gap=1.2)
    th, tw = text.shape
    scale = min(1.0, (w * 0.86) / tw, (h * 0.8) / th)
    if scale < 1.0:
        text = (
            np.asarray(
                Image.fromarray((text * 255).astype(np.uint8)).resize(
                    (max(1, round(tw * scale)), max(1, round(th * scale))),
                    Image.Resampling.BILINEAR,
                ),
                np.float32,
            )
            / 255.0
        )
        th, tw = text.shape
    cov = np.asarray(img, np.float32) / 255.0
    y0, x0 = (h - th) // 2, (w - tw) // 2
    cov[y0 : y0 + th, x0 : x0 + tw] = np.maximum(cov[y0 : y0 + th, x0 : x0 + tw], text)
    # Rubber stamps leave small uninked specks inside their strokes.
    holes = p.np.random(cov.shape) < rng.uniform(0.03, 0.12)
    cov[holes] *= 0.3
    return cov


# --- distractors -----------------------------------------------------------------------------

_HOLE_CENTRE_MM = 12.0


def _hole_positions(rng: random.Random, four: bool) -> list[float]:
    mid = A4_MM[1] / 2 + rng.uniform(-4, 4)  # a punch is never quite centred
    offsets = (-120, -40, 40, 120) if four else (-40, 40)
    return [mid + o for o in offsets]


def _holes(
    p: _Page, *, four: bool | None = None, light: bool | None = None, side: str = "right"
) -> list[tuple[float, float]]:
    """Punch holes: 80 mm apart (2 or 4), 5.5-6 mm, centre ~12 mm from the binding edge.

    On a back side the binding edge is on the right. Over a dark scanner backing a hole is
    dark; over a white one it is lighter than the paper, with a grey shadow on one side of
    its rim where the sheet stands off the glass.
    """
    rng = p.rng
    if four is None:
        four = rng.random() < 0.35
    if light is None:
        light = rng.random() < 0.4
    d = rng.uniform(5.5, 6.0)
    edge = _HOLE_CENTRE_MM + rng.uniform(-1.5, 1.5)
    cx = A4_MM[0] - edge if side == "right" else edge
    backing = rng.uniform(245, 255) if light else rng.uniform(10, 70)
    rim = rng.uniform(0.3, 0.8)
    rim_c = rng.uniform(30, 90)
    rim_dir = rng.uniform(0, 2 * math.pi)
    centres = [(cx + rng.uniform(-0.3, 0.3), y) for y in _hole_positions(rng, four)]
    r = p.px(d / 2)
    half = math.ceil(r + p.px(rim) + 3)
    yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float32)
    for hx, hy in centres:
        fx, fy = p.px(hx) % 1, p.px(hy) % 1
        dist = np.hypot(xx - fx, yy - fy)
        inside = np.clip(r - dist + 0.5, 0, 1)
        x0, y0 = math.floor(p.px(hx)) - half, math.floor(p.px(hy)) - half
        if light:
            ang = np.arctan2(yy - fy, xx - fx)
            side_w = 0.35 + 0.65 * np.clip(np.cos(ang - rim_dir), 0, 1)
            ring = np.clip(1 - np.abs(dist - r) / max(1.0, p.px(rim)), 0, 1) * side_w
            p.set_level(ring * (rim_c / p.paper), x0, y0, 0.0)
        p.set_level(inside, x0, y0, backing)
    p.features.append(f"holes-{4 if four else 2}-{'light' if light else 'dark'}")
    return centres


def _edge_shadow(p: _Page, edge: str | None = None) -> None:
    """A dark band along one page edge: the scanner's shadow of the sheet's edge."""
    rng = p.rng
    edge = edge or rng.choice(["top", "bottom", "left", "right"])
    depth = rng.uniform(1.0, 8.0)
    soft = rng.uniform(0.5, 3.0)
    level = rng.uniform(15, 120)
    along = p.w if edge in ("top", "bottom") else p.h
    across = round(p.px(depth * 1.4 + soft * 4)) + 2
    prof = depth * (1 + 0.15 * _smooth(p.np, (1, along), p.px(rng.uniform(30, 90)))[0])
    # Often the band covers only part of the edge (the sheet lifts in one place).
    if rng.random() < 0.4:
        s0, s1 = sorted(rng.uniform(0, 1) for _ in range(2))
        pos = np.linspace(0, 1, along)
        prof *= np.clip(np.minimum(pos - s0, s1 - pos) * 20 + 0.5, 0, 1) * 0.8 + 0.2
    u = np.arange(across, dtype=np.float32)[:, None] * p.mm_per_px
    cov = 1.0 / (1.0 + np.exp((u - prof[None, :]) / (soft / 3)))
    cov = cov.astype(np.float32)
    if edge == "top":
        p.set_level(cov, 0, 0, level)
    elif edge == "bottom":
        p.set_level(cov[::-1], 0, p.h - across, level)
    elif edge == "left":
        p.set_level(cov.T.copy(), 0, 0, level)
    else:
        p.set_level(cov.T[:, ::-1].copy(), p.w - across, 0, level)
    p.features.append(f"edge-shadow-{edge}")


def _skew_wedge(p: _Page) -> None:
    """A skewed sheet: the scanner backing shows as dark wedges along the edges."""
    rng = p.rng
    angle = math.radians(rng.uniform(0.5, 2.2) * rng.choice((-1, 1)))
    shift = (rng.uniform(-2.5, 2.5), rng.uniform(-2.5, 2.5))
    level = rng.uniform(15, 90)
    q = 4  # computed at a quarter of the resolution: the edge is soft on a scan anyway
    hq, wq = math.ceil(p.h / q), math.ceil(p.w / q)
    mm = q * p.mm_per_px
    yy, xx = np.mgrid[0:hq, 0:wq].astype(np.float32)
    x = xx * mm - A4_MM[0] / 2 - shift[0]
    y = yy * mm - A4_MM[1] / 2 - shift[1]
    ca, sa = math.cos(angle), math.sin(angle)
    xr, yr = ca * x + sa * y, -sa * x + ca * y
    inside = np.minimum(A4_MM[0] / 2 - np.abs(xr), A4_MM[1] / 2 - np.abs(yr))
    cov = np.clip(0.5 - inside / 0.3, 0, 1)
    # The sheet's edge casts a soft shadow a millimetre or so onto the sheet.
    shade = np.where(inside > 0, np.exp(-inside / rng.uniform(0.4, 1.2)), 0) * rng.uniform(0.2, 0.5)
    cov = np.maximum(cov, shade).astype(np.float32)
    full = _upscale(cov, (p.h, p.w), scale=1 / 255, centre=0)
    # Only the rim of the page is touched: the middle of the sheet stays as it was.
    band = round(p.px(12))
    for sl in (
        np.s_[:band, :],
        np.s_[-band:, :],
        np.s_[band:-band, :band],
        np.s_[band:-band, -band:],
    ):
        region = p.base[sl]
        region += full[sl] * (level - region)
    p.features.append("skew-wedge")


def _bleed(p: _Page, *, contrast: tuple[float, float] = (12, 30)) -> None:
    """The front side's print seen through the paper: mirrored, blurred, faint, page-wide."""
    rng = p.rng
    ldpi = 100
    lw, lh = round(A4_MM[0] / 25.4 * ldpi), round(A4_MM[1] / 25.4 * ldpi)
    img = Image.new("L", (lw, lh), 0)
    draw = ImageDraw.Draw(img)

    def lpx(mm: float) -> float:
        return mm * ldpi / 25.4

    left, right = rng.uniform(20, 27), A4_MM[0] - rng.uniform(15, 22)
    y = rng.uniform(12, 22)
    draw.text(
        (lpx(left), lpx(y)),
        rng.choice(_LETTERHEADS),
        font=_font("sans-bold", 22),
        fill=255,
        anchor="lt",
    )
    y += rng.uniform(10, 14)
    small = _font("sans", 11)
    for _ in range(rng.randint(3, 5)):
        draw.text((lpx(left), lpx(y)), _words(rng, 4), font=small, fill=255, anchor="lt")
        y += 4.2
    y += rng.uniform(10, 25)
    body = _font(rng.choice(["sans", "serif"]), round(rng.uniform(10, 12) * ldpi / 72))
    bold = _font("sans-bold", round(11.5 * ldpi / 72))
    draw.text((lpx(left), lpx(y)), _words(rng, 6), font=bold, fill=255, anchor="lt")
    y += 9
    line_h = rng.uniform(4.8, 6.0)
    bottom = rng.uniform(235, 275)
    table = rng.random() < 0.2
    while y < bottom:
        if table and rng.random() < 0.12:
            rows = rng.randint(3, 7)
            for r in range(rows + 1):
                draw.line(
                    [(lpx(left), lpx(y + r * 6)), (lpx(right), lpx(y + r * 6))], fill=255, width=1
                )
            for c in np.linspace(left, right, rng.randint(3, 5)):
                draw.line([(lpx(c), lpx(y)), (lpx(c), lpx(y + rows * 6))], fill=255, width=1)
            y += rows * 6 + line_h
            continue
        n = rng.randint(7, 12) if rng.random() > 0.15 else rng.randint(2, 5)
        text = _words(rng, n)
        while body.getlength(text) > lpx(right - left) and " " in text:
            text = text.rsplit(" ", 1)[0]
        draw.text((lpx(left), lpx(y)), text, font=body, fill=255, anchor="lt")
        y += line_h * (2 if rng.random() < 0.12 else 1)
    if rng.random() < 0.5:
        sig = _signature(rng, rng.uniform(30, 50), rng.uniform(6, 10))
        sx, sy = left + rng.uniform(0, 60), min(bottom + 12, 285)
        draw.line([(lpx(sx + x), lpx(sy + yy)) for x, yy in sig[0]], fill=255, width=2)
    arr = np.asarray(img.transpose(Image.Transpose.FLIP_LEFT_RIGHT), np.float32) / 255.0
    sigma_mm = rng.uniform(0.3, 0.6)
    arr = ndimage.gaussian_filter(arr, lpx(sigma_mm))
    top = float(np.percentile(arr[arr > 0.02], 99.5)) if (arr > 0.02).any() else 1.0
    arr /= max(top, 1e-3)
    np.clip(arr, 0, 1, out=arr)
    c = rng.uniform(*contrast)
    full = _upscale(arr, (p.h, p.w), scale=1 / 255, centre=0)
    full *= -c / max(1.0, p.paper - p.black)
    full += 1.0
    # Multiplicative: through a darker (recycled) sheet, less of the front shows.
    p.base *= full
    p.features.append(f"bleed-{c:.0f}")


def _fold(p: _Page) -> None:
    """A fold: a soft dark line with a light shoulder, across the page from edge to edge."""
    rng = p.rng
    vertical = rng.random() < 0.3
    length = A4_MM[1] if vertical else A4_MM[0]
    span = A4_MM[0] if vertical else A4_MM[1]
    pos = span * rng.choice((1 / 3, 1 / 2, 2 / 3)) + rng.uniform(-10, 10)
    slope = math.tan(math.radians(rng.uniform(-1.5, 1.5)))
    sigma = rng.uniform(0.3, 1.0)
    dark = rng.uniform(4, 14)
    light = rng.uniform(1, 5)
    strip_mm = 8 + abs(slope) * length
    n_along = p.h if vertical else p.w
    n_across = round(p.px(strip_mm * 2))
    u = (np.arange(n_across, dtype=np.float32) * p.mm_per_px - strip_mm)[:, None]
    s = np.arange(n_along, dtype=np.float32)[None, :] * p.mm_per_px
    d = u - slope * (s - length / 2)
    # The crease fades and strengthens along its length.
    var = 0.7 + 0.3 * _smooth(p.np, (1, n_along), p.px(40))
    delta = (
        -dark * np.exp(-0.5 * (d / sigma) ** 2)
        + light * np.exp(-0.5 * ((d - 2.5 * sigma) / (2 * sigma)) ** 2)
    ) * var
    delta = delta.astype(np.float32)
    start = round(p.px(pos - strip_mm))
    if vertical:
        delta = delta.T
        a, b = max(0, start), min(p.w, start + n_across)
        p.base[:, a:b] += delta[:, a - start : b - start]
    else:
        a, b = max(0, start), min(p.h, start + n_across)
        p.base[a:b, :] += delta[a - start : b - start, :]
    p.features.append("fold")


def _ambient(p: _Page, *, holes: float = 0.3) -> list[tuple[float, float]]:
    """What every sheet of a case file may carry besides its mark: dust and often holes."""
    p.specks(p.rng.randint(0, 8), size=(0.08, 0.4), contrast=(30, 150))
    if p.rng.random() < holes:
        return _holes(p)
    return []


# --- text material ---------------------------------------------------------------------------

_LETTERHEADS = (
    "Jobcenter Kreis Borken",
    "Stadtwerke Bocholt GmbH",
    "Deutsche Rentenversicherung",
    "AOK NordWest",
    "Agentur für Arbeit Coesfeld",
    "Sparkasse Westmünsterland",
)
_WORD_TEXT = (
    "der die das und nicht Bescheid über Leistungen zur Sicherung des Lebensunterhalts nach "
    "dem Zweiten Buch Sozialgesetzbuch für den Zeitraum vom bis werden Ihnen monatlich "
    "bewilligt Einkommen Bedarfsgemeinschaft Unterkunft Heizung Miete Nebenkosten Antrag "
    "Mitwirkung Nachweise vorlegen innerhalb Frist Widerspruch einlegen schriftlich Jobcenter "
    "Anrechnung Freibetrag Kindergeld Unterhalt Konto Zahlung Betrag Euro gemäß Absatz Satz"
)
_WORDS = tuple(_WORD_TEXT.split())


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(n))


_NOTES = (
    "erl.",
    "z.d.A.",
    "Kopie z.d.A.",
    "s. Rückseite",
    "WV 3 Mon.",
    "Rücksprache",
    "bitte prüfen",
    "Frist 14.6.",
    "vorgelegt",
    "s. Bl. 27",
    "MA informiert",
    "Rückruf erbeten",
    "Tel. 3382",
    "AZ 4711/04",
    "gesehen",
    "Orig. zurück",
    "ok",
    "nachgereicht",
)
_SHORT = ("3", "12", "Ko.", "s. Bl. 4", "AZ", "erl.", "x", "WV", "27", "ok")
_INITIALS = ("MK", "Sch", "HB", "Ke", "AW", "JL", "Mü", "Bo", "TR", "Wi")
_FOOTERS = (
    "Vordruck Jobcenter · SGB II · Stand 03/2004 · Seite 2 von 2",
    "Bitte wenden",
    "Formular ALG II – Anlage KdU – Rückseite",
    "Datenschutzhinweis: Ihre Daten werden gemäß § 67a SGB X erhoben.",
    "Druck: Bundesagentur für Arbeit, Nürnberg · BA II 7/2005",
    "Nur für den Dienstgebrauch",
    "Hinweis: Unvollständige Angaben verzögern die Bearbeitung.",
)


def _pen(rng: random.Random, pencil: bool) -> dict[str, Any]:
    """How a pen lays ink: pencil is grainy and soft, a ballpoint even but skipping."""
    if pencil:
        return {"blur_mm": 0.08, "grain": rng.uniform(0.3, 0.45), "fade": (0.8, 1.15, 4.0)}
    return {"blur_mm": 0.05, "grain": 0.06, "fade": (0.6, 1.15, rng.uniform(2, 6))}


# --- the cases -------------------------------------------------------------------------------

Render = Callable[[random.Random, int], Image.Image]


@dataclass(frozen=True)
class Case:
    """One kind of back side: what it shows, whether it is written, and how to draw it."""

    name: str
    written: bool
    description: str
    draw: Callable[[_Page], None] = field(repr=False)
    paper: str | None = None  # "white", "recycled" or None (white four times in five)

    def layers(self, rng: random.Random, dpi: int) -> Layers:
        page = _Page(rng, dpi, self.paper)
        self.draw(page)
        return page.finish()

    def render(self, rng: random.Random, dpi: int) -> Image.Image:
        """The page as a mode "L" A4 scan at ``dpi``."""
        return self.layers(rng, dpi).image


def _c_pencil_note(p: _Page) -> None:
    rng = p.rng
    _ambient(p)
    text = rng.choice(_NOTES)
    cov = _rotate(
        _hand_text(p, text, rng.uniform(2.8, 4.5), rng.uniform(0.35, 0.55)), rng.uniform(-6, 6)
    )
    p.ink(cov, rng.uniform(40, 160), rng.uniform(30, 260), rng.uniform(55, 85), **_pen(rng, True))


def _c_faint_ballpoint(p: _Page) -> None:
    rng = p.rng
    _ambient(p)
    text = rng.choice(("gesehen", "erl.", "Kopie", "WV", "17.3.", "nachgereicht", "ok", "Ko."))
    cov = _rotate(
        _hand_text(p, text, rng.uniform(2.5, 4.0), rng.uniform(0.3, 0.4)), rng.uniform(-5, 5)
    )
    # Nominal 70-100 at full coverage: a 0.3 mm stroke rarely covers a pixel fully, so the
    # stroke reads 60-90 levels below the paper (75th percentile of its core).
    p.ink(cov, rng.uniform(35, 170), rng.uniform(30, 265), rng.uniform(70, 100), **_pen(rng, False))


def _margin_point(
    rng: random.Random, w: float, h: float, sides: Sequence[str]
) -> tuple[float, float, float, str]:
    """Centre and angle of a w x h mm mark lying wholly within 15 mm of one page edge."""
    side = rng.choice(sides)
    inset = rng.uniform(1.5, 14.0 - h) + h / 2 if h < 12.5 else 7.5
    if side == "top":
        return rng.uniform(15 + w / 2, A4_MM[0] - 30 - w / 2), inset, 0.0, side
    if side == "bottom":
        return rng.uniform(15 + w / 2, A4_MM[0] - 30 - w / 2), A4_MM[1] - inset, 0.0, side
    # Left, the outer edge of a back side: written along the edge.
    return inset, rng.uniform(20 + w / 2, A4_MM[1] - 20 - w / 2), 90.0, side


def _c_margin_stamp(p: _Page) -> None:
    rng = p.rng
    _ambient(p)
    w, h = rng.uniform(28, 42), rng.uniform(8.5, 11.5)
    lines = [
        ("EINGEGANGEN", "sans-bold", 7.5),
        (_date(rng), "mono-bold", 9),
        (rng.choice(("Jobcenter Borken", "JC Kreis Borken", "Poststelle")), "sans", 6),
    ]
    cov = _stamp_cov(p, lines, w_mm=w, h_mm=h)
    cx, cy, ang, side = _margin_point(rng, w, h, ("top", "bottom", "left"))
    cov = _rotate(cov, ang + rng.uniform(-3, 3))
    p.ink(cov, cx, cy, rng.uniform(70, 130), blur_mm=0.06, fade=(0.45, 1.2, 3.0))
    p.features.append(f"margin-{side}")


def _c_margin_page_number(p: _Page) -> None:
    rng = p.rng
    _ambient(p)
    number = str(rng.randint(2, 240))
    if rng.random() < 0.5:
        # A numbering machine: a small stamped number.
        cov = _text_cov(p, [(number.zfill(4), "mono-bold", rng.uniform(8, 11))])
        contrast, kw = rng.uniform(90, 150), {"blur_mm": 0.06, "fade": (0.5, 1.15, 2.0)}
    else:
        pencil = rng.random() < 0.5
        text = number if rng.random() < 0.6 else f"Bl. {number}"
        cov = _hand_text(p, text, rng.uniform(2.5, 3.8), rng.uniform(0.35, 0.5))
        contrast = rng.uniform(80, 110) if pencil else rng.uniform(110, 170)
        kw = _pen(rng, pencil)
    h_mm = cov.shape[0] * p.mm_per_px
    x = rng.choice((rng.uniform(8, 22), rng.uniform(A4_MM[0] - 45, A4_MM[0] - 30)))
    y = rng.uniform(2.0 + h_mm / 2, 14.0 - h_mm / 2) if h_mm < 11 else 7.0
    if rng.random() < 0.3:
        y = A4_MM[1] - y
    p.ink(cov, x, y, contrast, **kw)
    p.features.append("margin-corner")


def _c_margin_signature(p: _Page) -> None:
    rng = p.rng
    _ambient(p)
    length, height = rng.uniform(15, 35), rng.uniform(4, 7)
    cov = _polyline_cov(p, _signature(rng, length, height), rng.uniform(0.3, 0.5))
    h_mm = cov.shape[0] * p.mm_per_px
    w_mm = cov.shape[1] * p.mm_per_px
    cx = rng.uniform(15 + w_mm / 2, A4_MM[0] - 30 - w_mm / 2)
    cy = A4_MM[1] - (rng.uniform(1.5, max(1.6, 14 - h_mm)) + h_mm / 2)
    p.ink(_rotate(cov, rng.uniform(-4, 4)), cx, cy, rng.uniform(100, 190), **_pen(rng, False))
    p.features.append("margin-bottom")


def _c_edge_note(p: _Page) -> None:
    rng = p.rng
    holes = _ambient(p, holes=0.6)
    pencil = rng.random() < 0.5
    text = rng.choice(
        (
            "Kopie an Herrn M. z.K.",
            "Original zurück am",
            "s. Vorgang 2003",
            "MA Frau K. informiert",
            "WV nach Eingang",
            "bitte Rücksprache",
        )
    )
    cov = _hand_text(p, text, rng.uniform(2.5, 3.5), rng.uniform(0.3, 0.5))
    cov = _rotate(cov, rng.choice((90.0, -90.0)) + rng.uniform(-2, 2))
    length = cov.shape[0] * p.mm_per_px
    # With holes, beside them, where there is room to write along the edge.
    cx = A4_MM[0] - (rng.uniform(19, 26) if holes else rng.uniform(5, 18))
    cy = rng.uniform(20 + length / 2, A4_MM[1] - 20 - length / 2)
    contrast = rng.uniform(50, 85) if pencil else rng.uniform(90, 160)
    p.ink(cov, cx, cy, contrast, **_pen(rng, pencil))


def _c_tiny_print(p: _Page) -> None:
    rng = p.rng
    _ambient(p)
    text = rng.choice(_FOOTERS)
    cov = _text_cov(p, [(text, rng.choice(("sans", "serif", "cond")), 6.0)])
    w_mm = cov.shape[1] * p.mm_per_px
    cx = rng.uniform(15 + w_mm / 2, max(16 + w_mm / 2, A4_MM[0] - 15 - w_mm / 2))
    d = rng.uniform(8, 40)
    cy = d if rng.random() < 0.3 else A4_MM[1] - d
    p.ink(cov, cx, cy, rng.uniform(140, 205), blur_mm=0.05)


def _c_negative_print(p: _Page) -> None:
    rng = p.rng
    _ambient(p)
    w, h = rng.uniform(30, 180), rng.uniform(8, 100)
    wpx, hpx = round(p.px(w)), round(p.px(h))
    img = Image.new("L", (wpx, hpx), 255)
    draw = ImageDraw.Draw(img)
    pt = min(14.0, max(7.0, h / 4 * 72 / 25.4 * 0.6))
    font = _font("sans-bold", round(pt * p.dpi / 72))
    y = p.px(2)
    while y < hpx - p.px(pt * 0.4):
        text = rng.choice(
            (
                "AKTENVERMERK",
                "Bitte Rückseite beachten",
                "Nur für den Dienstgebrauch",
                "KOPIE",
                _words(rng, rng.randint(2, 5)).upper(),
                _words(rng, 6),
            )
        )
        draw.text((p.px(2.5), y), text, font=font, fill=0, anchor="lt")
        y += pt * p.dpi / 72 * rng.uniform(1.4, 2.0)
    cov = np.asarray(img, np.float32) / 255.0
    # Copier negatives fill in: the white text is greyish, the black not quite black.
    cov = np.clip(cov * rng.uniform(0.93, 1.0) + (1 - cov) * rng.uniform(0.05, 0.3), 0, 1)
    cov = _rotate(cov, rng.uniform(-1.5, 1.5))
    contrast = p.paper - p.black - rng.uniform(5, 30)
    p.ink(
        cov,
        rng.uniform(20 + w / 2, max(21 + w / 2, A4_MM[0] - 20 - w / 2)),
        rng.uniform(25 + h / 2, A4_MM[1] - 25 - h / 2),
        contrast,
        blur_mm=0.08,
    )


def _c_thermal(p: _Page) -> None:
    rng = p.rng
    _ambient(p, holes=0.4)
    w, h = rng.uniform(57, 80), rng.uniform(90, 190)
    cx = rng.uniform(20 + w / 2, A4_MM[0] - 30 - w / 2)
    cy = rng.uniform(15 + h / 2, A4_MM[1] - 15 - h / 2)
    ang = rng.uniform(-4, 4)
    # The receipt is glued on: its own paper level, with a faint outline where it lies.
    slip = np.ones((round(p.px(h)), round(p.px(w))), np.float32)
    slip_cov = _rotate(slip, ang)
    paper_shift = rng.uniform(-12, 6)
    sl_page, sl_crop = _place(slip_cov.shape, p.px(cx), p.px(cy), (p.h, p.w))
    if sl_page is not None:
        p.base[sl_page] += paper_shift * slip_cov[sl_crop]
    edge = ndimage.gaussian_filter(slip_cov, p.px(0.25))
    outline = np.clip(4 * edge * (1 - edge), 0, 1)
    p.ink(outline, cx, cy, rng.uniform(4, 12), blur_mm=0.0, written=False)
    lines = [
        (
            rng.choice(
                ("REWE Markt GmbH", "ALDI GmbH & Co. KG", "Apotheke am Markt", "Stadtwerke Kasse")
            ),
            "mono-bold",
            8.5,
        ),
        (f"{_date(rng)}  {rng.randint(7, 19):02d}:{rng.randint(0, 59):02d}", "mono", 7.5),
    ]
    for _ in range(rng.randint(6, 14)):
        item = rng.choice(
            (
                "Milch",
                "Brot",
                "Pfand",
                "Windeln",
                "Medikament",
                "Fahrkarte",
                "Bananen",
                "Kaffee",
                "Nudeln",
            )
        )
        lines.append((f"{item:<14}{rng.uniform(0.3, 19):6.2f}", "mono", 7.5))
    lines.append((f"SUMME EUR     {rng.uniform(5, 90):6.2f}", "mono-bold", 8.5))
    lines.append(("Vielen Dank für Ihren Einkauf", "mono", 7))
    text = _text_cov(p, lines, gap=1.35)
    th, tw = text.shape
    sh, sw = round(p.px(h * 0.95)), round(p.px(w * 0.95))
    text = text[: min(th, sh), : min(tw, sw)]
    text = _rotate(text, ang)
    tyoff = (text.shape[0] - slip_cov.shape[0] * 0.9) / 2 * p.mm_per_px
    # Nominal 48-70: thin dot-printed strokes, blurred, read 40-60 below the slip's paper.
    p.ink(
        text,
        cx,
        cy + tyoff * math.cos(math.radians(ang)),
        rng.uniform(48, 70),
        blur_mm=0.09,
        fade=(0.7, 1.2, 15.0),
    )


def _c_pencil_recycled(p: _Page) -> None:
    rng = p.rng
    _ambient(p)
    text = rng.choice(("erl.", "z.d.A.", "WV", "ok", "Kopie", "s. Bl. 9", "gesehen", "12.5."))
    cov = _rotate(
        _hand_text(p, text, rng.uniform(3.0, 4.5), rng.uniform(0.4, 0.6)), rng.uniform(-6, 6)
    )
    p.ink(cov, rng.uniform(40, 165), rng.uniform(30, 260), rng.uniform(30, 50), **_pen(rng, True))


def _c_highlighter(p: _Page) -> None:
    rng = p.rng
    _ambient(p)
    length, width = rng.uniform(30, 110), rng.uniform(4, 6)
    pts = []
    wob = rng.uniform(0.2, 1.0)
    for i in range(11):
        t = i / 10
        pts.append((length * t, wob * math.sin(math.pi * t * rng.uniform(0.8, 1.2))))
    wpx = round(p.px(width))
    pad = wpx
    img = Image.new("L", (round(p.px(length)) + 2 * pad, 2 * pad + round(p.px(2 * wob))), 0)
    ImageDraw.Draw(img).line(
        [(p.px(x) + pad, p.px(y + wob) + pad) for x, y in pts], fill=255, width=wpx
    )
    cov = np.asarray(img, np.float32) / 255.0
    # Felt tips streak along the stroke.
    streak = 0.88 + 0.12 * _smooth(p.np, (cov.shape[0], 1), p.px(0.6))
    cov = cov * np.clip(streak, 0.6, 1.0)
    cov = _rotate(cov, rng.uniform(-5, 5))
    p.ink(
        cov,
        rng.uniform(25 + length / 2, A4_MM[0] - 25 - length / 2),
        rng.uniform(30, 265),
        rng.uniform(25, 60),
        blur_mm=0.15,
    )


def _c_tick(p: _Page) -> None:
    rng = p.rng
    _ambient(p)
    cov = _polyline_cov(p, _tick(rng, rng.uniform(3.5, 5.0)), rng.uniform(0.4, 0.6))
    p.ink(
        _rotate(cov, rng.uniform(-12, 12)),
        rng.uniform(25, 185),
        rng.uniform(25, 272),
        rng.uniform(100, 180),
        **_pen(rng, False),
    )


def _c_initials(p: _Page) -> None:
    rng = p.rng
    _ambient(p)
    text = rng.choice(_INITIALS)
    cov = _hand_text(p, text, rng.uniform(2.8, 3.8), rng.uniform(0.3, 0.5))
    p.ink(
        _rotate(cov, rng.uniform(-8, 8)),
        rng.uniform(30, 185),
        rng.uniform(30, 272),
        rng.uniform(90, 170),
        **_pen(rng, False),
    )


def _c_date_stamp(p: _Page) -> None:
    rng = p.rng
    _ambient(p)
    date = _date(rng)
    if rng.random() < 0.4:
        d = rng.uniform(24, 30)
        lines = [("JOBCENTER", "sans-bold", 7), (date, "mono-bold", 8), ("Eingang", "sans", 6.5)]
        cov = _stamp_cov(p, lines, w_mm=d, h_mm=d, round_frame=True)
    elif rng.random() < 0.5:
        cov = _stamp_cov(
            p,
            [(f"Eingegangen {date}", "sans-bold", 8)],
            w_mm=rng.uniform(40, 48),
            h_mm=rng.uniform(7, 9),
        )
    else:
        # A frameless date stamp.
        cov = _text_cov(p, [("Eingegangen", "sans-bold", 8), (date, "mono-bold", 10)])
        cov[p.np.random(cov.shape) < 0.08] *= 0.3
    cov = _rotate(cov, rng.uniform(-12, 12))
    hh, ww = cov.shape[0] * p.mm_per_px, cov.shape[1] * p.mm_per_px
    cx = rng.choice((rng.uniform(8, 30) + ww / 2, A4_MM[0] - rng.uniform(30, 40) - ww / 2))
    cy = rng.choice((rng.uniform(8, 30) + hh / 2, A4_MM[1] - rng.uniform(8, 30) - hh / 2))
    p.ink(cov, cx, cy, rng.uniform(60, 130), blur_mm=0.07, fade=(0.45, 1.2, 4.0))


def _c_hole_note(p: _Page) -> None:
    rng = p.rng
    _ambient(p, holes=0.0)
    holes = _holes(p)
    hx, hy = rng.choice(holes)
    text = rng.choice(_SHORT)
    cov = _hand_text(p, text, rng.uniform(2.5, 3.5), rng.uniform(0.35, 0.5))
    cov = _rotate(cov, rng.uniform(-8, 8) + (90 if rng.random() < 0.3 else 0))
    if rng.random() < 0.5:
        cx, cy = hx + rng.uniform(-2, 3), hy + rng.choice((-1, 1)) * rng.uniform(7, 12)
    else:
        cx, cy = hx - rng.uniform(7, 12), hy + rng.uniform(-3, 3)
    p.ink(cov, cx, cy, rng.uniform(45, 85), **_pen(rng, True))


def _c_photocopy(p: _Page) -> None:
    rng = p.rng
    _ambient(p)
    w, h = rng.uniform(40, 150), rng.uniform(35, 120)
    shape = (round(p.px(h)), round(p.px(w)))
    # A photo through a copier: a background gradient and soft shapes (people, furniture),
    # laid out at 0.5 mm and scaled up, then crushed contrast and coarse toner grain.
    gh, gw = round(h * 2), round(w * 2)
    yy, xx = np.mgrid[0:gh, 0:gw].astype(np.float32)
    tilt_y, tilt_x = rng.uniform(-0.2, 0.2), rng.uniform(-0.2, 0.2)
    low = rng.uniform(0.3, 0.6) + tilt_y * yy / gh + tilt_x * xx / gw
    for _ in range(rng.randint(4, 12)):
        bx, by = rng.uniform(0, gw), rng.uniform(0, gh)
        sx, sy = rng.uniform(0.05, 0.3) * gw, rng.uniform(0.05, 0.4) * gh
        low = low + rng.uniform(-0.45, 0.45) * np.exp(
            -0.5 * (((xx - bx) / sx) ** 2 + ((yy - by) / sy) ** 2)
        )
    low = low + 0.08 * p.np.standard_normal((gh, gw)).astype(np.float32)
    low = ndimage.gaussian_filter(low, 1.5)
    lo, hi = rng.uniform(0.2, 0.45), rng.uniform(0.8, 0.98)
    low = np.clip(lo + (hi - lo) * low, 0, 1)
    up = Image.fromarray((low * 255).astype(np.uint8))
    up = up.resize(shape[::-1], Image.Resampling.BILINEAR)
    cov = np.asarray(up, np.float32) / 255.0
    cov = np.clip(cov + 0.06 * p.np.standard_normal(shape, dtype=np.float32), 0, 1)
    angle = rng.uniform(-2, 2)
    cov = _rotate(cov, angle)
    # The whole print is the mark, its light parts too.
    core = _rotate(np.ones(shape, np.float32), angle) >= 0.5
    contrast = p.paper - p.black - rng.uniform(0, 15)
    p.ink(
        cov,
        rng.uniform(20 + w / 2, max(21 + w / 2, A4_MM[0] - 20 - w / 2)),
        rng.uniform(25 + h / 2, A4_MM[1] - 25 - h / 2),
        contrast,
        blur_mm=0.1,
        core=core,
    )


def _c_all_black(p: _Page) -> None:
    rng = p.rng
    # The lamp failed or the lid was open: not quite flat, faint streaks along the scan.
    streaks = np.abs(_smooth(p.np, (1, p.w), p.px(rng.uniform(5, 30))))[0]
    p.cover_page(np.clip(rng.uniform(0.95, 1.0) - 0.015 * streaks, 0, 1))


def _c_handwritten_line(p: _Page) -> None:
    rng = p.rng
    _ambient(p)
    words = " ".join(rng.choice(_NOTES) for _ in range(rng.randint(2, 3)))
    cov = _rotate(
        _hand_text(p, words, rng.uniform(3.0, 4.5), rng.uniform(0.4, 0.6)), rng.uniform(-3, 3)
    )
    w_mm = cov.shape[1] * p.mm_per_px
    p.ink(
        cov,
        rng.uniform(15 + w_mm / 2, max(16 + w_mm / 2, A4_MM[0] - 15 - w_mm / 2)),
        rng.uniform(30, 260),
        rng.uniform(120, 200),
        **_pen(rng, False),
    )


# blank cases


def _b_plain(p: _Page) -> None:
    p.specks(p.rng.randint(0, 6), size=(0.08, 0.4), contrast=(30, 150))


def _b_recycled(p: _Page) -> None:
    p.specks(p.rng.randint(5, 25), size=(0.08, 0.5), contrast=(20, 90))
    p.fibres(p.rng.randint(30, 120), contrast=(15, 55))


def _b_vignetting(p: _Page) -> None:
    _b_plain(p)
    p.vignette = p.rng.uniform(12, 45)
    p.vignette_power = p.rng.uniform(2.0, 4.0)
    p.features.append(f"vignette-{p.vignette:.0f}")


def _b_bleed(p: _Page) -> None:
    _b_plain(p)
    _bleed(p)


def _b_holes2(p: _Page) -> None:
    _b_plain(p)
    _holes(p, four=False, light=False)


def _b_holes4(p: _Page) -> None:
    _b_plain(p)
    _holes(p, four=True, light=False)


def _b_holes_light(p: _Page) -> None:
    _b_plain(p)
    _holes(p, light=True)


def _b_edge_shadow(p: _Page) -> None:
    _b_plain(p)
    edges = p.rng.sample(["top", "bottom", "left", "right"], p.rng.randint(1, 2))
    for e in edges:
        _edge_shadow(p, e)


def _b_skew(p: _Page) -> None:
    _b_plain(p)
    _skew_wedge(p)


def _b_dust(p: _Page) -> None:
    p.specks(p.rng.randint(15, 80), size=(0.1, 0.6), contrast=(40, 200), clusters=0.3)


def _b_fibres(p: _Page) -> None:
    p.specks(p.rng.randint(5, 20), size=(0.08, 0.4), contrast=(20, 80))
    p.fibres(p.rng.randint(150, 400), length=(0.5, 3.0), width=(0.04, 0.12), contrast=(20, 90))


def _b_fold(p: _Page) -> None:
    _b_plain(p)
    for _ in range(p.rng.randint(1, 2)):
        _fold(p)


def _b_combination(p: _Page) -> None:
    rng = p.rng
    if rng.random() < 0.5:
        p.vignette = rng.uniform(8, 30)
        p.features.append(f"vignette-{p.vignette:.0f}")
    _bleed(p)
    if rng.random() < 0.4:
        _fold(p)
    p.specks(rng.randint(10, 50), size=(0.1, 0.6), contrast=(40, 200), clusters=0.2)
    _holes(p)
    for e in rng.sample(["top", "bottom", "left", "right"], rng.randint(1, 2)):
        _edge_shadow(p, e)
    if rng.random() < 0.3:
        _skew_wedge(p)


CASES: list[Case] = [
    # written: something on the page must be kept
    Case("pencil-note", True, "Bleistiftnotiz, grau ~165 auf Papier ~240", _c_pencil_note, "white"),
    Case("faint-ballpoint", True, "ein blasses Kugelschreiberwort", _c_faint_ballpoint),
    Case("margin-stamp", True, "Eingangsstempel im äußeren 15-mm-Rand", _c_margin_stamp),
    Case("margin-page-number", True, "Blattzahl in der Ecke, im Rand", _c_margin_page_number),
    Case("margin-signature", True, "Paraphe/Unterschrift im unteren Rand", _c_margin_signature),
    Case("edge-note", True, "Notiz längs der gelochten Kante", _c_edge_note),
    Case("tiny-print", True, "eine Zeile Druck in 6 pt", _c_tiny_print),
    Case("negative-print", True, "Negativdruck: weiße Schrift auf Schwarz", _c_negative_print),
    Case("thermal-receipt", True, "aufgeklebter, verblasster Kassenbon", _c_thermal),
    Case(
        "pencil-recycled",
        True,
        "Bleistift auf grauem Recyclingpapier",
        _c_pencil_recycled,
        "recycled",
    ),
    Case("highlighter", True, "ein Textmarkerstrich", _c_highlighter),
    Case("checkbox-tick", True, "ein Haken von ~4 mm", _c_tick),
    Case("initials", True, "Kürzel/Initialen, ~5 mm groß", _c_initials),
    Case(
        "date-stamp-corner",
        True,
        'Datumsstempel "Eingegangen 12.03.2004" in einer Ecke',
        _c_date_stamp,
    ),
    Case("hole-note", True, "Lochung und Bleistiftnotiz direkt daneben", _c_hole_note),
    Case("photocopy-photo", True, "Fotokopie eines Fotos: große dunkle Fläche", _c_photocopy),
    Case("all-black", True, "ganz schwarze Seite (Scanfehler): Inhalt, nie leer", _c_all_black),
    Case(
        "handwritten-line",
        True,
        "eine kurze Zeile Kugelschreiber (leichter Fall)",
        _c_handwritten_line,
    ),
    # blank: nothing on the page that must be kept
    Case("plain-paper", False, "leeres weißes Papier mit Rauschen", _b_plain, "white"),
    Case(
        "recycled-paper",
        False,
        "leeres Recyclingpapier: Wolken, Fasern, Einschlüsse",
        _b_recycled,
        "recycled",
    ),
    Case("vignetting", False, "dunklere Ecken und Ränder, weich", _b_vignetting),
    Case(
        "bleed-through",
        False,
        "Durchschlagen der Vorderseite: gespiegelt, unscharf, blass",
        _b_bleed,
    ),
    Case("punch-holes-2", False, "zwei dunkle Löcher, 80 mm Abstand, rechter Rand", _b_holes2),
    Case("punch-holes-4", False, "vier dunkle Löcher (4-fach-Lochung)", _b_holes4),
    Case("punch-holes-light", False, "helle Löcher mit grauem Schattenrand", _b_holes_light),
    Case("edge-shadow", False, "dunkles Schattenband an einer Kante", _b_edge_shadow),
    Case("skew-wedge", False, "schiefes Blatt: dunkler Keil am Rand", _b_skew),
    Case("dust-specks", False, "Staubkörner < 0,6 mm", _b_dust),
    Case(
        "paper-fibres", False, "viele dünne kurze Fasern im Recyclingpapier", _b_fibres, "recycled"
    ),
    Case("fold", False, "Knick: weiche, blasse Linie von Kante zu Kante", _b_fold),
    Case("combination", False, "Löcher + Schatten + Staub + Durchschlagen", _b_combination),
]


def written_cases() -> list[Case]:
    return [c for c in CASES if c.written]


def blank_cases() -> list[Case]:
    return [c for c in CASES if not c.written]


def case_by_name(name: str) -> Case:
    for c in CASES:
        if c.name == name:
            return c
    raise KeyError(name)


def case_rng(case: Case | str, seed: int) -> random.Random:
    """The random source of one page: from the case name and seed number, never from hash()."""
    name = case if isinstance(case, str) else case.name
    digest = hashlib.sha256(f"esak-backsides:{name}:{seed}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


# --- encoding --------------------------------------------------------------------------------


def g4_threshold(arr: np.ndarray) -> int:
    """The level below which a bilevel scanner makes a pixel black, for this page.

    Paper-relative, like a scanner's automatic brightness: 68 % of the paper level (the 75th
    percentile of the page), kept within 130..170. White paper (240) is cut at 163, recycled
    paper (205) at 139, so a faint mark on grey paper is lost as it is by a real scanner.
    """
    paper = float(np.percentile(arr[::7, ::7], 75))
    return int(min(170, max(130, round(0.68 * paper))))


def encode_page(img: Image.Image, dpi: int, fmt: str, *, quality: int = 80) -> bytes:
    """The page as a scanning service delivers it: grey JPEG or bilevel CCITT G4 TIFF.

    ``g4`` thresholds the grey page at :func:`g4_threshold`.
    """
    buf = io.BytesIO()
    if fmt == "jpeg":
        img.convert("L").save(buf, "JPEG", quality=quality, dpi=(dpi, dpi))
    elif fmt == "g4":
        arr = np.asarray(img.convert("L"))
        Image.fromarray(arr >= g4_threshold(arr)).save(
            buf, "TIFF", compression="group4", dpi=(dpi, dpi)
        )
    else:
        raise ValueError(f"unknown format {fmt!r}; use 'jpeg' or 'g4'")
    return buf.getvalue()


def page_survives(layers: Layers, fmt: str, data: bytes | None = None) -> bool:
    """Whether the written marks of a rendered page can still be seen once encoded.

    ``g4``: enough of the mark's core turns black where the page without the mark stays
    white (:data:`SURVIVE_MIN_MM2`, :data:`SURVIVE_MIN_SHARE`). ``jpeg``: the decoded core is
    still :data:`SURVIVE_MIN_JPEG_LEVELS` darker than the unmarked page. A page without a
    written mark has nothing to lose and survives.
    """
    core = layers.mark
    n_core = int(core.sum())
    if n_core == 0:
        return True
    px_mm2 = (25.4 / layers.dpi) ** 2
    if fmt == "g4":
        arr = np.asarray(layers.image)
        t = g4_threshold(arr)
        black = core & (arr < t) & (layers.unmarked >= t)
        n = int(black.sum())
        return n * px_mm2 >= SURVIVE_MIN_MM2 and n >= SURVIVE_MIN_SHARE * n_core
    if fmt == "jpeg":
        data = data if data is not None else encode_page(layers.image, layers.dpi, "jpeg")
        decoded = np.asarray(Image.open(io.BytesIO(data)).convert("L"), np.float32)
        diff = float(layers.unmarked[core].mean() - decoded[core].mean())
        return n_core * px_mm2 >= SURVIVE_MIN_MM2 and diff >= SURVIVE_MIN_JPEG_LEVELS
    raise ValueError(f"unknown format {fmt!r}; use 'jpeg' or 'g4'")


def survives(case: Case, fmt: str, *, dpi: int = 300, seeds: int = 3) -> bool:
    """Whether ``case``'s mark survives ``fmt`` on all of its first ``seeds`` pages."""
    if not case.written:
        return True
    return all(page_survives(case.layers(case_rng(case, s), dpi), fmt) for s in range(seeds))


def _jpeg_quality(case: Case, seed: int, dpi: int) -> int:
    digest = hashlib.sha256(f"esak-backsides-q:{case.name}:{seed}:{dpi}".encode()).digest()
    return 75 + digest[0] % 11


def write_corpus(
    folder: Path,
    *,
    dpis: Sequence[int] = (300, 200),
    fmts: Sequence[str] = ("jpeg", "g4"),
    seeds_per_case: int = 3,
    cases: Sequence[Case] | None = None,
) -> list[dict[str, Any]]:
    """Write one PDF per (dpi, fmt) with every case's pages, and ``truth.json``.

    A written page whose mark does not survive the encoding (a faint pencil note thresholded
    away in G4) is left out of that PDF, since the file no longer holds what the truth would
    claim; those pages are listed in ``skipped.json``. Returns the truth, one dict a page:
    file, page (0-based), case, written, dpi, fmt, seed, plus paper (mean level) and features
    (paper kind and distractors on the page). The same arguments give the same bytes.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cases = list(CASES if cases is None else cases)
    truth: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for dpi in dpis:
        blobs: dict[str, list[bytes]] = {f: [] for f in fmts}
        rows: dict[str, list[dict[str, Any]]] = {f: [] for f in fmts}
        for case in cases:
            for seed in range(seeds_per_case):
                layers = case.layers(case_rng(case, seed), dpi)
                for fmt in fmts:
                    q = _jpeg_quality(case, seed, dpi)
                    data = encode_page(layers.image, dpi, fmt, quality=q)
                    if case.written and not page_survives(layers, fmt, data):
                        skipped.append(
                            {
                                "case": case.name,
                                "dpi": dpi,
                                "fmt": fmt,
                                "seed": seed,
                                "reason": "the mark does not survive the encoding",
                            }
                        )
                        continue
                    file = f"backsides-{dpi}dpi-{fmt}.pdf"
                    rows[fmt].append(
                        {
                            "file": file,
                            "page": len(blobs[fmt]),
                            "case": case.name,
                            "written": case.written,
                            "dpi": dpi,
                            "fmt": fmt,
                            "seed": seed,
                            "paper": round(layers.paper, 1),
                            "features": list(layers.features),
                        }
                    )
                    blobs[fmt].append(data)
        for fmt in fmts:
            if not blobs[fmt]:
                continue
            # img2pdf's own writer with a fixed layout: no time stamps, exact page size.
            pdf = img2pdf.convert(
                blobs[fmt],
                nodate=True,
                engine=img2pdf.Engine.internal,
                layout_fun=img2pdf.get_fixed_dpi_layout_fun((dpi, dpi)),
            )
            (folder / rows[fmt][0]["file"]).write_bytes(pdf)
            truth.extend(rows[fmt])
    (folder / "truth.json").write_text(json.dumps(truth, indent=1, ensure_ascii=False) + "\n")
    (folder / "skipped.json").write_text(json.dumps(skipped, indent=1) + "\n")
    return truth

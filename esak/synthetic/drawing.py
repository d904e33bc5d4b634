"""Drawing primitives of synthetic scans: a sheet in millimetres, fonts, the scanner's look
(skew, dust, noise, thresholding), barcodes placed at a size scanners read."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from esak.migrate.barcodes import barcode_modules

A4_MM = (210.0, 297.0)
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")


# --- drawing ---------------------------------------------------------------------------------

_FONT_FILES = {
    "sans": ("DejaVuSans.ttf",),
    "sans-bold": ("DejaVuSans-Bold.ttf",),
    "sans-oblique": ("DejaVuSans-Oblique.ttf",),
    "serif": ("DejaVuSerif.ttf",),
    "serif-bold": ("DejaVuSerif-Bold.ttf",),
    "mono": ("DejaVuSansMono.ttf",),
    "mono-bold": ("DejaVuSansMono-Bold.ttf",),
    "cond": ("DejaVuSansCondensed.ttf",),
    "cond-bold": ("DejaVuSansCondensed-Bold.ttf",),
}


@lru_cache(maxsize=256)
def load_font(name: str, size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for file in _FONT_FILES[name]:
        try:
            return ImageFont.truetype(str(FONT_DIR / file), size_px)
        except OSError:
            continue
    # Without DejaVu the pages still render (in Pillow's own font), just less pretty.
    return ImageFont.load_default(size=size_px)


class Sheet:
    """An A4 page to draw on in millimetres, at a given resolution."""

    def __init__(self, dpi: int, paper: int = 255, ink: int = 0) -> None:
        self.dpi = dpi
        self.paper = paper
        self.ink = ink
        self.w = round(A4_MM[0] / 25.4 * dpi)
        self.h = round(A4_MM[1] / 25.4 * dpi)
        self.img = Image.new("L", (self.w, self.h), paper)
        self.draw = ImageDraw.Draw(self.img)
        #: every line of text drawn: (top in mm, left in mm, text), for the ground truth
        self.lines: list[tuple[float, float, str]] = []

    def px(self, mm: float) -> int:
        return round(mm * self.dpi / 25.4)

    def font(self, name: str, pt: float) -> Any:
        return load_font(name, max(4, round(pt * self.dpi / 72.0)))

    def text(
        self,
        x: float,
        y: float,
        s: str,
        *,
        font: str = "sans",
        pt: float = 11,
        anchor: str = "la",
        fill: int | None = None,
    ) -> float:
        """Draw one line with its top at ``y`` (mm); returns the y below it."""
        shift = {"l": 0.0, "m": 0.5, "r": 1.0}.get(anchor[0], 0.0)
        left = x - shift * self.width_mm(s, font=font, pt=pt) if shift else x
        self.lines.append((y, left, s))
        self.draw.text(
            (self.px(x), self.px(y)),
            s,
            font=self.font(font, pt),
            fill=self.ink if fill is None else fill,
            anchor=anchor,
        )
        return y + pt * 0.3528 * 1.25

    def ground_truth(self) -> str:
        """The text drawn, in reading order: lines top to bottom (those within 1.5 mm of each
        other as one line), each left to right."""
        rows: list[list[tuple[float, float, str]]] = []
        for line in sorted(self.lines):
            if rows and line[0] - rows[-1][0][0] < 1.5:
                rows[-1].append(line)
            else:
                rows.append([line])
        return "\n".join(" ".join(t for _y, _x, t in sorted(r, key=lambda r: r[1]))
                         for r in rows)  # fmt: skip

    def width_mm(self, s: str, *, font: str = "sans", pt: float = 11) -> float:
        return self.font(font, pt).getlength(s) * 25.4 / self.dpi

    def para(
        self,
        x: float,
        y: float,
        width: float,
        s: str,
        *,
        font: str = "serif",
        pt: float = 11,
        leading: float = 1.3,
        bottom: float = 282.0,
    ) -> float:
        """Word-wrapped paragraph; lines that would run past ``bottom`` are left off."""
        f = self.font(font, pt)
        limit = width * self.dpi / 25.4
        line_h = pt * 0.3528 * leading
        words = s.split()
        line: list[str] = []
        lines: list[str] = []
        for word in words:
            trial = " ".join([*line, word])
            if line and f.getlength(trial) > limit:
                lines.append(" ".join(line))
                line = [word]
            else:
                line.append(word)
        if line:
            lines.append(" ".join(line))
        for text in lines:
            if y + line_h > bottom:
                break
            self.draw.text((self.px(x), self.px(y)), text, font=f, fill=self.ink)
            self.lines.append((y, x, text))
            y += line_h
        return y

    def hline(self, x1: float, x2: float, y: float, width: float = 0.25) -> None:
        self.draw.line(
            [(self.px(x1), self.px(y)), (self.px(x2), self.px(y))],
            fill=self.ink,
            width=max(1, self.px(width)),
        )

    def rect(
        self,
        x1: float,
        y1: float,
        x2: float,
        y2: float,
        width: float = 0.25,
        fill: int | None = None,
    ) -> None:
        self.draw.rectangle(
            [self.px(x1), self.px(y1), self.px(x2), self.px(y2)],
            outline=self.ink,
            width=max(1, self.px(width)),
            fill=fill,
        )

    def checkbox(self, x: float, y: float, checked: bool, size: float = 3.5) -> None:
        self.rect(x, y, x + size, y + size, 0.3)
        if checked:
            w = max(2, self.px(0.5))
            self.draw.line(
                [
                    (self.px(x + 0.6), self.px(y + 0.6)),
                    (self.px(x + size - 0.6), self.px(y + size - 0.6)),
                ],
                fill=self.ink,
                width=w,
            )
            self.draw.line(
                [
                    (self.px(x + size - 0.6), self.px(y + 0.6)),
                    (self.px(x + 0.6), self.px(y + size - 0.6)),
                ],
                fill=self.ink,
                width=w,
            )

    def table(
        self,
        x: float,
        y: float,
        widths: list[float],
        rows: list[list[str]],
        *,
        pt: float = 10,
        right: set[int] | frozenset[int] = frozenset(),
        header: bool = True,
        bold_last: bool = False,
        grid: bool = False,
    ) -> float:
        """A simple table; columns in ``right`` are right-aligned (amounts)."""
        row_h = pt * 0.3528 * 1.7
        total = sum(widths)
        top = y
        for r, row in enumerate(rows):
            bold = (header and r == 0) or (bold_last and r == len(rows) - 1)
            font = "sans-bold" if bold else "sans"
            cx = x
            for c, cell in enumerate(row):
                if c in right:
                    self.text(cx + widths[c] - 1.5, y + 1.2, cell, font=font, pt=pt, anchor="ra")
                else:
                    self.text(cx + 1.5, y + 1.2, cell, font=font, pt=pt)
                cx += widths[c]
            y += row_h
            if (header and r == 0) or (bold_last and r == len(rows) - 2) or grid:
                self.hline(x, x + total, y, 0.3)
        if grid:
            self.rect(x, top, x + total, y, 0.3)
            cx = x
            for wdt in widths[:-1]:
                cx += wdt
                self.draw.line(
                    [(self.px(cx), self.px(top)), (self.px(cx), self.px(y))],
                    fill=self.ink,
                    width=max(1, self.px(0.25)),
                )
        return y + 2

    def scribble(
        self,
        rng: random.Random,
        x: float,
        y: float,
        length: float,
        *,
        ink: int | None = None,
        pen: float = 0.45,
    ) -> None:
        """A handwritten-looking stroke: cursive loops along a wobbly, slightly sloped baseline.

        Letters of cursive writing are loops whose backward swing exceeds the forward advance
        per letter; x-height letters mixed with a few ascenders, leaning right, read as a word.
        """
        loops = max(4, round(length / rng.uniform(3.2, 4.6)))
        steps = 32 * loops
        slope = rng.uniform(-0.05, 0.05)
        slant = rng.uniform(0.15, 0.35)
        advance = length / loops
        swing = advance / (2 * math.pi) * rng.uniform(1.15, 1.6)
        heights = [
            rng.uniform(4.5, 6.5) if rng.random() < 0.3 else rng.uniform(2.0, 3.0)
            for _ in range(loops + 1)
        ]
        wobble_f = rng.uniform(0.5, 1.5)
        pts = []
        for i in range(steps + 1):
            t = i / steps
            phase = 2 * math.pi * loops * t
            rise = heights[min(loops, int(loops * t))] * (0.5 - 0.5 * math.cos(phase))
            px_ = x + t * length - swing * math.sin(phase) + slant * rise
            py_ = y + slope * t * length - rise + 0.25 * math.sin(wobble_f * phase / 3)
            pts.append((self.px(px_), self.px(py_)))
        self.draw.line(
            pts, fill=self.ink if ink is None else ink, width=max(2, self.px(pen)), joint="curve"
        )


# --- scanner look ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Look:
    paper: int
    ink: int
    noise: bool


def scanner_look(rng: random.Random, scanner_noise: bool) -> Look:
    if not scanner_noise:
        return Look(paper=255, ink=0, noise=False)
    return Look(paper=rng.randint(236, 248), ink=rng.randint(18, 45), noise=True)


def finish_scan(
    sheet: Sheet,
    rng: random.Random,
    look: Look,
    *,
    bilevel: bool,
    specks: bool = True,
    skew: bool = True,
    bleed: np.ndarray | None = None,
) -> Image.Image:
    """Turn a clean drawing into a scan: skew, dust, uneven paper, sensor noise, threshold."""
    img = sheet.img
    if not look.noise:
        return img.point(lambda v: 255 if v >= 128 else 0, mode="1") if bilevel else img
    if skew:
        # Bilinear is enough for ±1.5° and several times faster than bicubic on 9 MP.
        img = img.rotate(
            rng.uniform(-1.5, 1.5), resample=Image.Resampling.BILINEAR, fillcolor=look.paper
        )
    if specks:
        draw = ImageDraw.Draw(img)
        for _ in range(rng.randint(2, 9)):
            cx, cy = rng.uniform(0, sheet.w), rng.uniform(0, sheet.h)
            r = rng.uniform(0.06, 0.28) * sheet.dpi / 25.4
            rx = r * rng.uniform(0.6, 1.4)
            draw.ellipse([cx - rx, cy - r, cx + rx, cy + r], fill=rng.randint(30, 140))
    seed = rng.getrandbits(64)
    nprng = np.random.default_rng(seed)
    arr = np.asarray(img, dtype=np.int16)
    if bleed is not None:
        arr = np.minimum(arr, bleed)
    h, w = arr.shape
    noise = sensor_noise(nprng, h, w, rng.uniform(1.8, 3.2))
    # Uneven illumination: a few grey levels of gradient across the page.
    gy = np.linspace(0, rng.uniform(-4, 4), h, dtype=np.float32).astype(np.int16)[:, None]
    gx = np.linspace(0, rng.uniform(-3, 3), w, dtype=np.float32).astype(np.int16)[None, :]
    arr = arr + noise + gy + gx
    out = np.clip(arr, 0, 255).astype(np.uint8)
    if bilevel:
        return Image.fromarray(out >= rng.randint(140, 165))
    return Image.fromarray(out, "L")


def sensor_noise(nprng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
    """Gaussian sensor noise that a lossless encoder can still compress.

    Truly random noise makes a 300 dpi grey page a 5 MB PNG that takes a second to encode.
    Here each band of 13 rows repeats one 13 x 509 tile, shifted sideways by a random amount
    per band: to the eye and to a classifier it is plain noise without a visible pattern, but
    every stretch of it also occurs within deflate's 32 KB window (one row further left, or
    13 rows up), so pages stay small and encode several times faster.
    """
    th, tw = 13, 509
    tile = np.rint(nprng.normal(0.0, sigma, (th, tw))).astype(np.int16)
    wide = np.tile(tile, (1, w // tw + 2))
    offsets = nprng.integers(0, tw, h // th + 1)
    noise = np.empty((h, w), dtype=np.int16)
    for k, off in enumerate(offsets):
        top = k * th
        rows = min(th, h - top)
        noise[top : top + rows] = wide[:rows, off : off + w]
    return noise


# --- barcodes --------------------------------------------------------------------------------


def module_px_1d(n_modules: int, dpi: int) -> int | None:
    """Pixels per module of a 1-D code on A4, or None when it does not fit at >= 0.35 mm.

    Bars plus a 10-module quiet zone each side must lie 5 mm inside the page edges: even a
    skewed scan then keeps the code and most of its quiet zone on the sheet.
    """
    min_px = max(2, math.ceil(0.35 * dpi / 25.4))
    want = max(min_px, math.ceil(0.45 * dpi / 25.4))
    avail = round(A4_MM[0] / 25.4 * dpi) - 2 * round(5 * dpi / 25.4)
    m = min(want, avail // (n_modules + 20))
    return m if m >= min_px else None


def _code_block(text: str, symbology: str, dpi: int, height_1d: float) -> np.ndarray:
    """The code's modules as drawn at ``dpi`` (True = dark)."""
    modules = barcode_modules(text, symbology)
    if modules.shape[0] == 1:
        m = module_px_1d(modules.shape[1], dpi)
        if m is None:
            raise ValueError(
                f"{text!r} is too long for a {symbology} code on A4; use QR or DataMatrix"
            )
        row = np.repeat(modules[0], m)
        return np.broadcast_to(row, (round(height_1d * dpi / 25.4), row.size))
    m = max(2, math.ceil(0.8 * dpi / 25.4))
    return np.repeat(np.repeat(modules, m, axis=0), m, axis=1)


def _code_box(block: np.ndarray, dpi: int, top: float) -> tuple[int, int, int, int]:
    x0 = (round(A4_MM[0] / 25.4 * dpi) - block.shape[1]) // 2
    y0 = round(top * dpi / 25.4)
    return x0, y0, x0 + block.shape[1], y0 + block.shape[0]


def barcode_box(
    text: str, symbology: str, dpi: int, top: float, *, height_1d: float = 16.0
) -> tuple[int, int, int, int]:
    """Where :func:`place_barcode` draws the code on an upright A4 sheet at ``dpi``
    (pixels: left, top, right, bottom)."""
    return _code_box(_code_block(text, symbology, dpi, height_1d), dpi, top)


def place_barcode(
    sheet: Sheet, text: str, symbology: str, top: float, *, height_1d: float = 16.0
) -> float:
    """Draw a code centred at ``top`` (mm); returns the y (mm) below it.

    Modules are whole pixels (no grey edges before the scan's own blur) of at least 0.35 mm,
    0.45 mm where the code fits, so it scans at 200 dpi after skew; 2-D codes get about
    0.8 mm modules. The page's white space around the code is its quiet zone.
    """
    block = _code_block(text, symbology, sheet.dpi, height_1d)
    pixels = np.where(block, sheet.ink, sheet.paper).astype(np.uint8)
    x0, y0, _, _ = _code_box(block, sheet.dpi, top)
    sheet.img.paste(Image.fromarray(pixels, "L"), (x0, y0))
    return top + pixels.shape[0] * 25.4 / sheet.dpi

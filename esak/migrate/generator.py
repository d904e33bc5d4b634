"""Synthetic scan deliveries: what a scanning service hands over, with the ground truth.

``esak demo`` and the tests need deliveries that look like the real thing (scanner noise,
skew, duplex back sides, cover sheets in every symbology, broken files, manifest gaps) and
whose every page is known in advance. Everything here is synthetic: names, addresses,
amounts and account numbers are made up.

The same seed gives the same truth and byte-identical files: every random choice is drawn
from one ``random.Random(seed)``; each page gets its own seed from it, from which its numpy
generator (for the pixel noise) is derived. Nothing reads the clock or the global RNGs.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import img2pdf
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from esak.migrate.barcodes import barcode_modules
from esak.migrate.delivery import sha256_file

__all__ = [
    "CONTENT_KINDS",
    "DOC_TYPES",
    "SYMBOLOGIES",
    "GeneratedDelivery",
    "Person",
    "barcode_modules",
    "cover_text",
    "generate_delivery",
    "random_person",
    "render_blank_page",
    "render_content_page",
    "render_cover_sheet",
    "render_handwritten_note_page",
    "render_separator",
]

A4_MM = (210.0, 297.0)
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")

#: Barcode symbologies of cover sheets and separators, named as in the truth and in esak.
SYMBOLOGIES = ("Code128", "Code39", "QR", "DataMatrix")

#: Document types that separators announce (``DOC;<type>``).
DOC_TYPES = ("Antrag", "Bescheid", "Einkommen", "Kontoauszug", "Mietvertrag", "Schriftverkehr")
#: What :func:`render_content_page` can draw.
CONTENT_KINDS = (
    "bewilligungsbescheid",
    "aenderungsbescheid",
    "lohnabrechnung",
    "kontoauszug",
    "mietbescheinigung",
    "weiterbewilligungsantrag",
    "schreiben",
)
_KINDS_OF_TYPE = {
    "Antrag": ("weiterbewilligungsantrag",),
    "Bescheid": ("bewilligungsbescheid", "aenderungsbescheid"),
    "Einkommen": ("lohnabrechnung",),
    "Kontoauszug": ("kontoauszug",),
    "Mietvertrag": ("mietbescheinigung",),
    "Schriftverkehr": ("schreiben",),
}
_MAX_PAGES_OF_KIND = {
    "bewilligungsbescheid": 3,
    "aenderungsbescheid": 2,
    "lohnabrechnung": 1,
    "kontoauszug": 2,
    "mietbescheinigung": 1,
    "weiterbewilligungsantrag": 2,
    "schreiben": 2,
}

# Site key -> (display name, post code). Keys as in CONTRACT §1; unknown keys are title-cased.
_SITES = {
    "ahaus": ("Ahaus", "48683"),
    "bocholt": ("Bocholt", "46395"),
    "borken": ("Borken", "46325"),
    "gescher": ("Gescher", "48712"),
    "gronau": ("Gronau (Westf.)", "48599"),
    "heek": ("Heek", "48619"),
    "heiden": ("Heiden", "46359"),
    "isselburg": ("Isselburg", "46419"),
    "legden": ("Legden", "48739"),
    "raesfeld": ("Raesfeld", "46348"),
    "reken": ("Reken", "48734"),
    "rhede": ("Rhede", "46414"),
    "schoeppingen": ("Schöppingen", "48624"),
    "stadtlohn": ("Stadtlohn", "48703"),
    "suedlohn": ("Südlohn", "46354"),
    "velen": ("Velen", "46342"),
    "vreden": ("Vreden", "48691"),
    "kreis": ("Kreis Borken", "46325"),
}


def _site(site: str) -> tuple[str, str]:
    return _SITES.get(site, (site.replace("_", " ").title(), "46325"))


# --- synthetic people ----------------------------------------------------------------------

# Name and place lists are data, kept compact rather than one item per line.
# fmt: off
_FIRST_F = (
    "Anna", "Özlem", "Käthe", "Jana", "Sabine", "Ayşe", "Marie", "Lea", "Renate", "Elif",
    "Dörte", "Hannelore", "Kübra", "Agnieszka", "Svetlana", "Jülide", "Maren", "Zoë",
)
_FIRST_M = (
    "Jürgen", "Sönke", "Björn", "Mehmet", "Lukas", "Jörg", "Uwe", "Günther", "Ömer", "Paul",
    "Frank", "Tobias", "Dariusz", "Hüseyin", "Klaus-Dieter", "Matthäus", "René", "Bünyamin",
)
_LAST = (
    "Müller", "Schäfer", "Weiß", "Yılmaz", "Groß", "Hölscher", "Kösters", "Böcker",
    "Brüggemann", "Schröer", "Tenbrück", "Terhörst", "Öztürk", "Strauß", "Büning", "Lübbers",
    "Wessels", "Kowalski", "Heßling", "Nüßing", "Eßling", "Große-Wöstmann", "Demir", "Köhne",
)
_STREETS = (
    "Ahauser Straße", "Bocholter Straße", "Mühlenstraße", "Königsweg", "Am Schlößchen",
    "Grüner Weg", "Dülmener Straße", "Weißdornweg", "Brückenstraße", "Lindenallee",
    "Hohe Straße", "Am Bügelkamp", "Nordring", "Heidestraße", "Schützenstraße",
)
_CLERKS = (
    "Frau Terhaar", "Herr Wübbeling", "Frau Büscher", "Herr Löchteken", "Frau Große-Heßling",
    "Herr Sökeland", "Frau Tüshaus",
)
_EMPLOYERS = (
    "Bäckerei Hölscher GmbH & Co. KG", "Pflegedienst Sonnenschein gGmbH",
    "Spedition Terwey GmbH", "Gärtnerei Büning", "Reinigungsservice Kösters UG",
    "Möbelhaus Brüggemann KG", "Metallbau Schröer GmbH",
)
_LANDLORDS = (
    "Hausverwaltung Terhörst & Söhne", "Wohnungsbau Westmünsterland eG (Muster)",
    "Grundstücksgemeinschaft Lübbers", "Frau Margarete Böcker", "Herr Heinz Wessels",
)
_MONTHS = (
    "Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
    "Oktober", "November", "Dezember",
)
# fmt: on


@dataclass(frozen=True)
class Person:
    """A synthetic head of household; no real person."""

    first_name: str
    last_name: str
    female: bool
    street: str
    postcode: str
    city: str
    birth_date: date

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def list_name(self) -> str:
        """As the specialist procedure lists it: ``Nachname, Vorname``."""
        return f"{self.last_name}, {self.first_name}"

    @property
    def salutation(self) -> str:
        return (
            f"Sehr geehrte Frau {self.last_name},"
            if self.female
            else f"Sehr geehrter Herr {self.last_name},"
        )


def random_person(rng: random.Random, site: str = "borken") -> Person:
    """A synthetic person living at ``site``."""
    female = rng.random() < 0.5
    name, postcode = _site(site)
    return Person(
        first_name=rng.choice(_FIRST_F if female else _FIRST_M),
        last_name=rng.choice(_LAST),
        female=female,
        street=f"{rng.choice(_STREETS)} {rng.randint(1, 140)}{rng.choice(['', '', '', 'a', 'b'])}",
        postcode=postcode,
        city=name.replace("Kreis ", ""),
        birth_date=date(1950, 1, 1) + timedelta(days=rng.randint(0, 365 * 52)),
    )


def _de_date(d: date) -> str:
    return d.strftime("%d.%m.%Y")


def _euro(x: float) -> str:
    # Adding 0.0 after rounding turns -0.0 into 0.0: no "-0,00 €" on a payslip.
    s = f"{round(x, 2) + 0.0:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
    return f"{s} €"


def _rand_date(rng: random.Random, start: date = date(2019, 1, 1), days: int = 900) -> date:
    return start + timedelta(days=rng.randint(0, days))


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
def _font(name: str, size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for file in _FONT_FILES[name]:
        try:
            return ImageFont.truetype(str(FONT_DIR / file), size_px)
        except OSError:
            continue
    # Without DejaVu the pages still render (in Pillow's own font), just less pretty.
    return ImageFont.load_default(size=size_px)


class _Sheet:
    """An A4 page to draw on in millimetres, at a given resolution."""

    def __init__(self, dpi: int, paper: int = 255, ink: int = 0) -> None:
        self.dpi = dpi
        self.paper = paper
        self.ink = ink
        self.w = round(A4_MM[0] / 25.4 * dpi)
        self.h = round(A4_MM[1] / 25.4 * dpi)
        self.img = Image.new("L", (self.w, self.h), paper)
        self.draw = ImageDraw.Draw(self.img)

    def px(self, mm: float) -> int:
        return round(mm * self.dpi / 25.4)

    def font(self, name: str, pt: float) -> Any:
        return _font(name, max(4, round(pt * self.dpi / 72.0)))

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
        self.draw.text(
            (self.px(x), self.px(y)),
            s,
            font=self.font(font, pt),
            fill=self.ink if fill is None else fill,
            anchor=anchor,
        )
        return y + pt * 0.3528 * 1.25

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
class _Look:
    paper: int
    ink: int
    noise: bool


def _look(rng: random.Random, scanner_noise: bool) -> _Look:
    if not scanner_noise:
        return _Look(paper=255, ink=0, noise=False)
    return _Look(paper=rng.randint(236, 248), ink=rng.randint(18, 45), noise=True)


def _finish(
    sheet: _Sheet,
    rng: random.Random,
    look: _Look,
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
    noise = _sensor_noise(nprng, h, w, rng.uniform(1.8, 3.2))
    # Uneven illumination: a few grey levels of gradient across the page.
    gy = np.linspace(0, rng.uniform(-4, 4), h, dtype=np.float32).astype(np.int16)[:, None]
    gx = np.linspace(0, rng.uniform(-3, 3), w, dtype=np.float32).astype(np.int16)[None, :]
    arr = arr + noise + gy + gx
    out = np.clip(arr, 0, 255).astype(np.uint8)
    if bilevel:
        return Image.fromarray(out >= rng.randint(140, 165))
    return Image.fromarray(out, "L")


def _sensor_noise(nprng: np.random.Generator, h: int, w: int, sigma: float) -> np.ndarray:
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


def _module_px_1d(n_modules: int, dpi: int) -> int | None:
    """Pixels per module of a 1-D code on A4, or None when it does not fit at >= 0.35 mm.

    Bars plus a 10-module quiet zone each side must lie 5 mm inside the page edges: even a
    skewed scan then keeps the code and most of its quiet zone on the sheet.
    """
    min_px = max(2, math.ceil(0.35 * dpi / 25.4))
    want = max(min_px, math.ceil(0.45 * dpi / 25.4))
    avail = round(A4_MM[0] / 25.4 * dpi) - 2 * round(5 * dpi / 25.4)
    m = min(want, avail // (n_modules + 20))
    return m if m >= min_px else None


def _place_barcode(
    sheet: _Sheet, text: str, symbology: str, top: float, *, height_1d: float = 16.0
) -> float:
    """Draw a code centred at ``top`` (mm); returns the y (mm) below it.

    Modules are whole pixels (no grey edges before the scan's own blur) of at least 0.35 mm,
    0.45 mm where the code fits, so it scans at 200 dpi after skew; 2-D codes get about
    0.8 mm modules. The page's white space around the code is its quiet zone.
    """
    modules = barcode_modules(text, symbology)
    if modules.shape[0] == 1:
        m = _module_px_1d(modules.shape[1], sheet.dpi)
        if m is None:
            raise ValueError(
                f"{text!r} is too long for a {symbology} code on A4; use QR or DataMatrix"
            )
        row = np.repeat(modules[0], m)
        block = np.broadcast_to(row, (sheet.px(height_1d), row.size))
    else:
        m = max(2, math.ceil(0.8 * sheet.dpi / 25.4))
        block = np.repeat(np.repeat(modules, m, axis=0), m, axis=1)
    pixels = np.where(block, sheet.ink, sheet.paper).astype(np.uint8)
    x0 = (sheet.w - pixels.shape[1]) // 2
    sheet.img.paste(Image.fromarray(pixels, "L"), (x0, sheet.px(top)))
    return top + pixels.shape[0] * 25.4 / sheet.dpi


# --- page renderers --------------------------------------------------------------------------


def _rng(rng: random.Random | None) -> random.Random:
    # Without an rng the page is still deterministic (needed for printable cover sheets).
    return rng if rng is not None else random.Random(0)


def cover_text(
    household: str, *, site: str, volume: int = 1, declared_pages: int = 0, structured: bool = True
) -> str:
    """The barcode text of a cover sheet (CONTRACT §4)."""
    if structured:
        return f"ESAK1;{site};{household};{volume};{declared_pages}"
    return household


def render_cover_sheet(
    household: str,
    *,
    site: str,
    volume: int = 1,
    declared_pages: int = 0,
    symbology: str = "Code128",
    structured: bool = True,
    dpi: int = 300,
    rng: random.Random | None = None,
    scanner_noise: bool = True,
    bilevel: bool = False,
) -> Image.Image:
    """A cover sheet (Aktendeckblatt) for one volume of a household's file.

    With ``scanner_noise=False`` it is a clean, straight page fit for printing. It carries no
    person's name: cover sheets lie around the scanning service in stacks.
    """
    if structured and symbology == "Code39":
        raise ValueError("Code 39 cannot hold the structured ESAK1 form (';'); use a bare number")
    rng = _rng(rng)
    look = _look(rng, scanner_noise)
    sheet = _Sheet(dpi, look.paper, look.ink)
    name, _ = _site(site)
    text = cover_text(
        household, site=site, volume=volume, declared_pages=declared_pages, structured=structured
    )
    sheet.text(20, 15, "Jobcenter im Kreis Borken", font="sans-bold", pt=12)
    sheet.text(20, 21, f"Standort {name} · E-Sozialakte · Digitalisierung", font="sans", pt=9)
    sheet.hline(20, 190, 27, 0.5)
    sheet.text(105, 40, "AKTENDECKBLATT", font="sans-bold", pt=34, anchor="ma")
    sheet.text(
        105, 57, "Bitte vor die erste Seite des Bandes legen", font="sans", pt=11, anchor="ma"
    )
    y = _place_barcode(sheet, text, symbology, 72)
    sheet.text(105, y + 10, f"BG-Nummer: {household}", font="mono-bold", pt=26, anchor="ma")
    sheet.text(105, y + 26, f"Band {volume}", font="sans-bold", pt=22, anchor="ma")
    sheet.text(105, y + 40, f"Standort: {name}", font="sans", pt=16, anchor="ma")
    pages_line = f"Seiten bis zum nächsten Deckblatt: {declared_pages}" if declared_pages else ""
    if pages_line:
        sheet.text(105, y + 50, pages_line, font="sans", pt=11, anchor="ma")
    sheet.rect(25, 225, 185, 262, 0.4)
    sheet.para(
        30,
        229,
        150,
        "Dieses Blatt ist nicht Bestandteil der E-Akte. Es ordnet die folgenden Seiten beim "
        "Scannen der Bedarfsgemeinschaft zu. Bei beschädigtem Code wird die BG-Nummer aus dem "
        "Klartext gelesen. Rechtskreis: SGB II.",
        font="sans",
        pt=10,
    )
    sheet.text(
        20, 280, f"Code: {symbology} · {'ESAK1' if structured else 'BG-Nummer'}", font="sans", pt=8
    )
    return _finish(sheet, rng, look, bilevel=bilevel)


def render_separator(
    text: str = "PATCHT",
    *,
    symbology: str = "Code39",
    dpi: int = 300,
    rng: random.Random | None = None,
    scanner_noise: bool = True,
    bilevel: bool = False,
) -> Image.Image:
    """A document separator sheet: ``PATCHT`` or ``DOC;<type>``, with a caption."""
    rng = _rng(rng)
    look = _look(rng, scanner_noise)
    sheet = _Sheet(dpi, look.paper, look.ink)
    sheet.text(105, 30, "TRENNBLATT", font="sans-bold", pt=36, anchor="ma")
    if text.upper().startswith("DOC;"):
        caption = f"Neues Dokument · Dokumentart: {text[4:]}"
    else:
        caption = "Neues Dokument (Patch T)"
    sheet.text(105, 50, caption, font="sans", pt=16, anchor="ma")
    y = _place_barcode(sheet, text, symbology, 80, height_1d=20)
    sheet.text(105, y + 8, text, font="mono", pt=14, anchor="ma")
    sheet.text(
        105,
        270,
        "Nicht Bestandteil der E-Akte – wird beim Scannen entfernt",
        font="sans",
        pt=10,
        anchor="ma",
    )
    return _finish(sheet, rng, look, bilevel=bilevel)


def render_blank_page(
    rng: random.Random,
    *,
    dpi: int = 300,
    specks: bool = True,
    bleed_through: bool = False,
    bilevel: bool = False,
    scanner_noise: bool = True,
) -> Image.Image:
    """An empty back side: paper, dust, and perhaps the other side's text faintly mirrored."""
    look = _look(rng, scanner_noise)
    sheet = _Sheet(dpi, look.paper, look.ink)
    bleed = _bleed_layer(rng, dpi, look.paper) if bleed_through and look.noise else None
    return _finish(sheet, rng, look, bilevel=bilevel, specks=specks, bleed=bleed)


def _bleed_layer(rng: random.Random, dpi: int, paper: int) -> np.ndarray:
    """Mirrored text of the front side at 215-235 grey, blurred as through paper.

    Light shining through a sheet is scattered over a few tenths of a millimetre, so the
    front's print arrives with soft edges: rendered at a sixth of the resolution, blurred
    there (0.35 mm) and scaled up.
    """
    low = max(36, dpi // 6)
    sub = random.Random(rng.getrandbits(64))
    front = _Sheet(low)
    _draw_content(
        front, sub, sub.choice(CONTENT_KINDS), random_person(sub), "00000BG0000000", "borken", 1, 1
    )
    soft = front.img.filter(ImageFilter.GaussianBlur(0.35 * low / 25.4))
    full = soft.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize(
        (round(A4_MM[0] / 25.4 * dpi), round(A4_MM[1] / 25.4 * dpi)), Image.Resampling.BILINEAR
    )
    level = rng.randint(215, 235)
    darkness = (255 - np.asarray(full, dtype=np.int16)) / 255.0
    return np.rint(paper - darkness * (paper - level)).astype(np.int16)


def render_handwritten_note_page(
    rng: random.Random, *, dpi: int = 300, bilevel: bool = False, scanner_noise: bool = True
) -> Image.Image:
    """A back side that is empty but for one short handwritten line: not blank."""
    look = _look(rng, scanner_noise)
    sheet = _Sheet(dpi, look.paper, look.ink)
    length = rng.uniform(32, 58)
    x = rng.uniform(30, 175 - length)
    y = rng.uniform(40, 230)
    sheet.scribble(
        rng, x, y, length, ink=min(look.ink + rng.randint(10, 40), 90), pen=rng.uniform(0.4, 0.6)
    )
    return _finish(sheet, rng, look, bilevel=bilevel)


def render_content_page(
    rng: random.Random,
    kind: str,
    *,
    dpi: int = 300,
    person: Person,
    household: str,
    site: str = "borken",
    page_no: int = 1,
    page_total: int = 1,
    bilevel: bool = False,
    scanner_noise: bool = True,
) -> Image.Image:
    """One page of a case file: a notice, payslip, bank statement, form or letter.

    ``kind`` is one of :data:`CONTENT_KINDS`; pages after the first of a document continue
    its text with a short header.
    """
    if kind not in CONTENT_KINDS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(CONTENT_KINDS)}")
    look = _look(rng, scanner_noise)
    sheet = _Sheet(dpi, look.paper, look.ink)
    _draw_content(sheet, rng, kind, person, household, site, page_no, page_total)
    return _finish(sheet, rng, look, bilevel=bilevel)


# --- content -----------------------------------------------------------------------------

_HINTS = (
    "Bitte beachten Sie: Sie sind verpflichtet, jede Änderung in Ihren persönlichen und "
    "wirtschaftlichen Verhältnissen unverzüglich mitzuteilen. Dies gilt insbesondere für die "
    "Aufnahme einer Beschäftigung, Änderungen des Einkommens, einen Umzug sowie Änderungen in "
    "der Zusammensetzung der Bedarfsgemeinschaft.",
    "Einkommen aus Erwerbstätigkeit wird nach Abzug der Freibeträge auf den Bedarf angerechnet. "
    "Bitte legen Sie jede Verdienstbescheinigung unaufgefordert vor, sobald Sie sie erhalten.",
    "Die Kosten für Unterkunft und Heizung werden in tatsächlicher Höhe anerkannt, soweit sie "
    "angemessen sind. Vor einem Umzug holen Sie bitte die Zusicherung des Jobcenters ein.",
    "Während des Leistungsbezuges sind Sie gesetzlich kranken- und pflegeversichert. Die "
    "Beiträge werden vom Jobcenter unmittelbar an Ihre Krankenkasse gezahlt.",
    "Bitte geben Sie bei allen Schreiben und Anrufen Ihre BG-Nummer an. So können wir Ihr "
    "Anliegen schneller und ohne Rückfragen bearbeiten.",
    "Einen Weiterbewilligungsantrag stellen Sie bitte rechtzeitig vor Ablauf des "
    "Bewilligungszeitraumes. Den Vordruck erhalten Sie etwa sechs Wochen vorher mit der Post.",
    "Ihre Angaben werden nach den Vorschriften des Sozialgesetzbuches verarbeitet. Weitere "
    "Informationen zum Datenschutz erhalten Sie bei Ihrem Jobcenter.",
    "Sollten Sie eine Arbeit aufnehmen, teilen Sie dies bitte sofort mit und reichen Sie den "
    "Arbeitsvertrag sowie die erste Lohnabrechnung ein.",
    "Bitte prüfen Sie diesen Bescheid sorgfältig. Wenn Sie Fragen haben, wenden Sie sich an die "
    "oben genannte Ansprechperson; telefonische Auskünfte erhalten Sie montags bis freitags.",
)
_RECHTSBEHELF = (
    "Rechtsbehelfsbelehrung: Gegen diesen Bescheid kann innerhalb eines Monats nach "
    "Bekanntgabe Widerspruch erhoben werden. Der Widerspruch ist schriftlich, in "
    "elektronischer Form oder zur Niederschrift beim Jobcenter im Kreis Borken einzulegen."
)


def _letterhead(
    s: _Sheet, rng: random.Random, person: Person, household: str, site: str, when: date
) -> float:
    name, postcode = _site(site)
    town = name.replace("Kreis ", "")
    s.rect(150, 12, 190, 30, 0.6)
    s.text(170, 15.5, "Jobcenter", font="sans-bold", pt=13, anchor="ma")
    s.text(170, 22.5, "Kreis Borken", font="sans", pt=9, anchor="ma")
    s.text(25, 14, "Jobcenter im Kreis Borken", font="sans-bold", pt=15)
    s.text(25, 21.5, f"Standort {name}", font="sans", pt=10)
    s.text(
        25,
        45,
        f"Jobcenter im Kreis Borken · Postfach {rng.randint(1000, 9999)} · {postcode} {town}",
        font="sans",
        pt=7,
    )
    s.hline(25, 100, 48.5, 0.15)
    y = 53.0
    for line in (person.full_name, person.street, f"{person.postcode} {person.city}"):
        y = s.text(25, y, line, font="serif", pt=11)
    iy = 45.0
    info = (
        ("Datum:", _de_date(when)),
        ("BG-Nummer:", household),
        ("Ansprechperson:", rng.choice(_CLERKS)),
        ("Telefon:", f"0000 00-{rng.randint(1000, 9999)}"),
        ("Zimmer:", str(rng.randint(1, 240))),
    )
    for label, value in info:
        s.text(122, iy, label, font="sans", pt=9)
        s.text(150, iy, value, font="sans", pt=9)
        iy += 4.8
    return 92.0


def _continuation(s: _Sheet, household: str, page_no: int, page_total: int, title: str) -> float:
    s.text(25, 14, f"{title} – Seite {page_no} von {page_total}", font="sans", pt=9)
    s.text(185, 14, f"BG-Nummer: {household}", font="sans", pt=9, anchor="ra")
    s.hline(25, 185, 19, 0.2)
    return 28.0


def _footer(s: _Sheet, page_no: int, page_total: int) -> None:
    s.text(105, 284, f"Seite {page_no} von {page_total}", font="sans", pt=8, anchor="ma")


def _closing(s: _Sheet, rng: random.Random, y: float, signer: str | None = None) -> float:
    y = s.text(25, y + 4, "Mit freundlichen Grüßen", font="serif", pt=11)
    if signer is None:
        y = s.text(25, y + 2, "Im Auftrag", font="serif", pt=11)
        s.scribble(rng, 27, y + 8, rng.uniform(25, 40))
        y = s.text(25, y + 12, rng.choice(_CLERKS).split(" ", 1)[1], font="serif", pt=11)
    else:
        s.scribble(rng, 27, y + 8, rng.uniform(25, 40))
        y = s.text(25, y + 12, signer, font="serif", pt=11)
    return y


def _bescheid_amounts(rng: random.Random) -> tuple[float, float, float]:
    regel = rng.choice((424.0, 432.0, 446.0, 401.0, 360.0))
    kdu = round(rng.uniform(280, 620), 2)
    income = round(rng.choice((0.0, 0.0, rng.uniform(80, 450))), 2)
    return regel, kdu, income


def _draw_content(
    s: _Sheet,
    rng: random.Random,
    kind: str,
    person: Person,
    household: str,
    site: str,
    page_no: int,
    page_total: int,
) -> None:
    when = _rand_date(rng)
    last = page_no == page_total
    width = 160.0
    if kind in ("bewilligungsbescheid", "aenderungsbescheid", "schreiben") and page_no > 1:
        title = {"bewilligungsbescheid": "Bescheid", "aenderungsbescheid": "Änderungsbescheid"}.get(
            kind, "Schreiben"
        )
        y = _continuation(s, household, page_no, page_total, f"{title} vom {_de_date(when)}")
        for text in rng.sample(_HINTS, 4):
            y = s.para(25, y, width, text) + 3
        if last:
            y = s.para(25, y + 2, width, _RECHTSBEHELF) + 2
            _closing(s, rng, y)
        _footer(s, page_no, page_total)
        return
    if kind == "bewilligungsbescheid":
        y = _letterhead(s, rng, person, household, site, when)
        y = (
            s.para(
                25,
                y,
                width,
                "Bescheid über die Bewilligung von Leistungen zur Sicherung des Lebensunterhalts "
                "nach dem Zweiten Buch Sozialgesetzbuch (SGB II)",
                font="serif-bold",
                pt=12,
            )
            + 4
        )
        y = s.text(25, y, person.salutation, font="serif", pt=11) + 2
        start = date(when.year, when.month, 1)
        end = date(start.year + 1, start.month, 1) - timedelta(days=1)
        y = (
            s.para(
                25,
                y,
                width,
                f"auf Ihren Antrag vom {_de_date(when - timedelta(days=rng.randint(10, 40)))} "
                "werden "
                "Ihnen und den mit Ihnen in der Bedarfsgemeinschaft lebenden Personen für die Zeit "
                f"vom {_de_date(start)} bis {_de_date(end)} Leistungen zur Sicherung des "
                "Lebensunterhalts in folgender Höhe bewilligt:",
            )
            + 3
        )
        regel, kdu, income = _bescheid_amounts(rng)
        rows = [["Zeitraum", "Regelbedarf", "Unterkunft", "Einkommen", "Gesamt"]]
        for k in range(rng.randint(2, 3)):
            month = (start.month - 1 + k) % 12
            inc = income if k else round(income * 0.5, 2)
            rows.append(
                [
                    f"{_MONTHS[month]} {start.year + (start.month - 1 + k) // 12}",
                    _euro(regel),
                    _euro(kdu),
                    _euro(-inc),
                    _euro(regel + kdu - inc),
                ]
            )
        y = s.table(25, y, [38, 30, 38, 27, 27], rows, right={1, 2, 3, 4}) + 3
        y = (
            s.para(
                25,
                y,
                width,
                "Die Leistungen werden monatlich im Voraus auf das von Ihnen angegebene Konto "
                "überwiesen. Die Berechnung entnehmen Sie bitte den beigefügten Berechnungsbögen, "
                "die Bestandteil dieses Bescheides sind.",
            )
            + 3
        )
        y = s.para(25, y, width, rng.choice(_HINTS)) + 3
        if last:
            y = s.para(25, y, width, _RECHTSBEHELF) + 2
            _closing(s, rng, y)
        _footer(s, page_no, page_total)
    elif kind == "aenderungsbescheid":
        y = _letterhead(s, rng, person, household, site, when)
        y = s.text(25, y, "Änderungsbescheid", font="serif-bold", pt=13)
        y = (
            s.para(
                25,
                y,
                width,
                "zur Bewilligung von Leistungen zur Sicherung des Lebensunterhalts nach dem SGB II",
                font="serif-bold",
                pt=11,
            )
            + 4
        )
        y = s.text(25, y, person.salutation, font="serif", pt=11) + 2
        ab = date(when.year, when.month, 1)
        y = (
            s.para(
                25,
                y,
                width,
                f"der Bescheid vom {_de_date(when - timedelta(days=rng.randint(30, 200)))} "
                "über die Bewilligung von Leistungen nach dem SGB II wird für die Zeit ab "
                f"{_de_date(ab)} teilweise aufgehoben und wie folgt geändert:",
            )
            + 3
        )
        regel, kdu, income = _bescheid_amounts(rng)
        new_kdu = round(kdu + rng.uniform(-40, 60), 2)
        new_inc = round(income + rng.uniform(0, 120), 2)
        rows = [
            ["Leistungsart", "bisher", "neu"],
            ["Regelbedarf", _euro(regel), _euro(regel)],
            ["Bedarfe für Unterkunft und Heizung", _euro(kdu), _euro(new_kdu)],
            ["anzurechnendes Einkommen", _euro(-income), _euro(-new_inc)],
            [
                "Leistungsanspruch monatlich",
                _euro(regel + kdu - income),
                _euro(regel + new_kdu - new_inc),
            ],
        ]
        y = s.table(25, y, [80, 35, 35], rows, right={1, 2}, bold_last=True) + 3
        reason = rng.choice(
            (
                "Grund der Änderung: Die Regelbedarfe wurden zum 01.01. gesetzlich angepasst.",
                "Grund der Änderung: Sie haben eine Beschäftigung aufgenommen. Das Einkommen "
                "wird nach Abzug der Freibeträge angerechnet.",
                "Grund der Änderung: Ihre Kosten für Unterkunft und Heizung haben sich nach "
                "Vorlage der Betriebskostenabrechnung geändert.",
            )
        )
        y = s.para(25, y, width, reason) + 3
        y = (
            s.para(
                25,
                y,
                width,
                "Soweit Leistungen zu Unrecht erbracht wurden, sind diese nach § 50 SGB X zu "
                "erstatten. Hierüber erhalten Sie gegebenenfalls einen gesonderten Bescheid.",
            )
            + 3
        )
        if last:
            y = s.para(25, y, width, _RECHTSBEHELF) + 2
            _closing(s, rng, y)
        _footer(s, page_no, page_total)
    elif kind == "schreiben":
        _draw_letter(s, rng, person, household, site, when, page_total)
    elif kind == "lohnabrechnung":
        _draw_payslip(s, rng, person, household, when)
    elif kind == "kontoauszug":
        _draw_statement(s, rng, person, household, site, when, page_no, page_total)
    elif kind == "mietbescheinigung":
        _draw_rent(s, rng, person, household, site, when)
    elif kind == "weiterbewilligungsantrag":
        _draw_wba(s, rng, person, household, site, when, page_no, page_total)


def _draw_letter(
    s: _Sheet, rng: random.Random, person: Person, household: str, site: str, when: date, total: int
) -> None:
    width = 160.0
    variant = rng.randrange(3)
    if variant == 2:
        # A letter from the household to the job center (Widerspruch).
        y = 18.0
        for line in (person.full_name, person.street, f"{person.postcode} {person.city}"):
            y = s.text(25, y, line, font="serif", pt=11)
        name, postcode = _site(site)
        y = 50.0
        for line in (
            "Jobcenter im Kreis Borken",
            f"Standort {name}",
            f"{postcode} {name.replace('Kreis ', '')}",
        ):
            y = s.text(25, y, line, font="serif", pt=11)
        s.text(185, 75, f"{person.city}, {_de_date(when)}", font="serif", pt=11, anchor="ra")
        y = s.text(
            25,
            88,
            "Widerspruch gegen den Bescheid vom "
            + _de_date(when - timedelta(days=rng.randint(5, 25))),
            font="serif-bold",
            pt=11,
        )
        y = s.text(25, y, f"BG-Nummer: {household}", font="serif-bold", pt=11) + 5
        y = s.text(25, y, "Sehr geehrte Damen und Herren,", font="serif", pt=11) + 2
        for text in (
            "hiermit lege ich Widerspruch gegen den oben genannten Bescheid ein. Die Kosten für "
            "die Heizung wurden nicht vollständig berücksichtigt, obwohl ich die Abrechnung "
            "meines Vermieters fristgerecht eingereicht habe.",
            "Ich bitte Sie, den Bescheid zu überprüfen und die Nachzahlung auf mein Konto zu "
            "überweisen. Eine Kopie der Heizkostenabrechnung lege ich diesem Schreiben noch "
            "einmal bei.",
            "Für Rückfragen erreichen Sie mich vormittags unter der Ihnen bekannten Telefonnummer.",
        ):
            y = s.para(25, y, width, text) + 3
        _closing(s, rng, y, signer=person.full_name)
        return
    y = _letterhead(s, rng, person, household, site, when)
    if variant == 0:
        y = s.text(25, y, "Einladung zu einem persönlichen Gespräch", font="serif-bold", pt=12) + 4
        y = s.text(25, y, person.salutation, font="serif", pt=11) + 2
        texts = [
            f"bitte kommen Sie am {_de_date(when + timedelta(days=rng.randint(7, 21)))} um "
            f"{rng.randint(8, 14)}:{rng.choice(['00', '15', '30', '45'])} Uhr in das Jobcenter im "
            f"Kreis Borken, Standort {_site(site)[0]}. Ich möchte mit Ihnen über Ihre berufliche "
            "Situation und Ihre Eingliederungsvereinbarung sprechen.",
            "Diese Einladung erfolgt nach § 59 SGB II in Verbindung mit § 309 SGB III. Bringen "
            "Sie bitte Ihren Personalausweis und einen aktuellen Lebenslauf mit.",
            "Wenn Sie ohne wichtigen Grund nicht erscheinen, kann Ihr Arbeitslosengeld II "
            "gemindert werden. Sollten Sie den Termin nicht wahrnehmen können, melden Sie sich "
            "bitte vorher telefonisch.",
        ]
    else:
        y = s.text(25, y, "Mitwirkung – Anforderung von Unterlagen", font="serif-bold", pt=12) + 4
        y = s.text(25, y, person.salutation, font="serif", pt=11) + 2
        month = _MONTHS[rng.randrange(12)]
        texts = [
            "zur Prüfung Ihres Leistungsanspruchs benötige ich noch folgende Unterlagen: "
            f"Kontoauszüge der letzten drei Monate, die Verdienstbescheinigung für {month} "
            "sowie eine aktuelle Mietbescheinigung.",
            f"Bitte reichen Sie die Unterlagen bis zum {_de_date(when + timedelta(days=14))} ein. "
            "Nach § 60 SGB I sind Sie verpflichtet, die für die Leistung erheblichen Tatsachen "
            "anzugeben und Beweisurkunden vorzulegen.",
            "Kommen Sie dieser Verpflichtung nicht nach, können die Leistungen nach § 66 SGB I "
            "bis zur Nachholung der Mitwirkung ganz oder teilweise versagt werden.",
        ]
    for text in texts:
        y = s.para(25, y, width, text) + 3
    if total == 1:
        _closing(s, rng, y)
    _footer(s, 1, total)


def _draw_payslip(
    s: _Sheet, rng: random.Random, person: Person, household: str, when: date
) -> None:
    employer = rng.choice(_EMPLOYERS)
    s.text(25, 15, employer, font="sans-bold", pt=13)
    s.text(
        25,
        21.5,
        f"{rng.choice(_STREETS)} {rng.randint(1, 90)} · {person.postcode} {person.city}",
        font="sans",
        pt=9,
    )
    s.hline(25, 185, 26, 0.4)
    s.text(25, 32, "Lohnabrechnung / Verdienstbescheinigung", font="sans-bold", pt=14)
    month = _MONTHS[when.month - 1]
    y = s.text(25, 40, f"Abrechnungsmonat: {month} {when.year}", font="sans", pt=11) + 3
    fields = (
        ("Arbeitnehmer/in:", person.full_name),
        ("Anschrift:", f"{person.street}, {person.postcode} {person.city}"),
        ("Personalnummer:", str(rng.randint(10000, 99999))),
        ("Eintritt:", _de_date(when - timedelta(days=rng.randint(60, 1500)))),
        ("Vorlage beim Jobcenter, BG-Nummer:", household),
    )
    for label, value in fields:
        s.text(25, y, label, font="sans", pt=10)
        y = s.text(100, y, value, font="sans", pt=10)
    y += 4
    hours = rng.choice((20, 30, 38.5, 40, 45, 60, 80, 120))
    rate = rng.choice((9.50, 9.60, 10.45, 11.20, 12.00, 13.50))
    gross = round(hours * rate * 4.33 if hours < 50 else hours * rate, 2)
    bonus = round(rng.choice((0.0, 0.0, rng.uniform(15, 80))), 2)
    gross_total = gross + bonus
    rows = [
        ["Lohnart", "Menge", "Satz", "Betrag"],
        ["Stundenlohn", f"{hours:g}".replace(".", ",") + " Std.", _euro(rate), _euro(gross)],
        ["Zuschläge (Nacht/Sonntag)", "", "", _euro(bonus)],
        ["Bruttobezüge", "", "", _euro(gross_total)],
    ]
    y = s.table(25, y, [70, 30, 30, 30], rows, right={1, 2, 3}, bold_last=True) + 4
    kv = round(gross_total * 0.0795, 2)
    rv = round(gross_total * 0.093, 2)
    av = round(gross_total * 0.012, 2)
    pv = round(gross_total * 0.01525, 2)
    tax = round(max(0.0, gross_total - 1100) * 0.14, 2)
    net = gross_total - kv - rv - av - pv - tax
    rows = [
        ["Abzüge", "", "Betrag"],
        ["Lohnsteuer", "", _euro(tax)],
        ["Solidaritätszuschlag", "", _euro(0.0)],
        ["Krankenversicherung", "7,95 %", _euro(kv)],
        ["Rentenversicherung", "9,30 %", _euro(rv)],
        ["Arbeitslosenversicherung", "1,20 %", _euro(av)],
        ["Pflegeversicherung", "1,525 %", _euro(pv)],
        ["Nettobezüge / Auszahlungsbetrag", "", _euro(net)],
    ]
    y = s.table(25, y, [90, 30, 40], rows, right={1, 2}, bold_last=True) + 5
    y = s.para(
        25,
        y,
        160,
        f"Der Auszahlungsbetrag wird am {_de_date(date(when.year, when.month, 28))} auf das "
        "bekannte Konto überwiesen. Diese Bescheinigung wurde maschinell erstellt und ist ohne "
        "Unterschrift gültig. Bitte bewahren Sie sie sorgfältig auf.",
        font="sans",
        pt=10,
    )
    _footer(s, 1, 1)


def _draw_statement(
    s: _Sheet,
    rng: random.Random,
    person: Person,
    household: str,
    site: str,
    when: date,
    page_no: int,
    total: int,
) -> None:
    s.text(25, 15, "Sparkasse Westmünster (Muster)", font="sans-bold", pt=14)
    s.text(
        185,
        16,
        f"Kontoauszug {when.month}/{when.year}",
        font="sans-bold",
        pt=11,
        anchor="ra",
    )
    s.text(185, 22, f"Blatt {page_no} von {total}", font="sans", pt=9, anchor="ra")
    iban = (
        "DE00 "
        + " ".join(f"{rng.randint(0, 9999):04d}" for _ in range(4))
        + f" {rng.randint(0, 99):02d}"
    )
    y = s.text(25, 28, f"Kontoinhaber/in: {person.full_name}", font="sans", pt=10)
    y = s.text(25, y, f"IBAN: {iban}   BIC: MUSTDEXXXXX", font="sans", pt=10)
    y = s.text(25, y, f"Vorgelegt beim Jobcenter – BG-Nummer: {household}", font="sans", pt=10) + 3
    balance = round(rng.uniform(-150, 900), 2)
    rows = [["Buchung", "Valuta", "Vorgang", "Betrag"]]
    rows.append(["", "", "Alter Kontostand", _euro(balance)])
    d = date(when.year, when.month, 1)
    entries = [
        (
            f"Gutschrift Jobcenter im Kreis Borken, SGB II {household}",
            round(rng.uniform(400, 1100), 2),
        ),
        ("Dauerauftrag Miete " + rng.choice(_LANDLORDS)[:24], -round(rng.uniform(300, 650), 2)),
        ("Lastschrift Stadtwerke (Strom/Gas)", -round(rng.uniform(40, 120), 2)),
        ("Kartenzahlung Lebensmittelmarkt", -round(rng.uniform(10, 90), 2)),
        ("Kartenzahlung Drogerie", -round(rng.uniform(4, 30), 2)),
        ("Lastschrift Mobilfunk", -round(rng.uniform(8, 30), 2)),
        ("Bargeldauszahlung Geldautomat", -float(rng.choice((20, 50, 100)))),
        ("Gutschrift Kindergeld Familienkasse", 219.0),
        ("Lastschrift Haftpflichtversicherung", -round(rng.uniform(4, 12), 2)),
        ("Kartenzahlung Bäckerei", -round(rng.uniform(2, 12), 2)),
    ]
    n = rng.randint(9, 15)
    for i in range(n):
        text, amount = entries[i] if i < 2 else rng.choice(entries[2:])
        d = d + timedelta(days=rng.randint(0, 3))
        rows.append([d.strftime("%d.%m."), d.strftime("%d.%m."), text, _euro(amount)])
        balance += amount
    rows.append(["", "", "Neuer Kontostand", _euro(balance)])
    y = s.table(25, y, [18, 18, 99, 28], rows, pt=9, right={3}, bold_last=True) + 4
    s.para(
        25,
        y,
        160,
        "Bitte prüfen Sie Ihren Kontoauszug. Einwendungen gegen Belastungen aus Lastschriften "
        "sind innerhalb von acht Wochen zu erheben. Der Rechnungsabschluss gilt als genehmigt, "
        "wenn nicht innerhalb von sechs Wochen widersprochen wird.",
        font="sans",
        pt=9,
    )


def _field(
    s: _Sheet, x: float, y: float, w: float, label: str, value: str, rng: random.Random
) -> float:
    s.text(x, y, label, font="sans", pt=8)
    s.rect(x, y + 3.5, x + w, y + 11, 0.25)
    # Filled in by hand: an oblique font, slightly off the line.
    s.text(
        x + 2 + rng.uniform(0, 2), y + 5 + rng.uniform(-0.4, 0.6), value, font="sans-oblique", pt=11
    )
    return y + 14


def _draw_rent(
    s: _Sheet, rng: random.Random, person: Person, household: str, site: str, when: date
) -> None:
    s.text(25, 15, "Jobcenter im Kreis Borken", font="sans-bold", pt=11)
    s.text(185, 15, f"BG-Nummer: {household}", font="sans-bold", pt=11, anchor="ra")
    s.text(25, 26, "Mietbescheinigung", font="sans-bold", pt=18)
    y = (
        s.text(25, 35, "(von der Vermieterin oder dem Vermieter auszufüllen)", font="sans", pt=10)
        + 3
    )
    landlord = rng.choice(_LANDLORDS)
    y = _field(s, 25, y, 160, "Name der Mieterin / des Mieters", person.full_name, rng)
    y = _field(
        s,
        25,
        y,
        160,
        "Anschrift der Wohnung",
        f"{person.street}, {person.postcode} {person.city}",
        rng,
    )
    _field(
        s,
        25,
        y,
        75,
        "Mietverhältnis seit",
        _de_date(when - timedelta(days=rng.randint(200, 3000))),
        rng,
    )
    _field(s, 105, y, 38, "Wohnfläche (m²)", f"{rng.randint(38, 95)}", rng)
    y = _field(s, 147, y, 38, "Anzahl Räume", f"{rng.randint(1, 4)}", rng)
    y = _field(s, 25, y, 160, "Vermieterin / Vermieter", landlord, rng) + 2
    base = round(rng.uniform(260, 520), 2)
    ops = round(rng.uniform(60, 160), 2)
    heat = round(rng.uniform(50, 120), 2)
    rows = [
        ["Monatliche Kosten", "Betrag"],
        ["Grundmiete (Kaltmiete)", _euro(base)],
        ["Betriebskostenvorauszahlung", _euro(ops)],
        ["Heizkostenvorauszahlung", _euro(heat)],
        ["Gesamtmiete", _euro(base + ops + heat)],
    ]
    y = s.table(25, y, [110, 50], rows, pt=10, right={1}, bold_last=True, grid=True) + 4
    s.text(25, y, "Warmwasserbereitung:", font="sans", pt=10)
    central = rng.random() < 0.6
    s.checkbox(75, y, central)
    s.text(80, y, "zentral", font="sans", pt=10)
    s.checkbox(100, y, not central)
    y = s.text(105, y, "dezentral (Boiler/Durchlauferhitzer)", font="sans", pt=10) + 3
    s.text(25, y, "Heizung:", font="sans", pt=10)
    heating = rng.randrange(3)
    for i, label in enumerate(("Gas", "Öl", "Fernwärme")):
        s.checkbox(75 + 28 * i, y, heating == i)
        s.text(80 + 28 * i, y, label, font="sans", pt=10)
    y += 10
    y = (
        s.para(
            25,
            y,
            160,
            "Ich bestätige die Richtigkeit der vorstehenden Angaben. Mir ist bekannt, dass das "
            "Jobcenter die Angaben überprüfen kann. Änderungen der Miete teile ich der Mieterin "
            "oder dem Mieter rechtzeitig schriftlich mit.",
            font="sans",
            pt=10,
        )
        + 12
    )
    s.text(25, y, f"{person.city}, {_de_date(when)}", font="sans-oblique", pt=11)
    s.scribble(rng, 110, y + 4, rng.uniform(30, 45))
    s.hline(25, 90, y + 7, 0.2)
    s.hline(105, 185, y + 7, 0.2)
    s.text(25, y + 8, "Ort, Datum", font="sans", pt=8)
    s.text(105, y + 8, "Unterschrift Vermieter/in", font="sans", pt=8)


def _draw_wba(
    s: _Sheet,
    rng: random.Random,
    person: Person,
    household: str,
    site: str,
    when: date,
    page_no: int,
    total: int,
) -> None:
    s.text(25, 14, "Jobcenter im Kreis Borken", font="sans-bold", pt=11)
    s.text(185, 14, f"Seite {page_no} von {total}", font="sans", pt=9, anchor="ra")
    if page_no > 1:
        y = s.text(
            25, 24, "Weiterbewilligungsantrag – Anlage und Hinweise", font="sans-bold", pt=13
        )
        y = s.text(25, y, f"BG-Nummer: {household}", font="sans", pt=10) + 4
        for text in rng.sample(_HINTS, 5):
            y = s.para(25, y, 160, text, font="sans", pt=10) + 3
        return
    y = (
        s.para(
            25,
            24,
            120,
            "Weiterbewilligungsantrag: Antrag auf Weiterbewilligung der Leistungen zur Sicherung "
            "des Lebensunterhalts nach dem Zweiten Buch Sozialgesetzbuch (SGB II)",
            font="sans-bold",
            pt=12,
        )
        + 4
    )
    s.rect(150, 22, 185, 42, 0.3)
    s.text(167.5, 24, "Eingangsstempel", font="sans", pt=7, anchor="ma")
    s.text(167.5, 30, "EINGEGANGEN", font="sans-bold", pt=9, anchor="ma")
    s.text(167.5, 35, _de_date(when), font="sans-bold", pt=9, anchor="ma")
    y = max(y, 46)
    y = _field(s, 25, y, 75, "BG-Nummer", household, rng) - 14
    y = _field(s, 110, y, 75, "Geburtsdatum", _de_date(person.birth_date), rng)
    y = _field(s, 25, y, 160, "Name, Vorname", person.list_name, rng)
    y = (
        _field(s, 25, y, 160, "Anschrift", f"{person.street}, {person.postcode} {person.city}", rng)
        + 2
    )
    y = (
        s.text(
            25,
            y,
            "1. Haben sich Ihre Verhältnisse seit der letzten Antragstellung geändert?",
            font="sans-bold",
            pt=10,
        )
        + 2
    )
    questions = (
        "Hat sich die Zusammensetzung der Bedarfsgemeinschaft geändert?",
        "Hat eine Person der Bedarfsgemeinschaft Einkommen erzielt?",
        "Haben sich die Kosten für Unterkunft und Heizung geändert?",
        "Ist Vermögen vorhanden, das bisher nicht angegeben wurde?",
        "Hat sich Ihre Bankverbindung geändert?",
        "Ist eine Person arbeitsunfähig erkrankt oder in Ausbildung?",
    )
    for q in questions:
        yes = rng.random() < 0.25
        s.text(25, y, q, font="sans", pt=10)
        s.checkbox(160, y, yes)
        s.text(164.5, y, "ja", font="sans", pt=9)
        s.checkbox(172, y, not yes)
        s.text(176.5, y, "nein", font="sans", pt=9)
        y += 7
    y += 2
    y = (
        s.para(
            25,
            y,
            160,
            "Wenn Sie eine Frage mit ja beantwortet haben, fügen Sie bitte die entsprechenden "
            "Nachweise bei. Ich versichere, dass meine Angaben vollständig und richtig sind. "
            "Änderungen teile ich unverzüglich mit.",
            font="sans",
            pt=10,
        )
        + 12
    )
    s.text(25, y, f"{person.city}, {_de_date(when)}", font="sans-oblique", pt=11)
    s.scribble(rng, 110, y + 4, rng.uniform(30, 45))
    s.hline(25, 90, y + 7, 0.2)
    s.hline(105, 185, y + 7, 0.2)
    s.text(25, y + 8, "Ort, Datum", font="sans", pt=8)
    s.text(105, y + 8, "Unterschrift der Antragstellerin / des Antragstellers", font="sans", pt=8)


# --- the delivery ------------------------------------------------------------------------------


@dataclass
class GeneratedDelivery:
    """A generated delivery and its ground truth (``truth.json`` beside the delivery).

    ``files`` holds one dict per delivered file or image folder, exactly as in
    ``truth.json``: ``path`` (relative to the delivery, ``/``-separated), ``format``
    (``pdf``, ``tiff``, ``image-folder``, ``household-pdf`` or ``bad``), ``bad_reason`` and
    ``pages``, each page with ``index``, ``kind``, ``barcode``, ``household``, ``volume``,
    ``document``, ``doc_type``, ``orphan``, ``note`` and ``bilevel`` (a 1-bit page). Pages of
    a household section (cover, separators, blanks, content) carry its household and volume;
    ``document`` and ``doc_type`` are set for content pages (``doc_type`` also for ``DOC;``
    separators). Image folders also list their ``images`` in page order.
    """

    site: str
    seed: int
    delivery_dir: Path
    expected_csv: Path
    expected_households: list[str]
    delivered_households: list[str]
    missing_households: list[str]
    unexpected_households: list[str]
    files: list[dict[str, Any]]
    agency_code: str = "95401"
    dpi: int = 300
    #: ``delivery/manifest.csv``, if one was written.
    manifest: Path | None = None
    #: Files the manifest lists that were never delivered (a deliberate gap).
    manifest_not_delivered: list[str] = field(default_factory=list)
    #: Household number -> name as in the expected list (``Nachname, Vorname``).
    names: dict[str, str] = field(default_factory=dict)
    #: Where ``truth.json`` lies; paths in it are relative to this folder.
    root: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The truth as JSON-ready data, paths relative to :attr:`root` (so it is portable)."""

        def rel(p: Path | None) -> str | None:
            if p is None:
                return None
            if self.root is not None:
                try:
                    return p.relative_to(self.root).as_posix()
                except ValueError:
                    pass
            return p.as_posix()

        return {
            "site": self.site,
            "seed": self.seed,
            "agency_code": self.agency_code,
            "dpi": self.dpi,
            "delivery_dir": rel(self.delivery_dir),
            "expected_csv": rel(self.expected_csv),
            "manifest": rel(self.manifest),
            "expected_households": list(self.expected_households),
            "delivered_households": list(self.delivered_households),
            "missing_households": list(self.missing_households),
            "unexpected_households": list(self.unexpected_households),
            "manifest_not_delivered": list(self.manifest_not_delivered),
            "names": dict(self.names),
            "files": self.files,
        }

    @classmethod
    def from_json(cls, path: Path | str) -> GeneratedDelivery:
        """Load ``truth.json``; relative paths in it are taken from the file's folder."""
        path = Path(path)
        data = json.loads(path.read_text(encoding="utf-8"))
        root = path.parent

        def absolute(value: str | None) -> Path | None:
            if value is None:
                return None
            p = Path(value)
            return p if p.is_absolute() else root / p

        return cls(
            site=data["site"],
            seed=data["seed"],
            delivery_dir=absolute(data["delivery_dir"]) or root,
            expected_csv=absolute(data["expected_csv"]) or root,
            expected_households=data["expected_households"],
            delivered_households=data["delivered_households"],
            missing_households=data["missing_households"],
            unexpected_households=data["unexpected_households"],
            files=data["files"],
            agency_code=data.get("agency_code", "95401"),
            dpi=data.get("dpi", 300),
            manifest=absolute(data.get("manifest")),
            manifest_not_delivered=data.get("manifest_not_delivered", []),
            names=data.get("names", {}),
            root=root,
        )

    def iter_pages(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """Every page of every good file, as ``(file, page)``."""
        for f in self.files:
            for page in f["pages"]:
                yield f, page

    def page_totals(self) -> dict[str, int]:
        """Pages per kind over all good files, plus ``input`` (all of them) and ``orphan``."""
        totals = {"input": 0, "cover": 0, "separator": 0, "blank": 0, "content": 0, "orphan": 0}
        for _, page in self.iter_pages():
            totals["input"] += 1
            totals[page["kind"]] += 1
            totals["orphan"] += bool(page["orphan"])
        return totals

    def household_pages(self) -> dict[str, int]:
        """Content pages per household: what ends up in each e-file with blanks left out."""
        counts: dict[str, int] = {}
        for _, page in self.iter_pages():
            if page["kind"] == "content" and page["household"]:
                counts[page["household"]] = counts.get(page["household"], 0) + 1
        return counts


@dataclass
class _Spec:
    """One page to render, with its truth."""

    truth: dict[str, Any]
    seed: int
    bilevel: bool
    what: str  # cover | separator | blank | note | content
    args: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Container:
    path: str
    format: str  # pdf | tiff | image-folder | household-pdf
    pages: list[_Spec] = field(default_factory=list)
    household: str | None = None
    volume: int | None = None


def _page_truth(kind: str, **kw: Any) -> dict[str, Any]:
    truth: dict[str, Any] = {
        "index": -1,
        "kind": kind,
        "barcode": None,
        "household": None,
        "volume": None,
        "document": None,
        "doc_type": None,
        "orphan": False,
        "note": None,
    }
    truth.update(kw)
    return truth


class _Planner:
    """Decides, page by page, what the delivery holds, before any pixel is drawn."""

    def __init__(self, rng: random.Random, fmt: str) -> None:
        self.rng = rng
        self.fmt = fmt  # container format: decides grey or bilevel pages

    def bilevel(self) -> bool:
        if self.fmt == "tiff":
            return True
        if self.fmt == "image-folder":
            return False
        return self.rng.random() < 0.4

    def spec(self, truth: dict[str, Any], what: str, **args: Any) -> _Spec:
        bilevel = self.bilevel()
        if what == "blank" and args.get("bleed_through"):
            # Bleed-through only exists on grey scans; thresholding wipes it out.
            bilevel = False
        truth["bilevel"] = bilevel
        return _Spec(
            truth=truth, seed=self.rng.getrandbits(64), bilevel=bilevel, what=what, args=args
        )

    def separator(self, doc_type: str | None, household: str, volume: int) -> _Spec:
        if doc_type is None:
            text, fmt = "PATCHT", self.rng.choice(("Code39", "QR"))
        else:
            text, fmt = f"DOC;{doc_type}", self.rng.choice(("Code128", "QR"))
        truth = _page_truth(
            "separator",
            barcode={"format": fmt, "text": text},
            household=household,
            volume=volume,
            doc_type=doc_type,
        )
        return self.spec(truth, "separator", text=text, symbology=fmt)

    def back_side(self, household: str | None, volume: int | None, orphan: bool = False) -> _Spec:
        bleed = self.fmt != "tiff" and self.rng.random() < 0.4
        truth = _page_truth(
            "blank",
            household=household,
            volume=volume,
            orphan=orphan,
            note="bleed-through" if bleed else None,
        )
        return self.spec(truth, "blank", bleed_through=bleed)

    def document(
        self,
        person: Person,
        household: str,
        volume: int | None,
        number: int | None,
        doc_type: str | None,
        *,
        orphan: bool = False,
        duplex: float = 0.4,
    ) -> list[_Spec]:
        kind = self.rng.choice(_KINDS_OF_TYPE[doc_type or self.rng.choice(DOC_TYPES)])
        total = self.rng.randint(1, _MAX_PAGES_OF_KIND[kind])
        out = []
        for page_no in range(1, total + 1):
            truth = _page_truth(
                "content",
                household=None if orphan else household,
                volume=volume,
                document=number,
                doc_type=doc_type,
                orphan=orphan,
            )
            out.append(
                self.spec(
                    truth,
                    "content",
                    kind=kind,
                    person=person,
                    household=household,
                    page_no=page_no,
                    page_total=total,
                )
            )
            if self.rng.random() < duplex:
                out.append(self.back_side(None if orphan else household, volume, orphan))
        return out

    def section(
        self, household: str, volume: int, person: Person, *, double_separator: bool
    ) -> list[_Spec]:
        """A cover sheet and the documents behind it (cover barcode is filled in later)."""
        cover = self.spec(_page_truth("cover", household=household, volume=volume), "cover")
        pages = [cover]
        n_docs = self.rng.randint(2, 4)
        double_at = self.rng.randint(1, n_docs - 1) if double_separator else -1
        for number in range(n_docs):
            doc_type: str | None = None
            if number == 0:
                if self.rng.random() < 0.4:
                    doc_type = self.rng.choice(DOC_TYPES)
                    pages.append(self.separator(doc_type, household, volume))
            else:
                if number == double_at:
                    # A sheet put in twice: the second separator opens no empty document.
                    pages.append(self.separator(None, household, volume))
                doc_type = None if self.rng.random() < 0.4 else self.rng.choice(DOC_TYPES)
                pages.append(self.separator(doc_type, household, volume))
            pages.extend(self.document(person, household, volume, number, doc_type))
        return pages


def _render(spec: _Spec, dpi: int, site: str) -> Image.Image:
    rng = random.Random(spec.seed)
    a = spec.args
    if spec.what == "cover":
        return render_cover_sheet(
            a["household"],
            site=site,
            volume=a["volume"],
            declared_pages=a["declared_pages"],
            symbology=a["symbology"],
            structured=a["structured"],
            dpi=dpi,
            rng=rng,
            bilevel=spec.bilevel,
        )
    if spec.what == "separator":
        return render_separator(
            a["text"], symbology=a["symbology"], dpi=dpi, rng=rng, bilevel=spec.bilevel
        )
    if spec.what == "blank":
        return render_blank_page(
            rng, dpi=dpi, bleed_through=a["bleed_through"], bilevel=spec.bilevel
        )
    if spec.what == "note":
        return render_handwritten_note_page(rng, dpi=dpi, bilevel=spec.bilevel)
    return render_content_page(
        rng,
        a["kind"],
        dpi=dpi,
        person=a["person"],
        household=a["household"],
        site=site,
        page_no=a["page_no"],
        page_total=a["page_total"],
        bilevel=spec.bilevel,
    )


def _encode_for_pdf(img: Image.Image, dpi: int) -> bytes:
    # Both encodings are lossless and img2pdf embeds them as they are (CCITT G4 / Flate),
    # so what a test renders back from the PDF is exactly what was generated.
    buf = io.BytesIO()
    if img.mode == "1":
        img.save(buf, "TIFF", compression="group4", dpi=(dpi, dpi))
    else:
        img.save(buf, "PNG", dpi=(dpi, dpi), compress_level=6)
    return buf.getvalue()


def _write_container(c: _Container, delivery: Path, dpi: int, site: str) -> None:
    target = delivery / c.path
    target.parent.mkdir(parents=True, exist_ok=True)
    if c.format in ("pdf", "household-pdf"):
        blobs = [_encode_for_pdf(_render(s, dpi, site), dpi) for s in c.pages]
        # img2pdf's own writer: the pikepdf engine stamps a time-based /ID into the trailer
        # (img2pdf compares pikepdf versions as strings and so never asks for a fixed one).
        # The page size comes from the exact dpi, not from PNG's pHYs (pixels per metre, which
        # rounds 300 dpi to 299.9994 and makes a reader rasterise 2481 pixels instead of 2480).
        target.write_bytes(
            img2pdf.convert(
                blobs,
                nodate=True,
                engine=img2pdf.Engine.internal,
                layout_fun=img2pdf.get_fixed_dpi_layout_fun((dpi, dpi)),
            )
        )
    elif c.format == "tiff":
        frames = [_render(s, dpi, site) for s in c.pages]
        frames[0].save(
            target,
            "TIFF",
            save_all=True,
            append_images=frames[1:],
            compression="group4",
            dpi=(dpi, dpi),
        )
    else:
        target.mkdir(parents=True, exist_ok=True)
        for spec in c.pages:
            img = _render(spec, dpi, site)
            name = spec.truth.pop("_file")
            if name.endswith(".jpg"):
                img.save(target / name, "JPEG", quality=90, dpi=(dpi, dpi))
            else:
                img.save(target / name, "PNG", dpi=(dpi, dpi))


def generate_delivery(
    out_dir: Path,
    *,
    site: str = "borken",
    agency_code: str = "95401",
    households: int = 6,
    seed: int = 1,
    dpi: int = 300,
    missing: int = 1,
    orphan_pages: int = 1,
    bad_file: bool = True,
    with_manifest: bool = True,
) -> GeneratedDelivery:
    """Write a synthetic scan delivery, its expected list and its truth into ``out_dir``.

    ``households`` is the length of the expected list; ``missing`` of them are not
    delivered at all. With 5 or more, one household is delivered that the list does not
    expect. With 4 or more, the delivery holds every kind of input (PDF batches, a G4 TIFF
    batch, a folder of single images, a household-named PDF) and one household is spread
    over two batches (volumes 1 and 2). Writes ``out_dir/delivery/``,
    ``out_dir/expected_<site>.csv`` and ``out_dir/truth.json``.
    """
    if households < 1:
        raise ValueError("households must be at least 1")
    if not 0 <= missing < households:
        raise ValueError("missing must be at least 0 and less than households")
    if not (len(agency_code) == 5 and agency_code.isascii() and agency_code.isdigit()):
        raise ValueError("agency_code must be five digits")
    if orphan_pages < 0:
        raise ValueError("orphan_pages must not be negative")
    out_dir = Path(out_dir)
    delivery = out_dir / "delivery"
    if delivery.exists() and any(delivery.iterdir()):
        # Never mix a new delivery into an old one (and never delete anything to make room).
        raise FileExistsError(f"{delivery} exists and is not empty")
    rng = random.Random(seed)
    full = households >= 4

    # Households: numbers, who is expected, who is missing, who comes unannounced.
    n_unexpected = 1 if households >= 5 else 0
    numbers = [
        f"{agency_code}BG{n:07d}"
        for n in rng.sample(range(100, 100_000), households + n_unexpected)
    ]
    expected = sorted(numbers[:households])
    unexpected = sorted(numbers[households:])
    missing_hh = sorted(rng.sample(expected, missing))
    people = {h: random_person(rng, site) for h in numbers}
    delivered_expected = [h for h in numbers[:households] if h not in missing_hh]
    delivered = delivered_expected + unexpected
    volumes: dict[str, list[int]] = {h: [] for h in numbers}

    containers: list[_Container] = []
    household_file: _Container | None = None
    spread = delivered[0]
    in_batches = list(delivered)
    if full and len(delivered_expected) >= 3:
        hh = delivered_expected[-1]
        in_batches.remove(hh)
        name = f"{hh}.pdf" if rng.random() < 0.5 else f"{hh}_1.pdf"
        household_file = _Container(name, "household-pdf", household=hh, volume=1)
    sections: list[tuple[str, int]] = [(h, 1) for h in in_batches]
    if full:
        sections.insert(1, (spread, 2))
    kinds = ["pdf"] * max(1, math.ceil(len(sections) / 3))
    if full:
        kinds = ["pdf", "pdf", "image-folder", "tiff"] + ["pdf"] * max(
            0, math.ceil(len(sections) / 3) - 4
        )
        # Every batch needs a cover sheet: with few households, some get further volumes.
        k = 0
        while len(sections) < len(kinds):
            h = in_batches[k % len(in_batches)]
            sections.append((h, max(v for hh, v in sections if hh == h) + 1))
            k += 1
    if household_file is None and full:
        # Too few households for one of its own: the spread household's next volume.
        vol = max(v for h, v in sections if h == spread) + 1
        household_file = _Container(
            f"{spread}_{vol}.pdf", "household-pdf", household=spread, volume=vol
        )

    for i, kind in enumerate(kinds, start=1):
        if kind == "image-folder":
            path = f"box02/batch_{i:03d}"
        elif kind == "tiff":
            path = f"box01/batch_{i:03d}.tif"
        else:
            path = f"box01/batch_{i:03d}.pdf" if i <= 4 else f"box03/batch_{i:03d}.pdf"
        containers.append(_Container(path, kind))

    # Sections to batches: the spread household's volume 2 in another batch than volume 1,
    # then every batch gets at least one section, the rest at random.
    assignment: list[int] = []
    for j, _ in enumerate(sections):
        if j == 0:
            assignment.append(0)
        elif full and j == 1:
            assignment.append(rng.randrange(1, len(containers)))
        else:
            empty = [b for b in range(len(containers)) if b not in assignment]
            assignment.append(empty[0] if empty else rng.randrange(len(containers)))
    double_sep_section = rng.randrange(len(sections))

    orphan_batch = rng.randrange(len(containers))
    for b, c in enumerate(containers):
        planner = _Planner(rng, c.format)
        if b == orphan_batch:
            for _ in range(orphan_pages):
                stray = f"{agency_code}BG{rng.randrange(100_000, 10_000_000):07d}"
                c.pages.extend(
                    planner.document(
                        random_person(rng, site), stray, None, None, None, orphan=True, duplex=0.0
                    )[:1]
                )
        for j, (h, vol) in enumerate(sections):
            if assignment[j] == b:
                c.pages.extend(
                    planner.section(h, vol, people[h], double_separator=j == double_sep_section)
                )
                volumes[h].append(vol)
    if household_file is not None:
        planner = _Planner(rng, "household-pdf")
        hh, vol = household_file.household, household_file.volume
        assert hh is not None and vol is not None
        for _ in range(rng.randint(2, 3)):
            household_file.pages.extend(planner.document(people[hh], hh, vol, 0, None))
        containers.append(household_file)
        volumes[hh].append(vol)

    _special_back_sides(rng, containers)
    _number_pages(containers)
    _assign_cover_codes(rng, containers, site, dpi)

    # Write everything.
    delivery.mkdir(parents=True, exist_ok=True)
    for c in containers:
        _write_container(c, delivery, dpi, site)
    files: list[dict[str, Any]] = []
    for c in containers:
        entry: dict[str, Any] = {
            "path": c.path,
            "format": c.format,
            "bad_reason": None,
            "household": c.household,
            "volume": c.volume,
            "pages": [s.truth for s in c.pages],
        }
        if c.format == "image-folder":
            entry["images"] = sorted(p.name for p in (delivery / c.path).iterdir())
        files.append(entry)
    if bad_file:
        files.append(_write_bad_file(rng, delivery, containers))
    files.sort(key=lambda f: f["path"])

    manifest_path: Path | None = None
    not_delivered: list[str] = []
    if with_manifest:
        not_delivered = ["box03/batch_404.pdf"] if full else []
        manifest_path = _write_manifest(delivery, files, not_delivered)

    csv_path = out_dir / f"expected_{site}.csv"
    _write_expected(rng, csv_path, expected, people, volumes, german=seed % 2 == 1)

    result = GeneratedDelivery(
        site=site,
        seed=seed,
        delivery_dir=delivery,
        expected_csv=csv_path,
        expected_households=expected,
        delivered_households=sorted(delivered),
        missing_households=missing_hh,
        unexpected_households=unexpected,
        files=files,
        agency_code=agency_code,
        dpi=dpi,
        manifest=manifest_path,
        manifest_not_delivered=not_delivered,
        names={h: people[h].list_name for h in expected},
        root=out_dir,
    )
    (out_dir / "truth.json").write_text(
        json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return result


def _special_back_sides(rng: random.Random, containers: list[_Container]) -> None:
    """Make sure the delivery has the back sides worth testing.

    At least one plain blank, one with bleed-through, and one with a single handwritten
    line (which is content: a note on a back side must never be thrown away).
    """
    candidates = [
        (c, i)
        for c in containers
        if c.format != "household-pdf"
        for i, s in enumerate(c.pages)
        if s.truth["kind"] == "content" and not s.truth["orphan"]
    ]
    backs = [
        (c, i)
        for c in containers
        for i, s in enumerate(c.pages)
        if s.truth["kind"] == "blank" and not s.truth["orphan"]
    ]
    while len(backs) < 3 and candidates:
        c, i = candidates.pop(rng.randrange(len(candidates)))
        if i + 1 < len(c.pages) and c.pages[i + 1].truth["kind"] == "blank":
            continue
        front = c.pages[i].truth
        planner = _Planner(rng, c.format)
        c.pages.insert(i + 1, planner.back_side(front["household"], front["volume"]))
        backs = [
            (cc, j)
            for cc in containers
            for j, s in enumerate(cc.pages)
            if s.truth["kind"] == "blank" and not s.truth["orphan"]
        ]
        candidates = [(cc, j + (1 if cc is c and j > i else 0)) for cc, j in candidates]
    if not backs:
        return
    c, i = backs[rng.randrange(len(backs))]
    front = c.pages[i - 1].truth
    note = c.pages[i]
    note.what, note.args = "note", {}
    note.truth.update(
        kind="content", note="handwritten", document=front["document"], doc_type=front["doc_type"]
    )
    rest = [(cc, j) for cc, j in backs if (cc, j) != (c, i)]
    if rest and not any(cc.pages[j].truth["note"] == "bleed-through" for cc, j in rest):
        grey = [(cc, j) for cc, j in rest if cc.format != "tiff"]
        if grey:
            cc, j = grey[rng.randrange(len(grey))]
            spec = cc.pages[j]
            spec.args["bleed_through"] = True
            spec.bilevel = False
            spec.truth.update(note="bleed-through", bilevel=False)
    if (
        rest
        and all(cc.pages[j].truth["note"] == "bleed-through" for cc, j in rest)
        and len(rest) > 1
    ):
        cc, j = rest[0]
        cc.pages[j].args["bleed_through"] = False
        cc.pages[j].truth["note"] = None


def _number_pages(containers: list[_Container]) -> None:
    for c in containers:
        for i, spec in enumerate(c.pages):
            spec.truth["index"] = i
            if c.format == "image-folder":
                ext = "jpg" if (spec.seed >> 7) % 10 < 3 else "png"
                spec.truth["_file"] = f"{i + 1:04d}.{ext}"


def _assign_cover_codes(
    rng: random.Random, containers: list[_Container], site: str, dpi: int
) -> None:
    """Symbology and text of every cover sheet; all four symbologies occur when there are
    four covers, and structured covers declare their page count, except one that says 0."""
    covers: list[tuple[_Container, int]] = [
        (c, i) for c in containers for i, s in enumerate(c.pages) if s.what == "cover"
    ]
    formats = list(SYMBOLOGIES)
    rng.shuffle(formats)
    while len(formats) < len(covers):
        formats.append(rng.choice(SYMBOLOGIES))
    structured = [f != "Code39" and rng.random() < 0.8 for f in formats]
    uncounted = -1
    indices = [k for k, s in enumerate(structured[: len(covers)]) if s]
    if len(indices) >= 2:
        uncounted = rng.choice(indices)
    for k, (c, i) in enumerate(covers):
        following = 0
        for s in c.pages[i + 1 :]:
            if s.what == "cover":
                break
            following += 1
        spec = c.pages[i]
        declared = following if structured[k] and k != uncounted else 0
        text = cover_text(
            spec.truth["household"],
            site=site,
            volume=spec.truth["volume"],
            declared_pages=declared,
            structured=structured[k],
        )
        if (
            formats[k] == "Code128"
            and _module_px_1d(barcode_modules(text, "Code128").shape[1], dpi) is None
        ):
            # A long site key makes the structured text too wide for a 1-D code on A4.
            formats[k] = "QR"
        spec.truth["barcode"] = {"format": formats[k], "text": text}
        spec.args = {
            "household": spec.truth["household"],
            "volume": spec.truth["volume"],
            "declared_pages": declared,
            "symbology": formats[k],
            "structured": structured[k],
        }


def _write_bad_file(
    rng: random.Random, delivery: Path, containers: list[_Container]
) -> dict[str, Any]:
    path = "box01/batch_099.pdf"
    target = delivery / path
    target.parent.mkdir(parents=True, exist_ok=True)
    pdfs = [c for c in containers if c.format == "pdf"]
    if pdfs and rng.random() < 0.5:
        # A transfer that broke off: the start of a real batch, without its end (no xref,
        # no trailer, most page objects missing).
        data = (delivery / pdfs[0].path).read_bytes()
        cut = max(200, len(data) // rng.randint(5, 9))
        target.write_bytes(data[:cut])
        reason = f"truncated PDF: {cut} of {len(data)} bytes, no trailer"
    else:
        nprng = np.random.default_rng(rng.getrandbits(64))
        target.write_bytes(
            nprng.integers(0, 256, rng.randint(20_000, 60_000), dtype=np.uint8).tobytes()
        )
        reason = "random bytes, not a PDF"
    return {
        "path": path,
        "format": "bad",
        "bad_reason": reason,
        "household": None,
        "volume": None,
        "pages": [],
    }


def _write_manifest(delivery: Path, files: list[dict[str, Any]], not_delivered: list[str]) -> Path:
    rows: list[tuple[str, str, str]] = []
    for f in files:
        if f["format"] == "image-folder":
            for name in f["images"]:
                rel = f"{f['path']}/{name}"
                rows.append((rel, sha256_file(delivery / rel), "1"))
        else:
            pages = "" if f["format"] == "bad" else str(len(f["pages"]))
            rows.append((f["path"], sha256_file(delivery / f["path"]), pages))
    for rel in not_delivered:
        rows.append((rel, hashlib.sha256(rel.encode()).hexdigest(), "12"))
    rows.sort()
    target = delivery / "manifest.csv"
    with open(target, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        writer.writerow(["file", "sha256", "pages"])
        writer.writerows(rows)
    return target


def _write_expected(
    rng: random.Random,
    path: Path,
    expected: list[str],
    people: dict[str, Person],
    volumes: dict[str, list[int]],
    *,
    german: bool,
) -> None:
    """The Soll-Liste as Excel writes it: UTF-8 with BOM, ``;``, CRLF."""
    header = (
        ["BG-Nummer", "Name", "Status", "Bände"]
        if german
        else ["household", "name", "status", "volumes"]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        writer.writerow(header)
        for h in expected:
            vols = max(volumes[h], default=0) or rng.randint(1, 2)
            writer.writerow([h, people[h].list_name, "aktiv", vols])

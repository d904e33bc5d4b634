"""Worn cover and separator sheets: what the scanning service's sheets look like by the time
they pass the scanner, as test material for the barcode reader.

esak prints cover sheets and separator sheets clean, but separator sheets are used again and
again, copied from a master when they run out, and cover sheets are printed on whatever
printer the site has: pale toner, streaks, copies of copies, a receipt stamp in the
margin, a fold, a sheet that came back by fax. A missed cover sheet sends a household's pages
into the previous household's file, a missed separator merges two documents; so every sheet
here must still be read, at 300 and at 200 dpi, turned any of four ways.

Every kind in :data:`KINDS` takes a clean sheet (``render_cover_sheet`` or
``render_separator`` with ``scanner_noise=False``: a print) and returns its scan. One wear
a sheet, each mild enough that a person still sees an intact code: bars 55 or more grey
levels below their paper (the palest, in a drum streak, about 185 on 240), paper 228-248
(down to about 165 at the dark side of uneven light), sensor noise of sigma 3-4, at most
three copy generations, skew only on folded sheets (up to 2.5 degrees). Beyond that line,
:data:`UNREADABLE` holds sheets whose code is destroyed (a stamp over its middle, the code
torn off): on those the reader must not invent a code, and the cover's printed title is
what tells ingest that a sheet was there (a Klärfall).

esak's second reading of a page (``esak.migrate.barcodes.read_again``) was built against
these sheets, so they are not held out from it: hard cases made elsewhere are (README,
"Round eight"). The module asks the drawing code where a code lies, never the reader.
"""

from __future__ import annotations

import io
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from esak.synthetic.documents import (
    COVER_CODE_TOP_MM,
    SEPARATOR_BAR_MM,
    SEPARATOR_CODE_TOP_MM,
    render_cover_sheet,
    render_separator,
)
from esak.synthetic.drawing import barcode_box, load_font

Box = tuple[int, int, int, int]
Worn = Callable[[Image.Image, random.Random, int, Box], Image.Image]


def _array(img: Image.Image) -> np.ndarray:
    return np.asarray(img, dtype=np.float32)


def _image(a: np.ndarray) -> Image.Image:
    a = a + 0.5
    np.clip(a, 0, 255, out=a)
    return Image.fromarray(a.astype(np.uint8), "L")


def _coverage(img: Image.Image) -> np.ndarray:
    """How much of the light each pixel of a clean print takes (0 paper, 1 full toner)."""
    return (255.0 - _array(img)) / 255.0


def _print(cov: np.ndarray, paper: float, ink: float) -> np.ndarray:
    return paper - cov * (paper - ink)


def _noise(a: np.ndarray, rng: random.Random, sigma: float) -> np.ndarray:
    nprng = np.random.default_rng(rng.getrandbits(32))
    noise = nprng.standard_normal(a.shape, dtype=np.float32)
    noise *= sigma
    noise += a
    return noise


def _blur(img: Image.Image, dpi: int, mm: float) -> Image.Image:
    return img.filter(ImageFilter.GaussianBlur(mm * dpi / 25.4))


def _gradient(shape: tuple[int, int], rng: random.Random, depth: float) -> np.ndarray:
    """Uneven light across the page: 1 on one side, ``1 - depth`` on the other."""
    h, w = shape
    angle = rng.uniform(0, 2 * math.pi)
    x = (np.arange(w, dtype=np.float32) / w - 0.5) * math.cos(angle)
    y = (np.arange(h, dtype=np.float32) / h - 0.5) * math.sin(angle)
    t = y[:, None] + x[None, :]
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    return 1.0 - depth * t


def pale_toner(img: Image.Image, rng: random.Random, dpi: int, box: Box) -> Image.Image:
    """A printer low on toner: bars at grey 125-165 on white paper, a little blur."""
    a = _print(_coverage(img), rng.uniform(232, 248), rng.uniform(125, 165))
    return _image(_noise(_array(_blur(_image(a), dpi, 0.08)), rng, 3))


def uneven_light(img: Image.Image, rng: random.Random, dpi: int, box: Box) -> Image.Image:
    """A pale print under a lid left open: the light falls off 20-30 % across the page."""
    a = _print(_coverage(img), rng.uniform(235, 248), rng.uniform(105, 140))
    a = a * _gradient(a.shape, rng, rng.uniform(0.20, 0.30))
    return _image(_noise(a, rng, 3))


def streaks(img: Image.Image, rng: random.Random, dpi: int, box: Box) -> Image.Image:
    """A worn drum: pale bands 2-8 mm wide along the feed, where the toner takes half."""
    cov = _coverage(img)
    profile = np.ones(cov.shape[1], dtype=np.float32)
    for _ in range(rng.randint(3, 6)):
        width = int(rng.uniform(2, 8) * dpi / 25.4)
        x = rng.randrange(0, cov.shape[1] - width)
        profile[x : x + width] = np.minimum(profile[x : x + width], rng.uniform(0.45, 0.65))
    a = _print(cov * profile[None, :], rng.uniform(232, 246), rng.uniform(70, 110))
    return _image(_noise(a, rng, 3))


def photocopy(img: Image.Image, rng: random.Random, dpi: int, box: Box) -> Image.Image:
    """A copy of a copy (2-3 generations): each spreads the toner, greys the paper a little,
    adds toner dust, and the last one has the copier lid's dark band along one edge."""
    nprng = np.random.default_rng(rng.getrandbits(32))
    cur = img
    for _ in range(rng.randint(2, 3)):
        cov = _coverage(_blur(cur, dpi, 0.07))
        # A copier's contrast: mid greys pushed towards toner or paper.
        cov = np.clip((cov - 0.15) * 1.4, 0, 1)
        a = _print(cov, rng.uniform(228, 242), rng.uniform(30, 60))
        dust = nprng.random(a.shape) < 0.0006
        a[dust] = rng.uniform(40, 90)
        cur = _image(a)
    a = _array(cur)
    band = int(rng.uniform(3, 8) * dpi / 25.4)
    edge = rng.choice(("top", "bottom", "left", "right"))
    region = {"top": (slice(0, band), slice(None)), "bottom": (slice(-band, None), slice(None)),
              "left": (slice(None), slice(0, band)),
              "right": (slice(None), slice(-band, None))}[edge]  # fmt: skip
    a[region] = np.minimum(a[region], rng.uniform(40, 90))
    return _image(_noise(a, rng, 4))


def faxed(img: Image.Image, rng: random.Random, dpi: int, box: Box) -> Image.Image:
    """Sent by fax (204 x 98 or 204 x 196 lines an inch, black and white), printed and
    scanned again: blocky edges, a toner-grey print of the fax."""
    w, h = img.size
    fine = rng.random() < 0.5
    fw, fh = round(w * 204 / dpi), round(h * (196 if fine else 98) / dpi)
    small = img.resize((fw, fh), Image.Resampling.BOX)
    bw = small.point(lambda v: 0 if v < 140 else 255)
    back = bw.resize((w, h), Image.Resampling.NEAREST)
    a = _print(_coverage(_blur(back, dpi, 0.06)), rng.uniform(232, 246), rng.uniform(40, 80))
    return _image(_noise(a, rng, 3))


def stamped(img: Image.Image, rng: random.Random, dpi: int, box: Box) -> Image.Image:
    """A receipt stamp beside the code, in its margin, and initials by hand below it."""
    a = _print(_coverage(img), rng.uniform(232, 248), rng.uniform(30, 60))
    page = _image(a).convert("L")
    draw = ImageDraw.Draw(page)
    mm = dpi / 25.4
    x0, y0, x1, y1 = box
    # The stamp reaches into the code's quiet zone, up to 1.5 mm (two modules of a 2-D
    # code) from its edge, never onto it: ink over the modules is UNREADABLE's side.
    side = rng.choice(("left", "right"))
    sw, sh = int(48 * mm), int(20 * mm)
    stamp = Image.new("L", (sw, sh), 0)
    sd = ImageDraw.Draw(stamp)
    sd.rectangle((2, 2, sw - 3, sh - 3), outline=255, width=max(2, int(0.6 * mm)))
    date = f"{rng.randint(1, 28):02d}.{rng.randint(1, 12):02d}."
    sd.text(
        (int(4 * mm), int(3 * mm)), "EINGANG", fill=255, font=load_font("sans-bold", int(6 * mm))
    )
    sd.text((int(4 * mm), int(11 * mm)), date, fill=255, font=load_font("sans", int(5 * mm)))
    stamp = stamp.rotate(rng.uniform(-12, 12), expand=True, resample=Image.Resampling.BILINEAR)
    gap = int(rng.uniform(1.5, 3) * mm)
    sx = x0 - stamp.width - gap if side == "left" else x1 + gap
    sy = int((y0 + y1) / 2 - stamp.height / 2 + rng.uniform(-8, 8) * mm)
    if sx < 0 or sx + stamp.width > page.width:
        # No room beside a long 1-D code: the stamp goes above it, over the caption.
        sx = int(rng.uniform(x0, max(x0, x1 - stamp.width)))
        sy = y0 - stamp.height - gap
    grey = Image.new("L", stamp.size, int(rng.uniform(90, 140)))
    page.paste(grey, (sx, sy), stamp.point(lambda v: int(v * 0.85)))
    # Initials in pen below the code.
    px, py = (x0 + x1) / 2 + rng.uniform(-30, 30) * mm, y1 + rng.uniform(4, 9) * mm
    points = [(px + i * 1.5 * mm, py + math.sin(i * 1.3) * 2.5 * mm) for i in range(9)]
    draw.line(points, fill=int(rng.uniform(40, 90)), width=max(2, int(0.4 * mm)))
    return _image(_noise(_array(page), rng, 3))


def folded(img: Image.Image, rng: random.Random, dpi: int, box: Box) -> Image.Image:
    """Folded in three for an envelope and flattened again: two creases across the page, a
    pale print, and the page skewed by up to 2.5 degrees on the glass."""
    a = _print(_coverage(img), rng.uniform(230, 246), rng.uniform(60, 120))
    h = a.shape[0]
    for y in (h // 3, 2 * h // 3):
        y += int(rng.uniform(-6, 6) * dpi / 25.4)
        a[y - 1 : y + 2, :] -= rng.uniform(25, 45)  # the crease's shadow
        a[y + 2 : y + 4, :] += 8  # and its lit side
    page = _image(_noise(a, rng, 3))
    angle = rng.choice((-1, 1)) * rng.uniform(0.8, 2.5)
    return page.rotate(angle, resample=Image.Resampling.BICUBIC, fillcolor=int(a.mean()))


def coarse_jpeg(img: Image.Image, rng: random.Random, dpi: int, box: Box) -> Image.Image:
    """Saved small by the scanning service: JPEG at quality 30-45, of a pale print."""
    a = _print(_coverage(img), rng.uniform(232, 246), rng.uniform(95, 140))
    buf = io.BytesIO()
    _image(_noise(a, rng, 4)).save(buf, "JPEG", quality=rng.randint(30, 45))
    return Image.open(io.BytesIO(buf.getvalue())).convert("L")


def code_box(text: str, symbology: str, dpi: int, separator: bool) -> Box:
    """Where the code of an upright clean sheet lies (pixels: left, top, right, bottom)."""
    if separator:
        return barcode_box(text, symbology, dpi, SEPARATOR_CODE_TOP_MM, height_1d=SEPARATOR_BAR_MM)
    return barcode_box(text, symbology, dpi, COVER_CODE_TOP_MM)


def stamp_over_code(img: Image.Image, rng: random.Random, dpi: int, box: Box) -> Image.Image:
    """A solid stamp pad's worth of ink across the middle of the code."""
    a = _print(_coverage(img), rng.uniform(232, 248), rng.uniform(30, 60))
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    rw, rh = (x1 - x0) // 3, max((y1 - y0) // 2, int(8 * dpi / 25.4))
    a[cy - rh // 2 : cy + rh // 2, cx - rw // 2 : cx + rw // 2] = rng.uniform(40, 70)
    return _image(_noise(a, rng, 3))


def code_torn_off(img: Image.Image, rng: random.Random, dpi: int, box: Box) -> Image.Image:
    """The corner with the code torn away; what is left of it is paper-white backing."""
    a = _print(_coverage(img), rng.uniform(232, 248), rng.uniform(30, 60))
    x0, y0, x1, y1 = box
    cut = x0 + (x1 - x0) * rng.uniform(0.35, 0.65)
    a[y0 - 20 : y1 + 20, : int(cut)] = 250
    return _image(_noise(a, rng, 3))


#: Worn but readable: every code must be read.
KINDS: dict[str, Worn] = {
    "pale-toner": pale_toner,
    "uneven-light": uneven_light,
    "streaks": streaks,
    "photocopy": photocopy,
    "faxed": faxed,
    "stamped": stamped,
    "folded": folded,
    "coarse-jpeg": coarse_jpeg,
}

#: Destroyed codes: nothing may be read that is not the sheet's own code.
UNREADABLE: dict[str, Worn] = {"stamp-over-code": stamp_over_code, "code-torn-off": code_torn_off}

#: (what the sheet is, its code, the symbology): esak's cover sheets in every symbology
#: ``coversheets`` prints, the bare household number older sheets carry, and separators.
SHEETS = (
    ("cover", "ESAK1;borken;95401BG0034391;2;0", "Code128"),
    ("cover", "ESAK1;borken;95401BG0034391;2;0", "QR"),
    ("cover", "ESAK1;borken;95401BG0034391;2;0", "DataMatrix"),
    ("cover", "95401BG0063674", "Code39"),
    ("separator", "PATCHT", "Code39"),
    ("separator", "PATCHT", "QR"),
    ("separator", "DOC;Einkommen", "Code128"),
)

TURNS = (0, 90, 180, 270)


@dataclass(frozen=True)
class WornSheet:
    kind: str  # a key of KINDS or UNREADABLE
    sheet: str  # cover | separator
    text: str  # the code printed on it
    symbology: str
    turn: int  # degrees anticlockwise, as the sheet lay on the glass
    dpi: int
    image: Image.Image

    @property
    def name(self) -> str:
        return f"{self.kind}/{self.sheet}-{self.symbology}/{self.turn}/{self.dpi}dpi"


def clean_sheet(sheet: str, text: str, symbology: str, dpi: int) -> Image.Image:
    """The sheet as printed: straight, white, full toner."""
    if sheet == "cover" and ";" in text:
        _, site, household, volume, pages = text.split(";")
        return render_cover_sheet(household, site=site, volume=int(volume),
                                  declared_pages=int(pages), symbology=symbology, dpi=dpi,
                                  scanner_noise=False)  # fmt: skip
    if sheet == "cover":
        return render_cover_sheet(text, site="borken", structured=False, symbology=symbology,
                                  dpi=dpi, scanner_noise=False)  # fmt: skip
    return render_separator(text, symbology=symbology, dpi=dpi, scanner_noise=False)


def worn_sheets(
    *,
    seed: int = 1,
    dpis: tuple[int, ...] = (300, 200),
    kinds: dict[str, Worn] | None = None,
    sheets: tuple[tuple[str, str, str], ...] = SHEETS,
    turns: tuple[int, ...] = TURNS,
) -> Iterator[WornSheet]:
    """Every sheet worn every way, at each resolution and turn. The same seed gives the
    same sheets."""
    rng = random.Random(seed)
    for dpi in dpis:
        for sheet, text, symbology in sheets:
            clean = clean_sheet(sheet, text, symbology, dpi)
            box = code_box(text, symbology, dpi, sheet == "separator")
            for kind, wear in (kinds or KINDS).items():
                worn = wear(clean, random.Random(rng.getrandbits(32)), dpi, box)
                for turn in turns:
                    image = worn.rotate(turn, expand=True) if turn else worn
                    yield WornSheet(kind, sheet, text, symbology, turn, dpi, image)

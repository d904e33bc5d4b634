"""Whether a page is an empty back side: the one test that may drop a page from an e-file.

A page dropped as blank is gone once the paper is shredded, so the test errs toward content:
a page is blank only when nothing on it, margins included, could be writing. No region of
the page is ignored. Everything that stands out from the paper is a mark, and a mark is
writing unless its shape says it is one of the marks known not to be writing:

- **dust and specks**: small and isolated (a row of small marks is print, not dust);
- **punch holes**: a dark disc 4-9 mm across whose centre is 3-25 mm from an edge; the grey
  rim of a hole that scanned light only where a second hole stands 80 mm (ISO 838) away;
- **scanner and fold shadows**: touching the page edge, and either a solid band along the
  edges whose inner border runs smoothly, or a thin straight line running in from an edge;
- **bleed-through** of the front side: a layer of faint marks spread over most of the page
  whose edges are soft (paper scatters the light that shines through it); faint marks with
  sharp edges (faded print) are writing, and so are a few faint marks in one place;
- **paper texture and fibres**: faint marks shorter than a written stroke.

Ink is measured against the page's own paper: its local level (so vignetting, recycled grey
paper and a gradient across the scan are paper) and its noise (so the contrast a mark needs
is a multiple of the scatter of this paper, not a fixed share of its brightness). A dark page
(all black, a negative print, a microfilm print-out) is content, never blank.

The thresholds were set on the hard back sides of :mod:`esak.synthetic.backsides` (written and
blank, at 200 and 300 dpi, grey JPEG and G4) and checked on the real sample scans; each
comment says what it separates. The verdict names the mark that made a page content, so a
reviewer can find it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from scipy import ndimage

#: Resolution the test works at. At 100 dpi a pixel is 0.25 mm: a 0.2 mm pencil line keeps
#: most of its contrast, paper fibres (0.05 mm) lose most of theirs.
BLANK_DPI = 100.0
#: Side of the squares the paper level is estimated in, and the neighbourhood (in squares)
#: its median is taken over: 2 mm squares, 5 x 5 of them. A 10 mm median ignores a line of
#: writing but follows vignetting and the blotches of recycled paper.
PAPER_CELL_MM = 2.0
PAPER_MEDIAN_CELLS = 5
#: How far the local paper level may fall below the page's paper: shading and vignetting
#: stay within this; a dark area beyond it is something on the paper, not paper.
PAPER_DROP_MAX = 30.0
#: A page whose paper itself is this dark is a dark page (black, a negative, a microfilm
#: print-out): content. Grey recycled paper scans at 190 and lighter.
DARK_PAPER = 110.0
#: A pixel belongs to a mark when it is darker than its local paper by this many times the
#: paper's noise, and by at least MIN_CONTRAST grey levels. 4.5 sigma leaves a few pixels
#: of Gaussian noise on a whole page.
NOISE_SIGMAS = 4.5
MIN_CONTRAST = 10.0
#: A mark this much darker than its paper (and 6 sigma) is ink, whatever its shape and edges
#: (bar the known shapes: holes, shadows, dust). Bleed-through and paper fibres stay below
#: 35 levels at 100 dpi; the faintest pencil we must keep (grey ~165 on paper ~240) is 75.
STRONG_CONTRAST = 40.0
STRONG_SIGMAS = 6.0
#: Smallest mark that is judged on its own: below this (a full stop, a speck of dust) a mark
#: is judged with its neighbours (CLUSTER_MM). Marks under DUST_MM with less than
#: DUST_AREA_MM2 of area are specks; generated and real dust is under 0.8 mm.
MIN_MARK_MM = 1.5
DUST_MM = 1.0
DUST_AREA_MM2 = 0.35
#: Small marks closer than this to each other are one mark (letters of small print, the dots
#: of a thresholded pencil line). Two specks of dust so close are rare, and then kept.
CLUSTER_MM = 2.5
#: One or two dark small marks are writing when they have this much area together (a blot,
#: a heavy dot); a speck of dust, blurred to the working resolution, has up to 1 mm².
LONE_MARK_MM2 = 1.5
#: A faint mark (below STRONG_CONTRAST) is writing when it is at least this long, or has
#: at least this much ink (contrast times area, grey levels x mm²). Paper texture and fibres
#: measured up to 3.3 mm and 38; the shortest written stroke, a 4 mm tick at 25 levels, has
#: about 40.
FAINT_MIN_MM = 3.5
FAINT_MASS = 45.0
#: Small marks within this distance of a recognised hole or shadow are its debris (the
#: ragged rim of a hole, the frayed edge of a shadow).
DEBRIS_MM = 1.5
#: Punch holes (ISO 838: 5.5-6 mm, centre 12 mm from the edge, 80 mm apart): a hole
#: punched off centre or scanned at an angle stays within these.
HOLE_MM = (4.0, 9.0)
HOLE_EDGE_MM = (3.0, 25.0)
HOLE_PITCH_MM = 80.0
HOLE_PITCH_TOLERANCE_MM = 4.0
#: A band along the edges is a shadow if no part of it is further in than this, and its
#: inner border runs smoothly: no more than SHADOW_JAG_COLUMNS columns (0.25 mm each) stray
#: more than SHADOW_JAG_MM from its running median (writing touching a shadow does).
SHADOW_THICK_MM = 25.0
SHADOW_JAG_MM = 1.5
SHADOW_JAG_COLUMNS = 2
#: ... and it runs along the edge for at least this long, and 1.5 times as far as it
#: reaches in (a pen stroke that starts at the edge runs into the page instead).
SHADOW_MIN_ALONG_MM = 3.0
#: A fold or crease running in from an edge: faint (below STRONG_CONTRAST: a dark straight
#: line is kept), at least this long, at most this thick, and straight within FOLD_BEND_MM.
#: A piece of a fold that fades out before reaching the edge must also be soft and run
#: along the page's edges (a ruled pencil line is sharp).
FOLD_MIN_MM = 25.0
FOLD_THICK_MM = 4.0
FOLD_BEND_MM = 2.0
#: More separate marks than this: print or handwriting all over the page.
MANY_MARKS = 5000
#: Where a mark around a hole may lie beyond the hole's radius (see _hole_shape).
HOLE_RIM_MM = 1.0
#: No mark with a pixel this far in from every edge is a hole (its centre at most 25 mm in,
#: every pixel within its radius plus HOLE_RIM_MM: 5.5 mm) or a shadow (at most 25 mm in),
#: with a margin of two pixels: a strong stroke there is writing, and the test can stop at
#: it (see _written_inside). 31 mm, derived so that it follows the holes' and shadows' rules.
INSIDE_MM = max(HOLE_EDGE_MM[1] + HOLE_MM[1] / 2 + HOLE_RIM_MM, SHADOW_THICK_MM) + 0.5
#: Bleed-through is a layer of at least this many faint marks, spread over at least this
#: share of the page's height and width (the front's print area); a pencil note or a faded
#: receipt covers far less.
LAYER_MIN_MARKS = 12
LAYER_SPREAD = 0.5
#: The layer's edges are soft when the median edge steepness (see _edge_steepness) of its
#: largest LAYER_SAMPLE marks is below this, per millimetre. Measured on single marks:
#: bleed-through blurred by 0.3-0.6 mm 1.5-1.8 at 200 and 300 dpi, faded print through a
#: scanner's optics 2.3-2.6.
LAYER_SAMPLE = 40
LAYER_SOFT_PER_MM = 2.0
#: A faint mark outside a layer is still bleed-through when it is barely above the mark
#: threshold (less than this many times it) and softer than any written stroke: the few
#: pieces of a very faint front side that rise above the paper's noise (thresholds as for
#: the layer).
SOFT_FAINT_FACTOR = 2.0
SOFT_PER_MM = 2.0
#: Below this resolution an edge cannot be judged soft or sharp (a pixel is wider than the
#: blur of bleed-through): no faint mark is taken for bleed-through, all stay writing.
#: Measured: read at 100 dpi, a highlighter and pencil on recycled paper passed for a layer.
EDGE_MIN_DPI = 150.0
#: Pixels belong to one mark when they touch, corners included.
_TOUCHING = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class BlankVerdict:
    blank: bool
    #: Share of the page darker than its paper by the mark threshold.
    ink: float
    #: Marks that count as writing (at least 1 when the page is content; the test stops at
    #: the first clear one).
    marks: int
    #: Why the page is content (the mark that counts as writing), or "" when blank.
    reason: str = ""
    #: Marks recognised as not writing, by kind (dust, hole, shadow, bleed, texture).
    ignored: tuple[tuple[str, int], ...] = ()


@dataclass
class _Mark:
    label: int
    sl: tuple[slice, slice]
    area: int
    #: Contrast against the paper: the darkest pixel of a small mark, see _peak for others.
    peak: float = 0.0
    #: Contrast times area, grey levels x mm².
    mass: float = 0.0

    @property
    def extent(self) -> int:
        ys, xs = self.sl
        return max(ys.stop - ys.start, xs.stop - xs.start)


@dataclass
class _Page:
    """The page at the working resolution, and what is known of its paper."""

    image: Image.Image  # as read, full resolution
    factor: int  # full resolution / working resolution
    mm: float  # working pixels per millimetre
    arr: np.ndarray
    depth: np.ndarray  # how much darker than its local paper each pixel is
    labels: np.ndarray
    weak: float
    strong: float
    ignored: dict[str, int] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return self.arr.shape  # type: ignore[return-value]

    def ignore(self, kind: str, n: int = 1) -> None:
        self.ignored[kind] = self.ignored.get(kind, 0) + n

    def verdict(self, ink: float, marks: int, reason: str) -> BlankVerdict:
        return BlankVerdict(
            blank=not reason,
            ink=ink if reason else 0.0,
            marks=marks,
            reason=reason,
            ignored=tuple(sorted(self.ignored.items())),
        )


def blank_verdict(image: Image.Image, dpi: float, *, shortcut: bool = True) -> BlankVerdict:
    """Whether a grey page is an empty back side: nothing on it that could be writing.

    ``image`` is the page as read (mode "L", any resolution); ``dpi`` its resolution.
    ``shortcut=False`` looks at every mark even on a written page (the tests compare the
    two: the verdict is the same, the mark named may differ).
    """
    if image.mode != "L":
        image = image.convert("L")
    factor = max(1, round(dpi / BLANK_DPI))
    small = image.reduce(factor) if factor > 1 else image
    mm = (dpi / factor) / 25.4
    arr = np.asarray(small, dtype=np.float32)
    if min(arr.shape) < 8:
        return BlankVerdict(blank=True, ink=0.0, marks=0)

    paper, local = _paper_level(small, arr, mm)
    if paper < DARK_PAPER:
        return BlankVerdict(False, 1.0, 1, reason=f"dark page (paper level {paper:.0f} of 255)")
    depth = local - arr
    sigma = _noise(depth)
    weak = max(MIN_CONTRAST, NOISE_SIGMAS * sigma)
    strong = max(STRONG_CONTRAST, STRONG_SIGMAS * sigma)
    candidate = depth > weak
    ink = float(np.count_nonzero(candidate)) / arr.size
    speck = max(1, round(2 * DUST_AREA_MM2 * mm * mm))  # a speck and the ring it blurs into
    if shortcut:
        written = _written_inside(depth, strong, mm, speck)
        if written:
            return BlankVerdict(False, ink, 1, reason=written)
    labels, count = ndimage.label(candidate, structure=_TOUCHING)
    if count == 0:
        return BlankVerdict(blank=True, ink=0.0, marks=0)
    if count > MANY_MARKS:
        return BlankVerdict(False, ink, count, reason=f"{count} separate marks all over the page")
    page = _Page(image, factor, mm, arr, depth, labels, weak, strong)

    flat = labels.ravel()
    areas = np.bincount(flat, minlength=count + 1)
    objects = ndimage.find_objects(labels)
    faint: list[_Mark] = []
    small_marks: list[_Mark] = []
    arcs: list[tuple[_Mark, tuple[float, float]]] = []
    holes: list[tuple[float, float]] = []
    known: list[_Mark] = []  # holes and shadows, whose debris is not writing either
    looked_at: list[_Mark] = []
    # Largest first: on a written page the first mark looked at is usually writing.
    for i in np.argsort(-areas[1:], kind="stable") + 1:
        sl = objects[i - 1]
        if sl is None:
            continue
        # Contrast and mass come later (_mark_statistics): a written page usually ends at
        # its first large mark, before they are needed.
        m = _Mark(int(i), sl, int(areas[i]))
        looked_at.append(m)
        if m.extent < MIN_MARK_MM * mm or (
            m.extent < DUST_MM * mm and m.area < DUST_AREA_MM2 * mm * mm
        ):
            small_marks.append(m)
            continue
        mask = labels[sl] == m.label
        m.peak = _peak(depth[sl][mask], speck)
        kind, centre = _known_shape(m, mask, page)
        if kind == "hole":
            page.ignore("hole")
            holes.append(centre)
            known.append(m)
        elif kind == "arc":
            arcs.append((m, centre))
        elif kind == "shadow":
            page.ignore("shadow")
            known.append(m)
        elif m.peak >= strong:
            return page.verdict(ink, 1, _describe(m, mm))
        else:
            faint.append(m)

    _mark_statistics(looked_at, small_marks, labels, depth, count, mm)
    # The rim of a hole that scanned light is a hole where a second hole confirms it.
    for m, centre in arcs:
        if any(_pitched(centre, other, mm) for other in holes + [c for a, c in arcs if a is not m]):
            page.ignore("hole")
            known.append(m)
        elif m.peak >= strong:
            return page.verdict(ink, 1, _describe(m, mm))
        else:
            faint.append(m)

    small_marks = _drop_debris(small_marks, known, page)
    bleed = _bleed_layer(faint + [m for m in small_marks if m.peak < strong], page)
    if bleed:
        page.ignore("bleed", len(bleed))
        faint = [m for m in faint if m.label not in bleed]
        small_marks = [m for m in small_marks if m.label not in bleed]
    for m in faint:
        if m.extent < FAINT_MIN_MM * mm and m.mass < FAINT_MASS:
            small_marks.append(m)  # short and faint: judged with its neighbours
        elif m.peak < SOFT_FAINT_FACTOR * page.weak and _edge_steepness(m, page) < SOFT_PER_MM:
            page.ignore("bleed")  # a stray piece of bleed-through too faint to form a layer
        else:
            return page.verdict(ink, len(faint), _describe(m, mm))
    for cluster in _clusters(small_marks, mm):
        reason = _cluster_is_writing(cluster, page)
        if reason:
            return page.verdict(ink, len(cluster), reason)
    return page.verdict(ink, 0, "")


def _written_inside(depth: np.ndarray, strong: float, mm: float, speck: int) -> str:
    """The mark that makes a page written, found without labelling the page: a straight run
    of strong ink, across or down the page, at least :data:`INSIDE_MM` in from every edge.

    The full test would call the mark around such a run writing: it is at least
    MIN_MARK_MM long, more than a speck of it is strong, and so far in it is no hole,
    shadow, fold (those are faint) or their debris. Labelling every mark of a written page
    and sorting them costs a third of the test; a printed or written page has such a run
    (every generated written page does). "" when there is none: the full test decides."""
    k = math.ceil(INSIDE_MM * mm)
    if min(depth.shape) <= 2 * k:
        return ""
    inside = depth[k:-k, k:-k] >= strong
    run = max(speck, math.ceil(MIN_MARK_MM * mm))
    for turned in (False, True):
        found = _long_run(np.ascontiguousarray(inside.T) if turned else inside, run)
        if found is None:
            continue
        y, x = (found[1], found[0]) if turned else found
        y, x = y + k, x + k
        # Name the stroke the run belongs to: its strong pixels around the run.
        r = math.ceil(20 * mm)
        y0, x0 = max(0, y - r), max(0, x - r)
        window = depth[y0 : y + r + 1, x0 : x + r + 1]
        labels, _ = ndimage.label(window >= strong, structure=_TOUCHING)
        own = labels == labels[y - y0, x - x0]
        ys, xs = np.nonzero(own)
        sl = (slice(y0 + int(ys.min()), y0 + int(ys.max()) + 1),
              slice(x0 + int(xs.min()), x0 + int(xs.max()) + 1))  # fmt: skip
        mark = _Mark(0, sl, int(ys.size), peak=_peak(window[own], speck))
        return _describe(mark, mm)
    return ""


def _long_run(mask: np.ndarray, length: int) -> tuple[int, int] | None:
    """(row, column) where a run of at least ``length`` True pixels along a row starts."""
    h, w = mask.shape
    padded = np.zeros((h, w + 1), dtype=np.int8)  # a False column ends every row's last run
    padded[:, :w] = mask
    step = np.diff(padded.ravel(), prepend=np.int8(0))
    starts, ends = np.flatnonzero(step == 1), np.flatnonzero(step == -1)
    long = np.flatnonzero(ends - starts >= length)
    if long.size == 0:
        return None
    row, col = divmod(int(starts[long[0]]), w + 1)
    return row, col


def _mark_statistics(
    marks: list[_Mark], small: list[_Mark], labels: np.ndarray, depth: np.ndarray, count: int,
    mm: float,
) -> None:
    """Every mark's mass, and a small mark's contrast (its darkest pixel), at once over the
    marks' pixels only: most marks are specks and grain, and looking at each alone would
    cost more than the rest of the test."""
    flat = labels.ravel()
    where = np.flatnonzero(flat)
    inside, values = flat[where], depth.ravel()[where]
    sums = np.bincount(inside, weights=values, minlength=count + 1)
    darkest = np.zeros(count + 1, dtype=np.float32)
    np.maximum.at(darkest, inside, values)
    for m in marks:
        m.mass = float(sums[m.label]) / (mm * mm)
    for m in small:
        m.peak = float(darkest[m.label])


def _paper_level(small: Image.Image, arr: np.ndarray, mm: float) -> tuple[float, np.ndarray]:
    """The page's paper level, and the local paper level at every pixel."""
    cell = max(1, round(PAPER_CELL_MM * mm))
    coarse = np.asarray(small.reduce(cell), dtype=np.float32) if cell > 1 else arr
    coarse = _median_filter(coarse, PAPER_MEDIAN_CELLS)
    paper = float(np.median(coarse))
    coarse = np.clip(coarse, paper - PAPER_DROP_MAX, None)
    # Bilinear up to the working size: the paper level changes smoothly.
    local = Image.fromarray(coarse, "F").resize(
        (arr.shape[1], arr.shape[0]), Image.Resampling.BILINEAR
    )
    return paper, np.asarray(local, dtype=np.float32)


def _median_filter(values: np.ndarray, size: int) -> np.ndarray:
    """``ndimage.median_filter(values, size, mode="nearest")``, the same values for a fifth
    of the time on a page's few thousand cells: one partition over all windows at once."""
    half = size // 2
    padded = np.pad(values, half, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, (size, size))
    windows = windows.reshape(values.shape[0], values.shape[1], size * size)
    return np.partition(windows, size * size // 2, axis=2)[..., size * size // 2]


def _noise(depth: np.ndarray) -> float:
    """The paper's noise: a robust standard deviation of the difference from its level."""
    sample = depth[::3, ::3]
    med = float(np.median(sample))
    return 1.4826 * float(np.median(np.abs(sample - med)))


def _peak(values: np.ndarray, speck: int) -> float:
    """A mark's contrast: the darkest level that more than a speck of it reaches, so that a
    speck of dust on a faint mark does not make the mark dark."""
    k = min(speck, values.size)
    return float(np.partition(values, values.size - k)[values.size - k])


def _known_shape(m: _Mark, mask: np.ndarray, page: _Page) -> tuple[str, tuple[float, float]]:
    """ "hole", "arc" (a hole's rim, if a second hole confirms it), "shadow", or ""."""
    ys, xs = m.sl
    h, w = page.shape
    if ys.start == 0 or xs.start == 0 or ys.stop == h or xs.stop == w:
        if _is_edge_shadow(mask, m.sl, page) or (m.peak < page.strong and _is_fold(mask, page.mm)):
            return "shadow", (0.0, 0.0)
        return "", (0.0, 0.0)
    if (
        m.peak < page.strong
        and max(ys.stop - ys.start, xs.stop - xs.start) >= FOLD_MIN_MM * page.mm
        and _is_fold(mask, page.mm, parallel=True)
        and _edge_steepness(m, page) < SOFT_PER_MM
    ):
        return "shadow", (0.0, 0.0)  # a piece of a fold, faded out before the edge
    return _hole_shape(m, mask, page)


def _hole_shape(m: _Mark, mask: np.ndarray, page: _Page) -> tuple[str, tuple[float, float]]:
    mm = page.mm
    ys, xs = m.sl
    mh, mw = ys.stop - ys.start, xs.stop - xs.start
    if max(mh, mw) > HOLE_MM[1] * mm or max(mh, mw) < 0.6 * HOLE_MM[0] * mm:
        return "", (0.0, 0.0)
    edge = mask & ~ndimage.binary_erosion(mask)
    py, px = np.nonzero(edge)
    if py.size < 8:
        return "", (0.0, 0.0)
    fit = _fit_circle(px.astype(np.float64), py.astype(np.float64))
    if fit is None:
        return "", (0.0, 0.0)
    cx, cy, r, rms = fit
    if not (HOLE_MM[0] / 2 * mm <= r <= HOLE_MM[1] / 2 * mm) or rms > 0.4 * mm:
        return "", (0.0, 0.0)
    centre = (xs.start + cx, ys.start + cy)
    h, w = page.shape
    from_edge = min(centre[0], w - centre[0], centre[1], h - centre[1]) / mm
    if not HOLE_EDGE_MM[0] <= from_edge <= HOLE_EDGE_MM[1]:
        return "", (0.0, 0.0)
    # Every part of the mark lies on or inside the circle (writing beside it would not).
    my, mx = np.nonzero(mask)
    if np.hypot(mx - cx, my - cy).max() > r + HOLE_RIM_MM * mm:
        return "", (0.0, 0.0)
    filled = ndimage.binary_fill_holes(mask)
    disc = float(filled.sum()) / (math.pi * r * r)
    if 0.75 <= mh / mw <= 1.33 and disc >= 0.8:
        return "hole", centre
    return "arc", centre


def _fit_circle(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float] | None:
    """Least-squares circle through points (Kåsa's fit): centre, radius, RMS distance."""
    a = np.column_stack([x, y, np.ones_like(x)])
    b = x * x + y * y
    try:
        sol, *_ = np.linalg.lstsq(a, b, rcond=None)
    except np.linalg.LinAlgError:
        return None
    cx, cy = sol[0] / 2, sol[1] / 2
    r2 = sol[2] + cx * cx + cy * cy
    if r2 <= 0:
        return None
    r = math.sqrt(r2)
    rms = float(np.sqrt(np.mean((np.hypot(x - cx, y - cy) - r) ** 2)))
    return float(cx), float(cy), r, rms


def _pitched(a: tuple[float, float], b: tuple[float, float], mm: float) -> bool:
    """Whether two hole centres stand as punched holes do: along one edge, 80 mm (or twice,
    three times that) apart."""
    dx, dy = abs(a[0] - b[0]) / mm, abs(a[1] - b[1]) / mm
    along, across = max(dx, dy), min(dx, dy)
    if across > 3.0:
        return False
    return any(abs(along - k * HOLE_PITCH_MM) <= HOLE_PITCH_TOLERANCE_MM for k in (1, 2, 3))


def _is_edge_shadow(mask: np.ndarray, sl: tuple[slice, slice], page: _Page) -> bool:
    """A solid band along one or more edges whose inner border runs smoothly: the scanner's
    shadow of the sheet's edge, a dark wedge beside a skewed sheet, a frame around it."""
    mm = page.mm
    h, w = page.shape
    ys, xs = sl
    thick = SHADOW_THICK_MM * mm
    rows = np.arange(ys.start, ys.stop)[:, None]
    cols = np.arange(xs.start, xs.stop)[None, :]
    inward = np.minimum(np.minimum(rows, h - 1 - rows), np.minimum(cols, w - 1 - cols))
    if (mask & (inward > thick)).any():
        return False
    page_mask = np.zeros((h, w), dtype=bool)
    page_mask[sl] = mask
    t = math.ceil(thick)
    # Each edge's band, turned so that row 0 is the edge and columns run along it.
    bands = {
        "top": page_mask[:t],
        "bottom": page_mask[::-1][:t],
        "left": page_mask[:, :t].T,
        "right": page_mask[:, ::-1][:, :t].T,
    }
    ends = {
        "top": ("left", "right"),
        "bottom": ("left", "right"),
        "left": ("top", "bottom"),
        "right": ("top", "bottom"),
    }
    touched = {side for side, band in bands.items() if band[0].any()}

    def core(side: str, corner: dict[str, int]) -> np.ndarray:
        band = bands[side]
        a, b = ends[side]
        lo = corner.get(a, 0) if a in touched else 0
        hi = band.shape[1] - (corner.get(b, 0) if b in touched else 0)
        return band[:, lo:hi]

    # Where two touched edges meet, the corner belongs to both: leave out of each edge's
    # check as much as the other edge's band reaches in.
    first = {side: t for side in bands}
    reach_in = {}
    for side in touched:
        c = core(side, first)
        present = c.any(axis=0)
        reach_in[side] = int((c.shape[0] - np.argmax(c[::-1], axis=0))[present].max(initial=0))
    corner = {side: reach_in.get(side, 0) + int(mm) for side in bands}
    checked = 0
    for side in touched:
        c = core(side, corner)
        present = c.any(axis=0)
        if present.sum() < 2 * mm and len(touched) > 1:
            continue  # the end of a band along the neighbouring edge, reaching round the corner
        checked += 1
        prof = c[:, present]
        reach = prof.shape[0] - np.argmax(prof[::-1], axis=0)
        if present.sum() < max(SHADOW_MIN_ALONG_MM * mm, 1.5 * reach.max()):
            return False  # a shadow runs along the edge; a stroke from the edge runs into it
        if prof[0].mean() < 0.9:
            return False  # most of its columns must start at the edge
        if prof.sum() < 0.9 * reach.sum():
            return False  # not solid from the edge inwards: something written on or beside it
        window = max(3, int(10 * mm) | 1)
        smooth = ndimage.median_filter(reach.astype(np.float32), size=window, mode="nearest")
        if np.count_nonzero(np.abs(reach - smooth) > SHADOW_JAG_MM * mm) > SHADOW_JAG_COLUMNS:
            return False
    return checked > 0


def _is_fold(mask: np.ndarray, mm: float, *, parallel: bool = False) -> bool:
    """A thin straight line running in from an edge: a fold or crease, a tear's shadow.

    With ``parallel``, the line must also run within 3 degrees of the page's edges, as a
    sheet folded for an envelope is folded."""
    for line in (mask, mask.T):  # along axis 1: across the page, then down it
        cols = line.any(axis=0)
        if cols.sum() < FOLD_MIN_MM * mm or cols.mean() < 0.95:
            continue
        thickness = line.sum(axis=0)[cols]
        if np.percentile(thickness, 95) > FOLD_THICK_MM * mm:
            continue
        rows = np.arange(line.shape[0], dtype=np.float32)[:, None]
        centre = (line * rows).sum(axis=0)[cols] / thickness
        pos = np.nonzero(cols)[0].astype(np.float32)
        coeffs = np.polyfit(pos, centre, 1)
        if parallel and abs(coeffs[0]) > math.tan(math.radians(3)):
            continue
        if np.abs(centre - np.polyval(coeffs, pos)).max() <= FOLD_BEND_MM * mm:
            return True
    return False


def _drop_debris(small: list[_Mark], known: list[_Mark], page: _Page) -> list[_Mark]:
    """Small marks that are part of a hole or shadow (its ragged rim) or touch the page edge
    (the frayed end of a shadow) are not writing."""
    h, w = page.shape
    gap = DEBRIS_MM * page.mm
    keep = []
    for m in small:
        ys, xs = m.sl
        at_edge = ys.start <= gap or xs.start <= gap or ys.stop >= h - gap or xs.stop >= w - gap
        near = at_edge or any(
            ys.start <= k.sl[0].stop + gap
            and k.sl[0].start - gap <= ys.stop
            and xs.start <= k.sl[1].stop + gap
            and k.sl[1].start - gap <= xs.stop
            for k in known
        )
        if near:
            page.ignore("debris")
        else:
            keep.append(m)
    return keep


def _bleed_layer(faint: list[_Mark], page: _Page) -> set[int]:
    """The labels of faint marks that are bleed-through, or an empty set.

    Bleed-through is a layer: many faint marks spread over most of the page (the front's
    print), all with soft edges. A few faint marks in one place (a pencil note, a faded
    receipt) are not a layer, whatever their edges; a layer with sharp edges is faded print.
    A mark on top of a layer that is darker than bleed-through ever is (STRONG_CONTRAST) has
    already been judged writing.
    """
    if len(faint) < LAYER_MIN_MARKS:
        return set()
    h, w = page.shape
    top = min(m.sl[0].start for m in faint)
    bottom = max(m.sl[0].stop for m in faint)
    left = min(m.sl[1].start for m in faint)
    right = max(m.sl[1].stop for m in faint)
    if (bottom - top) < LAYER_SPREAD * h or (right - left) < LAYER_SPREAD * w:
        return set()
    sized = [m for m in faint if m.extent >= MIN_MARK_MM * page.mm]
    sized = sorted(sized, key=lambda m: -m.area)[:LAYER_SAMPLE]
    if len(sized) < LAYER_MIN_MARKS // 2:
        return set()
    steep = float(np.median([_edge_steepness(m, page) for m in sized]))
    if steep >= LAYER_SOFT_PER_MM:
        return set()
    return {m.label for m in faint}


def _edge_steepness(m: _Mark, page: _Page) -> float:
    """How steep a faint mark's edges are, at the scan's own resolution: the steepest slope
    at its edge divided by its contrast, per millimetre.

    Written and printed strokes step from paper to ink within a tenth of a millimetre;
    bleed-through, blurred by the paper it shone through, over half a millimetre or more.
    The page is smoothed over 0.15 mm first, so that the grain of the paper does not count
    as an edge: a sharp edge then measures about 2.7, one blurred by 0.35 mm about 1.
    """
    if page.mm * page.factor < EDGE_MIN_DPI / 25.4:
        return math.inf  # too coarse to tell a soft edge from a sharp one: never bleed
    ys, xs = m.sl
    f, pad = page.factor, 2
    image = page.image
    box = (
        max(0, (xs.start - pad) * f),
        max(0, (ys.start - pad) * f),
        min(image.width, (xs.stop + pad) * f),
        min(image.height, (ys.stop + pad) * f),
    )
    patch = np.asarray(image.crop(box), dtype=np.float32)
    full_mm = page.mm * f
    patch = ndimage.gaussian_filter(patch, 0.15 * full_mm)
    gy = ndimage.sobel(patch, axis=0)
    gx = ndimage.sobel(patch, axis=1)
    slope = float(np.sqrt(gx * gx + gy * gy).max()) / 8.0
    return slope / max(1.0, m.peak) * full_mm


def _clusters(marks: list[_Mark], mm: float) -> list[list[_Mark]]:
    """Small marks grouped by nearness (bounding boxes closer than CLUSTER_MM)."""
    if not marks:
        return []
    gap = CLUSTER_MM * mm
    box = np.array([[m.sl[0].start, m.sl[0].stop, m.sl[1].start, m.sl[1].stop] for m in marks])
    parent = list(range(len(marks)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(marks)):
        dy = np.maximum(0, np.maximum(box[i, 0] - box[:, 1], box[:, 0] - box[i, 1]))
        dx = np.maximum(0, np.maximum(box[i, 2] - box[:, 3], box[:, 2] - box[i, 3]))
        for j in np.nonzero((dy <= gap) & (dx <= gap))[0]:
            a, b = find(i), find(int(j))
            if a != b:
                parent[b] = a
    groups: dict[int, list[_Mark]] = {}
    for i, m in enumerate(marks):
        groups.setdefault(find(i), []).append(m)
    return list(groups.values())


def _cluster_is_writing(cluster: list[_Mark], page: _Page) -> str:
    """Why a group of small marks is writing ("" when it is dust or texture).

    Dark small marks together are print or a thresholded pen line: three make writing, and
    so do one or two that are larger than any speck. Faint ones must add up to a stroke.
    """
    mm = page.mm
    where = _where(cluster[0], mm)
    dark = [m for m in cluster if m.peak >= page.strong]
    if len(dark) >= 3 or sum(m.area for m in dark) >= LONE_MARK_MM2 * mm * mm:
        return f"{len(cluster)} small marks together {where}"
    top = min(m.sl[0].start for m in cluster)
    bottom = max(m.sl[0].stop for m in cluster)
    left = min(m.sl[1].start for m in cluster)
    right = max(m.sl[1].stop for m in cluster)
    extent = max(bottom - top, right - left)
    mass = sum(m.mass for m in cluster)
    if len(cluster) >= 3 and extent >= FAINT_MIN_MM * mm and mass >= FAINT_MASS:
        largest = sorted(cluster, key=lambda m: -m.area)[:5]
        if not (
            max(m.peak for m in cluster) < SOFT_FAINT_FACTOR * page.weak
            and np.median([_edge_steepness(m, page) for m in largest]) < SOFT_PER_MM
        ):
            return f"{len(cluster)} faint marks together {where}"
        page.ignore("bleed", len(cluster))
        return ""
    page.ignore("dust" if dark else "texture", len(cluster))
    return ""


def _where(m: _Mark, mm: float) -> str:
    return f"{m.sl[1].start / mm:.0f} mm from the left, {m.sl[0].start / mm:.0f} mm from the top"


def _describe(m: _Mark, mm: float) -> str:
    ys, xs = m.sl
    return (
        f"a mark {(xs.stop - xs.start) / mm:.0f} x {(ys.stop - ys.start) / mm:.0f} mm "
        f"{_where(m, mm)}, {m.peak:.0f} grey levels darker than the paper"
    )

"""``esak blanks``: the pages ingest left out as blank, listed and laid out on review sheets.

TR-RESISCAN wants automatic blank-page removal checked by a person. The review sheet shows
every dropped page small (20 to an A4 sheet), rendered again from the delivery as it was
ingested, each tile labelled with its file and page, so that a reviewer sees a stamp or a
pencil note on a thousand pages in a few minutes. A page that does hold something is turned
back into content by ``esak blanks keep`` (:mod:`esak.migrate.keep`).

The sheet is built with pikepdf: each tile one grey JPEG image XObject, labels in the
standard Helvetica (not embedded), as the cover sheets are. Drawing whole sheets with Pillow
would make one large image per sheet and its text unsearchable.

Delivery files are untrusted: pages are read in a child process under the address-space
limit of ingest's workers (inspect's :class:`~esak.migrate.inspect.LimitedReader`), and a
file that is gone or no longer the one ingested gets a placeholder tile, never a failure of
the whole sheet.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pikepdf

from esak.atomic import write_atomic
from esak.errors import ExitCode, InputError
from esak.i18n import N_, _, local_time
from esak.index.db import Index
from esak.migrate.coversheets import standard_fonts, text_width, wrap_text
from esak.migrate.delivery import find_item
from esak.migrate.pages import PageSource, open_pages
from esak.profiles import Profile
from esak.sandbox import LimitedReader, ReaderDied

__all__ = ["TILES_PER_SHEET", "BlankReview", "DroppedPage", "dropped_pages", "review_blanks"]

COLUMNS, ROWS = 4, 5
TILES_PER_SHEET = COLUMNS * ROWS
#: Pages are rendered at this resolution: enough for a stamp or a pencil line to show.
RENDER_DPI = 100.0
#: Tile images are stored at this resolution on the sheet (zooming in on screen helps).
TILE_DPI = 200.0
JPEG_QUALITY = 70

MM = 72 / 25.4
PAGE_W, PAGE_H = 210 * MM, 297 * MM
MARGIN = 10 * MM
HEADER = 24 * MM
FOOTER = 12 * MM
CELL_W = (PAGE_W - 2 * MARGIN) / COLUMNS
CELL_H = (PAGE_H - HEADER - FOOTER) / ROWS
GAP = 2 * MM
LABEL_H = 7 * MM
IMAGE_W = CELL_W - 2 * GAP
IMAGE_H = CELL_H - GAP - LABEL_H

#: Tile texts for the reasons a page cannot be shown.
_PLACEHOLDER = {
    "missing": N_("file no longer in the delivery"),
    "changed": N_("file changed since it was ingested (SHA-256 differs)"),
    "unreadable": N_("page cannot be read"),
}
_UNSHOWABLE = N_("page cannot be shown")


@dataclass
class DroppedPage:
    """One page whose outcome is 'blank', and why it cannot be shown, if it cannot."""

    file: str
    delivery: int
    delivery_path: str
    file_id: int
    format: str
    sha256: str | None
    index: int
    household: str | None
    volume: int | None
    #: "missing", "changed" or "unreadable"; None when the page can be shown
    problem: str | None = None
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "delivery": self.delivery,
            "index": self.index,
            "page": self.index + 1,
            "household": self.household,
            "volume": self.volume,
            "problem": self.problem,
            "detail": self.detail,
        }


@dataclass
class BlankReview:
    site: str
    site_name: str
    delivery: int | None
    pages: list[DroppedPage]
    checked_at: datetime
    output: Path | None = None
    sheets: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[DroppedPage]:
        return [p for p in self.pages if p.problem]

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.PROBLEMS if self.problems else ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "delivery": self.delivery,
            "count": len(self.pages),
            "problems": len(self.problems),
            "tiles_per_sheet": TILES_PER_SHEET,
            "sheets": self.sheets,
            "sheet": str(self.output) if self.output else None,
            "pages": [p.to_dict() for p in self.pages],
        }


def dropped_pages(index: Index, site: str, delivery: int | None = None) -> list[DroppedPage]:
    """Every page of the site (or of one delivery) that ingest recorded as blank, in order."""
    sql = (
        "SELECT f.relpath, f.delivery_id, d.path, f.id, f.format, f.sha256, p.page_index, "
        "p.household, p.volume FROM pages p JOIN input_files f ON f.id = p.file_id "
        "JOIN deliveries d ON d.id = f.delivery_id "
        "WHERE f.site = ? AND f.outcome = 'ingested' AND p.outcome = 'blank'"
    )
    params: list[Any] = [site]
    if delivery is not None:
        known = index.db.execute(
            "SELECT 1 FROM deliveries WHERE id = ? AND site = ?", [delivery, site]
        ).fetchone()
        if known is None:
            ids = [r[0] for r in index.db.execute(
                "SELECT id FROM deliveries WHERE site = ? ORDER BY id", [site]
            )]  # fmt: skip
            raise InputError(
                f"site {site} has no delivery {delivery}",
                f"deliveries of {site}: {', '.join(map(str, ids))}"
                if ids
                else f"nothing has been ingested for {site} yet",
            )
        sql += " AND f.delivery_id = ?"
        params.append(delivery)
    sql += " ORDER BY f.delivery_id, f.relpath, f.id, p.page_index"
    return [DroppedPage(*row) for row in index.db.execute(sql, params)]


def review_blanks(
    index: Index,
    profile: Profile,
    *,
    delivery: int | None = None,
    output: Path | None = None,
    at: datetime | None = None,
) -> BlankReview:
    """List the site's dropped blank pages; with ``output``, write the review sheet there.

    Every page is checked against its delivery file (present, same sha256 as ingested); a
    page that cannot be shown is marked and gets a placeholder tile.
    """
    pages = dropped_pages(index, profile.key, delivery)
    review = BlankReview(
        profile.key, profile.name, delivery, pages, at or datetime.now().astimezone()
    )
    sources = _check_sources(pages, profile)
    if output is not None:
        output = Path(output).absolute()
        tiles = _render_tiles(pages, sources)
        pdf = _sheet_pdf(review, tiles)
        write_atomic(output, lambda fh: pdf.save(fh, deterministic_id=True))
        review.output = output
        review.sheets = len(pdf.pages)
    return review


# --- reading the delivery ---------------------------------------------------------------


def _check_sources(
    pages: list[DroppedPage], profile: Profile
) -> dict[int, tuple[str, tuple[str, ...] | None]]:
    """file id -> (path, image files) of each input that is still as ingested; marks the rest."""
    sources: dict[int, tuple[str, tuple[str, ...] | None]] = {}
    verdict: dict[int, tuple[str, str] | None] = {}
    for page in pages:
        if page.file_id not in verdict:
            item = find_item(Path(page.delivery_path), page.file, profile.is_household)
            if item is None:
                verdict[page.file_id] = (
                    "missing",
                    f"{page.file} is no longer in the delivery {page.delivery_path}",
                )
            elif item.sha256 != page.sha256:
                verdict[page.file_id] = (
                    "changed",
                    f"{page.file} has changed since it was ingested (sha256 differs)",
                )
            else:
                verdict[page.file_id] = None
                sources[page.file_id] = (str(item.path), item.files or None)
        found = verdict[page.file_id]
        if found:
            page.problem, page.detail = found
    return sources


#: The input being read, in the reading process (see esak.migrate.inspect).
_source: PageSource | None = None


def _open_input(path: str, files: tuple[str, ...] | None) -> int:
    global _source
    if _source is not None:
        _source.close()
    _source = None
    _source = open_pages(Path(path), files)
    return _source.page_count


def _tile(index: int, dpi: float, box: tuple[int, int]) -> tuple[bytes, int, int]:
    """One page as a grey JPEG fitting ``box`` pixels; only these few KB leave the child."""
    assert _source is not None, "_open_input runs first"
    page = _source.page(index, dpi)
    try:
        image = page.image
        # Images come at their own resolution whatever dpi asks: thumbnail fits them all.
        image.thumbnail(box)
        buf = io.BytesIO()
        image.save(buf, format="JPEG", quality=JPEG_QUALITY)
        return buf.getvalue(), image.width, image.height
    finally:
        page.image.close()


def _render_tiles(
    pages: list[DroppedPage], sources: dict[int, tuple[str, tuple[str, ...] | None]]
) -> list[tuple[bytes, int, int] | None]:
    box = (round(IMAGE_W / 72 * TILE_DPI), round(IMAGE_H / 72 * TILE_DPI))
    reader = LimitedReader()
    tiles: list[tuple[bytes, int, int] | None] = []
    opened: int | None = None
    try:
        for page in pages:
            if page.problem:
                tiles.append(None)
                continue
            try:
                if opened != page.file_id:
                    opened = None
                    reader.run(_open_input, *sources[page.file_id])
                    opened = page.file_id
                tiles.append(reader.run(_tile, page.index, RENDER_DPI, box))
            except (InputError, ReaderDied) as exc:
                # A new reading process has no file open.
                opened = None if isinstance(exc, ReaderDied) else opened
                page.problem = "unreadable"
                page.detail = (
                    exc.message if isinstance(exc, InputError)
                    else f"{page.file}, page {page.index + 1}: reading it took more memory "
                    "than a page may use"
                )  # fmt: skip
                tiles.append(None)
    finally:
        reader.close()
    return tiles


# --- the sheet ----------------------------------------------------------------------------

Ops = list[tuple[list[Any], pikepdf.Operator]]


def _sheet_pdf(review: BlankReview, tiles: list[tuple[bytes, int, int] | None]) -> pikepdf.Pdf:
    pdf = pikepdf.new()
    fonts = standard_fonts(pdf)
    count = len(review.pages)
    sheets = max(1, math.ceil(count / TILES_PER_SHEET))
    where = (
        _("delivery {delivery}").format(delivery=review.delivery)
        if review.delivery is not None
        else review.site_name
    )
    title = _("Blank pages to review — {where} — {n} page(s) — as of {at}").format(
        where=where, n=count, at=local_time(review.checked_at)
    )
    hint = _(
        "Each tile is a page that was recognised as blank and not taken into the e-file. If a "
        "page does show something (a stamp, a note, text): "
        "esak blanks keep --site {site} --file FILE --page PAGE"
    ).format(site=review.site)
    for sheet in range(sheets):
        ops: Ops = [([0], pikepdf.Operator("g")), ([0], pikepdf.Operator("G"))]
        _text(ops, title, "F2", 10, MARGIN, PAGE_H - MARGIN - 4 * MM)
        for i, line in enumerate(wrap_text(hint, "F1", 7.5, PAGE_W - 2 * MARGIN)):
            _text(ops, line, "F1", 7.5, MARGIN, PAGE_H - MARGIN - (9 + 3.5 * i) * MM)
        images = pikepdf.Dictionary()
        first = sheet * TILES_PER_SHEET
        for slot, page in enumerate(review.pages[first : first + TILES_PER_SHEET]):
            name = f"/Im{slot}"
            tile = tiles[first + slot] if tiles else None
            if tile is not None:
                data, w, h = tile
                images[name] = pdf.make_stream(
                    data,
                    Type=pikepdf.Name.XObject,
                    Subtype=pikepdf.Name.Image,
                    Width=w,
                    Height=h,
                    ColorSpace=pikepdf.Name.DeviceGray,
                    BitsPerComponent=8,
                    Filter=pikepdf.Name.DCTDecode,
                )
            _cell(ops, slot, page, name if tile is not None else None, tile)
        footer = _("sheet {n}/{of}").format(n=sheet + 1, of=sheets)
        _text(ops, footer, "F1", 8, (PAGE_W - text_width(footer, "F1", 8)) / 2, FOOTER / 2)
        _text(ops, f"esak blanks — {review.site}", "F1", 7, MARGIN, FOOTER / 2)
        page_obj = pdf.add_blank_page(page_size=(PAGE_W, PAGE_H))
        page_obj.obj.Resources = pikepdf.Dictionary(Font=fonts, XObject=images)
        page_obj.obj.Contents = pdf.make_stream(pikepdf.unparse_content_stream(ops))
    pdf.docinfo["/Title"] = _("Blank pages to review {site}").format(site=review.site_name)
    pdf.docinfo["/Creator"] = "esak blanks"
    return pdf


def _cell(
    ops: Ops,
    slot: int,
    page: DroppedPage,
    image: str | None,
    tile: tuple[bytes, int, int] | None,
) -> None:
    col, row = slot % COLUMNS, slot // COLUMNS
    left = MARGIN + col * CELL_W + GAP
    top = PAGE_H - HEADER - row * CELL_H
    box_bottom = top - IMAGE_H
    if image is not None and tile is not None:
        _data, w, h = tile
        scale = min(IMAGE_W / w, IMAGE_H / h)
        dw, dh = w * scale, h * scale
        x, y = left + (IMAGE_W - dw) / 2, box_bottom + (IMAGE_H - dh) / 2
        ops += [
            ([], pikepdf.Operator("q")),
            ([round(dw, 3), 0, 0, round(dh, 3), round(x, 3), round(y, 3)], pikepdf.Operator("cm")),
            ([pikepdf.Name(image)], pikepdf.Operator("Do")),
            ([], pikepdf.Operator("Q")),
        ]
        frame = (x, y, dw, dh)
    else:
        # A placeholder: light grey, with the reason where the page would be.
        frame = (left, box_bottom, IMAGE_W, IMAGE_H)
        ops += [
            ([0.9], pikepdf.Operator("g")),
            ([round(v, 3) for v in frame], pikepdf.Operator("re")),
            ([], pikepdf.Operator("f")),
            ([0], pikepdf.Operator("g")),
        ]
        reason = _(_PLACEHOLDER.get(page.problem or "", _UNSHOWABLE))
        shown = _("Not shown: {reason}").format(reason=reason)
        lines = wrap_text(shown, "F2", 7, IMAGE_W - 4 * MM)
        for i, line in enumerate(lines):
            _text(ops, line, "F2", 7, left + 2 * MM, top - (10 + 3.2 * i) * MM)
    ops += [
        ([0.5], pikepdf.Operator("w")),
        ([round(v, 3) for v in frame], pikepdf.Operator("re")),
        ([], pikepdf.Operator("S")),
    ]
    where = (
        _("household {household} vol. {volume}").format(
            household=page.household, volume=page.volume
        )
        if page.household
        else _("no household (no cover sheet)")
    )
    _text(ops, _fit(page.file, "F2", 6.5, IMAGE_W), "F2", 6.5, left, box_bottom - 3 * MM)
    _text(
        ops,
        _fit(
            _("p. {page} · deliv. {delivery} · {where}").format(
                page=page.index + 1, delivery=page.delivery, where=where
            ),
            "F1",
            6,
            IMAGE_W,
        ),
        "F1",
        6,
        left,
        box_bottom - 5.8 * MM,
    )


def _fit(s: str, font: str, pt: float, width: float) -> str:
    """``s`` shortened from the left (a path's end says most) to fit ``width`` points."""
    if text_width(s, font, pt) <= width:
        return s
    while s and text_width("…" + s, font, pt) > width:
        s = s[1:]
    return "…" + s


def _text(ops: Ops, s: str, font: str, pt: float, x: float, y: float) -> None:
    # Characters WinAnsi lacks print as '?' rather than as something else.
    data = s.encode("cp1252", errors="replace")
    ops += [
        ([], pikepdf.Operator("BT")),
        ([pikepdf.Name(f"/{font}"), pt], pikepdf.Operator("Tf")),
        ([round(x, 2), round(y, 2)], pikepdf.Operator("Td")),
        ([pikepdf.String(data)], pikepdf.Operator("Tj")),
        ([], pikepdf.Operator("ET")),
    ]

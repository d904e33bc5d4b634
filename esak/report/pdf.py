"""A document to send: a title, a few lines about it, and a table, as a plain A4 PDF.

For the lists esak hands to people outside it (the Freigabeliste and Sperrliste for the
scanning provider): base-14 fonts, landscape A4, cells wrapped at spaces (or cut where a path
has none), the table head repeated on every page, "page n of m" at the foot. Written with
pikepdf (no other PDF library needed), deterministic: the same rows give the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pikepdf

from esak import __version__
from esak.atomic import write_atomic
from esak.i18n import _
from esak.migrate.coversheets import MM, standard_fonts, text_width, wrap_text

PAGE_W, PAGE_H = 297 * MM, 210 * MM  # landscape
_MARGIN = 12 * MM
_PT = 8.0
_LEAD = _PT * 1.3

Ops = list[tuple[list, pikepdf.Operator]]


def _text(ops: Ops, s: str, font: str, pt: float, x: float, top: float) -> None:
    data = s.encode("cp1252", errors="replace")  # what WinAnsi lacks prints as '?'
    ops += [
        ([], pikepdf.Operator("BT")),
        ([pikepdf.Name(f"/{font}"), pt], pikepdf.Operator("Tf")),
        ([round(x, 2), round(PAGE_H - top, 2)], pikepdf.Operator("Td")),
        ([pikepdf.String(data)], pikepdf.Operator("Tj")),
        ([], pikepdf.Operator("ET")),
    ]


def _cell_lines(s: str, font: str, width: float) -> list[str]:
    lines: list[str] = []
    for line in wrap_text(s, font, _PT, width) or [""]:
        while text_width(line, font, _PT) > width and len(line) > 1:
            cut = len(line) - 1
            while cut > 1 and text_width(line[:cut], font, _PT) > width:
                cut -= 1
            lines.append(line[:cut])
            line = line[cut:]
        lines.append(line)
    return lines


def table_pdf(
    title: str,
    about: Sequence[str],
    columns: Sequence[tuple[str, float]],
    rows: Sequence[Sequence[str]],
) -> pikepdf.Pdf:
    """``columns``: (heading, width as a share of the line); ``rows``: the cells as text."""
    pdf = pikepdf.new()
    fonts = standard_fonts(pdf)
    usable = PAGE_W - 2 * _MARGIN
    widths = [usable * share / sum(s for _h, s in columns) for _h, share in columns]
    xs = [_MARGIN + sum(widths[:i]) for i in range(len(widths))]
    pages: list[Ops] = []

    def new_page(first: bool) -> tuple[Ops, float]:
        ops: Ops = [([0], pikepdf.Operator("g")), ([0.4], pikepdf.Operator("w"))]
        top = _MARGIN + 4 * MM
        if first:
            _text(ops, title, "F2", 14, _MARGIN, top)
            top += 7 * MM
            for line in about:
                _text(ops, line, "F1", 9, _MARGIN, top)
                top += 4.5 * MM
            top += 2 * MM
        heads = [_cell_lines(h, "F2", w - 4) for (h, _s), w in zip(columns, widths, strict=True)]
        for x, lines in zip(xs, heads, strict=True):
            for n, line in enumerate(lines):
                _text(ops, line, "F2", _PT, x + 2, top + n * _LEAD)
        top += max(len(h) for h in heads) * _LEAD
        _rule(ops, top - _LEAD + 3)
        pages.append(ops)
        return ops, top + 2

    ops, top = new_page(True)
    for row in rows:
        cells = [_cell_lines(str(v), "F1", w - 4) for v, w in zip(row, widths, strict=True)]
        height = max(len(c) for c in cells) * _LEAD + 2
        if top + height > PAGE_H - _MARGIN - 8 * MM:
            ops, top = new_page(False)
        for x, lines in zip(xs, cells, strict=True):
            for n, line in enumerate(lines):
                _text(ops, line, "F1", _PT, x + 2, top + n * _LEAD)
        top += height
        _rule(ops, top - _LEAD + 1, grey=True)
    for number, ops in enumerate(pages, 1):
        foot = _("page {n} of {total}").format(n=number, total=len(pages))
        _text(ops, f"{foot} · esak {__version__}", "F1", 7, _MARGIN, PAGE_H - _MARGIN / 2)
        page = pdf.add_blank_page(page_size=(PAGE_W, PAGE_H))
        page.obj.Resources = pikepdf.Dictionary(Font=fonts)
        page.obj.Contents = pdf.make_stream(pikepdf.unparse_content_stream(ops))
    pdf.docinfo["/Title"] = title
    pdf.docinfo["/Creator"] = "esak"
    return pdf


def _rule(ops: Ops, top: float, grey: bool = False) -> None:
    y = round(PAGE_H - top, 2)
    ops += [
        ([0.75 if grey else 0], pikepdf.Operator("G")),
        ([round(_MARGIN, 2), y], pikepdf.Operator("m")),
        ([round(PAGE_W - _MARGIN, 2), y], pikepdf.Operator("l")),
        ([], pikepdf.Operator("S")),
    ]


def write_pdf(path: Path, pdf: pikepdf.Pdf) -> Path:
    """Owner-only, whole or not at all; the same content gives the same bytes."""
    write_atomic(path, lambda fh: pdf.save(fh, deterministic_id=True))
    pdf.close()
    return path

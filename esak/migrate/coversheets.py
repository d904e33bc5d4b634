"""Printable cover sheets (Aktendeckblätter) for the scanning service: ``esak coversheets``.

One A4 page per expected household and volume, as a vector PDF: bars and text stay sharp on
any printer, and the file embeds no font or image. The barcode holds the structured form
``ESAK1;<site>;<household>;<volume>;0`` (CONTRACT §4; 0 because nobody counts the pages in
advance). The household number is also printed large, so that ingest's OCR fallback
(:func:`esak.migrate.codes.find_text_covers`) can read a sheet whose code is damaged.
No person's name is ever printed: cover sheets lie about in stacks at the scanning service.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pikepdf

from esak.atomic import write_atomic
from esak.errors import InputError
from esak.index.db import Index
from esak.index.facts import expected_volumes
from esak.migrate.barcodes import barcode_modules
from esak.migrate.codes import COVER_TITLE, cover_code, household_label
from esak.profiles import Profile

__all__ = ["SYMBOLOGIES", "CoversheetResult", "write_coversheets"]

#: What a cover sheet can carry. Code 39 cannot: it has no ';' for the structured form.
SYMBOLOGIES = ("Code128", "QR", "DataMatrix")

MM = 72 / 25.4
PAGE_W, PAGE_H = 210 * MM, 297 * MM
BARCODE_TOP_MM = 72.0
_INCH = 72.0
# Module widths to try, widest first: whole pixels at 200, 300 and 600 dpi where possible.
# 0.013 in (0.33 mm) is the least that an office printer and a 200-dpi scan reliably keep.
_MODULES_1D = (0.02 * _INCH, 0.015 * _INCH, 0.013 * _INCH)
_MODULES_2D = (0.04 * _INCH, 0.03 * _INCH, 0.02 * _INCH)
_QUIET = {1: 10, 2: 4}  # modules of white either side, by dimensions of the code
_BAR_HEIGHT_1D = 18 * MM

# Advance widths (1/1000 em) of Helvetica and Helvetica-Bold for ASCII 32-126, from Adobe's
# core font metrics; accented letters are as wide as their base letter.
# fmt: off
_WIDTHS = {
    "F1": (278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
           *[556] * 10, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611,
           778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667,
           944, 667, 667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278,
           556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500,
           722, 500, 500, 500, 334, 260, 334, 584),
    "F2": (278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278, 278,
           *[556] * 10, 333, 333, 584, 584, 584, 611, 975, 722, 722, 722, 722, 667, 611,
           778, 722, 278, 556, 722, 611, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667,
           944, 667, 667, 611, 333, 278, 333, 584, 556, 333, 556, 611, 556, 611, 556, 333,
           611, 611, 278, 278, 556, 278, 889, 611, 611, 611, 611, 389, 556, 333, 611, 556,
           778, 556, 556, 500, 389, 280, 389, 584),
}
# fmt: on
_WIDE = {"ß": 611, "·": 278, "–": 556, "€": 556}


@dataclass(frozen=True)
class CoversheetResult:
    site: str
    output: Path
    sheets: int
    households: int
    symbology: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "output": str(self.output)}


def write_coversheets(
    index: Index,
    profile: Profile,
    output: Path,
    *,
    households: list[str] | None = None,
    symbology: str = "Code128",
) -> CoversheetResult:
    """Write one cover sheet per household and volume of the site's expected list to ``output``.

    ``households`` picks some of the expected households (default: all, by number).
    """
    if symbology not in SYMBOLOGIES:
        raise InputError(
            f"cover sheets cannot use {symbology}: "
            + ("Code 39 cannot hold ';' of the ESAK1 form" if symbology == "Code39" else "unknown"),
            f"use one of {', '.join(SYMBOLOGIES)}",
        )
    output = Path(output).absolute()
    if not output.parent.is_dir():
        raise InputError(
            f"cannot write {output}: the folder {output.parent} does not exist",
            "create the folder first, or name a file in an existing folder",
        )
    sheets = _sheets(index, profile, households)
    pdf = pikepdf.new()
    fonts = standard_fonts(pdf)
    for household, volume, of in sheets:
        text = cover_code(profile.key, household, volume)
        ops = _page(profile, household, volume, of, text, symbology)
        page = pdf.add_blank_page(page_size=(PAGE_W, PAGE_H))
        page.obj.Resources = pikepdf.Dictionary(Font=fonts)
        page.obj.Contents = pdf.make_stream(pikepdf.unparse_content_stream(ops))
    pdf.docinfo["/Title"] = f"Aktendeckblätter {profile.name}"
    pdf.docinfo["/Creator"] = "esak coversheets"
    _save(pdf, output)
    return CoversheetResult(
        profile.key, output, len(sheets), len({s[0] for s in sheets}), symbology
    )


def _sheets(
    index: Index, profile: Profile, households: list[str] | None
) -> list[tuple[str, int, int]]:
    """(household, volume, volumes) of every sheet, in print order."""
    volumes = expected_volumes(index, profile.key)
    remedy = f"import it with `esak expected import --site {profile.key} FILE.csv`"
    if not volumes:
        # InputError, not ConfigError: the profile is fine, the command's input is missing.
        raise InputError(f"no expected list has been imported for site {profile.key}", remedy)
    chosen = list(volumes) if households is None else list(dict.fromkeys(households))
    if not chosen:
        raise InputError("no households given", "name at least one, or leave them out for all")
    bad = [h for h in chosen if not profile.is_household(h)]
    if bad:
        raise InputError(
            f"{len(bad)} value(s) are not household numbers of site {profile.key}: {_show(bad)}",
            f"household numbers must match {profile.household_pattern}"
            + ("" if households else f"; the pattern has changed since the import: {remedy}"),
        )
    unknown = [h for h in chosen if h not in volumes]
    if unknown:
        raise InputError(
            f"not on the expected list of site {profile.key}: {_show(unknown)}",
            f"check the numbers; if the list is out of date, {remedy}",
        )
    return [(h, v, volumes[h]) for h in chosen for v in range(1, volumes[h] + 1)]


def _show(values: list[str]) -> str:
    # A value without a digit may be a person's name typed in the wrong place: never echo it.
    shown = [repr(v[:40]) if any(c.isdigit() for c in v) else "(text, not shown)" for v in values]
    return ", ".join(shown[:5]) + (f" and {len(shown) - 5} more" if len(shown) > 5 else "")


def _save(pdf: pikepdf.Pdf, output: Path) -> None:
    # Temp file beside the target, then rename: a printer never sees half a file.
    write_atomic(output, lambda fh: pdf.save(fh, deterministic_id=True))


Ops = list[tuple[list[Any], pikepdf.Operator]]


def _page(profile: Profile, household: str, volume: int, of: int, text: str, symbology: str) -> Ops:
    ops: Ops = [([0], pikepdf.Operator("g")), ([0], pikepdf.Operator("G"))]
    name = profile.name
    _text(ops, "Jobcenter im Kreis Borken", "F2", 12, 18, x_mm=20)
    _text(ops, f"Standort {name} · E-Sozialakte · Digitalisierung", "F1", 9, 24, x_mm=20)
    _rect(ops, 20 * MM, 28 * MM, 170 * MM, 0.5 * MM)
    _text(ops, COVER_TITLE, "F2", 34, 50)
    _text(ops, "Bitte vor die erste Seite des Bandes legen", "F1", 11, 60)
    y = _barcode(ops, text, symbology) / MM
    # Shrunk only for numbers far longer than the default layout, which would not fit at 28 pt.
    label = household_label(household)
    _text(ops, label, "F2", min(28.0, 170 * MM / text_width(label, "F2", 1)), y + 16)
    _text(ops, f"Band {volume} von {of}" if of > 1 else f"Band {volume}", "F2", 22, y + 30)
    _text(ops, f"Standort: {name}", "F1", 16, y + 42)
    note = (
        f"Hinweis für den Scandienst: Dieses Blatt vor die erste Seite von Band {volume} "
        "der Akte legen und mit einscannen. Es ordnet die folgenden Seiten der "
        "Bedarfsgemeinschaft zu und ist nicht Bestandteil der E-Akte. Code und Nummer bitte "
        "nicht beschriften, knicken oder überkleben."
    )
    lines = wrap_text(note, "F1", 10, 150 * MM)
    for i, line in enumerate(lines):
        _text(ops, line, "F1", 10, 233 + i * 5, x_mm=30)
    ops.append(([round(0.4 * MM, 3)], pikepdf.Operator("w")))
    _rect(ops, 25 * MM, 225 * MM, 160 * MM, (len(lines) * 5 + 7) * MM, fill=False)
    ops.append(([], pikepdf.Operator("S")))
    _text(ops, f"{symbology}: {text}", "F1", 8, 282, x_mm=20)
    return ops


def standard_fonts(pdf: pikepdf.Pdf) -> pikepdf.Object:
    """The font resources "F1" (Helvetica) and "F2" (Helvetica-Bold) of ``pdf``: base-14
    fonts, not embedded; WinAnsi holds the umlauts of Schöppingen and Südlohn."""
    font = dict(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1, Encoding=pikepdf.Name.WinAnsiEncoding
    )
    return pdf.make_indirect(
        pikepdf.Dictionary(
            F1=pikepdf.Dictionary(BaseFont=pikepdf.Name.Helvetica, **font),
            F2=pikepdf.Dictionary(BaseFont=pikepdf.Name("/Helvetica-Bold"), **font),
        )
    )


def text_width(s: str, font: str, pt: float) -> float:
    """Width in points of ``s`` set in a standard font ("F1" Helvetica, "F2" bold)."""
    table = _WIDTHS[font]
    total = 0
    for ch in s:
        base = unicodedata.normalize("NFD", ch)[0]
        code = ord(base) - 32
        total += table[code] if 0 <= code < len(table) else _WIDE.get(ch, 556)
    return total * pt / 1000


def wrap_text(s: str, font: str, pt: float, width: float) -> list[str]:
    """``s`` broken into lines no wider than ``width`` points, at spaces."""
    lines: list[str] = []
    for word in s.split():
        if lines and text_width(f"{lines[-1]} {word}", font, pt) <= width:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines


def _text(
    ops: Ops, s: str, font: str, pt: float, baseline_mm: float, x_mm: float | None = None
) -> None:
    """One line; centred on the page unless ``x_mm`` is given."""
    x = (PAGE_W - text_width(s, font, pt)) / 2 if x_mm is None else x_mm * MM
    # Characters WinAnsi lacks print as '?' rather than as something else.
    data = s.encode("cp1252", errors="replace")
    ops += [
        ([], pikepdf.Operator("BT")),
        ([pikepdf.Name(f"/{font}"), pt], pikepdf.Operator("Tf")),
        ([round(x, 2), round(PAGE_H - baseline_mm * MM, 2)], pikepdf.Operator("Td")),
        ([pikepdf.String(data)], pikepdf.Operator("Tj")),
        ([], pikepdf.Operator("ET")),
    ]


def _rect(ops: Ops, x: float, top: float, w: float, h: float, fill: bool = True) -> None:
    """A rectangle given from the page's top edge, in points; filled unless ``fill`` is off."""
    box = [round(float(v), 3) for v in (x, PAGE_H - top - h, w, h)]
    ops.append((box, pikepdf.Operator("re")))
    if fill:
        ops.append(([], pikepdf.Operator("f")))


def _barcode(ops: Ops, text: str, symbology: str) -> float:
    """Draw the code centred below the title; returns its bottom edge (points from the top)."""
    modules = barcode_modules(text, symbology)
    dims = 1 if modules.shape[0] == 1 else 2
    rows, cols = modules.shape
    # The code and its quiet zones stay 5 mm inside the page, clear of a skewed scan's edge;
    # a 2-D code needs no more than 6 cm.
    room = 200 * MM if dims == 1 else 60 * MM
    sizes = _MODULES_1D if dims == 1 else _MODULES_2D
    m = next((m for m in sizes if (cols + 2 * _QUIET[dims]) * m <= room), None)
    if m is None:
        raise InputError(
            f"{text!r} is too long for a {symbology} code on A4", "choose QR or DataMatrix"
        )
    grid = 0.01 * _INCH  # placed on a 1/100-inch grid, so modules fall on whole scan pixels
    left = round((PAGE_W - cols * m) / 2 / grid) * grid
    top = round(BARCODE_TOP_MM * MM / grid) * grid
    height = _BAR_HEIGHT_1D if dims == 1 else m
    padded = np.zeros((rows, cols + 2), dtype=np.int8)
    padded[:, 1:-1] = modules
    for r in range(rows):
        edges = np.flatnonzero(np.diff(padded[r]))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            _rect(ops, left + start * m, top + r * height, (stop - start) * m, height, fill=False)
    # One fill for all bars: abutting rectangles filled apart can leave hairline seams.
    ops.append(([], pikepdf.Operator("f")))
    return top + rows * height

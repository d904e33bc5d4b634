"""``esak qa sheet``: the worksheet of a QA sample, for the reviewer who works through it.

Each item shows the archived page itself beside what it should be — household, document, page
in the document (from 1), input file and page, why it is in the sample — and the checks to
tick (complete, legible, in the right document and household, upright) with room for a note.
Two forms of the same content:

- PDF (``-o FILE.pdf``): one A4 page per item, the archived page placed on it as it is (a form
  XObject: the scan's own pixels, not a rendering), to print or to annotate;
- HTML (``-o FILE.html``): one self-contained page (no scripts, no network), the pages as
  small PNG renderings.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import pikepdf

from esak.atomic import write_atomic
from esak.i18n import N_, _, language, use_profile_language
from esak.migrate.coversheets import MM, PAGE_H, PAGE_W, standard_fonts, text_width, wrap_text
from esak.profiles import load_profile
from esak.verify.qa import Sample, _load, _reading
from esak.workspace import Workspace

#: The checks of each page on the worksheet.
CHECKS = (
    ("complete", N_("complete")),
    ("legible", N_("legible")),
    ("right", N_("right document and household")),
    ("upright", N_("upright")),
)

FORMATS = (".pdf", ".html")


def load_sample(workspace: Workspace, sample_id: int) -> Sample:
    with _reading(workspace) as index:
        sample = _load(index, sample_id)
    use_profile_language(load_profile(sample.site).language)
    return sample


def _title(sample: Sample) -> str:
    return _("QA sample {sample} of {site}").format(sample=sample.sample, site=sample.site)


def _subtitle(sample: Sample) -> str:
    return _("seed {seed}, rate {rate}, {n} pages; reviewer: ____________________").format(
        seed=sample.seed, rate=f"{sample.rate:.0%}", n=sample.total
    )


def _facts(item: dict) -> list[tuple[str, str]]:
    reason = _("random") if item["reason"] == "random" else _("flagged")
    if item["why"]:
        reason += f" ({item['why']})"
    return [
        (_("item"), str(item["item"])),
        (_("household"), item["household"] or ""),
        (_("document"), item["document"]),
        (_("page in the document"), str(item["page"])),
        (_("input file, page"), f"{item['file']}, {item['index'] + 1}"),
        (_("why in the sample"), reason),
    ]


def write_sheet(workspace: Workspace, sample_id: int, output: Path) -> Sample:
    """Write the worksheet of a sample to ``output`` (.pdf or .html), whole or not at all."""
    sample = load_sample(workspace, sample_id)
    if output.suffix.lower() == ".pdf":
        pdf = sheet_pdf(workspace, sample)
        write_atomic(output, lambda fh: pdf.save(fh, deterministic_id=True))
        pdf.close()
    else:
        text = sheet_html(workspace, sample)
        write_atomic(output, lambda fh: fh.write(text.encode("utf-8")))
    return sample


# --- PDF ------------------------------------------------------------------------------------

Ops = list[tuple[list, pikepdf.Operator]]
_MARGIN = 15 * MM
#: The archived page's box on the left, the facts and checks on the right (points).
_IMAGE_W, _COLUMN_X = 112 * MM, 135 * MM
_COLUMN_W = PAGE_W - _COLUMN_X - _MARGIN


def _line(ops: Ops, s: str, font: str, pt: float, x: float, top: float) -> None:
    data = s.encode("cp1252", errors="replace")  # what WinAnsi lacks prints as '?'
    ops += [
        ([], pikepdf.Operator("BT")),
        ([pikepdf.Name(f"/{font}"), pt], pikepdf.Operator("Tf")),
        ([round(x, 2), round(PAGE_H - top, 2)], pikepdf.Operator("Td")),
        ([pikepdf.String(data)], pikepdf.Operator("Tj")),
        ([], pikepdf.Operator("ET")),
    ]


def _wrapped(ops: Ops, s: str, font: str, pt: float, x: float, top: float, width: float) -> float:
    """Lines of ``s`` from ``top`` down; returns where the next line goes."""
    for line in wrap_text(s, font, pt, width) or [""]:
        while text_width(line, font, pt) > width and len(line) > 1:
            # A path has no spaces to break at: cut it where it no longer fits.
            cut = len(line) - 1
            while cut > 1 and text_width(line[:cut], font, pt) > width:
                cut -= 1
            _line(ops, line[:cut], font, pt, x, top)
            top += pt * 1.25
            line = line[cut:]
        _line(ops, line, font, pt, x, top)
        top += pt * 1.25
    return top


def _box(ops: Ops, x: float, top: float, size: float) -> None:
    ops.append(([round(x, 2), round(PAGE_H - top - size, 2), size, size], pikepdf.Operator("re")))
    ops.append(([], pikepdf.Operator("S")))


def _place(pdf: pikepdf.Pdf, page: pikepdf.Page, source: Path, number: int) -> bool:
    """The archived page ``number`` (from 1) in the left box, its proportions kept."""
    try:
        with pikepdf.open(source) as archived:
            if not 1 <= number <= len(archived.pages):
                return False
            foreign = archived.pages[number - 1]
            top = PAGE_H - _MARGIN - 14 * MM
            box = pikepdf.Rectangle(_MARGIN, _MARGIN, _MARGIN + _IMAGE_W, top)
            page.add_overlay(pdf.copy_foreign(foreign.as_form_xobject()), box)
            # A white scan on white paper: the frame shows where the archived page lies.
            width, height = (float(v) for v in foreign.mediabox[2:])
            if int(foreign.obj.get("/Rotate", 0)) % 180:
                width, height = height, width
            scale = min(box.width / width, box.height / height)
            w, h = width * scale, height * scale
            x, y = box.llx + (box.width - w) / 2, box.lly + (box.height - h) / 2
            frame = f"q 0.6 G 0.5 w {x:.2f} {y:.2f} {w:.2f} {h:.2f} re S Q".encode()
            page.contents_add(pdf.make_stream(frame))
            return True
    except (pikepdf.PdfError, OSError, ValueError):
        return False


def sheet_pdf(workspace: Workspace, sample: Sample) -> pikepdf.Pdf:
    """One A4 page per item: the archived page on the left, the facts and checks beside it."""
    pdf = pikepdf.new()
    fonts = standard_fonts(pdf)
    for item in sample.items:
        page = pdf.add_blank_page(page_size=(PAGE_W, PAGE_H))
        page.obj.Resources = pikepdf.Dictionary(Font=fonts)
        ops: Ops = [([0], pikepdf.Operator("g")), ([0], pikepdf.Operator("G")),
                    ([0.6], pikepdf.Operator("w"))]  # fmt: skip
        _line(ops, _title(sample), "F2", 13, _MARGIN, _MARGIN + 4 * MM)
        _line(ops, _subtitle(sample), "F1", 9, _MARGIN, _MARGIN + 9 * MM)
        top = _MARGIN + 18 * MM
        for label, value in _facts(item):
            top = _wrapped(ops, label, "F2", 8.5, _COLUMN_X, top, _COLUMN_W)
            top = _wrapped(ops, value, "F1", 10, _COLUMN_X, top, _COLUMN_W) + 3
        top += 4 * MM
        for _key, label in CHECKS:
            _box(ops, _COLUMN_X, top - 8, 9)
            top = _wrapped(ops, _(label), "F1", 10, _COLUMN_X + 14, top, _COLUMN_W - 14) + 5
        top += 4 * MM
        _line(ops, _("note") + ":", "F2", 8.5, _COLUMN_X, top)
        for _n in range(4):
            top += 9 * MM
            ops.append(([round(_COLUMN_X, 2), round(PAGE_H - top, 2)], pikepdf.Operator("m")))
            ops.append(([round(_COLUMN_X + _COLUMN_W, 2), round(PAGE_H - top, 2)],
                        pikepdf.Operator("l")))  # fmt: skip
            ops.append(([], pikepdf.Operator("S")))
        page.contents_add(pdf.make_stream(pikepdf.unparse_content_stream(ops)))
        if not _place(pdf, page, workspace.archive_dir / item["document"], item["page"]):
            absent: Ops = []
            _line(absent, _("page image not available"), "F1", 11, _MARGIN, 120 * MM)
            page.contents_add(pdf.make_stream(pikepdf.unparse_content_stream(absent)))
    pdf.docinfo["/Title"] = _title(sample)
    pdf.docinfo["/Creator"] = "esak qa sheet"
    return pdf


# --- HTML -----------------------------------------------------------------------------------


def page_image(path: Path, page: int, dpi: int = 60) -> str | None:
    """The archived page (from 1) as a data: URI PNG, or None if it cannot be rendered."""
    import pypdfium2 as pdfium

    try:
        doc = pdfium.PdfDocument(str(path))
    except (pdfium.PdfiumError, OSError):
        return None
    try:
        if not 1 <= page <= len(doc):
            return None
        image = doc[page - 1].render(scale=dpi / 72, grayscale=True).to_pil()
        buffer = io.BytesIO()
        image.save(buffer, "PNG", optimize=True)
    except pdfium.PdfiumError:
        return None
    finally:
        doc.close()
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def sheet_html(workspace: Workspace, sample: Sample) -> str:
    """The worksheet as one self-contained HTML page (no scripts, no network)."""
    e = html.escape
    checks = "".join(
        f'<label><input type="checkbox"> {e(_(label))}</label><br>' for _key, label in CHECKS
    )
    title = _title(sample)
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{language()}"><head><meta charset="utf-8"><title>{e(title)}</title>',
        "<style>body{font-family:sans-serif;margin:1.5em}"
        ".item{display:flex;gap:1.5em;border-top:1px solid #999;padding:1em 0;"
        "page-break-inside:avoid}.item img{border:1px solid #ccc;max-width:45%}"
        "dt{font-weight:bold}dd{margin:0 0 .4em 0}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f"<p>{e(_subtitle(sample))}</p>",
    ]
    for item in sample.items:
        image = page_image(workspace.archive_dir / item["document"], item["page"])
        alt, absent = _("page image"), _("page image not available")
        picture = (f'<img alt="{e(alt)}" src="{image}">' if image
                   else f"<p><em>{e(absent)}</em></p>")  # fmt: skip
        listed = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in _facts(item))
        parts.append(f'<div class="item">{picture}<div><dl>{listed}</dl>{checks}'
                     f"<p>{e(_('note'))}: ______________________</p></div></div>")  # fmt: skip
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"

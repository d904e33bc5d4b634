"""Self-contained HTML reports: one file, no scripts, no fonts or images from the network.

Written for a head of department: the verdict first, in words and colour, then a chart, then
the lists. Household numbers only, never names. Every value goes through :func:`html.escape`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from esak import __version__
from esak.report.tables import FINDING_TABLES, ROLLOUT_COLUMNS, SiteColumn
from esak.verify.rollout import RolloutStatus, SiteStatus
from esak.verify.site import SiteReport

_CSS = """
:root { --ok: #1b7a3a; --warn: #a15c00; --bad: #b3261e; --muted: #5f6368; }
* { box-sizing: border-box; }
body { font: 15px/1.45 "DejaVu Sans", Arial, sans-serif; color: #202124; margin: 0;
       background: #f6f7f9; }
main { max-width: 1050px; margin: 0 auto; padding: 24px; }
header h1 { font-size: 24px; margin: 0 0 4px; }
header p { margin: 0; color: var(--muted); }
.verdict { margin: 20px 0; padding: 18px 22px; border-radius: 8px; color: #fff; }
.verdict h2 { margin: 0 0 6px; font-size: 22px; }
.verdict ul { margin: 6px 0 0; padding-left: 20px; }
.ok { background: var(--ok); } .warn { background: var(--warn); } .bad { background: var(--bad); }
.figures { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; }
.figure { background: #fff; border-radius: 8px; padding: 12px 16px; min-width: 150px;
          box-shadow: 0 1px 2px rgba(0,0,0,.1); }
.figure b { display: block; font-size: 24px; }
.figure span { color: var(--muted); font-size: 13px; }
section { background: #fff; border-radius: 8px; padding: 14px 18px; margin: 14px 0;
          box-shadow: 0 1px 2px rgba(0,0,0,.1); }
section h2 { font-size: 17px; margin: 0 0 8px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e3e5e8;
         vertical-align: top; }
th { background: #eef0f3; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.none { color: var(--muted); font-style: italic; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff;
         font-size: 12px; }
.legend span { display: inline-block; margin-right: 14px; font-size: 13px; }
.legend i { display: inline-block; width: 11px; height: 11px; margin-right: 4px;
            vertical-align: -1px; }
.households { columns: 4 11em; font: 12px/1.6 "DejaVu Sans Mono", monospace; }
footer { color: var(--muted); font-size: 12px; margin: 20px 0; }
@media print { body { background: #fff; } section, .figure { box-shadow: none; } }
"""

#: Colours of the chart segments; the legend repeats them in words.
_COLOURS = {
    "archived": "#1b7a3a",
    "missing": "#b3261e",
    "unexpected": "#7b1fa2",
    "cover": "#5b8def",
    "separator": "#9aa0a6",
    "blank": "#d0d4d9",
    "quarantined": "#e37400",
}
_LABELS = {"quarantined": "set aside", "unexpected": "not expected"}
_STATE_COLOURS = {
    "unplanned": "#9aa0a6",
    "planned": "#5b8def",
    "importing": "#e37400",
    "verified": "#1b7a3a",
    "live": "#0b5323",
}


def site_report_html(report: SiteReport) -> str:
    """The verification report of one site as one HTML page."""
    r = report
    verdict_class = {"complete": "ok", "incomplete": "warn", "damaged": "bad"}[r.status]
    headline = {
        "complete": "Complete and intact: every expected household is archived, "
        "every page is accounted for",
        "incomplete": "Not complete: this site cannot be signed off yet",
        "damaged": "Archive damaged: archived files were changed, removed or added",
    }[r.status]
    findings = "".join(f"<li>{escape(f)}</li>" for f in r.findings)
    set_aside_pages = r.pages["quarantined"]
    figures = [
        (r.expected_households, "households expected"),
        (len(r.archived), "households archived"),
        (len(r.missing), "households missing"),
        (r.documents, "documents"),
        (r.pages["input"], "input pages"),
        (set_aside_pages, "pages set aside"),
    ]
    parts = [
        _head(f"Verification {r.site_name}"),
        "<header>",
        f"<h1>Verification report: {escape(r.site_name)} ({escape(r.site)})</h1>",
        f"<p>Checked {escape(r.checked_at)} · fixity level <b>{escape(r.level.value)}</b> · "
        f"verification no. {r.verification_id} · {r.fixity.checked} archived files checked</p>",
        "</header>",
        f'<div class="verdict {verdict_class}" role="status"><h2>{escape(headline)}</h2>',
        f"<ul>{findings}</ul>" if findings else "",
        "</div>",
        _figures(figures),
        "<section><h2>Households and pages</h2>",
        _bar(
            "Households",
            [
                ("archived", len(r.archived)),
                ("missing", len(r.missing)),
                ("unexpected", len(r.unexpected)),
            ],
        ),
        _bar(
            "Pages",
            [(o, r.pages[o]) for o in ("archived", "cover", "separator", "blank", "quarantined")],
        ),
        "</section>",
        _sections(
            [
                _table(
                    t.title,
                    [c.header for c in t.columns],
                    [t.cells(x) for x in t.rows(r)],
                    numeric=t.numeric,
                )
                for t in FINDING_TABLES
            ]
        ),
        "<section><h2>Archived households</h2>",
        '<div class="households">'
        + ("<br>".join(escape(h) for h in r.archived) or '<span class="none">none</span>')
        + "</div></section>",
        _foot(),
    ]
    return "\n".join(parts)


def rollout_html(status: RolloutStatus) -> str:
    """The rollout of the whole district as one HTML page."""
    t = status.totals
    overdue = status.overdue
    nxt = status.next_site
    if overdue:
        verdict, headline = "bad", f"{len(overdue)} site(s) past their go-live date, not verified"
    elif nxt and nxt.blockers:
        verdict, headline = "warn", f"Next site {nxt.name}: {len(nxt.blockers)} thing(s) to do"
    else:
        verdict, headline = "ok", "On schedule"
    lines = []
    if overdue:
        lines.append("Overdue: " + ", ".join(overdue))
    if nxt:
        lines += [f"Next: {nxt.name} — {b['reason']} ({b['action']})" for b in nxt.blockers]
    columns = [c for c in ROLLOUT_COLUMNS if c.human]
    rows = [[_rollout_cell(c, s) for c in columns] for s in status.sites]
    chart = "".join(
        _bar(s.name, [("archived", s.archived), ("missing", s.missing)], legend=False)
        for s in status.sites
        if s.expected or s.archived
    )
    parts = [
        _head("Rollout E-Sozialakte"),
        "<header><h1>Rollout of the E-Sozialakte: Jobcenter im Kreis Borken</h1>",
        f"<p>As of {status.today.isoformat()} · {len(status.sites)} sites</p></header>",
        f'<div class="verdict {verdict}" role="status"><h2>{escape(headline)}</h2>',
        "<ul>" + "".join(f"<li>{escape(x)}</li>" for x in lines) + "</ul>" if lines else "",
        "</div>",
        _figures(
            [
                (t["expected"], "households expected"),
                (t["archived"], "households archived"),
                (t["missing"], "households missing"),
                (t["documents"], "documents"),
                (t["pages_input"], "input pages"),
            ]
        ),
        _table(
            "Sites in rollout order",
            [c.header for c in columns],
            rows,
            numeric=[i for i, c in enumerate(columns) if c.numeric],
        ),
        "<section><h2>Households per site</h2>",
        _legend(["archived", "missing"]),
        chart or '<p class="none">no site has an expected list or archived files yet</p>',
        "</section>",
        _foot(),
    ]
    return "\n".join(parts)


def _rollout_cell(column: SiteColumn, s: SiteStatus) -> Any:
    if column.key == "state":
        return _Raw(
            f'<span class="badge" style="background:{_STATE_COLOURS[s.state]}">'
            f"{escape(s.state)}</span>" + (" <b>overdue</b>" if s.overdue else "")
        )
    if column.key == "name":
        return f"{s.name} ({s.key})"
    return column.text(s)


class _Raw(str):
    """Markup made here, not data: inserted without escaping."""


class _Clear(str):
    """A list that came out empty: named once under "checked and clear" instead of a table."""


def _sections(parts: list[str]) -> str:
    """The non-empty lists, then one line naming the checks that found nothing."""
    clear = [p for p in parts if isinstance(p, _Clear)]
    shown = [p for p in parts if not isinstance(p, _Clear)]
    if clear:
        shown.append(
            "<section><h2>Checked and clear</h2><p>"
            + " · ".join(escape(c) for c in clear)
            + "</p></section>"
        )
    return "\n".join(shown)


def _head(title: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No request may leave the page: the report holds social data and is read offline.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{escape(title)} · esak</title><style>{_CSS}</style></head><body><main>"
    )


def _foot() -> str:
    return (
        f"<footer>Made by esak {escape(__version__)}. This report names households by number "
        "only. It contains no names and loads nothing from the network.</footer>"
        "</main></body></html>\n"
    )


def _figures(items: Iterable[tuple[int, str]]) -> str:
    cells = "".join(
        f'<div class="figure"><b>{value:,}</b><span>{escape(label)}</span></div>'.replace(",", ".")
        for value, label in items
    )
    return f'<div class="figures">{cells}</div>'


def _legend(keys: Sequence[str]) -> str:
    return (
        '<div class="legend">'
        + "".join(
            f'<span><i style="background:{_COLOURS[k]}"></i>{escape(_LABELS.get(k, k))}</span>'
            for k in keys
        )
        + "</div>"
    )


def _bar(label: str, segments: list[tuple[str, int]], legend: bool = True) -> str:
    """A stacked horizontal bar as inline SVG, with its numbers in words beside it."""
    total = sum(n for _, n in segments)
    width, height = 700, 22
    x = 0.0
    rects = []
    for key, n in segments:
        if n <= 0 or total == 0:
            continue
        w = width * n / total
        rects.append(
            f'<rect x="{x:.2f}" y="0" width="{w:.2f}" height="{height}" fill="{_COLOURS[key]}">'
            f"<title>{escape(key)}: {n}</title></rect>"
        )
        x += w
    if not rects:
        rects.append(f'<rect x="0" y="0" width="{width}" height="{height}" fill="#eef0f3"/>')
    words = ", ".join(f"{escape(_LABELS.get(k, k))} {n}" for k, n in segments)
    return (
        f'<div class="bar"><b>{escape(label)}</b> <span>{words}</span><br>'
        f'<svg role="img" aria-label="{escape(label)}: {words}" width="100%" '
        f'viewBox="0 0 {width} {height}" preserveAspectRatio="none" height="{height}">'
        + "".join(rects)
        + "</svg>"
        + (_legend([k for k, _ in segments]) if legend else "")
        + "</div>"
    )


def _table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    numeric: Iterable[int] = (),
) -> str:
    nums = set(numeric)
    head = "".join(
        f"<th{' class=n' if i in nums else ''}>{escape(c)}</th>" for i, c in enumerate(columns)
    )
    if not rows:
        return _Clear(title)
    cells = []
    for row in rows:
        tds = "".join(
            f"<td{' class=n' if i in nums else ''}>"
            f"{v if isinstance(v, _Raw) else escape('' if v is None else str(v))}</td>"
            for i, v in enumerate(row)
        )
        cells.append(f"<tr>{tds}</tr>")
    return (
        f"<section><h2>{escape(title)} ({len(rows)})</h2>"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(cells)}</tbody></table></section>"
    )

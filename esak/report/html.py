"""Self-contained HTML reports: one file, no scripts, no fonts or images from the network.

Written for a head of department: the verdict first, in words and colour, then a chart, then
the lists. Household numbers only, never names. Every value goes through :func:`html.escape`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

from esak import __version__
from esak.i18n import N_, _, language, local_date, local_time, number
from esak.report.tables import (
    CASE_COLUMNS,
    FINDING_TABLES,
    HEADLINES,
    LEVELS,
    PAGE_OUTCOMES,
    ROLLOUT_COLUMNS,
    SiteColumn,
    case_row,
)
from esak.verify.rollout import RolloutStatus, SiteStatus, blocker_text
from esak.verify.site import SiteReport, finding_sentences

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
.signoff table { width: 100%; } .signoff th { width: 9em; text-align: left; }
.signoff td { height: 3em; vertical-align: bottom; }
.line { display: inline-block; width: 70%; border-bottom: 1px solid #202124; }
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
    "discarded": "#6d4c41",
}
#: The chart's words for its segments.
_LABELS = {
    "archived": N_("archived"),
    "missing": N_("missing"),
    "unexpected": N_("not expected"),
    **PAGE_OUTCOMES,
}
_STATE_COLOURS = {
    "unplanned": "#9aa0a6",
    "planned": "#5b8def",
    "importing": "#e37400",
    "verified": "#1b7a3a",
    "live": "#0b5323",
}


def site_report_html(report: SiteReport) -> str:
    """The verification report of one site as one HTML page, with a block to sign."""
    r = report
    verdict_class = {"complete": "ok", "incomplete": "warn", "damaged": "bad"}[r.status]
    headline = _(HEADLINES[r.status])
    findings = "".join(f"<li>{escape(f)}</li>" for f in finding_sentences(r, _))
    figures = [
        (r.expected_households, _("households expected")),
        (len(r.archived), _("households archived")),
        (len(r.missing), _("households missing")),
        (r.documents, _("documents")),
        (r.pages["input"], _("input pages")),
        (r.pages["quarantined"], _("pages set aside")),
    ]
    if r.fixity.purged:
        figures.append((r.fixity.purged, _("documents handed over and deleted")))
    level = _(LEVELS[r.level.value])
    parts = [
        _head(_("Verification {site}").format(site=r.site_name)),
        "<header>",
        "<h1>"
        + escape(_("Verification report: {name} ({site})").format(name=r.site_name, site=r.site))
        + "</h1>",
        "<p>"
        + escape(
            _(
                "Checked {at} · integrity check (fixity) level {level} · verification no. "
                "{number} · {files} archived files checked"
            ).format(
                at=local_time(r.checked_at),
                level=level,
                number=r.verification_id,
                files=number(r.fixity.checked),
            )
        )
        + "</p>",
        "</header>",
        f'<div class="verdict {verdict_class}" role="status"><h2>{escape(headline)}</h2>',
        f"<ul>{findings}</ul>" if findings else "",
        "</div>",
        _figures(figures),
        "<section><h2>" + escape(_("Households and pages")) + "</h2>",
        _bar(
            _("Households"),
            [
                ("archived", len(r.archived)),
                ("missing", len(r.missing)),
                ("unexpected", len(r.unexpected)),
            ],
        ),
        _bar(
            _("Pages"),
            [
                (o, r.pages.get(o, 0))
                for o in ("archived", "cover", "separator", "blank", "quarantined", "discarded")
            ],
        ),
        "</section>",
        _sections(
            [
                _table(
                    t.heading,
                    [c.label for c in t.columns],
                    [t.cells(x) for x in t.rows(r)],
                    numeric=t.numeric,
                )
                for t in FINDING_TABLES
            ]
        ),
        "<section><h2>" + escape(_("Archived households")) + "</h2>",
        '<div class="households">'
        + (
            "<br>".join(escape(h) for h in r.archived)
            or '<span class="none">' + escape(_("none")) + "</span>"
        )
        + "</div></section>",
        _sign_off(r),
        _foot(
            _(
                "Profile {file} (SHA-256 {profile}) · index fingerprint of the site {fingerprint}"
            ).format(
                file=r.profile_file, profile=r.profile_sha256[:16], fingerprint=r.fingerprint[:16]
            )
        ),
    ]
    return "\n".join(parts)


def rollout_html(status: RolloutStatus) -> str:
    """The rollout of the whole district as one HTML page."""
    t = status.totals
    overdue = status.overdue
    nxt = status.next_site
    if overdue:
        verdict = "bad"
        headline = _("{n} site(s) past their go-live date, not verified").format(n=len(overdue))
    elif nxt and nxt.blockers:
        verdict = "warn"
        headline = _("Next site {name}: {n} thing(s) to do").format(
            name=nxt.name, n=len(nxt.blockers)
        )
    else:
        verdict, headline = "ok", _("On schedule")
    lines = []
    if overdue:
        lines.append(_("Overdue: {sites}").format(sites=", ".join(overdue)))
    if nxt:
        lines += [
            _("Next: {name} — {reason} ({action})").format(
                name=nxt.name, reason=blocker_text(b, _), action=b["action"]
            )
            for b in nxt.blockers
        ]
    columns = [c for c in ROLLOUT_COLUMNS if c.human]
    rows = [[_rollout_cell(c, s) for c in columns] for s in status.sites]
    chart = "".join(
        _bar(s.name, [("archived", s.archived), ("missing", s.missing)], legend=False)
        for s in status.sites
        if s.expected or s.archived
    )
    parts = [
        _head(_("Rollout E-Sozialakte")),
        "<header><h1>"
        + escape(_("Rollout of the E-Sozialakte: Jobcenter im Kreis Borken"))
        + "</h1>",
        "<p>"
        + escape(
            _("As of {date} · {n} sites").format(date=local_date(status.today), n=len(status.sites))
        )
        + "</p></header>",
        f'<div class="verdict {verdict}" role="status"><h2>{escape(headline)}</h2>',
        "<ul>" + "".join(f"<li>{escape(x)}</li>" for x in lines) + "</ul>" if lines else "",
        "</div>",
        _figures(
            [
                (t["expected"], _("households expected")),
                (t["archived"], _("households archived")),
                (t["missing"], _("households missing")),
                (t["documents"], _("documents")),
                (t["pages_input"], _("input pages")),
            ]
        ),
        _table(
            _("Sites in rollout order"),
            [c.label for c in columns],
            rows,
            numeric=[i for i, c in enumerate(columns) if c.numeric],
        ),
        "<section><h2>" + escape(_("Households per site")) + "</h2>",
        _legend(["archived", "missing"]),
        chart
        or '<p class="none">'
        + escape(_("no site has an expected list or archived files yet"))
        + "</p>",
        "</section>",
        _foot(),
    ]
    return "\n".join(parts)


def _rollout_cell(column: SiteColumn, s: SiteStatus) -> Any:
    if column.key == "state":
        return _Raw(
            f'<span class="badge" style="background:{_STATE_COLOURS[s.state]}">'
            f"{escape(column.text(s))}</span>"
            + (f" <b>{escape(_('overdue'))}</b>" if s.overdue else "")
        )
    if column.key == "name":
        return f"{s.name} ({s.key})"
    return column.text(s)


def _sign_off(r: SiteReport) -> str:
    """Where the site's report is signed: checked by the admin, accepted by the department
    head, before the paper originals may be destroyed."""
    name, date, signature = _("Name"), _("Date"), _("Signature")
    rows = "".join(
        "<tr>"
        f"<th>{escape(role)}</th>"
        f"<td>{escape(name)}: <span class=line></span></td>"
        f"<td>{escape(date)}: <span class=line></span></td>"
        f"<td>{escape(signature)}: <span class=line></span></td>"
        "</tr>"
        for role in (_("Checked"), _("Accepted"))
    )
    note = _(
        "Signed for verification no. {number} of {site}, level {level}, index fingerprint "
        "{fingerprint}. A report with another fingerprint is another state of the archive."
    ).format(
        number=r.verification_id,
        site=r.site_name,
        level=_(LEVELS[r.level.value]),
        fingerprint=r.fingerprint[:16],
    )
    return (
        '<section class="signoff"><h2>' + escape(_("Sign-off")) + "</h2>"
        f"<table>{rows}</table><p>{escape(note)}</p></section>"
    )


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
            "<section><h2>"
            + escape(_("Checked and clear"))
            + "</h2><p>"
            + " · ".join(escape(c) for c in clear)
            + "</p></section>"
        )
    return "\n".join(shown)


def _head(title: str) -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="{language()}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # No request may leave the page: the report holds social data and is read offline.
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{escape(title)} · esak</title><style>{_CSS}</style></head><body><main>"
    )


def _foot(provenance: str = "") -> str:
    made = _(
        "Made by esak {version}. This report names households by number only. It contains no "
        "names and loads nothing from the network."
    ).format(version=__version__)
    extra = f"<br>{escape(provenance)}" if provenance else ""
    return f"<footer>{escape(made)}{extra}</footer></main></body></html>\n"


def _figures(items: Iterable[tuple[int, str]]) -> str:
    cells = "".join(
        f'<div class="figure"><b>{number(value)}</b><span>{escape(label)}</span></div>'
        for value, label in items
    )
    return f'<div class="figures">{cells}</div>'


def _legend(keys: Sequence[str]) -> str:
    return (
        '<div class="legend">'
        + "".join(
            f'<span><i style="background:{_COLOURS[k]}"></i>{escape(_(_LABELS[k]))}</span>'
            for k in keys
        )
        + "</div>"
    )


def _bar(label: str, segments: list[tuple[str, int]], legend: bool = True) -> str:
    """A stacked horizontal bar as inline SVG, with its numbers in words beside it."""
    total = sum(n for _key, n in segments)
    width, height = 700, 22
    x = 0.0
    rects = []
    for key, n in segments:
        if n <= 0 or total == 0:
            continue
        w = width * n / total
        rects.append(
            f'<rect x="{x:.2f}" y="0" width="{w:.2f}" height="{height}" fill="{_COLOURS[key]}">'
            f"<title>{escape(_(_LABELS[key]))}: {n}</title></rect>"
        )
        x += w
    if not rects:
        rects.append(f'<rect x="0" y="0" width="{width}" height="{height}" fill="#eef0f3"/>')
    words = ", ".join(f"{escape(_(_LABELS[k]))} {n}" for k, n in segments)
    return (
        f'<div class="bar"><b>{escape(label)}</b> <span>{words}</span><br>'
        f'<svg role="img" aria-label="{escape(label)}: {words}" width="100%" '
        f'viewBox="0 0 {width} {height}" preserveAspectRatio="none" height="{height}">'
        + "".join(rects)
        + "</svg>"
        + (_legend([k for k, _n in segments]) if legend else "")
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


def cases_html(cases: list[dict[str, Any]], site: str | None) -> str:
    """The Klärfälle as one HTML page."""
    rows = [[case_row(c)[col.key] for col in CASE_COLUMNS] for c in cases]
    open_ = sum(c["status"] == "open" for c in cases)
    verdict = "warn" if open_ else "ok"
    headline = _("{n} open Klärfall/Klärfälle").format(n=open_) if open_ else _("No open Klärfall")
    title = _("Klärfälle {site}").format(site=site or _("of every site"))
    parts = [
        _head(title),
        f"<header><h1>{escape(title)}</h1></header>",
        f'<div class="verdict {verdict}" role="status"><h2>{escape(headline)}</h2></div>',
        _table(title, [c.label for c in CASE_COLUMNS], rows,
               numeric=[i for i, c in enumerate(CASE_COLUMNS) if c.numeric])
        or "",
        _foot(),
    ]  # fmt: skip
    return "\n".join(str(p) for p in parts)


def release_check_html(check: Any) -> str:
    """The release check as one HTML page: the clock and the blockers of every delivery."""
    from esak.verify.release import blocker_text as release_blocker

    blocked = [d for d in check.deliveries if d.blockers and not d.decided]
    verdict = "bad" if check.urgent_holds else ("warn" if blocked else "ok")
    if blocked:
        headline = _("{n} delivery/ies may not be released yet").format(n=len(blocked))
    else:
        headline = _("Every delivery is released, held, or releasable")
    title = _("Release of the paper originals, {site}, as of {date}").format(
        site=check.site, date=local_date(check.as_of))
    rows = []
    for d in check.deliveries:
        decision = (d.decision or {}).get("decision")
        state = (_("released") if decision == "release" else _("held") if decision
                 else _("releasable") if d.releasable else _("blocked"))  # fmt: skip
        blockers = "; ".join(f"{release_blocker(b)} → {b['action']}" for b in d.blockers)
        rows.append([d.delivery, d.path, local_date(d.scanned_at), local_date(d.destroy_on),
                     "" if d.days_left is None else d.days_left, state, blockers])  # fmt: skip
    columns = [_("delivery"), _("path"), _("scanned"), _("destruction from"), _("days left"),
               _("state"), _("blockers")]  # fmt: skip
    parts = [
        _head(title),
        f"<header><h1>{escape(title)}</h1></header>",
        f'<div class="verdict {verdict}" role="status"><h2>{escape(headline)}</h2></div>',
        str(_table(title, columns, rows, numeric=(0, 4))),
        _foot(),
    ]
    return "\n".join(parts)

"""Reports as CSV for spreadsheets: one row per finding, filtered by ``category``."""

from __future__ import annotations

import csv
import io
from typing import Any

from esak.i18n import N_, _, language
from esak.report.tables import (
    CASE_COLUMNS,
    PAGE_OUTCOMES,
    ROLLOUT_COLUMNS,
    SITE_TABLES,
    VERDICTS,
    case_row,
)
from esak.verify.rollout import RolloutStatus
from esak.verify.site import SiteReport

#: German Excel opens ';'-separated UTF-8 with a BOM without an import dialog.
CSV_DELIMITER = ";"

CSV_COLUMNS = ("site", "category", "household", "volume", "delivery", "file", "count", "detail")
#: The headings people read (German Excel); in English the columns keep their keys.
_HEADERS = {
    "site": N_("site"),
    "category": N_("category"),
    "household": N_("household"),
    "volume": N_("volume"),
    "delivery": N_("delivery"),
    "file": N_("file"),
    "count": N_("count"),
    "detail": N_("detail"),
}


def _header(keys: list[str] | tuple[str, ...], labels: dict[str, str]) -> list[str]:
    return list(keys) if language() == "en" else [_(labels[k]) for k in keys]


def _writer(out: io.StringIO) -> Any:
    return csv.writer(out, delimiter=CSV_DELIMITER, lineterminator="\r\n")


def site_reports_csv(reports: list[SiteReport]) -> str:
    """One row per finding, batch and household: filter by ``category`` in a spreadsheet."""
    out = io.StringIO()
    w = _writer(out)
    w.writerow(_header(CSV_COLUMNS, _HEADERS))
    english = language() == "en"
    for r in reports:
        s = r.site
        status = r.status if english else _(VERDICTS[r.status])
        w.writerow([s, "status" if english else _("verdict"), "", "", "", "", "", status])
        for key, value in r.pages.items():
            label = key if english else _(PAGE_OUTCOMES[key])
            w.writerow([s, "pages" if english else _("pages"), "", "", "", "", value, label])
        for table in SITE_TABLES:
            for row in table.rows(r):
                w.writerow(
                    [
                        s,
                        table.csv_category(row),
                        row.get("household", ""),
                        row.get("volume", ""),
                        row.get("delivery", ""),
                        row.get("file", ""),
                        row.get(table.count, "") if table.count else "",
                        table.detail(row) if table.detail else "",
                    ]
                )
    return out.getvalue()


def rollout_csv(status: RolloutStatus) -> str:
    """One row per site in rollout order, every column of the rollout table."""
    out = io.StringIO()
    w = _writer(out)
    w.writerow(
        _header([c.key for c in ROLLOUT_COLUMNS], {c.key: c.header for c in ROLLOUT_COLUMNS})
    )
    for s in status.sites:
        if language() == "en":  # the values as JSON has them
            w.writerow(["" if (v := c.value(s)) is None else v for c in ROLLOUT_COLUMNS])
        else:  # as people read them: 01.03.2021, "verifiziert"
            w.writerow([c.text(s) for c in ROLLOUT_COLUMNS])
    return out.getvalue()


def cases_csv(cases: list[dict[str, Any]]) -> str:
    """The Klärfälle, one row each; in English with the JSON's keys and values."""
    out = io.StringIO()
    w = _writer(out)
    if language() == "en":
        keys = [
            "id",
            "site",
            "kind",
            "status",
            "file",
            "first_page",
            "last_page",
            "household",
            "volume",
            "detail",
            "age_days",
            "resolution",
            "by",
            "reason",
            "at",
            "action",
        ]
        w.writerow(keys)
        for c in cases:
            r = c.get("resolution") or {}
            w.writerow([c["id"], c["site"], c["kind"], c["status"], c["file"] or "",
                        c["first_page"] or "", c["last_page"] or "", c["household"] or "",
                        c["volume"] or "", c["detail"], c["age_days"], r.get("action", ""),
                        r.get("by", "") or "", r.get("reason", "") or "", r.get("at", "") or "",
                        c["action"]])  # fmt: skip
        return out.getvalue()
    w.writerow([col.label for col in CASE_COLUMNS])
    for c in cases:
        row = case_row(c)
        w.writerow([row[col.key] for col in CASE_COLUMNS])
    return out.getvalue()


_RELEASE_CHECK = {
    "delivery": N_("delivery"),
    "path": N_("path"),
    "scanned_at": N_("scanned"),
    "destroy_on": N_("destruction from"),
    "days_left": N_("days left"),
    "decision": N_("decision"),
    "blocker": N_("blocker"),
    "action": N_("what to do"),
}


def release_check_csv(check: Any) -> str:
    """One row per delivery and blocker (a releasable or decided delivery: one row)."""
    from esak.i18n import local_date
    from esak.verify.release import blocker_text

    out = io.StringIO()
    w = _writer(out)
    w.writerow(_header(tuple(_RELEASE_CHECK), _RELEASE_CHECK))
    english = language() == "en"
    for d in check.deliveries:
        decision = (d.decision or {}).get("decision") or ""
        if not english and decision:
            decision = _("released") if decision == "release" else _("held")
        dates = [d.scanned_at, d.destroy_on] if english else [
            local_date(d.scanned_at), local_date(d.destroy_on)]  # fmt: skip
        base = [d.delivery, d.path, *dates, "" if d.days_left is None else d.days_left, decision]
        for b in d.blockers or [None]:
            if b is None:
                w.writerow([*base, "", ""])
            else:
                w.writerow([*base, b["code"] if english else blocker_text(b), b["action"]])
    return out.getvalue()


def release_list_csv(rows: list[dict[str, Any]]) -> str:
    """The Freigabeliste and Sperrliste for the scanning provider, one row per file."""
    from esak.i18n import local_date
    from esak.verify.release import RELEASE_COLUMNS

    out = io.StringIO()
    w = _writer(out)
    w.writerow(_header([k for k, _label in RELEASE_COLUMNS], dict(RELEASE_COLUMNS)))
    for row in rows:
        w.writerow([local_date(row[k]) if k in ("date", "destroy_on") else row[k]
                    for k, _label in RELEASE_COLUMNS])  # fmt: skip
    return out.getvalue()

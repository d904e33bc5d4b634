"""Reports as CSV for spreadsheets: one row per finding, filtered by ``category``."""

from __future__ import annotations

import csv
import io
from typing import Any

from esak.report.tables import ROLLOUT_COLUMNS, SITE_TABLES
from esak.verify.rollout import RolloutStatus
from esak.verify.site import SiteReport

#: German Excel opens ';'-separated UTF-8 with a BOM without an import dialog.
CSV_DELIMITER = ";"

CSV_COLUMNS = ("site", "category", "household", "volume", "delivery", "file", "count", "detail")


def _writer(out: io.StringIO) -> Any:
    return csv.writer(out, delimiter=CSV_DELIMITER, lineterminator="\r\n")


def site_reports_csv(reports: list[SiteReport]) -> str:
    """One row per finding, batch and household: filter by ``category`` in a spreadsheet."""
    out = io.StringIO()
    w = _writer(out)
    w.writerow(CSV_COLUMNS)
    for r in reports:
        s = r.site
        w.writerow([s, "status", "", "", "", "", "", r.status])
        for key, value in r.pages.items():
            w.writerow([s, "pages", "", "", "", "", value, key])
        for table in SITE_TABLES:
            for row in table.rows(r):
                w.writerow(
                    [
                        s,
                        table.category(row) if table.category else table.key,
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
    w.writerow([c.key for c in ROLLOUT_COLUMNS])
    for s in status.sites:
        w.writerow(["" if (v := c.value(s)) is None else v for c in ROLLOUT_COLUMNS])
    return out.getvalue()

"""Reports as files: CSV for spreadsheets, HTML for people, written whole or not at all."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from esak.atomic import write_atomic
from esak.verify.rollout import RolloutStatus
from esak.verify.site import SiteReport

#: German Excel opens ';'-separated UTF-8 with a BOM without an import dialog.
CSV_DELIMITER = ";"

CSV_COLUMNS = ("site", "category", "household", "volume", "delivery", "file", "count", "detail")


def site_reports_csv(reports: list[SiteReport]) -> str:
    """One row per finding, batch and household: filter by ``category`` in a spreadsheet."""
    out = io.StringIO()
    w = csv.writer(out, delimiter=CSV_DELIMITER, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    for r in reports:
        s = r.site
        w.writerow([s, "status", "", "", "", "", "", r.status])
        for key, value in r.pages.items():
            w.writerow([s, "pages", "", "", "", "", value, key])
        for h in r.missing:
            w.writerow([s, "missing_household", h, "", "", "", "", ""])
        for m in r.missing_volumes:
            w.writerow([s, "missing_volume", m["household"], m["volume"], "", "", "", ""])
        for h in r.unexpected:
            w.writerow([s, "unexpected_household", h, "", "", "", "", ""])
        for m in r.page_count_mismatches:
            w.writerow(
                [s, "page_count_mismatch", m["household"], m["volume"], "", m["file"],
                 m["found"], f"declared {m['declared']}, found {m['found']}"]
            )  # fmt: skip
        for p in r.delivery_problems:
            w.writerow([s, "delivery_problem", "", "", p["delivery"], p["file"], "", p["problem"]])
        for q in r.quarantined_files:
            w.writerow(
                [s, "file_set_aside", "", "", q["delivery"], q["file"], q["pages"], q["reason"]]
            )
        for q in r.quarantined_pages:
            w.writerow(
                [s, "pages_set_aside", "", "", q["delivery"], q["file"], q["pages"], q["reason"]]
            )
        for e in r.accounting_errors:
            w.writerow([s, "accounting_error", "", "", e["delivery"], e["file"], "", e["problem"]])
        f = r.fixity
        for kind, paths in (("missing", f.missing), ("changed", f.changed),
                            ("untracked", f.untracked)):  # fmt: skip
            for p in paths:
                w.writerow([s, f"file_{kind}", "", "", "", p, "", ""])
        for i in f.invalid:
            w.writerow([s, "file_invalid", "", "", "", i["file"], "", i["problem"]])
        for b in r.batches:
            detail = ", ".join(
                f"{k} {b[k]}" for k in ("archived", "cover", "separator", "blank", "quarantined")
            )
            w.writerow(
                [s, "batch" if b["balanced"] else "batch_unbalanced", "", "", b["delivery"],
                 b["file"], b["input"], detail]
            )  # fmt: skip
        for h in r.archived:
            w.writerow([s, "archived_household", h, "", "", "", "", ""])
    return out.getvalue()


def rollout_csv(status: RolloutStatus) -> str:
    out = io.StringIO()
    w = csv.writer(out, delimiter=CSV_DELIMITER, lineterminator="\r\n")
    w.writerow(
        ["order", "site", "name", "go_live", "state", "overdue", "expected", "archived",
         "missing", "documents", "pages_input", "last_verification", "verification_ok",
         "blockers"]
    )  # fmt: skip
    for s in status.sites:
        last = s.last_verification
        w.writerow(
            [s.rollout_order or "", s.key, s.name, s.go_live or "", s.state, int(s.overdue),
             s.expected, s.archived, s.missing, s.documents, s.pages_input,
             last["at"] if last else "", "" if last is None else int(last["ok"]),
             " | ".join(b["reason"] for b in s.blockers)]
        )  # fmt: skip
    return out.getvalue()


def write_report(path: Path, text: str, *, bom: bool = False) -> Path:
    """Write a report owner-only, atomically: a reader never sees half a file."""
    data = (("\ufeff" if bom else "") + text).encode("utf-8")
    return write_atomic(path, lambda fh: fh.write(data))

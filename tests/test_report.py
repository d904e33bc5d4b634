"""The report package: each table is defined once, and every format shows it the same way."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from rich.console import Console

from esak.migrate.plan import ORPHAN_REASON
from esak.report import csvfile, html, tables, terminal
from esak.verify.fixity import Fixity, Level
from esak.verify.rollout import RolloutStatus, SiteStatus
from esak.verify.site import SiteReport
from esak.vocabulary import SiteState


def _report() -> SiteReport:
    """A site report with one row in every list, each value distinct, so a renderer that
    dropped or mixed up a column is seen."""
    return SiteReport(
        site="borken",
        site_name="Borken",
        level=Level.VALID,
        checked_at="2026-12-01T06:42:00+00:00",
        expected_households=4,
        archived=["BG-1001"],
        missing=["BG-1002"],
        unexpected=["BG-1003"],
        missing_volumes=[{"household": "BG-1004", "volume": 2}],
        pages={
            "input": 9,
            "archived": 3,
            "cover": 1,
            "separator": 1,
            "blank": 1,
            "quarantined": 3,
        },
        batches=[
            {
                "delivery": 1,
                "file": "box1/a.pdf",
                "input": 9,
                "archived": 3,
                "cover": 1,
                "separator": 1,
                "blank": 1,
                "quarantined": 3,
                "discarded": 0,
                "balanced": True,
            },
            {
                "delivery": 1,
                "file": "box1/b.pdf",
                "input": 2,
                "archived": 1,
                "cover": 0,
                "separator": 0,
                "blank": 0,
                "quarantined": 0,
                "discarded": 0,
                "balanced": False,
            },
        ],
        accounting_errors=[{"delivery": 1, "file": "box1/b.pdf", "problem": "1 page unaccounted"}],
        page_count_mismatches=[
            {"household": "BG-1001", "volume": 1, "declared": 7, "found": 6, "file": "box1/a.pdf"}
        ],
        delivery_problems=[{"delivery": 1, "file": "box9/gone.pdf", "problem": "listed, absent"}],
        quarantined_files=[{"delivery": 1, "file": "box1/x.pdf", "pages": 0, "reason": "damaged"}],
        quarantined_pages=[
            {
                "delivery": 1,
                "file": "box1/a.pdf",
                "pages": "1-2",
                "reason": ORPHAN_REASON,
            }
        ],
        duplicate_files=[{"delivery": 1, "file": "box2/a-copy.pdf"}],
        documents=1,
        resolved_cases=[
            {
                "id": 7,
                "kind": "missing_household",
                "file": None,
                "first_page": None,
                "last_page": None,
                "household": "BG-1009",
                "resolution": {
                    "action": "close",
                    "household": None,
                    "by": "A. Admin",
                    "reason": "keine Papierakte vorhanden",
                    "at": "2026-11-30T09:00:00+00:00",
                },
            }
        ],
        fixity=Fixity(
            Level.VALID,
            checked=4,
            changed=["borken/BG-1001/band-1/0002.pdf"],
            missing=["borken/BG-1001/band-1/0003.pdf"],
            untracked=["borken/stray.pdf"],
            invalid=[{"file": "borken/BG-1001/band-1/0001.pdf", "problem": "not PDF/A"}],
        ),
    )


def test_every_list_of_a_site_report_has_one_table():
    report = _report()
    keys = [t.key for t in tables.SITE_TABLES]
    assert len(keys) == len(set(keys))
    for table in tables.SITE_TABLES:
        rows = table.rows(report)
        assert rows, f"{table.key}: the sample report has a row for every list"
        for row in rows:
            assert all(c.key in row for c in table.columns), (table.key, row)


def test_the_csv_has_a_row_for_every_row_of_every_table():
    report = _report()
    rows = list(csv.DictReader(io.StringIO(csvfile.site_reports_csv([report])), delimiter=";"))
    by: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by.setdefault(row["category"], []).append(row)
    for table in tables.SITE_TABLES:
        rows_of = table.rows(report)
        cats = {table.category(r) if table.category else table.key for r in rows_of}
        assert sum(len(by.get(c, [])) for c in cats) == len(rows_of), table.key
    assert by["batch"][0]["count"] == "9" and by["batch_unbalanced"][0]["file"] == "box1/b.pdf"
    mismatch = by["page_count_mismatch"][0]
    assert (mismatch["household"], mismatch["count"]) == ("BG-1001", "6")
    assert mismatch["detail"] == "declared 7, found 6"
    assert by["pages_set_aside"][0]["detail"] == ORPHAN_REASON
    assert by["file_invalid"][0]["file"].endswith("0001.pdf")


def test_the_html_report_shows_every_finding_table_with_its_columns():
    page = html.site_report_html(_report())
    for table in tables.FINDING_TABLES:
        assert f"<h2>{table.title} (" in page.replace("&#x27;", "'"), table.key
        for column in table.columns:
            assert f">{column.header}</th>" in page, (table.key, column.key)
    assert "BG-1004" in page and "box9/gone.pdf" in page and "stray.pdf" in page


def test_an_empty_list_is_named_as_checked_and_clear():
    report = _report()
    report.missing = []
    page = html.site_report_html(report)
    assert "<h2>Missing households (" not in page
    assert "Checked and clear" in page and "Missing households" in page


@pytest.fixture
def captured(monkeypatch):
    buffer = io.StringIO()
    monkeypatch.setattr(terminal, "out", Console(file=buffer, width=200, highlight=False))
    return buffer


def test_the_terminal_lists_every_finding_with_its_line(captured):
    report = _report()
    terminal.verify_reports([report])
    text = captured.getvalue()
    for table in tables.FINDING_TABLES:
        if table.line is None:
            continue
        assert f"{table.title} (" in text, table.key
        for row in table.rows(report):
            assert table.line(row) in text
    assert "BG-1004 volume 2" in text
    assert "cover says 7, found 6 (box1/a.pdf)" in text


def _rollout() -> RolloutStatus:
    return RolloutStatus(
        today=dt.date(2026, 12, 1),
        sites=[
            SiteStatus("borken", "Borken", 1, dt.date(2026, 11, 2), None, expected=5, archived=4,
                       missing=1, documents=9, pages_input=40,
                       last_verification={"at": "2026-11-30T22:00:00+00:00", "ok": False},
                       state=SiteState.IMPORTING, overdue=True,
                       blockers=[{"reason": "1 household missing", "action": "ingest it"}]),
            SiteStatus("rhede", "Rhede", None, None, None),
        ],
    )  # fmt: skip


def test_the_rollout_table_is_the_same_in_csv_html_and_terminal(captured):
    status = _rollout()
    rows = list(csv.DictReader(io.StringIO(csvfile.rollout_csv(status)), delimiter=";"))
    assert list(rows[0]) == [c.key for c in tables.ROLLOUT_COLUMNS]
    assert rows[0]["go_live"] == "2026-11-02" and rows[0]["overdue"] == "1"
    assert rows[0]["verification_ok"] == "0" and rows[0]["blockers"] == "1 household missing"
    assert rows[1]["order"] == "" and rows[1]["last_verification"] == ""
    page = html.rollout_html(status)
    terminal.rollout_table(status)
    text = captured.getvalue()
    for column in tables.ROLLOUT_COLUMNS:
        if column.human:
            assert f">{column.header}</th>" in page, column.key
            assert column.header in text, column.key
    # Local time (Europe/Berlin, UTC+1 in November), as people read it.
    for shown in ("2026-11-30 23:00 failed", "unplanned", "never", "1 household missing"):
        assert shown in page and shown in text


def test_the_log_line_of_a_finished_file_has_totals_and_time_left():
    from esak.migrate.progress import FileDone, Progress

    p = Progress(pages_total=400, pages_done=100, files_total=8, files_done=2, started=0.0)
    p.last = FileDone("box01/batch_002.pdf", "ingested", 50)
    line = terminal.file_done_line(p, now=600.0)  # 100 pages in 10 minutes: 30 to go
    assert "box01/batch_002.pdf: 50 pages, ingested · 2 of 8 files, 100 of 400 pages" in line
    assert line.endswith("about 0:30 h left")
    p.last = FileDone("box01/x.pdf", "quarantined", 0, "the file is empty (0 bytes)")
    assert ": 0 pages, set aside: the file is empty (0 bytes) · " in terminal.file_done_line(p)
    p.last = None
    assert terminal.file_done_line(p) is None

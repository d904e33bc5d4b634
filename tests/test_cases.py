"""Klärfälle on indexes of generated rows: the kinds the end-to-end delivery does not plant
(a household not on the list, a cover sheet's page count), the sync, and the list's formats."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from esak.cli import cli
from esak.errors import ExitCode
from esak.index.cases import site_findings, sync_cases
from esak.index.db import Index
from esak.synthetic.index import Shape, populate
from esak.workspace import Workspace

SMALL = Shape(households=4, documents_per_household=1, pages_per_document=2,
              blank_per_document=0, households_per_batch=4)  # fmt: skip


def esak(ws: Path, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(ws), *args], catch_exceptions=False)


def as_json(ws: Path, *args: str) -> tuple[int, dict]:
    result = esak(ws, *args, "--json")
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def ws(tmp_path) -> Path:
    workspace = Workspace(tmp_path / "ws").ensure()
    with Index.open(workspace.index_path) as index:
        populate(index, workspace.archive_dir, "borken", SMALL)
    return workspace.root


def _index(ws: Path) -> Index:
    return Index.open(ws / "index.sqlite")


def test_a_clean_site_has_no_case_and_verify_is_complete(ws):
    with _index(ws) as index:
        assert site_findings(index, "borken") == []
    code, report = as_json(ws, "verify", "--site", "borken")
    assert code == ExitCode.OK and report["open_cases"] == 0 and report["resolved_cases"] == []


def test_a_household_not_on_the_list_is_a_case_until_accepted(ws):
    with _index(ws) as index, index.transaction() as db:
        (household,) = db.execute(
            "SELECT household FROM expected ORDER BY household LIMIT 1"
        ).fetchone()
        db.execute("DELETE FROM expected WHERE household = ?", [household])
    code, report = as_json(ws, "verify", "--site", "borken")
    assert code == ExitCode.PROBLEMS and report["unexpected_households"] == [household]
    _, listed = as_json(ws, "clarify", "list", "--site", "borken")
    (case,) = listed["cases"]
    assert case["kind"] == "unexpected_household" and case["household"] == household
    code, _ = as_json(ws, "clarify", "close", str(case["id"]), "--by", "A. Admin",
                      "--reason", "Zuzug nach dem Stichtag")  # fmt: skip
    assert code == ExitCode.OK
    code, report = as_json(ws, "verify", "--site", "borken")
    assert code == ExitCode.OK and report["complete"]
    assert report["unexpected_households"] == []  # accepted: no longer a finding
    assert report["resolved_cases"][0]["resolution"]["reason"] == "Zuzug nach dem Stichtag"


def test_a_page_count_difference_is_a_case_until_acknowledged(ws):
    with _index(ws) as index, index.transaction() as db:
        (section,) = db.execute("SELECT id FROM sections ORDER BY id LIMIT 1").fetchone()
        db.execute("UPDATE sections SET declared_pages = found_pages + 3 WHERE id = ?", [section])
    _, listed = as_json(ws, "clarify", "list", "--site", "borken")
    (case,) = listed["cases"]
    assert case["kind"] == "page_count_mismatch" and "declares" in case["detail"]
    assert as_json(ws, "verify", "--site", "borken")[0] == ExitCode.PROBLEMS
    as_json(ws, "clarify", "close", str(case["id"]), "--by", "A. Admin",
            "--reason", "Papier nachgezählt")  # fmt: skip
    code, report = as_json(ws, "verify", "--site", "borken")
    assert code == ExitCode.OK and report["page_count_mismatches"] == []


def test_sync_makes_each_case_once_closes_it_when_gone_and_opens_it_when_back(ws):
    with _index(ws) as index:
        with index.transaction() as db:
            db.execute(
                "INSERT INTO expected (site, household, source_file, source_line, imported_at) "
                "VALUES ('borken', '95401BG0999999', 'x.csv', 99, '2026-01-01')"
            )
        first = sync_cases(index, "borken")
        assert len(first.opened) == 1
        again = sync_cases(index, "borken")
        assert again.opened == again.closed == again.reopened == []
        with index.transaction() as db:
            db.execute("DELETE FROM expected WHERE household = '95401BG0999999'")
        assert sync_cases(index, "borken").closed == first.opened
        with index.transaction() as db:
            db.execute(
                "INSERT INTO expected (site, household, source_file, source_line, imported_at) "
                "VALUES ('borken', '95401BG0999999', 'x.csv', 99, '2026-01-01')"
            )
        assert sync_cases(index, "borken").reopened == first.opened
        query = "SELECT action FROM case_events WHERE case_id = ? ORDER BY id"
        actions = [r[0] for r in index.db.execute(query, first.opened)]
    assert actions == ["opened", "auto_close", "auto_reopen"]


def test_the_list_as_csv_and_html_in_german(ws, tmp_path):
    with _index(ws) as index, index.transaction() as db:
        db.execute(
            "INSERT INTO expected (site, household, source_file, source_line, imported_at) "
            "VALUES ('borken', '95401BG0999999', 'x.csv', 99, '2026-01-01')"
        )
    out = tmp_path / "faelle.csv"
    result = esak(ws, "--lang", "de", "clarify", "list", "--format", "csv", "-o", str(out))
    assert result.exit_code == ExitCode.OK
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert rows[0][:4] == ["Fall", "Standort", "Art", "Status"]
    assert rows[1][2] == "fehlende Bedarfsgemeinschaft" and rows[1][3] == "offen"
    # What the case is and what to do about it, in German too (found trying it as a user).
    assert rows[1][5] == "erwartete Bedarfsgemeinschaft ohne archivierte Dokumente"
    assert rows[1][8].startswith("die Lieferung mit ihr einlesen")
    html = tmp_path / "faelle.html"
    esak(ws, "--lang", "de", "clarify", "list", "--site", "borken", "--format", "html",
         "-o", str(html))  # fmt: skip
    page = html.read_text(encoding="utf-8")
    assert "1 offene(r) Klärfall/Klärfälle" in page and "95401BG0999999" in page
    code, data = as_json(ws, "clarify", "list", "--status", "resolved")
    assert code == ExitCode.OK and data == {"cases": []}
    code, error = as_json(ws, "clarify", "list", "--site", "nowhere")
    assert code == ExitCode.CONFIG and "nowhere" in error["error"]

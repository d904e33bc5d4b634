"""Rollout status and plan, and verify's page accounting, on indexes of generated rows."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import pytest
from click.testing import CliRunner

from esak.cli import cli
from esak.errors import ExitCode
from esak.index.db import Index
from esak.synthetic.index import Shape, populate
from esak.workspace import Workspace

SMALL = Shape(households=6, documents_per_household=2, pages_per_document=3,
              blank_per_document=1, households_per_batch=4)  # fmt: skip


def esak(ws: Path, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(ws), *args], catch_exceptions=False)


@pytest.fixture
def ws(tmp_path) -> Path:
    workspace = Workspace(tmp_path / "ws").ensure()
    with Index.open(workspace.index_path) as index:
        populate(index, workspace.archive_dir, "borken", SMALL)
        populate(index, workspace.archive_dir, "rhede", SMALL, first=1000)
    return workspace.root


def status(ws: Path, as_of: str = "2026-11-23") -> tuple[int, dict]:
    result = esak(ws, "rollout", "status", "--json", "--as-of", as_of)
    return result.exit_code, json.loads(result.stdout)


def site(payload: dict, key: str) -> dict:
    return next(s for s in payload["sites"] if s["site"] == key)


def test_states_follow_ingest_and_verification(ws):
    code, s = status(ws)
    assert code == ExitCode.PROBLEMS  # Borken's go-live is long past and it is not verified
    borken, rhede, heek = site(s, "borken"), site(s, "rhede"), site(s, "heek")
    assert (borken["state"], rhede["state"], heek["state"]) == ("importing", "importing", "planned")
    assert site(s, "ahaus")["state"] == "unplanned"
    assert borken["overdue"] and heek["overdue"] and not rhede["overdue"]
    assert borken["households"] == {"expected": 6, "archived": 6, "missing": 0, "unexpected": 0}
    assert borken["documents"] == 12
    assert [b["reason"] for b in borken["blockers"]] == ["never verified"]
    assert {b["reason"] for b in rhede["blockers"]} == {"no go-live date", "never verified"}
    assert [x["site"] for x in s["sites"]][:2] == ["borken", "rhede"]  # rollout order
    assert s["next"] == "borken" and s["next_blocked"] is True

    assert esak(ws, "verify", "--site", "borken").exit_code == ExitCode.OK
    assert esak(ws, "verify", "--site", "rhede").exit_code == ExitCode.OK
    code, s = status(ws)
    # Verified and its go-live date has come, but its paper is not released yet.
    assert site(s, "borken")["state"] == "verified"
    assert site(s, "borken")["deliveries"] == {"total": 1, "released": 0}
    assert [b["reason"] for b in site(s, "borken")["blockers"]] == [
        "1 of 1 delivery/ies not released for the destruction of their paper"]  # fmt: skip
    assert site(s, "borken")["urgent_holds"] == []  # no scan date: the clock cannot say
    with Index.open(ws / "index.sqlite") as index, index.transaction() as db:
        db.execute("INSERT INTO releases (site, delivery_id, decision, by_name, decided_at) "
                   "SELECT site, id, 'release', 'C. Leitung', '2026-11-01' FROM deliveries "
                   "WHERE site = 'borken'")  # fmt: skip
    code, s = status(ws)
    assert site(s, "borken")["state"] == "live"  # verified, go-live come, paper released
    assert site(s, "borken")["urgent_holds"] == [] and site(s, "borken")["blockers"] == []
    assert site(s, "rhede")["state"] == "verified"  # verified, no go-live date yet
    assert site(s, "borken")["last_verification"]["ok"] is True
    assert s["next"] == "rhede"
    # As of a day before Borken's go-live, Borken is verified but not live, and nothing is due.
    code, early = status(ws, "2021-02-28")
    assert code == ExitCode.OK and site(early, "borken")["state"] == "verified"
    assert early["next"] == "borken" and early["next_blocked"] is False


def test_a_later_ingest_needs_a_new_verification(ws):
    esak(ws, "verify", "--site", "borken")
    with Index.open(ws / "index.sqlite") as index, index.transaction() as db:
        # A later ingest: its timestamp after the verification's.
        db.execute("UPDATE input_files SET ingested_at = '2999-01-01T00:00:00+00:00'")
    _, s = status(ws)
    borken = site(s, "borken")
    assert borken["state"] == "importing"
    assert [b["reason"] for b in borken["blockers"]] == ["not verified since the last ingest"]


def test_missing_households_and_failed_verification_block(ws):
    with Index.open(ws / "index.sqlite") as index, index.transaction() as db:
        db.execute(
            "INSERT INTO expected (site, household, source_file, source_line, imported_at) "
            "VALUES ('borken', '95401BG0999999', 'x.csv', 99, '2026-01-01')"
        )
    assert esak(ws, "verify", "--site", "borken").exit_code == ExitCode.PROBLEMS
    _, s = status(ws)
    reasons = [b["reason"] for b in site(s, "borken")["blockers"]]
    assert reasons == [
        "1 expected household(s) not archived",
        "1 open Klärfall/Klärfälle",  # the missing household, made a case by verify
        "last verification found 1 problem(s)",
    ]
    plan = esak(ws, "rollout", "plan", "--json", "--as-of", "2026-11-23")
    assert plan.exit_code == ExitCode.PROBLEMS
    payload = json.loads(plan.stdout)
    assert payload["next"]["site"] == "borken" and payload["blocked"] is True
    assert all(b["action"] for b in payload["next"]["blockers"])


def test_rollout_counts_households_as_verify_does(ws):
    """A household with documents that the list does not name is not "archived" in either."""
    with Index.open(ws / "index.sqlite") as index, index.transaction() as db:
        (dropped,) = db.execute(
            "SELECT household FROM expected WHERE site = 'borken' ORDER BY household LIMIT 1"
        ).fetchone()
        db.execute("DELETE FROM expected WHERE site = 'borken' AND household = ?", [dropped])
    result = esak(ws, "verify", "--site", "borken", "--json")
    report = json.loads(result.stdout)
    assert report["archived_households"] == 5 and report["unexpected_households"] == [dropped]
    _, s = status(ws)
    assert site(s, "borken")["households"] == {
        "expected": 5, "archived": 5, "missing": 0, "unexpected": 1
    }  # fmt: skip


def test_a_fast_verification_signs_nothing_off(ws):
    """Fast does not look for untracked files: it says so, and rollout does not count it."""
    stray = ws / "archive" / "borken" / "stray.pdf"
    stray.write_bytes(b"%PDF-1.4 left behind")
    fast = esak(ws, "verify", "--site", "borken", "--level", "fast", "--json")
    assert fast.exit_code == ExitCode.OK
    fixity = json.loads(fast.stdout)["fixity"]
    assert fixity["untracked"] == [] and fixity["not_checked"] == ["untracked"]
    human = esak(ws, "--lang", "en", "verify", "--site", "borken", "--level", "fast")
    assert "untracked not checked at level fast" in human.output
    assert "0 untracked" not in human.output
    _, s = status(ws)
    borken = site(s, "borken")
    assert borken["state"] == "importing"
    assert [b["reason"] for b in borken["blockers"]] == [
        "last verification was at level fast, which does not look for untracked files"
    ]
    complete = esak(ws, "verify", "--site", "borken", "--json")
    assert complete.exit_code == ExitCode.INTEGRITY
    assert json.loads(complete.stdout)["fixity"]["not_checked"] == []


def test_plan_exits_0_when_nothing_blocks_the_next_site(ws):
    esak(ws, "verify", "--site", "borken")
    plan = esak(ws, "rollout", "plan", "--as-of", "2021-01-01")
    assert plan.exit_code == ExitCode.OK
    assert "nothing blocks" in plan.output


def test_rollout_html_and_csv(ws, tmp_path):
    out = tmp_path / "rollout.html"
    result = esak(ws, "rollout", "status", "--format", "html", "-o", str(out),
                  "--as-of", "2026-11-23")  # fmt: skip
    assert result.exit_code == ExitCode.PROBLEMS
    html = out.read_text(encoding="utf-8")
    links: list[str] = []

    class P(HTMLParser):
        def handle_starttag(self, tag, attrs):
            links.extend(v for k, v in attrs if k in ("src", "href") and v)

    P().feed(html)
    assert links == []
    assert "Südlohn" in html and "overdue" in html and "<svg" in html
    csv_out = esak(ws, "rollout", "status", "--format", "csv", "--as-of", "2026-11-23").stdout
    rows = list(csv.DictReader(io.StringIO(csv_out), delimiter=";"))
    assert len(rows) == 18
    assert {r["site"]: r["state"] for r in rows}["heek"] == "planned"


def test_rollout_status_needs_a_workspace(tmp_path):
    result = esak(tmp_path / "none", "rollout", "status", "--json")
    assert result.exit_code == ExitCode.WORKSPACE
    assert "there is no workspace" in json.loads(result.stdout)["error"]
    assert not (tmp_path / "none").exists()


# --- verify's accounting on generated rows --------------------------------------------------


def test_a_lost_page_row_unbalances_its_batch(ws):
    with Index.open(ws / "index.sqlite") as index, index.transaction() as db:
        file_id, relpath = db.execute(
            "SELECT id, relpath FROM input_files WHERE site = 'borken' ORDER BY id LIMIT 1"
        ).fetchone()
        db.execute(
            "DELETE FROM pages WHERE file_id = ? AND page_index = 3 AND outcome = 'archived'",
            [file_id],
        )
    result = esak(ws, "verify", "--site", "borken", "--json")
    r = json.loads(result.stdout)
    assert result.exit_code == ExitCode.PROBLEMS
    assert {e["file"] for e in r["accounting_errors"]} == {
        relpath,
        "borken/95401BG0000001/band-01/0001.pdf",
    }
    batch = next(b for b in r["batches"] if b["file"] == relpath)
    assert batch["balanced"] is False
    assert r["pages"]["input"] == sum(b["input"] for b in r["batches"])


def test_an_expected_volume_not_archived_is_missing(ws):
    with Index.open(ws / "index.sqlite") as index, index.transaction() as db:
        db.execute("UPDATE expected SET volumes = 2 WHERE household = '95401BG0000002'")
    r = json.loads(esak(ws, "verify", "--site", "borken", "--json").stdout)
    assert r["missing_volumes"] == [{"household": "95401BG0000002", "volume": 2}]
    assert r["complete"] is False and r["missing_households"] == []


def test_urgent_holds_show_in_the_rollout(ws):
    with Index.open(ws / "index.sqlite") as index, index.transaction() as db:
        db.execute("UPDATE deliveries SET scanned_on = '2026-10-01' WHERE site = 'borken'")
    # 2026-10-01 + 56 days = 2026-11-26: 3 days left on 2026-11-23, nothing of it released.
    _, s = status(ws)
    borken = site(s, "borken")
    assert borken["urgent_holds"] == [1] and site(s, "rhede")["urgent_holds"] == []
    assert "1 delivery/ies blocked shortly before their paper is destroyed" in [
        b["reason"] for b in borken["blockers"]]  # fmt: skip
    _, early = status(ws, "2026-11-01")  # 25 days left: not urgent yet
    assert site(early, "borken")["urgent_holds"] == []

"""Klärfälle end to end: every finding of a real ingest becomes a case, each is resolved with
the commands people use, and the site turns complete; findings that go away close their case."""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from esak.cli import cli
from esak.errors import ExitCode
from esak.synthetic import random_person, render_content_page, render_cover_sheet
from tests.conftest import write_pdf

pytestmark = pytest.mark.slow


def esak(ws: Path, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(ws), *args], catch_exceptions=False)


def as_json(ws: Path, *args: str) -> tuple[int, dict]:
    result = esak(ws, *args, "--json")
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def site(e2e_ingest, tmp_path):
    """A copy of the ingested workspace with its expected list: one household missing, an
    orphan page before the first cover, a file that cannot be read, a manifest gap."""
    truth, _, _, ws, delivery, _, root = e2e_ingest
    copy = tmp_path / "ws"
    shutil.copytree(ws, copy)
    expected_csv = root / "sample" / Path(truth["expected_csv"]).name
    esak(copy, "expected", "import", "--site", "borken", str(expected_csv))
    return {"truth": truth, "ws": copy, "delivery": delivery, "tmp": tmp_path}


def cases(ws: Path, status: str = "open") -> list[dict]:
    code, data = as_json(ws, "clarify", "list", "--site", "borken", "--status", status)
    assert code == ExitCode.OK, data
    return data["cases"]


def by_kind(items: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for case in items:
        out.setdefault(case["kind"], []).append(case)
    return out


def test_every_finding_is_a_case_once_with_the_command_that_resolves_it(site):
    ws, truth = site["ws"], site["truth"]
    open_ = cases(ws)
    kinds = by_kind(open_)
    assert set(kinds) == {"pages", "file", "missing_household", "delivery_problem"}
    assert [c["household"] for c in kinds["missing_household"]] == truth["missing_households"]
    (pages,) = kinds["pages"]
    assert pages["first_page"] == pages["last_page"] >= 1  # counted from 1
    assert pages["file"] and "before the first cover sheet" in pages["detail"]
    assert all(c["status"] == "open" and c["age_days"] == 0 for c in open_)
    assert "clarify assign" in pages["action"] and "clarify close" in kinds["file"][0]["action"]
    # Verify and ingest run the sync again: the same cases, never twice.
    code, report = as_json(ws, "verify", "--site", "borken")
    assert code == ExitCode.PROBLEMS and report["open_cases"] == len(open_)
    assert [c["id"] for c in cases(ws)] == [c["id"] for c in open_]
    code, status = as_json(ws, "rollout", "status")
    borken = next(s for s in status["sites"] if s["site"] == "borken")
    assert borken["open_cases"] == len(open_)
    assert any("clarify list --site borken" in b["action"] for b in borken["blockers"])


def test_resolving_every_case_signs_the_site_off_and_the_report_says_how(site):
    ws, truth = site["ws"], site["truth"]
    kinds = by_kind(cases(ws))
    household = truth["expected_households"][0]
    (pages,) = kinds["pages"]
    code, assigned = as_json(ws, "clarify", "assign", str(pages["id"]), "--household", household,
                             "--type", "Schreiben", "--by", "A. Admin",
                             "--reason", "Deckblatt fehlte, Schreiben nennt die BG")  # fmt: skip
    assert code == ExitCode.OK, assigned
    assert assigned["case"]["resolution"]["action"] == "assign"
    assert assigned["document"].startswith(f"borken/{household}/band-01/")
    code, shown = as_json(ws, "show", household)
    doc = next(d for d in shown["documents"] if d["path"].endswith(assigned["document"]))
    assert doc["type"] == "Schreiben" and doc["pages"] == 1
    assert doc["source"]["first_page"] == pages["first_page"]
    reasons = {
        "file": "Fremdakte, an den Dienstleister zurück",
        "missing_household": "keine Papierakte vorhanden",
        "delivery_problem": "Datei wurde nie gescannt",
    }
    for kind, reason in reasons.items():
        for case in kinds[kind]:
            code, closed = as_json(ws, "clarify", "close", str(case["id"]), "--by", "A. Admin",
                                   "--reason", reason)  # fmt: skip
            assert code == ExitCode.OK and closed["case"]["status"] == "resolved"
    assert cases(ws) == []
    code, report = as_json(ws, "verify", "--site", "borken", "--level", "valid")
    assert code == ExitCode.OK, report["findings"]
    assert report["complete"] and report["open_cases"] == 0
    resolved = {c["kind"]: c["resolution"] for c in report["resolved_cases"]}
    assert resolved["pages"]["household"] == household and resolved["pages"]["by"] == "A. Admin"
    assert resolved["missing_household"]["reason"] == "keine Papierakte vorhanden"
    # Every page still accounted for: the assigned page is archived, nothing set aside.
    p = report["pages"]
    assert p["quarantined"] == 0
    assert p["input"] == sum(v for k, v in p.items() if k != "input")
    html = site["tmp"] / "report.html"
    esak(ws, "--lang", "de", "verify", "--site", "borken", "--format", "html", "-o", str(html))
    text = html.read_text(encoding="utf-8")
    # Four resolved by a person; the households that were "not expected" until the expected
    # list came went away by themselves.
    shown = len(report["resolved_cases"])
    assert shown >= 4
    assert (
        "Vollständig — kann abgenommen werden" in text and f"Geklärte Klärfälle ({shown})" in text
    )
    assert "keine Papierakte vorhanden" in text and "zugeordnet" in text
    # The audit log has every resolution, and nothing was deleted.
    db = sqlite3.connect(ws / "index.sqlite")
    try:
        commands = [r[0] for r in db.execute("SELECT command FROM runs ORDER BY id")]
        events = db.execute("SELECT action, by_name, reason FROM case_events "
                            "WHERE action IN ('assign', 'close')").fetchall()  # fmt: skip
    finally:
        db.close()
    assert commands.count("clarify assign") == 1 and commands.count("clarify close") == 3
    assert len(events) == 4 and all(by == "A. Admin" and reason for _, by, reason in events)


def test_what_cannot_be_done_is_refused_with_what_to_do(site):
    ws, truth = site["ws"], site["truth"]
    kinds = by_kind(cases(ws))
    (pages,) = kinds["pages"]
    household = truth["expected_households"][0]
    args = ("--by", "A. Admin", "--reason", "zugeordnet")
    code, _ = as_json(ws, "clarify", "assign", str(pages["id"]), "--household", household, *args)
    assert code == ExitCode.OK
    code, again = as_json(ws, "clarify", "assign", str(pages["id"]), "--household", household,
                          *args)  # fmt: skip
    assert code == ExitCode.USAGE and "already resolved" in again["error"]
    assert "clarify reopen" in again["remedy"]
    code, reopen = as_json(ws, "clarify", "reopen", str(pages["id"]), *args)
    assert code == ExitCode.PROBLEMS and "two places" in reopen["error"]
    file_case = kinds["file"][0]["id"]
    code, wrong = as_json(ws, "clarify", "assign", str(file_case), "--household", household, *args)
    assert code == ExitCode.USAGE and "close it instead" in wrong["remedy"]
    code, bad = as_json(ws, "clarify", "close", "99999", *args)
    assert code == ExitCode.USAGE and "no case 99999" in bad["error"]
    code, nobody = as_json(ws, "clarify", "close", str(file_case), "--reason", "x")
    assert code == ExitCode.USAGE and "--by" in nobody["error"]
    code, blank = as_json(ws, "clarify", "close", str(file_case), "--by", " ", "--reason", "x")
    assert code == ExitCode.USAGE and "--by NAME" in blank["error"]


def test_closed_pages_are_discarded_and_a_reopened_case_sets_them_aside_again(site):
    ws = site["ws"]
    (pages,) = by_kind(cases(ws))["pages"]
    args = ("--by", "A. Admin", "--reason", "Fremdblatt")
    assert as_json(ws, "clarify", "close", str(pages["id"]), *args)[0] == ExitCode.OK
    _, report = as_json(ws, "verify", "--site", "borken")
    assert report["pages"]["discarded"] == 1 and report["pages"]["quarantined"] == 0
    assert report["quarantined_pages"] == []
    code, reopened = as_json(ws, "clarify", "reopen", str(pages["id"]), *args)
    assert code == ExitCode.OK and reopened["case"]["status"] == "open"
    _, report = as_json(ws, "verify", "--site", "borken")
    assert report["pages"]["discarded"] == 0 and report["pages"]["quarantined"] == 1
    assert [c["id"] for c in by_kind(cases(ws))["pages"]] == [pages["id"]]  # the same case


def test_a_redelivered_file_and_a_missing_household_close_their_cases_by_themselves(site):
    ws, truth = site["ws"], site["truth"]
    kinds = by_kind(cases(ws))
    broken = kinds["file"][0]
    missing = truth["missing_households"][0]
    # The scanning service delivers the broken file again, now readable: the household's file.
    redelivery = site["tmp"] / "nachlieferung"
    rng = random.Random(5)
    person = random_person(rng)
    write_pdf(
        [render_cover_sheet(missing, site="borken", dpi=150, rng=rng),
         render_content_page(rng, "schreiben", dpi=150, person=person, household=missing)],
        redelivery / broken["file"], 150,
    )  # fmt: skip
    code, report = as_json(ws, "ingest", "--site", "borken", str(redelivery))
    assert code == ExitCode.OK, report
    assert report["cases"]["closed"] == 2
    gone = {c["id"]: c for c in cases(ws, "resolved")}
    for case in (broken, kinds["missing_household"][0]):
        assert gone[case["id"]]["resolution"]["action"] == "auto_close"
        assert gone[case["id"]]["resolution"]["by"] is None  # no person: esak saw it go
    still = by_kind(cases(ws))
    assert set(still) <= {"pages", "delivery_problem", "missing_household"}
    # Its file came as volume 1: a household expected with more volumes still misses those.
    assert all(c["household"] == missing and c["volume"] > 1
               for c in still.get("missing_household", []))  # fmt: skip


def test_a_kill_during_assign_leaves_nothing_half_done(site):
    ws, truth = site["ws"], site["truth"]
    (pages,) = by_kind(cases(ws))["pages"]
    household = truth["expected_households"][1]
    faults = site["tmp"] / "faults"
    faults.mkdir()
    command = [
        sys.executable,
        "-m",
        "esak",
        "--workspace",
        str(ws),
        "clarify",
        "assign",
        str(pages["id"]),
        "--household",
        household,
        "--by",
        "A. Admin",
        "--reason",
        "x",
    ]
    env = {**os.environ, "ESAK_FAULTS": "kill:keep-swapped@1", "ESAK_FAULTS_DIR": str(faults)}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == -9, done.stderr  # killed after the swap, before the commit
    # The next esak run puts the archive back in line with the index: nothing was assigned.
    _, report = as_json(ws, "verify", "--site", "borken")
    assert report["intact"], report["fixity"]
    assert report["pages"]["quarantined"] == 1
    (still,) = by_kind(cases(ws))["pages"]
    assert still["id"] == pages["id"] and still["status"] == "open"
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    _, report = as_json(ws, "verify", "--site", "borken", "--level", "valid")
    assert report["intact"] and report["pages"]["quarantined"] == 0

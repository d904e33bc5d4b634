"""``esak withdraw`` end to end: a small real delivery (real OCR) ingested, taken back, and
ingested again; refusals; a kill -9 between the commit and the removal of the files; the
versions a ``blanks keep`` replaced, and the migration that keeps them on record."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pikepdf
import pytest
import sqlite_utils

from esak.errors import ExitCode
from esak.synthetic import (
    random_person,
    render_blank_page,
    render_content_page,
    render_cover_sheet,
    render_separator,
)
from tests.conftest import snapshot, write_pdf

pytestmark = pytest.mark.slow

DPI = 150
HOUSEHOLDS = ["95401BG0000501", "95401BG0000502"]
BY, WHY = "A. Admin", "Lieferung gehört nach Rhede"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def delivery(tmp_path_factory) -> Path:
    """Two batches, one household each (cover, page, separator, page, blank back side), and a
    manifest that lists a third file the scanning service did not deliver."""
    folder = tmp_path_factory.mktemp("withdraw") / "delivery"
    rng = random.Random(13)
    for n, household in enumerate(HOUSEHOLDS, 1):
        person = random_person(rng)
        pages = [
            render_cover_sheet(household, site="borken", dpi=DPI, rng=rng),
            render_content_page(rng, "schreiben", dpi=DPI, person=person, household=household),
            render_separator("PATCHT", dpi=DPI, rng=rng),
            render_content_page(rng, "lohnabrechnung", dpi=DPI, person=person, household=household),
            render_blank_page(rng, dpi=DPI),
        ]
        write_pdf(pages, folder / f"batch_{n:03d}.pdf", DPI)
    rows = [f"{p.name};{sha256(p)}" for p in sorted(folder.glob("*.pdf"))]
    rows.append("batch_009.pdf;" + "0" * 64)
    (folder / "manifest.csv").write_text("file;sha256\n" + "\n".join(rows) + "\n")
    return folder


def esak(ws: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """A real esak process, as an operator (or cron) starts it."""
    proc = subprocess.run(
        [sys.executable, "-m", "esak", "--workspace", str(ws), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )
    return proc.returncode, proc.stdout, proc.stderr


def as_json(ws: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    code, out, err = esak(ws, *args, "--json", env=env)
    try:
        return code, json.loads(out)
    except ValueError as exc:
        raise AssertionError(f"exit {code}, not JSON: {out!r} {err}") from exc


def ingest(ws: Path, delivery: Path) -> tuple[int, dict]:
    return as_json(ws, "ingest", "--site", "borken", str(delivery))


def sql(ws: Path, query: str, params=()) -> list[tuple]:
    db = sqlite3.connect(ws / "index.sqlite")
    try:
        return db.execute(query, params).fetchall()
    finally:
        db.close()


def state(ws: Path) -> dict:
    """What the index records and the archive holds, minus ids, times, OCR bytes and the
    records of a withdrawal (the rows of withdrawn files)."""
    docs = sql(ws, "SELECT household, volume, seq, doc_type, pages, path FROM documents "
                   "ORDER BY path")  # fmt: skip
    pages = sql(
        ws,
        "SELECT f.relpath, p.page_index, p.kind, p.outcome, p.household, p.volume, d.path, "
        "p.document_page FROM pages p JOIN input_files f ON f.id = p.file_id "
        "LEFT JOIN documents d ON d.id = p.document_id WHERE f.outcome != 'withdrawn' "
        "ORDER BY f.relpath, p.page_index",
    )
    files = sql(ws, "SELECT relpath, outcome, page_count FROM input_files "
                    "WHERE outcome != 'withdrawn' ORDER BY relpath")  # fmt: skip
    archive = sorted(p.relative_to(ws / "archive").as_posix() for p in (ws / "archive").rglob("*")
                     if p.is_file())  # fmt: skip
    for rel in archive:
        with pikepdf.open(ws / "archive" / rel) as pdf:
            assert pdf.open_metadata().pdfa_status == "2B"
    return {"documents": docs, "pages": pages, "files": files, "archive": archive}


def folder_state(folder: Path) -> dict:
    """The delivery folder: every entry's size and mtime, every file's hash."""
    hashes = {str(p.relative_to(folder)): sha256(p) for p in folder.rglob("*") if p.is_file()}
    return {"entries": snapshot(folder), "hashes": hashes}


def open_cases(ws: Path) -> list[dict]:
    code, listed = as_json(ws, "clarify", "list", "--site", "borken")
    assert code == 0
    return listed["cases"]


@pytest.fixture(scope="module")
def ingested(delivery, tmp_path_factory) -> tuple[Path, dict, dict]:
    """A workspace with the expected list and the delivery ingested once (copy it to change
    it): (workspace, its state, the ingest report)."""
    ws = tmp_path_factory.mktemp("ingested") / "ws"
    expected = ws.parent / "soll.csv"
    expected.write_text("household\n" + "\n".join(HOUSEHOLDS) + "\n")
    code, _ = as_json(ws, "expected", "import", "--site", "borken", str(expected))
    assert code == 0
    code, report = ingest(ws, delivery)
    assert code == ExitCode.PROBLEMS, report  # the manifest's missing file
    assert report["households"] == HOUSEHOLDS and report["pages"]["archived"] == 4
    assert [p["file"] for p in report["delivery_problems"]] == ["batch_009.pdf"]
    return ws, state(ws), report


def copy_of(ingested, tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    shutil.copytree(ingested[0], ws)
    return ws


def delivery_id(ws: Path) -> int:
    ((did,),) = sql(ws, "SELECT id FROM deliveries")
    return did


def test_withdraw_takes_the_delivery_out_and_a_new_ingest_brings_the_same_back(
    delivery, ingested, tmp_path
):
    ws = copy_of(ingested, tmp_path)
    first = ingested[1]
    did = delivery_id(ws)
    folder_before = folder_state(delivery)
    hashes = dict(sql(ws, "SELECT path, sha256 FROM documents"))
    assert sorted(hashes) == first["archive"] and len(hashes) == 4
    code, verified = as_json(ws, "verify", "--site", "borken")
    assert verified["missing_households"] == [] and verified["documents"] == 4
    (problem_case,) = [c for c in open_cases(ws) if c["kind"] == "delivery_problem"]

    code, result = as_json(ws, "withdraw", "--delivery", str(did), "--by", BY, "--reason", WHY)
    assert code == ExitCode.OK, result
    assert result["delivery"] == did and result["site"] == "borken"
    assert result["delivery_path"] == str(delivery)
    assert result["households"] == HOUSEHOLDS and result["files"] == 2 and result["pages"] == 10
    assert {d["path"]: d["sha256"] for d in result["documents"]} == hashes
    assert result["removed"] == 4 and result["left"] == []
    assert problem_case["id"] in result["cases"]["resolved"]

    # The archive: the files and their household folders gone; the journal cleared.
    assert not any((ws / "archive").rglob("*.pdf"))
    assert not any((ws / "archive" / "borken" / h).exists() for h in HOUSEHOLDS)
    assert not (ws / "commit.journal").exists()
    # The index: what was there, with its hashes; nothing of it deleted.
    assert sql(ws, "SELECT COUNT(*) FROM documents") == [(0,)]
    kept = sql(ws, "SELECT w.path, w.sha256, w.household, w.withdrawal_id, w.document_id, "
                   "a.delivery_id, a.by_name, a.reason, a.run_id FROM withdrawn_documents w "
                   "JOIN withdrawals a ON a.id = w.withdrawal_id ORDER BY w.path")  # fmt: skip
    assert {r[0]: r[1] for r in kept} == hashes
    assert {r[3] for r in kept} == {result["withdrawal"]}
    assert all(r[4] is not None for r in kept)  # the id it had in documents
    assert {r[5:] for r in kept} == {(did, BY, WHY, result["run_id"])}
    assert sql(ws, "SELECT DISTINCT outcome FROM input_files") == [("withdrawn",)]
    assert sql(ws, "SELECT DISTINCT outcome FROM pages") == [("withdrawn",)]
    assert sql(ws, "SELECT COUNT(*) FROM pages WHERE document_id IS NOT NULL") == [(0,)]
    assert sql(ws, "SELECT COUNT(*) FROM pages WHERE kind = 'cover'") == [(2,)]  # all kept
    assert sql(ws, "SELECT withdrawal_id FROM deliveries") == [(result["withdrawal"],)]
    assert sql(ws, "PRAGMA foreign_key_check") == []
    # The audit log: the run, and the case's event with who, why and the run.
    assert sql(ws, "SELECT command, outcome, exit_code, finished_at IS NOT NULL, options FROM "
                   "runs WHERE id = ?", [result["run_id"]]) == [
        ("withdraw", "ok", 0, 1, json.dumps({"by": BY, "delivery": did, "reason": WHY}))
    ]  # fmt: skip
    assert sql(ws, "SELECT action, by_name, reason, run_id FROM case_events WHERE case_id = ? "
                   "ORDER BY id DESC LIMIT 1", [problem_case["id"]]) == [
        ("withdrawn", BY, WHY, result["run_id"])
    ]  # fmt: skip

    # verify no longer sees anything of it: the households are missing again, their cases open.
    code, verified = as_json(ws, "verify", "--site", "borken")
    assert code == ExitCode.PROBLEMS
    assert verified["missing_households"] == HOUSEHOLDS and verified["documents"] == 0
    assert verified["pages"]["input"] == 0 and verified["batches"] == []
    assert verified["delivery_problems"] == [] and verified["page_count_mismatches"] == []
    assert verified["quarantined_files"] == [] and verified["accounting_errors"] == []
    assert verified["fixity"]["untracked"] == [] and verified["fixity"]["missing"] == []
    assert verified["open_cases"] == 2
    resolved = {c["id"]: c for c in verified["resolved_cases"]}
    assert resolved[problem_case["id"]]["resolution"]["action"] == "withdrawn"
    assert resolved[problem_case["id"]]["resolution"]["by"] == BY
    cases = open_cases(ws)
    assert sorted((c["kind"], c["household"]) for c in cases) == [
        ("missing_household", h) for h in HOUSEHOLDS
    ]
    # rollout: a verification from before the withdrawal no longer holds.
    code, rollout = as_json(ws, "rollout", "status")
    (borken,) = [s for s in rollout["sites"] if s["site"] == "borken"]
    assert borken["households"]["missing"] == 2 and borken["pages"]["input"] == 0
    assert folder_state(delivery) == folder_before  # the delivery folder untouched
    # The tamper-evident log knows that the documents left on purpose: still intact.
    code, audit = as_json(ws, "audit", "verify")
    assert code == ExitCode.OK and audit["intact"], audit["problems"]

    # Refused: twice, and an id esak does not know (the deliveries are listed).
    code, error = as_json(ws, "withdraw", "--delivery", str(did), "--by", BY, "--reason", WHY)
    assert code == ExitCode.USAGE
    assert "withdrawn already" in error["error"] and BY in error["error"]
    assert "esak ingest --site borken" in error["remedy"]
    code, error = as_json(ws, "withdraw", "--delivery", "99", "--by", BY, "--reason", WHY)
    assert code == ExitCode.USAGE and "no delivery 99" in error["error"]
    assert f"borken {did} ({delivery}, withdrawn)" in error["remedy"]
    code, error = as_json(ws, "withdraw", "--delivery", str(did), "--by", " ", "--reason", WHY)
    assert code == ExitCode.USAGE and "--by NAME" in error["error"]
    assert [r[0] for r in sql(ws, "SELECT command FROM runs")].count("withdraw") == 1

    # Ingested again: the same archive as the first time.
    code, report = ingest(ws, delivery)
    assert code == ExitCode.PROBLEMS, report
    assert report["pages"]["input"] == 10 and report["pages"]["archived"] == 4
    assert report["files"]["ingested"] == 2 and report["files"]["withdrawn"] == 2
    assert state(ws) == first
    assert sql(ws, "SELECT withdrawal_id FROM deliveries") == [(None,)]
    code, verified = as_json(ws, "verify", "--site", "borken")
    assert verified["missing_households"] == [] and verified["documents"] == 4
    assert verified["pages"]["input"] == 10
    assert [p["file"] for p in verified["delivery_problems"]] == ["batch_009.pdf"]
    # The delivery's problem is back, and so is its case (the same one, open again).
    assert [c["id"] for c in open_cases(ws)] == [problem_case["id"]]
    assert folder_state(delivery) == folder_before


@pytest.mark.parametrize("then", ["verify", "withdraw", "ingest"])
def test_a_kill_between_commit_and_removal_is_repaired_by_the_next_run(
    then, delivery, ingested, tmp_path
):
    ws = copy_of(ingested, tmp_path)
    did = delivery_id(ws)
    folder = tmp_path / "faults"
    folder.mkdir()
    faults = {"ESAK_FAULTS": "kill:withdraw-committed", "ESAK_FAULTS_DIR": str(folder)}
    args = ("withdraw", "--delivery", str(did), "--by", BY, "--reason", WHY)
    code, _, _ = esak(ws, *args, env=faults)
    assert code == -signal.SIGKILL
    # Committed: the index no longer knows the files; they are still there, the journal too.
    assert sql(ws, "SELECT COUNT(*) FROM documents") == [(0,)]
    assert sorted(json.loads((ws / "commit.journal").read_text())) == ingested[1]["archive"]
    assert len(list((ws / "archive").rglob("*.pdf"))) == 4
    assert sql(ws, "SELECT finished_at FROM runs WHERE command = 'withdraw'") == [(None,)]

    if then == "verify":
        code, out, err = esak(ws, "verify", "--site", "borken", "--json")
        verified = json.loads(out)
        assert code == ExitCode.PROBLEMS, err  # households missing, the archive intact
        assert verified["fixity"]["untracked"] == [] and verified["intact"]
        assert "removed 4 archive file(s) a killed run left uncommitted" in err
    elif then == "withdraw":
        code, error = as_json(ws, *args)
        assert code == ExitCode.USAGE and "withdrawn already" in error["error"]
    else:
        code, report = ingest(ws, delivery)
        assert code == ExitCode.PROBLEMS, report
        assert any("left uncommitted" in n for n in report["notes"])
        assert state(ws) == ingested[1]  # the same archive as before the withdrawal
        return
    assert not any((ws / "archive").rglob("*.pdf"))
    assert not (ws / "commit.journal").exists()


def test_a_site_verified_before_a_withdrawal_is_not_verified_after_it(ingested, tmp_path):
    ws = copy_of(ingested, tmp_path)
    (problem,) = open_cases(ws)
    code, _ = as_json(ws, "clarify", "close", str(problem["id"]), "--by", BY, "--reason", WHY)
    assert code == 0
    code, verified = as_json(ws, "verify", "--site", "borken")
    assert code == ExitCode.OK, verified
    code, rollout = as_json(ws, "rollout", "status")
    # Verified (not live: its paper is not released, else it could not be withdrawn).
    assert [s["state"] for s in rollout["sites"] if s["site"] == "borken"] == ["verified"]
    code, result = as_json(ws, "withdraw", "--delivery", str(delivery_id(ws)), "--by", BY,
                           "--reason", WHY)  # fmt: skip
    assert code == ExitCode.OK
    code, rollout = as_json(ws, "rollout", "status")
    (borken,) = [s for s in rollout["sites"] if s["site"] == "borken"]
    assert borken["state"] == "importing" and borken["last_ingest"] == result["at"]
    assert borken["households"] == {"expected": 2, "archived": 0, "missing": 2, "unexpected": 0}
    assert "not verified since the last ingest" in [b["reason"] for b in borken["blockers"]]


def test_a_delivery_that_holds_another_s_only_copy_is_withdrawn_after_it(
    delivery, ingested, tmp_path
):
    """A second delivery repeats a file of the first: it was recorded as a duplicate, not
    archived. Withdrawing the first alone would leave that file's pages nowhere."""
    ws = copy_of(ingested, tmp_path)
    first = delivery_id(ws)
    again = tmp_path / "again"
    again.mkdir()
    shutil.copy(delivery / "batch_002.pdf", again / "batch_002.pdf")
    code, report = ingest(ws, again)
    assert code == ExitCode.PROBLEMS and report["files"]["duplicate"] == 1
    ((second,),) = sql(ws, "SELECT id FROM deliveries WHERE id != ?", [first])
    before = state(ws)
    code, error = as_json(ws, "withdraw", "--delivery", str(first), "--by", BY, "--reason", WHY)
    assert code == ExitCode.PROBLEMS
    assert f"batch_002.pdf (delivery {second})" in error["error"]
    assert f"esak withdraw --delivery {second}" in error["remedy"]
    assert state(ws) == before and sql(ws, "SELECT COUNT(*) FROM withdrawals") == [(0,)]
    # In that order, both go; the second delivery ingested again is archived itself.
    for did in (second, first):
        code, _ = as_json(ws, "withdraw", "--delivery", str(did), "--by", BY, "--reason", WHY)
        assert code == ExitCode.OK
    code, report = ingest(ws, again)
    assert report["files"]["ingested"] == 1 and report["households"] == [HOUSEHOLDS[1]]


def test_a_kept_blank_page_s_old_version_stays_on_record(ingested, tmp_path):
    """``blanks keep`` replaced a document and kept the old version's hash: after the
    withdrawal that record names the withdrawn document, and no reference is broken."""
    ws = copy_of(ingested, tmp_path)
    code, kept = as_json(ws, "blanks", "keep", "--site", "borken", "--file", "batch_001.pdf",
                         "--page", "5")  # fmt: skip
    assert code == ExitCode.OK, kept
    ((old_sha, doc_id),) = sql(ws, "SELECT sha256, document_id FROM superseded_documents")
    code, result = as_json(ws, "withdraw", "--delivery", str(delivery_id(ws)), "--by", BY,
                           "--reason", WHY)  # fmt: skip
    assert code == ExitCode.OK, result
    rows = sql(ws, "SELECT s.sha256, s.document_id, w.document_id, w.sha256 FROM "
                   "superseded_documents s JOIN withdrawn_documents w "
                   "ON w.id = s.withdrawn_document_id")  # fmt: skip
    assert rows == [(old_sha, None, doc_id, kept["documents"][0]["sha256"])]
    assert sql(ws, "PRAGMA foreign_key_check") == []


def test_the_migration_keeps_superseded_versions(tmp_path):
    """An index of schema 5 with a superseded version: migrated, the row is still there."""
    from esak.index.db import MIGRATIONS, Index

    path = tmp_path / "index.sqlite"
    db = sqlite_utils.Database(path)
    for migration in MIGRATIONS[:5]:
        migration(db)
    db.execute("PRAGMA user_version=5")
    db.execute("INSERT INTO deliveries VALUES (1, 'borken', '/d', 't', 't', NULL)")
    db.execute("INSERT INTO input_files (id, delivery_id, site, relpath, format, outcome, "
               "ingested_at) VALUES (1, 1, 'borken', 'a.pdf', 'pdf', 'ingested', 't')")  # fmt: skip
    db.execute("INSERT INTO documents VALUES (7, 'borken', '95401BG0000501', 1, 1, NULL, "
               "'p.pdf', 2, 10, 'new', '2B', 5, 1, 't')")  # fmt: skip
    db.execute("INSERT INTO superseded_documents VALUES (1, 7, 'p.pdf', 'old', 9, 1, 4, 't', "
               "NULL, 'kept')")  # fmt: skip
    db.conn.commit()
    db.close()
    with Index.open(path) as index:
        assert index.schema_version == len(MIGRATIONS) >= 6
        rows = index.db.execute("SELECT id, document_id, withdrawn_document_id, sha256 FROM "
                                "superseded_documents").fetchall()  # fmt: skip
        assert rows == [(1, 7, None, "old")]
        with pytest.raises(sqlite3.IntegrityError):  # one of the two, never neither
            index.db.execute("UPDATE superseded_documents SET document_id = NULL")

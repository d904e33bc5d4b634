"""Night runs that survive: kill -9, a second run, deadlines and signals, crashing and hanging
workers, a full disk. Real ingest runs (as subprocesses, like cron starts them) on a small
delivery; faults are injected with ESAK_FAULTS (esak/faults.py) or a broken `tesseract`.

Each interrupted run is then run again, and the result must be exactly that of a run that
was never interrupted: the same documents, pages and outcomes, nothing twice, no stray file.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pikepdf
import pytest

from esak.errors import ExitCode
from esak.synthetic import (
    random_person,
    render_blank_page,
    render_content_page,
    render_cover_sheet,
    render_separator,
)
from tests.conftest import PEAK_LIMIT_KIB, form_bomb, run_with_peak, write_pdf

pytestmark = pytest.mark.slow

DPI = 150
#: Two batch files are enough for every fault point below (the second file, the third
#: document), and each ingest of them OCRs a third less than three would.
HOUSEHOLDS = ["95401BG0000301", "95401BG0000302"]


@pytest.fixture(scope="module")
def delivery(tmp_path_factory) -> Path:
    """Two batch files, one household each: cover, page, separator, page, blank back side."""
    folder = tmp_path_factory.mktemp("night") / "delivery"
    folder.mkdir()
    rng = random.Random(11)
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
    return folder


def esak(ws: Path, *args: str, env: dict[str, str] | None = None, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "esak", "--workspace", str(ws), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        **kw,
    )


def ingest(ws: Path, delivery: Path, *extra: str, env=None, timeout=300):
    proc = esak(ws, "ingest", "--site", "borken", str(delivery), "--json", *extra, env=env)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def faults(tmp_path: Path, spec: str) -> dict[str, str]:
    folder = tmp_path / "faults"
    folder.mkdir(exist_ok=True)
    return {"ESAK_FAULTS": spec, "ESAK_FAULTS_DIR": str(folder)}


def state(ws: Path) -> dict:
    """What a run leaves, minus what differs by nature (ids, times, OCR output bytes)."""
    db = sqlite3.connect(ws / "index.sqlite")
    try:
        docs = db.execute(
            "SELECT household, volume, seq, doc_type, pages, path FROM documents ORDER BY path"
        ).fetchall()
        pages = db.execute(
            "SELECT f.relpath, p.page_index, p.kind, p.outcome, p.household, d.path, "
            "p.document_page FROM pages p JOIN input_files f ON f.id = p.file_id "
            "LEFT JOIN documents d ON d.id = p.document_id ORDER BY f.relpath, p.page_index"
        ).fetchall()
        files = db.execute(
            "SELECT relpath, outcome, page_count FROM input_files ORDER BY relpath, id"
        ).fetchall()
    finally:
        db.close()
    archive = sorted(p.relative_to(ws / "archive").as_posix() for p in (ws / "archive").rglob("*")
                     if p.is_file())  # fmt: skip
    for rel in archive:
        with pikepdf.open(ws / "archive" / rel) as pdf:  # never a half-written file
            assert pdf.open_metadata().pdfa_status == "2B"
    return {"documents": docs, "pages": pages, "files": files, "archive": archive}


def clean(ws: Path) -> None:
    """Nothing left behind: no temporary file, no journal, no held lock."""
    assert list((ws / "tmp").iterdir()) == []
    assert not (ws / "commit.journal").exists()
    assert (ws / "esak.lock").read_text() == ""


@pytest.fixture(scope="module")
def reference(delivery, tmp_path_factory):
    ws = tmp_path_factory.mktemp("reference") / "ws"
    code, out, err = ingest(ws, delivery)
    assert code == ExitCode.OK, err
    report = json.loads(out)
    assert report["pages"]["archived"] == 4 and report["households"] == HOUSEHOLDS
    # No terminal: one log line per file, with the running totals, instead of a bar.
    lines = [line for line in err.splitlines() if ": 5 pages, ingested · " in line]
    assert len(lines) == 2, err
    assert {re.search(r"(batch_00\d\.pdf)", line).group(1) for line in lines} == {
        "batch_001.pdf", "batch_002.pdf"
    }  # fmt: skip
    assert "2 of 2 files, 10 of 10 pages" in lines[-1]
    assert re.match(r"\d\d:\d\d:\d\d ", lines[0])
    return state(ws)


def runs(ws: Path) -> list[tuple]:
    db = sqlite3.connect(ws / "index.sqlite")
    try:
        return db.execute(
            "SELECT command, outcome, exit_code, finished_at IS NOT NULL, os_user, options "
            "FROM runs ORDER BY id"
        ).fetchall()
    finally:
        db.close()


# --- kill -9 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "point",
    [
        "kill:classified@1",  # after the first batch is classified, before any OCR
        "kill:ocr-done@3",  # in the middle of OCR: one file committed, documents in flight
        "kill:moved@2",  # between moving a file's PDFs into the archive and committing it
    ],
)
def test_killed_run_is_finished_by_the_next_one(point, delivery, reference, tmp_path):
    ws = tmp_path / "ws"
    code, _, _ = ingest(ws, delivery, env=faults(tmp_path, point))
    assert code == -signal.SIGKILL
    assert runs(ws)[-1][3] == 0  # the killed run's row has no end: it never finished
    code, out, err = ingest(ws, delivery)
    assert code == ExitCode.OK, err
    assert state(ws) == reference
    clean(ws)
    report = json.loads(out)
    assert any("took over the lock" in n for n in report["notes"])
    if point.startswith("kill:moved"):
        assert any("uncommitted" in n for n in report["notes"])


def _family(pid: int) -> set[int]:
    """``pid``'s descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_workers_do_not_outlive_a_coordinator_killed_with_minus_9(delivery, tmp_path):
    """A worker of a coordinator that died would OCR on for nobody, holding its files."""
    env = faults(tmp_path, "hang:worker-doc@1")
    proc = esak(tmp_path / "ws", "ingest", "--site", "borken", str(delivery), "--json", env=env)
    deadline = time.monotonic() + 120
    while not (tmp_path / "faults" / "worker-doc").exists():  # a worker is in its document
        assert time.monotonic() < deadline and proc.poll() is None, "no document started"
        time.sleep(0.1)
    family = _family(proc.pid)
    assert len(family) >= 2  # two workers
    proc.kill()
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in family):
        assert time.monotonic() < deadline, [p for p in family if _alive(p)]
        time.sleep(0.2)


def test_a_worker_killed_mid_document_is_retried(delivery, reference, tmp_path):
    ws = tmp_path / "ws"
    code, _, err = ingest(ws, delivery, env=faults(tmp_path, "kill:worker-doc@2"))
    assert code == ExitCode.OK, err
    assert state(ws) == reference
    clean(ws)


def test_a_worker_killed_while_counting_a_file_s_pages_is_retried(delivery, reference, tmp_path):
    """The coordinator never opens a delivery file itself: a file that kills the process
    reading it (here: the first one counted) takes a worker, which is replaced."""
    ws = tmp_path / "ws"
    code, _, err = ingest(ws, delivery, "--quiet", env=faults(tmp_path, "kill:worker-count@1"))
    assert code == ExitCode.OK, err
    assert state(ws) == reference
    assert "pages, ingested" not in err  # --quiet: no log lines, only the summary
    assert "ingest of" in err
    clean(ws)


def test_a_file_that_kills_every_reader_is_set_aside_and_the_rest_archived(tmp_path, delivery):
    single = tmp_path / "delivery"
    single.mkdir()
    shutil.copy(delivery / "batch_001.pdf", single / "batch_001.pdf")
    ws = tmp_path / "ws"
    # Every attempt at counting dies: the file is set aside, the run itself ends normally.
    spec = ",".join(f"kill:worker-count@{n}" for n in range(1, 6))
    code, out, err = ingest(ws, single, env=faults(tmp_path, spec))
    assert code == ExitCode.PROBLEMS, err
    report = json.loads(out)
    (aside,) = report["quarantined_files"]
    assert aside["file"] == "batch_001.pdf" and "could not be read" in aside["reason"]
    assert report["files"]["quarantined"] == 1
    clean(ws)


# --- a second run, stale locks -----------------------------------------------------------------


def test_a_second_run_is_refused_naming_the_first(delivery, reference, tmp_path):
    ws = tmp_path / "ws"
    first = esak(ws, "ingest", "--site", "borken", str(delivery),
                 env=faults(tmp_path, "hang:classified@1"))  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lock = ws / "esak.lock"
            if lock.exists() and f"pid {first.pid}" in lock.read_text():
                break
            time.sleep(0.2)
        code, out, _ = ingest(ws, delivery)
        assert code == ExitCode.LOCKED
        error = json.loads(out)
        assert f"pid {first.pid}" in error["error"] and "ingest" in error["error"]
        assert "esak.lock" in error["remedy"]
    finally:
        first.kill()
        first.communicate()
    code, out, err = ingest(ws, delivery)
    assert code == ExitCode.OK, err
    assert any(f"pid {first.pid}" in n for n in json.loads(out)["notes"])
    assert state(ws) == reference


# --- deadlines and signals ---------------------------------------------------------------------


def test_a_deadline_stops_with_exit_7_and_the_next_night_goes_on(delivery, reference, tmp_path):
    ws = tmp_path / "ws"
    started = time.monotonic()
    # Every page takes 5 s more: with tesserocr the whole delivery is read within the 3 s.
    slow = faults(tmp_path, "slow:tesseract-page@*")
    code, out, err = ingest(ws, delivery, "--max-minutes", "0.05", env=slow)  # 3 seconds
    assert code == ExitCode.STOPPED, err
    assert time.monotonic() - started < 90  # the 30 s grace, then the workers are stopped
    error = json.loads(out)
    assert "deadline" in error["error"] and "again" in error["remedy"]
    clean(ws)
    assert runs(ws)[-1][1:3] == ("stopped", ExitCode.STOPPED)
    # A bare time two hours ahead (a bare time 20 hours or more ahead is refused).
    in_two_hours = time.strftime("%H:%M", time.localtime(time.time() + 2 * 3600))
    code, _, err = ingest(ws, delivery, "--until", in_two_hours)
    assert code == ExitCode.OK, err
    assert state(ws) == reference


def test_sigterm_and_ctrl_c_stop_cleanly(delivery, reference, tmp_path):
    """SIGTERM stops a run, Ctrl-C (SIGINT) the run that goes on from it; the third finishes.

    A stop lets only the work in flight finish: the first run commits at most the file whose
    documents were being built (two workers, two documents a file), so the second one has
    OCR of its own to be stopped in."""
    ws = tmp_path / "ws"
    for signum, name in ((signal.SIGTERM, "SIGTERM"), (signal.SIGINT, "Ctrl-C")):
        proc = esak(ws, "ingest", "--site", "borken", str(delivery), "--json")
        deadline = time.monotonic() + 120
        # Wait until OCR is under way: a document being built in the run's tmp folder.
        while time.monotonic() < deadline and not any((ws / "tmp").glob("run-*/doc-*")):
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == ExitCode.STOPPED, err
        assert name in json.loads(out)["error"]
        clean(ws)
    code, _, err = ingest(ws, delivery)
    assert code == ExitCode.OK, err
    assert state(ws) == reference


# --- workers that crash or hang ----------------------------------------------------------------

FAKE_TESSERACT = """#!/bin/sh
# Passes version and language queries and orientation checks to the real Tesseract; for
# recognition it crashes (SIGSEGV) or hangs while it can take a token. A token is a file in
# $FAKE_TOKENS, taken by removing it: rm succeeds for one process only, so tesseracts running
# side by side can neither take the same token nor lose the rest (a shared counter file
# rewritten by each of them once lost its count to a race and let recognition through).
# Without $FAKE_TOKENS every call fails.
case "$*" in
  *--version*|*--list-langs*|*--print-parameters*|*"--psm 0"*) exec /usr/bin/tesseract "$@";;
esac
take_token() {
  [ -z "$FAKE_TOKENS" ] && return 0
  for token in "$FAKE_TOKENS"/*; do
    rm "$token" 2>/dev/null && return 0
  done
  return 1
}
if take_token; then
  if [ "$FAKE_MODE" = hang ]; then exec sleep 600; fi
  kill -SEGV $$
fi
exec /usr/bin/tesseract "$@"
"""


def fake_tesseract(tmp_path: Path, mode: str, tokens: int | None) -> dict[str, str]:
    """A `tesseract` first on PATH that fails `tokens` recognition calls, or all when None."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "tesseract"
    script.write_text(FAKE_TESSERACT)
    script.chmod(0o755)
    env = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_MODE": mode,
        "FAKE_TOKENS": "",
        "ESAK_TESSERACT": "cli",  # a process per page, the one on PATH
    }
    if tokens is not None:
        budget = tmp_path / "tokens"
        budget.mkdir()
        for n in range(tokens):
            (budget / str(n)).touch()
        env["FAKE_TOKENS"] = str(budget)
    return env


def test_tesseract_crashing_once_is_retried(delivery, reference, tmp_path):
    ws = tmp_path / "ws"
    code, _, err = ingest(ws, delivery, env=fake_tesseract(tmp_path, "crash", 1))
    assert code == ExitCode.OK, err
    assert state(ws) == reference


def test_tesseract_crashing_always_sets_documents_aside_and_the_run_goes_on(delivery, tmp_path):
    ws = tmp_path / "ws"
    code, out, err = ingest(ws, delivery, env=fake_tesseract(tmp_path, "crash", None))
    assert code == ExitCode.PROBLEMS, err
    report = json.loads(out)
    assert report["pages"]["archived"] == 0
    assert report["pages"]["quarantined"] == 4  # every content page, with its reason
    assert report["pages"]["input"] == 10
    assert all("could not be archived" in q["reason"] for q in report["quarantined_pages"])
    assert all("OCR failed" in q["reason"] for q in report["quarantined_pages"])
    clean(ws)


def test_tesseract_in_the_worker_crashing_once_is_retried(delivery, reference, tmp_path):
    """Tesseract inside the worker (tesserocr) that crashes takes the worker with it."""
    ws = tmp_path / "ws"
    code, _, err = ingest(ws, delivery, env=faults(tmp_path, "kill:tesseract-page@1"))
    assert code == ExitCode.OK, err
    assert state(ws) == reference


def test_tesseract_in_the_worker_crashing_always_sets_documents_aside(delivery, tmp_path):
    ws = tmp_path / "ws"
    code, out, err = ingest(ws, delivery, env=faults(tmp_path, "kill:tesseract-page@*"))
    assert code == ExitCode.PROBLEMS, err
    report = json.loads(out)
    assert report["pages"]["archived"] == 0
    assert report["pages"]["quarantined"] == 4
    assert report["pages"]["input"] == 10
    assert all("worker process died" in q["reason"] for q in report["quarantined_pages"]), out
    clean(ws)


def test_a_hanging_document_is_stopped_retried_and_then_archived(
    delivery, reference, tmp_path, monkeypatch
):
    """The coordinator's watchdog: a worker stuck in our own code, not in Tesseract."""
    from esak.migrate.ingest import ingest_delivery
    from esak.profiles import load_profile
    from esak.workspace import Workspace

    for key, value in faults(tmp_path, "hang:worker-doc@1").items():
        monkeypatch.setenv(key, value)
    # A document of one page may take 6 s + 4 s: the hang (an hour) is stopped after 10 s,
    # while a real page (1-3 s of Tesseract on a busy machine) has room to spare.
    report = ingest_delivery(
        Workspace(tmp_path / "ws"), load_profile("borken"), delivery,
        page_timeout_s=6, document_slack_s=4,
    )  # fmt: skip
    assert report.ok
    assert state(tmp_path / "ws") == reference


def test_a_page_tesseract_cannot_finish_is_set_aside_after_two_tries(
    delivery, tmp_path, monkeypatch
):
    from esak.migrate.ingest import ingest_delivery
    from esak.profiles import load_profile
    from esak.workspace import Workspace

    # One batch (two documents) is enough: the first takes both hanging calls (one worker,
    # and a retry goes before the queue) and is set aside; the second is archived.
    single = tmp_path / "delivery"
    single.mkdir()
    shutil.copy(delivery / "batch_001.pdf", single / "batch_001.pdf")
    for key, value in fake_tesseract(tmp_path, "hang", 2).items():
        monkeypatch.setenv(key, value)
    report = ingest_delivery(
        Workspace(tmp_path / "ws"), load_profile("borken"), single, workers=1,
        page_timeout_s=3, document_slack_s=5,
    )  # fmt: skip
    # esak stops each Tesseract call after 3 s (OCRmyPDF's own limit where OCRmyPDF does a
    # document); the coordinator's watchdog (3 s a page + 5 s) catches whatever else hangs.
    reasons = [q["reason"] for q in report.quarantined_pages]
    assert len(reasons) == 1 and "took longer than" in reasons[0]
    assert report.pages["archived"] == 1


# --- a full disk ------------------------------------------------------------------------------


@pytest.mark.parametrize("point", ["enospc:worker-doc@2", "enospc:moved@2"])
def test_a_full_disk_stops_cleanly_and_resumes(point, delivery, reference, tmp_path):
    """A full disk at ``point``, the run after it, and the audit log of both runs (see
    :func:`audit_log_records_every_run_and_its_outcome`)."""
    ws = tmp_path / "ws"
    code, out, err = ingest(ws, delivery, env=faults(tmp_path, point))
    assert code == ExitCode.DISK_FULL, err
    error = json.loads(out)
    assert "space" in error["error"] or "full" in error["error"]
    assert "free space" in error["remedy"]
    clean(ws)
    # What was committed before is whole; nothing of the failed file is counted.
    partial = state(ws)
    assert set(partial["documents"]) <= set(reference["documents"])
    assert partial["archive"] == [d[5] for d in partial["documents"]]
    code, _, err = ingest(ws, delivery)
    assert code == ExitCode.OK, err
    assert state(ws) == reference
    audit_log_records_every_run_and_its_outcome(ws, delivery)


def test_a_really_full_disk(delivery, reference, tmp_path):
    """The workspace on a small tmpfs: the documents and their intermediates do not fit;
    then it is enlarged."""
    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True)  # fmt: skip
    if done.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root)")
    try:
        ws = mount / "ws"
        code, out, err = ingest(ws, delivery)
        assert code == ExitCode.DISK_FULL, (code, out, err)
        assert "free space" in json.loads(out)["remedy"]
        subprocess.run(["mount", "-o", "remount,size=400m", str(mount)], check=True)
        code, _, err = ingest(ws, delivery)
        assert code == ExitCode.OK, err
        assert state(ws) == reference
        clean(ws)
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


# --- the audit log ----------------------------------------------------------------------------


def audit_log_records_every_run_and_its_outcome(ws: Path, delivery: Path) -> None:
    """The audit log after a run that met a full disk and the run that finished it: both,
    and a verify after them, each with its outcome and who ran it. Checked by the full-disk
    test above on its own two runs: a test of its own would ingest twice more for the same."""
    proc = esak(ws, "verify", "--site", "borken")
    proc.communicate()
    rows = runs(ws)
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("ingest", "disk_full", ExitCode.DISK_FULL),
        ("ingest", "ok", 0),
        ("verify", "incomplete", ExitCode.PROBLEMS),  # no expected list: not complete
    ]
    assert all(r[3] and r[4] for r in rows)  # finished, and by whom
    assert str(delivery) in rows[0][5]


# --- memory -----------------------------------------------------------------------------------


def test_a_page_built_to_exhaust_memory_is_set_aside_under_2_gb(delivery, tmp_path):
    folder = tmp_path / "delivery"
    folder.mkdir()
    (folder / "batch_001.pdf").write_bytes((delivery / "batch_001.pdf").read_bytes())
    form_bomb(folder / "batch_002.pdf")
    ws = tmp_path / "ws"
    command = [sys.executable, "-m", "esak", "--workspace", str(ws), "ingest", "--site",
               "borken", str(folder)]  # fmt: skip
    done, peak_kib = run_with_peak(command, timeout=600)
    assert done.returncode == ExitCode.PROBLEMS
    assert peak_kib < PEAK_LIMIT_KIB  # every process of the run, each below 2 GB
    report = json.loads(esak(ws, "verify", "--site", "borken", "--json").communicate()[0])
    bomb = [q for q in report["quarantined_pages"] if q["file"] == "batch_002.pdf"]
    assert bomb and "worker process died" in bomb[0]["reason"]
    assert bomb[0].keys() == {"delivery", "file", "pages", "reason"}
    assert report["pages"]["archived"] == 2 and report["batches"][1]["balanced"]

"""Ingest on a Dask cluster: the same result as local worker processes, whatever goes wrong.

A module-wide LocalCluster (two worker processes, one thread each, ``allowed-failures`` 0)
stands for the Jobcenter's machines; each ingest connects to it as to any scheduler. Real
OCR on small deliveries; faults come from ESAK_FAULTS (esak/faults.py), which the pool hands
to each task on the workers. One test starts `dask scheduler` and two `dask worker`
processes of its own, as an admin would on the machines.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from esak.cli import cli
from esak.errors import ExitCode, StoppedError
from esak.migrate import dask_pool
from esak.migrate.dask_pool import Cluster, DaskPool
from esak.migrate.ingest import ingest_delivery
from esak.profiles import load_profile
from esak.synthetic import (
    random_person,
    render_blank_page,
    render_content_page,
    render_cover_sheet,
    render_separator,
)
from esak.workspace import Workspace
from tests.conftest import write_pdf

distributed = pytest.importorskip("distributed")  # installed by make test (requirements.lock)

pytestmark = pytest.mark.slow

DPI = 150
HOUSEHOLDS = ["95401BG0000501", "95401BG0000502", "95401BG0000503", "95401BG0000504"]
BIN = Path(sys.executable).parent


def _local_cluster() -> distributed.LocalCluster:
    """Two worker processes, one thread each, a nanny each; a worker's death is not retried
    by Dask (allowed-failures 0) but reaches esak."""
    import dask

    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        return distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        )


@pytest.fixture(scope="module")
def cluster():
    local = _local_cluster()
    try:
        yield local
    finally:
        local.close()


@pytest.fixture
def restartable():
    """A cluster of its own, for a test that has workers restarted: a nanny that Dask closes
    in a restart (its own restart racing the one asked for, seen under load) must not leave
    the next tests with one worker."""
    local = _local_cluster()
    try:
        with distributed.Client(local.scheduler_address, set_as_default=False) as c:
            c.wait_for_workers(2, timeout=60)
        yield local
    finally:
        local.close()


@pytest.fixture
def client(cluster):
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as c:
        c.wait_for_workers(2, timeout=60)  # a test before may have had one restarted
        yield c


@pytest.fixture(scope="module")
def delivery(tmp_path_factory) -> Path:
    """Every kind of input, small: a PDF batch (cover, page, separator, page, blank back
    side), a TIFF batch, a folder of PNG and JPEG pages, a household PDF and a broken file."""
    folder = tmp_path_factory.mktemp("dask") / "delivery"
    folder.mkdir()
    rng = random.Random(16)
    people = [random_person(rng) for _ in HOUSEHOLDS]

    def page(n: int, kind: str = "schreiben"):
        return render_content_page(rng, kind, dpi=DPI, person=people[n], household=HOUSEHOLDS[n])

    cover = [render_cover_sheet(h, site="borken", dpi=DPI, rng=rng) for h in HOUSEHOLDS]
    write_pdf([cover[0], page(0), render_separator("PATCHT", dpi=DPI, rng=rng),
               page(0, "lohnabrechnung"), render_blank_page(rng, dpi=DPI)],
              folder / "box01" / "batch_001.pdf", DPI)  # fmt: skip
    cover[1].save(folder / "box01" / "batch_002.tif", "TIFF", save_all=True,
                  append_images=[page(1)], compression="tiff_lzw", dpi=(DPI, DPI))  # fmt: skip
    images = folder / "box02" / "batch_003"
    images.mkdir(parents=True)
    cover[2].save(images / "0001.png", "PNG", dpi=(DPI, DPI))
    page(2).save(images / "0002.jpg", "JPEG", quality=90, dpi=(DPI, DPI))
    write_pdf([page(3)], folder / f"{HOUSEHOLDS[3]}.pdf", DPI)
    (folder / "box02" / "batch_004.pdf").write_bytes(b"%PDF-1.4 broken in transfer")
    return folder


def ingest(ws: Path, delivery: Path, scheduler=None, **kw):
    return ingest_delivery(
        Workspace(ws), load_profile("borken"), delivery, scheduler=scheduler, **kw
    )


@pytest.fixture(scope="module")
def reference(delivery, tmp_path_factory):
    """The small delivery ingested by local worker processes."""
    ws = tmp_path_factory.mktemp("reference") / "ws"
    report = ingest(ws, delivery, workers=2)
    assert report.pages == {"input": 10, "archived": 5, "cover": 3, "separator": 1, "blank": 1,
                            "quarantined": 0, "discarded": 0}, report.pages  # fmt: skip
    assert [f["file"] for f in report.to_dict()["quarantined_files"]] == ["box02/batch_004.pdf"]
    assert report.households == HOUSEHOLDS
    return state(ws), report.pages


def state(ws: Path) -> dict:
    """Every index row ingest writes, minus what differs by nature: ids, run ids, times, and
    the bytes of the OCR output (its hash and size); rows by what they are about."""
    db = sqlite3.connect(ws / "index.sqlite")
    queries = {
        "files": "SELECT relpath, format, sha256, size, page_count, outcome, reason, scanned_at,"
        " scanner FROM input_files ORDER BY relpath",
        "pages": "SELECT f.relpath, p.page_index, p.kind, p.barcodes, p.detected_by, p.outcome,"
        " p.household, p.volume, d.path, p.document_page, p.reason, p.rotation FROM pages p"
        " JOIN input_files f ON f.id = p.file_id LEFT JOIN documents d ON d.id = p.document_id"
        " ORDER BY f.relpath, p.page_index",
        "documents": "SELECT d.site, d.household, d.volume, d.seq, d.doc_type, d.path, d.pages,"
        " d.pdfa, d.text_chars, f.relpath, d.engine FROM documents d JOIN input_files f"
        " ON f.id = d.file_id ORDER BY d.path",
        "sections": "SELECT f.relpath, s.site, s.household, s.volume, s.cover_page,"
        " s.declared_pages, s.found_pages FROM sections s JOIN input_files f ON f.id = s.file_id"
        " ORDER BY f.relpath, s.cover_page",
        "quarantine": "SELECT q.site, f.relpath, q.first_page, q.last_page, q.reason FROM"
        " quarantine q LEFT JOIN input_files f ON f.id = q.file_id ORDER BY f.relpath,"
        " q.first_page",
        "cases": "SELECT site, kind, status, file, first_page, last_page, household, volume,"
        " detail FROM cases ORDER BY kind, file, first_page, household",
        "problems": "SELECT file, problem FROM delivery_problems ORDER BY file, problem",
        "text": "SELECT d.path, t.page, t.site, t.household, t.text, t.plain FROM page_text t"
        " JOIN documents d ON d.id = t.document_id ORDER BY d.path, t.page",
        "deliveries": "SELECT site, path, scanned_on, kind FROM deliveries ORDER BY path",
    }
    try:
        rows = {name: db.execute(sql).fetchall() for name, sql in queries.items()}
    finally:
        db.close()
    rows["archive"] = sorted(
        p.relative_to(ws / "archive").as_posix() for p in (ws / "archive").rglob("*.pdf")
    )
    return rows


def clean(ws: Path) -> None:
    """Nothing left behind: no temporary file, no journal, no held lock."""
    assert list((ws / "tmp").iterdir()) == []
    assert not (ws / "commit.journal").exists()
    assert (ws / "esak.lock").read_text() == ""


def faults(monkeypatch, tmp_path: Path, spec: str) -> Path:
    folder = tmp_path / "faults"
    folder.mkdir(exist_ok=True)
    monkeypatch.setenv("ESAK_FAULTS", spec)
    monkeypatch.setenv("ESAK_FAULTS_DIR", str(folder))
    return folder


def pids(client) -> dict[str, int]:
    return client.run(os.getpid)


def alive(pid: int) -> bool:
    """Running (a zombie nobody reaped yet counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def _stat(entry: Path) -> list[str] | None:
    try:
        fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields


def children() -> set[int]:
    """This process's living children."""
    me = str(os.getpid())
    return {int(e.name) for e in Path("/proc").iterdir()
            if e.name.isdigit() and (_stat(e) or [None, None])[1] == me}  # fmt: skip


def group_members(pgid: int) -> list[int]:
    return [int(e.name) for e in Path("/proc").iterdir()
            if e.name.isdigit() and (_stat(e) or [0, 0, -1])[2] == str(pgid)]  # fmt: skip


# --- the same result --------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [None, "kill:worker-doc@2"], ids=["as-is", "worker-killed"])
def test_a_delivery_ingested_on_dask_is_the_one_ingested_locally(
    fault, delivery, reference, cluster, tmp_path, monkeypatch
):
    """Every kind of input: the bytes go to the workers, the PDFs come back; page accounting,
    index rows, OCR text and archive paths as with local worker processes — also when a
    worker is killed mid-document (its document is retried)."""
    if fault:
        faults(monkeypatch, tmp_path, fault)
    ws = tmp_path / "ws"
    report = ingest(ws, delivery, Cluster(cluster.scheduler_address))
    assert report.pages == reference[1]
    assert state(ws) == reference[0]
    clean(ws)


def test_a_hung_task_restarts_only_its_worker_and_is_set_aside_after_the_retry(
    restartable, tmp_path, monkeypatch
):
    cluster = restartable
    with distributed.Client(cluster.scheduler_address, set_as_default=False) as client:
        _hung_task_restarts_only_its_worker(cluster, client, tmp_path, monkeypatch)


def _hung_task_restarts_only_its_worker(cluster, client, tmp_path, monkeypatch):
    folder = tmp_path / "delivery"
    folder.mkdir()
    rng = random.Random(3)
    pages = [
        render_cover_sheet(HOUSEHOLDS[0], site="borken", dpi=DPI, rng=rng),
        render_content_page(
            rng, "schreiben", dpi=DPI, person=random_person(rng), household=HOUSEHOLDS[0]
        ),
    ]
    write_pdf(pages, folder / "batch_001.pdf", DPI)
    faults(monkeypatch, tmp_path, "hang:worker-doc@1,hang:worker-doc@2")
    restarted: list[tuple[list[str], bool]] = []
    restart = DaskPool._restart

    def restart_and_look(pool, workers):
        others = {a: p for a, p in pids(client).items() if a not in workers}
        restart(pool, workers)
        now = pids(client)
        restarted.append((workers, all(now.get(a) == p for a, p in others.items())))

    monkeypatch.setattr(DaskPool, "_restart", restart_and_look)
    before = pids(client)
    ws = tmp_path / "ws"
    started = time.monotonic()
    report = ingest(
        ws, folder, Cluster(cluster.scheduler_address), page_timeout_s=2, document_slack_s=2
    )
    assert time.monotonic() - started < 60
    (aside,) = report.quarantined_pages
    assert "took longer than 4 s" in aside["reason"] and report.pages["archived"] == 0
    # Each time only the hung task's worker, never the cluster: the other one ran on.
    assert [(len(w), untouched) for w, untouched in restarted] == [(1, True), (1, True)]
    client.wait_for_workers(2, timeout=60)
    after = pids(client)
    assert len(after) == 2
    gone = set(before.values()) - set(after.values())
    assert gone and not any(alive(pid) or group_members(pid) for pid in gone)
    clean(ws)


def _start_a_program_and_hang(pid_file: str) -> None:
    program = subprocess.Popen(["sleep", "300"])
    Path(pid_file).write_text(str(program.pid))
    time.sleep(3600)


def _start_a_program_and_die(pid_file: str) -> None:
    program = subprocess.Popen(["sleep", "300"])
    Path(pid_file).write_text(str(program.pid))
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("how", ["hung", "died"])
def test_the_programs_a_task_started_die_with_its_worker(how, restartable, tmp_path):
    """Tesseract and Ghostscript stand-in: a `sleep` the task started. A hung worker is
    restarted with its whole process group; a dead one's group is killed by its nanny."""
    cluster = restartable
    pool = DaskPool(Cluster(cluster.scheduler_address, shared_path=True))
    pid_file = tmp_path / "pid"
    try:
        fn = _start_a_program_and_hang if how == "hung" else _start_a_program_and_die
        future = pool.submit(fn, str(pid_file))
        deadline = time.monotonic() + 30
        while not pid_file.exists() or not pid_file.read_text():
            assert time.monotonic() < deadline
            time.sleep(0.1)
        program = int(pid_file.read_text())
        if how == "hung":
            assert alive(program)
            running = [w["running"] for w in dask_pool.cluster_status(cluster.scheduler_address)
                       .to_dict()["workers"]]  # fmt: skip
            assert sorted(map(len, running)) == [0, 1] and "esak-str-" in str(running)
            assert pool.stop(future) == []
        else:
            with pytest.raises(dask_pool.WorkerLost):
                future.result(timeout=30)
            assert pool.lost(future.exception()) == "worker"
        deadline = time.monotonic() + 10
        while alive(program):
            assert time.monotonic() < deadline, "the program outlived its worker"
            time.sleep(0.1)
    finally:
        pool.close()


def _worker_state() -> tuple:
    log = logging.getLogger("ocrmypdf")
    return (
        resource.getrlimit(resource.RLIMIT_AS),
        os.environ.get("TMPDIR"),
        tempfile.tempdir,
        log.level,
        log.propagate,
        [type(h).__name__ for h in log.handlers],
        os.environ.get("ESAK_FAULTS"),
        os.environ.get("ESAK_FAULTS_DIR"),
    )


def test_per_task_limits_are_put_back_on_the_worker(cluster, client, tmp_path, monkeypatch):
    """The address-space limit (classification), TMPDIR and the ocrmypdf logger (a document
    that goes through OCRmyPDF, in a worker thread), forwarded faults: set for a task, then
    as they were. The document comes back as bytes into tmp, the worker keeps nothing."""
    import pikepdf

    from esak.migrate.tasks import ClassifyTask, DocumentTask, build_document, classify_chunk
    from tests.test_ocr import _add_text

    rng = random.Random(5)
    page = render_content_page(
        rng, "schreiben", dpi=100, person=random_person(rng), household=HOUSEHOLDS[0]
    )
    scan = write_pdf([page], tmp_path / "scan.pdf", 100)
    with pikepdf.open(scan) as pdf:
        _add_text(pdf, pdf.pages[0])  # a scanner's text layer: OCRmyPDF's path
        pdf.save(tmp_path / "with-text.pdf")
    before = client.run(_worker_state)
    faults(monkeypatch, tmp_path, "crash:nowhere@1")
    out = tmp_path / "tmp"
    out.mkdir()
    pool = DaskPool(Cluster(cluster.scheduler_address))
    try:
        task = DocumentTask(
            "with-text.pdf#1",
            str(tmp_path / "with-text.pdf"),
            "pdf",
            None,
            (0,),
            ("deu",),
            str(out),
            "t",
            60.0,
        )
        plain = replace(task, key="scan.pdf#1", source=str(scan))
        first, second = pool.submit(build_document, task), pool.submit(build_document, plain)
        rules = load_profile("borken")
        chunk = pool.submit(classify_chunk, ClassifyTask(str(scan), None, 0, 0, rules))
        results = [first.result(timeout=300), second.result(timeout=300)]
        assert chunk.result(timeout=60).records[0].kind == "content"
    finally:
        pool.close()
    assert [(r.error, r.engine) for r in results] == [(None, "ocrmypdf"), (None, "tesseract")]
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(r.output).name for r in results)
    assert client.run(_worker_state) == before
    scratch = client.run(lambda dask_worker: list(Path(dask_worker.local_directory).glob("esak-*")))
    assert all(found == [] for found in scratch.values())


# --- stopping -------------------------------------------------------------------------------


def test_sigterm_stops_within_the_grace_and_the_next_run_finishes_the_job(
    delivery, reference, cluster, client, tmp_path, monkeypatch
):
    """--shared-path: a document hangs, SIGTERM comes; what runs is abandoned after the grace
    and its worker restarted, so nothing of it writes into tmp/ afterwards; the next run
    finishes the job exactly as a local run does."""
    import esak.migrate.ingest as ingest_module

    grace = 4.0
    monkeypatch.setattr(ingest_module, "STOP_GRACE_S", grace)
    passes = faults(monkeypatch, tmp_path, "hang:worker-doc@1")
    ws = tmp_path / "ws"
    signalled: list[float] = []

    def stop_when_it_hangs() -> None:
        while not (passes / "worker-doc").exists():
            time.sleep(0.1)
        time.sleep(0.5)
        signalled.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_when_it_hangs, daemon=True).start()
    shared = Cluster(cluster.scheduler_address, shared_path=True)
    with pytest.raises(StoppedError, match="SIGTERM"):
        ingest(ws, delivery, shared, page_timeout_s=120)
    assert time.monotonic() - signalled[0] < grace + 15  # the grace, then a worker restart
    assert not any(client.processing().values())  # nothing of ours runs on
    time.sleep(1)
    clean(ws)
    monkeypatch.delenv("ESAK_FAULTS")
    report = ingest(ws, delivery, shared)
    assert report.pages == reference[1]
    assert state(ws) == reference[0]
    clean(ws)


def test_a_deadline_stops_a_local_cluster_within_the_grace(delivery, tmp_path, monkeypatch):
    """esak ingest --cluster local --workers 2: a LocalCluster of its own for the run, gone
    with it; a hung document does not hold the stop up beyond the grace."""
    import esak.migrate.ingest as ingest_module

    grace = 4.0
    monkeypatch.setattr(ingest_module, "STOP_GRACE_S", grace)
    faults(monkeypatch, tmp_path, "hang:worker-doc@1")
    ws = tmp_path / "ws"
    before = children()
    started = time.monotonic()
    result = CliRunner().invoke(
        cli,
        ["--workspace", str(ws), "ingest", "--site", "borken", str(delivery), "--cluster",
         "local", "--workers", "2", "--max-minutes", "0.15", "--json"],
    )  # fmt: skip
    assert result.exit_code == ExitCode.STOPPED, result.output
    assert "deadline" in json.loads(result.stdout)["error"]
    assert time.monotonic() - started < 9 + grace + 20  # start-up, deadline, grace, shutdown
    clean(ws)
    assert children() <= before  # its workers are gone with it


# --- the command line, and a cluster of its own ------------------------------------------------


def esak(*args: str, env: dict[str, str] | None = None, timeout: float = 300):
    done = subprocess.run(
        [sys.executable, "-m", "esak", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    return done.returncode, done.stdout, done.stderr


def test_cluster_status_names_each_worker(cluster, client):
    # (client: waits until a worker a test before had restarted is back)
    result = CliRunner().invoke(
        cli, ["cluster", "status", "--scheduler", cluster.scheduler_address, "--json"]
    )
    assert result.exit_code == ExitCode.OK, result.output
    data = json.loads(result.stdout)
    assert data["totals"]["workers"] == 2 and data["totals"]["threads"] == 2
    assert data["allowed_failures"] == 0 and data["problems"] == []
    for worker in data["workers"]:
        assert worker["threads"] == 1 and worker["memory_limit"] > 0 and worker["nanny"]
        assert worker["address"].startswith("tcp://") and worker["running"] == []
    human = CliRunner().invoke(cli, ["cluster", "status", "--scheduler", cluster.scheduler_address])
    assert "2 worker(s), 2 core(s)" in human.stdout


def test_a_scheduler_that_cannot_be_reached_is_an_error_not_a_traceback(
    delivery, tmp_path, monkeypatch
):
    monkeypatch.setattr(dask_pool, "CONNECT_TIMEOUT_S", 2.0)
    ws = tmp_path / "ws"
    result = CliRunner().invoke(
        cli,
        [
            "--workspace",
            str(ws),
            "ingest",
            "--site",
            "borken",
            str(delivery),
            "--scheduler",
            "tcp://127.0.0.1:9",
            "--json",
        ],
    )
    assert result.exit_code == ExitCode.DEPENDENCY, result.output
    error = json.loads(result.stdout)
    assert "cannot be reached" in error["error"] and "dask scheduler" in error["remedy"]
    assert "Traceback" not in result.output
    assert list((ws / "tmp").iterdir()) == []  # nothing left behind
    status = CliRunner().invoke(cli, ["cluster", "status", "--scheduler", "tcp://127.0.0.1:9"])
    assert status.exit_code == ExitCode.DEPENDENCY and "cannot be reached" in status.stderr


def test_a_dashboard_without_bokeh_is_a_clear_error(delivery, tmp_path):
    pytest.importorskip("distributed")
    if __import__("importlib").util.find_spec("bokeh") is not None:
        pytest.skip("bokeh is installed here: the dashboard would start")
    result = CliRunner().invoke(cli, ["--workspace", str(tmp_path / "ws"), "ingest", "--site",
                                      "borken", str(delivery), "--cluster", "local",
                                      "--dashboard", "127.0.0.1:0", "--json"])  # fmt: skip
    assert result.exit_code == ExitCode.DEPENDENCY
    error = json.loads(result.stdout)
    assert "needs bokeh" in error["error"] and "--dashboard" in error["remedy"]
    assert not (tmp_path / "ws" / "archive").exists() or not list(
        (tmp_path / "ws" / "archive").rglob("*.pdf"))


def test_without_distributed_the_remedy_is_the_pip_line(delivery, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed fails
    result = CliRunner().invoke(
        cli,
        [
            "--workspace",
            str(tmp_path / "ws"),
            "ingest",
            "--site",
            "borken",
            str(delivery),
            "--cluster",
            "local",
            "--json",
        ],
    )
    assert result.exit_code == ExitCode.DEPENDENCY
    assert "esak[dask]" in json.loads(result.stdout)["remedy"]
    both = CliRunner().invoke(
        cli,
        [
            "ingest",
            "--site",
            "borken",
            str(delivery),
            "--cluster",
            "local",
            "--scheduler",
            "tcp://x:8786",
            "--json",
        ],
    )
    assert both.exit_code == ExitCode.USAGE


@pytest.fixture
def own_cluster(tmp_path):
    """`dask scheduler` and two `dask worker` processes on localhost, as on the machines."""
    started: list[subprocess.Popen] = []

    def start(*args: str, env: dict[str, str] | None = None) -> None:
        log = open(tmp_path / f"dask-{len(started)}.log", "w")  # noqa: SIM115
        started.append(
            subprocess.Popen(
                [str(BIN / "dask"), *args],
                stdout=log,
                stderr=log,
                env={**os.environ, **(env or {})},
                start_new_session=True,
            )
        )

    def scheduler(allowed_failures: str = "0") -> str:
        info = tmp_path / f"scheduler-{len(started)}.json"
        start(
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(info),
            env={"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": allowed_failures},
        )
        deadline = time.monotonic() + 60
        while not info.exists() or not info.read_text():
            assert time.monotonic() < deadline, "the scheduler did not start"
            time.sleep(0.2)
        time.sleep(0.2)
        return json.loads(info.read_text())["address"]

    def workers(address: str, n: int, env: dict[str, str] | None = None,
                *, one_process: bool = False) -> None:  # fmt: skip
        if one_process:  # as the README starts them: one `dask worker` per machine
            start("worker", address, "--nworkers", str(n), "--nthreads", "1",
                  "--memory-limit", "2GiB", "--no-dashboard", env=env)  # fmt: skip
            return
        for _ in range(n):
            start("worker", address, "--nthreads", "1", "--no-dashboard", env=env)

    try:
        yield scheduler, workers
    finally:
        for process in reversed(started):  # workers first
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            with contextlib.suppress(ProcessLookupError):  # what it started, in its session
                os.killpg(process.pid, signal.SIGKILL)


def test_ingest_on_a_scheduler_and_two_workers_started_by_hand(
    delivery, reference, own_cluster, tmp_path
):
    start_scheduler, start_workers = own_cluster
    address = start_scheduler()
    start_workers(address, 2, one_process=True)
    deadline = time.monotonic() + 60
    while True:
        code, out, err = esak("cluster", "status", "--scheduler", address, "--json")
        if code == 0 and json.loads(out)["totals"]["workers"] == 2:
            break
        assert time.monotonic() < deadline, (code, out, err)
        time.sleep(0.5)
    ws = tmp_path / "ws"
    code, out, err = esak(
        "--workspace",
        str(ws),
        "ingest",
        "--site",
        "borken",
        str(delivery),
        "--scheduler",
        address,
        "--json",
    )
    assert code == ExitCode.PROBLEMS, err  # the broken file
    report = json.loads(out)
    assert report["pages"] == reference[1]
    assert state(ws) == reference[0]
    clean(ws)


def test_a_scheduler_that_reruns_tasks_of_dead_workers_is_refused(delivery, own_cluster, tmp_path):
    start_scheduler, _ = own_cluster
    address = start_scheduler(allowed_failures="3")  # Dask's default
    code, out, _ = esak("cluster", "status", "--scheduler", address, "--json")
    assert code == ExitCode.PROBLEMS
    problems = " ".join(json.loads(out)["problems"])
    assert "allowed-failures is 3" in problems and "no workers" in problems
    code, out, _ = esak(
        "--workspace",
        str(tmp_path / "ws"),
        "ingest",
        "--site",
        "borken",
        str(delivery),
        "--scheduler",
        address,
        "--json",
    )
    assert code == ExitCode.DEPENDENCY
    error = json.loads(out)
    assert "allowed-failures is 3" in error["error"]
    assert "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=0" in error["remedy"]


def other_tesseract(tmp_path: Path) -> dict[str, str]:
    """A machine whose Tesseract is another version (it still reads pages)."""
    folder = tmp_path / "other-bin"
    folder.mkdir()
    real = subprocess.run(["which", "tesseract"], capture_output=True, text=True).stdout.strip()
    wrapper = folder / "tesseract"
    wrapper.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "--version" ]; then echo "tesseract 5.5.4"; exit 0; fi\n'
        f'exec {real} "$@"\n'
    )
    wrapper.chmod(0o755)
    return {"PATH": f"{folder}:{os.environ['PATH']}"}


def wait_for(address: str, workers: int) -> None:
    deadline = time.monotonic() + 60
    while True:
        code, out, err = esak("cluster", "status", "--scheduler", address, "--json")
        if code in (0, 1) and json.loads(out)["totals"]["workers"] == workers:
            return
        assert time.monotonic() < deadline, (code, out, err)
        time.sleep(0.5)


def test_a_worker_with_other_software_is_named_and_the_run_refused(delivery, own_cluster, tmp_path):
    start_scheduler, start_workers = own_cluster
    address = start_scheduler()
    start_workers(address, 1)
    start_workers(address, 1, env=other_tesseract(tmp_path))
    wait_for(address, 2)
    code, out, _ = esak("cluster", "status", "--scheduler", address, "--json")
    assert code == ExitCode.PROBLEMS
    problems = json.loads(out)["problems"]
    assert len(problems) == 1 and "tesseract tesseract 5.5.4 (here: tesseract 5." in problems[0]
    ws = tmp_path / "ws"
    code, out, _ = esak(
        "--workspace", str(ws), "ingest", "--site", "borken", str(delivery),
        "--scheduler", address, "--json",
    )  # fmt: skip
    assert code == ExitCode.DEPENDENCY
    error = json.loads(out)
    assert "1 worker(s)" in error["error"] and "5.5.4" in error["error"]
    assert not (ws / "archive").exists() or not list((ws / "archive").rglob("*.pdf"))


def test_a_worker_with_other_software_that_joins_later_runs_no_task():
    """Every task compares the worker's software with the coordinator's before it runs; a
    refusal comes back as WrongSoftware (exit 5), which the scheduler ends the run with."""
    from esak.migrate.dask_worker import Refused, run_task
    from esak.migrate.software import WrongSoftware, software

    ran = []
    other = {**software(), "tesseract": "tesseract 5.5.4"}
    refused = run_task(ran.append, "a task", {}, other, None)
    assert isinstance(refused, Refused) and ran == []
    # As the coordinator reads it: the worker's, then (here:) the coordinator's own.
    assert refused.differences == (f"tesseract {software()['tesseract']} (here: "
                                   "tesseract 5.5.4)",)  # fmt: skip
    assert run_task(ran.append, "a task", {}, software(), None) is None and ran == ["a task"]
    pool = DaskPool.__new__(DaskPool)  # only its way of receiving a result
    error = pool._received(None, refused)
    assert isinstance(error, WrongSoftware) and error.exit_code == ExitCode.DEPENDENCY
    assert "joined the cluster during the run" in error.message

def test_a_machine_that_dies_in_the_night_costs_only_a_retry(
    delivery, reference, own_cluster, tmp_path
):
    """Two `dask worker` processes stand for two machines; one dies whole (its nanny, its
    worker and what they started, at once) while it runs a document: the run finishes on
    the other with the same archive as a local run."""
    start_scheduler, start_workers = own_cluster
    address = start_scheduler()
    start_workers(address, 2)
    wait_for(address, 2)
    ws = tmp_path / "ws"
    run = subprocess.Popen(
        [sys.executable, "-m", "esak", "--workspace", str(ws), "ingest", "--site", "borken",
         str(delivery), "--scheduler", address, "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    with distributed.Client(address, set_as_default=False) as c:
        deadline = time.monotonic() + 120
        victim = None
        while victim is None:
            assert time.monotonic() < deadline and run.poll() is None, "no document ran"
            busy = {w: keys for w, keys in c.processing().items()
                    if any(str(k).startswith("esak-ocr") for k in keys)}  # fmt: skip
            victim = next(iter(busy), None)
            time.sleep(0.05)
        worker = c.run(os.getpid, workers=[victim])[victim]
        nanny = c.run(os.getppid, workers=[victim])[victim]
    for pid in (nanny, worker):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)
    out, err = run.communicate(timeout=300)
    assert run.returncode == ExitCode.PROBLEMS, err  # the broken file
    assert json.loads(out)["pages"] == reference[1]
    assert state(ws) == reference[0]
    clean(ws)


def test_a_scheduler_that_dies_stops_the_run_with_exit_5_and_the_next_run_goes_on(
    delivery, reference, own_cluster, tmp_path
):
    """The scheduler's machine goes down mid-document: no traceback (exit 70), no document
    set aside for it; with a new scheduler the same command finishes the job."""
    start_scheduler, start_workers = own_cluster
    address = start_scheduler()
    start_workers(address, 2, one_process=True)
    wait_for(address, 2)
    ws = tmp_path / "ws"
    cmd = [sys.executable, "-m", "esak", "--workspace", str(ws), "ingest", "--site", "borken",
           str(delivery), "--json"]  # fmt: skip
    run = subprocess.Popen([*cmd, "--scheduler", address], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)  # fmt: skip
    with distributed.Client(address, set_as_default=False) as c:
        deadline = time.monotonic() + 120
        while not any(str(k).startswith("esak-ocr") for ks in c.processing().values()
                      for k in ks):  # fmt: skip
            assert time.monotonic() < deadline and run.poll() is None, "no document ran"
            time.sleep(0.05)
        scheduler_pid = c.run_on_scheduler(os.getpid)
    os.killpg(os.getpgid(scheduler_pid), signal.SIGKILL)
    out, err = run.communicate(timeout=300)
    assert run.returncode == ExitCode.DEPENDENCY, err
    error = json.loads(out)
    assert "lost the Dask scheduler" in error["error"] and "run the same command" in error["remedy"]
    db = sqlite3.connect(ws / "index.sqlite")
    try:
        died = db.execute("SELECT COUNT(*) FROM quarantine WHERE reason LIKE '%died%'").fetchone()
    finally:
        db.close()
    assert died == (0,)
    again = start_scheduler()
    start_workers(again, 2, one_process=True)
    wait_for(again, 2)
    done = subprocess.run([*cmd, "--scheduler", again], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == ExitCode.PROBLEMS, done.stderr  # the broken file
    assert state(ws) == reference[0]
    clean(ws)


def test_a_scheduler_without_workers_is_refused_before_anything_is_set_aside(
    delivery, own_cluster, tmp_path
):
    start_scheduler, _ = own_cluster
    address = start_scheduler()
    ws = tmp_path / "ws"
    code, out, _ = esak("--workspace", str(ws), "ingest", "--site", "borken", str(delivery),
                        "--scheduler", address, "--json",
                        env={"ESAK_DASK_FIRST_WORKER_S": "2"})  # fmt: skip
    assert code == ExitCode.DEPENDENCY
    error = json.loads(out)
    assert "has no workers" in error["error"] and f"dask worker {address}" in error["remedy"]
    db = sqlite3.connect(ws / "index.sqlite")
    try:
        assert db.execute("SELECT COUNT(*) FROM quarantine").fetchone() == (0,)
    finally:
        db.close()

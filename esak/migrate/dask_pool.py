"""Ingest's workers on a Dask cluster: an existing one (``--scheduler tcp://HOST:8786``) or a
``LocalCluster`` started for the run (``--cluster local --workers N``).

The coordinator stays what it is with local processes: it classifies, plans, retries, keeps
the deadline and the lock, and alone writes the index. Only where tasks run changes:

- **No shared filesystem needed** (the default): each input file a task reads is sent to the
  cluster once (``client.scatter(..., hash=True)``) and handed to its tasks; a finished
  document comes back as bytes and is written into the run's ``tmp/`` here. Workers need
  neither the delivery nor the workspace. With ``shared_path`` every host sees both at the
  same path and the workers read and write there.
- **A worker that dies costs only its task**: the scheduler's ``allowed-failures`` is 0, so
  the death comes back as ``KilledWorker`` and esak's own retry logic decides (once more,
  alone, then set aside) instead of Dask running the task again somewhere else.
- **A hung task is cancelled and only its worker restarted** (``Client.restart_workers``);
  the programs it started die with it (:mod:`esak.migrate.dask_worker`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import importlib.util
import logging
import os
import tempfile
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Iterator
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

from esak.errors import DependencyError, EsakError, ExitCode, UsageError
from esak.files import display_name
from esak.migrate.executor import Lost, default_workers
from esak.migrate.scheduler import WORKER_DIED
from esak.migrate.software import WrongSoftware, differences, software
from esak.migrate.tasks import ClassifyTask, CountTask, DocumentResult, DocumentTask

#: Seconds to wait for the scheduler to answer when connecting.
CONNECT_TIMEOUT_S = 10.0
#: Seconds ingest waits for a cluster's first worker before it refuses to start.
FIRST_WORKER_S = float(os.environ.get("ESAK_DASK_FIRST_WORKER_S", "60"))
#: Seconds a worker restart may take (a hung worker is killed at once, see OwnGroup).
RESTART_TIMEOUT_S = 60.0
#: How long the number of workers is taken as known before the scheduler is asked again.
WORKERS_TTL_S = 5.0
#: Input files kept on the cluster after their last task, for the next tasks of the same file
#: (classification chunks, then its documents), at most this many bytes.
IDLE_INPUT_BYTES = 512 << 20
#: The scheduler setting that lets a worker's death reach esak (see the module docstring).
ALLOWED_FAILURES = "distributed.scheduler.allowed-failures"
ALLOWED_FAILURES_ENV = "DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=0"
PRE_SPAWN_ENVIRON = "distributed.nanny.pre-spawn-environ"
#: Dask's background work, fitted to tasks that take seconds, not milliseconds. With its
#: defaults (event loops checked every 20 ms, a statistical profiler sampling the running
#: task every 10 ms) a worker used 6 % of a core while its task waited on Tesseract, and the
#: coordinator of a LocalCluster (scheduler and nannies) 7 %; with these, 0.5 % and 1.5 %.
QUIET = {
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.profile.enabled": False,
    "distributed.worker.memory.monitor-interval": "1s",
}

_INSTALL = "pip install 'esak[dask]' (Dask distributed) into esak's environment"


class WorkerLost(Exception):
    """The task's worker went away under it (died, was killed, or lost its input)."""


@dataclass(frozen=True)
class Cluster:
    """Where ingest's work runs on Dask."""

    #: an existing scheduler (tcp://HOST:8786); None: a LocalCluster for this run
    address: str | None = None
    #: every host sees the delivery and the workspace at the same path
    shared_path: bool = False
    #: where a LocalCluster shows its dashboard (e.g. ":8787"); None: no dashboard
    dashboard: str | None = None

    def __str__(self) -> str:
        where = self.address or "local"
        return f"{where} --shared-path" if self.shared_path else where


def dask_cluster(
    scheduler: str | None,
    cluster: str | None,
    shared_path: bool = False,
    dashboard: str | None = None,
) -> Cluster | None:
    """The ``ingest`` options ``--scheduler``, ``--cluster``, ``--shared-path`` and
    ``--dashboard`` as a :class:`Cluster`; None for local worker processes."""
    if scheduler and cluster:
        raise UsageError(
            "--scheduler and --cluster exclude each other",
            "give --scheduler tcp://HOST:8786 for a running cluster, or --cluster local",
        )
    if not (scheduler or cluster):
        if shared_path or dashboard:
            raise UsageError(
                "--shared-path and --dashboard are for Dask",
                "add --scheduler tcp://HOST:8786 or --cluster local",
            )
        return None
    if dashboard and not cluster:
        raise UsageError(
            "--dashboard is for --cluster local",
            "a running cluster shows its dashboard where its scheduler was started",
        )
    _distributed()
    return Cluster(scheduler, shared_path, dashboard)


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise DependencyError("Dask distributed is not installed", _INSTALL) from exc
    return distributed


def connect(address: str) -> Any:
    """A client of the scheduler at ``address``; a clear error when there is none."""
    distributed = _distributed()
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except ValueError as exc:
        raise UsageError(
            f"{address!r} is not a scheduler address ({exc})", "give it as tcp://HOST:8786"
        ) from exc
    except (OSError, TimeoutError) as exc:
        raise DependencyError(
            f"the Dask scheduler at {address} cannot be reached ({type(exc).__name__}: {exc})",
            "start it (dask scheduler) and its workers (dask worker "
            f"{address} --nthreads 1), or check the address and that the port is open",
        ) from exc


@contextlib.contextmanager
def _starting_local() -> Iterator[None]:
    try:
        yield
    except (OSError, RuntimeError, TimeoutError) as exc:
        raise DependencyError(
            f"the local Dask cluster did not start ({type(exc).__name__}: {exc})",
            "run without --cluster local (local worker processes as usual), or start a "
            "scheduler and workers and give --scheduler",
        ) from exc


def check_software(
    client: Any, here: dict[str, str], workers: list[str] | None = None
) -> list[str]:
    """Each worker whose software differs from ``here``, as ``address: what differs``."""
    try:
        there = client.run(software, workers=workers)
    except (OSError, TimeoutError):
        raise
    except Exception as exc:  # raised on a worker: most likely no esak there at all
        return [f"a worker cannot run esak ({type(exc).__name__}: {exc})"]
    return [
        f"{address}: {', '.join(diff)}"
        for address, theirs in sorted(there.items())
        if (diff := differences(here, theirs))
    ]


def _allowed_failures(client: Any) -> int | None:
    """The scheduler's ``allowed-failures``; None if it cannot be asked."""
    # A lambda travels by value: the scheduler's machine needs no esak.
    try:
        return int(client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures))
    except Exception:  # an older scheduler, or one that refuses to run functions
        return None


@dataclass
class _Flight:
    """A task on the cluster: its Dask future, and the input files it holds."""

    future: Any
    inputs: list[str]
    #: the worker it was placed on
    worker: str | None = None


class DaskPool:
    """The workers of a Dask cluster behind the interface of :class:`~esak.migrate.executor.Pool`:
    one task per worker process at a time (``workers``), results as
    ``concurrent.futures.Future``."""

    can_kill = True
    restarts_one = True

    def __init__(self, cluster: Cluster, workers: int | None = None) -> None:
        distributed = _distributed()
        import dask

        from esak.migrate.dask_worker import OwnGroup, Reaper

        self.cluster = cluster
        self._software: dict[str, str] = {}
        self._local: Any = None
        self.client: Any = None
        self._flights: dict[Future[Any], _Flight] = {}
        #: input file -> its bytes on the cluster; how many tasks in flight hold it
        self._inputs: dict[str, Any] = {}
        self._holders: Counter[str] = Counter()
        self._idle: OrderedDict[str, int] = OrderedDict()
        #: input file -> the worker its last task was placed on
        self._near: dict[str, str] = {}
        #: the cluster's workers (addresses), as last asked, and when
        self._known: list[str] = []
        self._counted = -WORKERS_TTL_S
        #: at most this many tasks at a time (--workers); None: one per worker of the cluster
        self._limit = workers
        if cluster.dashboard and importlib.util.find_spec("bokeh") is None:
            # Dask would only warn, in a log nobody reads, and run without it.
            raise DependencyError(
                "Dask's dashboard (--dashboard) needs bokeh, which is not installed",
                "pip install bokeh into esak's environment, or leave out --dashboard",
            )
        if cluster.address is None:
            # Set before the scheduler exists: it reads the setting when it starts. Workers
            # get the environment local worker processes have: without Dask's
            # MALLOC_TRIM_THRESHOLD_, which costs page rasterising a third more CPU.
            settings = {ALLOWED_FAILURES: 0, f"{PRE_SPAWN_ENVIRON}.MALLOC_TRIM_THRESHOLD_": None}
            settings.update(QUIET)
            with dask.config.set(settings), _starting_local():
                self._local = distributed.LocalCluster(
                    n_workers=workers or default_workers(),
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=cluster.dashboard,
                    worker_dashboard_address=None,
                    silence_logs=logging.ERROR,
                    # No dashboard: the scheduler's bare HTTP endpoint on a free local port
                    # (not 8787, which another run may hold).
                    scheduler_kwargs=None
                    if cluster.dashboard
                    else {"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                )
            address = self._local.scheduler_address
        else:
            address = cluster.address
        try:
            self.client = connect(address)
        except BaseException:
            if self._local is not None:
                self._local.close()
            raise
        try:
            allowed = _allowed_failures(self.client)
            if allowed not in (0, None):
                raise DependencyError(
                    f"the Dask scheduler at {address} runs a task again after its worker died "
                    f"(allowed-failures is {allowed}): esak must see each death itself, retry "
                    "the document once alone and then set it aside",
                    f"start the scheduler with {ALLOWED_FAILURES_ENV} in its environment",
                )
            self.client.register_plugin(OwnGroup())
            self.client.register_plugin(Reaper())
            if cluster.address is not None:
                self._first_worker(cluster.address)
            self._software = software()
            refused = check_software(self.client, self._software)
            if refused:
                raise WrongSoftware(
                    f"{len(refused)} worker(s) of {address} would make other documents than "
                    "this machine: " + "; ".join(refused),
                    "install the same esak, Tesseract with its deu model and Ghostscript on "
                    "every machine (make system venv), or stop those workers",
                )
        except BaseException:
            self._shutdown()
            raise

    def _first_worker(self, address: str) -> None:
        """A cluster without any worker would hold the first tasks until their time limits
        and set their files aside as hung: wait a while for one, then say so."""
        try:
            self.client.wait_for_workers(1, timeout=FIRST_WORKER_S)
        except TimeoutError as exc:
            raise DependencyError(
                f"the Dask scheduler at {address} has no workers (waited {FIRST_WORKER_S:.0f} s)",
                f"start them on the machines: dask worker {address} --nthreads 1",
            ) from exc
        except OSError as exc:
            raise self._gone(exc) from exc

    # --- what the scheduler asks --------------------------------------------------------------

    @property
    def workers(self) -> int:
        """Tasks at a time: one per worker process of the cluster (at most --workers)."""
        count = len(self._workers())
        count = min(count, self._limit) if self._limit else count
        return max(1, count)  # none at the moment: one waits on the scheduler for a worker

    def _workers(self) -> list[str]:
        now = time.monotonic()
        if now - self._counted >= WORKERS_TTL_S:
            with contextlib.suppress(OSError, TimeoutError):
                self._known = sorted(self.client.nthreads())
                self._counted = now
        return self._known

    def _place(self, paths: list[str]) -> list[str] | None:
        """The worker for the next task: the one with the fewest of our tasks, among them the
        one that ran the last task of the same input (it holds the file already). Dask on its
        own would queue every task of a file behind the one worker that holds its bytes."""
        known = self._workers()
        if not known:
            return None
        load = Counter({w: 0 for w in known})
        load.update(f.worker for f in self._flights.values() if f.worker in load)
        fewest = min(load.values())
        idle = [w for w in known if load[w] == fewest]
        near = [self._near.get(p) for p in paths]
        return [next((w for w in near if w in idle), idle[0])]

    def submit(self, fn: Any, task: Any) -> Future[Any]:
        from esak.migrate.dask_worker import FORWARDED_ENV, run_task

        try:
            self._sweep()
            if self.cluster.shared_path:
                names, paths, blobs = None, [], []
            else:
                names, paths = _inputs(task)
                blobs = [self._input(path) for path in paths]
            env = {key: os.environ[key] for key in FORWARDED_ENV if key in os.environ}
            # Dask groups tasks by the words before the id: esak-ocr, esak-pages, esak-count.
            key = f"esak-{_label(task)}"
            where = self._place(paths)
            future = self.client.submit(
                run_task, fn, task, env, self._software, names, *blobs, key=key, pure=False,
                workers=where,
                allow_other_workers=where is not None,  # the worker went away: any other one
            )  # fmt: skip
        except (OSError, TimeoutError) as exc:
            # The scheduler went away (CommClosedError is an OSError): no task can run, and
            # none may be set aside for it. What is committed stays; the next run goes on.
            raise self._gone(exc) from exc
        done: Future[Any] = Future()
        done.set_running_or_notify_cancel()
        worker = where[0] if where else None
        self._flights[done] = _Flight(future, paths, worker)
        self._near.update((p, worker) for p in paths if worker)
        self._holders.update(paths)
        future.add_done_callback(partial(self._landed, done, task))
        return done

    def lost(self, error: BaseException) -> Lost:
        return "worker" if isinstance(error, WorkerLost) else None

    def stop(self, future: Future[Any]) -> list[Future[Any]]:
        """Cancel a hung task and restart only its worker; returns the other tasks that ran
        on that worker (lost with it: to run again)."""
        flight = self._flights.get(future)
        if flight is None:
            return []
        processing = self._processing()
        worker = next((w for w, keys in processing.items() if flight.future.key in keys), None)
        taken = [future]
        if worker is not None:
            keys = set(processing[worker])
            taken += [
                f for f, fl in self._flights.items() if f is not future and fl.future.key in keys
            ]
        self.client.cancel([self._flights[f].future for f in taken])
        for f in taken:
            self._forget(f)
        if worker is not None:
            self._let_go_of_inputs_only_on(worker)
            self._restart([worker])
        return taken[1:]

    def restart(self) -> None:
        raise NotImplementedError("a Dask pool never restarts the whole cluster")

    def kill(self) -> None:
        """Stop every task of ours now: cancelled, and the workers that ran them restarted
        (nothing of an abandoned task goes on writing); then the client goes."""
        try:
            with contextlib.suppress(Exception):
                keys = {fl.future.key for fl in self._flights.values()}
                busy = [w for w, ks in self._processing().items() if keys & set(ks)]
                self.client.cancel([fl.future for fl in self._flights.values()])
                if busy and self._local is None:
                    self._restart(busy)
        finally:
            self._flights.clear()
            self._shutdown()

    def close(self) -> None:
        """The run is over: inputs released, the client (and a LocalCluster) closed."""
        self._flights.clear()
        self._shutdown()

    # --- inside -------------------------------------------------------------------------------

    def _let_go_of_inputs_only_on(self, worker: str) -> None:
        """Input files that only ``worker`` holds are let go before it restarts (sent again
        when needed), rather than lost with it."""
        try:
            held = self.client.who_has(list(self._inputs.values()))
        except (OSError, TimeoutError) as exc:
            raise self._gone(exc) from exc
        for path, future in list(self._inputs.items()):
            if set(held.get(future.key, ())) <= {worker}:
                del self._inputs[path]
                self._idle.pop(path, None)
                future.release()

    def _processing(self) -> dict[str, tuple[Any, ...]]:
        try:
            return dict(self.client.processing())
        except (OSError, TimeoutError) as exc:
            raise self._gone(exc) from exc

    def _restart(self, workers: list[str]) -> None:
        try:
            self.client.restart_workers(workers, timeout=RESTART_TIMEOUT_S, raise_for_error=False)
        except (OSError, TimeoutError) as exc:
            raise self._gone(exc) from exc
        self._counted = -WORKERS_TTL_S  # a restarted worker has a new address

    def _gone(self, exc: BaseException) -> EsakError:
        return DependencyError(
            f"lost the Dask scheduler at {self.cluster.address or 'local'} "
            f"({type(exc).__name__}: {exc})",
            "start the scheduler and its workers again, then run the same command to go on",
        )

    def _shutdown(self) -> None:
        for future in self._inputs.values():
            with contextlib.suppress(Exception):
                future.release()
        self._inputs.clear()
        with contextlib.suppress(Exception):
            self.client.close(timeout=RESTART_TIMEOUT_S)
        if self._local is not None:
            with contextlib.suppress(Exception):
                self._local.close(timeout=RESTART_TIMEOUT_S)
            self._local = None

    def _input(self, path: str) -> Any:
        """The bytes of an input file on the cluster, sent once while its tasks need them;
        None when it cannot be read here (the task then finds it missing, as locally)."""
        future = self._inputs.get(path)
        if future is None or future.status != "finished":  # its worker was lost
            try:
                data = Path(path).read_bytes()
            except OSError:
                return None
            future = self.client.scatter(data, hash=True)
            self._inputs[path] = future
        self._idle.pop(path, None)
        return future

    def _forget(self, done: Future[Any]) -> None:
        flight = self._flights.pop(done, None)
        if flight is None:
            return
        self._holders.subtract(flight.inputs)
        for path in flight.inputs:
            if self._holders[path] <= 0 and path in self._inputs:
                del self._holders[path]
                self._idle[path] = _size(path)
        while self._idle and sum(self._idle.values()) > IDLE_INPUT_BYTES:
            oldest, _ = self._idle.popitem(last=False)
            self._near.pop(oldest, None)
            future = self._inputs.pop(oldest, None)
            if future is not None:
                future.release()

    def _sweep(self) -> None:
        for done in [f for f in self._flights if f.done()]:
            self._forget(done)

    def _landed(self, done: Future[Any], task: Any, future: Any) -> None:
        """A task's outcome, from Dask's callback thread, into the future the scheduler waits
        on; a shipped document is written into the run's tmp folder here."""
        if done.done():
            return
        try:
            if future.status == "finished":
                # A WrongSoftware outcome is raised: the scheduler ends the run with it.
                outcome: Any = self._received(task, future.result())
            elif future.status == "cancelled":
                outcome = WorkerLost(f"{WORKER_DIED}: its task was cancelled")
            else:
                error = future.exception()
                if type(error).__name__ == "KilledWorker" or not isinstance(error, Exception):
                    outcome = WorkerLost(WORKER_DIED)
                else:
                    outcome = error  # the task raised: as a local worker's exception
        except BaseException as exc:  # the scheduler went away, a cancelled future, ...
            outcome = WorkerLost(f"{WORKER_DIED}: {type(exc).__name__}: {exc}")
        with contextlib.suppress(InvalidStateError):
            if isinstance(outcome, BaseException):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)

    def _received(self, task: Any, value: Any) -> Any:
        from esak.migrate.dask_worker import Refused, Shipped

        if isinstance(value, Refused):
            return WrongSoftware(
                f"a worker that joined the cluster during the run ({value.worker}) would make "
                "other documents than this machine: " + "; ".join(value.differences),
                "install the same esak, Tesseract with its deu model and Ghostscript there "
                "(make system venv), or stop that worker; then run again to resume",
            )
        if not isinstance(value, Shipped):
            return value
        result: DocumentResult = value.result
        if hashlib.sha256(value.pdf).hexdigest() != result.sha256:
            return DocumentResult.failure(
                result.key, "the document arrived damaged from its worker"
            )
        try:
            # Never made here: a run that has stopped removed its tmp folder, and a late
            # document must not bring it back.
            fd, name = tempfile.mkstemp(prefix="doc-", suffix=".pdf", dir=task.tmp_dir)
            with os.fdopen(fd, "wb") as fh:
                fh.write(value.pdf)
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                return DocumentResult.failure(
                    result.key, "no space left on the workspace's disk", fatal="disk-full"
                )
            raise
        return replace(result, output=name)


def _label(task: Any) -> str:
    """What a task is about, for its Dask key (``esak cluster status`` shows it): its kind,
    a unique id, its input (pages counted from 1)."""
    tag = uuid.uuid4().hex[:12]
    if isinstance(task, DocumentTask):
        return f"ocr-{tag}-{display_name(task.key)}"
    if isinstance(task, ClassifyTask):
        where = display_name(Path(task.path))
        return f"pages-{tag}-{where} {task.first + 1}–{task.last + 1}"
    if isinstance(task, CountTask):
        return f"count-{tag}-{display_name(Path(task.path))}"
    return f"{type(task).__name__.lower()}-{tag}"


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _inputs(task: Any) -> tuple[tuple[str, ...], list[str]]:
    """The files a task reads: their names in the worker's private folder, and their paths
    here. A folder of page images sends only the pages the task reads."""
    if isinstance(task, DocumentTask):
        source, files, pages = task.source, task.files, list(task.pages)
    elif isinstance(task, ClassifyTask):
        source, files, pages = task.path, task.files, list(range(task.first, task.last + 1))
    elif isinstance(task, CountTask):
        source, files, pages = task.path, task.files, []
    else:
        raise TypeError(f"no inputs known for {type(task).__name__}")
    base = Path(source).name
    if files is None:
        return (base,), [source]
    chosen = list(dict.fromkeys(files[i] for i in pages))
    return tuple(f"{base}/{f}" for f in chosen), [str(Path(source) / f) for f in chosen]


# --- esak cluster status ----------------------------------------------------------------------


@dataclass
class WorkerStatus:
    address: str
    name: str
    host: str
    threads: int
    memory_limit: int
    memory: int
    cpu: float
    nanny: bool
    #: the tasks it runs now (esak's: esak-ocr-<id>-box01/batch_001.pdf#2, ...)
    running: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "name": self.name,
            "host": self.host,
            "threads": self.threads,
            "memory_limit": self.memory_limit,
            "memory": self.memory,
            "cpu": self.cpu,
            "nanny": self.nanny,
            "running": self.running,
        }


@dataclass
class ClusterStatus:
    scheduler: str
    workers: list[WorkerStatus]
    allowed_failures: int | None
    problems: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.PROBLEMS if self.problems else ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "scheduler": self.scheduler,
            "workers": [w.to_dict() for w in self.workers],
            "totals": {
                "workers": len(self.workers),
                "threads": sum(w.threads for w in self.workers),
                "memory_limit": sum(w.memory_limit for w in self.workers),
                "running": sum(len(w.running) for w in self.workers),
            },
            "allowed_failures": self.allowed_failures,
            "problems": self.problems,
            "exit_code": int(self.exit_code),
        }


def cluster_status(address: str) -> ClusterStatus:
    """The workers of the cluster at ``address``: memory, cores, what each runs now; and
    what would keep ingest from running there as it should (exit 1)."""
    client = connect(address)
    try:
        info = client.scheduler_info(n_workers=-1)
        processing = client.processing()
        allowed = _allowed_failures(client)
        refused = check_software(client, software())
    except (OSError, TimeoutError) as exc:
        raise DependencyError(
            f"the Dask scheduler at {address} stopped answering ({type(exc).__name__}: {exc})",
            "check that it still runs, then ask again",
        ) from exc
    finally:
        with contextlib.suppress(Exception):
            client.close()
    workers = []
    for addr, w in sorted(info.get("workers", {}).items()):
        metrics = w.get("metrics", {})
        workers.append(
            WorkerStatus(
                address=addr,
                name=display_name(str(w.get("name", addr))),
                host=str(w.get("host", "")),
                threads=int(w.get("nthreads", 0)),
                memory_limit=int(w.get("memory_limit") or 0),
                memory=int(metrics.get("memory") or 0),
                cpu=float(metrics.get("cpu") or 0.0),
                nanny=bool(w.get("nanny")),
                running=sorted(str(k) for k in processing.get(addr, ())),
            )
        )
    problems = []
    if not workers:
        problems.append("no workers: start them with dask worker " + address + " --nthreads 1")
    if allowed not in (0, None):
        problems.append(
            f"allowed-failures is {allowed}: ingest refuses this scheduler; "
            f"start it with {ALLOWED_FAILURES_ENV}"
        )
    problems += [f"other software than here on {r}" for r in refused]
    without = [w.address for w in workers if not w.nanny]
    if without:
        problems.append(
            f"{len(without)} worker(s) without a nanny: a hung task there cannot be stopped "
            "(start them without --no-nanny)"
        )
    return ClusterStatus(address, workers, allowed, problems)

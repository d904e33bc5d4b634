"""What runs on the machines of a Dask cluster for esak: in each worker and in its nanny.

A worker runs esak's tasks (:mod:`esak.migrate.tasks`) one at a time, whatever ``--nthreads``
it was started with: a task sets process-wide things for its duration (the address-space
limit, ``TMPDIR``, the ``ocrmypdf`` logger) and puts them back after it.

Without a shared filesystem (the default) a task comes with the bytes of the input files it
reads; :func:`run_task` writes them into a private folder under the worker's scratch space,
points the task there, runs it and sends a finished document back as bytes
(:class:`Shipped`). Nothing of it stays on the worker. With ``--shared-path`` the task reads
the delivery and writes into the workspace's ``tmp/`` itself, at the paths the coordinator
sees.

Programs a task starts (Tesseract, Ghostscript) die with their worker: a worker under a
nanny is the leader of its own process group, :class:`OwnGroup` kills that group when the
worker is closed or restarted while a task runs, and :class:`Reaper` (in the nanny) kills
what is left of a worker that died.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from distributed import get_worker
from distributed.diagnostics.plugin import NannyPlugin, WorkerPlugin
from tornado.ioloop import PeriodicCallback

from esak import faults
from esak.migrate.software import differences, software
from esak.migrate.tasks import (
    ClassifyResult,
    CountResult,
    DocumentResult,
    DocumentTask,
)

#: Environment variables a task takes along from the coordinator, set on the worker for the
#: task's duration only: fault injection (tests), counted across every process of the run.
FORWARDED_ENV = (faults.ENV, faults.ENV_DIR)

#: One esak task at a time per worker process.
_LOCK = threading.Lock()
#: Whether a task runs in this process now (read by OwnGroup when the worker closes).
_busy = False


@dataclass(frozen=True)
class Shipped:
    """A finished document and its PDF's bytes, on the way back to the coordinator."""

    result: DocumentResult
    pdf: bytes


@dataclass(frozen=True)
class Refused:
    """Not run: this worker's software differs from the coordinator's (see software.py)."""

    worker: str
    differences: tuple[str, ...]


def run_task(
    fn: Callable[[Any], Any],
    task: Any,
    env: dict[str, str],
    expect: dict[str, str],
    names: tuple[str, ...] | None,
    *blobs: bytes | None,
) -> Any:
    """Run ``fn(task)`` on this worker, if its software is ``expect`` (the coordinator's;
    empty: not compared). ``names`` are the input files' paths relative to the private
    folder (``blobs`` their bytes; None: the file could not be read), or None when every
    host sees the delivery and the workspace (``--shared-path``)."""
    global _busy
    if expect and (diff := differences(expect, software())):
        return Refused(_address(), tuple(diff))
    with _LOCK:
        _busy = True
        try:
            _own_group()
            with _environment(env):
                if names is None:
                    return fn(task)
                return _run_private(fn, task, names, blobs)
        finally:
            _busy = False


@contextlib.contextmanager
def _environment(env: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in FORWARDED_ENV}
    for key in FORWARDED_ENV:
        if key in env:
            os.environ[key] = env[key]
        else:
            os.environ.pop(key, None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _address() -> str:
    with contextlib.suppress(ValueError):
        return str(get_worker().address)
    return "?"


def _scratch() -> str | None:
    with contextlib.suppress(ValueError):  # not in a worker (tests call run_task directly)
        return get_worker().local_directory
    return None


def _run_private(
    fn: Callable[[Any], Any], task: Any, names: tuple[str, ...], blobs: tuple[bytes | None, ...]
) -> Any:
    private = Path(tempfile.mkdtemp(prefix="esak-task-", dir=_scratch()))
    try:
        inbox, out = private / "in", private / "out"
        for name, data in zip(names, blobs, strict=True):
            target = inbox / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if data is not None:
                target.write_bytes(data)
        source = task.source if isinstance(task, DocumentTask) else task.path
        local_source = inbox / Path(source).name
        if task.files is not None:
            local_source.mkdir(parents=True, exist_ok=True)  # a folder of page images
        if isinstance(task, DocumentTask):
            local: Any = replace(task, source=str(local_source), tmp_dir=str(out))
        else:
            local = replace(task, path=str(local_source))
        result = fn(local)
        # Messages name the files as the coordinator knows them.
        here = {str(local_source): source, str(out): getattr(task, "tmp_dir", "")}
        return _as_sent(result, here)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def _as_sent(result: Any, here: dict[str, str]) -> Any:
    def text(value: str | None) -> str | None:
        if value:
            for private, original in here.items():
                value = value.replace(private, original)
        return value

    if isinstance(result, CountResult):
        return replace(result, error=text(result.error))
    if isinstance(result, ClassifyResult):
        records = tuple(replace(r, error=text(r.error)) if r.error else r for r in result.records)
        return replace(result, records=records)
    if isinstance(result, DocumentResult):
        if result.output is None:
            return replace(result, error=text(result.error))
        return Shipped(replace(result, output=None), Path(result.output).read_bytes())
    return result


# --- process groups ---------------------------------------------------------------------------


def _own_group(worker: Any = None) -> None:
    """Under a nanny, the worker leads its own process group: killing the group takes the
    programs its tasks started along."""
    if os.getpgrp() == os.getpid():
        return
    with contextlib.suppress(ValueError):
        if (worker or get_worker()).nanny:
            os.setpgrp()


def kill_group(pgid: int | None) -> None:
    """SIGKILL to every process of the group ``pgid``; never the caller's own group."""
    if not pgid or pgid <= 1 or pgid == os.getpgrp():
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


#: glibc's mallopt parameters, and what a worker started with Dask's MALLOC_TRIM_THRESHOLD_
#: gets instead: that setting turns off glibc's growing mmap threshold, so every page image
#: (megabytes) is mapped and unmapped afresh: a third more CPU for reading pages.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MMAP_THRESHOLD = 32 << 20  # glibc's own upper bound for its growing threshold
_TRIM_THRESHOLD = 64 << 20


def _undo_malloc_trim() -> None:
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
        libc.mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD)


#: How often a worker's event loop checks itself (Dask: every 20 ms), in milliseconds.
_TICK_MS = 1000


def _quieten(worker: Any) -> None:
    """No statistical profiler sampling the running task every 10 ms, and the event loop
    checked once a second: together 5 % of a core while a task waits on Tesseract. (A
    LocalCluster gets the same from its settings; a worker started by hand from here.)"""
    callbacks = getattr(worker, "periodic_callbacks", {})
    for name in ("profile", "profile-cycle"):
        with contextlib.suppress(Exception):
            callbacks.pop(name).stop()
    tick = callbacks.get("tick")
    if tick is not None and getattr(tick, "callback_time", _TICK_MS) < _TICK_MS:
        tick.callback_time = _TICK_MS


class OwnGroup(WorkerPlugin):
    """In each worker: its own process group from the start, and glibc's memory settings
    fit for page images; a worker closed (restarted by the coordinator, the cluster shut
    down) while an esak task runs ends at once, with every program the task started."""

    name = "esak-own-group"
    idempotent = True

    def setup(self, worker: Any) -> None:
        _own_group(worker)
        _undo_malloc_trim()
        _quieten(worker)

    def teardown(self, worker: Any) -> None:
        if _busy and os.getpgrp() == os.getpid():
            os.killpg(os.getpid(), signal.SIGKILL)


class Reaper(NannyPlugin):
    """In each nanny: when its worker process is gone (died, killed, restarted), whatever is
    left of its process group (a Tesseract the dead worker started) is killed."""

    name = "esak-reaper"
    idempotent = True
    #: how often the nanny looks, in milliseconds
    interval_ms = 250

    def setup(self, nanny: Any) -> None:
        self._pid: int | None = None
        self._check = PeriodicCallback(partial(self._look, nanny), self.interval_ms)
        self._check.start()

    def _look(self, nanny: Any) -> None:
        process = nanny.process
        pid = process.pid if process is not None else None  # None once it is not alive
        if self._pid is not None and pid != self._pid:
            kill_group(self._pid)
        self._pid = pid

    def teardown(self, nanny: Any) -> None:
        self._check.stop()
        if self._pid is not None and not nanny.is_alive():
            kill_group(self._pid)

"""The one seam for parallel work: a ``concurrent.futures.Executor`` behind a small pool.

Locally a process pool (OCRmyPDF runs one job per Python process); for runs that outgrow one
machine a Dask cluster's ``Client.get_executor()``. Workers get small picklable tasks and
return small result records; only the coordinating process writes the index.

A local pool can be killed and started again: that is how a hung document is stopped and how
a pool whose worker died (Tesseract crash, OOM killer) goes on.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any

from esak.errors import DependencyError

_PR_SET_PDEATHSIG = 1


def default_workers() -> int:
    """One worker per core the process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _worker_init() -> None:
    # Own process group: Ctrl-C in the terminal reaches only the coordinator, which decides
    # what happens to work in flight; and killing the group takes Tesseract with the worker.
    os.setpgrp()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A coordinator killed with -9 takes its workers along instead of leaving them OCRing.
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class Pool:
    """Workers for classification and OCR: ``workers`` tasks run at a time, no queue behind;
    local processes, or the Dask scheduler at ``scheduler``."""

    def __init__(self, workers: int | None = None, scheduler: str | None = None) -> None:
        self.scheduler = scheduler
        self.workers = workers or default_workers()
        self._executor: Executor = self._make()

    @property
    def can_kill(self) -> bool:
        """True for a local pool: a hung task can be stopped by killing its workers."""
        return isinstance(self._executor, ProcessPoolExecutor)

    def _make(self) -> Executor:
        if self.scheduler:
            try:
                from distributed import Client
            except ImportError as exc:
                raise DependencyError(
                    "--scheduler needs Dask distributed, which is not installed",
                    "pip install 'esak[dask]' in esak's environment",
                ) from exc
            return Client(self.scheduler).get_executor()
        # spawn: PDFium and Tesseract state must not be inherited half-initialised via fork.
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
        )

    def submit(self, fn: Callable[[Any], Any], task: Any) -> Future[Any]:
        return self._executor.submit(fn, task)

    def kill(self) -> None:
        """Stop every worker now (and what they started); running tasks are lost."""
        executor = self._executor
        if isinstance(executor, ProcessPoolExecutor):
            # No public API kills a pool's workers; _processes is stable since Python 3.2.
            for process in list(getattr(executor, "_processes", {}).values()):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, signal.SIGKILL)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
        executor.shutdown(wait=True, cancel_futures=True)

    def restart(self) -> None:
        """A fresh pool after a worker died or hung."""
        self.kill()
        self._executor = self._make()

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

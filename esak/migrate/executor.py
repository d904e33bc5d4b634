"""The one seam for parallel work: a pool of workers that takes small picklable tasks.

Locally a process pool (OCRmyPDF runs one job per Python process); for runs that outgrow one
machine a Dask cluster (:mod:`esak.migrate.dask_pool`). Workers get small picklable tasks and
return small result records; only the coordinating process writes the index.

A local pool can be killed and started again: that is how a hung document is stopped and how
a pool whose worker died (Tesseract crash, OOM killer) goes on. On Dask only the worker of a
hung task is restarted, and a worker that died costs only the task it ran.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Literal, Protocol

#: What a failed future says about the workers: ``"pool"``, every task in flight is lost
#: with the pool (a local worker died); ``"worker"``, the task's own worker died (Dask).
Lost = Literal["pool", "worker"] | None

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


class WorkerPool(Protocol):
    """What the scheduler needs of a pool (:class:`Pool`, ``dask_pool.DaskPool``)."""

    #: tasks that may run at a time: one per worker process
    @property
    def workers(self) -> int: ...

    #: a hung task can be stopped
    @property
    def can_kill(self) -> bool: ...

    #: only the worker of a hung task is restarted (:meth:`stop`), not the whole pool
    @property
    def restarts_one(self) -> bool: ...

    def submit(self, fn: Callable[[Any], Any], task: Any) -> Future[Any]: ...
    def lost(self, error: BaseException) -> Lost: ...
    def stop(self, future: Future[Any]) -> list[Future[Any]]: ...
    def kill(self) -> None: ...
    def restart(self) -> None: ...
    def close(self) -> None: ...


def open_pool(workers: int | None = None, scheduler: Any = None) -> WorkerPool:
    """Local worker processes; with ``scheduler`` (a ``tcp://`` address or a
    ``dask_pool.Cluster``) the workers of a Dask cluster."""
    if scheduler is None:
        return Pool(workers)
    from esak.migrate.dask_pool import Cluster, DaskPool

    cluster = scheduler if isinstance(scheduler, Cluster) else Cluster(address=str(scheduler))
    return DaskPool(cluster, workers)


class Pool:
    """Local worker processes for classification and OCR: ``workers`` tasks run at a time,
    no queue behind."""

    #: a hung task is stopped by killing the pool's workers, then the pool starts again
    can_kill = True
    restarts_one = False

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or default_workers()
        self._executor: ProcessPoolExecutor = self._make()

    def _make(self) -> ProcessPoolExecutor:
        # spawn: PDFium and Tesseract state must not be inherited half-initialised via fork.
        return ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_init,
        )

    def submit(self, fn: Callable[[Any], Any], task: Any) -> Future[Any]:
        return self._executor.submit(fn, task)

    def lost(self, error: BaseException) -> Lost:
        """A worker died: the pool is broken, every task in flight is lost with it."""
        return "pool" if isinstance(error, BrokenProcessPool) else None

    def stop(self, future: Future[Any]) -> list[Future[Any]]:
        raise NotImplementedError("a local pool stops a hung task by restart()")

    def kill(self) -> None:
        """Stop every worker now (and what they started); running tasks are lost."""
        executor = self._executor
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

"""The one seam for parallel work: a ``concurrent.futures.Executor``.

Locally a process pool (OCRmyPDF runs one job per Python process); for runs that outgrow one
machine a Dask cluster's ``Client.get_executor()``. Workers get small picklable tasks and
return small result records; only the coordinating process writes the index.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import Executor, ProcessPoolExecutor

from esak.errors import DependencyError


def default_workers() -> int:
    """One worker per core the process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def make_executor(workers: int | None = None, scheduler: str | None = None) -> Executor:
    """A process pool of ``workers``, or the executor of the Dask scheduler at ``scheduler``."""
    if scheduler:
        try:
            from distributed import Client
        except ImportError as exc:
            raise DependencyError(
                "--scheduler needs Dask distributed, which is not installed",
                "pip install 'esak[dask]' in esak's environment",
            ) from exc
        return Client(scheduler).get_executor()
    # spawn: PDFium and Tesseract state must not be inherited half-initialised through fork.
    return ProcessPoolExecutor(
        max_workers=workers or default_workers(),
        mp_context=multiprocessing.get_context("spawn"),
    )

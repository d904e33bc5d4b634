"""Untrusted page reading in a limited process.

Delivery files come from outside: a page built to exhaust memory (forms nested in forms, an
image whose header lies) must end the process that reads it, never the machine. Ingest's
workers read pages inside :func:`memory_limit`; ``esak inspect``, the fuzz tests and the
blanks review sheet run their reading in a :class:`LimitedReader`, one spawned process under
the same limit, started again after it died.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import resource
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from esak.errors import InputError, redeliver

_T = TypeVar("_T")


#: Address space a worker may take while PDFium reads pages. A sane page needs a tenth of it;
#: a page built to exhaust memory (forms nested in forms) makes PDFium abort instead of the
#: machine swapping, and the coordinator sets the pages aside after a retry.
CLASSIFY_MEMORY_LIMIT = 1536 << 20


@contextlib.contextmanager
def memory_limit(limit: int) -> Iterator[None]:
    """The process's address space limited to ``limit`` bytes while the block runs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if (soft != resource.RLIM_INFINITY and soft <= limit) or (
        hard != resource.RLIM_INFINITY and hard < limit
    ):
        yield
        return
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        # Tesseract and Ghostscript, started later by OCRmyPDF, must not inherit the limit.
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


class ReaderDied(Exception):
    """The reading process died (memory refused, or PDFium crashed) while it read."""


def reader_died(where: str) -> InputError:
    """The error for a file or page whose reading ended the limited process."""
    return InputError(
        f"{where}: reading it took more than the "
        f"{CLASSIFY_MEMORY_LIMIT >> 20} MiB a page may use, and the reading process died",
        redeliver("the file is damaged or built to exhaust memory"),
    )


class LimitedReader:
    """One spawned process that runs functions under the address-space limit of ingest's
    workers; started when first needed and again after it died."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def run(self, fn: Callable[..., _T], *args: Any) -> _T:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"))
        try:
            return self._pool.submit(_limited, fn, *args).result()
        except BrokenProcessPool as exc:
            self.close(wait=False)
            raise ReaderDied from exc

    def close(self, wait: bool = True) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None


def _limited(fn: Callable[..., _T], *args: Any) -> _T:
    with memory_limit(CLASSIFY_MEMORY_LIMIT):
        return fn(*args)

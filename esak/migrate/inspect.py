"""``esak inspect``: what each page of a scanned input is, and the barcodes read on it."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from esak.errors import InputError
from esak.migrate.classify import PageClass, SiteRules, classify_page
from esak.migrate.pages import display_name, open_pages
from esak.migrate.tasks import CLASSIFY_MEMORY_LIMIT, memory_limit

_T = TypeVar("_T")

#: Resolution pages are read at; the barcode samples are specified at 300 dpi.
INSPECT_DPI = 300.0


@dataclass
class InspectedPage:
    index: int
    page: PageClass
    size_mm: tuple[float, float]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index}
        out.update(self.page.to_dict())
        out["size_mm"] = [round(self.size_mm[0], 1), round(self.size_mm[1], 1)]
        return out


@dataclass
class InspectReport:
    file: str
    format: str
    site: str
    pages: list[InspectedPage] = field(default_factory=list)
    #: Files in an image folder that are not page images.
    ignored_files: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        found = [f"page {p.index + 1}: {p.page.problem}" for p in self.pages if p.page.problem]
        found += [f"{name}: not a page image, ignored" for name in self.ignored_files]
        return found

    def counts(self) -> dict[str, int]:
        out = {"cover": 0, "separator": 0, "blank": 0, "content": 0}
        for p in self.pages:
            out[str(p.page.kind)] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "format": self.format,
            "site": self.site,
            "page_count": len(self.pages),
            "counts": self.counts(),
            "pages": [p.to_dict() for p in self.pages],
            "ignored_files": self.ignored_files,
            "problems": self.problems,
        }


def inspect_path(
    path: Path,
    rules: SiteRules,
    *,
    dpi: float = INSPECT_DPI,
    on_page: Callable[[int, int], None] | None = None,
) -> InspectReport:
    """Classify every page of a PDF, TIFF, image or image folder, one page in memory at a time.

    Pages are read in a child process under the same address-space limit as ingest's
    workers: a page built to exhaust memory ends that process, not the caller's, and is
    reported. Raises :class:`esak.errors.InputError` when the input cannot be read.
    """
    path = Path(path)
    fmt, count, ignored = _call(path, None, _describe, str(path))
    report = InspectReport(file=str(path), format=fmt, site=rules.key, ignored_files=ignored)
    for index in range(count):
        report.pages.append(_call(path, index, _inspect_page, str(path), index, rules, dpi))
        if on_page:
            on_page(index + 1, count)
    return report


_reader: ProcessPoolExecutor | None = None


def _call(path: Path, index: int | None, fn: Callable[..., _T], *args: Any) -> _T:
    """``fn(*args)`` in the reading process, started once and again after it died."""
    global _reader
    if _reader is None:
        _reader = ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"))
    try:
        return _reader.submit(fn, *args).result()
    except BrokenProcessPool as exc:
        _reader.shutdown(wait=False, cancel_futures=True)
        _reader = None
        where = display_name(path) if index is None else f"{display_name(path)}, page {index + 1}"
        raise InputError(
            f"{where}: reading it took more than the "
            f"{CLASSIFY_MEMORY_LIMIT >> 20} MiB a page may use, and the reading process died",
            "the file is damaged or built to exhaust memory; "
            "ask the scanning service to deliver it again",
        ) from exc


def _describe(path: str) -> tuple[str, int, list[str]]:
    with memory_limit(CLASSIFY_MEMORY_LIMIT), open_pages(Path(path)) as source:
        return source.format, source.page_count, list(source.ignored)


def _inspect_page(path: str, index: int, rules: SiteRules, dpi: float) -> InspectedPage:
    with memory_limit(CLASSIFY_MEMORY_LIMIT), open_pages(Path(path)) as source:
        page = source.page(index, dpi)
        try:
            return InspectedPage(index, classify_page(page.image, page.dpi, rules), page.size_mm)
        finally:
            page.image.close()

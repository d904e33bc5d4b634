"""``esak inspect``: what each page of a scanned input is, and the barcodes read on it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from esak.errors import ExitCode
from esak.files import display_name
from esak.migrate.classify import PageClass, classify_page
from esak.migrate.codes import SiteRules
from esak.migrate.pages import PageSource, open_pages
from esak.sandbox import LimitedReader, ReaderDied, reader_died
from esak.vocabulary import PageKind

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

    @property
    def exit_code(self) -> ExitCode:
        """1 when a cover sheet or separator cannot be used, or a file is not a page image."""
        return ExitCode.PROBLEMS if self.problems else ExitCode.OK

    def counts(self) -> dict[str, int]:
        out = {str(kind): 0 for kind in PageKind}
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
    fmt, count, ignored = _read(path, None, _open, str(path))
    report = InspectReport(file=str(path), format=fmt, site=rules.key, ignored_files=ignored)
    for index in range(count):
        report.pages.append(_read(path, index, _inspect_page, index, rules, dpi))
        if on_page:
            on_page(index + 1, count)
    return report


_reader = LimitedReader()


def _read(path: Path, index: int | None, fn: Callable[..., _T], *args: Any) -> _T:
    try:
        return _reader.run(fn, *args)
    except ReaderDied as exc:
        where = display_name(path) if index is None else f"{display_name(path)}, page {index + 1}"
        raise reader_died(where) from exc


#: The input being inspected, in the reading process: opened once by ``_open`` (at the start
#: of every inspect, so a file changed since is read anew) and read page by page.
_source: PageSource | None = None


def _open(path: str) -> tuple[str, int, list[str]]:
    global _source
    if _source is not None:
        _source.close()
        _source = None
    _source = open_pages(Path(path))
    return _source.format, _source.page_count, list(_source.ignored)


def _inspect_page(index: int, rules: SiteRules, dpi: float) -> InspectedPage:
    assert _source is not None, "_open runs first"
    page = _source.page(index, dpi, scale_up=False)  # as ingest classifies it
    try:
        return InspectedPage(index, classify_page(page.image, page.dpi, rules), page.size_mm)
    finally:
        page.image.close()

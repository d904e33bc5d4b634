"""``esak inspect``: what each page of a scanned input is, and the barcodes read on it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esak.migrate.classify import PageClass, SiteRules, classify_page
from esak.migrate.pages import open_pages

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

    Raises :class:`esak.errors.InputError` when the input cannot be read.
    """
    with open_pages(Path(path)) as source:
        report = InspectReport(
            file=str(path), format=source.format, site=rules.key, ignored_files=source.ignored
        )
        for page in source.pages(dpi):
            report.pages.append(
                InspectedPage(page.index, classify_page(page.image, page.dpi, rules), page.size_mm)
            )
            page.image.close()
            if on_page:
                on_page(page.index + 1, source.page_count)
    return report

"""What a page is: cover sheet, separator, blank back side, or content.

One function decides it for ``esak inspect`` and for ingest alike, so that what a migration
team sees when it inspects a batch is exactly what ingest will do with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from PIL import Image

from esak.migrate.barcodes import Barcode, read_barcodes
from esak.migrate.blank import blank_verdict


class PageKind(StrEnum):
    COVER = "cover"
    SEPARATOR = "separator"
    BLANK = "blank"
    CONTENT = "content"


class SiteRules(Protocol):
    """What classification needs to know of a site (a :class:`esak.profiles.Profile`)."""

    key: str

    def is_household(self, text: str) -> bool: ...


@dataclass(frozen=True)
class CoverInfo:
    household: str
    volume: int
    #: Pages that follow the cover up to the next cover or the end of the batch; 0 = not counted.
    declared_pages: int
    structured: bool


@dataclass(frozen=True)
class SeparatorInfo:
    doc_type: str | None


@dataclass(frozen=True)
class PayloadProblem:
    """A barcode that means to be a cover sheet or separator but cannot be used as one."""

    kind: PageKind
    reason: str


Payload = CoverInfo | SeparatorInfo | PayloadProblem

_DOC_TYPE = re.compile(r"[0-9A-Za-zÄÖÜäöüß][0-9A-Za-zÄÖÜäöüß _.-]{0,39}")
# A bare code that looks like a household number of the default layout but fails the
# site's pattern. Treating it as a broken cover sheet quarantines its pages; treating it
# as content would silently merge them into the previous household.
_LOOKS_LIKE_HOUSEHOLD = re.compile(r"\d{2,}\s*BG\s*\d{2,}", re.IGNORECASE)


def parse_payload(text: str, rules: SiteRules) -> Payload | None:
    """Interpret one barcode's text; ``None`` when it is neither cover sheet nor separator."""
    value = text.strip()
    upper = value.upper()
    if upper == "PATCHT":
        return SeparatorInfo(doc_type=None)
    if upper.startswith("DOC;"):
        doc_type = value[4:].strip()
        if not _DOC_TYPE.fullmatch(doc_type):
            return PayloadProblem(
                PageKind.SEPARATOR,
                f"separator {value!r}: the document type must be 1-40 letters, digits, "
                "spaces, '.', '_' or '-'",
            )
        return SeparatorInfo(doc_type=doc_type)
    if upper.startswith("ESAK"):
        return _parse_structured(value, rules)
    if rules.is_household(value):
        return CoverInfo(household=value, volume=1, declared_pages=0, structured=False)
    if _LOOKS_LIKE_HOUSEHOLD.search(value):
        return PayloadProblem(
            PageKind.COVER,
            f"cover sheet {value!r}: not a household number of this site's pattern",
        )
    return None


def _parse_structured(value: str, rules: SiteRules) -> Payload:
    fields = value.split(";")
    if fields[0] != "ESAK1" or len(fields) != 5:
        return PayloadProblem(
            PageKind.COVER,
            f"cover sheet {value!r}: expected ESAK1;<site>;<household>;<volume>;<pages>",
        )
    _, site, household, volume, pages = fields
    if rules.key != "default" and site != rules.key:
        return PayloadProblem(
            PageKind.COVER, f"cover sheet of site {site!r} in a delivery for site {rules.key!r}"
        )
    if not rules.is_household(household):
        return PayloadProblem(
            PageKind.COVER,
            f"cover sheet {value!r}: {household!r} is not a household number "
            "of this site's pattern",
        )
    volume_no = _whole_number(volume, 999)
    if volume_no is None or volume_no < 1:
        return PayloadProblem(
            PageKind.COVER, f"cover sheet {value!r}: volume must be a whole number from 1 to 999"
        )
    declared = _whole_number(pages, 100_000)
    if declared is None:
        return PayloadProblem(
            PageKind.COVER,
            f"cover sheet {value!r}: page count must be a whole number (0 = not counted)",
        )
    return CoverInfo(
        household=household, volume=volume_no, declared_pages=declared, structured=True
    )


def _whole_number(text: str, limit: int) -> int | None:
    """``text`` as a number from 0 to ``limit``; None if it is anything else.

    Checked by length before ``int()``: a QR code holds 7000 digits, and ``int()`` refuses
    more than 4300 with a ValueError.
    """
    if not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(limit)):
        return None
    number = int(digits)
    return number if number <= limit else None


# --- the page as a whole ------------------------------------------------------------------


@dataclass
class PageClass:
    kind: PageKind
    barcodes: list[Barcode] = field(default_factory=list)
    cover: CoverInfo | None = None
    separator: SeparatorInfo | None = None
    #: Why a cover sheet or separator on this page cannot be used, if so.
    problem: str | None = None
    ink: float | None = None
    #: For a page with no barcode: what on it counts as writing (None when blank).
    why: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": str(self.kind),
            "barcodes": [b.to_dict() for b in self.barcodes],
        }
        if self.cover:
            out["household"] = self.cover.household
            out["volume"] = self.cover.volume
            out["declared_pages"] = self.cover.declared_pages
        if self.separator:
            out["doc_type"] = self.separator.doc_type
        if self.problem:
            out["problem"] = self.problem
        if self.ink is not None:
            out["ink"] = round(self.ink, 5)
        if self.why:
            out["why"] = self.why
        return out


def classify_barcodes(barcodes: list[Barcode], rules: SiteRules) -> PageClass | None:
    """The page's kind from its barcodes alone; ``None`` when they say nothing about it."""
    covers: list[CoverInfo] = []
    separators: list[SeparatorInfo] = []
    problems: list[PayloadProblem] = []
    for code in barcodes:
        payload = parse_payload(code.text, rules)
        if isinstance(payload, CoverInfo):
            covers.append(payload)
        elif isinstance(payload, SeparatorInfo):
            separators.append(payload)
        elif isinstance(payload, PayloadProblem):
            problems.append(payload)
    cover_problems = [p for p in problems if p.kind is PageKind.COVER]
    if covers or cover_problems:
        households = {c.household for c in covers}
        if cover_problems:
            return PageClass(PageKind.COVER, barcodes, problem=cover_problems[0].reason)
        if len(households) > 1:
            return PageClass(
                PageKind.COVER,
                barcodes,
                problem="cover sheet with codes of different households: "
                + ", ".join(sorted(households)),
            )
        # A structured code says more (volume, page count) than a bare number on the same sheet.
        best = max(covers, key=lambda c: c.structured)
        return PageClass(PageKind.COVER, barcodes, cover=best)
    if separators or problems:
        types = {s.doc_type for s in separators if s.doc_type}
        if problems:
            return PageClass(
                PageKind.SEPARATOR,
                barcodes,
                separator=SeparatorInfo(None),
                problem=problems[0].reason,
            )
        if len(types) > 1:
            return PageClass(
                PageKind.SEPARATOR,
                barcodes,
                separator=SeparatorInfo(None),
                problem="separator with several document types: " + ", ".join(sorted(types)),
            )
        return PageClass(
            PageKind.SEPARATOR, barcodes, separator=SeparatorInfo(next(iter(types), None))
        )
    return None


def classify_page(image: Image.Image, dpi: float, rules: SiteRules) -> PageClass:
    """Read the page's barcodes and decide its kind."""
    barcodes = read_barcodes(image)
    decided = classify_barcodes(barcodes, rules)
    if decided is not None:
        return decided
    if barcodes:
        # Codes of other systems (archive labels, ASNs) on a page make it content.
        return PageClass(PageKind.CONTENT, barcodes)
    verdict = blank_verdict(image, dpi)
    kind = PageKind.BLANK if verdict.blank else PageKind.CONTENT
    return PageClass(kind, barcodes, ink=verdict.ink, why=verdict.reason or None)

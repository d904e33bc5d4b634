"""What a page is: cover sheet, separator, blank back side, or content.

One function decides it for ``esak inspect`` and for ingest alike, so that what a migration
team sees when it inspects a batch is exactly what ingest will do with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from esak.migrate.barcodes import Barcode, read_again, read_barcodes
from esak.migrate.blank import blank_verdict
from esak.migrate.codes import (
    CoverInfo,
    PayloadProblem,
    SeparatorInfo,
    SiteRules,
    parse_payload,
)
from esak.vocabulary import PageKind

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
    barcodes = read_barcodes(image, dpi)
    decided = classify_barcodes(barcodes, rules)
    if decided is not None:
        return decided
    verdict = None
    if not barcodes:
        verdict = blank_verdict(image, dpi)
        if verdict.blank:
            # No worn sheet's code is this faint (esak.synthetic.worn; the second reading
            # needs bars 40 grey levels below the paper, the blank test keeps far less):
            # a blank page is not read again.
            return PageClass(PageKind.BLANK, [], ink=verdict.ink, why=verdict.reason or None)
    # Read again, also beside other systems' codes: an archive label read on a cover sheet
    # whose own worn code was not would send the household's pages to the previous one.
    barcodes += [code for code in read_again(image, dpi) if code not in barcodes]
    decided = classify_barcodes(barcodes, rules)
    if decided is not None:
        return decided
    if verdict is None:
        # Codes of other systems (archive labels, ASNs) on a page make it content.
        return PageClass(PageKind.CONTENT, barcodes)
    return PageClass(PageKind.CONTENT, barcodes, ink=verdict.ink, why=verdict.reason or None)

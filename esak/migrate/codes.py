"""What the codes and printed text of cover sheets and separators say: the one place that
writes them and reads them back, so the printed sheet and the parser cannot drift apart.

Barcode texts (CONTRACT §4): ``PATCHT`` (a plain document break), ``DOC;<type>`` (a break
announcing a document type), ``ESAK1;<site>;<household>;<volume>;<pages>`` (a cover sheet),
or a bare household number of the site's pattern (a cover sheet of another system). The
printed cover sheet carries ``AKTENDECKBLATT`` and ``BG-Nummer: <household>``, which ingest
reads by OCR where the barcode is damaged. Used by classification, text-cover detection,
``esak coversheets`` and the synthetic deliveries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from esak.vocabulary import PageKind

#: The first field of a structured cover code: the version of the form.
COVER_CODE_PREFIX = "ESAK1"


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
    if upper.startswith("ESAK"):  # also ESAK2…: a cover sheet of a form esak cannot read
        return _parse_structured(value, rules)
    if rules.is_household(value):
        return CoverInfo(household=value, volume=1, declared_pages=0, structured=False)
    if _LOOKS_LIKE_HOUSEHOLD.search(value):
        return PayloadProblem(
            PageKind.COVER,
            f"cover sheet {value!r}: not a household number of this site's pattern",
        )
    return None


def cover_code(site: str, household: str, volume: int = 1, declared_pages: int = 0) -> str:
    """The structured barcode text of a cover sheet: ``ESAK1;<site>;<household>;<volume>;
    <pages>`` (CONTRACT §4; pages 0 = not counted). :func:`parse_payload` reads it back."""
    return f"{COVER_CODE_PREFIX};{site};{household};{volume};{declared_pages}"


def household_label(household: str) -> str:
    """The household number as printed in clear text on a cover sheet, which
    :func:`find_text_covers` reads back by OCR when the barcode is damaged."""
    return f"BG-Nummer: {household}"


def _parse_structured(value: str, rules: SiteRules) -> Payload:
    fields = value.split(";")
    if fields[0] != COVER_CODE_PREFIX or len(fields) != 5:
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


#: The title printed on every cover sheet, and how OCR may render it.
COVER_TITLE = "AKTENDECKBLATT"
_COVER_TITLE = re.compile(r"AKTEN\s*DECK\s*BLATT", re.IGNORECASE)
_COVER_NUMBER = re.compile(r"BG\s*-?\s*Nummer\s*[:.]?\s*([0-9A-Za-z]{6,40})", re.IGNORECASE)


def find_text_covers(page_texts: list[str]) -> tuple[tuple[int, str], ...]:
    """Pages whose OCR text is that of a cover sheet, with the household number printed on it."""
    found = []
    for pos, text in enumerate(page_texts):
        if _COVER_TITLE.search(text):
            match = _COVER_NUMBER.search(text)
            if match:
                found.append((pos, match.group(1)))
    return tuple(found)

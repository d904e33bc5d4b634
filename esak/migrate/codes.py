"""What the codes and printed text of cover sheets and separators say: the one place that
writes them and reads them back, so the printed sheet and the parser cannot drift apart.

Barcode texts (CONTRACT §4): ``PATCHT`` (a plain document break), ``DOC;<type>`` (a break
announcing a document type), ``ESAK1;<site>;<household>;<volume>;<pages>`` (a cover sheet),
or a bare household number of the site's pattern (a cover sheet of another system); on
incoming mail also ``ESAKP;<site>;<household>;<letter id>`` (a reply slip, CONTRACT §11). The
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
#: The first field of a reply-slip code, printed on forms the Jobcenter sends out so that the
#: form that comes back is filed by its code: ``ESAKP;<site>;<household>;<letter id>``.
REPLY_CODE_PREFIX = "ESAKP"


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


# --- incoming mail ------------------------------------------------------------------------

_LETTER_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.-]{0,39}")


@dataclass(frozen=True)
class MailCode:
    """What a barcode on a letter of the incoming mail says about its household.

    ``kind``: ``cover`` (an ``ESAK1`` cover sheet), ``reply`` (an ``ESAKP`` reply slip) or
    ``number`` (a bare household number). ``household`` is None, and ``problem`` says why,
    when the code means to name one but cannot be used: another site's code (``site`` names
    it), a number outside the site's pattern, a malformed text."""

    kind: str
    text: str
    household: str | None
    site: str | None = None
    letter_id: str | None = None
    problem: str | None = None


def reply_code(site: str, household: str, letter_id: str) -> str:
    """The barcode text of a reply slip: ``ESAKP;<site>;<household>;<letter id>``."""
    return f"{REPLY_CODE_PREFIX};{site};{household};{letter_id}"


def parse_mail_code(text: str, rules: SiteRules) -> MailCode | None:
    """A barcode's text as evidence for routing a letter, validated like a cover sheet's;
    None when it says nothing about a household (a separator, another system's label)."""
    value = text.strip()
    upper = value.upper()
    if upper.startswith(REPLY_CODE_PREFIX + ";") or upper == REPLY_CODE_PREFIX:
        fields = value.split(";")
        if len(fields) != 4 or fields[0] != REPLY_CODE_PREFIX:
            return MailCode(
                "reply", value, None, problem="expected ESAKP;<site>;<household>;<letter id>"
            )
        _, site, household, letter_id = fields
        if not _LETTER_ID.fullmatch(letter_id):
            why = "the letter id must be 1-40 letters, digits, '.', '_' or '-'"
            return MailCode("reply", value, None, site, problem=why)
        return _checked("reply", value, site, household, rules, letter_id)
    if upper.startswith("ESAK"):
        payload = _parse_structured(value, rules)
        if isinstance(payload, CoverInfo):
            return MailCode("cover", value, payload.household, rules.key)
        fields = value.split(";")
        site = fields[1] if len(fields) > 1 and fields[0] == COVER_CODE_PREFIX else None
        assert isinstance(payload, PayloadProblem)
        return MailCode("cover", value, None, site, problem=payload.reason)
    if rules.is_household(value):
        return MailCode("number", value, value, rules.key)
    if _LOOKS_LIKE_HOUSEHOLD.search(value) and len(value) <= 40:
        why = "not a household number of this site's pattern"
        return MailCode("number", value, None, problem=why)
    return None


def _checked(
    kind: str, value: str, site: str, household: str, rules: SiteRules, letter_id: str
) -> MailCode:
    if rules.key != "default" and site != rules.key:
        why = f"a code of site {site!r}, not of {rules.key!r}"
        return MailCode(kind, value, None, site, letter_id, problem=why)
    if not rules.is_household(household):
        why = f"{household!r} is not a household number of this site's pattern"
        return MailCode(kind, value, None, site, letter_id, problem=why)
    return MailCode(kind, value, household, site, letter_id)


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

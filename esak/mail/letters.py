"""The letters in one file of a mail delivery: pure logic, no I/O.

A file is one letter, or a batch of letters divided by separator sheets (``PATCHT``,
``DOC;<type>``) or by esak cover sheets (``ESAK1;…``, which also name the household). Blank
back sides are left out (profile ``blank_pages = "drop"``) and recorded; they never make a
letter of their own. A page with a reply-slip code (``ESAKP;…``) or a bare household number
is a page of its letter: the code is evidence for routing, the page is archived with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from esak.migrate.codes import MailCode, SiteRules, parse_mail_code
from esak.migrate.plan import UNREADABLE_PAGE, PageRecord
from esak.vocabulary import PageKind, PageOutcome


@dataclass
class Letter:
    """One letter: its pages (indexes from 0 in the file), the codes read on them and on the
    cover sheet before it, and why a page of it could not be read."""

    pages: list[int] = field(default_factory=list)
    #: blank back sides left out of it
    blanks: list[int] = field(default_factory=list)
    codes: list[MailCode] = field(default_factory=list)
    cover_page: int | None = None
    error: str | None = None

    @property
    def first(self) -> int:
        return min(self.pages + self.blanks)

    @property
    def last(self) -> int:
        return max(self.pages + self.blanks)


@dataclass
class FilePlan:
    letters: list[Letter]
    #: every page that is not a letter's content: separator, cover or blank
    outcomes: dict[int, PageOutcome]


def split_letters(
    records: Sequence[PageRecord], rules: SiteRules, keep_blanks: bool = False
) -> FilePlan:
    """The letters of one file, from its classified pages in order."""
    letters: list[Letter] = []
    outcomes: dict[int, PageOutcome] = {}
    current: Letter | None = None

    def close() -> None:
        nonlocal current
        if current is not None and current.pages:
            letters.append(current)
        elif current is not None:
            # A cover sheet or blanks with no page after them: no letter.
            for index in current.blanks:
                outcomes[index] = PageOutcome.BLANK
        current = None

    for record in records:
        codes = [c for c in (parse_mail_code(t, rules) for _, t in record.barcodes) if c]
        if record.kind == PageKind.SEPARATOR and not codes:
            close()
            outcomes[record.index] = PageOutcome.SEPARATOR
            continue
        if any(c.kind == "cover" for c in codes):
            close()
            current = Letter(codes=list(codes), cover_page=record.index)
            outcomes[record.index] = PageOutcome.COVER
            continue
        if record.kind == PageKind.BLANK and not keep_blanks and not record.error:
            if current is None:
                outcomes[record.index] = PageOutcome.BLANK
            else:
                current.blanks.append(record.index)
            continue
        if current is None:
            current = Letter()
        current.pages.append(record.index)
        current.codes.extend(codes)
        if record.error and current.error is None:
            current.error = f"{UNREADABLE_PAGE} (page {record.index + 1}): {record.error}"
    close()
    for letter in letters:
        # Blanks after a letter's last page belong to it, as its back sides.
        for index in letter.blanks:
            outcomes[index] = PageOutcome.BLANK
    return FilePlan(letters, outcomes)

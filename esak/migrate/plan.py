"""From the classified pages of one batch to sections, documents and page outcomes.

Pure logic, no I/O: workers classify pages, this module decides what becomes of each one, and
ingest carries the plan out. Keeping the decision in one small function means the rules of
CONTRACT §4 and the page accounting of §5 can be tested exhaustively without scanning paper.

The guiding rule: when in doubt, a page is set aside (quarantined) with a reason, never guessed
into a household and never dropped. Pages after a cover sheet that cannot be used would
otherwise silently end up in the previous household's file.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from esak.i18n import N_
from esak.vocabulary import ACCOUNTED, BlankPolicy, PageKind, PageOutcome

KINDS = tuple(PageKind)
OUTCOMES = ACCOUNTED
BLANK_PAGE_POLICIES = tuple(BlankPolicy)

ORPHAN_REASON = N_(
    "before the first cover sheet of the batch: belongs to no household, "
    "set aside for clarification"
)
#: The start of the reason for a page that cannot be read (the rest is the reader's message).
UNREADABLE_PAGE = N_("page cannot be read")


@dataclass(frozen=True)
class PageRecord:
    """What a worker found on one page (small and picklable: it crosses process borders)."""

    index: int
    kind: str
    barcodes: tuple[tuple[str, str], ...] = ()
    household: str | None = None
    volume: int | None = None
    #: ESAK1 covers: pages that follow up to the next cover or the end; 0 = not counted.
    declared_pages: int | None = None
    doc_type: str | None = None
    #: Why a cover sheet or separator on this page cannot be used.
    problem: str | None = None
    #: Why the page could not be read at all.
    error: str | None = None
    #: 'barcode', or 'ocr' for a cover recognised from its printed household number.
    detected_by: str = "barcode"


@dataclass
class PlannedDocument:
    number: int
    household: str
    volume: int
    doc_type: str | None
    pages: list[int] = field(default_factory=list)


@dataclass
class Section:
    """One cover sheet (or a household-named file) and the pages that follow it."""

    household: str
    volume: int
    cover_page: int | None
    declared_pages: int | None
    found_pages: int
    first_page: int
    last_page: int

    @property
    def mismatch(self) -> bool:
        return self.declared_pages not in (None, 0) and self.declared_pages != self.found_pages


@dataclass
class PlannedPage:
    index: int
    outcome: str
    household: str | None
    volume: int | None
    document: int | None
    reason: str | None


@dataclass
class QuarantineRange:
    first: int
    last: int
    reason: str


@dataclass
class BatchPlan:
    pages: list[PlannedPage]
    documents: list[PlannedDocument]
    sections: list[Section]
    quarantine: list[QuarantineRange]

    def counts(self) -> dict[str, int]:
        found = Counter(p.outcome for p in self.pages)
        return {outcome: found.get(outcome, 0) for outcome in OUTCOMES}


class _Planner:
    """The walk over one batch; state lives here so that ``plan_batch`` reads as the rules."""

    def __init__(self, keep_blanks: bool) -> None:
        self.keep_blanks = keep_blanks
        self.pages: list[PlannedPage] = []
        self.documents: list[PlannedDocument] = []
        self.sections: list[Section] = []
        #: The section pages currently belong to; None before the first usable cover or
        #: inside a range that an unusable cover started.
        self.section: Section | None = None
        #: Why pages outside a section are set aside.
        self.outside_reason = ORPHAN_REASON
        self.document: PlannedDocument | None = None
        self.pending_type: str | None = None

    # --- sections -----------------------------------------------------------------------

    def close_section(self, end: int) -> None:
        """End the open section before page ``end`` (a cover page of any kind, or the end)."""
        if self.section is not None:
            self.section.last_page = end - 1
            self.section.found_pages = end - self.section.first_page
        self.section = None
        self.break_document()
        self.pending_type = None

    def open_section(
        self, household: str, volume: int, cover_page: int | None, declared: int | None
    ) -> None:
        first = 0 if cover_page is None else cover_page + 1
        self.section = Section(
            household=household,
            volume=volume,
            cover_page=cover_page,
            declared_pages=declared,
            found_pages=0,
            first_page=first,
            last_page=first - 1,
        )
        self.sections.append(self.section)

    # --- documents ----------------------------------------------------------------------

    def break_document(self) -> None:
        self.document = None

    def archive(self, index: int) -> None:
        assert self.section is not None
        if self.document is None:
            # Opened lazily, so that breaks in a row never leave an empty document behind.
            self.document = PlannedDocument(
                number=len(self.documents),
                household=self.section.household,
                volume=self.section.volume,
                doc_type=self.pending_type,
            )
            self.documents.append(self.document)
            self.pending_type = None
        self.document.pages.append(index)
        self.record(index, PageOutcome.ARCHIVED, document=self.document.number)

    # --- outcomes -----------------------------------------------------------------------

    def record(
        self,
        index: int,
        outcome: str,
        *,
        document: int | None = None,
        reason: str | None = None,
        household: str | None = None,
        volume: int | None = None,
    ) -> None:
        if household is None and self.section is not None:
            household, volume = self.section.household, self.section.volume
        self.pages.append(PlannedPage(index, outcome, household, volume, document, reason))

    def set_aside(self, index: int, reason: str) -> None:
        # Pages outside a section carry no household: that is exactly what is unclear.
        self.pages.append(PlannedPage(index, PageOutcome.QUARANTINED, None, None, None, reason))

    def quarantine_ranges(self) -> list[QuarantineRange]:
        ranges: list[QuarantineRange] = []
        for page in self.pages:
            if page.outcome != PageOutcome.QUARANTINED:
                continue
            reason = page.reason or "set aside"
            last = ranges[-1] if ranges else None
            if last is not None and last.last == page.index - 1 and last.reason == reason:
                last.last = page.index
            else:
                ranges.append(QuarantineRange(page.index, page.index, reason))
        return ranges


def _check(records: Sequence[PageRecord], blank_pages: str) -> None:
    if blank_pages not in BLANK_PAGE_POLICIES:
        raise ValueError(f"blank_pages must be one of {BLANK_PAGE_POLICIES}, not {blank_pages!r}")
    for position, record in enumerate(records):
        if record.index != position:
            raise ValueError(
                f"page records must be indexes 0..{len(records) - 1} in order; "
                f"position {position} holds index {record.index}"
            )
        if record.kind not in KINDS:
            raise ValueError(f"page {record.index}: unknown kind {record.kind!r}")


def plan_batch(
    records: Sequence[PageRecord],
    *,
    blank_pages: str = BlankPolicy.DROP,
    household_file: tuple[str, int] | None = None,
) -> BatchPlan:
    """Decide every page's outcome and the documents of one batch (CONTRACT §4, §5).

    ``household_file`` is ``(household, volume)`` when the batch is a file named after one
    household: it starts inside that household's section, no cover sheet needed.
    """
    _check(records, blank_pages)
    plan = _Planner(keep_blanks=blank_pages == BlankPolicy.KEEP)
    if household_file is not None:
        plan.open_section(household_file[0], household_file[1], None, None)

    for record in records:
        i = record.index
        if record.error is not None:
            # An unreadable page's kind is a guess at best, so it never acts as a cover sheet
            # or separator; it is set aside and still counts towards found_pages.
            reason = f"{UNREADABLE_PAGE}: {record.error}"
            if plan.section is not None:
                # The pages on either side may belong to different documents: split there.
                # The continuation keeps the interrupted document's type (or the one a
                # separator announced), since it most likely is the rest of that document.
                if plan.document is not None:
                    plan.pending_type = plan.document.doc_type
                plan.break_document()
                plan.record(i, PageOutcome.QUARANTINED, reason=reason)
            else:
                plan.set_aside(i, reason)
            continue

        if record.kind == PageKind.COVER:
            plan.close_section(i)
            if record.problem is not None or not record.household:
                problem = record.problem or "cover sheet without a household number"
                plan.outside_reason = f"unusable cover sheet on page {i + 1}: {problem}"
                plan.set_aside(i, plan.outside_reason)
            elif household_file is not None and record.household != household_file[0]:
                plan.outside_reason = (
                    f"cover sheet of household {record.household} "
                    f"inside the file of household {household_file[0]}"
                )
                plan.set_aside(i, plan.outside_reason)
            else:
                volume = record.volume if record.volume is not None else 1
                plan.open_section(record.household, volume, i, record.declared_pages)
                plan.record(i, PageOutcome.COVER)
            continue

        if plan.section is None:
            # Before the first cover, or after an unusable one: nothing here is archived.
            if record.kind == PageKind.BLANK:
                plan.record(i, PageOutcome.BLANK)
            else:
                plan.set_aside(i, plan.outside_reason)
            continue

        if record.kind == PageKind.SEPARATOR:
            plan.break_document()
            # A separator with a problem still breaks, but announces no type; a later
            # separator before any content replaces what an earlier one announced.
            plan.pending_type = record.doc_type if record.problem is None else None
            plan.record(i, PageOutcome.SEPARATOR, reason=record.problem)
        elif record.kind == PageKind.BLANK and not plan.keep_blanks:
            plan.record(i, PageOutcome.BLANK)
        else:
            plan.archive(i)

    plan.close_section(len(records))
    return BatchPlan(
        pages=plan.pages,
        documents=plan.documents,
        sections=plan.sections,
        quarantine=plan.quarantine_ranges(),
    )

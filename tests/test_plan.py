"""Planning a batch: sections, documents and one outcome per page (CONTRACT §4, §5)."""

from __future__ import annotations

import pickle
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from esak.migrate.plan import (
    ORPHAN_REASON,
    OUTCOMES,
    BatchPlan,
    PageRecord,
    QuarantineRange,
    plan_batch,
)

H1 = "95401BG0000101"
H2 = "95401BG0000102"
H3 = "95401BG0000103"

# --- page builders: each returns the record's fields without its index -----------------------

Page = dict[str, Any]


def C(
    household: str | None = H1,
    volume: int | None = 1,
    declared: int | None = 0,
    problem: str | None = None,
) -> Page:
    """A cover sheet; with ``problem`` an unusable one."""
    if problem is not None:
        return {"kind": "cover", "problem": problem}
    return {
        "kind": "cover",
        "household": household,
        "volume": volume,
        "declared_pages": declared,
        "barcodes": (("Code128", household or ""),),
    }


def S(doc_type: str | None = None, problem: str | None = None) -> Page:
    """A separator: PATCHT, or DOC;<type>."""
    text = f"DOC;{doc_type}" if doc_type else "PATCHT"
    return {
        "kind": "separator",
        "doc_type": doc_type,
        "problem": problem,
        "barcodes": (("Code39", text),),
    }


def B() -> Page:
    return {"kind": "blank"}


def P() -> Page:
    return {"kind": "content"}


def E(reason: str = "broken image data", kind: str = "content") -> Page:
    return {"kind": kind, "error": reason}


def batch(*pages: Page) -> list[PageRecord]:
    return [PageRecord(index=i, **page) for i, page in enumerate(pages)]


def letters(plan: BatchPlan) -> str:
    """Outcomes as one letter a page: A(rchived) C(over) S(eparator) B(lank) Q(uarantined)."""
    code = {"archived": "A", "cover": "C", "separator": "S", "blank": "B", "quarantined": "Q"}
    return "".join(code[p.outcome] for p in plan.pages)


def docs(plan: BatchPlan) -> list[tuple[str, int, str | None, list[int]]]:
    return [(d.household, d.volume, d.doc_type, d.pages) for d in plan.documents]


def unusable(page: int, problem: str) -> str:
    return f"unusable cover sheet on page {page}: {problem}"


FILE_H1 = (H1, 1)

# --- the rules, table-driven ---------------------------------------------------------------

CASES = [
    # id, pages, options, outcomes, documents
    (
        "several-patcht-codes in a household file",
        [P(), P(), S(), P(), P(), S(), P()],
        {"household_file": FILE_H1},
        "AASAASA",
        [(H1, 1, None, [0, 1]), (H1, 1, None, [3, 4]), (H1, 1, None, [6])],
    ),
    (
        "several-patcht-codes after a cover sheet",
        [C(), P(), P(), S(), P(), P(), S(), P()],
        {},
        "CAASAASA",
        [(H1, 1, None, [1, 2]), (H1, 1, None, [4, 5]), (H1, 1, None, [7])],
    ),
    (
        "patch-code-t-double: two separators in a row make no empty document",
        [C(), P(), S(), S(), P()],
        {},
        "CASSA",
        [(H1, 1, None, [1]), (H1, 1, None, [4])],
    ),
    (
        "separators right after the cover and at the end make no empty document",
        [C(), S(), S(), P(), S(), S()],
        {},
        "CSSASS",
        [(H1, 1, None, [3])],
    ),
    (
        "a cover sheet ends the document; a new household starts a new one",
        [C(H1), P(), P(), C(H2, 2), P()],
        {},
        "CAACA",
        [(H1, 1, None, [1, 2]), (H2, 2, None, [4])],
    ),
    (
        "a cover sheet directly followed by another: empty section, no document",
        [C(H1), C(H2), P()],
        {},
        "CCA",
        [(H2, 1, None, [2])],
    ),
    (
        "orphan pages before the first cover sheet are set aside, blank ones stay blank",
        [P(), S(), B(), P(), C(), P()],
        {},
        "QQBQCA",
        [(H1, 1, None, [5])],
    ),
    (
        "a batch without any cover sheet archives nothing",
        [P(), P(), S("Einkommen"), P()],
        {},
        "QQQQ",
        [],
    ),
    (
        "unusable cover mid-batch: pages up to the next usable cover set aside, not merged",
        [C(H1), P(), C(problem="damaged"), P(), B(), S(), P(), C(H2), P()],
        {},
        "CAQQBQQCA",
        [(H1, 1, None, [1]), (H2, 1, None, [8])],
    ),
    (
        "unusable cover up to the end of the batch",
        [C(H1), P(), C(problem="damaged"), P(), P()],
        {},
        "CAQQQ",
        [(H1, 1, None, [1])],
    ),
    (
        "a cover page without a household number is unusable too",
        [C(H1), P(), C(household=None), P()],
        {},
        "CAQQ",
        [(H1, 1, None, [1])],
    ),
    (
        "blank pages dropped by default",
        [C(), P(), B(), P(), B()],
        {},
        "CABAB",
        [(H1, 1, None, [1, 3])],
    ),
    (
        "blank pages kept: archived like content",
        [C(), P(), B(), P(), B()],
        {"blank_pages": "keep"},
        "CAAAA",
        [(H1, 1, None, [1, 2, 3, 4])],
    ),
    (
        "a kept blank page opens a document of the announced type",
        [C(), S("Antrag"), B(), P(), S(), B()],
        {"blank_pages": "keep"},
        "CSAASA",
        [(H1, 1, "Antrag", [2, 3]), (H1, 1, None, [5])],
    ),
    (
        "kept blank pages outside any section stay blank",
        [B(), P(), C(), P(), C(problem="x"), B()],
        {"blank_pages": "keep"},
        "BQCAQB",
        [(H1, 1, None, [3])],
    ),
    (
        "household file: a cover of the same household starts a new section (volume 2)",
        [P(), C(H1, 2), P()],
        {"household_file": FILE_H1},
        "ACA",
        [(H1, 1, None, [0]), (H1, 2, None, [2])],
    ),
    (
        "household file: a cover of another household sets its pages aside",
        [P(), C(H2), P(), S(), B(), C(H1, 3), P()],
        {"household_file": FILE_H1},
        "AQQQBCA",
        [(H1, 1, None, [0]), (H1, 3, None, [6])],
    ),
    (
        "household file: an unusable cover sets its pages aside",
        [P(), C(problem="unreadable"), P()],
        {"household_file": FILE_H1},
        "AQQ",
        [(H1, 1, None, [0])],
    ),
    (
        "a page that cannot be read splits the document",
        [C(), P(), E(), P()],
        {},
        "CAQA",
        [(H1, 1, None, [1]), (H1, 1, None, [3])],
    ),
    (
        "unreadable pages in a row make no empty document",
        [C(), E(), E(), P(), P()],
        {},
        "CQQAA",
        [(H1, 1, None, [3, 4])],
    ),
    (
        "an unreadable page is never a cover sheet, whatever its kind says",
        [C(H1), P(), E(kind="cover"), P()],
        {},
        "CAQA",
        [(H1, 1, None, [1]), (H1, 1, None, [3])],
    ),
    (
        "an unreadable page before the first cover is set aside",
        [E(), C(), P()],
        {},
        "QCA",
        [(H1, 1, None, [2])],
    ),
    (
        "doc type goes to the next document only",
        [C(), S("Einkommen"), P(), P(), S(), P()],
        {},
        "CSAASA",
        [(H1, 1, "Einkommen", [2, 3]), (H1, 1, None, [5])],
    ),
    (
        "a later separator before any content replaces the announced type",
        [C(), S("Einkommen"), S("Miete"), P(), S("Antrag"), S(), P()],
        {},
        "CSSASSA",
        [(H1, 1, "Miete", [3]), (H1, 1, None, [6])],
    ),
    (
        "an announced type does not cross a cover sheet",
        [C(H1), S("Einkommen"), C(H2), P()],
        {},
        "CSCA",
        [(H2, 1, None, [3])],
    ),
    (
        "a separator with a problem still breaks, and announces no type",
        [C(), P(), S("Einkommen", problem="two types"), P()],
        {},
        "CASA",
        [(H1, 1, None, [1]), (H1, 1, None, [3])],
    ),
    (
        "the rest of a document split by an unreadable page keeps its type",
        [C(), S("Einkommen"), P(), E(), P(), S(), P()],
        {},
        "CSAQASA",
        [(H1, 1, "Einkommen", [2]), (H1, 1, "Einkommen", [4]), (H1, 1, None, [6])],
    ),
    (
        "an unreadable first page does not lose the announced type",
        [C(), S("Einkommen"), E(), P()],
        {},
        "CSQA",
        [(H1, 1, "Einkommen", [3])],
    ),
    ("an empty batch", [], {}, "", []),
]


@pytest.mark.parametrize(
    ("pages", "options", "outcomes", "documents"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_rules(pages, options, outcomes, documents) -> None:
    plan = plan_batch(batch(*pages), **options)
    assert letters(plan) == outcomes
    assert docs(plan) == documents
    assert [d.number for d in plan.documents] == list(range(len(documents)))
    for outcome in plan.pages:
        if outcome.outcome == "archived":
            assert outcome.index in plan.documents[outcome.document].pages
        else:
            assert outcome.document is None


# --- reasons --------------------------------------------------------------------------------


def reasons(plan: BatchPlan) -> dict[int, str | None]:
    return {p.index: p.reason for p in plan.pages}


def test_orphan_pages_carry_the_reason_and_no_household() -> None:
    plan = plan_batch(batch(P(), S(), B(), C(), P()))
    assert [p.reason for p in plan.pages[:2]] == [ORPHAN_REASON, ORPHAN_REASON]
    assert all(p.household is None and p.volume is None for p in plan.pages[:3])
    assert plan.quarantine == [QuarantineRange(0, 1, ORPHAN_REASON)]


def test_unusable_cover_reason_names_the_page_and_the_problem() -> None:
    plan = plan_batch(batch(C(H1), P(), C(problem="bad checksum"), P(), B(), P(), C(H2), P()))
    why = unusable(3, "bad checksum")
    assert reasons(plan) == {0: None, 1: None, 2: why, 3: why, 4: None, 5: why, 6: None, 7: None}
    # The blank page interrupts the run of quarantined pages.
    assert plan.quarantine == [QuarantineRange(2, 3, why), QuarantineRange(5, 5, why)]
    assert all(plan.pages[i].household is None for i in (2, 3, 5))
    assert plan.pages[1].household == H1 and plan.pages[7].household == H2


def test_cover_without_household_has_a_reason() -> None:
    plan = plan_batch(batch(C(household=None), P()))
    assert plan.pages[0].reason == unusable(1, "cover sheet without a household number")


def test_two_unusable_covers_give_two_ranges() -> None:
    plan = plan_batch(batch(C(problem="a"), P(), C(problem="b"), P()))
    assert plan.quarantine == [
        QuarantineRange(0, 1, unusable(1, "a")),
        QuarantineRange(2, 3, unusable(3, "b")),
    ]
    assert plan.sections == []


def test_orphans_then_unusable_cover_are_separate_ranges() -> None:
    plan = plan_batch(batch(P(), P(), C(problem="x"), P()))
    assert plan.quarantine == [
        QuarantineRange(0, 1, ORPHAN_REASON),
        QuarantineRange(2, 3, unusable(3, "x")),
    ]


def test_cover_of_another_household_in_a_household_file() -> None:
    plan = plan_batch(batch(P(), C(H2), P(), C(H3), P()), household_file=FILE_H1)
    why2 = f"cover sheet of household {H2} inside the file of household {H1}"
    why3 = f"cover sheet of household {H3} inside the file of household {H1}"
    assert reasons(plan) == {0: None, 1: why2, 2: why2, 3: why3, 4: why3}
    assert plan.quarantine == [QuarantineRange(1, 2, why2), QuarantineRange(3, 4, why3)]
    assert [(s.household, s.cover_page, s.found_pages) for s in plan.sections] == [(H1, None, 1)]


def test_unreadable_page_reason_and_household() -> None:
    plan = plan_batch(batch(C(H1, 2), P(), E("truncated stream"), P()))
    page = plan.pages[2]
    assert (page.outcome, page.reason) == ("quarantined", "page cannot be read: truncated stream")
    # Inside a section the household is known; it helps the clarification.
    assert (page.household, page.volume, page.document) == (H1, 2, None)
    assert plan.sections[0].found_pages == 3


def test_unreadable_page_after_unusable_cover_keeps_its_own_reason() -> None:
    plan = plan_batch(batch(C(problem="x"), E("gone"), P()))
    assert [p.reason for p in plan.pages] == [
        unusable(1, "x"),
        "page cannot be read: gone",
        unusable(1, "x"),
    ]


def test_separator_problem_is_noted_on_its_outcome() -> None:
    plan = plan_batch(batch(C(), P(), S(problem="separator with several document types"), P()))
    sep = plan.pages[2]
    assert sep.outcome == "separator"
    assert sep.reason == "separator with several document types"
    assert plan.quarantine == []
    assert plan.pages[1].reason is None


def test_outcomes_carry_household_volume_and_document() -> None:
    plan = plan_batch(batch(C(H2, 3), S("Antrag"), P(), B()))
    assert [(p.household, p.volume, p.document) for p in plan.pages] == [
        (H2, 3, None),
        (H2, 3, None),
        (H2, 3, 0),
        (H2, 3, None),
    ]


# --- sections and ESAK1 page counts ------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "mismatch"),
    [(6, False), (5, True), (7, True), (0, False), (None, False)],
)
def test_declared_pages_count_separators_and_blanks(declared, mismatch) -> None:
    # After the cover: content, separator, blank, content, unreadable, content = 6 pages.
    plan = plan_batch(batch(C(H1, 2, declared), P(), S(), B(), P(), E(), P(), C(H2), P()))
    first = plan.sections[0]
    assert (first.household, first.volume, first.cover_page) == (H1, 2, 0)
    assert (first.first_page, first.last_page, first.found_pages) == (1, 6, 6)
    assert first.declared_pages == declared
    assert first.mismatch is mismatch


def test_found_pages_do_not_depend_on_the_blank_policy() -> None:
    pages = batch(C(declared=3), P(), B(), P())
    for policy in ("drop", "keep"):
        section = plan_batch(pages, blank_pages=policy).sections[0]
        assert (section.found_pages, section.mismatch) == (3, False)


def test_an_unusable_cover_ends_the_previous_section() -> None:
    plan = plan_batch(batch(C(H1, declared=2), P(), P(), C(problem="x"), P(), C(H2), P()))
    assert [(s.household, s.first_page, s.last_page, s.found_pages) for s in plan.sections] == [
        (H1, 1, 2, 2),
        (H2, 6, 6, 1),
    ]
    assert not plan.sections[0].mismatch


def test_sections_in_a_household_file() -> None:
    plan = plan_batch(batch(P(), P(), C(H1, 2, declared=1), P()), household_file=(H1, 4))
    assert [
        (s.household, s.volume, s.cover_page, s.declared_pages, s.first_page, s.last_page)
        for s in plan.sections
    ] == [(H1, 4, None, None, 0, 1), (H1, 2, 2, 1, 3, 3)]
    assert [s.found_pages for s in plan.sections] == [2, 1]


def test_empty_sections() -> None:
    plan = plan_batch(batch(C(H1, declared=1), C(H2)))
    assert [(s.first_page, s.last_page, s.found_pages) for s in plan.sections] == [
        (1, 0, 0),
        (2, 1, 0),
    ]
    assert plan.sections[0].mismatch
    empty_file = plan_batch([], household_file=FILE_H1)
    assert [(s.first_page, s.last_page, s.found_pages) for s in empty_file.sections] == [(0, -1, 0)]


def test_cover_without_volume_is_volume_one() -> None:
    plan = plan_batch(batch(C(H1, volume=None), P()))
    assert plan.sections[0].volume == 1 and plan.documents[0].volume == 1


# --- counts and bad input ------------------------------------------------------------------


def test_counts_have_a_key_for_every_accounted_outcome() -> None:
    plan = plan_batch(batch(P(), C(), P(), S(), B(), E()))
    assert plan.counts() == {
        "archived": 1,
        "cover": 1,
        "separator": 1,
        "blank": 1,
        "quarantined": 2,
        "discarded": 0,  # only a person discards (esak clarify close), never the planner
    }
    assert plan_batch([]).counts() == dict.fromkeys(OUTCOMES, 0)


@pytest.mark.parametrize(
    "indexes", [[1, 2], [0, 2], [1, 0], [0, 0], [0, 1, 1]], ids=lambda i: repr(i)
)
def test_records_must_be_indexes_in_order(indexes) -> None:
    with pytest.raises(ValueError, match="in order"):
        plan_batch([PageRecord(index=i, kind="content") for i in indexes])


def test_unknown_kind_and_policy_are_programming_errors() -> None:
    with pytest.raises(ValueError, match="kind"):
        plan_batch([PageRecord(index=0, kind="photo")])
    with pytest.raises(ValueError, match="blank_pages"):
        plan_batch(batch(P()), blank_pages="skip")


def test_page_records_are_picklable() -> None:
    record = PageRecord(
        index=3,
        kind="cover",
        barcodes=(("QRCode", f"ESAK1;borken;{H1};2;14"),),
        household=H1,
        volume=2,
        declared_pages=14,
        detected_by="ocr",
    )
    assert pickle.loads(pickle.dumps(record)) == record


# --- invariants over random batches ---------------------------------------------------------

HOUSEHOLDS = (H1, H2)


@st.composite
def pages(draw: st.DrawFn) -> Page:
    kind = draw(st.sampled_from(["cover", "separator", "blank", "content", "content"]))
    if draw(st.integers(0, 9)) == 0:
        return E(kind=kind)
    if kind == "cover":
        if draw(st.integers(0, 3)) == 0:
            return C(problem=draw(st.sampled_from(["damaged", "wrong site"])))
        return C(
            draw(st.sampled_from(HOUSEHOLDS)),
            draw(st.integers(1, 3)),
            draw(st.one_of(st.none(), st.integers(0, 8))),
        )
    if kind == "separator":
        problem = draw(st.sampled_from([None, None, None, "two types"]))
        return S(draw(st.sampled_from([None, "Einkommen", "Miete"])), problem)
    return B() if kind == "blank" else P()


def usable_cover(record: PageRecord, household_file: tuple[str, int] | None) -> bool:
    return (
        record.kind == "cover"
        and record.error is None
        and record.problem is None
        and record.household is not None
        and (household_file is None or record.household == household_file[0])
    )


def expected_outcomes(
    records: list[PageRecord], blank_pages: str, household_file: tuple[str, int] | None
) -> list[str]:
    """An independent statement of where every page goes."""
    inside = household_file is not None
    out = []
    for r in records:
        if r.error is not None:
            out.append("quarantined")
        elif r.kind == "cover":
            inside = usable_cover(r, household_file)
            out.append("cover" if inside else "quarantined")
        elif r.kind == "blank":
            out.append("archived" if inside and blank_pages == "keep" else "blank")
        elif not inside:
            out.append("quarantined")
        else:
            out.append("separator" if r.kind == "separator" else "archived")
    return out


@settings(max_examples=400, deadline=None)
@given(
    page_list=st.lists(pages(), max_size=40),
    blank_pages=st.sampled_from(["drop", "keep"]),
    household_file=st.sampled_from([None, (H1, 1), (H2, 5)]),
)
def test_invariants(page_list, blank_pages, household_file) -> None:
    records = batch(*page_list)
    n = len(records)
    plan = plan_batch(records, blank_pages=blank_pages, household_file=household_file)

    # Every page has exactly one outcome, in order, and the counts add up.
    assert [p.index for p in plan.pages] == list(range(n))
    counts = plan.counts()
    assert set(counts) == set(OUTCOMES)
    assert sum(counts.values()) == n
    assert [p.outcome for p in plan.pages] == expected_outcomes(
        records, blank_pages, household_file
    )

    # Documents: numbered in order, never empty, pages ascending, exactly the archived pages.
    archived = [p.index for p in plan.pages if p.outcome == "archived"]
    in_docs = [i for d in plan.documents for i in d.pages]
    assert in_docs == archived
    assert [d.number for d in plan.documents] == list(range(len(plan.documents)))
    for doc in plan.documents:
        assert doc.pages and doc.pages == sorted(set(doc.pages))
        for i in doc.pages:
            outcome = plan.pages[i]
            assert outcome.document == doc.number
            assert (outcome.household, outcome.volume) == (doc.household, doc.volume)
        # No break of any kind inside a document; kept blanks and content only.
        for i in range(doc.pages[0], doc.pages[-1] + 1):
            assert i in doc.pages or (records[i].kind == "blank" and blank_pages == "drop")
            assert records[i].error is None and records[i].kind in ("content", "blank")

    # Nothing archived without a usable cover before it (or the household file).
    usable = [r.index for r in records if usable_cover(r, household_file)]
    if household_file is None:
        first = usable[0] if usable else n
        assert all(p.outcome != "archived" for p in plan.pages[:first])
    # Nothing archived after a cover that is not usable, until the next usable one.
    for r in records:
        if r.kind == "cover" and r.error is None and not usable_cover(r, household_file):
            following = [u for u in usable if u > r.index]
            end = following[0] if following else n
            assert all(p.outcome != "archived" for p in plan.pages[r.index : end])

    # Sections: one per usable cover (and the file's), each ending before the next cover.
    cover_pages = [r.index for r in records if r.kind == "cover" and r.error is None]
    assert [s.cover_page for s in plan.sections] == ([None] if household_file else []) + usable
    for section in plan.sections:
        start = -1 if section.cover_page is None else section.cover_page
        following = [c for c in cover_pages if c > start]
        end = following[0] if following else n
        assert (section.first_page, section.last_page) == (start + 1, end - 1)
        assert section.found_pages == end - start - 1
        if section.mismatch:
            assert section.declared_pages not in (None, 0)
            assert section.declared_pages != section.found_pages

    # Quarantine ranges: exactly the quarantined pages, merged where reason and run agree.
    quarantined = [p for p in plan.pages if p.outcome == "quarantined"]
    assert all(p.reason for p in quarantined)
    covered = [(i, q.reason) for q in plan.quarantine for i in range(q.first, q.last + 1)]
    assert covered == [(p.index, p.reason) for p in quarantined]
    for a, b in zip(plan.quarantine, plan.quarantine[1:], strict=False):
        assert not (a.last + 1 == b.first and a.reason == b.reason)

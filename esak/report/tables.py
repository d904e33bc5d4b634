"""The tables of esak's reports, each defined once: its title, its columns and its rows.

The terminal, HTML and CSV renderers all read these definitions, so a table shows the same
columns in every format and a heading is written (and translated) in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from esak.i18n import N_, _, language, local_date, local_time, tr
from esak.index.cases import ACTIONS
from esak.verify.rollout import SiteStatus, blocker_text
from esak.verify.site import SiteReport
from esak.vocabulary import CaseKind

Row = dict[str, Any]


@dataclass(frozen=True)
class Column:
    key: str
    #: English; shown in the current language (:attr:`label`)
    header: str
    numeric: bool = False

    @property
    def label(self) -> str:
        return _(self.header)


@dataclass(frozen=True)
class Table:
    """One list of a report.

    ``key`` is the row's ``category`` in the CSV export (stable: spreadsheets filter on it);
    ``line`` renders one row as a line of terminal text (``None``: not listed there); ``count``
    and ``detail`` say what goes into the CSV's ``count`` and ``detail`` columns.
    """

    key: str
    title: str
    columns: tuple[Column, ...]
    rows: Callable[[SiteReport], list[Row]]
    line: Callable[[Row], str] | None = None
    count: str | None = None
    detail: Callable[[Row], str] | None = None
    #: the category of one row in the CSV, where it depends on the row
    category: Callable[[Row], str] | None = None

    def cells(self, row: Row) -> list[Any]:
        return [row.get(c.key) for c in self.columns]

    @property
    def heading(self) -> str:
        """The title in the current language."""
        return _(self.title)

    def csv_category(self, row: Row) -> str:
        """The row's ``category`` in the CSV: the stable key in English, the title in German
        (a person filters a spreadsheet by words, a script by keys)."""
        key = self.category(row) if self.category else self.key
        if language() == "en":
            return key
        return _("Pages do not add up") if key == "batch_unbalanced" else self.heading

    @property
    def numeric(self) -> list[int]:
        return [i for i, c in enumerate(self.columns) if c.numeric]


_HOUSEHOLD = Column("household", N_("household"))
_VOLUME = Column("volume", N_("volume"), numeric=True)
_DELIVERY = Column("delivery", N_("delivery"))
_FILE = Column("file", N_("file"))
_REASON = Column("reason", N_("reason"))
_PROBLEM = Column("problem", N_("problem"))


def _households(values: list[str]) -> list[Row]:
    return [{"household": h} for h in values]


def _files(values: list[str]) -> list[Row]:
    return [{"file": f} for f in values]


def _pages(span: str) -> str:
    """A page span for people and spreadsheets: "3–5" (a dash Excel does not read as a
    date), "all" in words."""
    return _("all") if span == "all" else span.replace("-", "–")


def _set_aside(rows: list[Row]) -> list[Row]:
    return [{**r, "pages": _pages(str(r["pages"])), "reason": tr(r["reason"])} for r in rows]


def _explained(rows: list[Row], key: str) -> list[Row]:
    return [{**r, key: tr(r[key])} for r in rows]


#: A site's verdict in a word, and as the sentence a report leads with.
VERDICTS = {
    "complete": N_("complete"),
    "incomplete": N_("not complete"),
    "damaged": N_("archive damaged"),
}
HEADLINES = {
    "complete": N_(
        "Complete — can be signed off: every expected household is archived, every "
        "page is accounted for"
    ),
    "incomplete": N_("Not complete: this site cannot be signed off yet"),
    "damaged": N_("Archive damaged: archived files were changed, removed or added"),
}
#: The levels of the integrity check (fixity), as people read them.
LEVELS = {
    "fast": N_("fast (presence and size)"),
    "complete": N_("complete (and no untracked files)"),
    "valid": N_("valid (and every file re-hashed, PDF/A and text checked)"),
}
#: What became of the input pages, in the order a report adds them up.
PAGE_OUTCOMES = {
    "input": N_("input pages"),
    "archived": N_("archived"),
    "cover": N_("cover sheets"),
    "separator": N_("separator sheets"),
    "blank": N_("blank pages"),
    "quarantined": N_("set aside"),
    "discarded": N_("discarded"),
}

_BATCH_OUTCOMES = {
    "archived": N_("archived"),
    "cover": N_("cover sheet"),
    "separator": N_("separator sheet"),
    "blank": N_("blank"),
    "quarantined": N_("set aside"),
    "discarded": N_("discarded"),
}

#: The kinds of Klärfall and the ways one is resolved, in words.
CASE_KINDS = {
    "pages": N_("pages set aside"),
    "file": N_("file set aside"),
    "missing_household": N_("missing household"),
    "unexpected_household": N_("household not expected"),
    "delivery_problem": N_("delivery problem"),
    "page_count_mismatch": N_("page count differs"),
    "qa_defect": N_("QA defect"),
    "mail": N_("letter"),
}
CASE_ACTIONS = {
    "assign": N_("assigned"),
    "close": N_("closed"),
    "auto_close": N_("resolved by itself"),
    "withdrawn": N_("withdrawn"),
}


def _resolved(case: Row) -> Row:
    resolution = case.get("resolution") or {}
    about = case.get("household") or case.get("file") or ""
    if case.get("file") and case.get("first_page"):
        about = case_about(case)
    if resolution.get("action") == "assign":
        about += " → " + str(resolution.get("household"))
    return {
        "id": case["id"],
        "household": case.get("household"),
        "file": case.get("file"),
        "kind": _(CASE_KINDS.get(case["kind"], case["kind"])),
        "about": about,
        "action": _(CASE_ACTIONS.get(resolution.get("action", ""), resolution.get("action", ""))),
        "by": resolution.get("by") or "esak",
        "reason": tr(resolution.get("reason")),
        "at": local_time(resolution.get("at")),
    }


#: The lists of a site's verification report, in the order they are shown.
SITE_TABLES: tuple[Table, ...] = (
    Table(
        "missing_household",
        N_("Missing households"),
        (_HOUSEHOLD,),
        lambda r: _households(r.missing),
        line=lambda x: x["household"],
    ),
    Table(
        "missing_volume",
        N_("Missing volumes"),
        (_HOUSEHOLD, _VOLUME),
        lambda r: r.missing_volumes,
        line=lambda x: _("{household} volume {volume}").format(**x),
    ),
    Table(
        "unexpected_household",
        N_("Households not on the expected list"),
        (_HOUSEHOLD,),
        lambda r: _households(r.unexpected),
        line=lambda x: x["household"],
    ),
    Table(
        "page_count_mismatch",
        N_("Cover sheets whose page count differs"),
        (
            _HOUSEHOLD,
            _VOLUME,
            Column("declared", N_("declared"), numeric=True),
            Column("found", N_("found"), numeric=True),
            _FILE,
        ),
        lambda r: r.page_count_mismatches,
        line=lambda x: _(
            "{household} volume {volume}: cover says {declared}, found {found} ({file})"
        ).format(**x),
        count="found",
        detail=lambda x: _("declared {declared}, found {found}").format(**x),
    ),
    Table(
        "delivery_problem",
        N_("Delivery problems"),
        (_DELIVERY, _FILE, _PROBLEM),
        lambda r: _explained(r.delivery_problems, "problem"),
        line=lambda x: f"{x['file']}: {x['problem']}",
        detail=lambda x: x["problem"],
    ),
    Table(
        "file_set_aside",
        N_("Files set aside"),
        (_DELIVERY, _FILE, Column("pages", N_("pages"), numeric=True), _REASON),
        lambda r: _explained(r.quarantined_files, "reason"),
        line=lambda x: f"{x['file']}: {x['reason']}",
        count="pages",
        detail=lambda x: x["reason"],
    ),
    Table(
        "pages_set_aside",
        N_("Pages set aside"),
        (_DELIVERY, _FILE, Column("pages", N_("pages")), _REASON),
        lambda r: _set_aside(r.quarantined_pages),
        line=lambda x: _("{file} p. {pages}: {reason}").format(**x),
        count="pages",
        detail=lambda x: x["reason"],
    ),
    Table(
        "accounting_error",
        N_("Pages that do not add up"),
        (_DELIVERY, _FILE, _PROBLEM),
        lambda r: _explained(r.accounting_errors, "problem"),
        line=lambda x: f"{x['file']}: {x['problem']}",
        detail=lambda x: x["problem"],
    ),
    Table(
        "file_missing",
        N_("Archived files missing"),
        (_FILE,),
        lambda r: _files(r.fixity.missing),
        line=lambda x: x["file"],
    ),
    Table(
        "file_changed",
        N_("Archived files changed"),
        (_FILE,),
        lambda r: _files(r.fixity.changed),
        line=lambda x: x["file"],
    ),
    Table(
        "file_untracked",
        N_("Untracked files in the archive"),
        (_FILE,),
        lambda r: _files(r.fixity.untracked),
        line=lambda x: x["file"],
    ),
    Table(
        "file_invalid",
        N_("Invalid documents"),
        (_FILE, _PROBLEM),
        lambda r: _explained(r.fixity.invalid, "problem"),
        line=lambda x: f"{x['file']}: {x['problem']}",
        detail=lambda x: x["problem"],
    ),
    Table(
        "batch",
        N_("Page accounting per batch"),
        (
            _DELIVERY,
            _FILE,
            Column("input", N_("input"), numeric=True),
            *(Column(k, label, numeric=True) for k, label in _BATCH_OUTCOMES.items()),
            Column("adds_up", N_("adds up")),
        ),
        lambda r: [{**b, "adds_up": _("yes") if b["balanced"] else _("NO")} for b in r.batches],
        count="input",
        detail=lambda x: ", ".join(f"{_(label)} {x[k]}" for k, label in _BATCH_OUTCOMES.items()),
        category=lambda x: "batch" if x["balanced"] else "batch_unbalanced",
    ),
    Table(
        "duplicate_file",
        N_("Duplicate files (same content as an archived file; not archived twice)"),
        (_DELIVERY, _FILE),
        lambda r: r.duplicate_files,
    ),
    Table(
        "resolved_case",
        N_("Resolved Klärfälle"),
        (
            Column("id", N_("case"), numeric=True),
            Column("kind", N_("kind")),
            Column("about", N_("about")),
            Column("action", N_("resolution")),
            Column("by", N_("by")),
            Column("reason", N_("reason")),
            Column("at", N_("when")),
        ),
        lambda r: [_resolved(c) for c in r.resolved_cases],
        line=lambda x: _("case {id} ({kind}, {about}): {action} by {by} on {at}: {reason}").format(
            **x
        ),
        detail=lambda x: f"{x['action']}: {x['reason']}",
    ),
    Table(
        "archived_household",
        N_("Archived households"),
        (_HOUSEHOLD,),
        lambda r: _households(r.archived),
    ),
)

#: Lists shown as lists (the archived households are shown as a block of numbers).
FINDING_TABLES = tuple(t for t in SITE_TABLES if t.key != "archived_household")


@dataclass(frozen=True)
class SiteColumn:
    """A column of the rollout table: ``key`` heads the CSV, ``header`` the human tables."""

    key: str
    header: str
    value: Callable[[SiteStatus], Any]
    numeric: bool = False
    #: shown in the terminal and HTML tables (the CSV has every column)
    human: bool = True
    #: how people read the value, where it differs from the CSV's
    shown: Callable[[SiteStatus], str] | None = None

    @property
    def label(self) -> str:
        return _(self.header)

    def text(self, s: SiteStatus) -> str:
        if self.shown is not None:
            return self.shown(s)
        value = self.value(s)
        return "" if value is None else str(value)


def _last(s: SiteStatus) -> str:
    last = s.last_verification
    if not last:
        return _("never")
    verdict = _("passed") if last["ok"] else _("failed")
    return f"{local_time(last['at'])} {verdict}"


#: The words for a site's state, shown in reports.
STATE_LABELS = {
    "unplanned": N_("unplanned"),
    "planned": N_("planned"),
    "importing": N_("importing"),
    "verified": N_("verified"),
    "live": N_("live"),
}

#: The rollout table, one row per site in rollout order.
ROLLOUT_COLUMNS: tuple[SiteColumn, ...] = (
    SiteColumn(
        "order", N_("#"), lambda s: s.rollout_order, shown=lambda s: str(s.rollout_order or "–")
    ),
    SiteColumn("site", N_("site key"), lambda s: s.key, human=False),
    SiteColumn("name", N_("site"), lambda s: s.name),
    SiteColumn(
        "go_live",
        N_("go-live"),
        lambda s: s.go_live,
        shown=lambda s: local_date(s.go_live) if s.go_live else _("unplanned"),
    ),
    SiteColumn("state", N_("state"), lambda s: s.state, shown=lambda s: _(STATE_LABELS[s.state])),
    SiteColumn("overdue", N_("overdue"), lambda s: int(s.overdue), human=False),
    SiteColumn("expected", N_("expected"), lambda s: s.expected, numeric=True),
    SiteColumn("archived", N_("archived"), lambda s: s.archived, numeric=True),
    SiteColumn("missing", N_("missing"), lambda s: s.missing, numeric=True),
    SiteColumn("unexpected", N_("not expected"), lambda s: s.unexpected, numeric=True),
    SiteColumn("documents", N_("documents"), lambda s: s.documents, numeric=True, human=False),
    SiteColumn("pages_input", N_("pages"), lambda s: s.pages_input, numeric=True),
    SiteColumn(
        "last_verification",
        N_("last verification"),
        lambda s: s.last_verification["at"] if s.last_verification else None,
        shown=_last,
    ),
    SiteColumn(
        "verification_ok",
        N_("verified"),
        lambda s: None if s.last_verification is None else int(s.last_verification["ok"]),
        human=False,
    ),
    SiteColumn(
        "blockers",
        N_("blocks sign-off"),
        lambda s: " | ".join(blocker_text(b, _) for b in s.blockers),
        shown=lambda s: "; ".join(blocker_text(b, _) for b in s.blockers) or "–",
    ),
)


def case_about(case: Row) -> str:
    """What a case is about, in a few words: a file and its pages, or a household."""
    if case.get("file") and case.get("first_page"):
        first, last = case["first_page"], case["last_page"]
        span = str(first) if first == last else f"{first}–{last}"
        return _("{file} p. {pages}").format(file=case["file"], pages=span)
    if case.get("household") and case.get("volume"):
        return _("{household} volume {volume}").format(**case)
    return case.get("household") or case.get("file") or ""


#: The list of Klärfälle (``esak clarify list``): every format shows these columns.
CASE_COLUMNS: tuple[Column, ...] = (
    Column("id", N_("case"), numeric=True),
    Column("site", N_("site")),
    Column("kind", N_("kind")),
    Column("status", N_("status")),
    Column("about", N_("about")),
    Column("detail", N_("detail")),
    Column("age_days", N_("days open"), numeric=True),
    Column("resolution", N_("resolution")),
    Column("action", N_("what to do")),
)

CASE_STATUS = {"open": N_("open"), "resolved": N_("resolved")}


def case_row(case: Row) -> Row:
    """A case as people read it."""
    resolution = case.get("resolution")
    resolved = ""
    if resolution:
        resolved = _("{action} by {by} on {at}: {reason}").format(
            action=_(CASE_ACTIONS.get(resolution["action"], resolution["action"])),
            by=resolution.get("by") or "esak",
            at=local_time(resolution.get("at")),
            reason=tr(resolution.get("reason")),
        )
    return {
        "id": case["id"],
        "site": case["site"],
        "kind": _(CASE_KINDS.get(case["kind"], case["kind"])),
        "status": _(CASE_STATUS.get(case["status"], case["status"])),
        "about": case_about(case),
        "detail": tr(case.get("detail")),
        "age_days": case.get("age_days"),
        "resolution": resolved,
        "action": _(ACTIONS[CaseKind(case["kind"])]).format(id=case["id"])
        if case["status"] == "open" and case["kind"] in ACTIONS
        else (case.get("action") if case["status"] == "open" else ""),
    }

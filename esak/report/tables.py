"""The tables of esak's reports, each defined once: its title, its columns and its rows.

The terminal, HTML and CSV renderers all read these definitions, so a table shows the same
columns in every format and a heading is written (and translated) in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from esak.verify.rollout import SiteStatus
from esak.verify.site import SiteReport

Row = dict[str, Any]


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    numeric: bool = False


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
    def numeric(self) -> list[int]:
        return [i for i, c in enumerate(self.columns) if c.numeric]


_HOUSEHOLD = Column("household", "household")
_VOLUME = Column("volume", "volume", numeric=True)
_DELIVERY = Column("delivery", "delivery", numeric=True)
_FILE = Column("file", "file")


def _households(values: list[str]) -> list[Row]:
    return [{"household": h} for h in values]


def _files(values: list[str]) -> list[Row]:
    return [{"file": f} for f in values]


_BATCH_OUTCOMES = ("archived", "cover", "separator", "blank", "quarantined")

#: The lists of a site's verification report, in the order they are shown.
SITE_TABLES: tuple[Table, ...] = (
    Table(
        "missing_household",
        "Missing households",
        (_HOUSEHOLD,),
        lambda r: _households(r.missing),
        line=lambda x: x["household"],
    ),
    Table(
        "missing_volume",
        "Missing volumes",
        (_HOUSEHOLD, _VOLUME),
        lambda r: r.missing_volumes,
        line=lambda x: f"{x['household']} volume {x['volume']}",
    ),
    Table(
        "unexpected_household",
        "Households not on the expected list",
        (_HOUSEHOLD,),
        lambda r: _households(r.unexpected),
        line=lambda x: x["household"],
    ),
    Table(
        "page_count_mismatch",
        "Cover sheets whose page count differs",
        (
            _HOUSEHOLD,
            _VOLUME,
            Column("declared", "declared", numeric=True),
            Column("found", "found", numeric=True),
            _FILE,
        ),
        lambda r: r.page_count_mismatches,
        line=lambda x: (
            f"{x['household']} volume {x['volume']}: cover says {x['declared']}, "
            f"found {x['found']} ({x['file']})"
        ),
        count="found",
        detail=lambda x: f"declared {x['declared']}, found {x['found']}",
    ),
    Table(
        "delivery_problem",
        "Delivery problems",
        (_DELIVERY, _FILE, Column("problem", "problem")),
        lambda r: r.delivery_problems,
        line=lambda x: f"{x['file']}: {x['problem']}",
        detail=lambda x: x["problem"],
    ),
    Table(
        "file_set_aside",
        "Files set aside",
        (_DELIVERY, _FILE, Column("pages", "pages", numeric=True), Column("reason", "reason")),
        lambda r: r.quarantined_files,
        line=lambda x: f"{x['file']}: {x['reason']}",
        count="pages",
        detail=lambda x: x["reason"],
    ),
    Table(
        "pages_set_aside",
        "Pages set aside",
        (_DELIVERY, _FILE, Column("pages", "pages"), Column("reason", "reason")),
        lambda r: r.quarantined_pages,
        line=lambda x: f"{x['file']} p. {x['pages']}: {x['reason']}",
        count="pages",
        detail=lambda x: x["reason"],
    ),
    Table(
        "accounting_error",
        "Pages that do not add up",
        (_DELIVERY, _FILE, Column("problem", "problem")),
        lambda r: r.accounting_errors,
        line=lambda x: f"{x['file']}: {x['problem']}",
        detail=lambda x: x["problem"],
    ),
    Table(
        "file_missing",
        "Archived files missing",
        (_FILE,),
        lambda r: _files(r.fixity.missing),
        line=lambda x: x["file"],
    ),
    Table(
        "file_changed",
        "Archived files changed",
        (_FILE,),
        lambda r: _files(r.fixity.changed),
        line=lambda x: x["file"],
    ),
    Table(
        "file_untracked",
        "Untracked files in the archive",
        (_FILE,),
        lambda r: _files(r.fixity.untracked),
        line=lambda x: x["file"],
    ),
    Table(
        "file_invalid",
        "Invalid documents",
        (_FILE, Column("problem", "problem")),
        lambda r: r.fixity.invalid,
        line=lambda x: f"{x['file']}: {x['problem']}",
        detail=lambda x: x["problem"],
    ),
    Table(
        "batch",
        "Page accounting per batch",
        (
            _DELIVERY,
            _FILE,
            Column("input", "input", numeric=True),
            *(
                Column(k, "set aside" if k == "quarantined" else k, numeric=True)
                for k in _BATCH_OUTCOMES
            ),
            Column("adds_up", "adds up"),
        ),
        lambda r: [{**b, "adds_up": "yes" if b["balanced"] else "NO"} for b in r.batches],
        count="input",
        detail=lambda x: ", ".join(f"{k} {x[k]}" for k in _BATCH_OUTCOMES),
        category=lambda x: "batch" if x["balanced"] else "batch_unbalanced",
    ),
    Table(
        "duplicate_file",
        "Duplicate files (same content as an archived file; not archived twice)",
        (_DELIVERY, _FILE),
        lambda r: r.duplicate_files,
    ),
    Table(
        "archived_household",
        "Archived households",
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

    def text(self, s: SiteStatus) -> str:
        if self.shown is not None:
            return self.shown(s)
        value = self.value(s)
        return "" if value is None else str(value)


def _last(s: SiteStatus) -> str:
    last = s.last_verification
    return f"{last['at']} {'passed' if last['ok'] else 'failed'}" if last else "never"


#: The rollout table, one row per site in rollout order.
ROLLOUT_COLUMNS: tuple[SiteColumn, ...] = (
    SiteColumn(
        "order", "#", lambda s: s.rollout_order, shown=lambda s: str(s.rollout_order or "–")
    ),
    SiteColumn("site", "site", lambda s: s.key, human=False),
    SiteColumn("name", "site", lambda s: s.name),
    SiteColumn(
        "go_live",
        "go-live",
        lambda s: s.go_live,
        shown=lambda s: s.go_live.isoformat() if s.go_live else "unplanned",
    ),
    SiteColumn("state", "state", lambda s: s.state),
    SiteColumn("overdue", "overdue", lambda s: int(s.overdue), human=False),
    SiteColumn("expected", "expected", lambda s: s.expected, numeric=True),
    SiteColumn("archived", "archived", lambda s: s.archived, numeric=True),
    SiteColumn("missing", "missing", lambda s: s.missing, numeric=True),
    SiteColumn("documents", "documents", lambda s: s.documents, numeric=True, human=False),
    SiteColumn("pages_input", "pages", lambda s: s.pages_input, numeric=True),
    SiteColumn(
        "last_verification",
        "last verification",
        lambda s: s.last_verification["at"] if s.last_verification else None,
        shown=_last,
    ),
    SiteColumn(
        "verification_ok",
        "verified",
        lambda s: None if s.last_verification is None else int(s.last_verification["ok"]),
        human=False,
    ),
    SiteColumn(
        "blockers",
        "blocks sign-off",
        lambda s: " | ".join(b["reason"] for b in s.blockers),
        shown=lambda s: "; ".join(b["reason"] for b in s.blockers) or "–",
    ),
)

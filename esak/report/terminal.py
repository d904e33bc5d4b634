"""Human-readable output: rich tables on standard output, messages and progress on standard error.

Nothing here decides anything; it only shows what the library returned. Households are
shown by number only, never by a person's name.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from esak.report.tables import FINDING_TABLES, ROLLOUT_COLUMNS

# Not a terminal (cron mail, a file): wide enough that tables keep their columns whole.
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
out = Console(highlight=False, width=_WIDTH)
err = Console(stderr=True, highlight=False)


def _console(to_stderr: bool) -> Console:
    return err if to_stderr else out


def error(message: str, remedy: str | None) -> None:
    err.print(f"[bold red]esak: error:[/] {message}", markup=True, soft_wrap=True)
    if remedy:
        err.print(f"  [yellow]what to do:[/] {remedy}", soft_wrap=True)


def warn_all(lines: list[str]) -> None:
    for line in lines:
        err.print(f"[yellow]problem:[/] {line}", soft_wrap=True)


@contextmanager
def page_progress(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on a terminal; silent when standard error is not one (cron, CI)."""
    if not err.is_terminal:
        yield lambda done, total: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("pages"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        yield advance


def profiles_table(sites: list[Any]) -> None:
    table = Table(title="Sites")
    table.add_column("site", no_wrap=True)
    for col in ("name", "go-live", "order", "departments", "note"):
        table.add_column(col)
    for p in sites:
        table.add_row(
            p.key,
            p.name,
            p.go_live.isoformat() if p.go_live else "unplanned",
            str(p.rollout_order or ""),
            ", ".join(p.departments),
            p.go_live_note or "",
        )
    out.print(table)


def profile_detail(profile: Any) -> None:
    table = Table(title=f"Site {profile.key}", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in profile.to_dict().items():
        if isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        table.add_row(key, "" if value is None else str(value))
    out.print(table)


def inspect_table(report: Any) -> None:
    table = Table(title=f"{report.file} ({report.format}, {len(report.pages)} pages)")
    table.add_column("page", justify="right")
    table.add_column("kind")
    table.add_column("barcodes")
    table.add_column("meaning")
    styles = {"cover": "bold green", "separator": "cyan", "blank": "dim", "content": ""}
    for p in report.pages:
        cls = p.page
        codes = "; ".join(f"{b.format} {b.text!r}" for b in cls.barcodes)
        if cls.problem:
            meaning = f"[red]{cls.problem}[/]"
        elif cls.cover:
            meaning = f"household {cls.cover.household}, volume {cls.cover.volume}"
            if cls.cover.declared_pages:
                meaning += f", {cls.cover.declared_pages} pages follow"
        elif cls.separator:
            meaning = (
                f"new document: {cls.separator.doc_type}"
                if cls.separator.doc_type
                else "new document"
            )
        else:
            meaning = ""
        kind = str(cls.kind)
        table.add_row(
            str(p.index), f"[{styles[kind]}]{kind}[/]" if styles[kind] else kind, codes, meaning
        )
    out.print(table)
    counts = report.counts()
    out.print(", ".join(f"{n} {k}" for k, n in counts.items()))


def expected_import_summary(result: Any, to_stderr: bool = False) -> None:
    con = _console(to_stderr)
    d = result.to_dict()
    con.print(
        f"expected list for [bold]{d['site']}[/]: {d['rows_read']} rows read "
        f"({d['encoding']}, '{d['delimiter']}'): {d['added']} added, {d['updated']} updated, "
        f"{d['unchanged']} unchanged, {d['removed']} removed; "
        f"{d['total_expected']} households expected in all"
    )
    for row in d["rejected"]:
        err.print(f"[yellow]line {row['line']}:[/] {row['reason']}", soft_wrap=True)
    if d["rejected"]:
        err.print(f"[yellow]{len(d['rejected'])} row(s) rejected[/]; fix them and import again")


def demo_summary(result: Any, to_stderr: bool = False) -> None:
    con = _console(to_stderr)
    con.print("[bold]verification report[/] (esak verify --site borken --level valid):")
    verify_reports([result.verification], to_stderr=to_stderr)
    con.print()
    for line in result.lines():
        con.print(line, soft_wrap=True, markup=False)


@contextmanager
def ingest_progress() -> Iterator[Callable[[Any], None]]:
    """Pages classified and documents OCR'd, with ETA, on a terminal only."""
    if not err.is_terminal:
        yield lambda progress: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bars:
        pages = bars.add_task("pages read", total=None)
        docs = bars.add_task("documents OCR'd", total=None)

        def update(p: Any) -> None:
            bars.update(pages, completed=p.pages_classified, total=p.pages_total or None)
            bars.update(docs, completed=p.documents_done, total=p.documents_total or None)

        yield update


def ingest_summary(report: Any, to_stderr: bool = False) -> None:
    con = _console(to_stderr)
    d = report.to_dict()
    status = "[bold green]OK[/]" if report.ok else "[bold yellow]PROBLEMS[/]"
    con.print(f"ingest of {d['delivery']} for [bold]{d['site']}[/]: {status}")
    files, pages = d["files"], d["pages"]
    con.print(
        f"files: {files['ingested']} ingested, {files['quarantined']} set aside, "
        f"{files['duplicate']} duplicates"
        + (f"; {d['already_ingested']} already ingested before" if d["already_ingested"] else "")
    )
    con.print(
        f"pages: {pages['input']} in = {pages['archived']} archived + {pages['cover']} cover "
        f"+ {pages['separator']} separator + {pages['blank']} blank "
        f"+ {pages['quarantined']} set aside"
    )
    con.print(
        f"households: {len(d['households'])}; documents written now: {d['documents_written']} "
        f"({d['seconds']} s, {d['pages_per_minute']} OCR pages/min)"
    )
    for f in d["quarantined_files"]:
        con.print(f"[yellow]set aside[/] {f['file']}: {f['reason']}", soft_wrap=True)
    for p in d["quarantined_pages"]:
        con.print(
            f"[yellow]set aside[/] {p['file']} page(s) {p['pages']}: {p['reason']}", soft_wrap=True
        )
    for p in d["delivery_problems"]:
        con.print(f"[yellow]delivery[/] {p['file']}: {p['problem']}", soft_wrap=True)
    for m in d["page_count_mismatches"]:
        con.print(
            f"[yellow]page count[/] {m['household']} volume {m['volume']} in {m['file']}: "
            f"cover says {m['declared']}, found {m['found']}"
        )
    for note in d["notes"]:
        con.print(note)


def household_table(result: dict[str, Any]) -> None:
    table = Table(title=f"household {result['household']}")
    for col in ("volume", "doc", "type", "pages", "path", "source"):
        table.add_column(col)
    for d in result["documents"]:
        src = d["source"]
        table.add_row(
            str(d["volume"]),
            str(d["document"]),
            d["type"] or "",
            str(d["pages"]),
            d["path"],
            f"{src['file']} p.{(src['first_page'] or 0) + 1}-{(src['last_page'] or 0) + 1}",
        )
    out.print(table)
    if not result["documents"]:
        out.print("no documents archived yet")


# --- verify and rollout -----------------------------------------------------------------------

_LIST_LIMIT = 20

_STATUS_STYLE = {"complete": "bold green", "incomplete": "bold yellow", "damaged": "bold red"}


def _items(con: Console, label: str, items: list[str]) -> None:
    if not items:
        return
    con.print(f"[yellow]{label}[/] ({len(items)}):", soft_wrap=True)
    for line in items[:_LIST_LIMIT]:
        con.print(f"  {escape(line)}", soft_wrap=True)
    if len(items) > _LIST_LIMIT:
        con.print(f"  … and {len(items) - _LIST_LIMIT} more (all of them: --format csv or html)")


def verify_reports(reports: list[Any], to_stderr: bool = False) -> None:
    """Each site's verdict, figures and problem lists; long lists are cut, the files are not."""
    con = _console(to_stderr)
    for r in reports:
        d = r.to_dict()
        style = _STATUS_STYLE[d["status"]]
        con.print(
            f"[bold]{escape(d['site_name'])}[/] ({d['site']}): [{style}]{d['status'].upper()}[/] "
            f"· level {d['level']} · verification {d['verification_id']} · {d['seconds']} s"
        )
        p, f = d["pages"], d["fixity"]
        table = Table(show_header=False, box=None, padding=(0, 2))
        table.add_row(
            "households",
            f"{d['expected_households']} expected, {d['archived_households']} archived, "
            f"{len(d['missing_households'])} missing, "
            f"{len(d['unexpected_households'])} not expected",
        )
        table.add_row(
            "pages",
            f"{p['input']} in = {p['archived']} archived + {p['cover']} cover + "
            f"{p['separator']} separator + {p['blank']} blank + {p['quarantined']} set aside",
        )
        table.add_row(
            "archive",
            f"{f['checked']} files checked: {len(f['missing'])} missing, "
            f"{len(f['changed'])} changed, {len(f['untracked'])} untracked"
            + (f", {len(f['invalid'])} invalid" if d["level"] == "valid" else ""),
        )
        con.print(table)
        for finding in d["findings"]:
            con.print(f"[yellow]problem:[/] {escape(finding)}", soft_wrap=True)
        for t in FINDING_TABLES:
            if t.line is not None:
                _items(con, t.title, [t.line(x) for x in t.rows(r)])


def verify_history_table(rows: list[dict[str, Any]]) -> None:
    table = Table(title="verifications, newest first")
    for col in (
        "no.",
        "site",
        "finished (UTC)",
        "level",
        "result",
        "households",
        "files checked",
        "missing/changed/untracked",
        "by",
    ):
        table.add_column(col)
    for r in rows:
        result = (
            "[green]passed[/]"
            if r["ok"]
            else ("[yellow]incomplete[/]" if r["intact"] else "[red]damaged[/]")
        )
        table.add_row(
            str(r["id"]),
            r["site"],
            r["finished_at"],
            r["level"],
            result,
            f"{r['archived_households']}/{r['expected_households']} "
            f"({r['missing_households']} missing)",
            str(r["documents_checked"]),
            f"{r['files_missing']}/{r['files_changed']}/{r['files_untracked']}",
            escape(r["os_user"] or ""),
        )
    out.print(table)
    if not rows:
        out.print("no verification recorded yet: run esak verify --site SITE")


_STATE_STYLE = {
    "unplanned": "dim",
    "planned": "blue",
    "importing": "yellow",
    "verified": "green",
    "live": "bold green",
}


def rollout_table(status: Any, to_stderr: bool = False) -> None:
    con = _console(to_stderr)
    table = Table(title=f"rollout as of {status.today.isoformat()}")
    columns = [c for c in ROLLOUT_COLUMNS if c.human]
    for c in columns:
        table.add_column(c.header, justify="right" if c.numeric else "left")
    for s in status.sites:
        row = []
        for c in columns:
            text = escape(c.text(s))
            if c.key == "state":
                text = f"[{_STATE_STYLE[s.state]}]{text}[/]" + (
                    " [red]overdue[/]" if s.overdue else ""
                )
            row.append(text)
        table.add_row(*row)
    con.print(table)
    if status.overdue:
        con.print(f"[red]overdue[/] (go-live reached, not verified): {', '.join(status.overdue)}")


def rollout_plan(status: Any, to_stderr: bool = False) -> None:
    con = _console(to_stderr)
    nxt = status.next_site
    for n, s in enumerate(status.sites, 1):
        marker = "→" if s is nxt else " "
        con.print(
            f"{marker} {n:2d}. {escape(s.name)} ({s.key}) · go-live {s.go_live or 'unplanned'} · "
            f"[{_STATE_STYLE[s.state]}]{s.state}[/]"
        )
    if nxt is None:
        con.print("[bold green]every site is live[/]")
        return
    if not nxt.blockers:
        con.print(f"next: [bold]{escape(nxt.name)}[/] — verified; nothing blocks its go-live")
        return
    con.print(f"next: [bold]{escape(nxt.name)}[/] — blocked by:")
    for b in nxt.blockers:
        con.print(f"  • {escape(b['reason'])}  [dim]→ {escape(b['action'])}[/]", soft_wrap=True)


def blank_review_summary(review: Any) -> None:
    """``esak blanks``: how many dropped pages, where the sheet went, which could not be shown."""
    where = f"delivery {review.delivery} of {review.site}" if review.delivery else review.site
    line = f"{len(review.pages)} page(s) of {where} were left out as blank"
    if review.output:
        line += f"; review sheet ({review.sheets} sheet(s)) written to {review.output}"
    err.print(line, markup=False, soft_wrap=True)
    warn_all([f"{p.file}, page {p.index + 1}: {p.detail or p.problem}" for p in review.problems])


def keep_summary(result: Any) -> None:
    """``esak blanks keep``: each page kept and the document it is now part of."""
    for note in result.notes:
        err.print(note, markup=False, soft_wrap=True)
    for page in result.kept:
        err.print(
            f"{page['file']}, page {page['page']}: kept, now page {page['document_page']} "
            f"of {page['document']}",
            markup=False,
            soft_wrap=True,
        )
    for page in result.already_kept:
        err.print(
            f"{page['file']}, page {page['page']}: kept before, in {page['document']}",
            markup=False,
            soft_wrap=True,
        )


def notes(lines: list[str]) -> None:
    """Things worth knowing that are not problems (e.g. a verification not recorded)."""
    for line in lines:
        err.print(f"note: {line}", markup=False, soft_wrap=True)


def expected_dry_run(result: Any, to_stderr: bool = False) -> None:
    """``expected import --dry-run``: what the import would change, household by household."""
    con = _console(to_stderr)
    d = result.to_dict()
    con.print(
        f"dry run, nothing changed: the expected list for {d['site']} ({d['rows_read']} rows "
        f"read) would add {d['added']}, update {d['updated']}, leave {d['unchanged']} "
        f"unchanged and remove {d['removed']}; {d['total_expected']} households expected "
        "in all afterwards",
        markup=False,
        soft_wrap=True,
    )
    for label, households in d["changes"].items():
        if households:
            shown = ", ".join(households[:_LIST_LIMIT])
            more = len(households) - _LIST_LIMIT
            con.print(
                f"  would be {label}: {shown}" + (f" and {more} more" if more > 0 else ""),
                markup=False,
                soft_wrap=True,
            )
    for row in d["rejected"]:
        err.print(f"line {row['line']}: {row['reason']}", markup=False, soft_wrap=True)


def expected_table(result: dict[str, Any]) -> None:
    """``expected list``: one row per expected household, by number (never a name)."""
    table = Table(title=f"expected households of {result['site']} ({result['total']})")
    for col in ("household", "volumes", "status", "documents", "list line", "imported"):
        table.add_column(col)
    for h in result["households"]:
        table.add_row(
            h["household"],
            "" if h["volumes"] is None else str(h["volumes"]),
            escape(h["status"] or ""),
            str(h["documents"]),
            str(h["source_line"]),
            h["imported_at"],
        )
    out.print(table)
    if not result["households"]:
        out.print("no expected list imported: esak expected import --site SITE FILE.csv")


def expected_removal_summary(result: Any, to_stderr: bool = False) -> None:
    """``expected remove``: what was taken off the list, and what was not on it."""
    con = _console(to_stderr)
    d = result.to_dict()
    con.print(
        f"removed {len(d['removed'])} household(s) from the expected list of {d['site']}"
        + (f": {', '.join(d['removed'])}" if d["removed"] else "")
        + f"; {d['total_expected']} households expected in all",
        markup=False,
        soft_wrap=True,
    )
    if d["with_documents"]:
        notes([f"--force: removed although archived: {', '.join(d['with_documents'])}"])
    if d["not_expected"]:
        warn_all([f"not on the expected list of {d['site']}: {', '.join(d['not_expected'])}"])


def share_summary(result: Any, to_stderr: bool = False) -> None:
    """``workspace share``: who may read the workspace now, and how many files changed."""
    d = result.to_dict()
    who = f"its owner and the group {d['read_group']}" if d["read_group"] else "its owner only"
    _console(to_stderr).print(
        f"workspace {d['workspace']} is now readable by {who}: files {d['file_mode']}, "
        f"folders {d['dir_mode']} ({d['files']} file(s), {d['folders']} folder(s) set; "
        "scratch space tmp/ stays owner-only)",
        markup=False,
        soft_wrap=True,
    )

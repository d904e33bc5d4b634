"""Human-readable output: rich tables on standard output, messages and progress on standard error.

Nothing here decides anything; it only shows what the library returned. Households are
shown by number only, never by a person's name.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from esak.i18n import N_, _, local_date, local_time, tr
from esak.report.tables import (
    CASE_COLUMNS,
    FINDING_TABLES,
    ROLLOUT_COLUMNS,
    STATE_LABELS,
    VERDICTS,
    case_row,
)
from esak.verify.rollout import blocker_text
from esak.verify.site import finding_sentences

# Not a terminal (cron mail, a file): wide enough that tables keep their columns whole.
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160
_ERR_WIDTH = None if sys.stderr.isatty() or os.environ.get("COLUMNS") else 160
out = Console(highlight=False, width=_WIDTH)
err = Console(stderr=True, highlight=False, width=_ERR_WIDTH)


def _console(to_stderr: bool) -> Console:
    return err if to_stderr else out


def error(message: str, remedy: str | None) -> None:
    # Messages carry names from deliveries (scan[1].pdf): escaped, or rich eats the brackets.
    label, todo = _("esak: error:"), _("what to do:")
    err.print(f"[bold red]{label}[/] {escape(message)}", markup=True, soft_wrap=True)
    if remedy:
        err.print(f"  [yellow]{todo}[/] {escape(remedy)}", soft_wrap=True)


def warn_all(lines: list[str]) -> None:
    label = _("problem")
    for line in lines:
        err.print(f"[yellow]{label}:[/] {escape(line)}", soft_wrap=True)


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
    table = Table(title=_("Sites"))
    table.add_column(_("site"), no_wrap=True)
    for col in (_("name"), _("go-live"), _("order"), _("departments"), _("note")):
        table.add_column(col)
    for p in sites:
        table.add_row(
            escape(p.key),
            escape(p.name),
            local_date(p.go_live) if p.go_live else _("unplanned"),
            str(p.rollout_order or ""),
            escape(", ".join(p.departments)),
            escape(p.go_live_note or ""),
        )
    out.print(table)


def profile_detail(profile: Any) -> None:
    table = Table(title=f"Site {escape(profile.key)}", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in profile.to_dict().items():
        if isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        table.add_row(key, "" if value is None else escape(str(value)))
    out.print(table)


def inspect_table(report: Any) -> None:
    table = Table(
        title=_("{file} ({format}, {n} pages)").format(
            file=escape(report.file), format=report.format, n=len(report.pages)
        )
    )
    table.add_column(_("page"), justify="right")
    table.add_column(_("kind"))
    table.add_column(_("barcodes"))
    table.add_column(_("meaning"))
    styles = {"cover": "bold green", "separator": "cyan", "blank": "dim", "content": ""}
    for p in report.pages:
        cls = p.page
        codes = escape("; ".join(f"{b.format} {b.text!r}" for b in cls.barcodes))
        if cls.problem:
            meaning = f"[red]{escape(tr(cls.problem))}[/]"
        elif cls.cover:
            meaning = _("household {household}, volume {volume}").format(
                household=cls.cover.household, volume=cls.cover.volume
            )
            if cls.cover.declared_pages:
                meaning += _(", {n} pages follow").format(n=cls.cover.declared_pages)
        elif cls.separator:
            meaning = (
                _("new document: {type}").format(type=escape(cls.separator.doc_type))
                if cls.separator.doc_type
                else _("new document")
            )
        else:
            meaning = ""
        kind = str(cls.kind)
        word = _(KIND_LABELS[kind])
        # Pages are counted from 1, as printed on a sheet (JSON's "index" counts from 0).
        table.add_row(
            str(p.index + 1), f"[{styles[kind]}]{word}[/]" if styles[kind] else word, codes, meaning
        )
    out.print(table)
    counts = report.counts()
    out.print(", ".join(f"{n} {_(KIND_LABELS[k])}" for k, n in counts.items()))


def expected_import_summary(result: Any, to_stderr: bool = False) -> None:
    con = _console(to_stderr)
    d = result.to_dict()
    con.print(
        _(
            "expected list for {site}: {rows_read} rows read ({encoding}, '{delimiter}'): "
            "{added} added, {updated} updated, {unchanged} unchanged, {removed} removed; "
            "{total_expected} households expected in all"
        ).format(**{**d, "site": f"[bold]{d['site']}[/]"})
    )
    line = _("line {n}:")
    for row in d["rejected"]:
        err.print(
            f"[yellow]{line.format(n=row['line'])}[/] {escape(row['reason'])}", soft_wrap=True
        )
    if d["rejected"]:
        err.print(
            "[yellow]"
            + _("{n} row(s) rejected").format(n=len(d["rejected"]))
            + "[/]; "
            + _("fix them and import again")
        )


def demo_summary(result: Any, to_stderr: bool = False) -> None:
    con = _console(to_stderr)
    con.print(
        "[bold]" + _("verification report") + "[/] (esak verify --site borken --level valid):"
    )
    verify_reports([result.verification], to_stderr=to_stderr)
    con.print()
    for line in result.lines():
        con.print(line, soft_wrap=True, markup=False)
    if result.final is not None:
        con.print()
        con.print("[bold]" + _("verification after the Klärfälle were resolved") + "[/]:")
        verify_reports([result.final], to_stderr=to_stderr)


@contextmanager
def ingest_progress(verbosity: int = 0) -> Iterator[Callable[[Any], None]]:
    """A progress bar on a terminal. Without one (cron, systemd, CI), or with --verbose, one
    line per finished file on standard error, for the log; with --quiet, nothing."""
    if verbosity < 0:
        yield lambda progress: None
        return
    if verbosity > 0 or not err.is_terminal:
        yield _log_file_done
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bars:
        pages = bars.add_task(_("pages read"), total=None)
        docs = bars.add_task(_("documents OCR'd"), total=None)

        def update(p: Any) -> None:
            bars.update(pages, completed=p.pages_classified, total=p.pages_total or None)
            bars.update(docs, completed=p.documents_done, total=p.documents_total or None)

        yield update


_FILE_OUTCOMES = {
    "ingested": N_("ingested"),
    "quarantined": N_("set aside"),
    "duplicate": N_("duplicate of"),
}


def file_done_line(p: Any, now: float | None = None) -> str | None:
    """The log line of the file that just finished: time, file, pages, outcome, the running
    totals and the time left (from the pages done so far)."""
    done = p.last
    if done is None:
        return None
    clock = local_time(datetime.now(UTC), seconds=True).rpartition(" ")[2]
    what = _(_FILE_OUTCOMES[done.outcome])
    if done.reason:
        what += f" {tr(done.reason)}" if done.outcome == "duplicate" else f": {tr(done.reason)}"
    line = _("{time} {file}: {pages} pages, {outcome} · {files} of {files_total} files, "
             "{pages_done} of {pages_total} pages").format(
        time=clock, file=done.file, pages=done.pages, outcome=what, files=p.files_done,
        files_total=p.files_total, pages_done=p.pages_done, pages_total=p.pages_total,
    )  # fmt: skip
    elapsed = (time.monotonic() if now is None else now) - p.started
    left = p.pages_total - p.pages_done
    if p.pages_done and left > 0:
        minutes = round(elapsed / p.pages_done * left / 60)
        line += " · " + _("about {h}:{m:02d} h left").format(h=minutes // 60, m=minutes % 60)
    return line


def _log_file_done(p: Any) -> None:
    line = file_done_line(p)
    if line:
        err.print(line, markup=False, highlight=False, soft_wrap=True)


def ingest_summary(report: Any, to_stderr: bool = False) -> None:
    con = _console(to_stderr)
    d = report.to_dict()
    status = (
        "[bold green]" + _("OK") + "[/]" if report.ok else "[bold yellow]" + _("PROBLEMS") + "[/]"
    )
    con.print(
        _("ingest of {delivery} for {site}: {status}").format(
            delivery=escape(d["delivery"]), site=f"[bold]{d['site']}[/]", status=status
        )
    )
    files, pages = d["files"], d["pages"]
    line = _("files: {ingested} ingested, {quarantined} set aside, {duplicate} duplicates").format(
        **files
    )
    if d["already_ingested"]:
        line += _("; {n} already ingested before").format(n=d["already_ingested"])
    con.print(line)
    con.print(_pages_line(pages))
    con.print(
        _(
            "households: {households}; documents written now: {documents} ({seconds} s, "
            "{rate} OCR pages/min)"
        ).format(
            households=len(d["households"]),
            documents=d["documents_written"],
            seconds=d["seconds"],
            rate=d["pages_per_minute"],
        )
    )
    aside = "[yellow]" + _("set aside") + "[/]"
    for f in d["quarantined_files"]:
        con.print(f"{aside} {escape(f['file'])}: {escape(tr(f['reason']))}", soft_wrap=True)
    for p in d["quarantined_pages"]:
        con.print(
            f"{aside} "
            + _("{file} page(s) {pages}: {reason}").format(
                file=escape(p["file"]),
                pages=p["pages"].replace("-", "–"),
                reason=escape(tr(p["reason"])),
            ),
            soft_wrap=True,
        )
    for p in d["delivery_problems"]:
        con.print(
            "[yellow]" + _("delivery") + f"[/] {escape(p['file'])}: {escape(tr(p['problem']))}",
            soft_wrap=True,
        )
    for m in d["page_count_mismatches"]:
        con.print(
            "[yellow]"
            + _("page count")
            + "[/] "
            + _(
                "{household} volume {volume} in {file}: cover says {declared}, found {found}"
            ).format(**{**m, "file": escape(m["file"])})
        )
    for note in d["notes"]:
        con.print(escape(tr(note)), soft_wrap=True)


def _pages_line(p: dict[str, int]) -> str:
    return _(
        "pages: {input} in = {archived} archived + {cover} cover + {separator} separator "
        "+ {blank} blank + {quarantined} set aside + {discarded} discarded"
    ).format(**{"discarded": 0, **p})


def household_table(result: dict[str, Any]) -> None:
    table = Table(title=_("household {household}").format(household=escape(result["household"])))
    mail = any(d.get("received_at") for d in result["documents"])
    columns = (_("volume"), _("doc."), _("type"), _("pages"), _("path"), _("source"))
    for col in (*columns, _("received")) if mail else columns:
        table.add_column(col)
    for d in result["documents"]:
        src = d["source"]
        row = [
            # Volume 0 is the household's incoming mail (post/), not a volume of its file.
            str(d["volume"]) if d["volume"] else _("mail"),
            str(d["document"]),
            escape(d["type"] or ""),
            str(d["pages"]),
            escape(d["path"]) if not d.get("purged") else _(
                "handed over and deleted {date} (sha256 {sha})").format(
                date=local_date(d["purged"]["at"]), sha=d["sha256"][:16] + "…"),
            _("{file} p. {first}–{last}").format(
                file=escape(src["file"]), first=src["first_page"], last=src["last_page"]
            ),
        ]
        if mail:
            row.append(local_date(d.get("received_at")))
        table.add_row(*row)
    out.print(table)


# --- verify and rollout -----------------------------------------------------------------------

_LIST_LIMIT = 20

#: What a page is, in words.
KIND_LABELS = {
    "cover": N_("cover sheet"),
    "separator": N_("separator sheet"),
    "blank": N_("blank page"),
    "content": N_("content"),
}

_STATUS_STYLE = {"complete": "bold green", "incomplete": "bold yellow", "damaged": "bold red"}


def _items(con: Console, label: str, items: list[str]) -> None:
    if not items:
        return
    con.print(f"[yellow]{escape(label)}[/] ({len(items)}):", soft_wrap=True)
    for line in items[:_LIST_LIMIT]:
        con.print(f"  {escape(line)}", soft_wrap=True)
    if len(items) > _LIST_LIMIT:
        con.print(
            "  "
            + _("… and {n} more (all of them: --format csv or html)").format(
                n=len(items) - _LIST_LIMIT
            )
        )


def verify_reports(reports: list[Any], to_stderr: bool = False) -> None:
    """Each site's verdict, figures and problem lists; long lists are cut, the files are not."""
    con = _console(to_stderr)
    for r in reports:
        d = r.to_dict()
        style = _STATUS_STYLE[d["status"]]
        con.print(
            f"[bold]{escape(d['site_name'])}[/] ({d['site']}): "
            f"[{style}]{_(VERDICTS[d['status']]).upper()}[/] · "
            + _("level {level} · verification {number} · {seconds} s · {at}").format(
                level=d["level"],
                number=d["verification_id"],
                seconds=d["seconds"],
                at=local_time(d["checked_at"]),
            )
        )
        f = d["fixity"]
        table = Table(show_header=False, box=None, padding=(0, 2))
        table.add_row(
            _("households"),
            _("{expected} expected, {archived} archived, {missing} missing, "
              "{unexpected} not expected").format(
                expected=d["expected_households"],
                archived=d["archived_households"],
                missing=len(d["missing_households"]),
                unexpected=len(d["unexpected_households"]),
            ),
        )  # fmt: skip
        table.add_row(_("pages"), _pages_line(d["pages"]).partition(": ")[2])
        archive = _("{checked} files checked: {missing} missing, {changed} changed").format(
            checked=f["checked"], missing=len(f["missing"]), changed=len(f["changed"])
        )
        if "untracked" in f["not_checked"]:
            archive += ", " + _("untracked not checked at level {level}").format(level=d["level"])
        else:
            archive += ", " + _("{n} untracked").format(n=len(f["untracked"]))
        if d["level"] == "valid":
            archive += ", " + _("{n} invalid").format(n=len(f["invalid"]))
        if f.get("purged"):
            archive += "; " + _("{n} document(s) handed over and deleted").format(n=f["purged"])
        table.add_row(_("archive"), archive)
        con.print(table)
        for finding in finding_sentences(r, _):
            con.print(f"[yellow]{_('problem')}:[/] {escape(finding)}", soft_wrap=True)
        for t in FINDING_TABLES:
            if t.line is not None:
                _items(con, t.heading, [t.line(x) for x in t.rows(r)])


def verify_history_table(rows: list[dict[str, Any]]) -> None:
    table = Table(title=_("verifications, newest first"))
    for col in (
        _("no."),
        _("site"),
        _("finished"),
        _("level"),
        _("result"),
        _("households"),
        _("files checked"),
        _("missing/changed/untracked"),
        _("by"),
    ):
        table.add_column(col)
    for r in rows:
        result = (
            "[green]" + _("passed") + "[/]"
            if r["ok"]
            else (
                "[yellow]" + _(VERDICTS["incomplete"]) + "[/]"
                if r["intact"]
                else "[red]" + _(VERDICTS["damaged"]) + "[/]"
            )
        )
        table.add_row(
            str(r["id"]),
            r["site"],
            local_time(r["finished_at"]),
            r["level"],
            result,
            _("{archived}/{expected} ({missing} missing)").format(
                archived=r["archived_households"],
                expected=r["expected_households"],
                missing=r["missing_households"],
            ),
            str(r["documents_checked"]),
            f"{r['files_missing']}/{r['files_changed']}/{r['files_untracked']}",
            escape(r["os_user"] or ""),
        )
    out.print(table)
    if not rows:
        out.print(_("no verification recorded yet: run esak verify --site SITE"))


_STATE_STYLE = {
    "unplanned": "dim",
    "planned": "blue",
    "importing": "yellow",
    "verified": "green",
    "live": "bold green",
}


def rollout_table(status: Any, to_stderr: bool = False) -> None:
    con = _console(to_stderr)
    table = Table(title=_("rollout as of {date}").format(date=local_date(status.today)))
    columns = [c for c in ROLLOUT_COLUMNS if c.human]
    for c in columns:
        table.add_column(c.label, justify="right" if c.numeric else "left")
    for s in status.sites:
        row = []
        for c in columns:
            text = escape(c.text(s))
            if c.key == "state":
                text = f"[{_STATE_STYLE[s.state]}]{text}[/]" + (
                    " [red]" + _("overdue") + "[/]" if s.overdue else ""
                )
            row.append(text)
        table.add_row(*row)
    con.print(table)
    if status.overdue:
        con.print(
            "[red]"
            + _("overdue")
            + "[/] "
            + _("(go-live reached, not verified): {sites}").format(sites=", ".join(status.overdue))
        )


def rollout_plan(status: Any, to_stderr: bool = False) -> None:
    con = _console(to_stderr)
    nxt = status.next_site
    for n, s in enumerate(status.sites, 1):
        marker = "→" if s is nxt else " "
        go_live = local_date(s.go_live) if s.go_live else _("unplanned")
        con.print(
            f"{marker} {n:2d}. {escape(s.name)} ({s.key}) · "
            + _("go-live {date}").format(date=go_live)
            + f" · [{_STATE_STYLE[s.state]}]{_(STATE_LABELS[s.state])}[/]"
        )
    if nxt is None:
        con.print("[bold green]" + _("every site is live") + "[/]")
        return
    if not nxt.blockers:
        con.print(
            _("next: {name} — verified; nothing blocks its go-live").format(
                name=f"[bold]{escape(nxt.name)}[/]"
            )
        )
        return
    con.print(_("next: {name} — blocked by:").format(name=f"[bold]{escape(nxt.name)}[/]"))
    for b in nxt.blockers:
        con.print(
            f"  • {escape(blocker_text(b, _))}  [dim]→ {escape(b['action'])}[/]", soft_wrap=True
        )


def blank_review_summary(review: Any) -> None:
    """``esak blanks``: how many dropped pages, where the sheet went, which could not be shown."""
    where = (
        _("delivery {delivery} of {site}").format(delivery=review.delivery, site=review.site)
        if review.delivery
        else review.site
    )
    line = _("{n} page(s) of {where} were left out as blank").format(
        n=len(review.pages), where=where
    )
    if review.output:
        line += _("; review sheet ({n} sheet(s)) written to {file}").format(
            n=review.sheets, file=review.output
        )
    err.print(line, markup=False, soft_wrap=True)
    warn_all(
        [
            _("{file}, page {page}: {problem}").format(
                file=p.file, page=p.index + 1, problem=tr(p.detail or p.problem)
            )
            for p in review.problems
        ]
    )


def keep_summary(result: Any) -> None:
    """``esak blanks keep``: each page kept and the document it is now part of."""
    for note in result.notes:
        err.print(tr(note), markup=False, soft_wrap=True)
    for page in result.kept:
        err.print(
            _("{file}, page {page}: kept, now page {document_page} of {document}").format(**page),
            markup=False,
            soft_wrap=True,
        )
    for page in result.already_kept:
        err.print(
            _("{file}, page {page}: kept before, in {document}").format(**page),
            markup=False,
            soft_wrap=True,
        )


def cases_table(cases: list[dict[str, Any]], to_stderr: bool = False) -> None:
    """``esak clarify list``: the cases, oldest first."""
    con = _console(to_stderr)
    table = Table(title=_("Klärfälle, oldest first"))
    for c in CASE_COLUMNS:
        table.add_column(c.label, justify="right" if c.numeric else "left")
    for case in cases:
        row = case_row(case)
        table.add_row(
            *(escape(str(row[c.key] if row[c.key] is not None else "")) for c in CASE_COLUMNS)
        )
    con.print(table)
    if not cases:
        con.print(_("no Klärfall"))


def clarified(result: Any) -> None:
    """``esak clarify assign|close|reopen``: the case as it is now."""
    case = case_row(result.case)
    line = _("case {id} ({kind}, {about}): {status}").format(**case)
    if case["resolution"]:
        line += f" — {case['resolution']}"
    err.print(line, markup=False, soft_wrap=True)
    if result.document:
        err.print(_("archived as {path}").format(path=result.document), markup=False)
    for note in result.notes:
        err.print(tr(note), markup=False, soft_wrap=True)


def notes(lines: list[str]) -> None:
    """Things worth knowing that are not problems (e.g. a verification not recorded)."""
    label = _("note")
    for line in lines:
        err.print(f"{label}: {tr(line)}", markup=False, soft_wrap=True)


def expected_dry_run(result: Any, to_stderr: bool = False) -> None:
    """``expected import --dry-run``: what the import would change, household by household."""
    con = _console(to_stderr)
    d = result.to_dict()
    con.print(
        _(
            "dry run, nothing changed: the expected list for {site} ({rows_read} rows read) "
            "would add {added}, update {updated}, leave {unchanged} unchanged and remove "
            "{removed}; {total_expected} households expected in all afterwards"
        ).format(**d),
        markup=False,
        soft_wrap=True,
    )
    for label, households in d["changes"].items():
        if households:
            shown = ", ".join(households[:_LIST_LIMIT])
            more = len(households) - _LIST_LIMIT
            line = _("would be {change}: {households}").format(
                change=_(_CHANGES.get(label, label)), households=shown
            )
            if more > 0:
                line += " " + _("and {n} more").format(n=more)
            con.print("  " + line, markup=False, soft_wrap=True)
    for row in d["rejected"]:
        err.print(
            _("line {n}:").format(n=row["line"]) + f" {row['reason']}",
            markup=False,
            soft_wrap=True,
        )


_CHANGES = {"added": N_("added"), "updated": N_("updated"), "removed": N_("removed")}


def expected_table(result: dict[str, Any]) -> None:
    """``expected list``: one row per expected household, by number (never a name)."""
    table = Table(
        title=_("expected households of {site} ({n})").format(
            site=result["site"], n=result["total"]
        )
    )
    for col in (_("household"), _("volumes"), _("status"), _("documents"), _("list line"),
                _("imported")):  # fmt: skip
        table.add_column(col)
    for h in result["households"]:
        table.add_row(
            h["household"],
            "" if h["volumes"] is None else str(h["volumes"]),
            escape(h["status"] or ""),
            str(h["documents"]),
            str(h["source_line"]),
            local_time(h["imported_at"]),
        )
    out.print(table)
    if not result["households"]:
        out.print(_("no expected list imported: esak expected import --site SITE FILE.csv"))


def expected_removal_summary(result: Any, to_stderr: bool = False) -> None:
    """``expected remove``: what was taken off the list, and what was not on it."""
    con = _console(to_stderr)
    d = result.to_dict()
    line = _("removed {n} household(s) from the expected list of {site}").format(
        n=len(d["removed"]), site=d["site"]
    )
    if d["removed"]:
        line += ": " + ", ".join(d["removed"])
    line += "; " + _("{n} households expected in all").format(n=d["total_expected"])
    con.print(line, markup=False, soft_wrap=True)
    if d["with_documents"]:
        notes([_("--force: removed although archived: {households}").format(
            households=", ".join(d["with_documents"]))])  # fmt: skip
    if d["not_expected"]:
        warn_all([_("not on the expected list of {site}: {households}").format(
            site=d["site"], households=", ".join(d["not_expected"]))])  # fmt: skip


def share_summary(result: Any, to_stderr: bool = False) -> None:
    """``workspace share``: who may read the workspace now, and how many files changed."""
    d = result.to_dict()
    who = (
        _("its owner and the group {group}").format(group=d["read_group"])
        if d["read_group"]
        else _("its owner only")
    )
    _console(to_stderr).print(
        _(
            "workspace {workspace} is now readable by {who}: files {file_mode}, folders "
            "{dir_mode} ({files} file(s), {folders} folder(s) set; scratch space tmp/ stays "
            "owner-only)"
        ).format(**{**d, "who": who}),
        markup=False,
        soft_wrap=True,
    )


def withdrawn(result: Any) -> None:
    """``esak withdraw``: what left the archive, and what the index keeps of it."""
    d = result.to_dict()
    err.print(
        _(
            "delivery {delivery} ({path}) of {site} withdrawn by {by}: {documents} document(s) "
            "of {households} household(s) left the archive, {files} file(s) and {pages} page(s) "
            "marked withdrawn"
        ).format(
            delivery=d["delivery"], path=d["delivery_path"], site=d["site"], by=d["by"],
            documents=len(d["documents"]), households=len(d["households"]), files=d["files"],
            pages=d["pages"],
        ),
        markup=False,
        soft_wrap=True,
    )  # fmt: skip
    cases = d["cases"]
    if cases["resolved"] or cases["opened"]:
        err.print(
            _("Klärfälle: {resolved} resolved as withdrawn, {opened} opened").format(
                resolved=len(cases["resolved"]), opened=len(cases["opened"])
            ),
            markup=False,
            soft_wrap=True,
        )
    for note in d["notes"]:
        err.print(tr(note), markup=False, soft_wrap=True)


#: Problems shown one by one; the rest are counted (all of them are in --json).
_AUDIT_PROBLEMS_SHOWN = 30


def audit_verified(report: Any, to_stderr: bool = False) -> None:
    """``esak audit verify``: intact or not, the problems, what a checkpoint proved."""
    con = _console(to_stderr)
    facts = {"size": report.size, "root": report.root, "files": report.files_checked}
    if report.intact:
        line = _("audit log intact: {size} events, root {root}; {files} archived files re-hashed")
        con.print(f"[green]{escape(line.format(**facts))}[/]", soft_wrap=True)
    else:
        line = _("audit log NOT intact: {problems} problem(s) in {size} events; {files} archived "
                 "files re-hashed").format(problems=len(report.problems), **facts)  # fmt: skip
        con.print(f"[bold red]{escape(line)}[/]", soft_wrap=True)
    label = _("problem")
    for problem in report.problems[:_AUDIT_PROBLEMS_SHOWN]:
        con.print(f"[yellow]{label}:[/] {escape(problem.text(_))}", soft_wrap=True)
    if len(report.problems) > _AUDIT_PROBLEMS_SHOWN:
        more = _("… and {n} more (all of them: --json)")
        con.print(more.format(n=len(report.problems) - _AUDIT_PROBLEMS_SHOWN), markup=False)
    cp = report.checkpoint
    if cp and cp["signature_valid"] and cp["consistent"]:
        con.print(
            _("checkpoint of {time} ({size} events, key {key_id}): signature valid, the log "
              "has only grown since").format(time=local_time(cp["time"]), size=cp["size"],
                                             key_id=cp["key_id"]),
            markup=False,
            soft_wrap=True,
        )  # fmt: skip
    for note in report.notes:
        con.print(f"{_('note')}: {tr(note)}", markup=False, soft_wrap=True)


def audit_checkpointed(result: Any, to_stderr: bool = False) -> None:
    """``esak audit checkpoint``: where the signed checkpoint is, and what it vouches for."""
    con = _console(to_stderr)
    cp = result.checkpoint
    con.print(
        _("checkpoint written to {file}: {size} events, root {root}, signed with key "
          "{key_id}").format(file=result.file, **cp),
        markup=False,
        soft_wrap=True,
    )  # fmt: skip
    if result.key_created:
        con.print(
            _("a new signing key was made: {key} (owner-only; back it up with the workspace)")
            .format(key=result.key_file),
            markup=False,
            soft_wrap=True,
        )  # fmt: skip
    con.print(
        _("keep the checkpoint outside the workspace; later: esak audit verify --checkpoint "
          "{file}").format(file=result.file),
        markup=False,
        soft_wrap=True,
    )  # fmt: skip


#: A QA sample's status, as people read it.
QA_STATUS = {"open": N_("open"), "passed": N_("passed"), "failed": N_("failed")}


def qa_drawn(sample: Any, to_stderr: bool = False) -> None:
    """``esak qa draw``: the sample's items, and its seed to draw it again."""
    con = _console(to_stderr)
    table = Table(title=_("QA sample {sample} of {site}").format(sample=sample.sample,
                                                                  site=sample.site))  # fmt: skip
    for label in (_("item"), _("household"), _("document"), _("page"), _("why in the sample")):
        table.add_column(label)
    for item in sample.items:
        reason = _("random") if item["reason"] == "random" else _("flagged")
        if item["why"]:
            reason += f" ({item['why']})"
        table.add_row(
            *(
                escape(str(v))
                for v in (
                    item["item"],
                    item["household"] or "",
                    item["document"],
                    item["page"],
                    reason,
                )
            )
        )
    con.print(table)
    line = _(
        "{n} pages drawn at rate {rate} with seed {seed} (the same seed draws the same sample)"
    ).format(n=sample.total, rate=f"{sample.rate:.0%}", seed=sample.seed)
    if sample.escalated:
        line += " — " + _("rate doubled after a defect")
    err.print(line, markup=False, soft_wrap=True)  # fmt: skip


def qa_sheet_written(sample: Any, path: Any) -> None:
    """``esak qa sheet``: where the worksheet is."""
    err.print(_("worksheet of QA sample {sample} ({n} pages) written to {file}").format(
        sample=sample.sample, n=sample.total, file=path), markup=False, soft_wrap=True)  # fmt: skip


def qa_recorded(done: Any) -> None:
    """``esak qa record``: what was recorded, the cases opened, the sample's status."""
    d = done.to_dict()
    err.print(
        _("QA sample {sample}: {recorded} result(s) recorded; {checked} of {total} checked, "
          "{defects} defect(s): {status}").format(
            sample=d["sample"], recorded=len(d["recorded"]), checked=d["checked"],
            total=d["total"], defects=d["defects"], status=_(QA_STATUS[d["status"]])),
        markup=False, soft_wrap=True,
    )  # fmt: skip
    for case in d["cases"]:
        err.print(_("Klärfall {case} opened (QA defect)").format(case=case), markup=False)
    if d["added_items"]:
        err.print(
            _("{n} more page(s) of the same input file added to the sample; the next two "
              "draws of the site at double rate").format(n=len(d["added_items"])),
            markup=False, soft_wrap=True,
        )  # fmt: skip
    if d["notes"]["written"]:
        err.print(
            _("{n} transfer note(s) updated, {final} of them final").format(
                n=d["notes"]["written"], final=d["notes"]["final"]),
            markup=False, soft_wrap=True,
        )  # fmt: skip


def qa_status_table(samples: list[dict[str, Any]], to_stderr: bool = False) -> None:
    """``esak qa status``: per sample drawn, checked, defects, status."""
    con = _console(to_stderr)
    table = Table(title=_("QA samples"))
    for label, right in (
        (_("sample"), True),
        (_("deliveries"), False),
        (_("drawn"), True),
        (_("checked"), True),
        (_("defects"), True),
        (_("status"), False),
    ):
        table.add_column(label, justify="right" if right else "left")
    for s in samples:
        table.add_row(
            str(s["sample"]),
            ", ".join(map(str, s["deliveries"])),
            str(s["total"]),
            str(s["checked"]),
            str(s["defects"]),
            _(s["status"]),
        )
    con.print(table)
    if not samples:
        con.print(_("no QA sample yet"))


def transfer_noted(result: Any, to_stderr: bool = False) -> None:
    """``esak transfer-note``: how many notes were written, and the documents that got none."""
    con = _console(to_stderr)
    created = sum(1 for n in result.notes if n["created"])
    con.print(
        _(
            "{site}: {written} transfer note(s) written ({created} new, {updated} updated) by "
            "{by}: {final} final, {preliminary} preliminary (final once the delivery's QA "
            "sample passed)"
        ).format(
            site=result.site,
            written=len(result.notes),
            created=created,
            updated=len(result.notes) - created,
            by=result.by,
            final=result.final,
            preliminary=len(result.notes) - result.final,
        ),
        markup=False,
        soft_wrap=True,
    )
    label = {"missing": _("missing"), "changed": _("changed")}
    for skipped in result.skipped:
        con.print(
            "[bold red]"
            + escape(
                _("no transfer note for {document}: the archived file is {problem}").format(
                    document=skipped["document"],
                    problem=label.get(skipped["problem"], skipped["problem"]),
                )
            )
            + "[/]",
            soft_wrap=True,
        )
    if result.skipped:
        con.print(
            _("find out what happened: esak verify --site {site} --level valid").format(
                site=result.site
            ),
            markup=False,
            soft_wrap=True,
        )


# --- release --------------------------------------------------------------------------------

_DECISIONS = {"release": N_("released"), "hold": N_("held")}


def release_check_table(check: Any, to_stderr: bool = False) -> None:
    """``esak release check``: per delivery the clock, the decision, and what blocks it."""
    from esak.verify.release import blocker_text

    con = _console(to_stderr)
    table = Table(title=_("Release of the paper originals, {site}, as of {date}").format(
        site=check.site, date=local_date(check.as_of)))  # fmt: skip
    for label, right in ((_("delivery"), True), (_("path"), False), (_("scanned"), False),
                         (_("destruction from"), False), (_("days left"), True),
                         (_("state"), False)):  # fmt: skip
        table.add_column(label, justify="right" if right else "left")
    for d in check.deliveries:
        if d.decision:
            state = f"[green]{escape(_(_DECISIONS[d.decision['decision']]))}[/]"
        elif d.releasable:
            state = "[green]" + escape(_("releasable")) + "[/]"
        else:
            state = "[red]" + escape(_("blocked")) + "[/]" + (
                " [bold red]" + escape(_("urgent")) + "[/]" if d.urgent else "")  # fmt: skip
        table.add_row(str(d.delivery), escape(d.path),
                      local_date(d.scanned_at) if d.scanned_at else "–",
                      local_date(d.destroy_on) if d.destroy_on else "–",
                      "–" if d.days_left is None else str(d.days_left), state)  # fmt: skip
    con.print(table)
    for d in check.deliveries:
        if d.decided:
            continue
        for b in d.blockers:
            con.print(f"  {d.delivery}: " + escape(blocker_text(b)) + " → "
                      + escape(b["action"]), soft_wrap=True)  # fmt: skip
    if check.urgent_holds:
        con.print("[bold red]" + escape(_(
            "{n} delivery/ies blocked with {days} day(s) or fewer left: tell the scanning "
            "provider to hold them (esak release list) or remove the blockers").format(
                n=len(check.urgent_holds), days=check.deliveries[0].warn_days)) + "[/]",
            soft_wrap=True)  # fmt: skip


def release_decided(decision: Any, to_stderr: bool = False) -> None:
    """``esak release approve/hold``: the decision recorded."""
    con = _console(to_stderr)
    if decision.decision == "release":
        text = _("delivery {delivery} of {site} released for destruction by {by}; the "
                 "originals may be destroyed from {date}").format(
            delivery=decision.delivery, site=decision.site, by=decision.by,
            date=local_date(decision.destroy_on) if decision.destroy_on else "–")  # fmt: skip
    else:
        text = _("delivery {delivery} of {site} held by {by}: {reason}").format(
            delivery=decision.delivery, site=decision.site, by=decision.by,
            reason=decision.reason)  # fmt: skip
    con.print(text, markup=False, soft_wrap=True)


def release_listed(rows: list[dict[str, Any]], output: Any) -> None:
    released = sum(1 for r in rows if r["released"])
    err.print(_("{path}: {n} file(s) on the Freigabeliste, {m} on the Sperrliste").format(
        path=output, n=released, m=len(rows) - released), markup=False, soft_wrap=True)  # fmt: skip


# --- backup ---------------------------------------------------------------------------------


def _problems(problems: list[dict[str, Any]], con: Console) -> None:
    for p in problems[:20]:
        con.print("[bold red]" + escape(f"{p.get('path') or ''}: {p['detail']}") + "[/]",
                  soft_wrap=True)  # fmt: skip
    if len(problems) > 20:
        con.print(escape(_("… and {n} more").format(n=len(problems) - 20)))


def backup_made(result: Any, to_stderr: bool = False) -> None:
    """``esak backup``: what was copied, and whether the copy verified."""
    con = _console(to_stderr)
    d = result.to_dict()
    con.print(_("backup in {place}: {files} file(s) ({copied} copied, {unchanged} unchanged, "
                "{removed} removed), audit log of {size} event(s)").format(
        place=d["place"], files=d["files"], copied=d["files_copied"],
        unchanged=d["files_unchanged"], removed=d["files_removed"], size=d["audit"]["size"]),
        markup=False, soft_wrap=True)  # fmt: skip
    if result.verified:
        con.print("[green]" + escape(_("the copy verified: every hash, the index, the audit "
                                       "checkpoint")) + "[/]")  # fmt: skip
    else:
        con.print("[bold red]" + escape(_("the copy did not verify")) + "[/]")
        _problems(d["problems"] or (d["verification"] or {}).get("problems", []), con)
        if d["remedy"]:
            con.print(escape(_("what to do: {remedy}").format(remedy=d["remedy"])),
                      soft_wrap=True)  # fmt: skip


def backup_checked(check: Any, to_stderr: bool = False) -> None:
    """``esak backup verify``: intact or the differences."""
    con = _console(to_stderr)
    d = check.to_dict()
    if check.intact:
        con.print("[green]" + escape(_("{place}: intact, {files} file(s) checked").format(
            place=d["place"], files=d["files_checked"])) + "[/]", soft_wrap=True)  # fmt: skip
        return
    con.print("[bold red]" + escape(_("{place}: {n} difference(s)").format(
        place=d["place"], n=len(d["problems"]))) + "[/]", soft_wrap=True)  # fmt: skip
    _problems(d["problems"], con)


def restored(result: Any, to_stderr: bool = False) -> None:
    """``esak restore``: where the workspace is, and what to run next."""
    con = _console(to_stderr)
    d = result.to_dict()
    con.print(_("restored {files} file(s) into {workspace}").format(
        files=d["files"], workspace=d["workspace"]), markup=False, soft_wrap=True)  # fmt: skip
    for message in d["messages"]:
        con.print(message, markup=False, soft_wrap=True)


# --- export and search ----------------------------------------------------------------------


def exported(result: Any, to_stderr: bool = False) -> None:
    d = result.to_dict()
    _console(to_stderr).print(
        _("{site}: {n} document(s) exported to {place} ({mb} MB), audit log at {size} event(s)")
        .format(site=d["site"], n=d["documents"], place=d["place"],
                mb=f"{d['bytes'] / 1e6:.1f}", size=d["audit"]["size"]),
        markup=False, soft_wrap=True)  # fmt: skip


def export_checked(check: Any, to_stderr: bool = False) -> None:
    con = _console(to_stderr)
    d = check.to_dict()
    if d["valid"]:
        con.print("[green]" + escape(_("{place}: a valid bag, {n} document(s), every hash as "
                                       "recorded").format(place=d["place"], n=d["documents"]))
                  + "[/]", soft_wrap=True)  # fmt: skip
        return
    con.print("[bold red]" + escape(_("{place}: {n} difference(s)").format(
        place=d["place"], n=len(d["problems"]))) + "[/]", soft_wrap=True)  # fmt: skip
    for p in d["problems"][:20]:
        con.print(escape(f"{p['path']}: {p['problem']}"), soft_wrap=True)


def search_hits(result: Any, to_stderr: bool = False) -> None:
    con = _console(to_stderr)
    if not result.hits:
        con.print(escape(_("nothing found for {query}").format(query=result.query)),
                  soft_wrap=True)  # fmt: skip
        return
    for h in result.hits:
        con.print(f"[bold]{escape(h.household)}[/] {escape(h.path)} · "
                  + escape(_("page {page}").format(page=h.page)), soft_wrap=True)  # fmt: skip
        con.print("  " + escape(h.snippet), soft_wrap=True)


def reindexed(result: Any, to_stderr: bool = False) -> None:
    d = result.to_dict()
    _console(to_stderr).print(
        _("{documents} document(s), {pages} page(s) indexed; {missing} archive file(s) "
          "could not be read").format(documents=d["documents"], pages=d["pages"],
                                      missing=len(d["missing"])),
        markup=False, soft_wrap=True)  # fmt: skip


def cluster_status_table(status: Any, to_stderr: bool = False) -> None:
    """``esak cluster status``: each worker with host, cores, memory and what it runs."""
    con = _console(to_stderr)
    d = status.to_dict()
    table = Table(title=_("Dask cluster at {scheduler}").format(scheduler=escape(d["scheduler"])))
    for label, right in (
        (_("worker"), False),
        (_("host"), False),
        (_("cores"), True),
        (_("memory used / limit"), True),
        (_("CPU"), True),
        (_("runs now"), False),
    ):
        table.add_column(label, justify="right" if right else "left")
    for w in d["workers"]:
        table.add_row(
            escape(f"{w['name']} ({w['address']})"),
            escape(w["host"]),
            str(w["threads"]),
            f"{w['memory'] / 1e9:.1f} / {w['memory_limit'] / 1e9:.1f} GB",
            f"{w['cpu']:.0f} %",
            escape(", ".join(w["running"])) or "—",
        )
    con.print(table)
    t = d["totals"]
    con.print(_("{workers} worker(s), {threads} core(s), {memory} GB memory, {running} task(s) "
                "running").format(workers=t["workers"], threads=t["threads"],
                                  memory=f"{t['memory_limit'] / 1e9:.1f}", running=t["running"]),
              markup=False, soft_wrap=True)  # fmt: skip
    warn_all(d["problems"])


# --- incoming mail ---------------------------------------------------------------------------

#: How a letter reached its household, and why one did not (CONTRACT §11), in words.
MAIL_ROUTES = {"barcode": N_("by its code"), "text": N_("by its text"), "assign": N_("by hand")}
MAIL_REASONS = {
    "no_candidate": N_("no household number"),
    "ambiguous": N_("more than one household"),
    "low_confidence": N_("read without enough certainty"),
    "unknown_number": N_("number not known"),
    "other_site": N_("number of another site"),
    "near_match": N_("only a near match"),
}


def mail_ingested(report: Any, to_stderr: bool = False) -> None:
    """``esak mail ingest``: the delivery's letters, each filed or a Klärfall."""
    con = _console(to_stderr)
    d = report.to_dict()
    status = _("OK") if d["ok"] else _("PROBLEMS")
    style = "bold green" if d["ok"] else "bold yellow"
    heading = _("mail {delivery} for {site}: {status}").format(
        delivery=escape(d["delivery"]), site=f"[bold]{d['site']}[/]", status=f"[{style}]{status}[/]"
    )
    con.print(heading, soft_wrap=True)
    counts = _("letters: {letters}, filed: {routed}, Klärfälle: {cases}")
    con.print(counts.format(letters=d["letters"], routed=d["routed"], cases=d["cases"]))
    con.print(_pages_line(d["pages"]))
    for item in d["items"]:
        pages = f"{item['first_page']}–{item['last_page']}"
        where = _("{file} p. {pages}").format(file=item["file"], pages=pages)
        if item["household"]:
            how = _(MAIL_ROUTES.get(item["route"], item["route"]))
            day = local_date(item["received_at"])
            line = _("{where}: {household} {how}, received {day}")
            line = line.format(where=where, household=item["household"], how=how, day=day)
            con.print(escape(line), soft_wrap=True)
        else:
            reason = _(MAIL_REASONS.get(item["reason"] or "", item["reason"] or ""))
            line = _("{where}: Klärfall {case} ({reason})")
            line = line.format(where=where, case=item["case"], reason=reason)
            con.print("[yellow]" + escape(line) + "[/]", soft_wrap=True)
    aside = "[yellow]" + _("set aside") + "[/]"
    for f in d["quarantined_files"]:
        con.print(f"{aside} {escape(f['file'])}: {escape(tr(f['reason']))}", soft_wrap=True)
    for p in d["delivery_problems"]:
        problem = f"[yellow]{_('delivery')}[/] {escape(p['file'])}: {escape(tr(p['problem']))}"
        con.print(problem, soft_wrap=True)
    if d["cases"]:
        todo = _("resolve them: esak clarify list --site {site}").format(site=d["site"])
        con.print(escape(todo), soft_wrap=True)
    for note in d["notes"]:
        con.print(escape(tr(note)), soft_wrap=True)


def mail_statistics(stats: Any, to_stderr: bool = False) -> None:
    """``esak mail stats``: letters, the share filed by esak, Klärfälle by reason."""
    con = _console(to_stderr)
    d = stats.to_dict()
    since = _(" since {day}").format(day=local_date(d["since"])) if d["since"] else ""
    con.print(_("incoming mail of {site}{since}").format(site=f"[bold]{d['site']}[/]", since=since))
    share = "–" if d["auto_routed_share"] is None else f"{d['auto_routed_share'] * 100:.1f} %"
    line = _("letters: {letters}; filed by esak: {auto} ({share}), by hand: {hand}")
    hand = d["routed"]["assign"]
    con.print(line.format(letters=d["letters"], auto=d["auto_routed"], share=share, hand=hand))
    cases, fixed = d["cases"], d["corrections"]
    line = _(
        "Klärfälle: {open} open, {resolved} resolved (by hand: {assigned} filed, {closed} closed)"
    )
    con.print(
        line.format(
            open=cases["open"],
            resolved=cases["resolved"],
            assigned=fixed["assigned"],
            closed=fixed["closed"],
        )
    )
    if cases["by_reason"]:
        table = Table(title=_("Klärfälle by reason"))
        for col in (_("reason"), _("all"), _("open")):
            table.add_column(col)
        for reason, n in cases["by_reason"].items():
            label = escape(_(MAIL_REASONS.get(reason, reason)))
            table.add_row(label, str(n), str(cases["open_by_reason"].get(reason, 0)))
        con.print(table)
    oldest = d["oldest_open"]
    if oldest:
        line = _("oldest open: Klärfall {case}, received {day}, {days} day(s) ago")
        day = local_date(oldest["received_at"])
        text = line.format(case=oldest["case"], day=day, days=oldest["days"])
        con.print("[yellow]" + escape(text) + "[/]", soft_wrap=True)


# --- purge ----------------------------------------------------------------------------------

#: Why a document of an export is not purged, in words.
PURGE_REFUSALS = {
    "not_released": N_("paper originals not released"),
    "changed_since_export": N_("changed since the export"),
    "not_in_index": N_("no longer in the index"),
}


def purged(result: Any, to_stderr: bool = False) -> None:
    con = _console(to_stderr)
    d = result.to_dict()
    if d["recovered"]:
        con.print(_("finished an interrupted purge: {n} file(s) removed").format(
            n=len(d["recovered"])), markup=False)  # fmt: skip
    mb = f"{d['bytes'] / 1e6:.1f}"
    if d["dry_run"]:
        text = _("{site}: {n} document(s) ({pages} pages, {mb} MB) would be deleted; nothing "
                 "was changed (--dry-run)")
    else:
        text = _("{site}: {n} document(s) ({pages} pages, {mb} MB) handed over and deleted, "
                 "purge {purge}")
    con.print(text.format(site=d["site"], n=len(d["documents"]), pages=d["pages"], mb=mb,
                          purge=d["purge"]), markup=False, soft_wrap=True)  # fmt: skip
    if d["already_purged"]:
        con.print(_("{n} document(s) of this export were deleted before").format(
            n=d["already_purged"]), markup=False)  # fmt: skip
    if d["backups_holding_content"]:
        places = ", ".join(d["backups_holding_content"])
        con.print(_("backups made before this purge still hold what it deleted: {places} "
                    "(make a new backup, then delete those)").format(places=places),
                  markup=False, soft_wrap=True)  # fmt: skip
    if d["refused"]:
        con.print("[bold yellow]" + escape(_("{n} document(s) not deleted:").format(
            n=len(d["refused"]))) + "[/]")  # fmt: skip
        for r in d["refused"][:_LIST_LIMIT]:
            con.print(escape(f"  {r['household']} {r['path'] or ''}: "
                             f"{_(PURGE_REFUSALS.get(r['reason'], r['reason']))}"),
                      soft_wrap=True)  # fmt: skip
        if len(d["refused"]) > _LIST_LIMIT:
            con.print(escape(_("… and {n} more").format(n=len(d["refused"]) - _LIST_LIMIT)))


def purges_listed(listed: list[dict[str, Any]]) -> None:
    if not listed:
        out.print(_("no purge yet"))
        return
    table = Table(title=_("purges"))
    for col in (_("purge"), _("site"), _("deleted on"), _("by"), _("reason"), _("documents"),
                _("pages")):  # fmt: skip
        table.add_column(col)
    for p in listed:
        table.add_row(str(p["id"]), escape(p["site"]), local_time(p["finished_at"]),
                      escape(p["by_name"]), escape(p["reason"]), str(p["documents"]),
                      str(p["pages"]))  # fmt: skip
    out.print(table)


def record_written(output: Any) -> None:
    err.print(_("{path}: deletion record written").format(path=output), markup=False)

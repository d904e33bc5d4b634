"""The ``esak`` command line: parse options, call one library function, render its result.

Library code raises :class:`esak.errors.EsakError`; only here do errors become exit codes.
With ``--json`` a command prints exactly one JSON object on standard output (also on
failure, click's own usage errors included: ``{"error": ..., "remedy": ..., "exit_code": ...}``)
and human text on standard error.
"""

from __future__ import annotations

import functools
import itertools
import json
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from esak import __version__
from esak.errors import EsakError, ExitCode, UsageError
from esak.i18n import LANGUAGES, set_language
from esak.report import terminal as render
from esak.workspace import Workspace, private_umask

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class App:
    workspace_option: str | None
    #: whether ``workspace_option`` was typed before the command (not taken from ESAK_WORKSPACE)
    workspace_on_command_line: bool = False

    @property
    def workspace(self) -> Workspace:
        return Workspace.resolve(self.workspace_option)

    def workspace_after_command(self, value: str) -> None:
        """``--workspace`` given after the command: it counts as if given before it."""
        if self.workspace_on_command_line:
            before, after = Workspace.resolve(self.workspace_option), Workspace.resolve(value)
            if before != after:
                raise UsageError(
                    f"--workspace names two folders: {before.root} (before the command) and "
                    f"{after.root} (after it)",
                    "give --workspace once, before or after the command",
                )
        # On the command line it beats ESAK_WORKSPACE, wherever it stands.
        self.workspace_option = value
        self.workspace_on_command_line = True


def _emit_json(payload: dict[str, Any]) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False, indent=2))


def _conclude(result: Any, as_json: bool, human: Callable[[Any, bool], None]) -> NoReturn:
    """The end of a command: its JSON if asked for, the human summary (on standard error
    beside JSON), and the exit code the result carries."""
    if as_json:
        _emit_json(result.to_dict())
    human(result, as_json)
    sys.exit(int(result.exit_code))


def _fail(code: int, message: str, remedy: str | None, as_json: bool) -> NoReturn:
    """The one way esak reports a failure: JSON on stdout (with --json), text on stderr."""
    if as_json:
        _emit_json({"error": message, "remedy": remedy, "exit_code": int(code)})
    render.error(message, remedy)
    sys.exit(int(code))


def _wants_json(args: list[str]) -> bool:
    """Whether the command line asks for JSON (``--json`` or ``--format json``), judged on the
    raw words: a usage error happens before click has given any option its value."""
    words = args[: args.index("--")] if "--" in args else args
    return (
        "--json" in words
        or "--format=json" in words
        or any(pair == ("--format", "json") for pair in itertools.pairwise(words))
    )


class EsakGroup(click.Group):
    """The top-level group: click's own usage errors (a bad choice or date, a missing or
    unknown option) are reported like every other error, so that ``--json`` always gets JSON.

    Without --json they keep click's form (usage line and help hint), which suits people.
    """

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        as_json = _wants_json(list(args))
        try:
            ctx = super().make_context(info_name, args, parent, **extra)
        except click.ClickException as exc:
            self._usage_failed(exc, as_json)
            raise
        ctx.meta["esak.json"] = as_json
        return ctx

    def invoke(self, ctx: click.Context) -> Any:
        as_json = bool(ctx.meta.get("esak.json"))
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            self._usage_failed(exc, as_json)
            raise
        except EsakError as exc:  # raised while parsing (an option's callback)
            _fail(exc.exit_code, exc.message, exc.remedy, as_json)

    @staticmethod
    def _usage_failed(exc: click.ClickException, as_json: bool) -> None:
        if not as_json:
            return  # click shows it
        command = getattr(exc, "ctx", None)
        path = command.command_path if command is not None else "esak"
        _fail(exc.exit_code, exc.format_message(), f"see {path} --help", as_json)


def handle_errors(func: F) -> F:
    """Turn library errors into a message, a remedy and the documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json")) or kwargs.get("fmt") == "json"
        try:
            return func(*args, **kwargs)
        except EsakError as exc:
            code, message, remedy = exc.exit_code, exc.message, exc.remedy
        except KeyboardInterrupt:
            code, message = ExitCode.STOPPED, "interrupted"
            remedy = "run the same command again to go on"
        except (click.exceptions.Exit, click.ClickException):
            raise
        except Exception as exc:  # a bug: say so plainly, keep the traceback for the report
            code = ExitCode.INTERNAL
            message = f"unexpected error: {type(exc).__name__}: {exc}"
            remedy = "this is a bug in esak; please report it with the command you ran"
            if os.environ.get("ESAK_DEBUG"):
                traceback.print_exc()
            else:
                remedy += " (set ESAK_DEBUG=1 to see the traceback)"
        _fail(code, message, remedy, as_json)

    return wrapper  # type: ignore[return-value]


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object on standard output."
)


def _workspace_after_command(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None:
        ctx.find_object(App).workspace_after_command(value)  # type: ignore[union-attr]


#: ``--workspace`` after the command (CONTRACT §7: before or after it, the same).
workspace_option = click.option(
    "--workspace",
    metavar="DIR",
    expose_value=False,
    callback=_workspace_after_command,
    help="Folder with the index database and the archive (also accepted before the command) "
    "[default: ./esak-workspace; env ESAK_WORKSPACE].",
)


def site_option(required: bool = True) -> Callable[[F], F]:
    return click.option(
        "--site",
        required=required,
        metavar="SITE",
        help="Site key, e.g. borken (see `esak profiles list`).",
    )


@click.group("esak", cls=EsakGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--workspace",
    metavar="DIR",
    envvar="ESAK_WORKSPACE",
    help="Folder with the index database and the archive [default: ./esak-workspace; "
    "env ESAK_WORKSPACE].",
)
@click.option(
    "--lang",
    type=click.Choice(LANGUAGES),
    default=None,
    help="Language of reports and summaries [default: the site profile's, else de; "
    "env ESAK_LANG]. JSON keys and exit codes are the same in every language.",
)
@click.version_option(__version__, prog_name="esak")
@click.pass_context
def cli(ctx: click.Context, workspace: str | None, lang: str | None) -> None:
    """esak: paper case files into digital files (E-Sozialakte).

    Reads scan deliveries, recognises cover sheets and separators, and proves per site
    that every page is accounted for. Start with `esak demo`.
    """
    private_umask()
    try:
        set_language(lang)
    except EsakError as exc:  # ESAK_LANG names a language esak does not speak
        raise click.UsageError(f"{exc.message} ({exc.remedy})") from exc
    source = ctx.get_parameter_source("workspace")
    ctx.obj = App(workspace, source == click.core.ParameterSource.COMMANDLINE)


# --- profiles -------------------------------------------------------------------------------


@cli.group()
def profiles() -> None:
    """Site profiles (profiles/<site>.toml): household pattern, go-live, scan settings."""


@profiles.command("list")
@json_option
@handle_errors
def profiles_list(as_json: bool) -> None:
    """List every site with its planned go-live.

    Example: esak profiles list --json
    """
    from esak.profiles import load_all

    sites = load_all()
    if as_json:
        _emit_json({"sites": [p.to_dict() for p in sites]})
    else:
        render.profiles_table(sites)


@profiles.command("show")
@click.argument("site")
@json_option
@handle_errors
def profiles_show(site: str, as_json: bool) -> None:
    """Show one site's profile.

    Example: esak profiles show borken
    """
    from esak.profiles import load_profile

    profile = load_profile(site)
    if as_json:
        _emit_json(profile.to_dict())
    else:
        render.profile_detail(profile)


# --- inspect --------------------------------------------------------------------------------


@cli.command()
@click.argument("file", type=click.Path(path_type=Path))
@site_option(required=False)
@json_option
@handle_errors
def inspect(file: Path, site: str | None, as_json: bool) -> None:
    """Show every page of a scan with its barcodes and kind.

    FILE is a PDF, a (multi-page) TIFF, an image, or a folder of page images. Kinds: cover
    (cover sheet), separator, blank, content. Without --site, household numbers are
    checked against the default pattern.

    Example: esak inspect box01/batch_001.pdf --site borken
    """
    from esak.migrate.inspect import inspect_path
    from esak.profiles import default_profile, load_profile

    rules = load_profile(site) if site else default_profile()
    with render.page_progress(f"inspecting {file.name}") as advance:
        report = inspect_path(file, rules, on_page=advance)
    if as_json:
        _emit_json(report.to_dict())
    else:
        render.inspect_table(report)
    if report.problems:
        render.warn_all(report.problems)
    sys.exit(int(report.exit_code))


# --- expected lists -------------------------------------------------------------------------


@cli.group()
def expected() -> None:
    """Expected lists (Soll-Listen): the households a site must deliver."""


force_option = click.option(
    "--force",
    is_flag=True,
    help="Do it although the list looks wrong for the site or households with archived "
    "documents would be removed (each is reported).",
)


@expected.command("import")
@site_option()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--replace",
    is_flag=True,
    help="Remove households of the site that are not in this list (default: only add/update).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Show what the import would add, update and remove; change nothing.",
)
@force_option
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def expected_import(
    app: App, site: str, file: Path, replace: bool, dry_run: bool, force: bool, as_json: bool
) -> None:
    """Import a site's expected list (CSV with a household or BG-Nummer column).

    UTF-8 (with or without BOM) or Windows-1252; ';' or ','. Bad rows are reported by line
    number; the others are imported. Importing the same list again changes nothing; a
    column the list lacks (name, status, volumes) leaves that field as it was. Refused
    without --force: a list whose numbers mostly do not fit the site or are expected at
    another site, and a --replace that would remove households with archived documents.

    Example: esak expected import --site borken soll_borken.csv --replace --dry-run
    """
    from esak.index.db import Index
    from esak.index.expected import import_expected
    from esak.profiles import load_profile

    profile = load_profile(site)
    if dry_run:
        index = Index.open_readonly(app.workspace.existing().index_path)
    else:
        workspace = app.workspace.ensure()
        index = Index.open(workspace.index_path, workspace.access)
    with index:
        result = import_expected(
            index, profile.key, file, profile.is_household, replace=replace, force=force,
            dry_run=dry_run,
        )  # fmt: skip
    if as_json:
        _emit_json(result.to_dict())
    if dry_run:
        render.expected_dry_run(result, to_stderr=as_json)
    else:
        render.expected_import_summary(result, to_stderr=as_json)
    render.notes([f"--force: {what}" for what in result.forced])
    sys.exit(int(result.exit_code))


@expected.command("list")
@site_option()
@json_option
@click.pass_obj
@handle_errors
def expected_list(app: App, site: str, as_json: bool) -> None:
    """List a site's expected households: volumes, status, archived documents, source line.

    Names are never shown.

    Example: esak expected list --site borken --json
    """
    from esak.index.db import Index
    from esak.index.expected import list_expected
    from esak.profiles import load_profile

    profile = load_profile(site)
    with Index.open_readonly(app.workspace.existing().index_path) as index:
        result = list_expected(index, profile.key)
    if as_json:
        _emit_json(result)
    else:
        render.expected_table(result)


@expected.command("remove")
@site_option()
@click.argument("households", nargs=-1, required=True, metavar="HOUSEHOLD...")
@force_option
@json_option
@click.pass_obj
@handle_errors
def expected_remove(
    app: App, site: str, households: tuple[str, ...], force: bool, as_json: bool
) -> None:
    """Take households off a site's expected list.

    Refused without --force for a household that already has archived documents (they
    stay archived either way). Exit 1 when a named household was not on the list.

    Example: esak expected remove --site borken 95401BG0000101
    """
    from esak.index.db import Index
    from esak.index.expected import remove_expected
    from esak.profiles import load_profile

    profile = load_profile(site)
    app.workspace.existing().check_writable()
    with Index.open_existing(app.workspace.index_path, app.workspace.access) as index:
        result = remove_expected(
            index, profile.key, list(households), profile.is_household, force=force
        )
    _conclude(result, as_json, render.expected_removal_summary)


# --- workspace ------------------------------------------------------------------------------


@cli.group("workspace")
def workspace_group() -> None:
    """The workspace itself: who may read it."""


@workspace_group.command("share")
@click.option("--group", metavar="GROUP", default=None, help="The group that may read.")
@click.option("--private", is_flag=True, help="Owner-only again (the default).")
@json_option
@click.pass_obj
@handle_errors
def workspace_share(app: App, group: str | None, private: bool, as_json: bool) -> None:
    """Let a group read the workspace (verify, show, rollout, coversheets, blanks), or not.

    With --group, the index and the archive become 0640 and their folders 2750 with that
    group, now and for everything written later; only the owner writes. --private makes
    everything owner-only again. Run it as the workspace's owner.

    Example: esak workspace share --group esak-lesen
    """
    from esak.errors import UsageError

    if bool(group) == private:
        raise UsageError("name the group with --group GROUP, or use --private")
    result = app.workspace.share(None if private else group)
    if as_json:
        _emit_json(result.to_dict())
    render.share_summary(result, to_stderr=as_json)


# --- ingest and show ------------------------------------------------------------------------


@cli.command()
@site_option()
@click.argument("delivery", type=click.Path(path_type=Path))
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Worker processes for classification and OCR [default: one per core]; with "
    "--scheduler at most this many tasks at a time [default: one per worker of the cluster].",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="Run the work on a Dask cluster (tcp://host:8786) instead of local processes.",
)
@click.option(
    "--cluster",
    type=click.Choice(["local"]),
    default=None,
    help="Run the work on a Dask LocalCluster started for this run (--workers of them).",
)
@click.option(
    "--shared-path",
    is_flag=True,
    help="With Dask: every worker sees the delivery and the workspace at the same path and "
    "reads and writes there [default: input files and finished PDFs go over the network].",
)
@click.option(
    "--dashboard",
    metavar="ADDRESS",
    default=None,
    help="With --cluster local: show Dask's dashboard there (e.g. :8787; needs bokeh).",
)
@click.option(
    "--until",
    metavar="[DATE] HH:MM",
    default=None,
    help="Stop taking new work at this local time; exit 7, the next run goes on. A bare "
    "HH:MM is its next occurrence if less than 20 hours ahead (06:00 said at 22:00 is "
    "tomorrow); else give the date: '2026-12-02 06:00' or '02.12.2026 06:00'.",
)
@click.option(
    "--max-minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Stop taking new work after this many minutes; exit 7, the next run goes on.",
)
@click.option(
    "--scanned-on",
    type=click.DateTime(formats=["%Y-%m-%d", "%d.%m.%Y"]),
    default=None,
    metavar="YYYY-MM-DD",
    help="The day the scanning service scanned this delivery's paper: the eight weeks until "
    "the originals are destroyed run from it (a manifest's scanned_at column takes precedence "
    "per file). Given again on a later run, it replaces the day recorded.",
)
@click.option(
    "--quiet", "-q", is_flag=True, help="No progress output: only the summary and errors."
)
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="One line per finished file on standard error, also on a terminal (as without one).",
)
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def ingest(
    app: App,
    site: str,
    delivery: Path,
    workers: int | None,
    scheduler: str | None,
    cluster: str | None,
    shared_path: bool,
    dashboard: str | None,
    until: str | None,
    max_minutes: float | None,
    scanned_on: datetime | None,
    quiet: bool,
    verbose: bool,
    as_json: bool,
) -> None:
    """Ingest a scan delivery: OCR into PDF/A, one e-file per household, every page recorded.

    The delivery folder is never modified. Running the same command again changes nothing;
    a run that was interrupted (deadline, SIGTERM, Ctrl-C, kill, power cut) is finished by
    running it again.

    Example: esak ingest --site borken /mnt/scans/lieferung-2021-02-15 --until 06:00
    """
    from esak.migrate.dask_pool import dask_cluster
    from esak.migrate.ingest import ingest_delivery
    from esak.migrate.scheduler import deadline_from, deadline_text
    from esak.profiles import load_profile

    deadline = deadline_from(until, max_minutes)
    if deadline is not None:
        render.err.print(
            f"deadline: no new work after {deadline_text(deadline)}", markup=False, soft_wrap=True
        )
    profile = load_profile(site)
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose exclude each other")
    engine = dask_cluster(scheduler, cluster, shared_path, dashboard)
    with render.ingest_progress(-1 if quiet else int(verbose)) as on_progress:
        report = ingest_delivery(
            app.workspace, profile, delivery, workers=workers, scheduler=engine,
            on_progress=on_progress, deadline=deadline,
            scanned_on=scanned_on.date() if scanned_on else None,
        )  # fmt: skip
    _conclude(report, as_json, render.ingest_summary)


@cli.command()
@click.argument("household")
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def show(app: App, household: str, as_json: bool) -> None:
    """List one household's archived documents, with the delivery pages (from 1) each holds.

    Exit 1 when the household is on an expected list but nothing of it is archived yet; 3
    when esak does not know the number at all.

    Example: esak show 95401BG0000101
    """
    from esak.index.db import Index
    from esak.index.records import household_documents

    with Index.open_readonly(app.workspace.existing().index_path) as index:
        result = household_documents(index, household, app.workspace.archive_dir)
    if as_json:
        _emit_json(result)
    else:
        render.household_table(result)


# --- the Dask cluster ---------------------------------------------------------------------


@cli.group("cluster")
def cluster_group() -> None:
    """The Dask cluster ingest can run on (ingest --scheduler)."""


@cluster_group.command("status")
@click.option(
    "--scheduler", metavar="ADDRESS", required=True, help="The scheduler, e.g. tcp://host:8786."
)
@json_option
@handle_errors
def cluster_status(scheduler: str, as_json: bool) -> None:
    """Show the cluster's workers: host, cores, memory, what each runs now.

    Exit 1 when ingest could not run there as it should (no workers, a scheduler that runs
    a task again after its worker died, workers without a nanny).

    Example: esak cluster status --scheduler tcp://esak-sched:8786 --json
    """
    from esak.migrate.dask_pool import cluster_status as status_of

    _conclude(status_of(scheduler), as_json, render.cluster_status_table)


# --- verify, rollout, cover sheets ---------------------------------------------------------

format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv", "html"]),
    default="table",
    show_default=True,
    help="table on the terminal; json for scripts; csv for spreadsheets (';', UTF-8 with BOM); "
    "html: one self-contained page to read or print.",
)


def file_option(metavar: str, help: str, required: bool = False) -> Callable[[F], F]:
    """``--output/-o FILE``: a file esak writes, owner-only."""
    return click.option(
        "--output",
        "-o",
        metavar=metavar,
        type=click.Path(path_type=Path, dir_okay=False),
        default=None,
        required=required,
        help=help,
    )


output_option = file_option(
    "FILE", "Write the json, csv or html report to FILE (owner-only) instead of standard output."
)


def _deliver(
    fmt: str,
    output: Path | None,
    payload: Callable[[], dict[str, Any]],
    as_csv: Callable[[], str],
    as_html: Callable[[], str],
    human: Callable[[bool], None],
) -> None:
    """Print or write a report in the chosen format; the human summary goes where it fits."""
    from esak.report import write_report

    if fmt == "table":
        if output is not None:
            raise click.UsageError("--output needs --format json, csv or html")
        human(False)
        return
    if fmt == "json":
        text = json.dumps(payload(), ensure_ascii=False, indent=2) + "\n"
    else:
        text = as_csv() if fmt == "csv" else as_html()
    if output is None:
        click.echo(text, nl=False)
        human(True)
    else:
        write_report(output, text, bom=fmt == "csv")
        human(True)
        render.err.print(f"{fmt} report written to {output}", markup=False, soft_wrap=True)


@cli.command()
@site_option(required=False)
@click.option(
    "--all", "all_sites", is_flag=True, help="Every site with an expected list or ingested files."
)
@click.option(
    "--level",
    type=click.Choice(["fast", "complete", "valid"]),
    default="complete",
    show_default=True,
    help="Archive fixity: fast = presence and sizes; complete = and no untracked files; "
    "valid = and re-hash every file, check PDF/A and text layer.",
)
@format_option
@output_option
@click.option(
    "--history", is_flag=True, help="List past verifications (of --site, or all) instead."
)
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def verify(
    app: App,
    site: str | None,
    all_sites: bool,
    level: str,
    fmt: str,
    output: Path | None,
    history: bool,
    as_json: bool,
) -> None:
    """Prove a site complete and its archive intact; the check admins sign off. Recorded.

    Exit 0 only when every expected household is archived, every page is accounted for and
    the archive is unchanged; 1 when the site is not complete; 10 when archived files were
    changed, removed or added.

    Example: esak verify --site borken --format html -o borken.html
    """
    from esak import verify as lib

    if as_json:
        fmt = "json"
    if history:
        rows = lib.history(app.workspace, site)
        if fmt == "json":
            _emit_json({"site": site, "verifications": rows})
        else:
            render.verify_history_table(rows)
        return
    from esak.report.csvfile import site_reports_csv
    from esak.report.html import site_report_html

    result = lib.verify(app.workspace, site, all_sites=all_sites, level=lib.Level(level))
    if fmt == "html" and len(result.reports) > 1:
        raise click.UsageError("--format html makes one page per site: use --site SITE")
    _deliver(
        fmt,
        output,
        result.to_dict,
        lambda: site_reports_csv(result.reports),
        lambda: site_report_html(result.reports[0]),
        lambda to_stderr: render.verify_reports(result.reports, to_stderr=to_stderr),
    )
    render.notes(result.notes)
    sys.exit(int(result.exit_code))


@cli.group()
def rollout() -> None:
    """The district's rollout: every site's state, and what blocks the next one."""


as_of_option = click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(formats=["%Y-%m-%d", "%d.%m.%Y"]),
    default=None,
    help="Judge go-live dates as of this day (2021-06-30 or 30.06.2021) [default: today].",
)


@rollout.command("status")
@format_option
@output_option
@as_of_option
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def rollout_status(app: App, fmt: str, output: Path | None, as_of: Any, as_json: bool) -> None:
    """Every site: go-live, households expected/archived/missing, pages, last verification.

    State: unplanned, planned, importing, verified or live. Exit 0 when every site whose
    go-live date has come is verified; 1 when one is overdue.

    Example: esak rollout status --format html -o rollout.html
    """
    from esak.report.csvfile import rollout_csv
    from esak.report.html import rollout_html
    from esak.verify import district_rollout

    if as_json:
        fmt = "json"
    status = district_rollout(app.workspace, as_of.date() if as_of else None)
    _deliver(
        fmt,
        output,
        status.to_dict,
        lambda: rollout_csv(status),
        lambda: rollout_html(status),
        lambda to_stderr: render.rollout_table(status, to_stderr=to_stderr),
    )
    sys.exit(int(status.exit_code))


@rollout.command("plan")
@as_of_option
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def rollout_plan(app: App, as_of: Any, as_json: bool) -> None:
    """The rollout order, the next site, and what blocks it (with what to do).

    Exit 0 when nothing blocks the next site (or every site is live); 1 when something does.

    Example: esak rollout plan --json
    """
    from esak.verify import district_rollout

    status = district_rollout(app.workspace, as_of.date() if as_of else None)
    nxt = status.next_site
    if as_json:
        _emit_json(
            {
                "today": status.today.isoformat(),
                "order": [s.key for s in status.sites],
                "next": nxt.to_dict() if nxt else None,
                "blocked": bool(nxt and nxt.blockers),
            }
        )
    render.rollout_plan(status, to_stderr=as_json)
    sys.exit(int(status.plan_exit_code))


# --- Klärfälle --------------------------------------------------------------------------------

by_option = click.option(
    "--by", "by", metavar="NAME", required=True, help="Who resolves it (recorded with the case)."
)
reason_option = click.option(
    "--reason", metavar="TEXT", required=True, help="Why (recorded with the case)."
)


@cli.group()
def clarify() -> None:
    """Klärfälle: every finding that blocks a site's sign-off, and how each was resolved."""


@clarify.command("list")
@site_option(required=False)
@click.option(
    "--status",
    type=click.Choice(["open", "resolved", "all"]),
    default="open",
    show_default=True,
    help="Which cases to list.",
)
@format_option
@output_option
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def clarify_list(
    app: App, site: str | None, status: str, fmt: str, output: Path | None, as_json: bool
) -> None:
    """The cases, oldest first, with their age in days and the command that resolves each.

    Example: esak clarify list --site borken --format csv -o klaerfaelle.csv
    """
    from esak.migrate.clarify import case_list
    from esak.report.csvfile import cases_csv
    from esak.report.html import cases_html

    if as_json:
        fmt = "json"
    cases = case_list(app.workspace, site, status)
    _deliver(
        fmt,
        output,
        lambda: {"cases": cases},
        lambda: cases_csv(cases),
        lambda: cases_html(cases, site),
        lambda to_stderr: render.cases_table(cases, to_stderr=to_stderr),
    )


def _clarified(result: Any, as_json: bool) -> None:
    if as_json:
        _emit_json(result.to_dict())
    render.clarified(result)


@clarify.command("assign")
@click.argument("case", type=int)
@click.option("--household", metavar="NUMBER", required=True, help="The household's number.")
@click.option("--volume", type=int, default=1, show_default=True, help="The file's volume.")
@click.option("--type", "doc_type", metavar="TYPE", default=None, help="The document's type.")
@by_option
@reason_option
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def clarify_assign(
    app: App,
    case: int,
    household: str,
    volume: int,
    doc_type: str | None,
    by: str,
    reason: str,
    as_json: bool,
) -> None:
    """Pages set aside become a document of HOUSEHOLD (OCR'd into PDF/A, archived).

    Example: esak clarify assign 12 --household 95401BG0000101 --by "A. Admin"
    --reason "Deckblatt fehlte, Akte anhand des Schreibens zugeordnet"
    """
    from esak.migrate.clarify import assign_case

    result = assign_case(app.workspace, case, household, volume=volume, doc_type=doc_type,
                         by=by, reason=reason)  # fmt: skip
    _clarified(result, as_json)


@clarify.command("close")
@click.argument("case", type=int)
@by_option
@reason_option
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def clarify_close(app: App, case: int, by: str, reason: str, as_json: bool) -> None:
    """Resolve a case without a new document: pages or a file set aside are discarded, a
    missing household waived, an unexpected one accepted, a difference acknowledged.

    Example: esak clarify close 14 --by "A. Admin" --reason "keine Papierakte vorhanden"
    """
    from esak.migrate.clarify import close_case

    _clarified(close_case(app.workspace, case, by=by, reason=reason), as_json)


@clarify.command("reopen")
@click.argument("case", type=int)
@by_option
@reason_option
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def clarify_reopen(app: App, case: int, by: str, reason: str, as_json: bool) -> None:
    """Open a resolved case again.

    Example: esak clarify reopen 14 --by "B. Leitung" --reason "Akte doch gefunden"
    """
    from esak.migrate.clarify import reopen_case

    _clarified(reopen_case(app.workspace, case, by=by, reason=reason), as_json)


# --- QA sample ------------------------------------------------------------------------------


@cli.group()
def qa() -> None:
    """The QA sample (Stichprobe) with four eyes: draw archived pages, check them, record."""


sample_option = click.option(
    "--sample", "sample", type=int, metavar="ID", required=True, help="The sample's id."
)


@qa.command("draw")
@site_option()
@click.option(
    "--delivery",
    type=int,
    metavar="ID",
    default=None,
    help="Only this delivery [default: every delivery of the site not sampled yet].",
)
@click.option(
    "--rate",
    type=float,
    metavar="R",
    default=None,
    help="Share of the documents drawn at random, e.g. 0.05 [default: the site "
    "profile's protection: normal 0.03, high 0.10, very-high every page].",
)
@click.option(
    "--seed",
    type=int,
    metavar="N",
    default=None,
    help="Seed of the draw: the same seed on the same index draws the same sample "
    "[default: a random one, printed and stored].",
)
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def qa_draw(
    app: App,
    site: str,
    delivery: int | None,
    rate: float | None,
    seed: int | None,
    as_json: bool,
) -> None:
    """Draw a QA sample: random pages (at least one per input file) and every flagged page.

    Example: esak qa draw --site borken --delivery 3 --json
    """
    from esak.verify.qa import draw

    sample = draw(app.workspace, site, delivery=delivery, rate=rate, seed=seed)
    if as_json:
        _emit_json(sample.to_dict())
    render.qa_drawn(sample, to_stderr=as_json)


@qa.command("sheet")
@sample_option
@file_option(
    "FILE.pdf|FILE.html", "The worksheet to write: PDF (one A4 page per item) or HTML, owner-only.",
    required=True,
)
@workspace_option
@click.pass_obj
@handle_errors
def qa_sheet(app: App, sample: int, output: Path) -> None:
    """A worksheet of the sample: each page's image beside its household, document and page,
    with the checks to tick.

    Example: esak qa sheet --sample 4 -o stichprobe-4.pdf
    """
    from esak.verify.qa_sheet import write_sheet

    if output.suffix.lower() not in (".pdf", ".html", ".htm"):
        raise UsageError(
            f"{output} is neither .pdf nor .html",
            "esak qa sheet writes PDF or HTML: -o FILE.pdf or -o FILE.html",
        )
    drawn = write_sheet(app.workspace, sample, output)
    render.qa_sheet_written(drawn, output)


@qa.command("record")
@sample_option
@click.option("--item", type=int, metavar="ITEM", default=None, help="The item checked.")
@click.option(
    "--result", type=click.Choice(["ok", "defect"]), default=None, help="What the check found."
)
@click.option("--note", metavar="TEXT", default=None, help="What is wrong (for a defect).")
@click.option(
    "--from",
    "from_file",
    metavar="RESULTS.csv",
    default=None,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Results to record, columns item;result;note (all or nothing).",
)
@click.option(
    "--reviewer",
    metavar="NAME",
    required=True,
    help="Who checked the pages: not the person who ran the ingest.",
)
@click.option(
    "--allow-same-person",
    is_flag=True,
    help="Let the person who ran the ingest check (refused at very-high protection).",
)
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def qa_record(
    app: App,
    sample: int,
    item: int | None,
    result: str | None,
    note: str | None,
    from_file: Path | None,
    reviewer: str,
    allow_same_person: bool,
    as_json: bool,
) -> None:
    """Record the results of a sample's check; a defect opens a Klärfall and widens the check.

    Example: esak qa record --sample 4 --from ergebnisse.csv --reviewer "B. Prüfer"
    """
    from esak.verify.qa import read_results, record

    if from_file is not None:
        if item is not None or result is not None or note is not None:
            raise UsageError("give either --from or --item with --result", "esak qa record --help")
        results = read_results(from_file)
    elif item is None or result is None:
        raise UsageError(
            "say what was checked: --item ITEM --result ok|defect, or --from RESULTS.csv",
            "esak qa record --help",
        )
    else:
        results = [(item, result, (note or "").strip() or None)]
    done = record(
        app.workspace, sample, results, reviewer=reviewer, allow_same_person=allow_same_person
    )
    if as_json:
        _emit_json(done.to_dict())
    render.qa_recorded(done)


@qa.command("status")
@site_option()
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def qa_status(app: App, site: str, as_json: bool) -> None:
    """The site's QA samples: drawn, checked, defects, and open, passed or failed.

    Example: esak qa status --site borken --json
    """
    from esak.verify.qa import status

    samples = status(app.workspace, site)
    if as_json:
        _emit_json({"samples": samples})
    render.qa_status_table(samples, to_stderr=as_json)


# --- release of the paper originals ---------------------------------------------------------


@cli.group()
def release() -> None:
    """May the paper originals go? The eight-week clock, the blockers, release or hold."""


delivery_id_option = click.option(
    "--delivery", "delivery", type=int, required=True, metavar="ID",
    help="The delivery (its number in esak release check).",
)  # fmt: skip


@release.command("check")
@site_option()
@as_of_option
@format_option
@output_option
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def release_check(
    app: App, site: str, as_of: Any, fmt: str, output: Path | None, as_json: bool
) -> None:
    """Every delivery of the site: scan date, destruction date, days left, releasable or not,
    and each blocker with the command that removes it.

    Exit 0 when every delivery is releasable or decided; 1 when one is blocked; 10 when an
    archived file is missing or changed.

    Example: esak release check --site borken --format html -o freigabe.html
    """
    from esak.report.csvfile import release_check_csv
    from esak.report.html import release_check_html
    from esak.verify.release import release_check as check

    if as_json:
        fmt = "json"
    result = check(app.workspace, site, as_of.date() if as_of else None)
    _deliver(
        fmt,
        output,
        result.to_dict,
        lambda: release_check_csv(result),
        lambda: release_check_html(result),
        lambda to_stderr: render.release_check_table(result, to_stderr=to_stderr),
    )
    sys.exit(int(result.exit_code))


@release.command("approve")
@site_option()
@delivery_id_option
@click.option("--by", "by", metavar="NAME", required=True,
              help="Who releases (not who ran the ingest or checked the QA sample).")  # fmt: skip
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def release_approve(app: App, site: str, delivery: int, by: str, as_json: bool) -> None:
    """Release the delivery's paper originals for destruction: only when nothing blocks it,
    and only by a third person. Recorded in the audit log; cannot be undone in esak.

    Example: esak release approve --site borken --delivery 3 --by "C. Leitung"
    """
    from esak.verify.release import approve

    _conclude(approve(app.workspace, site, delivery, by=by), as_json, render.release_decided)


@release.command("hold")
@site_option()
@delivery_id_option
@click.option("--by", "by", metavar="NAME", required=True, help="Who holds the originals.")
@click.option("--reason", metavar="TEXT", required=True, help="Why (sent to the provider).")
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def release_hold(app: App, site: str, delivery: int, by: str, reason: str, as_json: bool) -> None:
    """Stop the clock: the delivery's originals must not be destroyed. A later approve (when
    nothing blocks it) lifts the hold.

    Example: esak release hold --site borken --delivery 3 --by "A. Admin" --reason "Prüfung"
    """
    from esak.verify.release import hold

    result = hold(app.workspace, site, delivery, by=by, reason=reason)
    _conclude(result, as_json, render.release_decided)


@release.command("list")
@site_option()
@file_option(
    "FILE.csv|FILE.pdf", "The Freigabeliste and Sperrliste for the scanning provider.",
    required=True,
)  # fmt: skip
@workspace_option
@click.pass_obj
@handle_errors
def release_list(app: App, site: str, output: Path) -> None:
    """The Freigabeliste and Sperrliste for the scanning provider: every delivered file, as
    the provider named it, released for destruction or held (everything not released is held).

    Example: esak release list --site borken -o freigabeliste.pdf
    """
    from esak.report import write_report
    from esak.report.csvfile import release_list_csv
    from esak.report.pdf import write_pdf
    from esak.verify.release import release_document, release_rows

    suffix = output.suffix.lower()
    if suffix not in (".csv", ".pdf"):
        raise UsageError(f"{output} is neither .csv nor .pdf", "-o FILE.csv or -o FILE.pdf")
    profile, rows = release_rows(app.workspace, site)
    if suffix == ".csv":
        write_report(output, release_list_csv(rows), bom=True)
    else:
        write_pdf(output, release_document(profile, rows))
    render.release_listed(rows, output)


# --- backup and restore ------------------------------------------------------------------------


@cli.group(invoke_without_command=True)
@click.option(
    "--to", "to", type=click.Path(path_type=Path, file_okay=False), default=None, metavar="DIR",
    help="Where the copy goes (a folder of its own, e.g. on the backup server's share).",
)  # fmt: skip
@site_option(required=False)
@json_option
@workspace_option
@click.pass_context
@handle_errors
def backup(ctx: click.Context, to: Path | None, site: str | None, as_json: bool) -> None:
    """A consistent, verified copy: the index (SQLite's online backup), the archive with its
    transfer notes (only what changed since the last backup there) and a signed audit
    checkpoint. Consistent while an ingest runs; recorded. The release waits for it.

    Exit 0 when the copy verified; 10 when it did not.

    Example: esak backup --to /mnt/sicherung/esak --site borken
    """
    if ctx.invoked_subcommand is not None:
        return
    if to is None:
        raise click.UsageError("say where the copy goes: esak backup --to DIR")
    from esak.backup import backup as make

    app: App = ctx.obj
    _conclude(make(app.workspace, to, site=site), as_json, render.backup_made)


@backup.command("verify")
@click.argument("place", type=click.Path(path_type=Path, file_okay=False), metavar="DIR")
@json_option
@handle_errors
def backup_verify(place: Path, as_json: bool) -> None:
    """Check a backup on its own: every file's hash, the copied index, the audit checkpoint.

    Exit 0 when intact; 10 on any difference.

    Example: esak backup verify /mnt/sicherung/esak
    """
    from esak.backup import verify_backup

    _conclude(verify_backup(place), as_json, render.backup_checked)


@cli.command()
@click.argument("place", type=click.Path(path_type=Path, file_okay=False), metavar="DIR")
@click.option(
    "--to", "to", type=click.Path(path_type=Path, file_okay=False), required=True,
    metavar="WORKSPACE", help="The new workspace (a folder that does not exist, or is empty).",
)  # fmt: skip
@json_option
@handle_errors
def restore(place: Path, to: Path, as_json: bool) -> None:
    """A workspace from a backup, after the backup verified; then `verify --level valid` and
    `audit verify --checkpoint` pass on it.

    Example: esak restore /mnt/sicherung/esak --to /srv/esak-wiederhergestellt
    """
    from esak.backup import restore_backup

    _conclude(restore_backup(place, to), as_json, render.restored)


# --- transfer notes ---------------------------------------------------------------------------


@cli.command("transfer-note")
@site_option()
@click.option(
    "--household", metavar="NUMBER", default=None, help="Only this household's documents."
)
@click.option(
    "--by",
    "by",
    metavar="NAME",
    required=True,
    help="The person responsible for the capture (a pseudonym will do; not the organisation).",
)
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def transfer_note(app: App, site: str, household: str | None, by: str, as_json: bool) -> None:
    """Write or update the transfer note (Transfervermerk, TR-RESISCAN) of every archived
    document: <nnnn>.tv.xml beside its PDF, validated against its XSD, recorded in the index.

    Notes are `vorlaeufig` until the batch's QA has passed. Exit 10 when an archived file is
    missing or changed (it gets no note).

    Example: esak transfer-note --site borken --by "A. Admin"
    """
    from esak.verify.transfer import write_notes

    result = write_notes(app.workspace, site, by=by, household=household)
    _conclude(result, as_json, render.transfer_noted)


@cli.command()
@click.option(
    "--delivery",
    "delivery",
    type=int,
    metavar="ID",
    required=True,
    help="The delivery's id (an unknown id lists them).",
)
@click.option("--by", "by", metavar="NAME", required=True, help="Who withdraws it (recorded).")
@click.option("--reason", metavar="TEXT", required=True, help="Why (recorded).")
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def withdraw(app: App, delivery: int, by: str, reason: str, as_json: bool) -> None:
    """Take back a delivery ingested by mistake: its documents leave the archive (the index
    keeps their paths and hashes), its pages and Klärfälle are marked withdrawn. The
    delivery folder is not touched; ingesting it again brings it back.

    Example: esak withdraw --delivery 3 --by "A. Admin" --reason "Lieferung gehört nach Rhede"
    """
    from esak.migrate.withdraw import withdraw_delivery

    result = withdraw_delivery(app.workspace, delivery, by=by, reason=reason)
    _conclude(result, as_json, lambda r, _json: render.withdrawn(r))


# --- blank pages ------------------------------------------------------------------------------

delivery_option = click.option(
    "--delivery",
    type=int,
    metavar="ID",
    default=None,
    help="Only this delivery (its id, as `esak blanks --json` shows it).",
)


@cli.group(invoke_without_command=True)
@site_option(required=False)
@delivery_option
@file_option(
    "FILE.pdf", "The review sheet to write: 20 dropped pages to an A4 sheet, each labelled."
)
@json_option
@workspace_option
@click.pass_context
@handle_errors
def blanks(
    ctx: click.Context, site: str | None, delivery: int | None, output: Path | None, as_json: bool
) -> None:
    """Pages left out as blank: a review sheet to check them by eye, and `keep` for those
    that hold something after all.

    Every page recorded as blank is shown small, rendered from the delivery file, with its
    file and page number. Exit 1 when a delivery file is gone or changed (its tile says so).

    Example: esak blanks --site borken -o leerseiten-borken.pdf
    """
    if ctx.invoked_subcommand is not None:
        return
    from esak.errors import UsageError
    from esak.index.db import Index
    from esak.profiles import load_profile
    from esak.verify.blanks import review_blanks

    if not site:
        raise UsageError("name the site with --site SITE", "esak blanks --help")
    if output is None and not as_json:
        raise UsageError("name the review sheet to write with -o FILE.pdf (or use --json)")
    profile = load_profile(site)
    with Index.open_readonly(ctx.obj.workspace.existing().index_path) as index:
        review = review_blanks(index, profile, delivery=delivery, output=output)
    _conclude(review, as_json, lambda r, _json: render.blank_review_summary(r))


@blanks.command("keep")
@site_option()
@click.option(
    "--file",
    "file",
    required=True,
    metavar="FILE",
    help="The input file as listed (path relative to the delivery, e.g. box01/batch_001.pdf).",
)
@click.option(
    "--page",
    "pages",
    type=click.IntRange(min=1),
    multiple=True,
    required=True,
    metavar="N",
    help="Page to keep, counted from 1 as on the review sheet (repeat for more).",
)
@delivery_option
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def blanks_keep(
    app: App,
    site: str,
    file: str,
    pages: tuple[int, ...],
    delivery: int | None,
    as_json: bool,
) -> None:
    """Put dropped blank pages back into their household's e-file.

    The page joins the archived document around it, which is OCR'd again into PDF/A; the
    old file's hash stays on record (superseded), the run in the audit log.

    Example: esak blanks keep --site borken --file box01/batch_001.pdf --page 7
    """
    from esak.migrate.keep import keep_pages
    from esak.profiles import load_profile

    profile = load_profile(site)
    result = keep_pages(app.workspace, profile, file, list(pages), delivery=delivery)
    if as_json:
        _emit_json(result.to_dict())
    render.keep_summary(result)


@cli.command()
@site_option()
@file_option(
    "FILE.pdf", "The PDF to write: one A4 sheet per expected household and volume.", required=True
)
@click.option(
    "--household",
    "households",
    multiple=True,
    metavar="NUMBER",
    help="Only this household (repeat for more) [default: every expected household].",
)
@click.option(
    "--symbology",
    type=click.Choice(["Code128", "QR", "DataMatrix"], case_sensitive=False),
    default="Code128",
    show_default=True,
    help="Barcode on the sheets.",
)
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def coversheets(
    app: App,
    site: str,
    output: Path,
    households: tuple[str, ...],
    symbology: str,
    as_json: bool,
) -> None:
    """Cover sheets to print for the scanning service, from the site's expected list.

    Each sheet carries the structured barcode ESAK1;site;household;volume;0 and the household
    number in large clear text (read by OCR if the barcode is damaged). No names.

    Example: esak coversheets --site borken -o deckblaetter-borken.pdf
    """
    from esak.index.db import Index
    from esak.migrate.coversheets import write_coversheets
    from esak.profiles import load_profile

    profile = load_profile(site)
    with Index.open_readonly(app.workspace.existing().index_path) as index:
        result = write_coversheets(
            index, profile, output, households=list(households) or None,
            symbology={"code128": "Code128", "qr": "QR", "datamatrix": "DataMatrix"}[
                symbology.lower()],
        )  # fmt: skip
    if as_json:
        _emit_json(result.to_dict())
    render.err.print(
        f"{result.sheets} cover sheet(s) for {result.households} household(s) of {site} "
        f"written to {output}",
        markup=False,
        soft_wrap=True,
    )


# --- the tamper-evident audit log -------------------------------------------------------------


@cli.group()
def audit() -> None:
    """The tamper-evident audit log: signed checkpoints, and proof that nothing was changed."""


@audit.command("checkpoint")
@file_option(
    "FILE", "The checkpoint to write (owner-only); keep it outside the workspace.", required=True
)
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def audit_checkpoint(app: App, output: Path, as_json: bool) -> None:
    """Sign the audit log's size and root now (Ed25519; the key is made at first use,
    audit-key.pem in the workspace, owner-only), for `audit verify --checkpoint` later.

    Refused (exit 10) when the log is already damaged.

    Example: esak audit checkpoint -o /mnt/revision/esak-2021-03-01.json
    """
    from esak.verify.audit import checkpoint

    result = checkpoint(app.workspace, output)
    if as_json:
        _emit_json(result.to_dict())
    render.audit_checkpointed(result, to_stderr=as_json)


@audit.command("verify")
@click.option(
    "--checkpoint",
    "checkpoint_file",
    metavar="FILE",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Also prove that the log only grew since this checkpoint (its signature checked).",
)
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def audit_verify(app: App, checkpoint_file: Path | None, as_json: bool) -> None:
    """Check the audit log: every event unchanged and none missing, the runs, documents and
    Klärfall events of the index as the log recorded them, every archived file re-hashed.

    Exit 0 when all is intact, 10 when anything was changed or removed.

    Example: esak audit verify --checkpoint /mnt/revision/esak-2021-03-01.json --json
    """
    from esak.verify.audit import verify_audit

    report = verify_audit(app.workspace, checkpoint_file)
    _conclude(report, as_json, render.audit_verified)


# --- demo -----------------------------------------------------------------------------------


@cli.command()
@click.option(
    "--output",
    "-o",
    metavar="DIR",
    type=click.Path(path_type=Path),
    default=Path("demo-output"),
    show_default=True,
    help="Folder for the generated delivery and the demo workspace.",
)
@click.option("--households", default=6, show_default=True, help="Households to generate.")
@click.option(
    "--seed", default=1, show_default=True, help="Seed; the same seed, the same delivery."
)
@json_option
@handle_errors
def demo(output: Path, households: int, seed: int, as_json: bool) -> None:
    """Generate a sample delivery for Borken and run esak on it.

    Example: esak demo -o /tmp/esak-demo
    """
    from esak.synthetic.demo import run_demo

    result = run_demo(output, households=households, seed=seed)
    _conclude(result, as_json, render.demo_summary)


def main() -> None:
    cli(prog_name="esak")


# The handover's commands live in their own module; registered here, after every name they
# import from this one exists.
from esak.cli_export import export, purge, search  # noqa: E402

cli.add_command(export)
cli.add_command(search)
cli.add_command(purge)
import esak.cli_mail  # noqa: E402, F401 (the `esak mail` group adds itself to cli)

"""The ``esak`` command line: parse options, call one library function, render its result.

Library code raises :class:`esak.errors.EsakError`; only here do errors become exit codes.
With ``--json`` a command prints exactly one JSON object on standard output (also on
failure: ``{"error": ..., "exit_code": ...}``) and human text on standard error.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click

from esak import __version__, render
from esak.errors import EsakError, ExitCode
from esak.workspace import Workspace, private_umask

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class App:
    workspace_option: str | None

    @property
    def workspace(self) -> Workspace:
        return Workspace.resolve(self.workspace_option)


def _emit_json(payload: dict[str, Any]) -> None:
    click.echo(json.dumps(payload, ensure_ascii=False, indent=2))


def handle_errors(func: F) -> F:
    """Turn library errors into a message, a remedy and the documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        try:
            return func(*args, **kwargs)
        except EsakError as exc:
            code, message, remedy = exc.exit_code, exc.message, exc.remedy
        except KeyboardInterrupt:
            code, message = ExitCode.STOPPED, "interrupted"
            remedy = "run the same command again to go on"
        except click.exceptions.Exit:
            raise
        except Exception as exc:  # a bug: say so plainly, keep the traceback for the report
            code = ExitCode.INTERNAL
            message = f"unexpected error: {type(exc).__name__}: {exc}"
            remedy = "this is a bug in esak; please report it with the command you ran"
            if os.environ.get("ESAK_DEBUG"):
                traceback.print_exc()
            else:
                remedy += " (set ESAK_DEBUG=1 to see the traceback)"
        if as_json:
            _emit_json({"error": message, "remedy": remedy, "exit_code": int(code)})
        render.error(message, remedy)
        sys.exit(int(code))

    return wrapper  # type: ignore[return-value]


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object on standard output."
)


def site_option(required: bool = True) -> Callable[[F], F]:
    return click.option(
        "--site",
        required=required,
        metavar="SITE",
        help="Site key, e.g. borken (see `esak profiles list`).",
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--workspace",
    metavar="DIR",
    envvar="ESAK_WORKSPACE",
    help="Folder with the index database and the archive [default: ./esak-workspace; "
    "env ESAK_WORKSPACE].",
)
@click.version_option(__version__, prog_name="esak")
@click.pass_context
def cli(ctx: click.Context, workspace: str | None) -> None:
    """esak: paper case files into digital files (E-Sozialakte).

    Reads scan deliveries, recognises cover sheets and separators, and proves per site
    that every page is accounted for. Start with `esak demo`.
    """
    private_umask()
    ctx.obj = App(workspace_option=workspace)


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
        sys.exit(int(ExitCode.PROBLEMS))


# --- expected lists -------------------------------------------------------------------------


@cli.group()
def expected() -> None:
    """Expected lists (Soll-Listen): the households a site must deliver."""


@expected.command("import")
@site_option()
@click.argument("file", type=click.Path(path_type=Path))
@click.option(
    "--replace",
    is_flag=True,
    help="Remove households of the site that are not in this list (default: only add/update).",
)
@json_option
@click.pass_obj
@handle_errors
def expected_import(app: App, site: str, file: Path, replace: bool, as_json: bool) -> None:
    """Import a site's expected list (CSV with a household or BG-Nummer column).

    UTF-8 (with or without BOM) or Windows-1252; ';' or ','. Bad rows are reported by line
    number; the others are imported. Importing the same list again changes nothing.

    Example: esak expected import --site borken soll_borken.csv
    """
    from esak.index.db import Index
    from esak.index.expected import import_expected
    from esak.profiles import load_profile

    profile = load_profile(site)
    workspace = app.workspace.ensure()
    with Index.open(workspace.index_path) as index:
        result = import_expected(index, profile.key, file, profile.is_household, replace=replace)
    if as_json:
        _emit_json(result.to_dict())
    render.expected_import_summary(result, to_stderr=as_json)
    if not result.ok:
        sys.exit(int(ExitCode.PROBLEMS))


# --- ingest and show ------------------------------------------------------------------------


@cli.command()
@site_option()
@click.argument("delivery", type=click.Path(path_type=Path))
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Worker processes for classification and OCR [default: one per core].",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    default=None,
    help="Run the work on a Dask cluster (tcp://host:8786) instead of local processes.",
)
@json_option
@click.pass_obj
@handle_errors
def ingest(
    app: App, site: str, delivery: Path, workers: int | None, scheduler: str | None, as_json: bool
) -> None:
    """Ingest a scan delivery: OCR into PDF/A, one e-file per household, every page recorded.

    The delivery folder is never modified. Running the same command again changes nothing;
    a run that was interrupted is finished by running it again.

    Example: esak ingest --site borken /mnt/scans/lieferung-2021-02-15
    """
    from esak.migrate.ingest import ingest_delivery
    from esak.profiles import load_profile

    profile = load_profile(site)
    with render.ingest_progress() as on_progress:
        report = ingest_delivery(
            app.workspace, profile, delivery, workers=workers, scheduler=scheduler,
            on_progress=on_progress,
        )  # fmt: skip
    if as_json:
        _emit_json(report.to_dict())
    render.ingest_summary(report, to_stderr=as_json)
    if not report.ok:
        sys.exit(int(ExitCode.PROBLEMS))


@cli.command()
@click.argument("household")
@json_option
@click.pass_obj
@handle_errors
def show(app: App, household: str, as_json: bool) -> None:
    """List one household's archived documents.

    Example: esak show 95401BG0000101
    """
    from esak.index.db import Index
    from esak.index.records import household_documents

    with Index.open(app.workspace.ensure().index_path) as index:
        result = household_documents(index, household, app.workspace.archive_dir)
    if as_json:
        _emit_json(result)
    else:
        render.household_table(result)


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
    from esak.demo import run_demo

    result = run_demo(output, households=households, seed=seed)
    if as_json:
        _emit_json(result.to_dict())
    render.demo_summary(result, to_stderr=as_json)
    if not result.ok:
        sys.exit(int(ExitCode.PROBLEMS))


def main() -> None:
    cli(prog_name="esak")

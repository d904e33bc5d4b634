"""The commands of the handover: ``esak export`` (a BagIt bag for the DMS, and its check) and
``esak search`` (German full text). Thin, as in :mod:`esak.cli`: parse, call one library
function, render; registered on the ``esak`` group at the end of :mod:`esak.cli`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from esak.cli import App, _conclude, handle_errors, json_option, site_option, workspace_option
from esak.report import terminal as render


@click.group(invoke_without_command=True)
@site_option(required=False)
@click.option("--household", "households", multiple=True, metavar="H",
              help="Only this household (repeatable).")  # fmt: skip
@click.option("--since", type=click.DateTime(formats=["%Y-%m-%d", "%d.%m.%Y"]), default=None,
              help="Only documents archived or replaced from this day on.")  # fmt: skip
@click.option("--mapping", type=click.Path(path_type=Path, dir_okay=False), default=None,
              metavar="FILE.toml",
              help="The DMS's own index columns and format (README: DMS mappings) "
              "[default: dms-csv].")  # fmt: skip
@click.option("--output", "-o", type=click.Path(path_type=Path, file_okay=False),
              default=None, metavar="DIR",
              help="The bag to write (a folder that does not exist yet).")  # fmt: skip
@json_option
@workspace_option
@click.pass_context
@handle_errors
def export(ctx: click.Context, site: str | None, households: tuple[str, ...], since: Any,
           mapping: Path | None, output: Path | None, as_json: bool) -> None:  # fmt: skip
    """Hand a site over to the DMS: a BagIt bag (RFC 8493) of its e-files with their transfer
    notes, index.csv and index.json, sha256 and sha512 manifests. Recorded.

    Example: esak export --site borken -o /mnt/dms-import/borken-2021-04-30
    """
    if ctx.invoked_subcommand is not None:
        return
    if site is None or output is None:
        raise click.UsageError("esak export needs --site SITE and -o DIR")
    from esak.export import export_site, load_mapping

    app: App = ctx.obj
    day = since.date() if since else None
    result = export_site(app.workspace, site, output, households=list(households), since=day,
                         mapping=load_mapping(mapping))  # fmt: skip
    _conclude(result, as_json, render.exported)


@export.command("verify")
@click.argument("place", type=click.Path(path_type=Path, file_okay=False), metavar="DIR")
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def export_verify(app: App, place: Path, as_json: bool) -> None:
    """Validate an export in full (bagit: every hash, the Payload-Oxum) and every PDF's hash
    against its index.json and the workspace's index. Exit 10 on any difference.

    Example: esak export verify /mnt/dms-import/borken-2021-04-30
    """
    from esak.export import verify_export

    _conclude(verify_export(place, app.workspace), as_json, render.export_checked)


@click.command()
@click.argument("words", nargs=-1, required=True, metavar="QUERY")
@site_option(required=False)
@click.option("--household", default=None, metavar="H", help="Only this household.")
@click.option("--type", "doc_type", default=None, metavar="T", help="Only documents of type T.")
@click.option("--limit", default=20, show_default=True, type=int, help="At most this many hits.")
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def search(app: App, words: tuple[str, ...], site: str | None, household: str | None,
           doc_type: str | None, limit: int, as_json: bool) -> None:  # fmt: skip
    """Pages whose text holds every word, best first, with household, document, page (from 1)
    and a snippet. German: strasse finds Straße, Mueller finds Müller, bescheid finds
    Bewilligungsbescheid. Every search is recorded (who, what). Exit 1 when nothing is found.
    `esak search reindex [--site S]` indexes the archived PDFs' text again.

    Example: esak search --site borken Mietvertrag Kaution
    """
    if words == ("reindex",):
        from esak.search import reindex

        _conclude(reindex(app.workspace, site), as_json, render.reindexed)
    from esak.search import search as find

    result = find(app.workspace, " ".join(words), site=site, household=household,
                  doc_type=doc_type, limit=limit)  # fmt: skip
    _conclude(result, as_json, render.search_hits)

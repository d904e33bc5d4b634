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


@click.group(invoke_without_command=True)
@site_option(required=False)
@click.option("--exported", "bag", type=click.Path(path_type=Path, file_okay=False),
              default=None, metavar="BAG_DIR",
              help="The verified export the DMS has taken over.")  # fmt: skip
@click.option("--by", default=None, metavar="NAME", help="Who decides the deletion.")
@click.option("--reason", default=None, metavar="TEXT",
              help="Why, e.g. the DMS's confirmation of the import.")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; delete nothing.")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), default=None,
              metavar="FILE",
              help="Also write the deletion record (Löschprotokoll) here.")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["pdf", "csv"]), default=None,
              help="Of the deletion record [default: from the name of -o FILE].")  # fmt: skip
@json_option
@workspace_option
@click.pass_context
@handle_errors
def purge(ctx: click.Context, site: str | None, bag: Path | None, by: str | None,
          reason: str | None, dry_run: bool, output: Path | None, fmt: str | None,
          as_json: bool) -> None:  # fmt: skip
    """Delete the workspace's copy of what the DMS has taken over: for every document that
    the verified export BAG_DIR holds with the same sha256 and whose paper was released, its
    PDF, transfer note and searchable text. Hashes, page accounting, cases, QA, releases and
    the audit log stay. Recorded, with a deletion record (Löschprotokoll).

    Example: esak purge --site borken --exported /mnt/dms-import/borken-2021-04-30
    --by "A. Admin" --reason "DMS-Import bestätigt, Ticket 4711" -o loeschprotokoll.pdf
    """
    if ctx.invoked_subcommand is not None:
        return
    if site is None or bag is None or by is None or reason is None:
        raise click.UsageError("esak purge needs --site SITE --exported BAG_DIR --by NAME "
                               "--reason TEXT")  # fmt: skip
    from esak.purge import purge_record, purge_site

    app: App = ctx.obj
    kind = _record_format(output, fmt)
    result = purge_site(app.workspace, site, bag, by=by, reason=reason, dry_run=dry_run)
    if output is not None and result.purge_id is not None:
        _write_record(purge_record(app.workspace, result.purge_id), output, kind)
    _conclude(result, as_json, render.purged)


def _record_format(output: Path | None, fmt: str | None) -> str:
    from esak.errors import UsageError

    if output is None:
        return fmt or "pdf"
    kind = fmt or output.suffix.lower().lstrip(".")
    if kind not in ("pdf", "csv"):
        raise UsageError(f"{output}: the deletion record is written as .pdf or .csv",
                         "-o FILE.pdf, -o FILE.csv or --format pdf|csv")  # fmt: skip
    return kind


def _write_record(record: dict[str, Any], output: Path, kind: str) -> None:
    from esak.purge import protocol_csv, protocol_pdf
    from esak.report import write_report
    from esak.report.pdf import write_pdf

    if kind == "csv":
        write_report(output, protocol_csv(record), bom=True)
    else:
        write_pdf(output, protocol_pdf(record))


@purge.command("list")
@site_option(required=False)
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def purge_list(app: App, site: str | None, as_json: bool) -> None:
    """Every purge: when, by whom, why, which export, how many documents and pages.

    Example: esak purge list --site borken
    """
    from esak.cli import _emit_json
    from esak.purge import purges

    listed = purges(app.workspace, site)
    if as_json:
        _emit_json({"purges": listed})
    else:
        render.purges_listed(listed)


@purge.command("record")
@click.argument("purge_id", type=int, metavar="PURGE")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False),
              required=True, metavar="FILE", help="The deletion record to write.")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["pdf", "csv"]), default=None,
              help="[default: from the name of FILE]")  # fmt: skip
@workspace_option
@click.pass_obj
@handle_errors
def purge_record_command(app: App, purge_id: int, output: Path, fmt: str | None) -> None:
    """The deletion record (Löschprotokoll) of one purge, for the data protection officer:
    every document deleted (household, volume, document, pages, sha256), when, by whom, why.

    Example: esak purge record 3 -o loeschprotokoll-3.pdf
    """
    from esak.purge import purge_record

    _write_record(purge_record(app.workspace, purge_id), output, _record_format(output, fmt))
    render.record_written(output)

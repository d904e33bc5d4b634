"""``esak mail``: the incoming mail (Posteingang) on the command line — parse the options,
call one library function (:mod:`esak.mail`), render its result.

Registered with the ``esak`` group by :mod:`esak.cli` (its last lines import this module).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from esak.cli import App, _conclude, cli, handle_errors, json_option, site_option, workspace_option
from esak.report import terminal as render

_DAY = click.DateTime(formats=["%Y-%m-%d", "%d.%m.%Y"])


@click.group("mail")
def mail() -> None:
    """Incoming mail: the provider's daily scans, each letter filed in its household's
    e-file or made a Klärfall, never filed in a wrong one."""


@mail.command("ingest")
@site_option()
@click.argument("delivery", type=click.Path(path_type=Path))
@click.option(
    "--received",
    type=_DAY,
    default=None,
    metavar="YYYY-MM-DD",
    help="The date on the receipt stamp of every letter whose manifest row (column "
    "received_at) gives none; required for those.",
)
@click.option(
    "--by",
    metavar="NAME",
    default=None,
    help="The person the transfer notes of the letters archived name [default: the OS user].",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 256),
    default=None,
    help="Worker processes for classification and OCR [default: one per core].",
)
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def mail_ingest(
    app: App,
    site: str,
    delivery: Path,
    received: datetime | None,
    by: str | None,
    workers: int | None,
    as_json: bool,
) -> None:
    """Read a day's mail delivery: each letter OCR'd into PDF/A and filed in its household's
    post/<yyyy>/ when exactly one household of the site is named with enough evidence (a
    code, or a number read reliably); every other letter is a Klärfall with its reason.

    Exit 0 when every letter was filed, 1 when Klärfälle were opened (esak clarify list).
    Running it again changes nothing.

    Example: esak mail ingest --site borken /mnt/post/2021-03-15 --received 2021-03-15
    """
    from esak.mail.ingest import ingest_mail
    from esak.profiles import load_profile

    report = ingest_mail(
        app.workspace, load_profile(site), delivery,
        received=received.date() if received else None, by=by, workers=workers,
    )  # fmt: skip
    _conclude(report, as_json, render.mail_ingested)


@mail.command("stats")
@site_option()
@click.option(
    "--since",
    type=_DAY,
    default=None,
    metavar="DATE",
    help="Only letters received on or after this day (2021-03-01 or 01.03.2021).",
)
@json_option
@workspace_option
@click.pass_obj
@handle_errors
def mail_stats(app: App, site: str, since: datetime | None, as_json: bool) -> None:
    """How the site's incoming mail was filed: letters, the share esak routed itself, the
    Klärfälle by reason, the oldest letter still waiting, the corrections made by hand.

    Example: esak mail stats --site borken --since 2021-03-01 --json
    """
    from esak.mail.stats import mail_stats as stats_of

    result = stats_of(app.workspace, site, since.date() if since else None)
    _conclude(result, as_json, render.mail_statistics)


cli.add_command(mail)

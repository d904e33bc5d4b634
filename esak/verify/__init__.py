"""Checks and reports: ``esak verify`` per site and ``esak rollout`` for the district."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from esak.errors import ExitCode, InputError, UsageError
from esak.index.db import Index
from esak.profiles import load_all, load_profile
from esak.verify.fixity import Level
from esak.verify.rollout import RolloutStatus, rollout_status
from esak.verify.site import SiteReport, sites_in_index, verification_history, verify_site
from esak.workspace import Workspace

__all__ = [
    "Level",
    "RolloutStatus",
    "SiteReport",
    "VerifyResult",
    "district_rollout",
    "history",
    "verify",
]


@dataclass
class VerifyResult:
    reports: list[SiteReport]
    #: ``--all``: always the ``{"ok", "sites"}`` form, however many sites there are
    all_sites: bool = False

    @property
    def exit_code(self) -> ExitCode:
        # The worst finding decides: a damaged archive outranks an unfinished site.
        codes = [r.exit_code for r in self.reports]
        if ExitCode.INTEGRITY in codes:
            return ExitCode.INTEGRITY
        if ExitCode.PROBLEMS in codes:
            return ExitCode.PROBLEMS
        return ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        """One site: its report as CONTRACT §6 shows it. ``--all``: ``{"ok", "sites": [...]}``."""
        if not self.all_sites:
            return self.reports[0].to_dict()
        return {
            "ok": self.exit_code is ExitCode.OK,
            "sites": [r.to_dict() for r in self.reports],
        }


def verify(
    workspace: Workspace,
    site: str | None,
    *,
    all_sites: bool = False,
    level: Level = Level.COMPLETE,
) -> VerifyResult:
    """Verify one site, or every site with an expected list or ingested files; record each.

    Holds the workspace lock, so an ingest cannot move files into the archive while its
    folders are compared with the index.
    """
    if bool(site) == bool(all_sites):
        raise UsageError("name one site with --site SITE, or use --all", "esak verify --help")
    profiles = [load_profile(site)] if site else None
    # The index first: a mistyped --workspace is told so, not given a lock file.
    with Index.open_existing(workspace.index_path) as index, workspace.lock():
        # A `blanks keep` killed between swapping an archive file and recording it left the
        # old bytes and a journal: put back what the index records before comparing.
        from esak.migrate.keep import recover_keep

        recover_keep(workspace, index)
        if profiles is None:
            keys = sites_in_index(index)
            if not keys:
                raise InputError(
                    "no site has an expected list or ingested files yet: nothing to verify",
                    "import an expected list: esak expected import --site SITE FILE.csv",
                )
            profiles = [load_profile(key) for key in keys]
        reports = [verify_site(workspace, index, p, level) for p in profiles]
        return VerifyResult(reports, all_sites=all_sites)


def history(workspace: Workspace, site: str | None, limit: int = 50) -> list[dict[str, Any]]:
    """Past verifications, newest first (all sites, or one)."""
    if site:
        load_profile(site)  # an unknown site is an error, not an empty history
    with Index.open_existing(workspace.index_path) as index:
        return verification_history(index, site, limit)


def district_rollout(workspace: Workspace, today: dt.date | None = None) -> RolloutStatus:
    """Every site's state. Read-only: safe while an ingest runs."""
    with Index.open_existing(workspace.index_path) as index:
        return rollout_status(index, load_all(), today)

"""Checks and reports: ``esak verify`` per site and ``esak rollout`` for the district."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from esak.archive import recover_journal
from esak.errors import ExitCode, InputError, UsageError, WorkspaceError
from esak.index.db import Index
from esak.profiles import Profile, load_all, load_profile
from esak.verify.fixity import Level
from esak.verify.rollout import RolloutStatus, rollout_status
from esak.verify.site import (
    SiteReport,
    build_report,
    sites_in_index,
    verification_history,
    verify_site,
)
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
    #: for people: e.g. that a read-only verification was not recorded
    notes: list[str] = field(default_factory=list)

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
    folders are compared with the index. Someone who may only read the workspace (its read
    group), and an empty workspace, get the same checks read-only: shared lock, nothing
    recorded, nothing created.
    """
    if bool(site) == bool(all_sites):
        raise UsageError("name one site with --site SITE, or use --all", "esak verify --help")
    profiles = [load_profile(site)] if site else None
    workspace.existing()
    if not (workspace.index_path.exists() and workspace.writable):
        return _verify_read_only(workspace, profiles, level, all_sites)
    # The index first: a mistyped --workspace is told so, not given a lock file.
    with Index.open_existing(workspace.index_path, workspace.access) as index, workspace.lock():
        # A `blanks keep` killed between swapping an archive file and recording it left the
        # old bytes and a journal: put back what the index records before comparing.
        from esak.migrate.keep import recover_keep

        recover_keep(workspace, index)
        # Archive files a killed ingest moved in without committing, or that a killed
        # withdraw had yet to remove: not the archive's, never to be reported as untracked.
        notes = []
        if removed := recover_journal(workspace, index):
            notes.append(f"removed {len(removed)} archive file(s) a killed run left uncommitted")
        profiles = profiles or _all_profiles(index)
        reports = [verify_site(workspace, index, p, level) for p in profiles]
        return VerifyResult(reports, all_sites=all_sites, notes=notes)


def _verify_read_only(
    workspace: Workspace, profiles: list[Profile] | None, level: Level, all_sites: bool
) -> VerifyResult:
    from esak.migrate.keep import keep_pending

    empty = not workspace.index_path.exists()
    with Index.open_readonly(workspace.index_path) as index, workspace.reading_lock():
        if keep_pending(workspace):
            # Only a writer can put the archive back the way the index records it.
            raise WorkspaceError(
                "an interrupted `esak blanks keep` left the archive half-way; "
                "a read-only verification cannot finish it",
                f"have the workspace's owner ({workspace.owner}) run `esak verify --site SITE` "
                "first: it puts back what the index records",
            )
        profiles = profiles or _all_profiles(index)
        reports = [build_report(index, workspace, p, level) for p in profiles]
    for report in reports:
        report.recorded = False
    if empty:
        note = f"the workspace {workspace.root} is empty (no index): nothing to verify yet"
    else:
        note = (
            "read-only: you may not write to this workspace, so this verification is not "
            "recorded (verify --history and rollout status do not show it)"
        )
    return VerifyResult(reports, all_sites=all_sites, notes=[note])


def _all_profiles(index: Index) -> list[Profile]:
    keys = sites_in_index(index)
    if not keys:
        raise InputError(
            "no site has an expected list or ingested files yet: nothing to verify",
            "import an expected list: esak expected import --site SITE FILE.csv",
        )
    return [load_profile(key) for key in keys]


def history(workspace: Workspace, site: str | None, limit: int = 50) -> list[dict[str, Any]]:
    """Past verifications, newest first (all sites, or one)."""
    if site:
        load_profile(site)  # an unknown site is an error, not an empty history
    with Index.open_readonly(workspace.existing().index_path) as index:
        return verification_history(index, site, limit)


def district_rollout(workspace: Workspace, today: dt.date | None = None) -> RolloutStatus:
    """Every site's state. Read-only: safe while an ingest runs; creates nothing (an empty
    workspace shows every site of the profiles with nothing done)."""
    with Index.open_readonly(workspace.existing().index_path) as index:
        return rollout_status(index, load_all(), today)

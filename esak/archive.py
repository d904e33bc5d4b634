"""The archive: where each document's PDF lies, and how files enter it so that a killed run
leaves no trace.

Layout: ``archive/<site>/<household>/band-<vv>/<nnnn>.pdf``, and a household's incoming mail
``archive/<site>/<household>/post/<yyyy>/<nnnn>.pdf`` (the year of its receipt stamp), made
only of a site key, a validated household number and integers, so no delivered text ever
becomes a path.

Files enter the archive just before the index transaction that records them commits. The
commit journal names them, durably, before the first is moved; if the run dies before its
transaction commits, the next run removes exactly those the index does not know.

A power cut loses nothing either (:data:`esak.atomic.DURABLE`): before the transaction
commits, each file's bytes are fsync'd and then every folder from ``archive/`` down to the
files, so that whatever the index records after the cut is on disk; the index commits with
``synchronous=FULL``, so that a commit the run reported is still in it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from esak.atomic import fsync_dirs, fsync_file, write_durably
from esak.index.db import Index
from esak.index.records import document_sha256
from esak.workspace import PRIVATE, Access, Workspace

__all__ = [
    "JOURNAL",
    "clear_journal",
    "document_path",
    "journal_path",
    "move_in",
    "post_path",
    "recover_journal",
    "sync_folders",
    "write_durably",
    "write_journal",
]

JOURNAL = "commit.journal"
#: Folders from an archive file up to ``archive/`` (band, household, site, archive; a letter
#: of the mail: year, post, household, site, archive): the file is found after a power cut
#: only if the name in each of them is on disk. For a band path the fifth is the workspace.
_DEPTH = 5


def document_path(site: str, household: str, volume: int, seq: int) -> str:
    """A document's path under ``archive/``, as the index records it."""
    return f"{site}/{household}/band-{volume:02d}/{seq:04d}.pdf"


def post_path(site: str, household: str, year: int, seq: int) -> str:
    """A letter of the incoming mail under ``archive/``: its household's ``post/<yyyy>/``,
    numbered on across the years (``seq`` of the household's volume 0)."""
    if not 1000 <= year <= 9999:
        raise ValueError(f"year {year} of a receipt date is not a four-digit year")
    return f"{site}/{household}/post/{year:04d}/{seq:04d}.pdf"


def journal_path(workspace: Workspace) -> Path:
    return workspace.root / JOURNAL


def write_journal(workspace: Workspace, targets: list[Path]) -> None:
    """Name the archive files about to be moved in, durably, before the first is moved."""
    rel = [t.relative_to(workspace.archive_dir).as_posix() for t in targets]
    write_durably(journal_path(workspace), rel)


def clear_journal(workspace: Workspace) -> None:
    """Committed, or rolled back and undone: the archive agrees with the index again."""
    journal_path(workspace).unlink(missing_ok=True)


def move_in(moves: list[tuple[str, Path]], access: Access = PRIVATE) -> None:
    """The finished PDFs renamed into the archive (the journal names them already), with the
    workspace's mode: written owner-only in scratch space, readable by its read group here.

    On disk when it returns: each file's bytes (one fsync each, before its rename) and its
    name (each folder on its way once, after the renames); the caller commits next."""
    for source, target in moves:
        access.make_dirs(target.parent)
        if access.shared:
            access.apply(Path(source))
        fsync_file(source)
        os.replace(source, target)
    sync_folders(target for _, target in moves)


def sync_folders(targets: Iterable[Path]) -> None:
    """fsync, once each, the folders from each of these archive files up to ``archive/``:
    the names made there (a file renamed in, a band or household folder created) are on
    disk. All of them, not only those made now: one made by a run that failed or was killed
    a moment ago may not have reached the disk yet."""
    fsync_dirs(folder for target in targets for folder in Path(target).parents[:_DEPTH])


def sync_removals(targets: Iterable[Path]) -> None:
    """fsync the folders that lost these archive files (those still there): a file removed
    before its journal goes must not come back after a power cut as a stray."""
    fsync_dirs(
        folder for target in targets for folder in Path(target).parents[:_DEPTH]
        if folder.is_dir()
    )  # fmt: skip


def recover_journal(workspace: Workspace, index: Index) -> list[str]:
    """After a killed run: remove the archive files its last, uncommitted file moved in."""
    path = journal_path(workspace)
    if not path.exists():
        return []
    try:
        targets = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        targets = []  # torn while written: nothing had been moved yet
    removed = []
    for rel in targets:
        target = workspace.archive_dir / rel
        if document_sha256(index, rel) is None and target.is_file():
            target.unlink()
            removed.append(rel)
    # The removals on disk before the journal that names them goes.
    sync_folders(workspace.archive_dir / rel for rel in removed)
    path.unlink(missing_ok=True)
    return removed

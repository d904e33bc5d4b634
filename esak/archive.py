"""The archive: where each document's PDF lies, and how files enter it so that a killed run
leaves no trace.

Layout: ``archive/<site>/<household>/band-<vv>/<nnnn>.pdf``, made only of a site key, a
validated household number and integers, so no delivered text ever becomes a path.

Files enter the archive just before the index transaction that records them commits. The
commit journal names them, durably, before the first is moved; if the run dies before its
transaction commits, the next run removes exactly those the index does not know.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from esak.index.db import Index
from esak.index.records import document_sha256
from esak.workspace import PRIVATE, Access, Workspace

JOURNAL = "commit.journal"


def document_path(site: str, household: str, volume: int, seq: int) -> str:
    """A document's path under ``archive/``, as the index records it."""
    return f"{site}/{household}/band-{volume:02d}/{seq:04d}.pdf"


def journal_path(workspace: Workspace) -> Path:
    return workspace.root / JOURNAL


def write_journal(workspace: Workspace, targets: list[Path]) -> None:
    """Name the archive files about to be moved in, durably, before the first is moved."""
    rel = [t.relative_to(workspace.archive_dir).as_posix() for t in targets]
    write_durably(journal_path(workspace), rel)


def write_durably(path: Path, data: object) -> None:
    """A journal as JSON, owner-only, on disk (fsync) before the caller goes on: it must
    outlive a kill or a power cut that comes right after."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())


def clear_journal(workspace: Workspace) -> None:
    """Committed, or rolled back and undone: the archive agrees with the index again."""
    journal_path(workspace).unlink(missing_ok=True)


def move_in(moves: list[tuple[str, Path]], access: Access = PRIVATE) -> None:
    """The finished PDFs renamed into the archive (the journal names them already), with the
    workspace's mode: written owner-only in scratch space, readable by its read group here."""
    for source, target in moves:
        access.make_dirs(target.parent)
        if access.shared:
            access.apply(Path(source))
        os.replace(source, target)


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
    path.unlink(missing_ok=True)
    return removed

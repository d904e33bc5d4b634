"""The workspace: one folder that holds the index database, the archive and scratch space.

Everything under it is created readable by its owner only: the archive holds social data.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from esak.errors import LockedError, WorkspaceError

DEFAULT_WORKSPACE = "esak-workspace"
ENV_WORKSPACE = "ESAK_WORKSPACE"


def private_umask() -> None:
    """Make every file and folder this process creates owner-only (0600 / 0700)."""
    os.umask(0o077)


@dataclass(frozen=True)
class Lock:
    #: what the lock file said when it was taken over from a run that did not end cleanly
    stale_holder: str | None = None


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def index_path(self) -> Path:
        return self.root / "index.sqlite"

    @property
    def archive_dir(self) -> Path:
        return self.root / "archive"

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    @classmethod
    def resolve(cls, path: str | os.PathLike[str] | None) -> Workspace:
        """The workspace named on the command line, else ``$ESAK_WORKSPACE``, else the default."""
        chosen = path or os.environ.get(ENV_WORKSPACE) or DEFAULT_WORKSPACE
        return cls(Path(chosen).expanduser().absolute())

    def ensure(self) -> Workspace:
        """Create the workspace folders (owner-only) if they do not exist yet."""
        try:
            for folder in (self.root, self.archive_dir, self.tmp_dir):
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            # mkdir's mode does not apply to a folder that was already there.
            os.chmod(self.root, 0o700)
        except OSError as exc:
            raise WorkspaceError(
                f"cannot create the workspace {self.root}: {exc.strerror}",
                "choose a folder you can write to with --workspace DIR or ESAK_WORKSPACE",
            ) from exc
        return self

    @property
    def lock_path(self) -> Path:
        return self.root / "esak.lock"

    @contextlib.contextmanager
    def lock(self) -> Iterator[Lock]:
        """Hold the workspace for one writing run; a second run is refused at once.

        flock is released by the kernel when the holder dies (kill -9 included), so a lock
        file left behind by a killed run is stale by construction and simply taken over. The
        file names its holder while held and is emptied on a clean release: text found in it
        on taking the lock is a run that did not end cleanly.
        """
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise WorkspaceError(
                f"cannot create the lock file {self.lock_path}: {exc.strerror}",
                "choose a workspace you can write to with --workspace DIR or ESAK_WORKSPACE",
            ) from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 300, 0).decode(errors="replace").strip() or "unknown"
                raise LockedError(
                    f"another esak run holds the workspace {self.root}: {holder}",
                    "wait for it to finish (or stop it); a killed run releases the lock by "
                    f"itself. The lock is {self.lock_path}",
                ) from None
            stale = os.pread(fd, 300, 0).decode(errors="replace").strip() or None
            os.ftruncate(fd, 0)
            command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))
            # Imported here: the CLI imports this module on every start, the index package
            # (and sqlite-utils) only when a command needs it.
            from esak.index.audit import now

            started = now()
            holder = f"pid {os.getpid()}, since {started}: {command}"
            # A path with bytes that are not UTF-8 is shown escaped, never a crash.
            os.pwrite(fd, holder.encode("utf-8", "backslashreplace"), 0)
            try:
                yield Lock(stale_holder=stale)
            finally:
                # Released by a living process, however its run ended: not stale.
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)

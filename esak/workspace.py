"""The workspace: one folder that holds the index database, the archive and scratch space.

Everything under it is created readable by its owner only: the archive holds social data.
The owner may name one group that may read it (``esak workspace share --group GROUP``): then
the index and the archive are created 0640 and their folders 2750 with that group, while
scratch space stays owner-only. Only the owner writes; a member of the group can run the
commands that only read (verify, show, rollout, coversheets, blanks).

Commands that only read never create anything: :meth:`Workspace.existing` checks the folder
is there, :meth:`Workspace.ensure` (writers only) creates it.
"""

from __future__ import annotations

import contextlib
import fcntl
import grp
import json
import os
import pwd
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from esak.errors import LockedError, UsageError, WorkspaceError

DEFAULT_WORKSPACE = "esak-workspace"
ENV_WORKSPACE = "ESAK_WORKSPACE"

#: The workspace's settings (today only the read group), beside the index.
SETTINGS = "workspace.json"
#: The private key that signs audit checkpoints: owner-only, whoever may read the workspace.
AUDIT_KEY = "audit-key.pem"

#: What to tell someone who named a folder that is not a workspace.
_WHERE_REMEDY = (
    "check --workspace DIR / ESAK_WORKSPACE; a workspace is created by "
    "`esak expected import` or `esak ingest`"
)
_READ_ONLY_COMMANDS = "verify, show, rollout status, rollout plan, coversheets, blanks"


def private_umask() -> None:
    """Make every file and folder this process creates owner-only (0600 / 0700)."""
    os.umask(0o077)


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:  # no passwd entry (containers, numeric ids)
        return f"uid {uid}"


@dataclass(frozen=True)
class Access:
    """Who may read what a writer puts into the workspace: the owner only, or also one group."""

    group: str | None = None
    gid: int | None = None

    @property
    def shared(self) -> bool:
        return self.gid is not None

    @property
    def file_mode(self) -> int:
        return 0o640 if self.shared else 0o600

    @property
    def dir_mode(self) -> int:
        # setgid: what SQLite creates beside the index (-wal, -shm) gets the group too.
        return 0o2750 if self.shared else 0o700

    def apply(self, path: Path, *, folder: bool = False) -> None:
        """Give ``path`` this access's mode (and group). A new file is 0600 whatever the umask
        (mkstemp), and chmod is the only way to a mode the umask 077 would strip."""
        if self.gid is not None:
            os.chown(path, -1, self.gid, follow_symlinks=False)
        os.chmod(path, self.dir_mode if folder else self.file_mode)

    def make_dirs(self, folder: Path) -> None:
        """Create ``folder`` and its missing parents, each with this access's mode."""
        missing = []
        while not folder.is_dir():
            missing.append(folder)
            folder = folder.parent
        for path in reversed(missing):
            with contextlib.suppress(FileExistsError):  # another process made it meanwhile
                path.mkdir(mode=0o700)
            self.apply(path, folder=True)


PRIVATE = Access()


@dataclass
class ShareResult:
    root: Path
    access: Access
    #: folders and files brought to the new mode (scratch space left out)
    folders: int = 0
    files: int = 0

    def to_dict(self) -> dict[str, object]:
        return {
            "workspace": str(self.root),
            "read_group": self.access.group,
            "file_mode": f"{self.access.file_mode:04o}",
            "dir_mode": f"{self.access.dir_mode:04o}",
            "folders": self.folders,
            "files": self.files,
        }


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

    @property
    def settings_path(self) -> Path:
        return self.root / SETTINGS

    @property
    def access(self) -> Access:
        """The workspace's read group, from its settings; owner-only without one. Read each
        time (a small file): a setting changed by `workspace share` counts at once."""
        try:
            text = self.settings_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return PRIVATE
        except OSError as exc:
            raise WorkspaceError(
                f"cannot read the workspace settings {self.settings_path}: {exc.strerror}",
                f"run writing commands as the workspace's owner ({self.owner})",
            ) from exc
        try:
            group = json.loads(text).get("read_group")
        except (ValueError, AttributeError) as exc:
            raise WorkspaceError(
                f"the workspace settings {self.settings_path} are not valid JSON",
                "set them again: esak workspace share --group GROUP (or --private)",
            ) from exc
        if not group:
            return PRIVATE
        try:
            return Access(group, grp.getgrnam(group).gr_gid)
        except KeyError:
            raise WorkspaceError(
                f"the workspace {self.root} is shared with the group {group!r}, "
                "which does not exist on this machine",
                f"create the group (groupadd {group}), or share the workspace with another "
                "group: esak workspace share --group GROUP (or --private)",
            ) from None

    @property
    def owner(self) -> str:
        try:
            return _user_name(self.root.stat().st_uid)
        except OSError:
            return "unknown"

    @property
    def writable(self) -> bool:
        """May this process change the workspace (its folder, and the index if there is one)?"""
        if not os.access(self.root, os.W_OK | os.X_OK):
            return False
        return not self.index_path.exists() or os.access(self.index_path, os.W_OK)

    def denied(self, action: str) -> WorkspaceError:
        """The error for someone who may not ``action`` ("read" or "write") the workspace."""
        me, owner = _user_name(os.geteuid()), self.owner
        if action == "read":
            remedy = (
                f"run esak as the workspace's owner ({owner}), or have them share it "
                "read-only with a group of yours: esak workspace share --group GROUP"
            )
        else:
            remedy = (
                "run writing commands (ingest, expected import, expected remove, blanks keep, "
                f"workspace share) as the workspace's owner ({owner}); a member of its read "
                f"group may only read: {_READ_ONLY_COMMANDS}"
            )
        verb = "read" if action == "read" else "write to"
        return WorkspaceError(
            f"you ({me}) may not {verb} the workspace {self.root}, which belongs to {owner}",
            remedy,
        )

    def existing(self) -> Workspace:
        """The workspace as it is, for a command that only reads: never created, never changed.

        A folder that is not there is refused (a mistyped --workspace must not pass for an
        empty workspace); an existing empty folder is an empty workspace.
        """
        try:
            info = self.root.stat()
        except FileNotFoundError:
            raise WorkspaceError(f"there is no workspace {self.root}", _WHERE_REMEDY) from None
        except PermissionError:
            raise self.denied("read") from None
        except OSError as exc:
            raise WorkspaceError(
                f"cannot use the workspace {self.root}: {exc.strerror}", _WHERE_REMEDY
            ) from exc
        if not stat.S_ISDIR(info.st_mode):
            raise WorkspaceError(f"the workspace {self.root} is not a folder", _WHERE_REMEDY)
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise self.denied("read")
        return self

    def check_writable(self) -> None:
        """Refuse a writing command up front if the workspace exists but is not ours to change."""
        try:
            there = self.root.exists()
        except PermissionError:  # a folder on the way we may not enter
            raise self.denied("write") from None
        if there and not self.writable:
            raise self.denied("write")

    def ensure(self) -> Workspace:
        """Create the workspace folders (owner-only, or for the read group) if they do not
        exist yet. For commands that write: refused if the workspace is not ours to change."""
        self.check_writable()
        access = self.access
        try:
            access.make_dirs(self.root)
            access.make_dirs(self.archive_dir)
            PRIVATE.make_dirs(self.tmp_dir)  # scratch space (page images) is never shared
            # mkdir's mode does not apply to a folder that was already there.
            if stat.S_IMODE(self.root.stat().st_mode) != access.dir_mode:
                access.apply(self.root, folder=True)
        except OSError as exc:
            raise WorkspaceError(
                f"cannot create the workspace {self.root}: {exc.strerror}",
                "choose a folder you can write to with --workspace DIR or ESAK_WORKSPACE",
            ) from exc
        return self

    def share(self, group: str | None) -> ShareResult:
        """Let ``group`` read the workspace (None: owner-only again), existing files included.

        Writes the setting, then brings every folder and file except scratch space to the
        new mode and group, holding the lock so that no run creates files meanwhile.
        """
        if group is None:
            access = PRIVATE
        else:
            try:
                access = Access(group, grp.getgrnam(group).gr_gid)
            except KeyError:
                raise UsageError(
                    f"there is no group {group!r} on this machine",
                    f"create it first (groupadd {group}) or name an existing group",
                ) from None
        self.existing()
        me = os.geteuid()
        if not self.writable or (me != 0 and self.root.stat().st_uid != me):
            raise self.denied("write")
        if me != 0 and access.gid is not None and access.gid not in (os.getegid(), *os.getgroups()):
            # chgrp to a group one is not in is refused by the kernel: say so before changing
            # anything, not half-way through the archive.
            raise WorkspaceError(
                f"you ({_user_name(me)}) are not a member of the group {group!r}",
                "share with a group you are a member of (id -Gn), or have root run it",
            )
        result = ShareResult(self.root, access)
        with self.lock():
            try:
                self._apply_everywhere(access, result)
                if access.shared:
                    from esak.atomic import write_atomic

                    write_atomic(
                        self.settings_path,
                        lambda fh: fh.write(json.dumps({"read_group": group}).encode()),
                    )
                    access.apply(self.settings_path)
                    # A reader of a WAL database needs its -wal and -shm files to exist: it
                    # may not create them (SQLite, "WAL mode: read-only databases").
                    for suffix in ("-wal", "-shm"):
                        leave_beside(self.index_path, suffix, access)
                else:
                    self.settings_path.unlink(missing_ok=True)
            except PermissionError as exc:
                raise WorkspaceError(
                    f"cannot change the mode or group of {exc.filename}: {exc.strerror}",
                    "a file in the workspace belongs to someone else: have root run "
                    "`esak workspace share` once",
                ) from exc
        return result

    def _apply_everywhere(self, access: Access, result: ShareResult) -> None:
        for top, folders, files in os.walk(self.root):
            here = Path(top)
            if here == self.root:
                # Scratch space stays owner-only; its files are the run's own. So does the
                # audit log's signing key: a reader who had it could sign a forged checkpoint.
                folders[:] = [f for f in folders if here / f != self.tmp_dir]
                files = [f for f in files if f != AUDIT_KEY]
            if not here.is_symlink():
                access.apply(here, folder=True)
                result.folders += 1
            for name in files:
                path = here / name
                if path.is_symlink() or not path.is_file():
                    continue  # nothing esak makes; never follow a link out of the workspace
                access.apply(path)
                result.files += 1

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
        self.check_writable()
        try:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
            if stat.S_IMODE(os.fstat(fd).st_mode) != self.access.file_mode:
                # Readers take it shared (reading_lock), so the read group must open it.
                self.access.apply(self.lock_path)
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

    @contextlib.contextmanager
    def reading_lock(self) -> Iterator[None]:
        """Hold the workspace shared, for a read that must not see an ingest half-way (verify
        by someone who may only read). Refused while a writer holds it; readers share it.

        No lock file: no writing run has ever held this workspace, so there is nothing to
        wait for.
        """
        try:
            fd = os.open(self.lock_path, os.O_RDONLY)
        except FileNotFoundError:
            yield
            return
        except OSError as exc:
            raise WorkspaceError(
                f"cannot open the lock file {self.lock_path}: {exc.strerror}",
                "ask the workspace's owner to share it again: esak workspace share --group GROUP",
            ) from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 300, 0).decode(errors="replace").strip() or "unknown"
                raise LockedError(
                    f"another esak run holds the workspace {self.root}: {holder}",
                    "wait for it to finish, then run the same command again",
                ) from None
            yield
        finally:
            os.close(fd)


def leave_beside(index_path: Path, suffix: str, access: Access) -> None:
    """Make sure the file ``index_path + suffix`` exists (empty if new), with ``access``.

    Never truncates: a live writer's -wal or -shm is left exactly as it is.
    """
    path = Path(f"{index_path}{suffix}")
    try:
        owner = index_path.stat()
    except FileNotFoundError:
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, access.file_mode)
    try:
        me = os.geteuid()
        if me == 0:
            # As SQLite does when run as root: the index's owner must still write them.
            os.fchown(fd, owner.st_uid, owner.st_gid if access.gid is None else access.gid)
        elif access.gid is not None and os.fstat(fd).st_uid == me:
            os.fchown(fd, -1, access.gid)
        if os.fstat(fd).st_uid == me or me == 0:
            os.fchmod(fd, access.file_mode)
    finally:
        os.close(fd)

"""Files written whole or not at all, readable by their owner only, and on disk before the
caller goes on.

A file's bytes survive a power cut only once the file was fsync'd; its name only once its
folder was fsync'd after the name was made (created, renamed in, linked). Committing code
does both before the index transaction that records the file commits, and the index itself
commits with SQLite's ``synchronous=FULL`` (:mod:`esak.index.db`).
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

from esak.errors import DiskFullError, InputError

#: Commits survive a power cut: files and folders fsync'd before the index commits, and the
#: index with ``synchronous=FULL``. Only the durability benchmark and tests turn it off, to
#: show what it costs and what it prevents; off, esak syncs what it did before (journals and
#: atomically written files, not their folders; SQLite ``synchronous=NORMAL``).
DURABLE = True

#: What fsync of a folder may answer on a file system that cannot sync folders (as
#: PostgreSQL's fsync_fname): nothing more can be done there.
_NO_FOLDER_SYNC = (errno.EINVAL, errno.EBADF, errno.ENOTSUP)


def fsync_file(path: str | os.PathLike[str]) -> None:
    """The bytes (and mode) of the file at ``path`` on disk, as far as fsync can tell."""
    if not DURABLE:
        return
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """The names in ``folder`` (files made, renamed in or out, removed) on disk."""
    if not DURABLE:
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _NO_FOLDER_SYNC:
            raise
    finally:
        os.close(fd)


def fsync_dirs(folders: Iterable[str | os.PathLike[str]]) -> None:
    """:func:`fsync_dir` once for each distinct folder of ``folders``, in the order given."""
    for folder in dict.fromkeys(Path(f) for f in folders):
        fsync_dir(folder)


def write_durably(path: Path, data: object) -> None:
    """A journal as JSON, owner-only, on disk (fsync of the file and of its folder) before
    the caller goes on: it must outlive a kill or a power cut that comes right after."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
        fh.flush()
        os.fsync(fh.fileno())
    # A new file's name is on disk only once its folder is: else the journal may be gone
    # after a power cut while the renames it names are not.
    fsync_dir(Path(path).parent)


def write_atomic(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    """Have ``write`` fill a temp file beside ``path``, then rename it into place (0600).

    A reader (a printer, a spreadsheet, a script) never sees half a file, and a failed write
    leaves the old file, if any, as it was. Bytes and name are on disk when it returns.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(
            f"cannot write {path}: the folder {folder} does not exist",
            "create the folder first or choose another output file with -o",
        )
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise InputError(
            f"cannot write into {folder}: {exc.strerror}", "choose another folder"
        ) from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        fsync_dir(folder)  # the new name on disk too, not only the bytes
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            if exc.errno == errno.ENOSPC:
                raise DiskFullError(
                    f"no space left to write {path}", "free space, then run again"
                ) from exc
            raise InputError(
                f"cannot write {path}: {exc.strerror}", "choose another output file"
            ) from exc
        raise
    return path

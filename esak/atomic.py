"""Files written whole or not at all, readable by their owner only."""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from esak.errors import DiskFullError, InputError


def write_atomic(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    """Have ``write`` fill a temp file beside ``path``, then rename it into place (0600).

    A reader (a printer, a spreadsheet, a script) never sees half a file, and a failed write
    leaves the old file, if any, as it was.
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

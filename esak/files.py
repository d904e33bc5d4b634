"""Small helpers on files that every part of esak needs: a name fit to print and store, a
natural sort order, the type of a file by its bytes, a streaming SHA-256."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

#: Files are hashed in pieces of this size, so a 2 GB TIFF never sits in memory.
_CHUNK = 1 << 20


def display_name(name: str | Path) -> str:
    """A file name as printable, storable text.

    Names are bytes on Linux; bytes that are not UTF-8 (a name made on another system) come
    back from the OS as lone surrogates, which no UTF-8 database or terminal takes. They are
    shown as ``\\xNN`` instead, so the same file always gets the same name in every report.
    """
    text = name.name if isinstance(name, Path) else name
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text).decode("utf-8", "backslashreplace")
    return text


def natural_key(name: str) -> list[object]:
    """Sort key so that ``page2`` comes before ``page10`` (scanners do not always zero-pad)."""
    # isdecimal, not isdigit: "²" is a digit to isdigit but neither \d nor int() take it.
    return [int(part) if part.isdecimal() else part.lower() for part in re.split(r"(\d+)", name)]


def sniff(path: Path) -> str:
    """The file type by its first bytes: ``pdf``, ``tiff``, ``png``, ``jpeg`` or ``unknown``."""
    with open(path, "rb") as fh:
        head = fh.read(1024)
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "tiff"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    # The PDF header may legally be preceded by junk within the first 1024 bytes.
    if b"%PDF-" in head:
        return "pdf"
    return "unknown"


def sha256_file(path: Path) -> str:
    """SHA-256 of a file, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()

"""Fixity of the archive: is every archived file still there, unchanged, and nothing else?

Three levels, after BagIt's: each includes the one before.

- ``fast``: every document's file is present with the size the index recorded.
- ``complete``: and no file lies under the site's archive folder that the index does not know.
- ``valid``: and every file hashes to its recorded sha256, opens as PDF/A-2 with the
  recorded page count, and still has its text layer.

A document purged after its handover to the DMS (:mod:`esak.purge`) has no file any more, on
purpose: it is counted under ``purged`` ("übergeben und gelöscht"), and a file of it that is
still there is a stray (a purge that was killed; the next verify removes it).

Transfer notes (``<nnnn>.tv.xml`` beside a PDF, :mod:`esak.verify.transfer`) are files the
index knows: never untracked. From level ``complete`` a recorded note that is gone is listed
under ``missing`` and one whose size differs under ``changed``; ``valid`` re-hashes it too.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from esak.files import sha256_file
from esak.index.db import Index
from esak.index.transfer_notes import site_notes


class Level(StrEnum):
    FAST = "fast"
    COMPLETE = "complete"
    VALID = "valid"


@dataclass
class Fixity:
    level: Level
    checked: int = 0
    #: transfer notes checked (levels complete and valid)
    notes_checked: int = 0
    #: documents handed over to the DMS and deleted here (esak purge): no file to check
    purged: int = 0
    changed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)
    #: documents that are present and unchanged but not a sound PDF/A (level valid)
    invalid: list[dict[str, str]] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return not (self.changed or self.missing or self.untracked or self.invalid)

    @property
    def untracked_checked(self) -> bool:
        """Only levels complete and valid walk the archive for files the index does not know."""
        return self.level is not Level.FAST

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": self.level.value,
            #: what this level did not look at: an empty list there means "not checked"
            "not_checked": [] if self.untracked_checked else ["untracked"],
            "checked": self.checked,
            "notes_checked": self.notes_checked,
            "purged": self.purged,
            "changed": self.changed,
            "missing": self.missing,
            "untracked": self.untracked,
            "invalid": self.invalid,
        }


def check_fixity(index: Index, archive_dir: Path, site: str, level: Level) -> Fixity:
    """The site's archive folder against the index; result paths are archive-relative."""
    result = Fixity(level)
    rows = index.db.execute(
        "SELECT path, size, sha256, pages, text_chars FROM documents WHERE site = ? "
        "AND purge_id IS NULL ORDER BY path",
        [site],
    ).fetchall()
    (result.purged,) = index.db.execute(
        "SELECT COUNT(*) FROM documents WHERE site = ? AND purge_id IS NOT NULL", [site]
    ).fetchone()
    result.checked = len(rows)
    root = str(archive_dir)
    # Strings, not pathlib: at 70,000 files per district the path objects cost more than stat.
    if level is Level.FAST:
        sizes = {}
        for path, *_ in rows:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                sizes[path] = os.stat(os.path.join(root, path)).st_size
    else:
        sizes = _walk(root, site)
        notes = site_notes(index, site)
        known = {r[0] for r in rows} | {n[0] for n in notes}
        result.untracked = sorted(p for p in sizes if p not in known)
        _check_notes(result, archive_dir, sizes, notes)
    for path, size, sha256, pages, text_chars in rows:
        found = sizes.get(path)
        if found is None:
            result.missing.append(path)
        elif found != size:
            result.changed.append(path)
        elif level is Level.VALID:
            file = archive_dir / path
            if sha256_file(file) != sha256:
                result.changed.append(path)
                continue
            problem = pdf_problem(file, pages, text_chars)
            if problem:
                result.invalid.append({"file": path, "problem": problem})
    result.changed.sort()
    result.missing.sort()
    return result


def _check_notes(
    result: Fixity,
    archive_dir: Path,
    sizes: dict[str, int | None],
    notes: list[tuple[str, int, str]],
) -> None:
    """The site's transfer notes: present (complete), the recorded size, and (valid) sha256."""
    result.notes_checked = len(notes)
    for path, size, sha256 in notes:
        if path not in sizes:
            result.missing.append(path)
            continue
        rehash = result.level is Level.VALID
        if sizes[path] != size or (rehash and sha256_file(archive_dir / path) != sha256):
            result.changed.append(path)


def _walk(root: str, site: str) -> dict[str, int | None]:
    """Every entry under archive/<site>/ with its size; symlinks and specials count as strays."""
    found: dict[str, int | None] = {}
    stack = [site]
    while stack:
        rel_dir = stack.pop()
        try:
            entries = list(os.scandir(os.path.join(root, rel_dir)))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                stack.append(rel)
            elif entry.is_file(follow_symlinks=False):
                found[rel] = entry.stat(follow_symlinks=False).st_size
            else:
                # A symlink or a socket is never something esak archived: size None marks it
                # as changed if the index knows the name, untracked otherwise.
                found[rel] = None
    return found


def pdf_problem(file: Path, pages: int, text_chars: int | None) -> str | None:
    """Why an archived PDF is no longer sound, or None: PDF/A-2b by its bytes (not by the
    claim in its metadata alone), no JBIG2 symbol coding, page count, text layer."""
    import pikepdf
    import pikepdf.pdfa
    import pypdfium2

    try:
        with pikepdf.open(file) as pdf:
            status = pdf.open_metadata().pdfa_status
            count = len(pdf.pages)
            jbig2 = _jbig2_symbol_coding(pdf)
    except (pikepdf.PdfError, OSError, ValueError) as exc:
        return f"cannot be opened as PDF: {type(exc).__name__}"
    if not status.startswith("2"):
        return f"not PDF/A-2 (claims {status or 'nothing'})"
    if jbig2:
        # TR-RESISCAN A.SC.12: symbol coding may put one glyph where another was scanned.
        return f"JBIG2 with symbol coding ({jbig2}): a character may stand for another"
    if count != pages:
        return f"has {count} pages, the index recorded {pages}"
    report = pikepdf.pdfa.validate_written(file, "2b")
    if not report.passed:
        first = "; ".join(str(f) for f in report.findings[:2])
        return f"claims PDF/A-2 but its bytes are not valid PDF/A-2b: {first}"
    if text_chars:
        doc = pypdfium2.PdfDocument(str(file))
        try:
            chars = 0
            for page in doc:
                textpage = page.get_textpage()
                chars += textpage.count_chars()
                textpage.close()
                page.close()
                if chars:
                    break
        finally:
            doc.close()
        if not chars:
            return "its text layer is gone (it had text when archived)"
    return None


def _jbig2_symbol_coding(pdf: Any) -> str | None:
    """How a JBIG2 image of the PDF uses symbol coding, or None: a /JBIG2Globals stream, or
    a symbol dictionary or text region segment in the image's own data."""
    import pikepdf

    for obj in pdf.objects:
        if not isinstance(obj, pikepdf.Stream):
            continue
        filters = obj.get("/Filter")
        names = [filters] if isinstance(filters, pikepdf.Name) else list(filters or [])
        if pikepdf.Name.JBIG2Decode not in names:
            continue
        parms = obj.get("/DecodeParms")
        parms_list = [parms] if isinstance(parms, pikepdf.Dictionary) else list(parms or [])
        if any(isinstance(p, pikepdf.Dictionary) and "/JBIG2Globals" in p for p in parms_list):
            return "global symbol dictionary"
        if jbig2_has_symbols(obj.read_raw_bytes()):
            return "symbol dictionary in the image"
    return None


#: JBIG2 segment types that code text by symbols (ITU-T T.88 7.3): symbol dictionary and the
#: text regions that use one.
_SYMBOL_SEGMENTS = {0, 4, 6, 7}


def jbig2_has_symbols(data: bytes) -> bool:
    """Whether embedded JBIG2 data (PDF's form: segments without a file header) holds a
    symbol dictionary or a text region (T.88 7.2: the segment header)."""
    pos, end = 0, len(data)
    while pos + 11 <= end:
        number = int.from_bytes(data[pos : pos + 4], "big")
        flags = data[pos + 4]
        pos += 5
        kind = flags & 0x3F
        if kind in _SYMBOL_SEGMENTS:
            return True
        referred = data[pos] >> 5
        if referred == 7:  # the long form: a 29-bit count, then a bit per segment
            referred = int.from_bytes(data[pos : pos + 4], "big") & 0x1FFFFFFF
            pos += 4 + (referred + 8) // 8
        else:
            pos += 1
        pos += referred * (1 if number <= 256 else 2 if number <= 65536 else 4)
        pos += 4 if flags & 0x40 else 1
        if pos + 4 > end:
            break
        length = int.from_bytes(data[pos : pos + 4], "big")
        pos += 4
        if length == 0xFFFFFFFF:  # unknown length (an immediate generic region): no symbols
            break
        pos += length
    return False

"""What a scan delivery folder holds: its input items, and how it squares with its manifest.

The delivery folder belongs to the scanning service and is evidence of what they handed
over: it is only ever read. Nothing here writes, renames, chmods or leaves temp files in it.

Every entry of the folder ends up as an item or inside one (an image folder), so that each
can later end "ingested" or "set aside with a reason"; nothing is silently skipped. Entries
that must not be read (hidden and system files, links leading elsewhere, unreadable files)
carry a ``problem`` and are set aside without being opened by the reader.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import stat
import unicodedata
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from PIL import Image

from esak.errors import InputError, UsageError
from esak.files import display_name, natural_key, sha256_file, sniff
from esak.i18n import N_
from esak.vocabulary import InputFormat

MANIFEST_NAME = "manifest.csv"

#: Files operating systems drop into folders on their own; never scans.
_SYSTEM_FILES = {"thumbs.db", "desktop.ini", ".ds_store"}
_PDF_SUFFIXES = {".pdf"}
_TIFF_SUFFIXES = {".tif", ".tiff"}
_PAGE_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
#: ``<household>_<volume>``; whether the first part is a household number is the profile's call.
_VOLUME_RE = re.compile(r"(?P<household>.+)_(?P<volume>\d{1,3})")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")

HIDDEN = N_("not a scan file (hidden or system file)")
PERMISSION_DENIED = N_("cannot be read (permission denied)")
LINK_OUTSIDE = N_("symbolic link leading outside the delivery")
LINK_TO_FOLDER = N_("symbolic link to a folder, not followed")
LINK_BROKEN = N_("broken symbolic link")
NOT_REGULAR = N_("not a regular file (device, pipe or socket)")
NOT_DELIVERED = N_("listed in manifest, not delivered")
NOT_LISTED = N_("delivered, not listed in manifest")
CHECKSUM_DIFFERS = N_("checksum differs from manifest")


@dataclass(frozen=True)
class InputItem:
    """One input of a delivery: a file, or a folder of single-page images."""

    #: POSIX path relative to the delivery root; an image folder is its folder's path
    #: (``.`` for loose images in the root).
    relpath: str
    path: Path
    #: ``pdf``, ``tiff``, ``image-folder``, ``household-pdf`` or ``unknown``.
    format: str
    household: str | None
    volume: int | None
    #: Of the file; of an image folder: over ``b"<name>\\0<sha256 of file>\\n"`` per page in
    #: page order. None if it could not be read.
    sha256: str | None
    size: int
    #: Why it is set aside without being read; None = to be read.
    problem: str | None
    #: An image folder's page files, in page order.
    files: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeliveryProblem:
    """A finding about the delivery as a whole, mostly from reconciling the manifest."""

    file: str
    problem: str

    def to_dict(self) -> dict[str, str]:
        return {"file": self.file, "problem": self.problem}


@dataclass
class DeliveryScan:
    root: Path
    items: list[InputItem]
    problems: list[DeliveryProblem]
    #: relpath -> pages declared in the manifest's optional ``pages`` column. An image folder
    #: gets the sum over its page files when the manifest gives pages for each of them.
    manifest_pages: dict[str, int]
    has_manifest: bool
    #: relpath -> when and on what it was scanned, from the manifest's optional ``scanned_at``
    #: (YYYY-MM-DD) and ``scanner`` columns; an image folder: its earliest page file's date.
    #: A mail delivery's manifest also has ``received_at``: the date on a letter's receipt
    #: stamp (CONTRACT §11).
    manifest_capture: dict[str, Capture] = field(default_factory=dict)


@dataclass(frozen=True)
class Capture:
    scanned_at: str | None = None
    scanner: str | None = None
    received_at: str | None = None


def scan_delivery(root: Path, is_household: Callable[[str], bool]) -> DeliveryScan:
    """List a delivery's inputs and reconcile them with its manifest, if it has one.

    Raises :class:`InputError` if the folder is missing, not a folder, unreadable, or holds
    no scan file at all (a PDF, TIFF, PNG or JPEG, readable or not): such a folder is not a
    delivery, and ingesting it would only set every file in it aside.
    """
    root = Path(os.path.abspath(root))
    if not os.path.lexists(root):
        raise InputError(
            f"{root}: no such folder", "check the path to the folder the scanning service delivered"
        )
    if not root.is_dir():
        raise InputError(
            f"{root}: not a folder",
            "name the delivery folder itself, not a file in it",
        )
    walker = _Walker(root, is_household)
    try:
        walker.walk_root()
    except PermissionError as exc:
        raise InputError(
            f"{root}: the folder cannot be read (permission denied)",
            "make the delivery folder readable for the user running esak",
        ) from exc
    except OSError as exc:
        raise InputError(
            f"{root}: the folder cannot be read ({exc.strerror or exc})",
            "check that the delivery folder (or the drive holding it) is available",
        ) from exc
    if not any(item.format != InputFormat.UNKNOWN for item in walker.items):
        others = sorted((item.relpath for item in walker.items), key=_path_key)
        what = (
            f" (only {len(others)} other file(s) or folder(s), e.g. {others[0]})" if others else ""
        )
        raise InputError(
            f"no scan files in {root}{what}",
            "a delivery holds PDF, TIFF, PNG or JPEG files (or folders of them): check that "
            "this is the right folder and that the transfer is complete",
        )

    problems: list[DeliveryProblem] = []
    manifest_pages: dict[str, int] = {}
    capture: dict[str, Capture] = {}
    if walker.manifest is not None:
        problems, manifest_pages, capture = _reconcile(walker)
    items = sorted(walker.items, key=lambda item: (_path_key(item.relpath), item.relpath))
    return DeliveryScan(
        root=root,
        items=items,
        problems=problems,
        manifest_pages=manifest_pages,
        has_manifest=walker.manifest is not None,
        manifest_capture=capture,
    )


def letter_items(scan: DeliveryScan) -> DeliveryScan:
    """The delivery as the incoming mail reads it: each page image of a folder is a letter,
    an input of its own, not a page of the folder's batch (a mail delivery holds one file
    per letter, CONTRACT §11). A folder set aside whole stays so."""
    items: list[InputItem] = []
    for item in scan.items:
        if item.format != InputFormat.IMAGE_FOLDER or item.problem:
            items.append(item)
            continue
        for name in item.files:
            shown = display_name(name)
            relpath = shown if item.relpath == "." else f"{item.relpath}/{shown}"
            items.append(_page_image_item(item.path / name, relpath))
    items.sort(key=lambda item: (_path_key(item.relpath), item.relpath))
    return DeliveryScan(scan.root, items, scan.problems, scan.manifest_pages, scan.has_manifest,
                        scan.manifest_capture)  # fmt: skip


def _page_image_item(path: Path, relpath: str) -> InputItem:
    sha, size, problem = _read(str(path))
    fmt = InputFormat.TIFF if path.suffix.lower() in _TIFF_SUFFIXES else InputFormat.IMAGE
    return InputItem(relpath, path, fmt, None, None, sha, size, problem)


def find_item(
    root: Path, relpath: str, is_household: Callable[[str], bool], single_images: bool = False
) -> InputItem | None:
    """One input of a delivery as :func:`scan_delivery` lists it (same format, page files and
    sha256), or None when it is no longer there; with ``single_images``, a page image on its
    own too, as :func:`letter_items` lists it.

    Reads only that input, so that looking at a few pages of a delivery costs their file,
    not a hash of the whole delivery. A name shown with ``\\xNN`` escapes (not UTF-8) cannot
    be turned back into a path: then the whole delivery is scanned.
    """
    root = Path(os.path.abspath(root))
    if not root.is_dir():
        return None
    if relpath == "." or "\\x" in relpath:
        try:
            items = scan_delivery(root, is_household).items
        except InputError:
            return None
        return next((i for i in items if i.relpath == relpath), None)
    walker = _Walker(root, is_household)
    walker.root_real = os.path.realpath(root)
    path = root / relpath
    if os.path.islink(path) and not walker._inside(os.path.realpath(path)):
        return None  # ingest never reads what a link outside the delivery points at
    if path.is_dir():
        walker._walk(str(path), relpath)
    elif path.is_file():
        walker._classify(str(path), relpath, [])
    found = next((i for i in walker.items if i.relpath == relpath and not i.problem), None)
    image = path.suffix.lower() in _TIFF_SUFFIXES | _PAGE_IMAGE_SUFFIXES
    if found is None and single_images and image and path.is_file():
        found = _page_image_item(path, relpath)
        return None if found.problem else found
    return found


def _path_key(relpath: str) -> list[list[object]]:
    # Per path segment, so that 'box2/…' sorts before 'box10/…' and '/' has no odd weight.
    return [natural_key(part) for part in relpath.split("/")]


def _nfc(text: str) -> str:
    # Deliveries made on a Mac spell 'ü' as 'u' + combining diaeresis (NFD); Windows-made
    # manifests as one character (NFC). Both name the same file.
    return unicodedata.normalize("NFC", text)


@dataclass
class _Page:
    name: str
    sha256: str | None
    size: int
    problem: str | None


@dataclass
class _Delivered:
    relpath: str
    sha256: str | None


@dataclass
class _Walker:
    root: Path
    is_household: Callable[[str], bool]
    root_real: str = ""
    items: list[InputItem] = field(default_factory=list)
    #: Every delivered file (each page of an image folder too), keyed by its NFC relpath.
    delivered: dict[str, _Delivered] = field(default_factory=dict)
    #: Folders we walked, keyed by NFC relpath.
    folders: set[str] = field(default_factory=set)
    #: Folders whose content we did not list (hidden or unreadable), keyed by NFC relpath.
    opaque: set[str] = field(default_factory=set)
    #: Image folders: NFC relpath of the folder -> NFC relpaths of its pages.
    image_folders: dict[str, tuple[str, list[str]]] = field(default_factory=dict)
    manifest: Path | None = None

    def walk_root(self) -> None:
        self.root_real = os.path.realpath(self.root)
        # The root's own errors must reach the caller; below it, they become items.
        with os.scandir(self.root) as it:
            entries = list(it)
        self._walk_entries(entries, "", str(self.root))

    def _walk(self, folder: str, rel: str) -> None:
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except PermissionError:
            self._set_aside(rel, PERMISSION_DENIED, folder=True, path=folder)
            return
        except OSError as exc:
            self._set_aside(
                rel, f"cannot be read ({exc.strerror or exc})", folder=True, path=folder
            )
            return
        self._walk_entries(entries, rel, folder)

    def _walk_entries(self, entries: list[os.DirEntry[str]], rel: str, folder: str) -> None:
        # ``rel`` and the relpaths are names for reports and the index: a name that is not
        # UTF-8 appears with \xNN escapes. Files are always opened by their real path.
        pages: list[_Page] = []
        if not rel:
            self.manifest = _find_manifest(entries)
        for entry in entries:
            if self.manifest is not None and entry.path == str(self.manifest):
                continue
            name = display_name(entry.name)
            relpath = f"{rel}/{name}" if rel else name
            self._entry(entry, relpath, pages)
        if pages:
            self._image_folder(rel or ".", pages, folder)

    def _entry(self, entry: os.DirEntry[str], relpath: str, pages: list[_Page]) -> None:
        name = entry.name
        if name.startswith(".") or name.lower() in _SYSTEM_FILES:
            if entry.is_dir(follow_symlinks=False):
                self._set_aside(relpath, HIDDEN, folder=True, path=entry.path)
            elif entry.is_file(follow_symlinks=False):
                # Hashed all the same: a junk file the manifest lists is still checked.
                self._file(entry.path, relpath, InputFormat.UNKNOWN, problem=HIDDEN)
            else:
                self._set_aside(relpath, HIDDEN, path=entry.path)
            return
        if entry.is_symlink():
            target = os.path.realpath(entry.path)
            if not self._inside(target):
                # Never read: the link could expose anything on the machine to the archive.
                self._set_aside(relpath, LINK_OUTSIDE, path=entry.path)
                return
            if not os.path.exists(target):
                self._set_aside(relpath, LINK_BROKEN, path=entry.path)
                return
            if os.path.isdir(target):
                # Following it would list the same pages twice, or loop forever.
                self._set_aside(relpath, LINK_TO_FOLDER, path=entry.path)
                return
            if not os.path.isfile(target):
                self._set_aside(relpath, NOT_REGULAR, path=entry.path)
                return
            # A link to a file in the delivery reads as that file; a second copy of the same
            # content is caught later by its hash.
            self._classify(entry.path, relpath, pages)
            return
        if entry.is_dir(follow_symlinks=False):
            self.folders.add(_nfc(relpath))
            self._walk(entry.path, relpath)
            return
        if not entry.is_file(follow_symlinks=False):
            # Reading a named pipe would block for ever.
            self._set_aside(relpath, NOT_REGULAR, path=entry.path)
            return
        self._classify(entry.path, relpath, pages)

    def _inside(self, target: str) -> bool:
        return target == self.root_real or target.startswith(self.root_real.rstrip(os.sep) + os.sep)

    def _classify(self, path: str, relpath: str, pages: list[_Page]) -> None:
        name = os.path.basename(path)
        suffix = os.path.splitext(name)[1].lower()
        if suffix in _PDF_SUFFIXES:
            household, volume = self._household_of(name[: -len(suffix)])
            self._file(
                path,
                relpath,
                InputFormat.HOUSEHOLD_PDF if household else InputFormat.PDF,
                household=household,
                volume=volume,
            )
        elif suffix in _TIFF_SUFFIXES:
            sha, size, problem = _read(path)
            # A single-page TIFF is a page of its folder's batch; anything else (several
            # pages, damaged, not a TIFF at all) is its own input, for the reader to judge.
            if problem is None and _tiff_frames(Path(path)) == 1:
                pages.append(_Page(name, sha, size, None))
            else:
                self._add_file(relpath, path, InputFormat.TIFF, sha, size, problem)
        elif suffix in _PAGE_IMAGE_SUFFIXES:
            sha, size, problem = _read(path)
            pages.append(_Page(name, sha, size, problem))
        else:
            self._file(
                path,
                relpath,
                InputFormat.UNKNOWN,
                problem=f"not a scan file ({suffix or 'no extension'})",
            )

    def _household_of(self, stem: str) -> tuple[str | None, int | None]:
        if self.is_household(stem):
            return stem, 1
        found = _VOLUME_RE.fullmatch(stem)
        if found and self.is_household(found["household"]):
            volume = int(found["volume"])
            if 1 <= volume <= 999:
                return found["household"], volume
        return None, None

    def _file(
        self,
        path: str,
        relpath: str,
        fmt: str,
        *,
        problem: str | None = None,
        household: str | None = None,
        volume: int | None = None,
    ) -> None:
        sha, size, read_problem = _read(path)
        self._add_file(relpath, path, fmt, sha, size, problem or read_problem, household, volume)

    def _add_file(
        self,
        relpath: str,
        path: str,
        fmt: str,
        sha: str | None,
        size: int,
        problem: str | None,
        household: str | None = None,
        volume: int | None = None,
    ) -> None:
        self.items.append(
            InputItem(
                relpath=relpath,
                path=Path(path),
                format=fmt,
                household=household,
                volume=volume,
                sha256=sha,
                size=size,
                problem=problem,
            )
        )
        self.delivered[_nfc(relpath)] = _Delivered(relpath, sha)

    def _set_aside(self, relpath: str, problem: str, *, path: str, folder: bool = False) -> None:
        """An entry that is not read at all: no hash, no size. ``path`` is the entry's own
        path (``relpath`` is for display and may carry escapes for names that are not UTF-8)."""
        self.items.append(
            InputItem(
                relpath=relpath,
                path=Path(path),
                format=InputFormat.UNKNOWN,
                household=None,
                volume=None,
                sha256=None,
                size=0,
                problem=problem,
            )
        )
        if folder:
            self.opaque.add(_nfc(relpath))
        else:
            self.delivered[_nfc(relpath)] = _Delivered(relpath, None)

    def _image_folder(self, rel: str, pages: list[_Page], folder: str) -> None:
        pages.sort(key=lambda p: (natural_key(p.name), p.name))
        digest = hashlib.sha256()
        for page in pages:
            if page.sha256 is not None:
                digest.update(os.fsencode(page.name) + b"\0" + page.sha256.encode("ascii") + b"\n")
        unreadable = [p for p in pages if p.problem]
        problem = None
        if unreadable:
            # One unreadable page spoils the batch: without it, cover sheets and page counts
            # of everything after it would be wrong.
            shown = ", ".join(display_name(p.name) for p in unreadable)
            problem = f"{unreadable[0].problem}: {shown}"
        self.items.append(
            InputItem(
                relpath=rel,
                path=Path(folder),
                format=InputFormat.IMAGE_FOLDER,
                household=None,
                volume=None,
                sha256=None if unreadable else digest.hexdigest(),
                size=sum(p.size for p in pages),
                problem=problem,
                files=tuple(p.name for p in pages),
            )
        )
        page_keys = []
        for page in pages:
            name = display_name(page.name)
            relpath = name if rel == "." else f"{rel}/{name}"
            self.delivered[_nfc(relpath)] = _Delivered(relpath, page.sha256)
            page_keys.append(_nfc(relpath))
        self.image_folders[_nfc(rel)] = (rel, page_keys)


def _find_manifest(entries: Iterable[os.DirEntry[str]]) -> Path | None:
    candidates = [e for e in entries if e.name.lower() == MANIFEST_NAME]
    # Windows does not tell 'Manifest.csv' from 'manifest.csv'; the exact name wins if both.
    candidates.sort(key=lambda e: e.name != MANIFEST_NAME)
    for entry in candidates:
        if entry.is_file(follow_symlinks=False):
            return Path(entry.path)
    return None


def _read(path: str) -> tuple[str | None, int, str | None]:
    """(sha256, size, problem) of a file; problem is None when it could be read."""
    try:
        size = os.stat(path).st_size
        return sha256_file(Path(path)), size, None
    except PermissionError:
        return None, 0, PERMISSION_DENIED
    except OSError as exc:
        return None, 0, f"cannot be read ({exc.strerror or exc})"


def _tiff_frames(path: Path) -> int | None:
    """Pages of a TIFF; None if it is not a TIFF or cannot be opened."""
    try:
        # Decided by the bytes: a PNG named .tif must not slip into a batch as a page.
        if sniff(path) != "tiff":
            return None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                return int(getattr(img, "n_frames", 1))
    # Pillow raises a zoo of exception types on damaged files; whatever it is, the reader
    # opens the file again later and reports it with a reason.
    except Exception:
        return None


# --- the manifest ------------------------------------------------------------------------


@dataclass
class _Row:
    line: int
    path: str
    sha256: str | None
    pages: int | None
    capture: Capture = Capture()


class _BadManifest(Exception):
    pass


def _reconcile(
    walker: _Walker,
) -> tuple[list[DeliveryProblem], dict[str, int], dict[str, Capture]]:
    assert walker.manifest is not None
    try:
        rows, row_problems = _parse_manifest(walker.manifest)
    except _BadManifest as exc:
        return [DeliveryProblem(MANIFEST_NAME, str(exc))], {}, {}

    manifest_nfc = _nfc(walker.manifest.name)
    by_casefold: dict[str, list[str]] = {}
    for key in walker.delivered:
        by_casefold.setdefault(key.casefold(), []).append(key)

    findings: list[DeliveryProblem] = []
    listed: set[str] = set()
    pages_by_key: dict[str, int] = {}
    manifest_pages: dict[str, int] = {}
    capture: dict[str, Capture] = {}
    by_key: dict[str, Capture] = {}
    for row in rows:
        if row.path == manifest_nfc:
            continue
        key = row.path
        if key not in walker.delivered:
            # Made on Windows, where 'Batch_1.PDF' and 'batch_1.pdf' are the same file.
            same = by_casefold.get(key.casefold(), [])
            if len(same) == 1:
                key = same[0]
        if key in walker.delivered:
            listed.add(key)
            found = walker.delivered[key]
            if row.capture != Capture():
                by_key[key] = row.capture
                capture[found.relpath] = row.capture
            if row.sha256 and found.sha256 and found.sha256 != row.sha256:
                findings.append(DeliveryProblem(found.relpath, CHECKSUM_DIFFERS))
            if row.pages is not None:
                pages_by_key[key] = row.pages
                manifest_pages[found.relpath] = row.pages
            continue
        if key in walker.folders:
            row_problems.append(
                DeliveryProblem(
                    MANIFEST_NAME, f"manifest row {row.line}: {row.path} is a folder, not a file"
                )
            )
            continue
        opaque = next((o for o in walker.opaque if key.startswith(o + "/")), None)
        if opaque is not None:
            findings.extend(_check_unlisted_folder(walker, row, opaque))
            continue
        findings.append(DeliveryProblem(row.path, NOT_DELIVERED))
        if row.pages is not None:
            manifest_pages[row.path] = row.pages

    for key, found in walker.delivered.items():
        if key not in listed:
            findings.append(DeliveryProblem(found.relpath, NOT_LISTED))

    for rel, page_keys in walker.image_folders.values():
        if page_keys and all(k in pages_by_key for k in page_keys):
            manifest_pages[rel] = sum(pages_by_key[k] for k in page_keys)
        given = [by_key[k] for k in page_keys if k in by_key]
        if given:
            dates = sorted(c.scanned_at for c in given if c.scanned_at)
            scanners = {c.scanner for c in given if c.scanner}
            received = sorted(c.received_at for c in given if c.received_at)
            capture[rel] = Capture(dates[0] if dates else None,
                                   scanners.pop() if len(scanners) == 1 else None,
                                   received[0] if received else None)  # fmt: skip

    findings.sort(key=lambda p: (_path_key(p.file), p.file, p.problem))
    return row_problems + findings, manifest_pages, capture


def _check_unlisted_folder(walker: _Walker, row: _Row, folder: str) -> list[DeliveryProblem]:
    """A manifest row inside a folder we did not list (hidden or unreadable)."""
    path = walker.root / row.path
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return [DeliveryProblem(row.path, NOT_DELIVERED)]
        sha = sha256_file(path)
    except FileNotFoundError:
        return [DeliveryProblem(row.path, NOT_DELIVERED)]
    except OSError:
        return [DeliveryProblem(row.path, f"listed in manifest, cannot be checked ({folder})")]
    if row.sha256 and sha != row.sha256:
        return [DeliveryProblem(row.path, CHECKSUM_DIFFERS)]
    return []


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        # What Excel writes on a German Windows when told "CSV".
        text = raw.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise _BadManifest("not a text file in UTF-8 or Windows-1252 encoding") from exc
    return text


def _parse_manifest(path: Path) -> tuple[list[_Row], list[DeliveryProblem]]:
    try:
        raw = path.read_bytes()
    except PermissionError as exc:
        raise _BadManifest(PERMISSION_DENIED) from exc
    except OSError as exc:
        raise _BadManifest(f"cannot be read ({exc.strerror or exc})") from exc
    text = _decode(raw)
    # A binary file decodes as Windows-1252 all too easily; text has no NUL bytes.
    if "\x00" in text:
        raise _BadManifest("not a text file in UTF-8 or Windows-1252 encoding")
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    if not first_line:
        raise _BadManifest("empty: no header row with the columns 'file' and 'sha256'")
    delimiter = ";" if ";" in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next((cells for cells in reader if any(c.strip() for c in cells)), None)
        if header is None:
            raise _BadManifest("empty: no header row with the columns 'file' and 'sha256'")
        columns = {name.strip().lower(): index for index, name in enumerate(header)}
        missing = [c for c in ("file", "sha256") if c not in columns]
        if missing:
            shown = delimiter.join(cell.strip() for cell in header)
            raise _BadManifest(
                f"the header row lacks the column(s) {', '.join(repr(c) for c in missing)} "
                f"(found: {shown!r})"
            )
        rows: list[_Row] = []
        problems: list[DeliveryProblem] = []
        first_row: dict[str, int] = {}
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            line = reader.line_num
            row = _parse_row(cells, columns, line, problems)
            if row is None:
                continue
            if row.path in first_row:
                problems.append(
                    DeliveryProblem(
                        MANIFEST_NAME,
                        f"manifest row {line}: {row.path} is listed again "
                        f"(first in row {first_row[row.path]})",
                    )
                )
                continue
            first_row[row.path] = line
            rows.append(row)
    except csv.Error as exc:
        raise _BadManifest(f"not a valid CSV file (line {reader.line_num}: {exc})") from exc
    return rows, problems


def _cell(cells: list[str], columns: dict[str, int], name: str) -> str:
    index = columns.get(name)
    if index is None or index >= len(cells):
        return ""
    return cells[index].strip()


def _parse_row(
    cells: list[str], columns: dict[str, int], line: int, problems: list[DeliveryProblem]
) -> _Row | None:
    def problem(what: str) -> None:
        problems.append(DeliveryProblem(MANIFEST_NAME, f"manifest row {line}: {what}"))

    raw_path = _cell(cells, columns, "file")
    if not raw_path:
        problem("no file name")
        return None
    rel = _clean_path(raw_path)
    if rel is None:
        problem("path leaves the delivery")
        return None
    if not rel:
        problem("no file name")
        return None

    sha: str | None = _cell(cells, columns, "sha256").lower()
    if not sha:
        problem(f"no checksum for {rel}")
        sha = None
    elif not _SHA256_RE.fullmatch(sha):
        problem(f"{sha!r} is not a SHA-256 checksum")
        sha = None

    pages: int | None = None
    raw_pages = _cell(cells, columns, "pages")
    if raw_pages:
        if raw_pages.isascii() and raw_pages.isdigit():
            pages = int(raw_pages)
        else:
            problem(f"pages {raw_pages!r} is not a whole number")
    scanned_at = _cell(cells, columns, "scanned_at") or None
    if scanned_at is not None:
        day = parse_day(scanned_at)
        if day is None:
            problem(f"scanned_at {scanned_at!r} is not a date (YYYY-MM-DD)")
        scanned_at = day
    scanner = " ".join(_cell(cells, columns, "scanner").split())[:200] or None
    received_at = _cell(cells, columns, "received_at") or None
    if received_at is not None:
        day = parse_day(received_at)
        if day is None:
            problem(f"received_at {received_at!r} is not a date (YYYY-MM-DD)")
        elif day > date.today().isoformat():
            problem(f"received_at {received_at!r} lies in the future")
            day = None
        received_at = day
    return _Row(line, rel, sha, pages, Capture(scanned_at, scanner, received_at))


def parse_day(text: str) -> str | None:
    """A calendar day as ISO ``YYYY-MM-DD`` (also read: ``DD.MM.YYYY``, as Excel writes it on
    a German Windows); None if ``text`` is none."""
    text = text.strip()
    for pattern, fmt in ((r"\d{4}-\d{2}-\d{2}", "%Y-%m-%d"), (r"\d{2}\.\d{2}\.\d{4}", "%d.%m.%Y")):
        if re.fullmatch(pattern, text):
            try:
                return datetime.strptime(text, fmt).date().isoformat()
            except ValueError:
                return None
    return None


def _clean_path(raw: str) -> str | None:
    """The manifest's path as an NFC POSIX relpath; None if it points outside the delivery."""
    path = raw.replace("\\", "/")
    # '/x', '//server/share/x' and 'C:/x' all name places outside the delivery.
    if path.startswith("/") or re.match(r"[A-Za-z]:", path):
        return None
    parts = [part for part in path.split("/") if part not in ("", ".")]
    if ".." in parts:
        return None
    return _nfc("/".join(parts))


def refuse_workspace_as_delivery(workspace_root: Path, delivery_dir: Path) -> None:
    """A delivery must not be the workspace, inside it or around it: esak would read its own
    archive as scans, and write into what must stay as it was delivered."""
    ws = Path(os.path.realpath(workspace_root))
    delivery = Path(os.path.realpath(delivery_dir))
    if delivery == ws or delivery.is_relative_to(ws):
        where = "is the workspace" if delivery == ws else f"is inside the workspace {ws}"
    elif ws.is_relative_to(delivery):
        where = f"holds the workspace {ws}"
    else:
        return
    raise InputError(
        f"the delivery folder {delivery} {where}",
        "name the folder the scanning service delivered; keep it outside the workspace "
        "(--workspace DIR or ESAK_WORKSPACE) and the workspace outside it",
    )


def check_scan_day(day: date | None) -> None:
    """A scan date given for a delivery may not lie ahead: the destruction clock runs from it."""
    if day is not None and day > date.today():
        raise UsageError(
            f"--scanned-on {day.isoformat()} lies in the future",
            "give the day the scanning service scanned the paper (YYYY-MM-DD)",
        )

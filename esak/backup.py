"""``esak backup``, ``esak backup verify`` and ``esak restore``: a copy of the workspace that
can be checked on its own and made into a workspace again.

A backup is a folder (the *place*)::

    index.sqlite      the index, copied with SQLite's online backup API: one consistent
                      snapshot even while an ingest commits (a WAL database is never copied
                      file by file); stored as a single file (journal mode DELETE)
    archive/...       the documents' PDFs and transfer notes the snapshot names, at the
                      paths the workspace archive has them
    checkpoint.json   a signed audit checkpoint (esak.verify.audit) of the snapshot's log:
                      its size and root, signed with the workspace's key
    audit-key.pem     that key (owner-only, as in the workspace): a restored workspace signs
                      on with the same key, and ``audit verify --checkpoint`` finds it
    backup.json       the manifest: every file above with sha256 and size, the audit size
                      and root, what the copy covers. Written last, atomically; while a backup
                      runs it says ``"state": "incomplete"``

Only files the snapshot names are copied: what an ingest has moved in but not committed is
not part of it. A file already in the place with the snapshot's size and sha256 is not copied
again (it is hashed to be sure); a file the snapshot no longer names (a withdrawn delivery)
leaves the copy. Every copied file is hashed as it is written and compared with the snapshot;
a file replaced meanwhile is copied once more, and if it still differs the backup fails.
Then the whole copy is verified (:func:`verify_backup`, every file re-read) and the backup
recorded in the index (table ``backups`` and the audit event ``backup_made``), verified only
when that check passed.

Everything in the place is owner-only (0600 files, 0700 folders): it holds social data.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import errno
import fcntl
import hashlib
import json
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import sqlite_utils

from esak import __version__
from esak.archive import journal_path, recover_journal
from esak.atomic import write_atomic
from esak.errors import (
    DiskFullError,
    EsakError,
    ExitCode,
    InputError,
    IntegrityError,
    LockedError,
    UsageError,
    WorkspaceError,
)
from esak.files import sha256_file
from esak.i18n import iso_now
from esak.index import merkle
from esak.index.audit import (
    DOCUMENT_ARCHIVED,
    DOCUMENT_PURGED,
    DOCUMENT_REPLACED,
    DOCUMENT_WITHDRAWN,
    ON_RECORD,
    append_audit,
    now,
    recorded_run,
)
from esak.index.db import Index, schema_version
from esak.index.transfer_notes import TRANSFER_NOTE
from esak.workspace import AUDIT_KEY, Workspace

#: The manifest's format; a reader refuses another.
FORMAT = "esak-backup/1"
MANIFEST = "backup.json"
INDEX_FILE = "index.sqlite"
CHECKPOINT_FILE = "checkpoint.json"
KEY_FILE = AUDIT_KEY
ARCHIVE = "archive"
#: Where :func:`restore_backup` puts the backup's checkpoint in the new workspace.
RESTORED_CHECKPOINT = "restored-checkpoint.json"
#: The audit event of a backup made (``ref`` is its ``backups`` row).
BACKUP_MADE = "backup_made"
#: Audit events that change what a backup holds (an archive file, or what the index records
#: of it); each names the file's archive path, which begins with its site's key.
CONTENT_KINDS = frozenset(
    {
        DOCUMENT_ARCHIVED,
        DOCUMENT_REPLACED,
        DOCUMENT_WITHDRAWN,
        DOCUMENT_PURGED,
        TRANSFER_NOTE,
        ON_RECORD,
    }
)

#: The snapshot while it is made, in the place (renamed to index.sqlite when it is sound).
_PARTIAL_INDEX = ".index.sqlite.partial"
#: A file being copied into the place: ``.<name>`` + this, beside its final name.
_PARTIAL = ".esak-partial"
_CHUNK = 1 << 20
_SIDECARS = ("-journal", "-wal", "-shm")
_STATE_COMPLETE = "complete"
_STATE_INCOMPLETE = "incomplete"

_AGAIN = "run the backup again"
_AGAIN_REMEDY = (
    f"{_AGAIN}; if the same file fails again, run `esak verify --site SITE --level valid`: "
    "the archived file may have been changed behind esak's back"
)


def _problem(path: str | None, code: str, detail: str) -> dict[str, Any]:
    """One finding: the file (relative to the place) or None, a stable code, an English text."""
    return {"path": path, "code": code, "detail": detail}


# --- results -------------------------------------------------------------------------------


@dataclass
class BackupCheck:
    """What :func:`verify_backup` found in a place."""

    place: Path
    created_at: str | None = None
    site: str | None = None
    sites: list[str] = field(default_factory=list)
    workspace: str | None = None
    documents: int = 0
    notes: int = 0
    #: every file of the manifest, re-read and hashed
    files_checked: int = 0
    bytes_checked: int = 0
    audit_size: int | None = None
    audit_root: str | None = None
    problems: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.intact else ExitCode.INTEGRITY

    def to_dict(self) -> dict[str, Any]:
        return {
            "place": str(self.place),
            "intact": self.intact,
            "created_at": self.created_at,
            "site": self.site,
            "sites": self.sites,
            "workspace": self.workspace,
            "documents": self.documents,
            "notes": self.notes,
            "files_checked": self.files_checked,
            "bytes_checked": self.bytes_checked,
            "audit": {"size": self.audit_size, "root": self.audit_root},
            "problems": self.problems,
            "seconds": round(self.seconds, 2),
        }


@dataclass
class BackupResult:
    """What :func:`backup` did; ``verified`` only when the copy passed :func:`verify_backup`."""

    place: Path
    site: str | None
    started_at: str
    finished_at: str = ""
    backup_id: int = 0
    run_id: int = 0
    documents: int = 0
    notes: int = 0
    #: archive files the copy holds (documents' PDFs and transfer notes)
    files: int = 0
    files_copied: int = 0
    bytes_copied: int = 0
    files_unchanged: int = 0
    #: files the copy held that the snapshot no longer names (they left it)
    files_removed: int = 0
    index_bytes: int = 0
    audit_size: int = 0
    audit_root: str = ""
    checkpoint_file: Path | None = None
    verified: bool = False
    #: files that could not be copied as the snapshot records them (the backup failed)
    problems: list[dict[str, Any]] = field(default_factory=list)
    remedy: str | None = None
    verification: BackupCheck | None = None
    #: things worth knowing that are no failure (English)
    messages: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.verified else ExitCode.INTEGRITY

    def to_dict(self) -> dict[str, Any]:
        return {
            "place": str(self.place),
            "site": self.site,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "backup_id": self.backup_id,
            "run_id": self.run_id,
            "verified": self.verified,
            "documents": self.documents,
            "notes": self.notes,
            "files": self.files,
            "files_copied": self.files_copied,
            "bytes_copied": self.bytes_copied,
            "files_unchanged": self.files_unchanged,
            "files_removed": self.files_removed,
            "index_bytes": self.index_bytes,
            "audit": {
                "size": self.audit_size,
                "root": self.audit_root,
                "checkpoint": None if self.checkpoint_file is None else str(self.checkpoint_file),
            },
            "problems": self.problems,
            "remedy": self.remedy,
            "verification": None if self.verification is None else self.verification.to_dict(),
            "messages": self.messages,
            "seconds": round(self.seconds, 2),
        }


@dataclass
class RestoreResult:
    """Where :func:`restore_backup` put things."""

    place: Path
    workspace: Path
    index: Path
    archive: Path
    checkpoint: Path
    key_file: Path
    site: str | None
    sites: list[str]
    documents: int
    notes: int
    files: int
    bytes: int
    audit_size: int
    audit_root: str
    #: what to do next, and what the restored workspace lacks (English)
    messages: list[str] = field(default_factory=list)

    @property
    def partial(self) -> bool:
        """A backup of one site: the other sites' documents are in the index, not the archive."""
        return self.site is not None

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "place": str(self.place),
            "workspace": str(self.workspace),
            "index": str(self.index),
            "archive": str(self.archive),
            "checkpoint": str(self.checkpoint),
            "key_file": str(self.key_file),
            "site": self.site,
            "sites": self.sites,
            "partial": self.partial,
            "documents": self.documents,
            "notes": self.notes,
            "files": self.files,
            "bytes": self.bytes,
            "audit": {"size": self.audit_size, "root": self.audit_root},
            "messages": self.messages,
        }


class BackupDamagedError(IntegrityError):
    """A backup that failed :func:`verify_backup` (exit 10); ``check`` says what was found."""

    def __init__(self, message: str, remedy: str | None, check: BackupCheck) -> None:
        super().__init__(message, remedy)
        self.check = check


# --- the index's record of backups -----------------------------------------------------------


def latest_backup(index: Index, site: str | None) -> dict[str, Any] | None:
    """The newest verified backup that covers ``site`` (one of all sites covers every site;
    ``site`` None: only a backup of all sites), as its ``backups`` row; None if there is none."""
    sql = "SELECT * FROM backups WHERE verified = 1 AND (site IS NULL"
    args: list[Any] = []
    if site is not None:
        sql += " OR site = ?"
        args.append(site)
    sql += ") ORDER BY finished_at DESC, id DESC LIMIT 1"
    try:
        rows = list(index.db.query(sql, args))
    except sqlite3.OperationalError:  # an index from before schema 11: no backups yet
        return None
    return rows[0] if rows else None


def list_backups(index: Index, site: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Past backups, newest first: all, or those that cover ``site``."""
    sql = "SELECT * FROM backups"
    args: list[Any] = []
    if site is not None:
        sql += " WHERE site IS NULL OR site = ?"
        args.append(site)
    try:
        return list(index.db.query(sql + " ORDER BY id DESC LIMIT ?", [*args, limit]))
    except sqlite3.OperationalError:
        return []


def changes_since(index: Index, backup_row: dict[str, Any], site: str | None = None) -> int:
    """How many changes to the archive (documents archived, replaced, withdrawn or purged,
    transfer notes written) the index recorded after the snapshot of ``backup_row`` was
    taken, of ``site`` (None: of every site): 0 means the backup holds the archive as it is.

    Exact, by the audit log's sequence: a change that committed while the backup ran is
    after its snapshot, whatever time it carries. Runs, verifications, Klärfälle, QA and
    release decisions are not counted: they change no archived file."""
    kinds = sorted(CONTENT_KINDS)
    sql = (
        f"SELECT COUNT(*) FROM audit_log WHERE seq >= ? "
        f"AND kind IN ({', '.join('?' for _ in kinds)})"
    )
    args: list[Any] = [int(backup_row["audit_size"]), *kinds]
    if site is not None:
        escaped = site.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        sql += " AND json_extract(data, '$.path') LIKE ? ESCAPE '\\'"
        args.append(f"{escaped}/%")
    (count,) = index.db.execute(sql, args).fetchone()
    return int(count)


# --- making a backup -------------------------------------------------------------------------


@dataclass
class _Snapshot:
    """The index copied into the place (not yet under its final name) and what it names."""

    path: Path
    taken_at: str
    #: archive-relative path → (sha256, size), documents and notes of the covered sites
    files: dict[str, tuple[str, int]]
    documents: int
    notes: int
    sites: list[str]
    audit_size: int
    audit_root: str
    #: leaf hashes or gaps found wrong in the snapshot's audit log
    log_problems: int
    unsafe: list[str]


def backup(workspace: Workspace, to: Path, *, site: str | None = None) -> BackupResult:
    """Copy the index, the archive of ``site`` (None: every site), the transfer notes and a
    signed audit checkpoint into the place ``to``, verify the copy, record it in the index.

    Safe while an ingest runs: the index is one snapshot, and only the files it names are
    copied. ``to`` must be empty, or the place of an earlier backup (then only what changed
    is copied). Exit code of the result: 0 when the copy was verified, 10 when it was not.
    """
    started = time.monotonic()
    site_key = _site_key(site)
    workspace.existing()
    workspace.check_writable()
    place = _prepare_place(workspace, Path(to))
    with (
        Index.open_existing(workspace.index_path, workspace.access) as index,
        _holding(place, exclusive=True),
    ):
        messages = _recover_if_idle(workspace, index)
        started_at = now()
        snap = _snapshot(index, place, site_key)
        try:
            result = BackupResult(place, site_key, started_at, messages=messages)
            options = {"to": str(place)}
            with recorded_run(index, "backup", site_key, options) as run:
                result.run_id = run.id
                _make(workspace, index, place, snap, result)
                result.finished_at = now()
                _record(index, result)
                run.finish(result.exit_code)
        finally:
            snap.path.unlink(missing_ok=True)
    result.seconds = time.monotonic() - started
    return result


def _site_key(site: str | None) -> str | None:
    if site is None:
        return None
    from esak.profiles import load_profile

    return load_profile(site).key


def _prepare_place(workspace: Workspace, place: Path) -> Path:
    """The place as an absolute path, created (owner-only) if new; refused if it is inside
    the workspace (or holds it), or a folder with other things than an esak backup."""
    place = place.expanduser().absolute()
    root = workspace.root.resolve()
    where = place.resolve()
    if where.is_relative_to(root) or root.is_relative_to(where):
        raise UsageError(
            f"the backup place {place} is inside the workspace {workspace.root} (or holds "
            "it): a backup there is lost with the workspace",
            "choose a folder on another disk, e.g. --to /mnt/backup/esak",
        )
    if place.is_symlink() or (place.exists() and not place.is_dir()):
        raise UsageError(f"the backup place {place} is not a folder", "choose a folder")
    if not place.exists():
        try:
            os.makedirs(place, mode=0o700)
        except OSError as exc:
            raise InputError(
                f"cannot create the backup place {place}: {exc.strerror}",
                "choose a folder you may write to, on a disk that is mounted",
            ) from exc
        return place
    if not os.access(place, os.W_OK | os.X_OK):
        raise InputError(
            f"you may not write to the backup place {place}",
            "choose a folder you may write to, or run the backup as its owner",
        )
    try:
        names = os.listdir(place)
    except OSError as exc:
        raise InputError(f"cannot read the backup place {place}: {exc.strerror}") from exc
    if names and _manifest_format(place) != FORMAT:
        raise UsageError(
            f"the folder {place} is not empty and holds no esak backup ({MANIFEST} missing): "
            "a backup removes what does not belong to it, so it never writes there",
            "choose an empty folder, or the folder of an earlier esak backup",
        )
    return place


def _manifest_format(place: Path) -> str | None:
    try:
        doc = json.loads((place / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc.get("format") if isinstance(doc, dict) else None


@contextlib.contextmanager
def _holding(place: Path, *, exclusive: bool) -> Iterator[None]:
    """flock on the place's folder: one backup writes to a place at a time, and a restore
    does not read one being written. A file system without flock is used without it."""
    fd = os.open(place, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(
                f"another esak backup is writing to {place}",
                "wait for it to finish, then run the command again",
            ) from None
        except OSError:
            pass  # e.g. a network file system without flock
        yield
    finally:
        os.close(fd)


def _recover_if_idle(workspace: Workspace, index: Index) -> list[str]:
    """A killed ingest or ``blanks keep`` left the archive ahead of the index: put it back, if
    no run holds the workspace (a running one's journal is its own)."""
    from esak.migrate.keep import keep_pending, recover_keep

    if not (keep_pending(workspace) or journal_path(workspace).exists()):
        return []
    messages: list[str] = []
    try:
        with workspace.lock():
            recover_keep(workspace, index)
            if removed := recover_journal(workspace, index):
                messages.append(
                    f"removed {len(removed)} archive file(s) a killed run left uncommitted"
                )
    except LockedError:
        pass
    return messages


def _snapshot(index: Index, place: Path, site: str | None) -> _Snapshot:
    """The live index copied into the place in one step of SQLite's backup API (a
    consistent snapshot, whatever commits meanwhile), and what it names."""
    path = place / _PARTIAL_INDEX
    for name in (path, *(Path(f"{path}{s}") for s in _SIDECARS)):
        name.unlink(missing_ok=True)
    taken_at = now()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.close(fd)
        dest = sqlite3.connect(str(path), isolation_level=None)
    except OSError as exc:
        raise _place_error(exc, place) from exc
    try:
        try:
            index.db.conn.backup(dest)  # pages=-1: all in one step, one read transaction
            dest.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        except sqlite3.Error as exc:
            if (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF == 13:  # SQLITE_FULL
                raise DiskFullError(
                    f"the disk holding the backup place {place} is full",
                    f"free space or choose another place, then {_AGAIN}",
                ) from exc
            raise InputError(
                f"cannot copy the index into {place}: {exc}", f"check the place, then {_AGAIN}"
            ) from exc
        files, documents, notes, sites, unsafe = _named_files(dest, site)
        snapshot = Index(sqlite_utils.Database(dest), path, read_only=True)
        from esak.verify.audit import read_log

        events, problems = read_log(snapshot)
    finally:
        dest.close()
    hashes = [e.leaf for e in events]
    return _Snapshot(
        path,
        taken_at,
        files,
        documents,
        notes,
        sites,
        len(hashes),
        merkle.root(hashes).hex(),
        len(problems),
        unsafe,
    )


def _named_files(
    conn: sqlite3.Connection, site: str | None
) -> tuple[dict[str, tuple[str, int]], int, int, list[str], list[str]]:
    """The archive files an index names for ``site`` (None: all): documents and their notes.
    Returns (files, documents, notes, sites, unsafe paths)."""
    kept = []
    if any(r[1] == "purge_id" for r in conn.execute("PRAGMA table_info(documents)")):
        kept = ["d.purge_id IS NULL"]  # purged after the handover: no file any more
    clauses = (["d.site = ?"] if site is not None else []) + kept
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    args = [site] if site is not None else []
    docs = conn.execute(
        f"SELECT d.path, d.sha256, d.size, d.site FROM documents d {where} ORDER BY d.path", args
    ).fetchall()
    notes = conn.execute(
        "SELECT n.path, n.sha256, n.size FROM transfer_notes n "
        f"JOIN documents d ON d.id = n.document_id {where} ORDER BY n.path",
        args,
    ).fetchall()
    files: dict[str, tuple[str, int]] = {}
    unsafe: list[str] = []
    for path, sha256, size, *_ in [*docs, *notes]:
        if not _safe(path):
            unsafe.append(str(path))
            continue
        files[path] = (str(sha256), int(size))
    sites = sorted({d[3] for d in docs} | ({site} if site else set()))
    return files, len(docs), len(notes), sites, unsafe


def _safe(rel: Any) -> bool:
    """An archive-relative path that stays inside the archive: no absolute path, no ``..``."""
    if not isinstance(rel, str) or not rel or "\x00" in rel or "\\" in rel:
        return False
    return all(part not in ("", ".", "..") for part in rel.split("/"))


def _place_error(exc: OSError, place: Path) -> EsakError:
    if exc.errno == errno.ENOSPC:
        return DiskFullError(
            f"the disk holding the backup place {place} is full",
            f"free space or choose another place, then {_AGAIN}",
        )
    return InputError(
        f"cannot write to the backup place {place}: {exc.strerror} ({exc.filename})",
        f"check that the place is mounted and yours to write, then {_AGAIN}",
    )


def _make(
    workspace: Workspace, index: Index, place: Path, snap: _Snapshot, result: BackupResult
) -> None:
    """Everything after the snapshot: the files, the checkpoint, the manifest, the check."""
    if snap.log_problems:
        raise IntegrityError(
            f"the audit log is damaged ({snap.log_problems} problem(s)): a backup would carry a "
            "checkpoint that vouches for it; the place was left as it was",
            "see what changed: esak audit verify",
        )
    if snap.unsafe:
        raise IntegrityError(
            f"the index names {len(snap.unsafe)} archive file(s) outside the archive, e.g. "
            f"{snap.unsafe[0]!r}: the index was changed behind esak's back",
            "see what changed: esak audit verify",
        )
    result.documents, result.notes, result.files = snap.documents, snap.notes, len(snap.files)
    result.audit_size, result.audit_root = snap.audit_size, snap.audit_root
    checkpoint = _signed_checkpoint(workspace, snap.audit_size, snap.audit_root)
    key_bytes = (workspace.root / KEY_FILE).read_bytes()
    try:
        _write_json(
            place / MANIFEST,
            {
                "format": FORMAT,
                "state": _STATE_INCOMPLETE,
                "started_at": result.started_at,
                "workspace": str(workspace.root),
            },
        )
        index_file = place / INDEX_FILE
        for suffix in _SIDECARS:  # a stray journal would be applied to the new file
            Path(f"{index_file}{suffix}").unlink(missing_ok=True)
        os.replace(snap.path, index_file)
        result.index_bytes = index_file.stat().st_size
        _copy_archive(workspace, place, snap, result)
        result.files_removed = _prune(place / ARCHIVE, set(snap.files))
        if result.problems:
            result.remedy = _AGAIN_REMEDY
            return  # the manifest stays "incomplete": no one mistakes the copy for whole
        write_atomic(place / KEY_FILE, lambda fh: fh.write(key_bytes))
        _write_json(place / CHECKPOINT_FILE, checkpoint)
        result.checkpoint_file = place / CHECKPOINT_FILE
        manifest = _manifest(workspace, place, snap, result, checkpoint)
        _sync_all(place)  # the copies on disk before the manifest vouches for them
        _write_json(place / MANIFEST, manifest)
        _fsync_dir(place)
    except OSError as exc:
        raise _place_error(exc, place) from exc
    check = verify_backup(place)
    result.verification = check
    result.verified = check.intact
    if not check.intact:
        result.problems = list(check.problems)
        result.remedy = (
            f"{_AGAIN}; if the copy fails its check again, the backup disk may be failing: "
            "choose another place"
        )


def _signed_checkpoint(workspace: Workspace, size: int, root: str) -> dict[str, Any]:
    """An audit checkpoint (esak.verify.audit's format) of a log of ``size`` events with
    ``root``, signed with the workspace's key (made at first use)."""
    from cryptography.hazmat.primitives import serialization

    from esak.verify.audit import FORMAT as CHECKPOINT_FORMAT
    from esak.verify.audit import key_id, origin_of, signed_text, signing_key

    key, _ = signing_key(workspace)
    origin, at = origin_of(workspace), iso_now()
    public = key.public_key()
    return {
        "format": CHECKPOINT_FORMAT,
        "origin": origin,
        "size": size,
        "root": root,
        "time": at,
        "key_id": key_id(public),
        "public_key": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii"),
        "signature": base64.b64encode(key.sign(signed_text(origin, size, root, at))).decode(),
    }


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    text = json.dumps(doc, ensure_ascii=True, indent=2) + "\n"
    write_atomic(path, lambda fh: fh.write(text.encode("ascii")))


def _copy_archive(workspace: Workspace, place: Path, snap: _Snapshot, result: BackupResult) -> None:
    """Every file the snapshot names into ``place/archive``: kept if already there with its
    size and sha256, else copied (and hashed as written); a mismatch is copied once more."""
    target_root = place / ARCHIVE
    made: set[PurePosixPath] = set()
    for rel, (sha256, size) in sorted(snap.files.items()):
        target = target_root / rel
        if _already_there(target, sha256, size):
            result.files_unchanged += 1
            continue
        source = workspace.archive_dir / rel
        folder = PurePosixPath(rel).parent
        if folder not in made:
            _make_dirs(target_root, folder)
            made.add(folder)
        why = ""
        for _ in range(2):  # once more: the live file may have been replaced meanwhile
            why = _copy_one(source, target, sha256, size)
            if not why:
                break
        if why:
            result.problems.append(_problem(f"{ARCHIVE}/{rel}", "copy_differs", why))
            continue
        result.files_copied += 1
        result.bytes_copied += size


def _already_there(target: Path, sha256: str, size: int) -> bool:
    try:
        info = target.lstat()
    except FileNotFoundError:
        return False
    if not stat.S_ISREG(info.st_mode) or info.st_size != size:
        return False
    try:
        return sha256_file(target) == sha256
    except OSError:
        return False


def _copy_one(
    source: Path, target: Path, sha256: str, size: int, what: str = "the archived file"
) -> str:
    """Copy ``source`` to ``target`` through a partial file beside it; '' when the bytes
    written have the expected sha256 and size, else why not (the partial file removed).
    Errors writing the target are raised: they are the place's, not the file's.

    Not fsynced one by one (10,000 fsyncs cost more than the copying): the caller makes the
    file system durable once (:func:`_sync_all`) before it writes what vouches for them."""
    partial = target.with_name(f".{target.name}{_PARTIAL}")
    digest, written = hashlib.sha256(), 0
    try:
        src = os.open(source, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return f"{what} is gone (withdrawn or removed meanwhile?)"
    except OSError as exc:
        return f"{what} cannot be read: {exc.strerror}"
    unreadable: OSError | None = None
    try:
        with os.fdopen(src, "rb") as fin:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as fout:
                os.fchmod(fout.fileno(), 0o600)
                while True:
                    try:
                        chunk = fin.read(_CHUNK)
                    except OSError as exc:
                        unreadable = exc
                        break
                    if not chunk:
                        break
                    digest.update(chunk)
                    fout.write(chunk)
                    written += len(chunk)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    if unreadable is not None:
        partial.unlink(missing_ok=True)
        return f"{what} cannot be read: {unreadable.strerror}"
    actual = digest.hexdigest()
    if actual != sha256 or written != size:
        partial.unlink(missing_ok=True)
        return (
            f"{what} is not as recorded (sha256 {actual}, {written} bytes; recorded "
            f"{sha256}, {size} bytes): changed while it was copied, or changed behind esak's "
            "back"
        )
    os.replace(partial, target)
    return ""


def _make_dirs(top: Path, rel_dir: PurePosixPath) -> None:
    """``top/rel_dir`` as real folders (owner-only); a link or file in the way is replaced,
    so that no copy is ever written through a link out of the place."""
    here = top
    for part in ("", *rel_dir.parts):
        here = here / part if part else here
        try:
            info = here.lstat()
        except FileNotFoundError:
            here.mkdir(mode=0o700)
            continue
        if not stat.S_ISDIR(info.st_mode):
            here.unlink()
            here.mkdir(mode=0o700)


def _sync_all(path: Path) -> None:
    """Everything written to the file system holding ``path`` on disk (syncfs(2); sync(2)
    where there is no syncfs)."""
    import ctypes

    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if getattr(libc, "syncfs", None) is None or libc.syncfs(fd) != 0:
            os.sync()
    except OSError:
        os.sync()
    finally:
        os.close(fd)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _prune(top: Path, keep: set[str]) -> int:
    """Remove every entry under ``top`` that is not a file of ``keep`` (links never followed),
    then the folders left empty. Returns the files removed (partial copies not counted)."""
    if not top.is_dir() or top.is_symlink():
        return 0
    removed = 0

    def prune(folder: str, rel_dir: str) -> bool:
        nonlocal removed
        empty = True
        with os.scandir(folder) as entries:
            found = list(entries)
        for entry in found:
            rel = f"{rel_dir}{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                if prune(entry.path, f"{rel}/"):
                    with contextlib.suppress(OSError):
                        os.rmdir(entry.path)
                        continue
                empty = False
            elif rel in keep and entry.is_file(follow_symlinks=False):
                empty = False
            else:
                os.unlink(entry.path)
                removed += not entry.name.endswith(_PARTIAL)
        return empty

    prune(str(top), "")
    return removed


def _leaves(top: Path) -> Iterator[str]:
    """Every entry under ``top`` that is not a folder (files, links, anything else), by its
    path relative to ``top``; links are never followed."""
    stack = [(str(top), "")]
    while stack:
        folder, rel_dir = stack.pop()
        with os.scandir(folder) as entries:
            for entry in entries:
                rel = f"{rel_dir}{entry.name}"
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, f"{rel}/"))
                else:
                    yield rel


def _manifest(
    workspace: Workspace,
    place: Path,
    snap: _Snapshot,
    result: BackupResult,
    checkpoint: dict[str, Any],
) -> dict[str, Any]:
    files = [
        {"path": name, "sha256": sha256_file(place / name), "size": (place / name).stat().st_size}
        for name in (INDEX_FILE, CHECKPOINT_FILE, KEY_FILE)
    ]
    files += [
        {"path": f"{ARCHIVE}/{rel}", "sha256": sha256, "size": size}
        for rel, (sha256, size) in sorted(snap.files.items())
    ]
    return {
        "format": FORMAT,
        "state": _STATE_COMPLETE,
        "esak_version": __version__,
        "schema_version": schema_version(),
        "workspace": str(workspace.root),
        "read_group": workspace.access.group,
        "site": result.site,
        "sites": snap.sites,
        "started_at": result.started_at,
        "snapshot_at": snap.taken_at,
        "created_at": now(),
        "documents": snap.documents,
        "notes": snap.notes,
        "audit": {"size": snap.audit_size, "root": snap.audit_root, "key_id": checkpoint["key_id"]},
        "files": files,
    }


def _record(index: Index, result: BackupResult) -> None:
    """The backup's row and its audit event, in one transaction."""
    row = {
        "site": result.site,
        "place": str(result.place),
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "documents": result.documents,
        "files_copied": result.files_copied,
        "bytes_copied": result.bytes_copied,
        "audit_size": result.audit_size,
        "audit_root": result.audit_root,
        "verified": int(result.verified),
        "run_id": result.run_id,
    }
    with index.transaction() as db:
        result.backup_id = int(db["backups"].insert(row).last_pk)
        append_audit(db, BACKUP_MADE, ("backups", result.backup_id), row)


# --- checking a backup -----------------------------------------------------------------------


def verify_backup(place: Path) -> BackupCheck:
    """Check a backup on its own, no workspace needed: the manifest, every file's sha256,
    nothing in the copy that the manifest does not list, the index sound and agreeing with
    the manifest and with its audit log, the checkpoint signed and of that log.

    Exit code of the result: 0 intact, 10 on any difference (``problems``: path and what)."""
    started = time.monotonic()
    place = Path(place).expanduser().absolute()
    if not place.is_dir():
        raise InputError(
            f"there is no backup folder {place}", "give the folder `esak backup --to DIR` wrote"
        )
    check = BackupCheck(place)
    manifest = _read_manifest(place, check)
    if manifest is not None:
        listed = _check_files(place, manifest, check)
        _check_extras(place, listed, check)
        if INDEX_FILE in listed and not any(p["path"] == INDEX_FILE for p in check.problems):
            _check_index(place, manifest, listed, check)
    check.seconds = time.monotonic() - started
    return check


def _read_manifest(place: Path, check: BackupCheck) -> dict[str, Any] | None:
    """The manifest, checked for form; None (and a problem) if it cannot be used."""
    path = place / MANIFEST
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        check.problems.append(
            _problem(
                MANIFEST,
                "manifest_missing",
                f"there is no {MANIFEST}: this is not an esak backup, or one that did not finish",
            )
        )
        return None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        check.problems.append(
            _problem(MANIFEST, "manifest_unreadable", f"{MANIFEST} cannot be read as JSON: {exc}")
        )
        return None
    wrong: list[str] = []
    if not isinstance(doc, dict):
        wrong.append("it is not a JSON object")
    elif doc.get("format") != FORMAT:
        wrong.append(f"its format is {doc.get('format')!r}, not {FORMAT!r}")
    elif doc.get("state") != _STATE_COMPLETE:
        check.problems.append(
            _problem(
                MANIFEST,
                "backup_incomplete",
                f"the backup started at {doc.get('started_at')} did not finish",
            )
        )
        return None
    else:
        files = doc.get("files")
        if not isinstance(files, list):
            wrong.append("files is not a list")
        else:
            seen: set[str] = set()
            for n, entry in enumerate(files):
                if not (
                    isinstance(entry, dict)
                    and _safe(entry.get("path"))
                    and isinstance(entry.get("sha256"), str)
                    and isinstance(entry.get("size"), int)
                ):
                    wrong.append(f"file entry {n} is not a path with sha256 and size")
                elif entry["path"] in seen or entry["path"] == MANIFEST:
                    wrong.append(f"file entry {n} ({entry['path']}) is listed twice")
                else:
                    seen.add(entry["path"])
            if missing := [n for n in (INDEX_FILE, CHECKPOINT_FILE, KEY_FILE) if n not in seen]:
                wrong.append(f"it does not list {', '.join(missing)}")
        audit = doc.get("audit")
        if not (
            isinstance(audit, dict)
            and isinstance(audit.get("size"), int)
            and isinstance(audit.get("root"), str)
        ):
            wrong.append("audit is not a size and a root")
        if doc.get("site") is not None and not isinstance(doc.get("site"), str):
            wrong.append("site is not a text")
    if wrong:
        check.problems.append(
            _problem(
                MANIFEST,
                "manifest_malformed",
                f"{MANIFEST} is not a sound esak manifest: " + "; ".join(wrong[:5]),
            )
        )
        return None
    check.created_at = doc.get("created_at")
    check.site = doc.get("site")
    check.sites = [s for s in doc.get("sites") or [] if isinstance(s, str)]
    check.workspace = doc.get("workspace")
    check.audit_size, check.audit_root = doc["audit"]["size"], doc["audit"]["root"]
    return doc


def _check_files(
    place: Path, manifest: dict[str, Any], check: BackupCheck
) -> dict[str, tuple[str, int]]:
    """Every file the manifest lists: there, a plain file, its size and sha256."""
    listed: dict[str, tuple[str, int]] = {}
    for entry in manifest["files"]:
        rel, sha256, size = entry["path"], entry["sha256"], entry["size"]
        listed[rel] = (sha256, size)
        path = place / rel
        try:
            info = path.lstat()
        except FileNotFoundError:
            check.problems.append(_problem(rel, "missing", "the file is missing from the copy"))
            continue
        except OSError as exc:
            check.problems.append(_problem(rel, "unreadable", f"cannot be read: {exc.strerror}"))
            continue
        if not stat.S_ISREG(info.st_mode):
            check.problems.append(_problem(rel, "not_a_file", "not a plain file (a link?)"))
            continue
        check.files_checked += 1
        check.bytes_checked += info.st_size
        if info.st_size != size:
            check.problems.append(
                _problem(
                    rel, "changed", f"the file has {info.st_size} bytes, the manifest lists {size}"
                )
            )
            continue
        try:
            actual = sha256_file(path)
        except OSError as exc:
            check.problems.append(_problem(rel, "unreadable", f"cannot be read: {exc.strerror}"))
            continue
        if actual != sha256:
            check.problems.append(
                _problem(
                    rel,
                    "changed",
                    f"the file was changed (sha256 {actual}, the manifest lists {sha256})",
                )
            )
    return listed


def _check_extras(place: Path, listed: dict[str, tuple[str, int]], check: BackupCheck) -> None:
    """Anything in the place that the manifest does not list (links never followed)."""
    for rel in sorted(_leaves(place)):
        if rel != MANIFEST and rel not in listed:
            check.problems.append(
                _problem(rel, "extra", "the copy holds a file its manifest does not list")
            )


def _open_copy(path: Path) -> sqlite3.Connection:
    """The copied index, read-only and immutable: exactly the bytes that were hashed."""
    conn = sqlite3.connect(
        f"{path.absolute().as_uri()}?mode=ro&immutable=1", uri=True, isolation_level=None
    )
    conn.execute("PRAGMA query_only=ON")
    return conn


def _check_index(
    place: Path, manifest: dict[str, Any], listed: dict[str, tuple[str, int]], check: BackupCheck
) -> None:
    """The copied index: sound, naming exactly the archive files the manifest lists, its
    audit log intact, agreeing with its rows and with the checkpoint."""
    try:
        conn = _open_copy(place / INDEX_FILE)
    except sqlite3.Error as exc:
        check.problems.append(
            _problem(INDEX_FILE, "index_unreadable", f"the copied index cannot be opened: {exc}")
        )
        return
    try:
        try:
            found = [r[0] for r in conn.execute("PRAGMA integrity_check")]
            if found != ["ok"]:
                check.problems.append(
                    _problem(
                        INDEX_FILE,
                        "index_damaged",
                        f"the copied index fails SQLite's integrity check: {'; '.join(found[:3])}",
                    )
                )
                return
            files, check.documents, check.notes, _, unsafe = _named_files(conn, check.site)
            _compare_listing(files, unsafe, listed, manifest, check)
            _check_audit(place, conn, check)
        except sqlite3.Error as exc:
            check.problems.append(
                _problem(INDEX_FILE, "index_unreadable", f"the copied index cannot be read: {exc}")
            )
    finally:
        conn.close()


def _compare_listing(
    files: dict[str, tuple[str, int]],
    unsafe: list[str],
    listed: dict[str, tuple[str, int]],
    manifest: dict[str, Any],
    check: BackupCheck,
) -> None:
    for rel in unsafe:
        check.problems.append(
            _problem(
                INDEX_FILE,
                "path_outside",
                f"the copied index names a file outside the archive: {rel!r}",
            )
        )
    archived = {
        rel[len(ARCHIVE) + 1 :]: v for rel, v in listed.items() if rel.startswith(f"{ARCHIVE}/")
    }
    for rel, (sha256, size) in sorted(files.items()):
        entry = archived.get(rel)
        if entry is None:
            check.problems.append(
                _problem(
                    f"{ARCHIVE}/{rel}",
                    "not_in_manifest",
                    "the copied index names this file, the manifest does not list it",
                )
            )
        elif entry != (sha256, size):
            check.problems.append(
                _problem(
                    f"{ARCHIVE}/{rel}",
                    "manifest_differs",
                    f"the manifest lists sha256 {entry[0]} ({entry[1]} bytes), the copied index "
                    f"{sha256} ({size} bytes)",
                )
            )
    for rel in sorted(set(archived) - set(files)):
        check.problems.append(
            _problem(
                f"{ARCHIVE}/{rel}",
                "not_in_index",
                "the manifest lists this file, the copied index does not name it",
            )
        )
    for name, count in (("documents", check.documents), ("notes", check.notes)):
        if manifest.get(name) != count:
            check.problems.append(
                _problem(
                    MANIFEST,
                    "manifest_differs",
                    f"the manifest counts {manifest.get(name)} {name}, the copied index {count}",
                )
            )


def _check_audit(place: Path, conn: sqlite3.Connection, check: BackupCheck) -> None:
    """The copied index's audit log: intact, its rows as it recorded them, its size and root
    those of the manifest and of the checkpoint, which is validly signed with the backup's
    key."""
    from esak.verify.audit import _check_rows, _replay, read_log

    copy = Index(sqlite_utils.Database(conn), place / INDEX_FILE, read_only=True)
    events, problems = read_log(copy)
    rows, replayed = _replay(events)
    problems += replayed + _check_rows(copy, rows)
    for p in problems[:20]:
        check.problems.append(_problem(INDEX_FILE, f"audit_{p.code}", f"audit log: {p.text()}"))
    hashes = [e.leaf for e in events]
    size, root = len(hashes), merkle.root(hashes).hex()
    if (size, root) != (check.audit_size, check.audit_root):
        check.problems.append(
            _problem(
                MANIFEST,
                "audit_differs",
                f"the manifest lists an audit log of {check.audit_size} events with root "
                f"{check.audit_root}, the copied index has {size} events with root {root}",
            )
        )
    _check_checkpoint(place, size, root, check)


def _check_checkpoint(place: Path, size: int, root: str, check: BackupCheck) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from esak.verify.audit import key_id, load_checkpoint, signed_text

    try:
        doc = load_checkpoint(place / CHECKPOINT_FILE)
    except InputError as exc:
        check.problems.append(_problem(CHECKPOINT_FILE, "checkpoint_unreadable", exc.message))
        return
    valid = False
    public: Any = None
    try:
        public = serialization.load_pem_public_key(doc["public_key"].encode("ascii"))
        if isinstance(public, Ed25519PublicKey) and key_id(public) == doc["key_id"]:
            text = signed_text(doc["origin"], doc["size"], doc["root"], doc["time"])
            public.verify(base64.b64decode(doc["signature"], validate=True), text)
            valid = True
    except (InvalidSignature, ValueError, TypeError, binascii.Error, UnicodeEncodeError):
        valid = False
    if not valid:
        check.problems.append(
            _problem(
                CHECKPOINT_FILE,
                "checkpoint_signature",
                "the checkpoint's signature is not valid: it was changed, or esak did not make it",
            )
        )
    if (doc["size"], doc["root"]) != (size, root):
        check.problems.append(
            _problem(
                CHECKPOINT_FILE,
                "checkpoint_differs",
                f"the checkpoint is of a log of {doc['size']} events with root {doc['root']}, the "
                f"copied index's log has {size} events with root {root}",
            )
        )
    if valid:
        _check_key(place, doc["key_id"], check)


def _check_key(place: Path, signed_by: str, check: BackupCheck) -> None:
    """The key in the backup is the one that signed its checkpoint."""
    from cryptography.hazmat.primitives import serialization

    from esak.verify.audit import key_id

    try:
        key = serialization.load_pem_private_key((place / KEY_FILE).read_bytes(), password=None)
        ours = key_id(key.public_key())
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        check.problems.append(
            _problem(
                KEY_FILE, "key_unreadable", f"the signing key in the backup cannot be read: {exc}"
            )
        )
        return
    if ours != signed_by:
        check.problems.append(
            _problem(
                KEY_FILE,
                "key_differs",
                f"the checkpoint was signed with key {signed_by}, the backup holds key {ours}",
            )
        )


# --- restoring -------------------------------------------------------------------------------


def restore_backup(place: Path, to: Path) -> RestoreResult:
    """A new workspace at ``to`` from the backup at ``place``, checked first (a damaged one
    is refused with exit 10). ``to`` must not exist or be an empty folder (exit 2 otherwise).

    The workspace gets the index, the archive and the signing key as the backup holds them,
    owner-only, and the backup's checkpoint as ``restored-checkpoint.json``:
    ``esak audit verify --checkpoint WS/restored-checkpoint.json`` proves the restored log is
    the one that was backed up. A read group the workspace had is not restored (it may not
    exist on this machine): share it again."""
    place = Path(place).expanduser().absolute()
    target = Path(to).expanduser().absolute()
    _check_target(target, place)
    if not place.is_dir():
        raise InputError(
            f"there is no backup folder {place}", "give the folder `esak backup --to DIR` wrote"
        )
    with _holding(place, exclusive=False):
        check = verify_backup(place)
        if not check.intact:
            first = "; ".join(f"{p['path']}: {p['detail']}" for p in check.problems[:3])
            raise BackupDamagedError(
                f"the backup {place} is damaged ({len(check.problems)} problem(s)): {first}",
                "nothing was restored; restore from another backup, and see "
                f"`esak backup verify {place}`",
                check,
            )
        manifest = json.loads((place / MANIFEST).read_text(encoding="utf-8"))
        made_by = manifest.get("schema_version")
        if isinstance(made_by, int) and made_by > schema_version():
            raise WorkspaceError(
                f"the backup {place} was made by a newer esak ({manifest.get('esak_version')}, "
                f"index schema {made_by}; this esak knows up to schema {schema_version()})",
                "upgrade esak, then restore",
            )
        workspace = Workspace(target).ensure()
        copied, size = 0, 0
        try:
            for entry in manifest["files"]:
                rel = entry["path"]
                dest = target / (RESTORED_CHECKPOINT if rel == CHECKPOINT_FILE else rel)
                _make_dirs(target, PurePosixPath(rel).parent)
                why = _copy_one(
                    place / rel, dest, entry["sha256"], entry["size"], "the backup's file"
                )
                if why:
                    raise IntegrityError(
                        f"{rel} changed while it was restored: {why}",
                        f"delete {target} and restore again; check the backup: "
                        f"esak backup verify {place}",
                    )
                if rel.startswith(f"{ARCHIVE}/"):
                    copied += 1
                    size += entry["size"]
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise DiskFullError(
                    f"no space left to restore into {target}",
                    f"free space, delete {target}, then restore again",
                ) from exc
            raise WorkspaceError(
                f"cannot write the restored workspace {target}: {exc.strerror}",
                f"delete {target}, then restore into a folder you may write to",
            ) from exc
        _sync_all(target)
    result = RestoreResult(
        place=place,
        workspace=target,
        index=workspace.index_path,
        archive=workspace.archive_dir,
        checkpoint=target / RESTORED_CHECKPOINT,
        key_file=target / KEY_FILE,
        site=check.site,
        sites=check.sites,
        documents=check.documents,
        notes=check.notes,
        files=copied,
        bytes=size,
        audit_size=check.audit_size or 0,
        audit_root=check.audit_root or "",
    )
    result.messages.append(
        f"prove the restored audit log: esak --workspace {target} audit verify "
        f"--checkpoint {result.checkpoint}"
    )
    result.messages.append(
        f"prove the archive: esak --workspace {target} verify --all --level valid"
    )
    if check.site is not None:
        result.messages.append(
            f"this backup holds the archive of {check.site} only: the index names the other "
            "sites' documents, their files are not here (audit verify reports them missing)"
        )
    if manifest.get("read_group"):
        result.messages.append(
            f"the workspace was shared with the group {manifest['read_group']}; share it "
            f"again if that group should read it: esak --workspace {target} workspace share "
            f"--group {manifest['read_group']}"
        )
    return result


def _check_target(target: Path, place: Path) -> None:
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise UsageError(
            f"{target} exists and is not a folder", "restore into a new or empty folder"
        )
    if target.is_dir():
        try:
            empty = not any(os.scandir(target))
        except OSError as exc:
            raise UsageError(
                f"cannot read {target}: {exc.strerror}", "choose another folder"
            ) from exc
        if not empty:
            raise UsageError(
                f"{target} is not empty: a restore never writes over a workspace",
                "restore into a new or empty folder, then move it where it belongs",
            )
    resolved = target.resolve()
    where = place.resolve()
    if resolved.is_relative_to(where) or where.is_relative_to(resolved):
        raise UsageError(
            f"{target} is inside the backup {place} (or holds it)",
            "restore into a folder outside the backup",
        )

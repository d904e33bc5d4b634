"""``esak audit checkpoint`` and ``esak audit verify``: is the audit log as it was written?

The log is the index table ``audit_log`` (:mod:`esak.index.audit`), the leaves of an RFC 6962
Merkle tree. Verifying it

1. recomputes every event's leaf hash from its columns (an edited event is found) and checks
   that ``seq`` runs 0..n-1 without a gap (a removed event is found);
2. replays the events per row and compares what they say with the rows of ``runs``,
   ``documents`` and ``case_events`` as they are now (a row edited, removed or added behind
   esak's back is found);
3. re-hashes every archived file the latest document events name (a changed file is found);
4. with a checkpoint, checks its Ed25519 signature and proves with a consistency proof that
   the log of its size is a prefix of today's (a log rewritten from scratch is found).

A checkpoint is JSON: ``format``, ``origin`` ("esak <workspace path>"), ``size``, ``root``
(hex), ``time`` (ISO 8601 with offset), ``key_id`` (the first 16 hex digits of the SHA-256
of the raw 32-byte public key), ``public_key`` (PEM) and ``signature`` (base64), an Ed25519
signature over the UTF-8 text ``"<origin>\\n<size>\\n<root>\\n<time>\\n"``. The key pair is made
at first use, ``audit-key.pem`` in the workspace, owner-only. The checkpoint is kept outside
the workspace: whoever can change the workspace can change the log, but not the checkpoint.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esak.atomic import write_atomic
from esak.errors import ExitCode, InputError, IntegrityError, WorkspaceError
from esak.files import sha256_file
from esak.i18n import N_, iso_now, tr
from esak.index import merkle
from esak.index.audit import (
    AUDIT_TABLE,
    CREATING_KINDS,
    DOCUMENT_PURGED,
    DOCUMENT_WITHDRAWN,
    TRACKED,
    UPDATING_KINDS,
    leaf_hex,
)
from esak.index.db import Index
from esak.workspace import AUDIT_KEY, Workspace

#: The signing key in the workspace (owner-only; ``workspace share`` leaves it so).
KEY_FILE = AUDIT_KEY
FORMAT = "esak-audit-checkpoint/1"
_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass
class Problem:
    """One finding: a stable ``code``, an English sentence with placeholders, its values."""

    code: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)

    def text(self, translate: Any = None) -> str:
        template = translate(self.message) if translate else self.message
        return template.format(**{k: _shown(v) for k, v in self.params.items()})

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.text(), **self.params}


def _shown(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@dataclass
class AuditReport:
    size: int
    root: str
    problems: list[Problem] = field(default_factory=list)
    #: things worth knowing that are not tampering (English, translated where shown)
    notes: list[str] = field(default_factory=list)
    files_checked: int = 0
    checkpoint: dict[str, Any] | None = None

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.intact else ExitCode.INTEGRITY

    def to_dict(self) -> dict[str, Any]:
        return {
            "intact": self.intact,
            "size": self.size,
            "root": self.root,
            "problems": [p.to_dict() for p in self.problems],
            "files_checked": self.files_checked,
            "checkpoint": self.checkpoint,
            "notes": [tr(n) for n in self.notes],
        }


@dataclass
class Event:
    seq: int
    kind: str
    ref: str | None
    data: Any
    leaf: bytes


@dataclass
class _Row:
    """What the events say about one row: its fields, and whether it left on record."""

    fields: dict[str, Any]
    seq: int
    gone: bool = False
    file_gone: bool = False


# --- reading the log ----------------------------------------------------------------------


def read_log(index: Index) -> tuple[list[Event], list[Problem]]:
    """Every event in ``seq`` order, with the leaf hash recomputed from its columns."""
    events: list[Event] = []
    problems: list[Problem] = []
    expected = 0
    rows = index.db.execute(
        f"SELECT seq, at, kind, ref, data, leaf_hash FROM {AUDIT_TABLE} ORDER BY seq"
    )
    for seq, at, kind, ref, text, stored in rows:
        if seq != expected:
            problems.append(
                Problem("event_missing", N_("events {first} to {last} are missing from the log"),
                        {"first": expected, "last": seq - 1})
            )  # fmt: skip
        expected = seq + 1
        try:
            data = json.loads(text)
            leaf = bytes.fromhex(leaf_hex(seq, at, kind, ref, data))
        except (TypeError, ValueError):
            data, leaf = None, merkle.leaf_hash(str(text).encode("utf-8", "surrogatepass"))
            problems.append(
                Problem("event_malformed", N_("event {seq}: its data is not JSON"), {"seq": seq})
            )
            events.append(Event(seq, kind, ref, data, leaf))
            continue
        if stored != leaf.hex():
            problems.append(
                Problem("event_changed",
                        N_("event {seq} ({kind}) was changed after it was recorded"),
                        {"seq": seq, "kind": kind})
            )  # fmt: skip
        events.append(Event(seq, kind, ref, data, leaf))
    return events, problems


def _replay(events: list[Event]) -> tuple[dict[tuple[str, int], _Row], list[Problem]]:
    """What the log says each row is now."""
    rows: dict[tuple[str, int], _Row] = {}
    problems: list[Problem] = []
    for e in events:
        if e.ref is None or not isinstance(e.data, dict):
            continue
        table, _, ident = e.ref.partition(":")
        if not ident.isdigit():
            continue
        key = (table, int(ident))
        row = rows.get(key)
        if e.kind in CREATING_KINDS:
            if row is not None and not row.gone and table in TRACKED:
                problems.append(
                    Problem("row_recorded_again",
                            N_("{table} row {id} was recorded anew by event {seq}, but the log "
                               "never recorded that the row before it was removed"),
                            {"table": table, "id": key[1], "seq": e.seq})
                )  # fmt: skip
            rows[key] = _Row(dict(e.data), e.seq)
        elif e.kind in UPDATING_KINDS:
            if row is None:
                row = rows[key] = _Row({}, e.seq)
            row.fields.update(e.data)
        elif e.kind == DOCUMENT_WITHDRAWN and row is not None:
            row.gone = row.file_gone = True
        elif e.kind == DOCUMENT_PURGED and row is not None:
            row.file_gone = True
    return rows, problems


def _check_rows(index: Index, rows: dict[tuple[str, int], _Row]) -> list[Problem]:
    """The live rows of every tracked table against what the log says about them."""
    problems: list[Problem] = []
    for table, names in TRACKED.items():
        live = {r["id"]: r for r in index.db.query(f"SELECT id, {', '.join(names)} FROM {table}")}
        for (t, ident), logged in rows.items():
            if t != table:
                continue
            row = live.pop(ident, None)
            if logged.gone:
                continue
            if row is None:
                problems.append(
                    Problem("row_removed",
                            N_("{table} row {id} was removed, but the log never recorded that"),
                            {"table": table, "id": ident})
                )  # fmt: skip
                continue
            for name in names:
                was, now = logged.fields.get(name), row[name]
                if (name in logged.fields or now is not None) and was != now:
                    problems.append(
                        Problem("row_changed",
                                N_("{table} row {id}: {field} is {actual} in the index, the log "
                                   "recorded {logged}"),
                                {"table": table, "id": ident, "field": name, "actual": now,
                                 "logged": was})
                    )  # fmt: skip
        for ident in live:
            problems.append(
                Problem("row_not_logged", N_("{table} row {id} is not in the audit log"),
                        {"table": table, "id": ident})
            )  # fmt: skip
    return problems


def _check_files(archive: Path, rows: dict[tuple[str, int], _Row]) -> tuple[int, list[Problem]]:
    """Every archived file the log names, re-hashed against the sha256 it recorded."""
    checked, problems = 0, []
    top = archive.resolve()
    for (table, _), row in sorted(rows.items()):
        if table != "documents" or row.file_gone:
            continue
        path, logged = row.fields.get("path"), row.fields.get("sha256")
        if not isinstance(path, str) or not path:
            continue
        target = archive / path
        if not target.resolve().is_relative_to(top):
            problems.append(
                Problem("file_outside", N_("{path}: the log names a file outside the archive"),
                        {"path": path})
            )  # fmt: skip
            continue
        checked += 1
        try:
            actual = sha256_file(target)
        except FileNotFoundError:
            problems.append(
                Problem("file_missing", N_("{path}: the archived file is missing"), {"path": path})
            )
            continue
        except OSError as exc:
            problems.append(
                Problem("file_unreadable", N_("{path}: the archived file cannot be read ({why})"),
                        {"path": path, "why": exc.strerror or str(exc)})
            )  # fmt: skip
            continue
        if actual != logged:
            problems.append(
                Problem("file_changed",
                        N_("{path}: the archived file was changed (sha256 {actual}, the log "
                           "recorded {logged})"),
                        {"path": path, "actual": actual, "logged": logged})
            )  # fmt: skip
    return checked, problems


# --- checkpoints ---------------------------------------------------------------------------


def origin_of(workspace: Workspace) -> str:
    return f"esak {workspace.root}"


def signed_text(origin: str, size: int, root: str, time: str) -> bytes:
    """What a checkpoint's signature covers."""
    return f"{origin}\n{size}\n{root}\n{time}\n".encode("utf-8", "surrogateescape")


def key_id(public_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _public_pem(public_key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode("ascii")


def _load_key(workspace: Workspace, path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode):
            raise WorkspaceError(
                f"the signing key {path} is not a file",
                "move it out of the workspace; the next checkpoint makes a new key",
            )
        data = path.read_bytes()
    except PermissionError:
        raise WorkspaceError(
            f"you may not read the workspace's signing key {path}",
            f"run esak audit checkpoint as the workspace's owner ({workspace.owner})",
        ) from None
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise WorkspaceError(
            f"the signing key {path} may be read by others (mode {stat.S_IMODE(info.st_mode):04o})",
            f"make it owner-only (chmod 600 {path}); if someone else may have copied it, move "
            "it away instead: the next checkpoint makes a new key",
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise WorkspaceError(
            f"the signing key {path} is damaged ({exc})",
            "restore it from the workspace's backup, or move it away: the next checkpoint "
            "makes a new key (older checkpoints then show that the key changed)",
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise WorkspaceError(f"the signing key {path} is not an Ed25519 key", "move it away")
    return key


def signing_key(workspace: Workspace) -> tuple[Any, bool]:
    """The workspace's private key, made (owner-only) at first use: (key, made now)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    path = workspace.root / KEY_FILE
    if path.exists() or path.is_symlink():
        return _load_key(workspace, path), False
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{KEY_FILE}.", dir=workspace.root)
    except PermissionError:
        raise workspace.denied("write") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), 0o600)
            fh.write(pem)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)  # never over a key another run made meanwhile
        except FileExistsError:
            return _load_key(workspace, path), False
    finally:
        Path(tmp).unlink(missing_ok=True)
    return key, True


@dataclass
class CheckpointResult:
    file: Path
    checkpoint: dict[str, Any]
    key_file: Path
    key_created: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.file),
            "checkpoint": self.checkpoint,
            "key_file": str(self.key_file),
            "key_created": self.key_created,
        }


def _open(workspace: Workspace) -> Index:
    workspace.existing()
    if not workspace.index_path.is_file():
        raise WorkspaceError(
            f"there is no esak index in {workspace.root}",
            "point --workspace (or ESAK_WORKSPACE) at the workspace your ingest runs use",
        )
    return Index.open_readonly(workspace.index_path)


def checkpoint(workspace: Workspace, output: Path) -> CheckpointResult:
    """Sign the log's size and root now, into ``output``. Refused for a log that is already
    damaged (leaf hashes or a gap): a checkpoint must not vouch for it."""
    with _open(workspace) as index, workspace.reading_lock():
        events, problems = read_log(index)
    if problems:
        raise IntegrityError(
            f"the audit log is damaged ({len(problems)} problem(s)); a checkpoint would vouch "
            "for it",
            "see what changed: esak audit verify",
        )
    key, created = signing_key(workspace)
    hashes = [e.leaf for e in events]
    size, root, time = len(hashes), merkle.root(hashes).hex(), iso_now()
    origin = origin_of(workspace)
    signature = key.sign(signed_text(origin, size, root, time))
    doc = {
        "format": FORMAT,
        "origin": origin,
        "size": size,
        "root": root,
        "time": time,
        "key_id": key_id(key.public_key()),
        "public_key": _public_pem(key.public_key()),
        "signature": base64.b64encode(signature).decode("ascii"),
    }
    text = json.dumps(doc, ensure_ascii=True, indent=2) + "\n"
    write_atomic(output, lambda fh: fh.write(text.encode("ascii")))
    return CheckpointResult(output, doc, workspace.root / KEY_FILE, created)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint file, its fields checked for form (not yet for truth)."""
    remedy = "give the file that `esak audit checkpoint -o FILE` wrote"
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"there is no checkpoint {path}", remedy) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot read the checkpoint {path}: {exc}", remedy) from exc
    strings = ("origin", "root", "time", "key_id", "public_key", "signature")
    wrong = [] if isinstance(doc, dict) else ["the file is not a JSON object"]
    if not wrong:
        wrong += [f"{name} is not a text" for name in strings if not isinstance(doc.get(name), str)]
        size = doc.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            wrong.append("size is not a number of events")
        if isinstance(doc.get("root"), str) and not _HEX64.fullmatch(doc["root"]):
            wrong.append("root is not 64 hex digits")
    if wrong:
        raise InputError(f"{path} is not an esak audit checkpoint: {'; '.join(wrong)}", remedy)
    return doc


def _check_checkpoint(
    report: AuditReport, doc: dict[str, Any], hashes: list[bytes], workspace: Workspace
) -> dict[str, Any]:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    valid = False
    try:
        public = serialization.load_pem_public_key(doc["public_key"].encode("ascii"))
        if isinstance(public, Ed25519PublicKey) and key_id(public) == doc["key_id"]:
            signature = base64.b64decode(doc["signature"], validate=True)
            text = signed_text(doc["origin"], doc["size"], doc["root"], doc["time"])
            public.verify(signature, text)
            valid = True
    except (InvalidSignature, ValueError, TypeError, binascii.Error, UnicodeEncodeError):
        valid = False
    if not valid:
        report.problems.append(
            Problem("checkpoint_signature",
                    N_("the checkpoint's signature is not valid: the checkpoint was changed, "
                       "or esak did not make it"))
        )  # fmt: skip
    else:
        _compare_keys(report, public, doc["key_id"], workspace)
    if doc["origin"] != origin_of(workspace):
        report.notes.append(
            N_("the checkpoint names another workspace folder (moved or restored?)")
            + f": {doc['origin']}"
        )
    m, n = doc["size"], len(hashes)
    proof: list[bytes] = []
    consistent = False
    if m > n:
        report.problems.append(
            Problem("log_shorter",
                    N_("the checkpoint of {time} counts {size} events, the log now only "
                       "{current}: events were removed"),
                    {"time": doc["time"], "size": m, "current": n})
        )  # fmt: skip
    else:
        proof = merkle.consistency_proof(hashes, m)
        consistent = merkle.verify_consistency(
            m, n, bytes.fromhex(doc["root"]), merkle.root(hashes), proof
        )
        if not consistent:
            report.problems.append(
                Problem("log_rewritten",
                        N_("the log is not an extension of the checkpoint of {time} ({size} "
                           "events): events it held were changed, removed or rewritten"),
                        {"time": doc["time"], "size": m})
            )  # fmt: skip
    return {
        "size": m,
        "root": doc["root"],
        "time": doc["time"],
        "key_id": doc["key_id"],
        "signature_valid": valid,
        "consistent": consistent,
        "consistency_proof": [p.hex() for p in proof],
    }


def _compare_keys(report: AuditReport, public: Any, signed_by: str, workspace: Workspace) -> None:
    """The key that signed the checkpoint should still be the workspace's."""
    path = workspace.root / KEY_FILE
    if not path.exists() and not path.is_symlink():
        report.problems.append(
            Problem("signing_key_gone",
                    N_("the workspace's signing key {file}, which signed the checkpoint, is "
                       "gone"), {"file": str(path)})
        )  # fmt: skip
        return
    try:
        current = _load_key(workspace, path)
    except WorkspaceError as exc:
        report.notes.append(
            N_("the checkpoint's key was not compared with the workspace's") + f": {exc}"
        )
        return
    if key_id(current.public_key()) != signed_by:
        report.problems.append(
            Problem("signing_key_replaced",
                    N_("the checkpoint was signed with key {key_id}, but the workspace's key is "
                       "now {current}: the key was replaced"),
                    {"key_id": signed_by, "current": key_id(current.public_key())})
        )  # fmt: skip


# --- verifying -------------------------------------------------------------------------------


def verify_audit(workspace: Workspace, checkpoint_file: Path | None = None) -> AuditReport:
    """Everything the log vouches for, checked; with a checkpoint, that the log only grew."""
    doc = load_checkpoint(checkpoint_file) if checkpoint_file is not None else None
    workspace.existing()
    empty = not workspace.index_path.exists()
    with Index.open_readonly(workspace.index_path) as index, workspace.reading_lock():
        events, problems = read_log(index)
        rows, replayed = _replay(events)
        problems += replayed + _check_rows(index, rows)
        checked, found = _check_files(workspace.archive_dir, rows)
        problems += found
    hashes = [e.leaf for e in events]
    report = AuditReport(len(hashes), merkle.root(hashes).hex(), problems, files_checked=checked)
    if empty:
        report.notes.append(N_("the workspace is empty (no index): nothing to verify yet"))
    if doc is not None:
        report.checkpoint = {"file": str(checkpoint_file)}
        report.checkpoint |= _check_checkpoint(report, doc, hashes, workspace)
    return report

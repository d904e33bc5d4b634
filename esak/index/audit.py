"""The audit log: every run of a command that changes or proves the workspace, in the index.

Who (OS user), when, which command with which options, which esak, and how it ended. Rows
name sites and files, never a person: the options recorded are paths and numbers.

The tamper-evident part is the table ``audit_log``: one row per event (a run started or
finished, a document archived or replaced, a Klärfall event), appended by :func:`append_audit`
in the same transaction as the change it records. Row ``seq`` is leaf ``seq`` of an RFC 6962
Merkle tree (:mod:`esak.index.merkle`) whose leaf is the canonical JSON of the whole event
(seq, at, kind, ref, data): editing any column of an event changes its leaf, removing one
leaves a gap or a shorter tree, and a signed checkpoint of the tree's size and root
(``esak audit checkpoint``) proves later that the log only grew (``esak audit verify``).
"""

from __future__ import annotations

import contextlib
import getpass
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlite_utils

from esak import __version__
from esak.errors import EsakError, ExitCode
from esak.index import merkle
from esak.index.db import Index


def now() -> str:
    """The current time as the index stores it: UTC, ISO 8601, to the microsecond (what was
    verified or backed up "after the last change" must not tie with it within a second)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


# --- the tamper-evident log ----------------------------------------------------------------

#: The table of the log (CONTRACT §9: the audit log lives in tables whose names contain audit).
AUDIT_TABLE = "audit_log"

# The kinds of event. A kind that *creates* starts what the log knows about its row; one that
# updates changes some of its fields; ``document_withdrawn`` says the row and its file left
# the index on purpose, ``document_purged`` that only the file did (CONTRACT §13).
RUN_STARTED = "run_started"
RUN_FINISHED = "run_finished"
DOCUMENT_ARCHIVED = "document_archived"
DOCUMENT_REPLACED = "document_replaced"
DOCUMENT_WITHDRAWN = "document_withdrawn"
DOCUMENT_PURGED = "document_purged"
CASE_EVENT = "case_event"
#: A row the index held before it had this log (schema 7): recorded as it was then.
ON_RECORD = "on_record"

CREATING_KINDS = frozenset({RUN_STARTED, DOCUMENT_ARCHIVED, CASE_EVENT, ON_RECORD})
UPDATING_KINDS = frozenset({RUN_FINISHED, DOCUMENT_REPLACED})

# The columns an event copies from the row it is about; `esak audit verify` compares them with
# the row as it is now.
DOCUMENT_FIELDS = ("site", "household", "volume", "seq", "doc_type", "path", "pages", "size",
                   "sha256", "file_id", "created_at")  # fmt: skip
DOCUMENT_REPLACED_FIELDS = ("path", "pages", "size", "sha256")
RUN_STARTED_FIELDS = ("command", "site", "options", "os_user", "esak_version", "started_at")
RUN_FINISHED_FIELDS = ("finished_at", "outcome", "exit_code")
CASE_EVENT_FIELDS = ("case_id", "action", "by_name", "reason", "household", "volume",
                     "doc_type", "document_id", "run_id", "at")  # fmt: skip

#: Every column the log vouches for, by table: a row of these tables has its events.
TRACKED: dict[str, tuple[str, ...]] = {
    "runs": RUN_STARTED_FIELDS + RUN_FINISHED_FIELDS,
    "documents": DOCUMENT_FIELDS,
    "case_events": CASE_EVENT_FIELDS,
}


def canonical(value: Any) -> str:
    """The one JSON text of ``value``: sorted keys, no spaces, ASCII (a path with bytes that
    are not UTF-8 is escaped, not refused)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False)  # fmt: skip


def entry_bytes(seq: int, at: str, kind: str, ref: str | None, data: Any) -> bytes:
    """The leaf of event ``seq``: every column of its row but the hash, as canonical JSON."""
    return canonical({"seq": seq, "at": at, "kind": kind, "ref": ref, "data": data}).encode()


def leaf_hex(seq: int, at: str, kind: str, ref: str | None, data: Any) -> str:
    return merkle.leaf_hash(entry_bytes(seq, at, kind, ref, data)).hex()


def audit_fields(row: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: row.get(name) for name in names}


def append_audit(
    db: sqlite_utils.Database, kind: str, ref: tuple[str, int] | None, data: Mapping[str, Any]
) -> int:
    """Append one event to the log and return its ``seq``. Call it inside the transaction of
    the change it records (it refuses otherwise), after the row it names was written.

    ``ref``: the table and row id the event is about, e.g. ``("documents", 12)``; ``data``:
    what it says, JSON-able (for a row of :data:`TRACKED`, at least its columns there)."""
    conn = db.conn
    if not conn.in_transaction:
        raise RuntimeError("append_audit() belongs inside the transaction of the change")
    (seq,) = conn.execute(f"SELECT COALESCE(MAX(seq) + 1, 0) FROM {AUDIT_TABLE}").fetchone()
    text = canonical(dict(data))
    at, ref_text = now(), None if ref is None else f"{ref[0]}:{int(ref[1])}"
    conn.execute(
        f"INSERT INTO {AUDIT_TABLE} (seq, at, kind, ref, data, leaf_hash) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [seq, at, kind, ref_text, text, leaf_hex(seq, at, kind, ref_text, json.loads(text))],
    )
    return int(seq)


def record_existing(db: sqlite_utils.Database) -> int:
    """Every tracked row not in the log yet, as an ``on_record`` event (the index as it was
    when it got its log). Returns how many were recorded."""
    logged = {r[0] for r in db.execute(f"SELECT DISTINCT ref FROM {AUDIT_TABLE}")}
    count = 0
    for table, names in TRACKED.items():
        for row in db.query(f"SELECT * FROM {table} ORDER BY id"):
            if f"{table}:{row['id']}" not in logged:
                append_audit(db, ON_RECORD, (table, row["id"]), audit_fields(row, names))
                count += 1
    return count


@dataclass
class RunRecord:
    """An open row of the ``runs`` table; set ``outcome`` and ``exit_code`` before it closes."""

    id: int
    outcome: str = "ok"
    exit_code: int = 0

    def finish(self, code: ExitCode) -> None:
        """Record how the run ended, from its result's exit code."""
        self.outcome, self.exit_code = code.name.lower(), int(code)


@contextlib.contextmanager
def recorded_run(
    index: Index, command: str, site: str | None, options: dict[str, Any]
) -> Iterator[RunRecord]:
    """Record a run: its start now, its end (and how it ended) when the block leaves.

    An exception leaving the block is recorded with the exit code the CLI will give it, so the
    log says "stopped" or "disk-full" rather than nothing.
    """
    start = {
        "command": command,
        "site": site,
        # ASCII escapes: a path with non-UTF-8 bytes is stored, not refused.
        "options": json.dumps(options, ensure_ascii=True, sort_keys=True),
        "os_user": os_user(),
        "esak_version": __version__,
        "started_at": now(),
    }
    with index.transaction() as db:
        run_id = db["runs"].insert(start).last_pk
        append_audit(db, RUN_STARTED, ("runs", run_id), audit_fields(start, RUN_STARTED_FIELDS))
    record = RunRecord(int(run_id))
    try:
        yield record
    except EsakError as exc:
        record.outcome, record.exit_code = exc.exit_code.name.lower(), int(exc.exit_code)
        raise
    except KeyboardInterrupt:
        record.outcome, record.exit_code = "stopped", int(ExitCode.STOPPED)
        raise
    except BaseException:
        record.outcome, record.exit_code = "failed", int(ExitCode.INTERNAL)
        raise
    finally:
        # The end of a run is worth recording even when the disk is full: then it is lost
        # with the rest of the transaction, and the row keeps finished_at empty (= killed).
        end = {"finished_at": now(), "outcome": record.outcome, "exit_code": record.exit_code}
        with contextlib.suppress(EsakError), index.transaction() as db:
            db["runs"].update(record.id, end)
            append_audit(db, RUN_FINISHED, ("runs", record.id), end)

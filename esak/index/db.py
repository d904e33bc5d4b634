"""The index database: one SQLite file in the workspace, reached through sqlite-utils.

Only the coordinating process writes it. Every change goes through :meth:`Index.transaction`,
so a run that is killed half-way leaves the index as it was before that change.

The schema is versioned with ``PRAGMA user_version``. To change it, append a function to
:data:`MIGRATIONS`; never edit, reorder or remove one that has shipped, because indexes in the
field have already run it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
import stat
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType

import sqlite_utils

from esak.errors import DiskFullError, EsakError, LockedError, WorkspaceError
from esak.workspace import PRIVATE, Access, leave_beside

Migration = Callable[[sqlite_utils.Database], None]

#: Seconds a writer waits for another esak process to finish its transaction.
BUSY_TIMEOUT_S = 10

_SQLITE_MAGIC = b"SQLite format 3\x00"

# Primary result codes from sqlite3.h; Python only exposes them as numbers on the exception.
_SQLITE_PERM = 3
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_READONLY = 8
_SQLITE_IOERR = 10
_SQLITE_CORRUPT = 11
_SQLITE_FULL = 13
_SQLITE_CANTOPEN = 14
_SQLITE_NOTADB = 26

#: How long a reader waits for a writer that just closed the index to put back the -wal and
#: -shm files a read-only reader needs (see :meth:`Index.open_readonly`).
_READONLY_RETRY_S = 3.0


def _m001_expected(db: sqlite_utils.Database) -> None:
    """The expected list (Soll-Liste) per site, and a record of every import of it."""
    # Plain DDL rather than sqlite-utils' create(): a migration must produce the same schema
    # forever, whatever a future sqlite-utils decides about defaults.
    db.execute(
        """
        CREATE TABLE expected (
            site TEXT NOT NULL,
            household TEXT NOT NULL,
            name TEXT,
            status TEXT,
            volumes INTEGER CHECK (volumes IS NULL OR volumes >= 1),
            source_file TEXT NOT NULL,
            source_line INTEGER NOT NULL,
            imported_at TEXT NOT NULL,
            PRIMARY KEY (site, household)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE expected_imports (
            id INTEGER PRIMARY KEY,
            site TEXT NOT NULL,
            file TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            encoding TEXT NOT NULL,
            delimiter TEXT NOT NULL,
            rows_read INTEGER NOT NULL,
            added INTEGER NOT NULL,
            updated INTEGER NOT NULL,
            unchanged INTEGER NOT NULL,
            removed INTEGER NOT NULL,
            rejected INTEGER NOT NULL,
            imported_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX expected_imports_by_site ON expected_imports (site, id)")


def _m002_ingest(db: sqlite_utils.Database) -> None:
    """Deliveries, input files, every page, documents, set-aside ranges and runs."""
    # Statement by statement: executescript() would COMMIT the migration's transaction first.
    _execute_all(
        db,
        """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY,
            command TEXT NOT NULL,
            site TEXT,
            options TEXT,
            os_user TEXT,
            esak_version TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            outcome TEXT,
            exit_code INTEGER
        );
        CREATE TABLE deliveries (
            id INTEGER PRIMARY KEY,
            site TEXT NOT NULL,
            path TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            last_ingested TEXT,
            UNIQUE (site, path)
        );
        CREATE TABLE delivery_problems (
            id INTEGER PRIMARY KEY,
            delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
            file TEXT NOT NULL,
            problem TEXT NOT NULL
        );
        CREATE TABLE input_files (
            id INTEGER PRIMARY KEY,
            delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
            site TEXT NOT NULL,
            relpath TEXT NOT NULL,
            format TEXT NOT NULL,
            sha256 TEXT,
            size INTEGER,
            page_count INTEGER,
            outcome TEXT NOT NULL CHECK (outcome IN ('ingested', 'quarantined', 'duplicate')),
            reason TEXT,
            duplicate_of INTEGER REFERENCES input_files(id),
            run_id INTEGER REFERENCES runs(id),
            ingested_at TEXT NOT NULL
        );
        CREATE INDEX input_files_by_delivery ON input_files (delivery_id, relpath);
        CREATE INDEX input_files_by_sha ON input_files (site, sha256);
        CREATE TABLE documents (
            id INTEGER PRIMARY KEY,
            site TEXT NOT NULL,
            household TEXT NOT NULL,
            volume INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            doc_type TEXT,
            path TEXT NOT NULL UNIQUE,
            pages INTEGER NOT NULL,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            pdfa TEXT,
            text_chars INTEGER,
            file_id INTEGER NOT NULL REFERENCES input_files(id),
            created_at TEXT NOT NULL,
            UNIQUE (site, household, volume, seq)
        );
        CREATE INDEX documents_by_household ON documents (household);
        CREATE TABLE sections (
            id INTEGER PRIMARY KEY,
            file_id INTEGER NOT NULL REFERENCES input_files(id),
            site TEXT NOT NULL,
            household TEXT NOT NULL,
            volume INTEGER NOT NULL,
            cover_page INTEGER,
            declared_pages INTEGER,
            found_pages INTEGER NOT NULL
        );
        CREATE INDEX sections_by_site ON sections (site, household);
        CREATE TABLE pages (
            id INTEGER PRIMARY KEY,
            file_id INTEGER NOT NULL REFERENCES input_files(id),
            page_index INTEGER NOT NULL,
            kind TEXT NOT NULL,
            barcodes TEXT,
            detected_by TEXT,
            outcome TEXT NOT NULL
                CHECK (outcome IN ('archived', 'cover', 'separator', 'blank', 'quarantined')),
            household TEXT,
            volume INTEGER,
            document_id INTEGER REFERENCES documents(id),
            document_page INTEGER,
            reason TEXT,
            UNIQUE (file_id, page_index)
        );
        CREATE TABLE quarantine (
            id INTEGER PRIMARY KEY,
            site TEXT NOT NULL,
            file_id INTEGER NOT NULL REFERENCES input_files(id),
            first_page INTEGER,
            last_page INTEGER,
            reason TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX quarantine_by_site ON quarantine (site);
        """,
    )


def _m003_verify(db: sqlite_utils.Database) -> None:
    """A record of every verification, and indexes that keep a site's verification fast."""
    _execute_all(
        db,
        """
        CREATE TABLE verifications (
            id INTEGER PRIMARY KEY,
            run_id INTEGER REFERENCES runs(id),
            site TEXT NOT NULL,
            level TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            ok INTEGER NOT NULL,
            complete INTEGER NOT NULL,
            intact INTEGER NOT NULL,
            expected_households INTEGER NOT NULL,
            archived_households INTEGER NOT NULL,
            missing_households INTEGER NOT NULL,
            documents_checked INTEGER NOT NULL,
            files_changed INTEGER NOT NULL,
            files_missing INTEGER NOT NULL,
            files_untracked INTEGER NOT NULL,
            documents_invalid INTEGER NOT NULL,
            findings TEXT NOT NULL
        );
        CREATE INDEX verifications_by_site ON verifications (site, id);
        CREATE INDEX pages_by_file_outcome ON pages (file_id, outcome, page_index);
        CREATE INDEX pages_by_document ON pages (document_id);
        CREATE INDEX input_files_by_site ON input_files (site, outcome);
        CREATE INDEX documents_by_site ON documents (site, household)
        """,
    )


def _m004_superseded(db: sqlite_utils.Database) -> None:
    """Archive files replaced by a new version (a blank page kept after review): the old
    file's path, hash, size and pages stay on record, with the run that replaced it."""
    _execute_all(
        db,
        """
        CREATE TABLE superseded_documents (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL REFERENCES documents(id),
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            pages INTEGER NOT NULL,
            text_chars INTEGER,
            superseded_at TEXT NOT NULL,
            run_id INTEGER REFERENCES runs(id),
            reason TEXT NOT NULL
        );
        CREATE INDEX superseded_by_document ON superseded_documents (document_id)
        """,
    )


def _m005_cases(db: sqlite_utils.Database) -> None:
    """Klärfälle (cases) and their history; withdrawn deliveries and the documents they took
    out of the archive; page outcome ``discarded`` and file and page outcome ``withdrawn``.

    SQLite cannot change a CHECK constraint: ``input_files`` and ``pages`` are rebuilt (the
    procedure of the SQLite manual, run with foreign keys off, checked before commit)."""
    _execute_all(
        db,
        """
        CREATE TABLE withdrawals (
            id INTEGER PRIMARY KEY,
            site TEXT NOT NULL,
            delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
            by_name TEXT NOT NULL,
            reason TEXT NOT NULL,
            at TEXT NOT NULL,
            run_id INTEGER REFERENCES runs(id)
        );
        CREATE TABLE cases (
            id INTEGER PRIMARY KEY,
            site TEXT NOT NULL,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('open', 'resolved')),
            delivery_id INTEGER REFERENCES deliveries(id),
            file_id INTEGER REFERENCES input_files(id),
            file TEXT,
            first_page INTEGER,
            last_page INTEGER,
            household TEXT,
            volume INTEGER,
            detail TEXT NOT NULL,
            opened_at TEXT NOT NULL,
            resolved_at TEXT,
            UNIQUE (site, key)
        );
        CREATE INDEX cases_by_site ON cases (site, status);
        CREATE TABLE case_events (
            id INTEGER PRIMARY KEY,
            case_id INTEGER NOT NULL REFERENCES cases(id),
            action TEXT NOT NULL,
            by_name TEXT,
            reason TEXT,
            household TEXT,
            volume INTEGER,
            doc_type TEXT,
            document_id INTEGER,
            run_id INTEGER REFERENCES runs(id),
            at TEXT NOT NULL
        );
        CREATE INDEX case_events_by_case ON case_events (case_id, id);
        CREATE TABLE withdrawn_documents (
            id INTEGER PRIMARY KEY,
            withdrawal_id INTEGER NOT NULL REFERENCES withdrawals(id),
            site TEXT NOT NULL,
            household TEXT NOT NULL,
            volume INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            doc_type TEXT,
            path TEXT NOT NULL,
            pages INTEGER NOT NULL,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            pdfa TEXT,
            text_chars INTEGER,
            file_id INTEGER NOT NULL REFERENCES input_files(id),
            created_at TEXT NOT NULL
        );
        ALTER TABLE deliveries ADD COLUMN withdrawal_id INTEGER REFERENCES withdrawals(id);
        CREATE TABLE input_files_new (
            id INTEGER PRIMARY KEY,
            delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
            site TEXT NOT NULL,
            relpath TEXT NOT NULL,
            format TEXT NOT NULL,
            sha256 TEXT,
            size INTEGER,
            page_count INTEGER,
            outcome TEXT NOT NULL
                CHECK (outcome IN ('ingested', 'quarantined', 'duplicate', 'discarded',
                                   'withdrawn')),
            reason TEXT,
            duplicate_of INTEGER REFERENCES input_files(id),
            run_id INTEGER REFERENCES runs(id),
            ingested_at TEXT NOT NULL
        );
        INSERT INTO input_files_new SELECT * FROM input_files;
        DROP TABLE input_files;
        ALTER TABLE input_files_new RENAME TO input_files;
        CREATE INDEX input_files_by_delivery ON input_files (delivery_id, relpath);
        CREATE INDEX input_files_by_sha ON input_files (site, sha256);
        CREATE INDEX input_files_by_site ON input_files (site, outcome);
        CREATE TABLE pages_new (
            id INTEGER PRIMARY KEY,
            file_id INTEGER NOT NULL REFERENCES input_files(id),
            page_index INTEGER NOT NULL,
            kind TEXT NOT NULL,
            barcodes TEXT,
            detected_by TEXT,
            outcome TEXT NOT NULL
                CHECK (outcome IN ('archived', 'cover', 'separator', 'blank', 'quarantined',
                                   'discarded', 'withdrawn')),
            household TEXT,
            volume INTEGER,
            document_id INTEGER REFERENCES documents(id),
            document_page INTEGER,
            reason TEXT,
            UNIQUE (file_id, page_index)
        );
        INSERT INTO pages_new SELECT * FROM pages;
        DROP TABLE pages;
        ALTER TABLE pages_new RENAME TO pages;
        CREATE INDEX pages_by_file_outcome ON pages (file_id, outcome, page_index);
        CREATE INDEX pages_by_document ON pages (document_id)
        """,
    )


def _m006_withdrawn_versions(db: sqlite_utils.Database) -> None:
    """A withdrawn document keeps on record the id it had in ``documents``, and the versions a
    ``blanks keep`` replaced stay on record when their document is withdrawn.

    ``superseded_documents`` names the document a version belonged to: the archived one
    (``document_id``) or, once it was withdrawn, its row in ``withdrawn_documents``
    (``withdrawn_document_id``), always exactly one of them. Rebuilt: SQLite cannot drop the
    NOT NULL of ``document_id``."""
    _execute_all(
        db,
        """
        ALTER TABLE withdrawn_documents ADD COLUMN document_id INTEGER;
        CREATE INDEX withdrawn_documents_by_withdrawal ON withdrawn_documents (withdrawal_id);
        CREATE TABLE superseded_documents_new (
            id INTEGER PRIMARY KEY,
            document_id INTEGER REFERENCES documents(id),
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            pages INTEGER NOT NULL,
            text_chars INTEGER,
            superseded_at TEXT NOT NULL,
            run_id INTEGER REFERENCES runs(id),
            reason TEXT NOT NULL,
            withdrawn_document_id INTEGER REFERENCES withdrawn_documents(id),
            CHECK ((document_id IS NULL) != (withdrawn_document_id IS NULL))
        );
        INSERT INTO superseded_documents_new (id, document_id, path, sha256, size, pages,
            text_chars, superseded_at, run_id, reason)
            SELECT id, document_id, path, sha256, size, pages, text_chars, superseded_at,
            run_id, reason FROM superseded_documents;
        DROP TABLE superseded_documents;
        ALTER TABLE superseded_documents_new RENAME TO superseded_documents;
        CREATE INDEX superseded_by_document ON superseded_documents (document_id);
        CREATE INDEX superseded_by_withdrawn ON superseded_documents (withdrawn_document_id)
        """,
    )


def _m007_audit_log(db: sqlite_utils.Database) -> None:
    """The tamper-evident audit log (``esak.index.audit``): one row per event, each a leaf of
    an RFC 6962 Merkle tree; append-only (triggers refuse UPDATE and DELETE). The runs,
    documents and case events the index already holds are recorded as ``on_record`` events."""
    _execute_all(
        db,
        """
        CREATE TABLE audit_log (
            seq INTEGER PRIMARY KEY CHECK (seq >= 0),
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            ref TEXT,
            data TEXT NOT NULL,
            leaf_hash TEXT NOT NULL
        );
        CREATE INDEX audit_log_by_ref ON audit_log (ref, seq)
        """,
    )
    for action in ("UPDATE", "DELETE"):
        db.execute(
            f"CREATE TRIGGER audit_log_no_{action.lower()} BEFORE {action} ON audit_log "
            "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
        )
    # Imported here: esak.index.audit imports this module.
    from esak.index.audit import record_existing

    record_existing(db)


def _m008_qa(db: sqlite_utils.Database) -> None:
    """QA samples (Stichproben, TR-RESISCAN A.SC.8): each draw with its seed and rate, the
    deliveries it covers, its items (an archived page each) with the reviewer's result, and
    the escalations a defect leaves for the site's next draws (``esak.index.qa``)."""
    _execute_all(
        db,
        """
        CREATE TABLE qa_samples (
            id INTEGER PRIMARY KEY,
            site TEXT NOT NULL,
            seed INTEGER NOT NULL,
            rate REAL NOT NULL,
            protection TEXT NOT NULL,
            escalated INTEGER NOT NULL DEFAULT 0,
            drawn_at TEXT NOT NULL,
            run_id INTEGER REFERENCES runs(id)
        );
        CREATE INDEX qa_samples_by_site ON qa_samples (site, id);
        CREATE TABLE qa_sample_deliveries (
            sample_id INTEGER NOT NULL REFERENCES qa_samples(id),
            delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
            PRIMARY KEY (sample_id, delivery_id)
        );
        CREATE INDEX qa_sample_deliveries_by_delivery ON qa_sample_deliveries (delivery_id);
        CREATE TABLE qa_items (
            id INTEGER PRIMARY KEY,
            sample_id INTEGER NOT NULL REFERENCES qa_samples(id),
            page_id INTEGER NOT NULL REFERENCES pages(id),
            file_id INTEGER NOT NULL REFERENCES input_files(id),
            page_index INTEGER NOT NULL,
            household TEXT,
            volume INTEGER,
            document_id INTEGER REFERENCES documents(id),
            document_path TEXT NOT NULL,
            document_page INTEGER NOT NULL,
            reason TEXT NOT NULL CHECK (reason IN ('random', 'flagged')),
            why TEXT,
            result TEXT CHECK (result IS NULL OR result IN ('ok', 'defect')),
            note TEXT,
            reviewer TEXT,
            checked_at TEXT,
            run_id INTEGER REFERENCES runs(id),
            case_id INTEGER REFERENCES cases(id),
            UNIQUE (sample_id, page_id)
        );
        CREATE INDEX qa_items_by_sample ON qa_items (sample_id, id);
        CREATE TABLE qa_escalations (
            id INTEGER PRIMARY KEY,
            site TEXT NOT NULL,
            sample_id INTEGER NOT NULL REFERENCES qa_samples(id),
            item_id INTEGER NOT NULL REFERENCES qa_items(id),
            draws_left INTEGER NOT NULL CHECK (draws_left >= 0),
            created_at TEXT NOT NULL
        );
        CREATE INDEX qa_escalations_by_site ON qa_escalations (site, draws_left)
        """,
    )


def _m009_transfer_notes(db: sqlite_utils.Database) -> None:
    """Transfer notes (Transfervermerke, TR-RESISCAN 1.5 A.NB.4): one XML file per archived
    document beside its PDF (``<nnnn>.tv.xml``), with the document's stable UUID, the note's
    own sha256 and size (fixity), the PDF's sha256 it vouches for, its status and who wrote it.

    No foreign key to ``documents``: a withdrawn document leaves that table, and its note's row
    stays on record like the rest of its evidence. Independent of every migration after 007."""
    _execute_all(
        db,
        """
        CREATE TABLE transfer_notes (
            document_id INTEGER PRIMARY KEY,
            uuid TEXT NOT NULL UNIQUE,
            path TEXT NOT NULL UNIQUE,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            document_sha256 TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('vorlaeufig', 'final')),
            written_at TEXT NOT NULL,
            run_id INTEGER REFERENCES runs(id),
            by_name TEXT NOT NULL
        )
        """,
    )


def _m010_capture(db: sqlite_utils.Database) -> None:
    """What the capture did, for the transfer note and the QA sample: which OCR made each
    document (``tesseract``: the scan kept as delivered; ``ocrmypdf``: its pipeline), the
    clockwise degrees esak turned a page's display to make it upright, and when and on what
    the paper was scanned (the manifest's ``scanned_at`` and ``scanner`` per file, or
    ``ingest --scanned-on`` for the delivery). NULL: not known (indexes written before)."""
    _execute_all(
        db,
        """
        ALTER TABLE documents ADD COLUMN engine TEXT;
        ALTER TABLE pages ADD COLUMN rotation INTEGER;
        ALTER TABLE deliveries ADD COLUMN scanned_on TEXT;
        ALTER TABLE input_files ADD COLUMN scanned_at TEXT;
        ALTER TABLE input_files ADD COLUMN scanner TEXT
        """,
    )


def _m011_release(db: sqlite_utils.Database) -> None:
    """The decisions about the paper originals (``releases``: a release for destruction or a
    hold, per delivery, who decided, when and why) and the backups made (``backups``: where,
    when, what they hold, the audit checkpoint they carry, whether their verification passed).
    A delivery's latest decision counts; every one is also an event of the audit log."""
    _execute_all(
        db,
        """
        CREATE TABLE releases (
            id INTEGER PRIMARY KEY,
            site TEXT NOT NULL,
            delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
            decision TEXT NOT NULL CHECK (decision IN ('release', 'hold')),
            by_name TEXT NOT NULL,
            reason TEXT,
            scanned_on TEXT,
            destroy_on TEXT,
            decided_at TEXT NOT NULL,
            run_id INTEGER REFERENCES runs(id)
        );
        CREATE INDEX releases_by_delivery ON releases (delivery_id, id);
        CREATE TABLE backups (
            id INTEGER PRIMARY KEY,
            site TEXT,
            place TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            documents INTEGER NOT NULL,
            files_copied INTEGER NOT NULL,
            bytes_copied INTEGER NOT NULL,
            audit_size INTEGER NOT NULL,
            audit_root TEXT NOT NULL,
            verified INTEGER NOT NULL,
            run_id INTEGER REFERENCES runs(id)
        )
        """,
    )


def _m012_mail(db: sqlite_utils.Database) -> None:
    """Daily incoming mail (``esak mail``): a delivery is a migration delivery or a day's mail
    (``deliveries.kind``); a mail document carries the date on its receipt stamp
    (``documents.received_at``); every letter of a mail delivery is a row of ``mail_letters``:
    where it lies in its input file (pages from 1), when it was received, how it was routed
    (barcode, text, or a person by ``clarify assign``) with the evidence, or why not (its
    Klärfall).

    ``document_id`` has no foreign key: a withdrawn document leaves ``documents``, and the
    letter's row stays on record (as a transfer note's does)."""
    _execute_all(
        db,
        """
        ALTER TABLE deliveries ADD COLUMN kind TEXT NOT NULL DEFAULT 'migration';
        ALTER TABLE documents ADD COLUMN received_at TEXT;
        CREATE TABLE mail_letters (
            id INTEGER PRIMARY KEY,
            site TEXT NOT NULL,
            delivery_id INTEGER NOT NULL REFERENCES deliveries(id),
            file_id INTEGER NOT NULL REFERENCES input_files(id),
            first_page INTEGER NOT NULL,
            last_page INTEGER NOT NULL,
            received_at TEXT,
            household TEXT,
            route TEXT,
            reason TEXT,
            evidence TEXT,
            document_id INTEGER,
            case_id INTEGER REFERENCES cases(id),
            created_at TEXT NOT NULL,
            UNIQUE (file_id, first_page)
        );
        CREATE INDEX mail_letters_by_site ON mail_letters (site, created_at);
        CREATE INDEX mail_letters_by_case ON mail_letters (case_id);
        CREATE INDEX mail_letters_by_delivery ON mail_letters (delivery_id, file_id)
        """,
    )


def _m013_search(db: sqlite_utils.Database) -> None:
    """Exports to the DMS (``exports``: where, when, what since, the audit log's size and root;
    ``export_documents``: each document and the sha256 it was exported with) and German
    full-text search over the archive (``esak search``): one row per archived page
    with its text as OCR made it (``text``) and normalised for German (``plain``: lower case,
    ß → ss, umlauts as ae/oe/ue, other accents dropped), searched through a trigram FTS5
    table (substrings: ``bescheid`` finds ``Bewilligungsbescheid``). A plain SQLite FTS table
    that Datasette can search too."""
    _execute_all(
        db,
        """
        CREATE TABLE exports (
            id INTEGER PRIMARY KEY,
            site TEXT NOT NULL,
            place TEXT NOT NULL,
            created_at TEXT NOT NULL,
            since TEXT,
            documents INTEGER NOT NULL,
            bytes INTEGER NOT NULL,
            audit_size INTEGER NOT NULL,
            audit_root TEXT NOT NULL,
            run_id INTEGER REFERENCES runs(id)
        );
        CREATE TABLE export_documents (
            export_id INTEGER NOT NULL REFERENCES exports(id),
            document_id INTEGER NOT NULL,
            sha256 TEXT NOT NULL,
            PRIMARY KEY (export_id, document_id)
        );
        CREATE TABLE page_text (
            id INTEGER PRIMARY KEY,
            document_id INTEGER NOT NULL,
            page INTEGER NOT NULL,
            site TEXT NOT NULL,
            household TEXT NOT NULL,
            text TEXT NOT NULL,
            plain TEXT NOT NULL,
            UNIQUE (document_id, page)
        );
        CREATE VIRTUAL TABLE page_text_fts USING fts5(
            plain, site UNINDEXED, household UNINDEXED,
            content='page_text', content_rowid='id', tokenize='trigram'
        )
        """,
    )
    # One statement each: a trigger's body holds semicolons.
    db.execute(
        "CREATE TRIGGER page_text_ai AFTER INSERT ON page_text BEGIN "
        "INSERT INTO page_text_fts (rowid, plain, site, household) "
        "VALUES (new.id, new.plain, new.site, new.household); END"
    )
    db.execute(
        "CREATE TRIGGER page_text_ad AFTER DELETE ON page_text BEGIN "
        "INSERT INTO page_text_fts (page_text_fts, rowid, plain, site, household) "
        "VALUES ('delete', old.id, old.plain, old.site, old.household); END"
    )
    db.execute(
        "CREATE TRIGGER page_text_au AFTER UPDATE ON page_text BEGIN "
        "INSERT INTO page_text_fts (page_text_fts, rowid, plain, site, household) "
        "VALUES ('delete', old.id, old.plain, old.site, old.household); "
        "INSERT INTO page_text_fts (rowid, plain, site, household) "
        "VALUES (new.id, new.plain, new.site, new.household); END"
    )


def _m014_minimise(db: sqlite_utils.Database) -> None:
    """Data minimisation and purge after handover (SGB X § 67c, DSGVO Art. 5 (1) c, e):

    - ``expected.name`` goes: esak never read it, and a person's name is social data it does
      not need. (``Index._migrate`` vacuums the file after this migration, so the names leave
      its free pages too; ``secure_delete`` zeroes what is deleted from now on.)
    - ``purges``: each purge of a site's content after its verified export (who, why, which
      bag, when it began and ended); ``purge_documents``: every document it removed, with the
      hashes and pages that stay as evidence. ``documents.purge_id`` marks a document whose
      PDF, transfer note and text are gone on purpose: its row and its pages stay.
    - ``exports.token``: the id a bag carries in its bag-info.txt (``esak-Export-Token``), so
      that a bag moved to the DMS's staging area is still known as the export it is."""
    db.execute("ALTER TABLE expected DROP COLUMN name")
    _execute_all(
        db,
        """
        CREATE TABLE purges (
            id INTEGER PRIMARY KEY,
            site TEXT NOT NULL,
            export_id INTEGER NOT NULL REFERENCES exports(id),
            bag TEXT NOT NULL,
            by_name TEXT NOT NULL,
            reason TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            documents INTEGER NOT NULL,
            pages INTEGER NOT NULL,
            bytes INTEGER NOT NULL,
            run_id INTEGER REFERENCES runs(id)
        );
        CREATE TABLE purge_documents (
            purge_id INTEGER NOT NULL REFERENCES purges(id),
            document_id INTEGER NOT NULL REFERENCES documents(id),
            household TEXT NOT NULL,
            volume INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            size INTEGER NOT NULL,
            pages INTEGER NOT NULL,
            note_path TEXT,
            note_sha256 TEXT,
            delivery_id INTEGER,
            PRIMARY KEY (purge_id, document_id)
        );
        ALTER TABLE documents ADD COLUMN purge_id INTEGER REFERENCES purges(id);
        ALTER TABLE exports ADD COLUMN token TEXT
        """,
    )


#: Migrations after which the file is vacuumed: they removed social data that must not stay
#: in the file's free pages.
_VACUUM_AFTER = {"_m014_minimise"}


#: Migrations that rebuild a table (one others refer to, or one that refers to others): run
#: with foreign keys off (SQLite's rule for such changes), the references checked before the
#: transaction commits.
_WITHOUT_FOREIGN_KEYS = {"_m005_cases", "_m006_withdrawn_versions"}


def _execute_all(db: sqlite_utils.Database, script: str) -> None:
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


#: Schema migrations, in order: entry i takes the index from user_version i to i + 1.
#: Append new ones at the end; each runs in its own transaction.
MIGRATIONS: list[Migration] = [
    _m001_expected,
    _m002_ingest,
    _m003_verify,
    _m004_superseded,
    _m005_cases,
    _m006_withdrawn_versions,
    _m007_audit_log,
    _m008_qa,
    _m009_transfer_notes,
    _m010_capture,
    _m011_release,
    _m012_mail,
    _m013_search,
    _m014_minimise,
]


def schema_version() -> int:
    """The schema version this esak writes (the number of migrations it knows)."""
    return len(MIGRATIONS)


def _error_for(exc: sqlite3.Error, path: Path) -> EsakError | None:
    """The user-facing error for a SQLite failure, or None if it is a bug in esak."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code == _SQLITE_FULL:
        return DiskFullError(
            f"the disk holding the index {path} is full",
            "free space, then run the same command again to resume",
        )
    if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return LockedError(
            f"the index {path} stayed locked for {BUSY_TIMEOUT_S} s: "
            "another esak run is writing to it",
            "wait for that run to finish, then run the same command again",
        )
    if code == _SQLITE_NOTADB:
        return _not_a_database(path)
    if code == _SQLITE_CORRUPT:
        return WorkspaceError(
            f"the index {path} is damaged ({exc})",
            "restore index.sqlite from the last backup of the workspace",
        )
    if code in (_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CANTOPEN):
        return WorkspaceError(
            f"cannot use the index {path}: {exc}",
            "check that the workspace is on a local disk and that you may write to it",
        )
    return None


def _not_a_database(path: Path) -> WorkspaceError:
    return WorkspaceError(
        f"{path} is not an esak index (not a SQLite database)",
        "point --workspace (or ESAK_WORKSPACE) at the right folder, "
        "or move that file out of the workspace",
    )


class Index:
    """An open index database. Use :meth:`open`; close it, or use it as a context manager."""

    def __init__(
        self,
        db: sqlite_utils.Database,
        path: Path,
        access: Access = PRIVATE,
        read_only: bool = False,
    ) -> None:
        self.db = db
        self.path = path
        #: who may read the files this connection's writes leave (the workspace's setting)
        self.access = access
        #: opened by :meth:`open_readonly`: nothing is ever written through it
        self.read_only = read_only
        #: put back the -wal and -shm files found on opening, after closing (open_readonly)
        self._sidecars_found = False
        self._savepoints = itertools.count(1)

    @classmethod
    def open(cls, path: Path, access: Access = PRIVATE) -> Index:
        """Open the index at ``path``, creating it with ``access`` (default owner-only); bring
        its schema up to date."""
        path = Path(path)
        _create_private(path, access)
        try:
            # isolation_level=None: the driver never opens transactions behind our back, so
            # transaction() alone decides where a change begins and ends.
            conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise _error_for(exc, path) or WorkspaceError(
                f"cannot open the index {path}: {exc}"
            ) from exc
        try:
            index = cls(sqlite_utils.Database(conn), path, access)
            index._configure()
            index._migrate()
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise _error_for(exc, path) or WorkspaceError(
                    f"cannot open the index {path}: {exc}"
                ) from exc
            raise
        return index

    @classmethod
    def open_existing(cls, path: Path, access: Access = PRIVATE) -> Index:
        """Open an index that must already exist: reports never create an empty workspace."""
        if not Path(path).is_file():
            raise WorkspaceError(
                f"there is no esak index in {Path(path).parent}",
                "point --workspace (or ESAK_WORKSPACE) at the workspace your ingest runs use",
            )
        return cls.open(path, access)

    @classmethod
    def open_readonly(cls, path: Path) -> Index:
        """Open the index for reading only: no file is ever created, changed or migrated.

        No index file (an empty workspace): an empty index in memory, so that a report reads
        it as a workspace without data. An index of an older schema is not migrated here:
        that is a change, for a command that writes.

        SQLite reads a WAL database read-only only if its -wal and -shm files exist (or it
        may create them; "WAL mode: read-only databases" in the SQLite docs). A writer of a
        shared workspace leaves them behind when it closes (:meth:`close`); a reader that
        comes in between waits a moment for them. Someone who may write (the owner) reads
        through a connection that may write but is kept from it (``query_only``): as the last
        one to close it removes the -wal and -shm it made, so the workspace is left as found.
        """
        path = Path(path)
        try:
            with open(path, "rb") as fh:
                head = fh.read(len(_SQLITE_MAGIC))
        except FileNotFoundError:
            return cls._empty(path)
        except IsADirectoryError as exc:
            raise WorkspaceError(
                f"the index {path} is a folder, not a file", "move that folder out of the workspace"
            ) from exc
        except PermissionError as exc:
            raise WorkspaceError(
                f"you may not read the index {path}",
                "run esak as the workspace's owner, or have them share it read-only with a "
                "group of yours: esak workspace share --group GROUP",
            ) from exc
        except OSError as exc:
            raise WorkspaceError(f"cannot read the index {path}: {exc.strerror}") from exc
        if not head:
            return cls._empty(path)  # created, then killed before SQLite wrote its header
        if head != _SQLITE_MAGIC:
            raise _not_a_database(path)
        deadline = time.monotonic() + _READONLY_RETRY_S
        while True:
            try:
                return cls._connect_readonly(path)
            except sqlite3.Error as exc:
                code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
                if code not in (_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_CANTOPEN):
                    raise _error_for(exc, path) or WorkspaceError(
                        f"cannot read the index {path}: {exc}"
                    ) from exc
                if Path(f"{path}-wal").exists():
                    raise WorkspaceError(
                        f"you may not read the index {path} and its -wal and -shm files ({exc})",
                        "run esak as the workspace's owner, or have them share it read-only "
                        "with a group of yours: esak workspace share --group GROUP",
                    ) from exc
                if time.monotonic() < deadline:
                    time.sleep(0.1)
                    continue
                raise WorkspaceError(
                    f"cannot read the index {path}: its -wal and -shm files are missing, "
                    "and you may not create them",
                    "ask the workspace's owner to run `esak workspace share --group GROUP` "
                    "again (it puts them back), or run esak as the owner",
                ) from exc

    @classmethod
    def _connect_readonly(cls, path: Path) -> Index:
        writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)
        found = Path(f"{path}-wal").exists()
        # mode=rw never creates the database file; mode=ro needs no write access at all.
        uri = path.absolute().as_uri() + ("?mode=rw" if writable else "?mode=ro")
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
            conn.execute("PRAGMA query_only=ON")
            index = cls(sqlite_utils.Database(conn), path, read_only=True)
            index._sidecars_found = writable and found
            version, known = index.schema_version, schema_version()
        except BaseException:
            conn.close()
            raise
        if version != known:
            conn.close()
            if version > known:
                raise WorkspaceError(
                    f"the index {path} was written by a newer esak (schema {version}; this "
                    f"esak knows up to schema {known})",
                    "upgrade esak",
                )
            raise WorkspaceError(
                f"the index {path} was written by an older esak (schema {version}; this "
                f"esak reads schema {known}), and a command that only reads does not change it",
                "run a command that writes once, as the workspace's owner (e.g. `esak verify "
                "--site SITE`): it brings the index up to date",
            )
        return index

    @classmethod
    def _empty(cls, path: Path) -> Index:
        """An index with the current schema and no rows, in memory: an empty workspace."""
        conn = sqlite3.connect(":memory:", isolation_level=None)
        index = cls(sqlite_utils.Database(conn), path, read_only=True)
        index._migrate()
        conn.execute("PRAGMA query_only=ON")
        return index

    def _configure(self) -> None:
        from esak import atomic

        conn = self.db.conn
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        # Deleted rows (a purged page's text, a dropped column) are overwritten with zeros,
        # not left readable in free pages of the file until they happen to be reused.
        conn.execute("PRAGMA secure_delete=ON")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
        # In WAL mode NORMAL syncs the WAL only at checkpoints: a power cut can take back the
        # last commits (never half of one), commits the run has already reported and whose
        # files are in the archive. FULL syncs the WAL at every commit: a commit that returned
        # is on disk. It costs one fsync per transaction (benchmarks/bench_durability.py).
        conn.execute("PRAGMA synchronous=FULL" if atomic.DURABLE else "PRAGMA synchronous=NORMAL")

    @property
    def schema_version(self) -> int:
        """The schema version of this index file (``PRAGMA user_version``)."""
        return int(self.db.conn.execute("PRAGMA user_version").fetchone()[0])

    def _migrate(self) -> None:
        known = schema_version()
        if self.schema_version > known:
            raise WorkspaceError(
                f"the index {self.path} was written by a newer esak "
                f"(schema {self.schema_version}; this esak knows up to schema {known})",
                "upgrade esak",
            )
        vacuum = False
        for target, migration in enumerate(MIGRATIONS, start=1):
            if self.schema_version >= target:
                continue
            vacuum = vacuum or migration.__name__ in _VACUUM_AFTER
            rebuilds = migration.__name__ in _WITHOUT_FOREIGN_KEYS
            if rebuilds:  # a no-op inside a transaction: switched before it begins
                self.db.conn.execute("PRAGMA foreign_keys=OFF")
            try:
                with self.transaction():
                    # Another esak may have migrated between our check and our lock.
                    if self.schema_version >= target:
                        continue
                    migration(self.db)
                    if rebuilds:
                        broken = self.db.conn.execute("PRAGMA foreign_key_check").fetchall()
                        if broken:
                            raise WorkspaceError(
                                f"migrating the index {self.path} to schema {target} would "
                                f"break {len(broken)} reference(s); nothing was changed",
                                "restore index.sqlite from the last backup and report this",
                            )
                    # user_version lives in the file header and is part of the transaction,
                    # so the version and the schema change commit together or not at all.
                    self.db.conn.execute(f"PRAGMA user_version={target}")
            finally:
                if rebuilds:
                    self.db.conn.execute("PRAGMA foreign_keys=ON")
        if vacuum:
            self.compact()

    def compact(self) -> None:
        """Rewrite the file without free pages and empty the WAL: what was deleted is then
        nowhere in the index's files (a killed VACUUM leaves the file as it was)."""
        conn = self.db.conn
        conn.execute("VACUUM")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """One atomic change: BEGIN IMMEDIATE … COMMIT, rolled back if the block raises.

        IMMEDIATE takes the write lock up front, so two esak runs queue (for up to
        BUSY_TIMEOUT_S) instead of failing half-way with a lock upgrade error. Nested use
        becomes a savepoint: the inner block can fail alone if its caller catches the error.
        """
        conn = self.db.conn
        if conn.in_transaction:
            name = f"esak_{next(self._savepoints)}"
            conn.execute(f"SAVEPOINT {name}")
            try:
                yield self.db
            except BaseException:
                if conn.in_transaction:
                    conn.execute(f"ROLLBACK TO {name}")
                    conn.execute(f"RELEASE {name}")
                raise
            else:
                conn.execute(f"RELEASE {name}")
            return

        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._translate(exc) from exc
        try:
            yield self.db
            conn.execute("COMMIT")
        except BaseException as exc:
            # A failed statement may already have ended the transaction (e.g. SQLITE_FULL).
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.Error):
                error = _error_for(exc, self.path)
                if error is not None:
                    raise error from exc
            raise

    def _translate(self, exc: sqlite3.Error) -> BaseException:
        return _error_for(exc, self.path) or exc

    def close(self) -> None:
        self.db.close()
        # The last connection to close deletes -wal and -shm; a reader of the group may not
        # create them, so they are put back (empty: a valid, empty WAL).
        if self.access.shared and not self.read_only:
            access = self.access
        elif self._sidecars_found:
            access = _access_of(self.path)  # as they were found: with the index's own mode
        else:
            return
        with contextlib.suppress(OSError):
            for suffix in ("-wal", "-shm"):
                leave_beside(self.path, suffix, access)

    def __enter__(self) -> Index:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _access_of(path: Path) -> Access:
    """The access an index file has: group-readable (with its group) or owner-only."""
    info = path.stat()
    return Access("", info.st_gid) if info.st_mode & stat.S_IRGRP else PRIVATE


def _create_private(path: Path, access: Access = PRIVATE) -> None:
    """Create the index file with ``access`` (owner-only by default) before SQLite does, and
    refuse a foreign file.

    SQLite gives its -wal and -shm files the mode of the database file, so setting this
    one's covers all three (the workspace folder's setgid bit gives them its group).
    """
    try:
        access.make_dirs(path.parent)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, access.file_mode)
        try:
            info = os.fstat(fd)
            # An index created by an older tool or copied in with loose permissions, or one
            # of a workspace whose read group was set or taken away.
            with contextlib.suppress(PermissionError):
                if access.gid is not None and info.st_gid != access.gid:
                    os.fchown(fd, -1, access.gid)
                if stat.S_IMODE(info.st_mode) != access.file_mode:
                    os.fchmod(fd, access.file_mode)
            head = os.read(fd, len(_SQLITE_MAGIC))
        finally:
            os.close(fd)
    except IsADirectoryError as exc:
        raise WorkspaceError(
            f"the index {path} is a folder, not a file",
            "move that folder out of the workspace",
        ) from exc
    except OSError as exc:
        raise WorkspaceError(
            f"cannot create or open the index {path}: {exc.strerror}",
            "choose a workspace you can write to with --workspace DIR or ESAK_WORKSPACE",
        ) from exc
    # An empty file is a new database; anything else must carry SQLite's header. Checking it
    # ourselves keeps SQLite from ever touching (or journalling next to) a stranger's file.
    if head and head != _SQLITE_MAGIC:
        raise _not_a_database(path)

"""The index database: creation, pragmas, schema versioning, transactions."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlite_utils

from esak.errors import ExitCode, LockedError, WorkspaceError
from esak.index import db as index_db
from esak.index.db import Index, schema_version


@pytest.fixture
def index_path(tmp_path: Path) -> Path:
    return tmp_path / "ws" / "index.sqlite"


@pytest.fixture
def index(index_path: Path) -> Iterator[Index]:
    with Index.open(index_path) as opened:
        yield opened


@pytest.fixture
def loose_umask() -> Iterator[None]:
    # A typical login umask: files come out world-readable unless esak says otherwise.
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _row(household: str = "95401BG0000101") -> dict[str, object]:
    return {
        "site": "borken",
        "household": household,
        "status": None,
        "volumes": 1,
        "source_file": "list.csv",
        "source_line": 2,
        "imported_at": "2021-03-01T00:00:00+00:00",
    }


def _count(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT count(*) FROM expected").fetchone()[0]
    finally:
        conn.close()


def test_open_creates_file_and_folder_owner_only(index_path: Path, loose_umask: None) -> None:
    with Index.open(index_path) as index:
        with index.transaction() as db:
            db["expected"].insert(_row())
        # The write-ahead log holds social data too until it is checkpointed.
        wal = index_path.with_name(index_path.name + "-wal")
        assert wal.exists()
        assert stat.S_IMODE(wal.stat().st_mode) == 0o600
    assert stat.S_IMODE(index_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(index_path.parent.stat().st_mode) == 0o700


def test_open_tightens_a_world_readable_index(index_path: Path) -> None:
    Index.open(index_path).close()
    os.chmod(index_path, 0o644)
    Index.open(index_path).close()
    assert stat.S_IMODE(index_path.stat().st_mode) == 0o600


def test_pragmas(index: Index) -> None:
    conn = index.db.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 10_000
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL: a commit is on disk


def test_new_index_has_current_schema(index: Index) -> None:
    assert index.schema_version == schema_version() == len(index_db.MIGRATIONS) >= 1
    assert isinstance(index.db, sqlite_utils.Database)
    expected = index.db["expected"]
    assert expected.pks == ["site", "household"]
    assert set(expected.columns_dict) == {
        "site",
        "household",
        "status",
        "volumes",
        "source_file",
        "source_line",
        "imported_at",
    }
    assert set(index.db["expected_imports"].columns_dict) == {
        "id",
        "site",
        "file",
        "sha256",
        "encoding",
        "delimiter",
        "rows_read",
        "added",
        "updated",
        "unchanged",
        "removed",
        "rejected",
        "imported_at",
    }


def test_reopen_keeps_data_and_does_not_rerun_migrations(index_path: Path) -> None:
    with Index.open(index_path) as index, index.transaction() as db:
        db["expected"].insert(_row())
    # A re-run migration 1 would fail on CREATE TABLE, so reopening proves it was skipped.
    with Index.open(index_path) as index:
        assert index.schema_version == schema_version()
        assert index.db["expected"].count == 1


def test_volumes_constraint_holds(index: Index) -> None:
    with pytest.raises(sqlite3.IntegrityError), index.transaction() as db:
        db["expected"].insert({**_row(), "volumes": 0})


def test_newer_schema_is_refused(index_path: Path) -> None:
    Index.open(index_path).close()
    conn = sqlite3.connect(index_path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(WorkspaceError) as caught:
        Index.open(index_path)
    message = str(caught.value)
    assert "newer esak" in message
    assert "schema 99" in message
    assert "upgrade esak" in message
    assert caught.value.exit_code == ExitCode.WORKSPACE
    conn = sqlite3.connect(index_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 99
    conn.close()


def test_not_a_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    content = b"household;name\n95401BG0000101;x\n"
    path.write_bytes(content)
    with pytest.raises(WorkspaceError) as caught:
        Index.open(path)
    assert str(path) in str(caught.value)
    assert "not a SQLite database" in str(caught.value)
    assert caught.value.remedy
    assert path.read_bytes() == content
    assert not path.with_name("index.sqlite-wal").exists()


def test_damaged_database_is_a_workspace_error(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    # SQLite's magic header followed by garbage: passes our own check, fails SQLite's.
    path.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 16)
    with pytest.raises(WorkspaceError) as caught:
        Index.open(path)
    assert str(path) in str(caught.value)


def test_folder_in_place_of_index(tmp_path: Path) -> None:
    path = tmp_path / "index.sqlite"
    path.mkdir()
    with pytest.raises(WorkspaceError, match="is a folder"):
        Index.open(path)


def test_transaction_commits(index: Index, index_path: Path) -> None:
    with index.transaction() as db:
        db["expected"].insert(_row())
        assert index.db.conn.in_transaction
    assert not index.db.conn.in_transaction
    assert _count(index_path) == 1  # visible to another connection


def test_failing_transaction_rolls_back(index: Index, index_path: Path) -> None:
    with index.transaction() as db:
        db["expected"].insert(_row("95401BG0000100"))

    with pytest.raises(ValueError, match="boom"), index.transaction() as db:
        db["expected"].insert(_row("95401BG0000101"))
        db.execute("UPDATE expected SET status = 'changed'")
        raise ValueError("boom")

    assert not index.db.conn.in_transaction
    rows = list(index.db["expected"].rows)
    assert [r["household"] for r in rows] == ["95401BG0000100"]
    assert rows[0]["status"] is None
    assert _count(index_path) == 1


def test_nested_transaction_is_a_savepoint(index: Index) -> None:
    with index.transaction() as db:
        db["expected"].insert(_row("95401BG0000101"))
        with pytest.raises(RuntimeError), index.transaction() as inner:
            inner["expected"].insert(_row("95401BG0000102"))
            raise RuntimeError
        with index.transaction() as inner:
            inner["expected"].insert(_row("95401BG0000103"))
    households = [r["household"] for r in index.db["expected"].rows]
    assert households == ["95401BG0000101", "95401BG0000103"]


def test_killed_run_leaves_no_half_change(index_path: Path) -> None:
    Index.open(index_path).close()
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from esak.index.db import Index
        index = Index.open(Path({str(index_path)!r}))
        with index.transaction() as db:
            db.execute("INSERT INTO expected VALUES "
                       "('borken', '95401BG0000101', NULL, 1, 'f', 2, 't')")
            db.execute("INSERT INTO expected VALUES "
                       "('borken', '95401BG0000102', NULL, 1, 'f', 3, 't')")
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", script], cwd=repo, check=False, timeout=60)
    assert result.returncode == -9
    with Index.open(index_path) as index:
        assert index.db.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert index.db["expected"].count == 0


def test_busy_index_raises_locked(index_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_db, "BUSY_TIMEOUT_S", 0.2)
    Index.open(index_path).close()
    other = sqlite3.connect(index_path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with Index.open(index_path) as index:
            with pytest.raises(LockedError) as caught, index.transaction():
                pass
            assert caught.value.exit_code == ExitCode.LOCKED
    finally:
        other.execute("ROLLBACK")
        other.close()


def _create_extra(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE extra (id INTEGER PRIMARY KEY)")


def test_added_migration_upgrades_an_existing_index(
    index_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Index.open(index_path) as index, index.transaction() as db:
        db["expected"].insert(_row())
    monkeypatch.setattr(index_db, "MIGRATIONS", [*index_db.MIGRATIONS, _create_extra])
    with Index.open(index_path) as index:
        assert index.schema_version == len(index_db.MIGRATIONS)
        assert "extra" in index.db.table_names()
        assert index.db["expected"].count == 1


def test_failing_migration_leaves_the_previous_schema(
    index_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    Index.open(index_path).close()
    before = schema_version()

    def broken(db: sqlite_utils.Database) -> None:
        _create_extra(db)
        raise RuntimeError("migration bug")

    monkeypatch.setattr(index_db, "MIGRATIONS", [*index_db.MIGRATIONS, broken])
    with pytest.raises(RuntimeError, match="migration bug"):
        Index.open(index_path)
    conn = sqlite3.connect(index_path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == before
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "extra" not in tables
    finally:
        conn.close()


def test_schema_5_rebuilds_files_and_pages_keeping_every_row_and_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index of schema 4 with data: after the migration every row is there, the foreign
    keys hold, and the new outcomes (discarded, withdrawn) are accepted."""
    from esak.synthetic.index import Shape, populate
    from esak.workspace import Workspace

    ws = Workspace(tmp_path / "ws").ensure()
    monkeypatch.setattr(index_db, "MIGRATIONS", index_db.MIGRATIONS[:4])
    with Index.open(ws.index_path) as index:
        populate(index, ws.archive_dir, "borken", Shape(households=3, households_per_batch=3))
        before = {
            t: index.db.execute(f"SELECT * FROM {t} ORDER BY id").fetchall()
            for t in ("input_files", "pages", "documents")
        }
        assert index.schema_version == 4
    monkeypatch.undo()
    with Index.open(ws.index_path) as index:
        assert index.schema_version == schema_version() >= 5
        for table, rows in before.items():
            # Later migrations add columns at the end (NULL for rows written before).
            now = index.db.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()
            assert [r[: len(rows[0])] for r in now] == rows
            assert {v for r in now for v in r[len(rows[0]) :]} <= {None}
        assert index.db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert index.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        indexes = {r[0] for r in index.db.execute("SELECT name FROM sqlite_master "
                                                  "WHERE type = 'index'")}  # fmt: skip
        assert {"pages_by_file_outcome", "pages_by_document", "input_files_by_site"} <= indexes
        with index.transaction() as db:
            db.execute("UPDATE pages SET outcome = 'discarded' WHERE id = 1")
            db.execute("UPDATE input_files SET outcome = 'withdrawn' WHERE id = 1")
        with pytest.raises(sqlite3.IntegrityError), index.transaction() as db:
            db.execute("UPDATE pages SET outcome = 'lost' WHERE id = 2")

"""Data minimisation: no person's name from an expected list is kept anywhere — not in the
index file (its bytes, free pages and WAL included, also after migrating an index that held
names), not in any report, not in any log line."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from esak.cli import cli
from esak.index import db as index_db
from esak.index.db import Index

NAMES = ["Müller, Jürgen", "Özdemir, Aylin", "Weiß, Käthe", "Kowalczyk, Zbigniew"]
H = ["95401BG0000101", "95401BG0000102", "95401BG0000103", "95401BG0000104"]


def _fragments() -> list[bytes]:
    """Every name part, as UTF-8 and as Windows-1252 bytes (an Excel list)."""
    parts = {p.strip() for n in NAMES for p in n.split(",")}
    out = []
    for part in parts:
        out.append(part.encode("utf-8"))
        with contextlib.suppress(UnicodeEncodeError):
            out.append(part.encode("cp1252"))
    return out


def _index_bytes(ws: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(ws.glob("index.sqlite*")))


def _no_names(data: bytes | str, where: str) -> None:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    for fragment in _fragments():
        assert fragment not in raw, f"{fragment!r} found in {where}"


def test_an_index_that_held_names_keeps_none_after_its_migration(tmp_path, monkeypatch):
    path = tmp_path / "index.sqlite"
    monkeypatch.setattr(index_db, "MIGRATIONS", index_db.MIGRATIONS[:13])
    with Index.open(path) as index, index.transaction() as db:
        # secure_delete off, as in SQLite's own default build: deleted bytes stay in free
        # pages unless the file is vacuumed.
        db.execute("PRAGMA secure_delete=OFF")
        for i in range(400):  # many pages' worth, so that freed pages really exist
            db.execute(
                "INSERT INTO expected (site, household, name, status, volumes, source_file, "
                "source_line, imported_at) VALUES ('borken', ?, ?, 'aktiv', 2, 'x.csv', ?, 't')",
                [f"95401BG{i + 1:07d}", NAMES[i % len(NAMES)], i + 2],
            )
    assert any(f in _index_bytes(tmp_path) for f in _fragments())  # the test can fail
    monkeypatch.undo()
    with Index.open(path) as index:
        assert index.schema_version == index_db.schema_version()
        columns = {r[1] for r in index.db.execute("PRAGMA table_info(expected)")}
        assert "name" not in columns
        assert index.db.execute("SELECT COUNT(*), MIN(status), MAX(volumes) FROM expected"
                                ).fetchone() == (400, "aktiv", 2)  # fmt: skip
    _no_names(_index_bytes(tmp_path), "the migrated index")
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_an_imported_list_leaves_no_name_in_the_index_reports_or_logs(tmp_path):
    ws = tmp_path / "ws"
    lines = ["BG-Nummer;Name;Status;Bände"]
    lines += [f"{h};{n};aktiv;{i + 1}" for i, (h, n) in enumerate(zip(H, NAMES, strict=True))]
    lines += [f"95401BG00001;{NAMES[0]};aktiv;1", f"{H[0]};{NAMES[1]};aktiv;1"]  # two bad rows
    excel = tmp_path / "soll.csv"
    excel.write_bytes(("\r\n".join(lines[:4]) + "\r\n").encode("cp1252"))
    utf8 = tmp_path / "soll-utf8.csv"
    utf8.write_text("\n".join(lines) + "\n", encoding="utf-8")
    runner = CliRunner()
    said: list[str] = []

    def run(*args: str) -> None:
        result = runner.invoke(cli, ["--workspace", str(ws), *args])
        assert result.exit_code in (0, 1, 3), (args, result.output)  # 3: a refusal, said
        said.append(result.stdout + result.stderr)

    run("expected", "import", "--site", "borken", str(excel))
    run("expected", "import", "--site", "borken", str(utf8), "--json")
    run("expected", "import", "--site", "borken", str(utf8), "--replace", "--dry-run")
    run("expected", "list", "--site", "borken")
    run("expected", "list", "--site", "borken", "--json")
    run("verify", "--site", "borken", "--json")
    run("verify", "--site", "borken")
    for fmt in ("html", "csv", "json"):
        run("verify", "--site", "borken", "--format", fmt, "-o", str(tmp_path / f"r.{fmt}"))
        said.append((tmp_path / f"r.{fmt}").read_text(encoding="utf-8-sig"))
    run("clarify", "list", "--site", "borken", "--json")
    run("rollout", "status", "--json")
    run("audit", "verify", "--json")
    for i, text in enumerate(said):
        _no_names(text, f"output {i}")
    assert "95401BG0000101" in said[3]  # households are named by number
    _no_names(_index_bytes(ws), "the index")
    for path in ws.rglob("*"):
        if path.is_file():
            _no_names(path.read_bytes(), str(path))

"""Backups (issue 15): a consistent copy of the index, the archive, the transfer notes and a
signed audit checkpoint; checked on its own; restored into a workspace that verifies."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sqlite3
import stat
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from esak import backup as lib
from esak.archive import clear_journal, move_in, write_journal
from esak.backup import (
    BackupDamagedError,
    backup,
    changes_since,
    latest_backup,
    restore_backup,
    verify_backup,
)
from esak.cli import cli
from esak.errors import ExitCode, IntegrityError, UsageError
from esak.index.audit import (
    DOCUMENT_ARCHIVED,
    DOCUMENT_FIELDS,
    append_audit,
    audit_fields,
    now,
    record_existing,
)
from esak.index.db import Index
from esak.migrate.withdraw import withdraw_delivery
from esak.synthetic import (
    random_person,
    render_blank_page,
    render_content_page,
    render_cover_sheet,
    render_separator,
)
from esak.synthetic.index import Shape, household_number, populate
from esak.verify import Level
from esak.verify import verify as verify_sites
from esak.verify.audit import checkpoint, verify_audit
from esak.verify.transfer import write_notes
from esak.workspace import Workspace
from tests.conftest import write_pdf

SMALL = Shape(
    households=2,
    documents_per_household=2,
    pages_per_document=1,
    blank_per_document=0,
    households_per_batch=2,
)
HOUSEHOLD = "95401BG0000401"
DPI = 150


def esak(ws: Path, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(ws), *args], catch_exceptions=False)


def make_workspace(root: Path, *, notes: bool = True, shape: Shape = SMALL) -> Workspace:
    """Generated rows and stand-in PDFs (no OCR), every row on record in the audit log (as an
    index that got its log later has them), and real transfer notes."""
    workspace = Workspace(root).ensure()
    with Index.open(workspace.index_path) as index:
        populate(index, workspace.archive_dir, "borken", shape)
        with index.transaction() as db:
            record_existing(db)
    if notes:
        write_notes(workspace, "borken", by="A. Admin")
    return workspace


def add_delivery(workspace: Workspace, site: str, households: int, first: int) -> int:
    """A further generated delivery (its rows on record in the log); returns its id."""
    shape = Shape(households, 1, 1, 0, households)
    with Index.open(workspace.index_path) as index:
        with index.transaction() as db:  # populate names every delivery of a site alike
            db.execute("UPDATE deliveries SET path = path || '/' || id WHERE site = ?", [site])
        populate(index, workspace.archive_dir, site, shape, first=first)
        with index.transaction() as db:
            record_existing(db)
        (delivery,) = index.db.execute("SELECT MAX(id) FROM deliveries").fetchone()
    return int(delivery)


def archive_files(top: Path) -> dict[str, str]:
    """Every file under ``top`` with its sha256, by path relative to it."""
    return {
        p.relative_to(top).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(top.rglob("*"))
        if p.is_file()
    }


def rows(path: Path, sql: str) -> list[tuple]:
    db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def copied_documents(place: Path) -> set[str]:
    return {r[0] for r in rows(place / "index.sqlite", "SELECT path FROM documents")}


def codes(check) -> set[str]:
    return {p["code"] for p in check.problems}


# --- the round trip, on a real ingest ---------------------------------------------------------


@pytest.fixture(scope="module")
def ingested(tmp_path_factory) -> Path:
    """A real ingest of one batch (two documents, PDF/A with a text layer) of an expected
    household, and their transfer notes: a workspace `verify --level valid` passes."""
    root = tmp_path_factory.mktemp("backup")
    rng = random.Random(15)
    person = random_person(rng)
    pages = [
        render_cover_sheet(HOUSEHOLD, site="borken", dpi=DPI, rng=rng),
        render_content_page(rng, "schreiben", dpi=DPI, person=person, household=HOUSEHOLD),
        render_separator("PATCHT", dpi=DPI, rng=rng),
        render_content_page(rng, "lohnabrechnung", dpi=DPI, person=person, household=HOUSEHOLD),
        render_blank_page(rng, dpi=DPI),
    ]
    write_pdf(pages, root / "delivery" / "batch_001.pdf", DPI)
    (root / "soll.csv").write_text(f"household\n{HOUSEHOLD}\n", encoding="utf-8")
    ws = root / "ws"
    for args in (
        ("expected", "import", "--site", "borken", str(root / "soll.csv")),
        ("ingest", "--site", "borken", str(root / "delivery"), "--workers", "1"),
        ("transfer-note", "--site", "borken", "--by", "A. Admin"),
    ):
        result = esak(ws, *args)
        assert result.exit_code == 0, result.output
    return ws


def test_round_trip_backup_verify_restore_gives_a_workspace_that_verifies(ingested, tmp_path):
    workspace = Workspace(ingested)
    place = tmp_path / "backup"
    result = backup(workspace, place)
    assert result.exit_code == ExitCode.OK and result.verified, result.to_dict()
    assert (result.documents, result.notes) == (2, 2)
    assert result.files == result.files_copied == 4 and result.problems == []
    assert result.bytes_copied == sum((ingested / "archive" / p).stat().st_size
                                      for p in archive_files(ingested / "archive"))  # fmt: skip
    assert result.verification is not None and result.verification.files_checked == 4 + 3
    json.dumps(result.to_dict())  # JSON-able, for --json
    # Everything in the place is owner-only.
    for path in [place, *place.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    manifest = json.loads((place / "backup.json").read_text())
    assert manifest["state"] == "complete" and manifest["site"] is None
    assert manifest["audit"] == {
        "size": result.audit_size, "root": result.audit_root, "key_id": manifest["audit"]["key_id"]
    }  # fmt: skip

    check = verify_backup(place)
    assert check.exit_code == ExitCode.OK and check.problems == [], check.problems
    assert (check.documents, check.notes, check.files_checked) == (2, 2, 7)

    # The live index records the backup: its place, time, checkpoint; and the release check
    # finds it current.
    with Index.open(workspace.index_path) as index:
        row = latest_backup(index, "borken")
        assert row is not None and row["id"] == result.backup_id and row["verified"] == 1
        assert (row["place"], row["audit_size"], row["audit_root"]) == (
            str(place), result.audit_size, result.audit_root
        )  # fmt: skip
        assert latest_backup(index, None)["id"] == result.backup_id  # of every site
        assert changes_since(index, row) == 0
        (event,) = index.db.execute(
            "SELECT data FROM audit_log WHERE kind = 'backup_made'"
        ).fetchone()
        assert json.loads(event)["place"] == str(place)
    assert verify_audit(workspace).exit_code == ExitCode.OK  # its own event keeps it intact

    target = tmp_path / "restored"
    restored = restore_backup(place, target)
    assert restored.exit_code == ExitCode.OK and not restored.partial
    assert (restored.documents, restored.files) == (2, 4)
    assert restored.checkpoint == target / "restored-checkpoint.json"
    json.dumps(restored.to_dict())
    # The same files, the same index as when the backup was taken.
    assert archive_files(target / "archive") == archive_files(ingested / "archive")
    for sql in (
        "SELECT * FROM documents ORDER BY id",
        "SELECT * FROM transfer_notes ORDER BY document_id",
        "SELECT * FROM pages ORDER BY id",
        f"SELECT * FROM audit_log WHERE seq < {result.audit_size} ORDER BY seq",
    ):
        assert rows(target / "index.sqlite", sql) == rows(ingested / "index.sqlite", sql), sql
    for path in [target / "index.sqlite", target / "audit-key.pem", *target.rglob("*.pdf")]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path

    # What `esak verify --level valid` and `esak audit verify --checkpoint` run.
    again = Workspace(target)
    verified = verify_sites(again, "borken", level=Level.VALID)
    report = verified.reports[0]
    assert verified.exit_code == ExitCode.OK, report.to_dict()
    assert report.intact and report.fixity.checked == 2 and report.fixity.notes_checked == 2
    audit = verify_audit(again, restored.checkpoint)
    assert audit.exit_code == ExitCode.OK, [p.to_dict() for p in audit.problems]
    assert audit.checkpoint["consistent"] and audit.checkpoint["signature_valid"]
    assert audit.files_checked == 2


# --- incremental ------------------------------------------------------------------------------


def test_a_second_backup_copies_nothing_a_new_document_only_itself_a_withdrawn_one_leaves(
    tmp_path,
):
    workspace = make_workspace(tmp_path / "ws")
    place = tmp_path / "backup"
    first = backup(workspace, place)
    assert first.verified and first.files == first.files_copied == 8  # 4 PDFs, 4 notes
    pdf = place / "archive" / "borken" / household_number(1) / "band-01" / "0001.pdf"
    inode = pdf.stat().st_ino

    second = backup(workspace, place)
    assert second.verified and second.exit_code == ExitCode.OK
    assert (second.files_copied, second.bytes_copied, second.files_unchanged) == (0, 0, 8)
    assert pdf.stat().st_ino == inode  # not rewritten

    delivery = add_delivery(workspace, "borken", households=1, first=50)
    new = f"borken/{household_number(50)}/band-01/0001.pdf"
    with Index.open(workspace.index_path) as index:  # the release check's question
        last = latest_backup(index, "borken")
        assert last["id"] == second.backup_id and changes_since(index, last) == 1
        assert (
            changes_since(index, last, "borken") == 1 and changes_since(index, last, "rhede") == 0
        )
    third = backup(workspace, place)
    assert third.verified and (third.files_copied, third.files_unchanged) == (1, 8)
    assert third.bytes_copied == (workspace.archive_dir / new).stat().st_size
    assert (place / "archive" / new).is_file() and new in copied_documents(place)

    withdraw_delivery(workspace, delivery, by="A. Admin", reason="delivered twice")
    assert not (workspace.archive_dir / new).exists()
    fourth = backup(workspace, place)
    assert fourth.verified and (fourth.files_copied, fourth.files_removed) == (0, 1)
    assert not (place / "archive" / new).exists()
    assert not (place / "archive" / "borken" / household_number(50)).exists()  # empty folders
    assert archive_files(place / "archive") == archive_files(workspace.archive_dir)
    assert verify_backup(place).exit_code == ExitCode.OK
    with Index.open(workspace.index_path) as index:
        history = lib.list_backups(index)
    assert [h["files_copied"] for h in history] == [0, 1, 0, 8]


def test_a_backup_of_one_site_holds_its_files_and_covers_only_it(tmp_path):
    workspace = make_workspace(tmp_path / "ws", notes=False)
    add_delivery(workspace, "rhede", households=2, first=70)
    place = tmp_path / "backup"
    result = backup(workspace, place, site="borken")
    assert result.verified and result.documents == 4 and result.site == "borken"
    assert {p.split("/")[0] for p in archive_files(place / "archive")} == {"borken"}
    with Index.open(workspace.index_path) as index:
        assert latest_backup(index, "borken")["id"] == result.backup_id
        assert latest_backup(index, "rhede") is None
        assert latest_backup(index, None) is None  # not a backup of every site
    restored = restore_backup(place, tmp_path / "restored")
    assert restored.partial and restored.site == "borken"
    assert any("archive of borken only" in m for m in restored.messages)


# --- what a backup refuses -----------------------------------------------------------------


def test_a_place_inside_the_workspace_or_with_other_files_is_refused(tmp_path):
    workspace = make_workspace(tmp_path / "ws", notes=False)
    with pytest.raises(UsageError, match="inside the workspace"):
        backup(workspace, workspace.root / "backup")
    other = tmp_path / "photos"
    (other / "archive").mkdir(parents=True)
    (other / "archive" / "holiday.jpg").write_bytes(b"jpeg")
    with pytest.raises(UsageError, match="holds no esak backup"):
        backup(workspace, other)
    assert (other / "archive" / "holiday.jpg").read_bytes() == b"jpeg"  # untouched


def test_a_live_file_that_differs_from_the_index_fails_the_backup_unverified(tmp_path):
    workspace = make_workspace(tmp_path / "ws", notes=False)
    place = tmp_path / "backup"
    assert backup(workspace, place).verified
    rel = f"borken/{household_number(2)}/band-01/0002.pdf"
    good = (place / "archive" / rel).read_bytes()
    (workspace.archive_dir / rel).write_bytes(b"%PDF-1.7 replaced behind esak's back\n")
    # The copy the place has is the one the index records: kept, the live file not read.
    kept = backup(workspace, place)
    assert kept.verified and kept.files_copied == 0
    assert (place / "archive" / rel).read_bytes() == good
    # A new place must copy it: the bytes are not what the index says, twice.
    fresh = tmp_path / "fresh"
    result = backup(workspace, fresh)
    assert result.exit_code == ExitCode.INTEGRITY and not result.verified
    assert [p["path"] for p in result.problems] == [f"archive/{rel}"]
    assert result.problems[0]["code"] == "copy_differs"
    assert "run the backup again" in result.remedy
    assert not (fresh / "archive" / rel).exists() and result.files_copied == 3
    # Not a backup to rely on: the manifest says so, the index records it unverified.
    assert codes(verify_backup(fresh)) == {"backup_incomplete"}
    with Index.open(workspace.index_path) as index:
        assert lib.list_backups(index)[0]["verified"] == 0
        assert latest_backup(index, "borken")["id"] == kept.backup_id


def test_a_damaged_audit_log_gets_no_backup_and_the_place_is_left_as_it_was(tmp_path):
    workspace = make_workspace(tmp_path / "ws", notes=False)
    place = tmp_path / "backup"
    assert backup(workspace, place).verified
    before = archive_files(place)
    db = sqlite3.connect(workspace.index_path, isolation_level=None)
    db.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
    db.execute("UPDATE audit_log SET data = replace(data, 'borken', 'rhede') WHERE seq = 0")
    db.close()
    with pytest.raises(IntegrityError, match="audit log is damaged"):
        backup(workspace, place)
    assert archive_files(place) == before
    assert verify_backup(place).exit_code == ExitCode.OK


# --- damaged backups ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """One good backup (documents and notes) to damage in copies."""
    root = tmp_path_factory.mktemp("pristine")
    place = root / "backup"
    assert backup(make_workspace(root / "ws"), place).verified
    return place


@pytest.fixture(scope="module")
def other_checkpoint(tmp_path_factory) -> Path:
    """A checkpoint of another workspace's log."""
    root = tmp_path_factory.mktemp("other")
    workspace = make_workspace(root / "ws", notes=False, shape=Shape(1, 1, 1, 0, 1))
    return checkpoint(workspace, root / "checkpoint.json").file


def _first(place: Path, suffix: str) -> Path:
    return sorted((place / "archive").rglob(f"*{suffix}"))[0]


def _set_manifest(place: Path, change) -> None:
    path = place / "backup.json"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def _entry(doc: dict, name: str) -> dict:
    return next(e for e in doc["files"] if e["path"] == name)


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _changed_entry(place: Path) -> None:
    name = _first(place, ".pdf").relative_to(place).as_posix()
    _set_manifest(place, lambda d: _entry(d, name).update(sha256="0" * 64))


def _truncated_index(place: Path) -> None:
    path = place / "index.sqlite"
    os.truncate(path, path.stat().st_size // 2)


def _other_log(place: Path, checkpoint_file: Path, *, relist: bool) -> None:
    shutil.copyfile(checkpoint_file, place / "checkpoint.json")
    if relist:  # and the manifest made to list it: the deeper checks still find it
        digest = hashlib.sha256((place / "checkpoint.json").read_bytes()).hexdigest()
        size = (place / "checkpoint.json").stat().st_size
        _set_manifest(place, lambda d: _entry(d, "checkpoint.json").update(sha256=digest,
                                                                            size=size))  # fmt: skip


def _edited_row(place: Path) -> None:
    """A documents row changed in the copied index, and the manifest made to list the new
    index file: the audit log and the manifest's own listing still disagree."""
    path = place / "index.sqlite"
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("UPDATE documents SET pages = 99 WHERE id = 1")
    db.close()
    digest, size = hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_size
    _set_manifest(place, lambda d: _entry(d, "index.sqlite").update(sha256=digest, size=size))


DAMAGES = {
    "a changed byte in a PDF": (lambda p, c: _flip_byte(_first(p, ".pdf")), {"changed"}),
    "a deleted transfer note": (lambda p, c: _first(p, ".tv.xml").unlink(), {"missing"}),
    "an extra file": (
        lambda p, c: (_first(p, ".pdf").parent / "0099.pdf").write_bytes(b"%PDF-1.7\n"),
        {"extra"},
    ),
    "a changed backup.json entry": (
        lambda p, c: _changed_entry(p), {"changed", "manifest_differs"}
    ),
    "a truncated index.sqlite": (lambda p, c: _truncated_index(p), {"changed"}),
    "a checkpoint from another log": (
        lambda p, c: _other_log(p, c, relist=False), {"changed", "checkpoint_differs"}
    ),
    "a checkpoint from another log, listed": (
        lambda p, c: _other_log(p, c, relist=True), {"checkpoint_differs", "key_differs"}
    ),
    "a row edited in the copied index": (
        lambda p, c: _edited_row(p), {"audit_row_changed"}
    ),
    "a backup that did not finish": (
        lambda p, c: _set_manifest(p, lambda d: d.update(state="incomplete")),
        {"backup_incomplete"},
    ),
    "a manifest that lists nothing": (
        lambda p, c: _set_manifest(p, lambda d: d.update(files=[])), {"manifest_malformed"}
    ),
    "no backup.json": (lambda p, c: (p / "backup.json").unlink(), {"manifest_missing"}),
    "a stray journal beside the index": (
        lambda p, c: (p / "index.sqlite-journal").write_bytes(b"x"), {"extra"}
    ),
}  # fmt: skip


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_backup_fails_backup_verify(damage, pristine, other_checkpoint, tmp_path):
    place = tmp_path / "backup"
    shutil.copytree(pristine, place)
    assert verify_backup(place).exit_code == ExitCode.OK
    change, expected = DAMAGES[damage]
    change(place, other_checkpoint)
    check = verify_backup(place)
    assert check.exit_code == ExitCode.INTEGRITY and not check.intact
    assert expected <= codes(check), check.problems
    assert all(p["detail"] and "path" in p for p in check.problems)
    json.dumps(check.to_dict())
    with pytest.raises(BackupDamagedError) as refused:
        restore_backup(place, tmp_path / "restored")
    assert refused.value.exit_code == ExitCode.INTEGRITY and refused.value.check.problems
    assert not (tmp_path / "restored").exists()  # nothing restored


# --- restore refuses -----------------------------------------------------------------------------


def test_restore_refuses_a_folder_that_is_not_empty_or_a_file(pristine, tmp_path):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "index.sqlite").write_bytes(b"someone's workspace")
    with pytest.raises(UsageError, match="not empty") as refused:
        restore_backup(pristine, busy)
    assert refused.value.exit_code == ExitCode.USAGE
    assert (busy / "index.sqlite").read_bytes() == b"someone's workspace"
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(UsageError, match="not a folder"):
        restore_backup(pristine, tmp_path / "file")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert restore_backup(pristine, empty).files == 8  # an empty folder will do


# --- consistent while being ingested ----------------------------------------------------------


def _new_document(workspace: Workspace, db, n: int) -> tuple[str, Path]:
    """A documents row and its event, as ingest's commit records them; the PDF in scratch
    space, to be moved in just before the commit."""
    (file_id,) = db.execute("SELECT MIN(id) FROM input_files").fetchone()
    household = household_number(200 + n)
    rel = f"borken/{household}/band-01/0001.pdf"
    content = f"%PDF-1.7 ingested while backing up {n}\n".encode()
    source = workspace.tmp_dir / f"doc-{n}.pdf"
    source.write_bytes(content)
    row = {
        "site": "borken", "household": household, "volume": 1, "seq": 1, "doc_type": None,
        "path": rel, "pages": 1, "size": len(content),
        "sha256": hashlib.sha256(content).hexdigest(), "pdfa": "2B", "text_chars": 10,
        "file_id": file_id, "created_at": now(),
    }  # fmt: skip
    doc_id = db["documents"].insert(row).last_pk
    append_audit(db, DOCUMENT_ARCHIVED, ("documents", doc_id), audit_fields(row, DOCUMENT_FIELDS))
    return rel, source


def _commit_documents(workspace: Workspace, numbers: range, moved=None, go=None) -> None:
    """What ingest's commit does (esak.migrate.commit), holding the workspace lock as ingest
    does: rows and events, the journal, the files moved in, then the commit."""
    with workspace.lock(), Index.open(workspace.index_path) as index:
        for n in numbers:
            with index.transaction() as db:
                moves = [_new_document(workspace, db, n)]
                targets = [workspace.archive_dir / rel for rel, _ in moves]
                write_journal(workspace, targets)
                move_in([(str(src), workspace.archive_dir / rel) for rel, src in moves])
                if moved is not None:
                    moved.set()  # in the archive, not committed
                    assert go.wait(30)
            clear_journal(workspace)


def test_a_backup_during_an_open_ingest_transaction_holds_exactly_what_was_committed(
    tmp_path, monkeypatch
):
    workspace = make_workspace(tmp_path / "ws")
    committed = {r[0] for r in rows(workspace.index_path, "SELECT path FROM documents")}
    moved, go = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def ingest() -> None:
        try:
            _commit_documents(workspace, range(3), moved, go)
        except BaseException as exc:  # reported by the test
            errors.append(exc)
            moved.set()

    def snapshot_then_let_it_commit(*args, **kwargs):
        taken = real_snapshot(*args, **kwargs)
        go.set()  # the ingest commits while the backup copies
        return taken

    real_snapshot = lib._snapshot
    monkeypatch.setattr(lib, "_snapshot", snapshot_then_let_it_commit)
    writer = threading.Thread(target=ingest)
    writer.start()
    try:
        assert moved.wait(30) and not errors
        uncommitted = f"borken/{household_number(200)}/band-01/0001.pdf"
        assert (workspace.archive_dir / uncommitted).is_file()  # moved in, not committed
        place = tmp_path / "backup"
        result = backup(workspace, place)
    finally:
        go.set()
        writer.join(30)
    assert not errors, errors
    assert result.verified, result.to_dict()
    assert copied_documents(place) == committed and result.documents == len(committed)
    assert not (place / "archive" / uncommitted).exists()
    assert verify_backup(place).exit_code == ExitCode.OK
    # The ingest went on; the next backup copies what it committed, and only that.
    monkeypatch.setattr(lib, "_snapshot", real_snapshot)
    again = backup(workspace, place)
    assert again.verified and again.files_copied == 3
    assert copied_documents(place) == committed | {
        f"borken/{household_number(200 + n)}/band-01/0001.pdf" for n in range(3)
    }


def test_a_backup_while_documents_keep_arriving_is_a_consistent_prefix(tmp_path):
    workspace = make_workspace(tmp_path / "ws", notes=False)
    before = {r[0] for r in rows(workspace.index_path, "SELECT path FROM documents")}
    started, errors = threading.Event(), []

    # A steady stream of commits, each with its files moved in just before it.
    def stream() -> None:
        try:
            started.set()
            _commit_documents(workspace, range(10, 70))
        except BaseException as exc:
            errors.append(exc)

    writer = threading.Thread(target=stream)
    writer.start()
    try:
        assert started.wait(30)
        place = tmp_path / "backup"
        results = [backup(workspace, place) for _ in range(3)]
    finally:
        writer.join(60)
    assert not errors, errors
    after = {r[0] for r in rows(workspace.index_path, "SELECT path FROM documents")}
    for result in results:
        assert result.verified, result.to_dict()
    held = copied_documents(place)
    assert before <= held <= after
    assert set(archive_files(place / "archive")) == held  # the files are the index's, no more
    assert verify_backup(place).exit_code == ExitCode.OK
    final = backup(workspace, place)
    assert final.verified and copied_documents(place) == after


def test_what_a_killed_ingest_left_is_cleared_first_when_no_run_holds_the_workspace(tmp_path):
    workspace = make_workspace(tmp_path / "ws", notes=False)
    stray = workspace.archive_dir / "borken" / household_number(300) / "band-01" / "0001.pdf"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"%PDF-1.7 moved in, never committed\n")
    write_journal(workspace, [stray])  # as a kill -9 between the move and the commit leaves
    place = tmp_path / "backup"
    result = backup(workspace, place)
    assert result.verified and not stray.exists()
    assert any("killed run" in m for m in result.messages)
    assert archive_files(place / "archive") == archive_files(workspace.archive_dir)


def test_the_commands_backup_verify_and_restore(tmp_path):
    workspace = make_workspace(tmp_path / "ws")
    place = tmp_path / "sicherung"
    made = esak(workspace.root, "backup", "--to", str(place), "--site", "borken", "--json")
    assert made.exit_code == ExitCode.OK, made.output
    result = json.loads(made.stdout)
    assert result["verified"] and result["files"] == result["files_copied"] > 0
    checked = CliRunner().invoke(cli, ["backup", "verify", str(place), "--json"])
    assert checked.exit_code == ExitCode.OK and json.loads(checked.stdout)["intact"]
    next(place.joinpath("archive").rglob("*.pdf")).write_bytes(b"%PDF-1.7 changed\n")
    checked = CliRunner().invoke(cli, ["--lang", "en", "backup", "verify", str(place)])
    assert checked.exit_code == ExitCode.INTEGRITY and "difference" in checked.output
    refused = CliRunner().invoke(cli, ["restore", str(place), "--to", str(tmp_path / "neu"),
                                       "--json"])  # fmt: skip
    assert refused.exit_code == ExitCode.INTEGRITY and not (tmp_path / "neu").exists()
    again = esak(workspace.root, "backup", "--to", str(place), "--site", "borken", "--json")
    assert again.exit_code == ExitCode.OK and json.loads(again.stdout)["files_copied"] == 1
    restored = CliRunner().invoke(cli, ["restore", str(place), "--to", str(tmp_path / "neu"),
                                        "--json"])  # fmt: skip
    assert restored.exit_code == ExitCode.OK, restored.output
    assert (tmp_path / "neu" / "index.sqlite").is_file()
    usage = esak(workspace.root, "backup")
    assert usage.exit_code == ExitCode.USAGE and "--to" in usage.output

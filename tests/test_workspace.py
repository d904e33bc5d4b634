"""The workspace: commands that only read never create it, and who may read it (the read group).

Tests of other users run the CLI through setpriv as ``nobody`` (with or without the read group
as a supplementary group): CI runs as root, and root may read anything.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import sys
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from esak.archive import move_in
from esak.cli import cli
from esak.errors import ExitCode, WorkspaceError
from esak.index.db import MIGRATIONS, Index, schema_version
from esak.synthetic.index import Shape, populate
from esak.workspace import PRIVATE, Access, Workspace
from tests.conftest import READ_GROUP, UNPRIVILEGED, as_unprivileged, as_user, snapshot

SMALL = Shape(households=3, documents_per_household=2, pages_per_document=2,
              blank_per_document=0, households_per_batch=3)  # fmt: skip

#: Every command that only reads, as a script calls it.
READ_ONLY = {
    "show": ["show", "95401BG0000001"],
    "verify": ["verify", "--site", "borken"],
    "verify --history": ["verify", "--history"],
    "rollout status": ["rollout", "status"],
    "rollout plan": ["rollout", "plan"],
    "coversheets": ["coversheets", "--site", "borken", "-o", "{out}/sheets.pdf"],
    "blanks": ["blanks", "--site", "borken"],
    "expected list": ["expected", "list", "--site", "borken"],
}


def esak(ws: Path, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(ws), *args], catch_exceptions=False)


def command(name: str, out: Path) -> list[str]:
    return [a.replace("{out}", str(out)) for a in READ_ONLY[name]] + ["--json"]


def make_workspace(root: Path) -> Workspace:
    """Three archived households of Borken, verified once by the owner."""
    ws = Workspace(root).ensure()
    with Index.open(ws.index_path) as index:
        populate(index, ws.archive_dir, "borken", SMALL)
    assert esak(root, "verify", "--site", "borken").exit_code == ExitCode.OK
    return ws


def esak_as(uid_gid_groups: tuple[int, int, tuple[int, ...]], ws: Path, *args: str):
    uid, gid, groups = uid_gid_groups
    argv = [sys.executable, "-m", "esak", "--workspace", str(ws), *args]
    return as_user(argv, uid, gid, groups, cwd="/")


@pytest.fixture
def member(read_group: int) -> tuple[int, int, tuple[int, ...]]:
    """nobody, with the read group as a supplementary group."""
    return UNPRIVILEGED, UNPRIVILEGED, (read_group,)


OUTSIDER = (UNPRIVILEGED, UNPRIVILEGED, ())


def modes(root: Path) -> dict[str, tuple[int, int]]:
    """Every path under ``root`` (itself included) with its permission bits and gid."""
    return {
        str(p.relative_to(root)): (stat.S_IMODE(p.lstat().st_mode), p.lstat().st_gid)
        for p in [root, *root.rglob("*")]
    }


# --- point 1: commands that only read never create a workspace -------------------------------


@pytest.mark.parametrize("name", list(READ_ONLY))
def test_a_read_only_command_refuses_a_folder_that_is_not_there(tmp_path, name):
    missing = tmp_path / "no-such-workspace"
    result = esak(missing, *command(name, tmp_path))
    assert result.exit_code == ExitCode.WORKSPACE, result.output
    error = json.loads(result.stdout)
    assert error["error"] == f"there is no workspace {missing}"
    assert "--workspace" in error["remedy"] and "esak expected import" in error["remedy"]
    assert not missing.exists()
    assert not (tmp_path / "sheets.pdf").exists()


def test_an_empty_folder_is_an_empty_workspace_and_stays_empty(tmp_path):
    empty = tmp_path / "ws"
    empty.mkdir()
    code, status = (r := esak(empty, "rollout", "status", "--json")).exit_code, json.loads(r.stdout)
    # The first thing a rollout script asks: every site of the profiles, nothing done yet.
    assert len(status["sites"]) == 18
    assert {s["state"] for s in status["sites"]} == {"planned", "unplanned"}
    assert status["totals"]["expected"] == 0
    assert code == ExitCode.PROBLEMS  # Borken's go-live has passed: overdue, as with no data
    plan = esak(empty, "rollout", "plan", "--json")
    assert len(json.loads(plan.stdout)["order"]) == 18
    assert json.loads(plan.stdout)["next"]["site"] == "borken"
    assert plan.exit_code == ExitCode.PROBLEMS  # Borken is blocked
    verify = esak(empty, "verify", "--site", "borken", "--json")
    report = json.loads(verify.stdout)
    assert verify.exit_code == ExitCode.PROBLEMS
    assert report["complete"] is False and report["recorded"] is False
    assert "is empty" in verify.stderr
    assert esak(empty, "verify", "--history", "--json").exit_code == ExitCode.OK
    assert esak(empty, "verify", "--all").exit_code == ExitCode.INPUT  # nothing to verify
    assert esak(empty, "show", "95401BG0000001").exit_code == ExitCode.INPUT  # not in the index
    assert esak(empty, "blanks", "--site", "borken", "--json").exit_code == ExitCode.OK
    sheets = esak(empty, "coversheets", "--site", "borken", "-o", str(tmp_path / "s.pdf"))
    assert sheets.exit_code == ExitCode.INPUT  # no expected list
    listed = esak(empty, "expected", "list", "--site", "borken", "--json")
    assert json.loads(listed.stdout) == {"site": "borken", "total": 0, "households": []}
    assert list(empty.iterdir()) == []


def test_read_only_commands_leave_an_existing_workspace_as_it_was(tmp_path):
    ws = make_workspace(tmp_path / "ws")
    before = snapshot(ws.root)
    for name in READ_ONLY:
        if name != "verify":  # the owner's verify is recorded: it writes
            esak(ws.root, *command(name, tmp_path))
    assert snapshot(ws.root) == before  # not even a -wal or -shm file left behind


def test_open_readonly_creates_nothing_and_never_migrates(tmp_path):
    path = tmp_path / "index.sqlite"
    with Index.open_readonly(path) as empty:  # no file: an empty index in memory
        assert empty.read_only and empty.schema_version == schema_version()
        assert empty.db.execute("SELECT COUNT(*) FROM expected").fetchone()[0] == 0
    assert list(tmp_path.iterdir()) == []

    older_db = sqlite_utils.Database(sqlite3.connect(path, isolation_level=None))
    for migration in MIGRATIONS[:2]:  # as an esak that knew two migrations left it
        migration(older_db)
    older_db.execute("PRAGMA user_version=2")
    older_db.close()
    before = path.read_bytes()
    with pytest.raises(WorkspaceError) as older:
        Index.open_readonly(path)
    assert "older esak" in older.value.message and "writes" in older.value.remedy
    assert path.read_bytes() == before  # not migrated
    with Index.open(path) as index:  # a command that writes migrates it
        assert index.schema_version == schema_version()

    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version={schema_version() + 1}")
    with pytest.raises(WorkspaceError, match="newer esak"):
        Index.open_readonly(path)

    folder = tmp_path / "folder.sqlite"
    folder.mkdir()
    with pytest.raises(WorkspaceError, match="is a folder"):
        Index.open_readonly(folder)
    (tmp_path / "stranger.sqlite").write_bytes(b"not a database at all")
    with pytest.raises(WorkspaceError, match="not an esak index"):
        Index.open_readonly(tmp_path / "stranger.sqlite")


def test_a_read_only_index_refuses_to_write(tmp_path):
    ws = make_workspace(tmp_path / "ws")
    with (
        Index.open_readonly(ws.index_path) as index,
        pytest.raises(WorkspaceError),
        index.transaction() as db,
    ):
        db["runs"].insert({"command": "x", "esak_version": "0", "started_at": "now"})


# --- point 2: another OS user, and the read group --------------------------------------------


def test_verify_as_another_user_of_a_private_workspace_is_exit_9(open_tmp):
    """Before: exit 70, "this is a bug" (PermissionError on the index)."""
    ws = make_workspace(open_tmp / "ws")
    for args in (["verify", "--site", "borken"], ["show", "95401BG0000001"], ["rollout", "status"]):
        argv = [sys.executable, "-m", "esak", "--workspace", str(ws.root), *args, "--json"]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
        done = as_unprivileged(argv, env=env, cwd="/")
        assert done.returncode == ExitCode.WORKSPACE, (args, done.stdout, done.stderr)
        error = json.loads(done.stdout)
        assert "may not read the workspace" in error["error"]
        assert "esak workspace share --group GROUP" in error["remedy"]
        assert "bug" not in done.stderr


def test_an_index_the_reader_may_not_open_is_exit_9(open_tmp, member, read_group):
    ws = make_workspace(open_tmp / "ws")
    ws.root.chmod(0o755)  # the folder readable, the index (0600) not
    done = esak_as(member, ws.root, "verify", "--site", "borken", "--json")
    assert done.returncode == ExitCode.WORKSPACE, done.stderr
    assert "may not read the index" in json.loads(done.stdout)["error"]


def test_share_brings_existing_files_to_the_group_and_a_member_can_read(
    open_tmp, member, read_group
):
    ws = make_workspace(open_tmp / "ws")
    (ws.tmp_dir / "scratch.png").write_bytes(b"page image")
    shared = esak(ws.root, "workspace", "share", "--group", READ_GROUP, "--json")
    assert shared.exit_code == ExitCode.OK, shared.output
    payload = json.loads(shared.stdout)
    assert payload["read_group"] == READ_GROUP
    assert (payload["file_mode"], payload["dir_mode"]) == ("0640", "2750")
    assert json.loads(ws.settings_path.read_text()) == {"read_group": READ_GROUP}
    for rel, (mode, gid) in modes(ws.root).items():
        if rel == "tmp" or rel.startswith("tmp/"):
            assert mode in (0o700, 0o600), rel  # scratch space stays owner-only
        elif (ws.root / rel).is_dir():
            assert (mode, gid) == (0o2750, read_group), rel
        else:
            assert (mode, gid) == (0o640, read_group), rel
    # A reader of a WAL index needs these to exist: it may not create them.
    assert Path(f"{ws.index_path}-wal").exists() and Path(f"{ws.index_path}-shm").exists()

    before = snapshot(ws.root)
    verify = esak_as(member, ws.root, "verify", "--site", "borken", "--json")
    assert verify.returncode == ExitCode.OK, verify.stderr
    report = json.loads(verify.stdout)
    assert report["complete"] and report["intact"] and report["recorded"] is False
    assert report["fixity"]["checked"] == 6
    assert "not recorded" in verify.stderr
    # Re-hashing reads every archived file: none unreadable, none taken for changed.
    valid = esak_as(member, ws.root, "verify", "--site", "borken", "--level", "valid", "--json")
    fixity = json.loads(valid.stdout)["fixity"]
    assert (fixity["checked"], fixity["changed"], fixity["missing"]) == (6, [], []), valid.stderr
    show = esak_as(member, ws.root, "show", "95401BG0000001", "--json")
    assert show.returncode == ExitCode.OK, show.stderr
    assert len(json.loads(show.stdout)["documents"]) == 2
    rollout = esak_as(member, ws.root, "rollout", "status", "--json", "--as-of", "2021-01-01")
    assert rollout.returncode == ExitCode.OK, rollout.stderr
    borken = next(s for s in json.loads(rollout.stdout)["sites"] if s["site"] == "borken")
    assert borken["state"] == "verified"  # the owner's verification, not the member's
    history = esak_as(member, ws.root, "verify", "--history", "--json")
    assert len(json.loads(history.stdout)["verifications"]) == 1
    listed = esak_as(member, ws.root, "expected", "list", "--site", "borken", "--json")
    assert json.loads(listed.stdout)["total"] == 3
    assert snapshot(ws.root) == before  # the member changed nothing


def test_a_member_cannot_write(open_tmp, member, read_group):
    ws = make_workspace(open_tmp / "ws")
    assert esak(ws.root, "workspace", "share", "--group", READ_GROUP).exit_code == 0
    soll = open_tmp / "soll.csv"
    soll.write_text("household\n95401BG0000001\n", encoding="utf-8")
    soll.chmod(0o644)
    delivery = open_tmp / "delivery"
    delivery.mkdir()
    delivery.chmod(0o755)
    before = snapshot(ws.root)
    attempts = {
        "ingest": ["ingest", "--site", "borken", str(delivery)],
        "expected import": ["expected", "import", "--site", "borken", str(soll)],
        "expected remove": ["expected", "remove", "--site", "borken", "95401BG0000001"],
        "blanks keep": ["blanks", "keep", "--site", "borken", "--file", "x.pdf", "--page", "1"],
        "workspace share": ["workspace", "share", "--private"],
        "export": ["export", "--site", "borken", "-o", str(open_tmp / "bag")],
        "purge": ["purge", "--site", "borken", "--exported", str(delivery), "--by", "x",
                  "--reason", "y"],
    }
    for name, args in attempts.items():
        done = esak_as(member, ws.root, *args, "--json")
        assert done.returncode == ExitCode.WORKSPACE, (name, done.stdout, done.stderr)
        error = json.loads(done.stdout)
        assert "may not write to the workspace" in error["error"], name
        assert "as the workspace's owner" in error["remedy"] and "verify" in error["remedy"]
    assert snapshot(ws.root) == before


def test_an_outsider_still_cannot_read_a_shared_workspace(open_tmp, read_group):
    ws = make_workspace(open_tmp / "ws")
    assert esak(ws.root, "workspace", "share", "--group", READ_GROUP).exit_code == 0
    done = esak_as(OUTSIDER, ws.root, "verify", "--site", "borken", "--json")
    assert done.returncode == ExitCode.WORKSPACE
    assert "may not read" in json.loads(done.stdout)["error"]


def test_what_the_owner_writes_after_sharing_is_group_readable(open_tmp, member, read_group):
    ws = make_workspace(open_tmp / "ws")
    assert esak(ws.root, "workspace", "share", "--group", READ_GROUP).exit_code == 0
    soll = open_tmp / "soll.csv"
    soll.write_text("household\n95401BG0000004\n", encoding="utf-8")
    # A writer's last close deletes -wal and -shm; esak puts them back for the readers.
    assert esak(ws.root, "expected", "import", "--site", "borken", str(soll)).exit_code == 0
    for suffix in ("", "-wal", "-shm"):
        info = Path(f"{ws.index_path}{suffix}").stat()
        assert (stat.S_IMODE(info.st_mode), info.st_gid) == (0o640, read_group), suffix
    listed = esak_as(member, ws.root, "expected", "list", "--site", "borken", "--json")
    assert listed.returncode == ExitCode.OK, listed.stderr
    assert json.loads(listed.stdout)["total"] == 4
    # New archive files (as ingest and blanks keep move them in from tmp/, 0600 there).
    built = ws.tmp_dir / "doc.pdf"
    built.write_bytes(b"%PDF")
    built.chmod(0o600)
    target = ws.archive_dir / "borken" / "95401BG0000004" / "band-01" / "0001.pdf"
    move_in([(str(built), target)], ws.access)
    for path in (target, target.parent, target.parent.parent):
        info = path.stat()
        want = 0o2750 if path.is_dir() else 0o640
        assert (stat.S_IMODE(info.st_mode), info.st_gid) == (want, read_group), path
    # A lock file made now is one the members can take shared.
    ws.lock_path.unlink()
    with ws.lock():
        pass
    assert stat.S_IMODE(ws.lock_path.stat().st_mode) == 0o640


def test_private_again_takes_the_group_away(open_tmp, member, read_group):
    ws = make_workspace(open_tmp / "ws")
    assert esak(ws.root, "workspace", "share", "--group", READ_GROUP).exit_code == 0
    back = esak(ws.root, "workspace", "share", "--private", "--json")
    assert back.exit_code == 0 and json.loads(back.stdout)["read_group"] is None
    assert not ws.settings_path.exists()
    for rel, (mode, _) in modes(ws.root).items():
        assert mode == (0o700 if (ws.root / rel).is_dir() else 0o600), rel
    assert Workspace(ws.root).access == PRIVATE
    done = esak_as(member, ws.root, "verify", "--site", "borken", "--json")
    assert done.returncode == ExitCode.WORKSPACE


def test_share_refusals(tmp_path, open_tmp, read_group):
    ws = make_workspace(tmp_path / "ws")
    assert esak(ws.root, "workspace", "share").exit_code == ExitCode.USAGE
    both = esak(ws.root, "workspace", "share", "--group", READ_GROUP, "--private")
    assert both.exit_code == ExitCode.USAGE
    unknown = esak(ws.root, "workspace", "share", "--group", "no-such-group-esak", "--json")
    assert unknown.exit_code == ExitCode.USAGE
    assert "groupadd" in json.loads(unknown.stdout)["remedy"]
    assert not ws.settings_path.exists()
    missing = esak(tmp_path / "nowhere", "workspace", "share", "--group", READ_GROUP)
    assert missing.exit_code == ExitCode.WORKSPACE and not (tmp_path / "nowhere").exists()
    # Someone else's workspace, even one they may read: only its owner shares it.
    other = make_workspace(open_tmp / "ws")
    assert esak(other.root, "workspace", "share", "--group", READ_GROUP).exit_code == 0
    done = esak_as((UNPRIVILEGED, UNPRIVILEGED, (read_group,)), other.root,
                   "workspace", "share", "--group", READ_GROUP)  # fmt: skip
    assert done.returncode == ExitCode.WORKSPACE


def test_a_member_is_refused_while_a_writer_holds_the_workspace(open_tmp, member, read_group):
    ws = make_workspace(open_tmp / "ws")
    assert esak(ws.root, "workspace", "share", "--group", READ_GROUP).exit_code == 0
    with ws.lock():
        done = esak_as(member, ws.root, "verify", "--site", "borken", "--json")
    assert done.returncode == ExitCode.LOCKED, done.stderr
    assert "pid" in json.loads(done.stdout)["error"]
    # rollout does not wait: it is safe while an ingest runs.
    with ws.lock():
        done = esak_as(member, ws.root, "rollout", "status", "--json")
    assert done.returncode in (ExitCode.OK, ExitCode.PROBLEMS), done.stderr


def test_a_member_cannot_finish_an_interrupted_keep(open_tmp, member, read_group):
    ws = make_workspace(open_tmp / "ws")
    assert esak(ws.root, "workspace", "share", "--group", READ_GROUP).exit_code == 0
    (ws.root / "keep.journal").write_text('{"run_id": 1, "entries": []}')
    done = esak_as(member, ws.root, "verify", "--site", "borken", "--json")
    assert done.returncode == ExitCode.WORKSPACE
    error = json.loads(done.stdout)
    assert "blanks keep" in error["error"] and "owner (root)" in error["remedy"]


def test_a_reader_waits_for_the_wal_files_then_says_what_to_do(open_tmp, member, read_group):
    ws = make_workspace(open_tmp / "ws")
    assert esak(ws.root, "workspace", "share", "--group", READ_GROUP).exit_code == 0
    for suffix in ("-wal", "-shm"):  # as a writer's last close (or another tool) leaves it
        Path(f"{ws.index_path}{suffix}").unlink()
    done = esak_as(member, ws.root, "rollout", "status", "--json")
    assert done.returncode == ExitCode.WORKSPACE, done.stderr
    error = json.loads(done.stdout)
    assert "-wal and -shm files are missing" in error["error"]
    assert "esak workspace share --group GROUP" in error["remedy"]


def test_access_modes():
    assert (PRIVATE.file_mode, PRIVATE.dir_mode, PRIVATE.shared) == (0o600, 0o700, False)
    group = Access("g", 1234)
    assert (group.file_mode, group.dir_mode, group.shared) == (0o640, 0o2750, True)


def test_settings_naming_a_group_that_is_gone(tmp_path):
    ws = Workspace(tmp_path / "ws").ensure()
    ws.settings_path.write_text(json.dumps({"read_group": "no-such-group-esak"}))
    with pytest.raises(WorkspaceError, match="does not exist"):
        Workspace(ws.root).ensure()
    ws.settings_path.write_text("{not json")
    with pytest.raises(WorkspaceError, match="not valid JSON"):
        Workspace(ws.root).ensure()

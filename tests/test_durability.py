"""A power cut loses nothing: what ingest and ``blanks keep`` commit is on disk before the
index records it, and a commit the run reported is on disk before the run goes on.

After a power cut a file holds only the bytes it held when it was last fsync'd, a folder only
the names it held when it was last fsync'd, and SQLite's WAL only the commits it synced
(``synchronous=FULL``: every one; ``NORMAL``: none before a checkpoint). A test cannot cut
this machine's power, nor stack dm-flakey / dm-log-writes under the workspace (no
device-mapper in the kernel here, and root only where there is), and a FUSE file system that
drops unsynced writes (LazyFS) would be a C++ build and libfuse more. So :class:`Disk` keeps,
in this process, what a power cut would leave of the workspace:

- ingest and keep run in this process; their OCR workers are other processes, so what they
  write is never synced in the model (as it is not: they never fsync);
- ``os.fsync`` is wrapped: a file's bytes, or a folder's names, as they are at that call, are
  what a power cut keeps of it from then on (every inode the log names is held open, so no
  number is reused for another file meanwhile);
- ``Index.transaction`` is wrapped: an outer COMMIT that returned is one the run reported
  (*acknowledged*: its documents and sha256s), and it is on disk if the connection's own
  ``PRAGMA synchronous`` says SQLite synced it (FULL; the index files as they are right after
  COMMIT are then its image). ``Index.close`` is wrapped too: a close that checkpointed and
  removed the WAL synced the database file whatever the setting.

After every event of the log (each fsync, each commit; the fault points of esak.faults are
marked too) the workspace is rebuilt from the log alone, where it was: only the names and
bytes that were synced, a file whose bytes never were empty. Then it is recovered as the next
run would (``recover_keep``, ``recover_journal``) and checked:

1. every commit the run had reported is in the index (path and sha256 of each document);
2. every document the index records is in the archive, with that sha256;
3. no PDF lies in the archive that the index does not know.

The check can fail, and does: on the same log with one kind of fsync left out (fsync changes
nothing else, so that is the run without those calls), and with esak's durability switched
off for real (``esak.atomic.DURABLE = False``: esak as it was before), a power cut loses a
reported commit or a committed file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import esak.atomic
import esak.faults
from esak.archive import recover_journal
from esak.index.db import Index
from esak.migrate.ingest import ingest_delivery
from esak.migrate.keep import keep_pages, recover_keep
from esak.profiles import load_profile
from esak.synthetic import (
    random_person,
    render_blank_page,
    render_content_page,
    render_cover_sheet,
)
from esak.workspace import Workspace
from tests.conftest import write_pdf

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path("/proc/self/fd").is_dir(),
        reason="the power-cut model names fsync'd files through /proc/self/fd (Linux only)",
    ),
]

DPI = 100  # OCR of a few small pages: the whole module runs in well under half a minute
HOUSEHOLDS = ["95401BG0000401", "95401BG0000402"]
INDEX = "index.sqlite"
JOURNALS = ("commit.journal", "keep.journal")

#: What made an event durable, so that one kind can be left out again (see Disk.group).
GROUPS = ("file", "journal", "workspace-dir", "archive-dirs", "tmp-dirs", "index")


@dataclass(frozen=True)
class Event:
    kind: str  # "data" (a file's bytes), "dir" (a folder's names), "index" (SQLite's files)
    group: str
    ino: int
    payload: Any
    what: str


@dataclass(frozen=True)
class Point:
    """A moment a power cut may come: after the first ``events`` events of the log."""

    label: str
    events: int
    acknowledged: frozenset[tuple[str, str]]


class Disk:
    """The log of what reached the disk under ``root``, and the workspace a power cut after
    any of its events would leave. See the module's docstring."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root_ino = os.stat(root).st_ino
        self.events: list[Event] = []
        self.points: list[Point] = []
        self.acknowledged: frozenset[tuple[str, str]] = frozenset()
        self._pins: dict[int, int] = {}
        # What is there when the model starts has reached the disk (a workspace at rest).
        for top, _, files in os.walk(root):
            self._names(Path(top), "baseline")
            for name in files:
                if not (Path(top) == root and name.startswith(INDEX)):
                    self._bytes(Path(top) / name, "baseline")
        self._index("baseline")
        self.point("start")

    # --- the log ------------------------------------------------------------------------

    def point(self, label: str) -> None:
        self.points.append(Point(label, len(self.events), self.acknowledged))

    def group(self, path: Path, folder: bool) -> str:
        rel = path.relative_to(self.root)
        top = rel.parts[0] if rel.parts else ""
        if folder:
            return {"": "workspace-dir", "archive": "archive-dirs", "tmp": "tmp-dirs"}.get(
                top, "other-dirs"
            )
        return "journal" if rel.as_posix() in JOURNALS else "file"

    def fsync(self, fd: int) -> None:
        """After a real fsync(fd): what it made durable."""
        info = os.fstat(fd)
        where = os.readlink(f"/proc/self/fd/{fd}")
        if info.st_nlink == 0 or not Path(where).is_relative_to(self.root):
            return
        path = Path(where)
        if stat.S_ISDIR(info.st_mode):
            self._names(path, self.group(path, True))
        elif stat.S_ISREG(info.st_mode):
            self._bytes(path, self.group(path, False), fd)
        else:
            return
        self.point(f"fsync {path.relative_to(self.root).as_posix() or '.'}")

    def committed(self, index: Index) -> None:
        """After an outer COMMIT returned: reported; on disk if SQLite synced it."""
        if Path(index.path).parent != self.root:
            return
        conn = index.db.conn
        (sync,) = conn.execute("PRAGMA synchronous").fetchone()
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
        assert mode == "wal", mode  # what the model of SQLite's syncs is for
        if sync >= 2:  # FULL or EXTRA: the WAL is synced before COMMIT returns
            self._index("index")
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'documents'").fetchone():
            rows = conn.execute("SELECT path, sha256 FROM documents").fetchall()
            self.acknowledged = frozenset((str(p), str(s)) for p, s in rows)
        self.point(f"commit (synchronous={sync})")

    def closed(self, index: Index) -> None:
        """The last connection's close checkpoints, syncs the database file, drops the WAL."""
        wal = Path(f"{index.path}-wal")
        if not index.read_only and Path(index.path).parent == self.root and not wal.exists():
            self._index("close")
            self.point("index closed")

    def _pin(self, path: str, ino: int, folder: bool) -> bool:
        """Hold the inode open: its number names this file for as long as the test runs."""
        if ino in self._pins:
            return True
        flags = os.O_RDONLY | os.O_NOFOLLOW | (os.O_DIRECTORY if folder else 0)
        try:
            fd = os.open(path, flags)
        except FileNotFoundError:
            return False
        if os.fstat(fd).st_ino != ino:
            os.close(fd)
            return False
        self._pins[ino] = fd
        return True

    def _bytes(self, path: Path, group: str, fd: int | None = None) -> None:
        source = f"/proc/self/fd/{fd}" if fd is not None else str(path)
        with open(source, "rb") as fh:
            ino, data = os.fstat(fh.fileno()).st_ino, fh.read()
            if ino not in self._pins:
                self._pins[ino] = os.dup(fh.fileno())
        self.events.append(Event("data", group, ino, data, str(path)))

    def _names(self, folder: Path, group: str) -> None:
        names: dict[str, tuple[int, str]] = {}
        for entry in os.scandir(folder):
            try:
                info = os.lstat(entry.path)
            except FileNotFoundError:
                continue
            kind = "dir" if stat.S_ISDIR(info.st_mode) else "file"
            regular = stat.S_ISREG(info.st_mode) or kind == "dir"
            if regular and self._pin(entry.path, info.st_ino, kind == "dir"):
                names[entry.name] = (info.st_ino, kind)
        ino = os.stat(folder).st_ino
        self._pin(str(folder), ino, True)
        self.events.append(Event("dir", group, ino, names, str(folder)))

    def _index(self, group: str) -> None:
        db = self.root / INDEX
        files = {
            suffix: Path(f"{db}{suffix}").read_bytes()
            for suffix in ("", "-wal")
            if Path(f"{db}{suffix}").exists()
        }
        if files:
            self.events.append(Event("index", group, 0, files, INDEX))

    @contextlib.contextmanager
    def recording(self) -> Iterator[Disk]:
        """esak's fsyncs, commits, closes and fault points logged while the block runs."""
        disk, real_fsync, real_fault = self, os.fsync, esak.faults.fault
        transaction, close = Index.transaction, Index.close

        def fsync(fd: int) -> None:
            real_fsync(fd)
            disk.fsync(fd)

        @contextlib.contextmanager
        def tracked(index: Index) -> Iterator[Any]:
            outer = not index.db.conn.in_transaction
            with transaction(index) as db:
                yield db
            if outer:
                disk.committed(index)

        def closing(index: Index) -> None:
            close(index)
            disk.closed(index)

        def fault(point: str) -> None:
            disk.point(f"fault {point}")
            real_fault(point)

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(os, "fsync", fsync)
            mp.setattr(Index, "transaction", tracked)
            mp.setattr(Index, "close", closing)
            for name, module in list(sys.modules.items()):
                if name.startswith("esak.") and getattr(module, "fault", None) is real_fault:
                    mp.setattr(module, "fault", fault)
            yield self
        self.point("end")

    def close(self) -> None:
        for fd in self._pins.values():
            os.close(fd)
        self._pins.clear()

    # --- after a power cut ----------------------------------------------------------------

    def rebuild(self, point: Point, skip: frozenset[str] = frozenset()) -> int:
        """The workspace a power cut at ``point`` leaves, in the workspace's place (the keep
        journal names its backups by absolute path), as if the events of the groups ``skip``
        had never been: returns how many events it is made of."""
        names: dict[int, dict[str, tuple[int, str]]] = {}
        data: dict[int, bytes] = {}
        index: dict[str, bytes] = {}
        used = 0
        for event in self.events[: point.events]:
            if event.group in skip:
                continue
            used += 1
            if event.kind == "dir":
                names[event.ino] = event.payload
            elif event.kind == "data":
                data[event.ino] = event.payload
            else:
                index = event.payload
        shutil.rmtree(self.root)
        self.root.mkdir()

        def build(ino: int, folder: Path) -> None:
            for name, (child, kind) in names.get(ino, {}).items():
                if folder == self.root and name.startswith(INDEX):
                    continue  # SQLite's own files: from its synced image below
                if kind == "dir":
                    (folder / name).mkdir()
                    build(child, folder / name)
                else:
                    (folder / name).write_bytes(data.get(child, b""))  # never synced: empty

        build(self.root_ino, self.root)
        for suffix, content in index.items():
            Path(f"{self.root / INDEX}{suffix}").write_bytes(content)
        return used

    def explore(
        self, skip: frozenset[str] = frozenset(), *, first: bool = False
    ) -> tuple[int, list[tuple[str, list[str]]]]:
        """A power cut at every point, recovered and checked: (distinct states checked,
        [(point, problems)] of those that lose something); ``first``: stop at the first."""
        seen: set[tuple[int, frozenset[tuple[str, str]]]] = set()
        losses: list[tuple[str, list[str]]] = []
        for n, point in enumerate(self.points):
            used = sum(1 for e in self.events[: point.events] if e.group not in skip)
            if (used, point.acknowledged) in seen:
                continue
            seen.add((used, point.acknowledged))
            self.rebuild(point, skip)
            problems = check(self.root, point.acknowledged)
            if problems:
                losses.append((f"#{n} after {point.label}", problems))
                if first:
                    break
        return len(seen), losses


def check(root: Path, acknowledged: frozenset[tuple[str, str]]) -> list[str]:
    """Recover the workspace at ``root`` as the next run does; what it lost or got wrong."""
    workspace = Workspace(root)
    with Index.open(workspace.index_path) as index:
        recover_keep(workspace, index)
        recover_journal(workspace, index)
        rows = index.db.execute("SELECT path, sha256 FROM documents").fetchall()
    recorded = {str(p): str(s) for p, s in rows}
    problems = []
    for path, sha in sorted(acknowledged):
        if recorded.get(path) != sha:
            now = recorded.get(path)
            problems.append(
                f"reported commit lost: the index records {path} "
                + (f"as {now[:12]}, not {sha[:12]}" if now else "no more")
            )
    archive = workspace.archive_dir
    for path, sha in sorted(recorded.items()):
        file = archive / path
        if not file.is_file():
            problems.append(f"committed file lost: {path} is not in the archive")
        elif hashlib.sha256(file.read_bytes()).hexdigest() != sha:
            problems.append(
                f"committed file lost: {path} is not what the index records "
                f"({file.stat().st_size} bytes)"
            )
    for file in sorted(archive.rglob("*.pdf")) if archive.is_dir() else []:
        rel = file.relative_to(archive).as_posix()
        if rel not in recorded:
            problems.append(f"stray file: {rel} is in the archive, not in the index")
    return problems


# --- the runs -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def delivery(tmp_path_factory) -> Path:
    """Two batch files, one household each: cover sheet, a letter, a blank back side."""
    folder = tmp_path_factory.mktemp("durability") / "delivery"
    rng = random.Random(5)
    for n, household in enumerate(HOUSEHOLDS, 1):
        person = random_person(rng)
        pages = [
            render_cover_sheet(household, site="borken", dpi=DPI, rng=rng),
            render_content_page(rng, "schreiben", dpi=DPI, person=person, household=household),
            render_blank_page(rng, dpi=DPI),
        ]
        write_pdf(pages, folder / f"batch_{n:03d}.pdf", DPI)
    return folder


@dataclass
class Recorded:
    disk: Disk
    #: the workspace as the run left it (the model's rebuilds take its place)
    after: Path
    result: Any


class Runs:
    """Each scenario run once per setting, when a test first asks for it."""

    def __init__(self, root: Path, delivery: Path) -> None:
        self.root, self.delivery = root, delivery
        self.done: dict[tuple[str, bool], Recorded] = {}

    def get(self, scenario: str, durable: bool) -> Recorded:
        key = (scenario, durable)
        if key not in self.done:
            folder = self.root / f"{scenario}-{'durable' if durable else 'as-before'}"
            ws = folder / "ws"
            if scenario == "ingest":
                ws.mkdir(parents=True)
                action: Callable[[], Any] = lambda: ingest_delivery(  # noqa: E731
                    Workspace(ws), load_profile("borken"), self.delivery, workers=2
                )
            else:
                # blanks keep on the workspace a durable ingest left, at rest on disk.
                shutil.copytree(self.get("ingest", True).after, ws)
                action = lambda: keep_pages(  # noqa: E731
                    Workspace(ws), load_profile("borken"), "batch_001.pdf", [3]
                )
            disk = Disk(ws)
            with pytest.MonkeyPatch.context() as mp:
                mp.setattr(esak.atomic, "DURABLE", durable)
                with disk.recording():
                    result = action()
            shutil.copytree(ws, folder / "after")
            self.done[key] = Recorded(disk, folder / "after", result)
        return self.done[key]

    def close(self) -> None:
        for run in self.done.values():
            run.disk.close()


@pytest.fixture(scope="module")
def runs(delivery, tmp_path_factory) -> Iterator[Runs]:
    recorded = Runs(tmp_path_factory.mktemp("power-cut"), delivery)
    yield recorded
    recorded.close()


def _labels(disk: Disk) -> list[str]:
    return [p.label for p in disk.points]


# --- durable: nothing is lost ----------------------------------------------------------------


def test_a_power_cut_anywhere_in_an_ingest_loses_nothing(runs):
    run = runs.get("ingest", True)
    report = run.result
    assert report.documents_written == 2 and report.pages["blank"] == 2, report
    labels = _labels(run.disk)
    # Both files' moves into the archive, each followed by a synced commit.
    assert labels.count("fault moved") == 2
    after_moves = [labels[i + 1 :] for i, label in enumerate(labels) if label == "fault moved"]
    assert all(rest[0] == "commit (synchronous=2)" for rest in after_moves), labels
    checked, losses = run.disk.explore()
    assert losses == []
    assert checked >= 20  # every fsync and commit of the run is a distinct state


def test_a_power_cut_anywhere_in_a_blanks_keep_loses_nothing(runs):
    run = runs.get("keep", True)
    assert [d["pages"] for d in run.result.documents] == [2], run.result.to_dict()
    labels = _labels(run.disk)
    assert "fault keep-journal" in labels and "fault keep-swapped" in labels
    swapped = labels.index("fault keep-swapped")
    assert labels[swapped + 1] == "commit (synchronous=2)", labels
    checked, losses = run.disk.explore()
    assert losses == []
    assert checked >= 10


def test_the_next_ingest_finishes_what_a_power_cut_interrupted(runs, delivery):
    """Cut after the first file committed and the second's PDF was moved in, not committed:
    the next ingest removes that PDF, archives the file again and ends as a run that was
    never cut."""
    run = runs.get("ingest", True)
    second = [p for p in run.disk.points if p.label == "fault moved"][1]
    run.disk.rebuild(second)
    (left,) = [rel for rel, _ in second.acknowledged]  # the first file's document
    assert sorted(documents(run.disk.root)) != sorted(documents(run.after))
    report = ingest_delivery(Workspace(run.disk.root), load_profile("borken"), delivery)
    assert report.documents_written == 1 and report.already_ingested == 1, report
    assert any("uncommitted" in note for note in report.notes), report.notes
    assert documents(run.disk.root) == documents(run.after)
    assert left in [d[0] for d in documents(run.disk.root)]
    assert check(run.disk.root, frozenset()) == []


def documents(root: Path) -> list[tuple[Any, ...]]:
    with Index.open(root / INDEX) as index:
        return index.db.execute(
            "SELECT path, household, volume, seq, pages FROM documents ORDER BY path"
        ).fetchall()


# --- the check fails without the fsyncs ----------------------------------------------------------

#: Each kind of fsync the protocol does, and what a power cut does without it: a file or a
#: commit lost, or (the commit journal's bytes lost) a file the recovery no longer knows to
#: remove. None: that run does no such fsync (ingest syncs no folder of tmp/).
WITHOUT = {
    "file": {"ingest": "committed file lost", "keep": "committed file lost"},
    "archive-dirs": {"ingest": "committed file lost", "keep": "committed file lost"},
    "index": {"ingest": "reported commit lost", "keep": "reported commit lost"},
    "journal": {"ingest": "stray file", "keep": "committed file lost"},
    "workspace-dir": {"ingest": "committed file lost", "keep": "committed file lost"},
    "tmp-dirs": {"ingest": None, "keep": "committed file lost"},
}


@pytest.mark.parametrize("scenario", ["ingest", "keep"])
@pytest.mark.parametrize("group", list(WITHOUT))
def test_without_each_kind_of_fsync_the_check_catches_a_power_cut(runs, group, scenario):
    """The durable run's own log, rebuilt as if the fsyncs of ``group`` had not been made:
    the check must catch what a power cut would then lose."""
    assert set(WITHOUT) == set(GROUPS)
    expected = WITHOUT[group][scenario]
    disk = runs.get(scenario, True).disk
    _, losses = disk.explore(frozenset({group}), first=expected is not None)
    if expected is None:
        assert losses == []
        return
    assert losses, f"without the {group} fsyncs nothing was lost in {scenario}"
    (where, problems) = losses[0]
    assert any(p.startswith(expected) for p in problems), (where, problems)


@pytest.mark.parametrize("scenario", ["ingest", "keep"])
def test_as_before_without_fsyncs_a_power_cut_loses_reported_commits(runs, scenario):
    """esak.atomic.DURABLE = False: SQLite synchronous=NORMAL, no fsync of archive files or
    folders, journals synced but not their folder (esak before this change)."""
    run = runs.get(scenario, False)
    labels = _labels(run.disk)
    assert "commit (synchronous=1)" in labels and "commit (synchronous=2)" not in labels
    _, losses = run.disk.explore()
    assert losses, "a power cut lost nothing: the check cannot tell durable from not"
    problems = {p.split(":")[0] for _, found in losses for p in found}
    assert "reported commit lost" in problems, losses
    if scenario == "ingest":
        # The index synced at last (the close checkpoints), the PDFs never were.
        last = losses[-1]
        assert last[0].endswith("after index closed") or last[0].endswith("after end"), losses
        assert any(p.startswith("committed file lost") for p in last[1]), last

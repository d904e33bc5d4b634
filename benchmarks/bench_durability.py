"""What a power-cut-proof commit costs per document (issue #8): ``esak ingest`` of the same
small delivery with esak's fsyncs on (``esak.atomic.DURABLE = True``, the default) and off
(the baseline: esak before the change).

Durable, each input file's commit does, before its index transaction commits: one fsync per
archived PDF, one per folder on the way from ``archive/`` to the PDFs (band, household, site,
archive: shared by the file's documents), the commit journal's fsync plus its folder's; and
SQLite runs ``synchronous=FULL``, one WAL fsync per transaction (the commit of every file, and
the run's own few). Off: only the journal's bytes are synced; SQLite ``synchronous=NORMAL``.

The delivery is generated (``esak.synthetic``: per file a cover sheet, two letters with a
separator between, a blank back side: two documents a file). Both settings run in this
process, one after the other, ``--repeat`` times each, every time into a new workspace (its
index made before the clock starts) on the file system of ``--dir`` (fsync costs what that
disk costs: run it where the workspaces live). Measured per run:

- **commit**: wall time inside ``commit_batch`` (index rows, journal, moves into the archive,
  the fsyncs, COMMIT), per document archived: what durability adds lies here;
- **COMMIT**: wall time of all outer COMMITs of the run (the WAL fsyncs of FULL), per document;
- **fsync**: the fsync calls esak makes from Python (not SQLite's), count and time per document;
- **wall**: the whole ingest per document (OCR dominates; noisy, for scale).

Medians over the repeats; the ratio is durable over baseline, the difference the cost per
document in milliseconds. Ratios and differences, not absolute times, are what to quote: the
machine is noisy.

Run: ``.venv/bin/python benchmarks/bench_durability.py`` (about 2 minutes on 2 cores);
``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import img2pdf

import esak.atomic
import esak.migrate.ingest as ingest_module
from esak.index.db import Index
from esak.migrate.ingest import ingest_delivery
from esak.profiles import load_profile
from esak.synthetic import (
    random_person,
    render_blank_page,
    render_content_page,
    render_cover_sheet,
    render_separator,
)
from esak.workspace import Workspace

SITE = "borken"


@dataclass
class Measured:
    durable: bool
    documents: int = 0
    wall: float = 0.0
    commit: float = 0.0
    #: COMMIT of the run's transactions outside the commit step (run record, cases, ...)
    other: float = 0.0
    commits: float = 0.0
    transactions: int = 0
    fsync: float = 0.0
    fsyncs: int = 0
    notes: list[str] = field(default_factory=list)

    def per_doc(self, value: float) -> float:
        return value / self.documents if self.documents else float("nan")


def make_delivery(folder: Path, files: int, dpi: int, seed: int) -> int:
    """``files`` batch PDFs of one household each; returns the documents they hold."""
    import io

    folder.mkdir(parents=True)
    rng = random.Random(seed)
    for n in range(1, files + 1):
        household = f"95401BG{n:07d}"
        person = random_person(rng)
        pages = [
            render_cover_sheet(household, site=SITE, dpi=dpi, rng=rng),
            render_content_page(rng, "schreiben", dpi=dpi, person=person, household=household),
            render_separator("PATCHT", dpi=dpi, rng=rng),
            render_content_page(rng, "lohnabrechnung", dpi=dpi, person=person,
                                household=household),
            render_blank_page(rng, dpi=dpi),
        ]  # fmt: skip
        parts = []
        for img in pages:
            buf = io.BytesIO()
            img.save(buf, format="PNG", dpi=(dpi, dpi))
            parts.append(buf.getvalue())
        (folder / f"batch_{n:03d}.pdf").write_bytes(img2pdf.convert(parts))
    return 2 * files


@contextlib.contextmanager
def instrumented(m: Measured) -> Iterator[None]:
    """Time commit_batch, every outer COMMIT and every fsync esak makes, while it runs."""
    real_fsync, real_commit, transaction = os.fsync, ingest_module.commit_batch, Index.transaction

    def fsync(fd: int) -> None:
        started = time.perf_counter()
        try:
            real_fsync(fd)
        finally:
            m.fsync += time.perf_counter() - started
            m.fsyncs += 1

    inside = [False]

    def commit_batch(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        inside[0] = True
        try:
            return real_commit(*args, **kwargs)
        finally:
            inside[0] = False
            m.commit += time.perf_counter() - started

    @contextlib.contextmanager
    def timed(index: Index) -> Iterator[Any]:
        outer = not index.db.conn.in_transaction
        with transaction(index) as db:
            yield db
            started = time.perf_counter()  # the block is done: COMMIT comes next
        if outer:
            took = time.perf_counter() - started
            m.commits += took
            m.transactions += 1
            if not inside[0]:
                m.other += took

    with contextlib.ExitStack() as undo:
        for owner, name, value in (
            (os, "fsync", fsync),
            (ingest_module, "commit_batch", commit_batch),
            (Index, "transaction", timed),
            (esak.atomic, "DURABLE", m.durable),
        ):
            undo.callback(setattr, owner, name, getattr(owner, name))
            setattr(owner, name, value)
        yield


def run_once(scratch: Path, delivery: Path, durable: bool, workers: int, n: int) -> Measured:
    ws = scratch / f"ws-{'durable' if durable else 'baseline'}-{n}"
    m = Measured(durable)
    # A workspace that exists, as on the nights after the first: its schema made beforehand,
    # so that the one-time migrations are not counted against the documents.
    with Index.open(Workspace(ws).ensure().index_path):
        pass
    with instrumented(m):
        started = time.perf_counter()
        report = ingest_delivery(Workspace(ws), load_profile(SITE), delivery, workers=workers)
        m.wall = time.perf_counter() - started
    m.documents = report.documents_written
    if not report.ok:
        m.notes.append(f"run not clean: {report.quarantined_files or report.quarantined_pages}")
    shutil.rmtree(ws, ignore_errors=True)
    return m


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=6, help="batch files (2 documents each)")
    ap.add_argument("--dpi", type=int, default=150)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each setting")
    ap.add_argument("--workers", type=int, default=None, help="OCR workers [default: cores]")
    ap.add_argument("--seed", type=int, default=8)
    ap.add_argument("--dir", type=Path, default=None, help="scratch here (the disk to measure)")
    ap.add_argument("--quick", action="store_true", help="2 files, 1 run each")
    args = ap.parse_args(argv)
    if args.quick:
        args.files, args.repeat = min(args.files, 2), 1
    scratch = Path(tempfile.mkdtemp(prefix="esak-bench-durability-", dir=args.dir))
    try:
        t0 = time.perf_counter()
        expected = make_delivery(scratch / "delivery", args.files, args.dpi, args.seed)
        print(
            f"delivery: {args.files} files, {expected} documents at {args.dpi} dpi "
            f"(generated in {time.perf_counter() - t0:.0f} s); scratch {scratch}"
        )
        runs: list[Measured] = []
        for n in range(args.repeat):
            # Alternating, so that a machine getting busier or quieter hits both alike.
            for durable in (False, True):
                m = run_once(scratch, scratch / "delivery", durable, args.workers, n)
                runs.append(m)
                print(
                    f"  run {n + 1} {'durable ' if durable else 'baseline'}: {m.documents} "
                    f"documents, wall {m.wall:.1f} s, commit {m.per_doc(m.commit) * 1e3:.2f} "
                    f"ms/doc, {m.fsyncs} fsyncs, {m.transactions} commits"
                )
                for note in m.notes:
                    print(f"    note: {note}")
        report(runs)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def report(runs: list[Measured]) -> None:
    def med(durable: bool, value) -> float:
        return statistics.median(value(m) for m in runs if m.durable == durable)

    rows = [
        ("commit step (ms/doc)", lambda m: m.per_doc(m.commit) * 1e3),
        ("other COMMITs (ms/doc)", lambda m: m.per_doc(m.other) * 1e3),
        ("all COMMITs (ms/doc)", lambda m: m.per_doc(m.commits) * 1e3),
        ("esak's fsyncs (ms/doc)", lambda m: m.per_doc(m.fsync) * 1e3),
        ("esak's fsyncs (n/doc)", lambda m: m.per_doc(m.fsyncs)),
        ("commits (n/doc)", lambda m: m.per_doc(m.transactions)),
        ("wall (s/doc)", lambda m: m.per_doc(m.wall)),
    ]
    print()
    print(f"{'median over runs':24s} {'baseline':>10s} {'durable':>10s} {'× baseline':>11s} "
          f"{'difference':>11s}")  # fmt: skip
    for label, value in rows:
        base, durable = med(False, value), med(True, value)
        ratio = durable / base if base else float("inf")
        print(f"{label:24s} {base:10.2f} {durable:10.2f} {ratio:11.2f} {durable - base:+11.2f}")

    def cost(value) -> float:
        return med(True, value) - med(False, value)

    step = cost(lambda m: m.per_doc(m.commit))
    total = cost(lambda m: m.per_doc(m.commit + m.other))
    wall = med(False, lambda m: m.per_doc(m.wall))
    print(
        f"durability costs {step * 1e3:.1f} ms per document in the commit step, "
        f"{total * 1e3:.1f} ms with the run's other commits: {total / wall:.2%} of the "
        f"baseline's wall time per document ({wall:.2f} s)"
    )


if __name__ == "__main__":
    sys.exit(main())

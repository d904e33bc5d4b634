"""How long `esak verify` takes on a district-sized index (issue #4: under 2 s for 7,000
households).

Generated rows, no scans: 7,000 households, each a cover sheet and 10 documents of 20 pages
with separators and blank back sides (about 1.8 million page rows, 70,000 archive files).
Fixity at ``complete`` (presence, sizes, no strays): no file is hashed.

Baseline: the least any check must do, one pass over the page rows (``SELECT COUNT(*)``) and
one walk of the archive folder tree. The ratio says how much verify adds to that.

Run: make bench-verify   (or .venv/bin/python benchmarks/bench_verify.py --households 7000)
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from esak.index.db import Index
from esak.profiles import load_all, load_profile
from esak.synthetic.index import Shape, populate
from esak.verify.fixity import Level
from esak.verify.rollout import rollout_status
from esak.verify.site import build_report
from esak.workspace import Workspace

TARGET_S = 2.0


def _best(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--households", type=int, default=7000)
    ap.add_argument("--documents", type=int, default=10, help="documents per household")
    ap.add_argument("--pages", type=int, default=20, help="pages per document")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    shape = Shape(
        households=args.households,
        documents_per_household=args.documents,
        pages_per_document=args.pages,
        blank_per_document=args.pages // 4,
    )
    profile = load_profile("borken")
    with tempfile.TemporaryDirectory(prefix="esak-bench-verify-") as tmp:
        ws = Workspace(Path(tmp) / "ws").ensure()
        started = time.perf_counter()
        with Index.open(ws.index_path) as index:
            populate(index, ws.archive_dir, profile.key, shape)
            built = time.perf_counter() - started
            (pages,) = index.db.execute("SELECT COUNT(*) FROM pages").fetchone()
            (docs,) = index.db.execute("SELECT COUNT(*) FROM documents").fetchone()
        print(
            f"index: {shape.households} households, {docs:,} documents/files, "
            f"{pages:,} page rows (built in {built:.1f} s)"
        )

        def baseline() -> None:
            with Index.open(ws.index_path) as index:
                index.db.execute("SELECT COUNT(*) FROM pages").fetchone()
            for _ in os.walk(ws.archive_dir):
                pass

        def verify(level: Level):
            def run() -> None:
                with Index.open(ws.index_path) as index:
                    report = build_report(index, ws, profile, level)
                assert report.intact and not report.missing, report.findings

            return run

        def rollout() -> None:
            with Index.open(ws.index_path) as index:
                rollout_status(index, load_all())

        base_best, base_med = _best(baseline, args.repeat)
        print(f"{'':24s} {'best s':>8s} {'median s':>9s} {'× baseline':>11s}")
        print(f"{'baseline (scan + walk)':24s} {base_best:8.3f} {base_med:9.3f} {1.0:11.2f}")
        results = {}
        for name, fn in (
            ("verify --level fast", verify(Level.FAST)),
            ("verify (complete)", verify(Level.COMPLETE)),
            ("rollout status", rollout),
        ):
            best, med = _best(fn, args.repeat)
            results[name] = med
            print(f"{name:24s} {best:8.3f} {med:9.3f} {med / base_med:11.2f}")
        verdict = "OK" if results["verify (complete)"] < TARGET_S else "TOO SLOW"
        print(f"target: verify (complete) under {TARGET_S} s for the district: {verdict}")


if __name__ == "__main__":
    main()

"""Does esak's cost stay flat as a site grows? (issue #16, target 4)

The same ingest on 100, 10,000 and 100,000 pages, with everything that grows with a site
real — the delivery scan and input hashing, planning, the commit journal and renames, every
index row (pages, documents, sections, cases, page text with its FTS5 trigram index, the
audit log), PDF/A output, ``verify`` — and the two costs that do not grow with a site
replaced: OCR and page rasterising. That is the engine :data:`esak.synthetic.no_ocr.NO_OCR`,
used only here (its pages carry their kind in the page dictionary; its documents are real
PDF/A-2b without a text layer, with a page text of typical length for the search index).

Per size, in a fresh process each (so that peak memory is that size's own):

- coordinator CPU per input page (``RUSAGE_SELF`` of the process that runs ingest: scan,
  plan, commit, index; its worker processes are not counted),
- index bytes per input page (``index.sqlite`` after a checkpoint),
- the coordinator's peak memory (``ru_maxrss``),
- ``verify`` (level complete: every file stat'ed, the archive walked) wall per page.

Each must stay within 1.5x from the smallest to the largest size.

Run: ``.venv/bin/python benchmarks/bench_scaling.py`` (about 15 minutes on 2 cores);
``--sizes 100,2000`` for a quick look.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: One household: its cover sheet, then documents split by separators, a blank back side.
HOUSEHOLD = ["cover", "content", "content", "content", "separator", "content", "content",
             "blank", "separator", "content"]  # fmt: skip
HOUSEHOLDS_PER_BATCH = 50  # 500-page batch files, as scanning services deliver them
BATCHES_PER_BOX = 20
LIMIT = 1.5


def household(n: int) -> str:
    return f"95401BG{n:07d}"


def generate(pages: int, root: Path) -> dict:
    from esak.synthetic.no_ocr import write_batch

    count = math.ceil(pages / len(HOUSEHOLD))
    delivery = root / "delivery"
    batch: list = []
    written = 0
    for n in range(1, count + 1):
        batch += [(kind, household(n) if kind == "cover" else None, 1) for kind in HOUSEHOLD]
        if n % HOUSEHOLDS_PER_BATCH == 0 or n == count:
            box = written // BATCHES_PER_BOX + 1
            write_batch(delivery / f"box{box:03d}" / f"batch_{written + 1:04d}.pdf", "borken",
                        batch)  # fmt: skip
            written += 1
            batch = []
    (root / "expected.csv").write_text(
        "household\n" + "".join(f"{household(n)}\n" for n in range(1, count + 1)))
    return {"households": count, "pages": count * len(HOUSEHOLD), "files": written}


def measure(root: Path, workers: int) -> dict:
    from esak.index.db import Index
    from esak.index.expected import import_expected
    from esak.migrate.ingest import ingest_delivery
    from esak.profiles import load_profile
    from esak.synthetic.no_ocr import NO_OCR
    from esak.verify.fixity import Level
    from esak.verify.site import verify_site
    from esak.workspace import Workspace

    profile = load_profile("borken")
    workspace = Workspace(root / "ws").ensure()
    with Index.open(workspace.index_path) as index:
        import_expected(index, "borken", root / "expected.csv", profile.is_household)
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    report = ingest_delivery(workspace, profile, root / "delivery", workers=workers,
                             engine=NO_OCR)  # fmt: skip
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak_mb = after.ru_maxrss / 1024
    with Index.open(workspace.index_path) as index:
        index.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = index.db.execute("SELECT COUNT(*) FROM pages").fetchone()[0]
    index_bytes = workspace.index_path.stat().st_size
    started = time.perf_counter()
    with Index.open(workspace.index_path) as index:
        verified = verify_site(workspace, index, profile, Level.COMPLETE)
    verify_s = time.perf_counter() - started
    pages = report.pages["input"]
    return {
        "pages": pages, "archived": report.pages["archived"], "page_rows": rows,
        "documents": report.documents_written, "status": verified.status,
        "wall_s": wall, "coordinator_cpu_s": cpu, "peak_mb": peak_mb,
        "index_bytes": index_bytes, "verify_s": verify_s,
        "per_page": {"coordinator_ms": 1000 * cpu / pages, "wall_ms": 1000 * wall / pages,
                     "index_bytes": index_bytes / pages, "verify_ms": 1000 * verify_s / pages},
    }  # fmt: skip


METRICS = (
    ("coordinator CPU per page (ms)", lambda r: r["per_page"]["coordinator_ms"]),
    ("index bytes per page", lambda r: r["per_page"]["index_bytes"]),
    ("coordinator peak memory (MB)", lambda r: r["peak_mb"]),
    ("verify per page (ms)", lambda r: r["per_page"]["verify_ms"]),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,10000,100000", help="input pages per run")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="scratch here, kept")
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--one", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--generate", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:  # a child: one size, in a process of its own
        if args.generate is not None:
            print(json.dumps(generate(args.generate, args.one)))
        else:
            print(json.dumps(measure(args.one, args.workers)))
        return 0

    scratch = args.keep or Path(tempfile.mkdtemp(prefix="esak-bench-scaling-"))
    results = []
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            root = scratch / f"p{size}"
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir(parents=True)

            def child(*extra: str, root: Path = root) -> dict:
                done = subprocess.run(
                    [sys.executable, __file__, "--one", str(root), "--workers",
                     str(args.workers), *extra],
                    capture_output=True, text=True, check=False,
                )  # fmt: skip
                if done.returncode != 0:
                    sys.exit(f"run failed ({done.returncode}):\n{done.stderr[-3000:]}")
                return json.loads(done.stdout.strip().splitlines()[-1])

            started = time.perf_counter()
            made = child("--generate", str(size))
            print(f"{made['pages']} pages in {made['files']} files generated in "
                  f"{time.perf_counter() - started:.0f} s; ingest ...", flush=True)  # fmt: skip
            result = child()
            result["households"] = made["households"]
            results.append(result)
            print(f"  {result['pages']} pages: ingest {result['wall_s']:.1f} s wall, "
                  f"coordinator {result['coordinator_cpu_s']:.1f} s CPU, peak "
                  f"{result['peak_mb']:.0f} MB, index {result['index_bytes'] / 1e6:.1f} MB, "
                  f"verify {result['verify_s']:.2f} s ({result['status']})",
                  flush=True)  # fmt: skip
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)

    print()
    sizes = "".join(f"{r['pages']:>12,}" for r in results)
    print(f"{'':32}{sizes}{'largest/smallest':>18}")
    verdicts = []
    for name, get in METRICS:
        values = [get(r) for r in results]
        ratio = values[-1] / values[0] if values[0] else float("inf")
        ok = ratio <= LIMIT
        verdicts.append(ok)
        print(f"{name:32}" + "".join(f"{v:>12.2f}" for v in values)
              + f"{ratio:>14.2f}x {'met' if ok else 'NOT met'}")  # fmt: skip
    wall = [1000 * r["wall_s"] / r["pages"] for r in results]
    print(f"{'ingest wall per page (ms)':32}" + "".join(f"{v:>12.2f}" for v in wall))
    print(f"\ntarget: each figure within {LIMIT}x from {results[0]['pages']:,} to "
          f"{results[-1]['pages']:,} pages: {'met' if all(verdicts) else 'NOT met'}")  # fmt: skip
    coordinator = results[-1]["per_page"]["coordinator_ms"]
    print(f"the coordinator alone could keep up with {60000 / coordinator:,.0f} input pages a "
          "minute (its CPU per page at the largest size): the ceiling for any number of "
          "workers")  # fmt: skip
    if args.json_out:
        args.json_out.write_text(json.dumps({"results": results}, indent=1))
    return 0 if all(verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())

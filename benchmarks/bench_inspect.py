"""How long ``esak inspect`` takes per page, against rasterising the page alone.

Run as ``.venv/bin/python benchmarks/bench_inspect.py``. Generates a 300 dpi delivery into a
temporary folder and times, per page of its PDF and TIFF batches, (a) rasterising the page
and (b) rasterising plus classifying it (barcodes and blank test), over a few rounds. If the
paperless-ngx sample scans are present, times ``inspect_path`` over them as well.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from esak.errors import InputError
from esak.migrate.classify import classify_page
from esak.migrate.generator import generate_delivery
from esak.migrate.inspect import inspect_path
from esak.migrate.pages import open_pages
from esak.profiles import load_profile

DPI = 300
ROUNDS = 3
HOUSEHOLDS = 4
SEED = 11
PAPERLESS = Path(__file__).resolve().parent.parent.parent / "shared" / "samples" / "paperless"
#: Formats of the generated delivery that are single-file batches.
BATCH_FORMATS = ("pdf", "tiff", "household-pdf")


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def bench_generated() -> None:
    rules = load_profile("borken")
    with tempfile.TemporaryDirectory(prefix="esak-bench-") as tmp:
        t0 = time.perf_counter()
        gen = generate_delivery(Path(tmp), households=HOUSEHOLDS, seed=SEED, dpi=DPI)
        print(
            f"generated delivery (households={HOUSEHOLDS}, seed={SEED}, dpi={DPI}) "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        batches = [f for f in gen.files if f["format"] in BATCH_FORMATS]
        n_pages = sum(len(f["pages"]) for f in batches)
        print(f"batches: {len(batches)} files, {n_pages} pages, {ROUNDS} rounds")

        raster: list[float] = []
        inspect: list[float] = []
        raster_kind: dict[str, list[float]] = defaultdict(list)
        inspect_kind: dict[str, list[float]] = defaultdict(list)
        wrong = 0
        for _ in range(ROUNDS):
            for entry in batches:
                with open_pages(gen.delivery_dir / entry["path"]) as source:
                    for truth in entry["pages"]:
                        i = truth["index"]
                        kind = truth["kind"]

                        t0 = time.perf_counter()
                        page = source.page(i, DPI)
                        elapsed = time.perf_counter() - t0
                        page.image.close()
                        raster.append(elapsed)
                        raster_kind[kind].append(elapsed)

                        t0 = time.perf_counter()
                        page = source.page(i, DPI)
                        result = classify_page(page.image, page.dpi, rules)
                        elapsed = time.perf_counter() - t0
                        page.image.close()
                        inspect.append(elapsed)
                        inspect_kind[kind].append(elapsed)
                        wrong += str(result.kind) != kind

        base = _median(raster)
        full = _median(inspect)
        print(
            f"inspect median per page: {full:.3f} s "
            f"(raster baseline {base:.3f} s, ratio {full / base:.1f}x)"
        )
        print(f"classification/barcode share: {full - base:.3f} s per page")
        for kind in ("cover", "separator", "blank", "content"):
            k_full = _median(inspect_kind[kind])
            k_base = _median(raster_kind[kind])
            n = len(inspect_kind[kind]) // ROUNDS
            print(
                f"  {kind:<9} median per page: {k_full:.3f} s "
                f"(raster {k_base:.3f} s, ratio {k_full / k_base:.1f}x, {n} pages)"
            )
        print(f"pages classified differently from the truth: {wrong // ROUNDS} of {n_pages}")


def bench_paperless() -> None:
    if not PAPERLESS.is_dir():
        print(f"paperless samples: {PAPERLESS} not present, skipped")
        return
    rules = load_profile("borken")
    per_page: list[float] = []
    files = 0
    failed: list[str] = []
    for pdf in sorted(PAPERLESS.glob("*.pdf")):
        t0 = time.perf_counter()
        try:
            report = inspect_path(pdf, rules, dpi=DPI)
        except InputError as exc:
            failed.append(f"{pdf.name} ({exc})")
            continue
        elapsed = time.perf_counter() - t0
        files += 1
        if report.pages:
            per_page.extend([elapsed / len(report.pages)] * len(report.pages))
    print(
        f"paperless samples: {files} PDFs, {len(per_page)} pages, "
        f"inspect_path median per page: {_median(per_page):.3f} s"
    )
    for name in failed:
        print(f"  not readable: {name}")


def main() -> int:
    t0 = time.perf_counter()
    bench_generated()
    bench_paperless()
    print(f"total run time: {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

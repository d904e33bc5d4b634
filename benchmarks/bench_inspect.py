"""How long ``esak inspect`` takes per page, against rasterising the page alone.

Run as ``.venv/bin/python benchmarks/bench_inspect.py``. Generates a delivery at 300 and at
200 dpi into a temporary folder and times, per page of its PDF and TIFF batches, (a)
rasterising the page, (b) rasterising plus classifying it (barcodes and blank test) and (c)
the same with the blank test esak used before the current one (kept below as
``previous_blank_verdict``, only to measure against), over a few rounds. Then runs both blank
tests over the hard back sides of :mod:`esak.synthetic.backsides` (mostly blank, 300 and
200 dpi, grey JPEG and G4): time per page, written pages dropped, true blanks recognised.
If the paperless-ngx sample scans are present, times ``inspect_path`` over them as well.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

import esak.migrate.classify as classify
from esak.errors import InputError
from esak.migrate.blank import BlankVerdict, blank_verdict
from esak.migrate.classify import classify_page
from esak.migrate.inspect import inspect_path
from esak.migrate.pages import open_pages
from esak.profiles import load_profile
from esak.synthetic import generate_delivery
from esak.synthetic.backsides import write_corpus

DPIS = (300, 200)
ROUNDS = 3
CORPUS_SEEDS = 3
HOUSEHOLDS = 4
SEED = 11
PAPERLESS = Path(__file__).resolve().parent.parent.parent / "shared" / "samples" / "paperless"
#: Formats of the generated delivery that are single-file batches.
BATCH_FORMATS = ("pdf", "tiff", "household-pdf")


def previous_blank_verdict(image: Image.Image, dpi: float) -> BlankVerdict:
    """The blank test before the current one (margins ignored, a fixed 62 % of the paper's
    brightness as the ink threshold, marks of 2 mm and 0.3 mm²): the baseline only."""
    factor = max(1, round(dpi / 100.0))
    small = image.reduce(factor) if factor > 1 else image
    arr = np.asarray(small, dtype=np.uint8)
    h, w = arr.shape
    my, mx = int(h * 0.05), int(w * 0.08)
    inner = arr[my : h - my, mx : w - mx]
    paper = float(np.percentile(inner, 60))
    labels, count = ndimage.label(inner < paper * 0.62, structure=np.ones((3, 3), dtype=bool))
    px_per_mm = dpi / factor / 25.4
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    marks = 0
    for i, sl in enumerate(ndimage.find_objects(labels), start=1):
        if sl is None:
            continue
        extent = max(sl[0].stop - sl[0].start, sl[1].stop - sl[1].start)
        if extent >= 2.0 * px_per_mm and areas[i] >= 0.3 * px_per_mm * px_per_mm:
            marks += 1
    return BlankVerdict(blank=marks == 0, ink=0.0, marks=marks)


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _timed_classify(page_image: Image.Image, dpi: float, rules: object, previous: bool) -> tuple:
    saved = classify.blank_verdict
    if previous:
        classify.blank_verdict = previous_blank_verdict
    try:
        t0 = time.perf_counter()
        result = classify_page(page_image, dpi, rules)
        return time.perf_counter() - t0, result
    finally:
        classify.blank_verdict = saved


def bench_generated(dpi: int) -> None:
    rules = load_profile("borken")
    with tempfile.TemporaryDirectory(prefix="esak-bench-") as tmp:
        t0 = time.perf_counter()
        gen = generate_delivery(Path(tmp), households=HOUSEHOLDS, seed=SEED, dpi=dpi)
        print(
            f"generated delivery (households={HOUSEHOLDS}, seed={SEED}, dpi={dpi}) "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        batches = [f for f in gen.files if f["format"] in BATCH_FORMATS]
        n_pages = sum(len(f["pages"]) for f in batches)
        print(f"batches: {len(batches)} files, {n_pages} pages, {ROUNDS} rounds")

        raster: list[float] = []
        inspect: list[float] = []
        before: list[float] = []
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
                        page = source.page(i, 300.0)
                        elapsed = time.perf_counter() - t0
                        raster.append(elapsed)
                        raster_kind[kind].append(elapsed)

                        spent, result = _timed_classify(page.image, page.dpi, rules, False)
                        inspect.append(elapsed + spent)
                        inspect_kind[kind].append(elapsed + spent)
                        wrong += str(result.kind) != kind
                        spent, _ = _timed_classify(page.image, page.dpi, rules, True)
                        before.append(elapsed + spent)
                        page.image.close()

        base = _median(raster)
        full = _median(inspect)
        prev = _median(before)
        print(
            f"inspect median per page: {full:.3f} s "
            f"(raster baseline {base:.3f} s, ratio {full / base:.1f}x)"
        )
        mean_ratio = statistics.mean(inspect) / statistics.mean(before)
        print(
            f"inspect with the previous blank test: {prev:.3f} s per page; "
            f"now / before: {full / prev:.2f}x median, {mean_ratio:.2f}x mean"
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


def bench_backsides() -> None:
    """Both blank tests over the hard back sides: time per page and what each gets wrong."""
    with tempfile.TemporaryDirectory(prefix="esak-bench-backsides-") as tmp:
        folder = Path(tmp)
        t0 = time.perf_counter()
        truth = write_corpus(folder, seeds_per_case=CORPUS_SEEDS)
        print(f"hard back sides: {len(truth)} pages written in {time.perf_counter() - t0:.1f} s")
        by_file: dict[str, list[dict]] = defaultdict(list)
        for row in truth:
            by_file[row["file"]].append(row)
        for name, test in (("now", blank_verdict), ("before", previous_blank_verdict)):
            times: list[float] = []
            dropped: dict[str, int] = defaultdict(int)
            written = blanks = recognised = 0
            for file, rows in sorted(by_file.items()):
                with open_pages(folder / file) as source:
                    for row in rows:
                        page = source.page(row["page"], 300.0)
                        t0 = time.perf_counter()
                        verdict = test(page.image, page.dpi)
                        times.append(time.perf_counter() - t0)
                        if row["written"]:
                            written += 1
                            if verdict.blank:
                                dropped[row["case"]] += 1
                        else:
                            blanks += 1
                            recognised += verdict.blank
            print(
                f"  blank test {name:<6}: {statistics.mean(times) * 1000:.1f} ms per page, "
                f"written pages dropped {sum(dropped.values())} of {written}, "
                f"true blanks recognised {recognised} of {blanks} ({recognised / blanks:.0%})"
            )
            if dropped:
                print("    dropped: " + json.dumps(dict(sorted(dropped.items()))))


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
            report = inspect_path(pdf, rules, dpi=300.0)
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
    for dpi in DPIS:
        bench_generated(dpi)
    bench_backsides()
    bench_paperless()
    print(f"total run time: {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

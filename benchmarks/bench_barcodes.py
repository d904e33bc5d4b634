"""Ways to read a page's barcodes for less, against the way esak reads them (issue #19).

Run: ``.venv/bin/python benchmarks/bench_barcodes.py`` (a few minutes on 2 cores);
``--households 4`` for a smaller delivery, ``--samples DIR`` for other sample scans.

The corpus: every 300-dpi page of a generated delivery (``esak.synthetic``) and of
``../shared/samples/paperless`` (when present) that carries a code, and every seventh page
that carries none; each turned four ways, and each of those once more faded (bars of grey
about 140 on paper of 240, as a pale copy scans). Every way is run on every image, one after
the other (interleaved, so that the machine's drift falls on all of them alike), and is
compared with esak's own reading (:func:`esak.migrate.barcodes.read_barcodes`: the page
halved with Pillow's box filter, zxing-cpp with its downscaled passes):

- **no-downscale**: zxing-cpp without its downscaled passes (``try_downscale=False``);
- **subsample-even** / **subsample-odd**: the page halved by taking every second pixel
  (starting at the first or the second) instead of averaging four: no halving cost at all.

Printed per way: CPU milliseconds a page (halving included) and the ratio to esak's, the
codes found, and those lost and gained against esak's reading. A way that loses a code is
not one esak can take: every cover sheet and separator must be read. "esak" here is
zxing's reading (:func:`esak.migrate.barcodes.read_barcodes`), the one the cheaper ways would
replace; the classifier's second reading of a page without a cover or separator code comes
after it and is measured below.

Then the worn sheets of :mod:`esak.synthetic.worn` (``--worn-seeds``; every kind, sheet,
resolution and turn): per kind, how many sheets zxing's reading alone reads and how many
the classifier decides as the cover or separator they are (both readings), with the CPU of
the second reading.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import zxingcpp
from bench_ingest import fresh_delivery
from PIL import Image

from esak.migrate.barcodes import HALVE_FROM_DPI, SYMBOLOGIES, read_again, read_barcodes
from esak.migrate.classify import classify_page
from esak.migrate.delivery import scan_delivery
from esak.migrate.pages import open_pages
from esak.profiles import load_profile
from esak.synthetic.worn import worn_sheets
from esak.vocabulary import PageKind

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "paperless"
TURNS = (None, Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180,
         Image.Transpose.ROTATE_270)  # fmt: skip


def _faded(image: Image.Image) -> Image.Image:
    return image.point(lambda v: int(240 - (255 - v) * 100 / 255))


def _pages(root: Path) -> Iterator[tuple[Image.Image, float]]:
    """Every page of the folder's inputs, listed as ingest lists a delivery."""
    for item in scan_delivery(root, lambda name: False).items:
        if item.problem is not None:
            continue
        try:
            source = open_pages(item.path, item.files or None)
        except Exception as exc:  # a sample that is meant not to open (a password, say)
            print(f"  not read: {item.relpath} ({type(exc).__name__})")
            continue
        with source:
            for index in range(source.page_count):
                try:
                    page = source.page(index, 300, scale_up=False)
                except Exception:
                    continue
                yield page.image, page.dpi


def corpus(roots: list[Path]) -> list[Image.Image]:
    """The folders' full-resolution images (at least :data:`HALVE_FROM_DPI`), turned and
    faded."""
    images: list[Image.Image] = []
    seen = 0
    for root in roots:
        for image, dpi in _pages(root):
            if dpi < HALVE_FROM_DPI or min(image.size) < 1000:
                continue
            seen += 1
            if not read_barcodes(image, dpi) and seen % 7:
                continue
            for turn in TURNS:
                turned = image.transpose(turn) if turn is not None else image.copy()
                images += [turned, _faded(turned)]
    return images


def _zxing(image: Image.Image | np.ndarray, **options: bool) -> set[str]:
    found = zxingcpp.read_barcodes(image, formats=SYMBOLOGIES, try_invert=False, **options)
    return {r.text for r in found if r.valid}


WAYS: dict[str, Callable[[Image.Image], set[str]]] = {
    "esak": lambda im: {b.text for b in read_barcodes(im, 300.0)},
    "no-downscale": lambda im: _zxing(im.reduce(2), try_downscale=False),
    "subsample-even": lambda im: _zxing(np.asarray(im)[::2, ::2]),
    "subsample-odd": lambda im: _zxing(np.asarray(im)[1::2, 1::2]),
}


def worn_report(
    seeds: tuple[int, ...], **options: Any
) -> tuple[dict[tuple[str, int], list[int]], float]:
    """(kind, dpi) -> [sheets, read by zxing's reading, decided right by the classifier],
    and the second reading's CPU seconds a sheet."""
    rules = load_profile("borken")
    counts: dict[tuple[str, int], list[int]] = defaultdict(lambda: [0, 0, 0])
    again = 0.0
    for seed in seeds:
        for sheet in worn_sheets(seed=seed, **options):
            row = counts[(sheet.kind, sheet.dpi)]
            row[0] += 1
            row[1] += sheet.text in [b.text for b in read_barcodes(sheet.image, sheet.dpi)]
            started = time.process_time()
            read_again(sheet.image, sheet.dpi)
            again += time.process_time() - started
            page = classify_page(sheet.image, sheet.dpi, rules)
            kind = PageKind.COVER if sheet.sheet == "cover" else PageKind.SEPARATOR
            row[2] += page.kind == kind and sheet.text in [b.text for b in page.barcodes]
    return dict(counts), again / max(1, sum(row[0] for row in counts.values()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--households", type=int, default=8)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--samples", type=Path, default=SAMPLES)
    parser.add_argument("--worn-seeds", default="1,2,3", help="seeds of the worn sheets ('' none)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        gen = fresh_delivery(Path(tmp) / "generated", args.households, args.seed, 300)
        roots = [gen.delivery_dir] + ([args.samples] if args.samples.is_dir() else [])
        if not args.samples.is_dir():
            print(f"  samples not found: {args.samples} (generated pages only)")
        images = corpus(roots)
    print(f"corpus: {len(images)} images (four turns, each also faded)")
    cpu: Counter[str] = Counter()
    found: dict[str, set[tuple[int, str]]] = defaultdict(set)
    for number, image in enumerate(images):
        for name, way in WAYS.items():
            started = time.process_time()
            codes = way(image)
            cpu[name] += time.process_time() - started
            found[name] |= {(number, text) for text in codes}
    reference = found["esak"]
    print(f"{'way':16s} {'ms/page':>8s} {'ratio':>6s} {'codes':>6s} {'lost':>5s} {'gained':>6s}")
    for name in WAYS:
        lost, gained = reference - found[name], found[name] - reference
        print(f"{name:16s} {1000 * cpu[name] / len(images):8.1f} {cpu[name] / cpu['esak']:6.2f} "
              f"{len(found[name]):6d} {len(lost):5d} {len(gained):6d}")  # fmt: skip
        for number, text in sorted(lost)[:4]:
            print(f"    lost: image {number}: {text}")
    seeds = tuple(int(seed) for seed in args.worn_seeds.split(",") if seed)
    if seeds:
        started = time.process_time()
        counts, again = worn_report(seeds)
        spent = time.process_time() - started
        print(f"worn sheets, seeds {args.worn_seeds} ({spent:.0f} s):")
        print(
            f"{'kind':14s} {'dpi':>4s} {'sheets':>6s} {'zxing alone':>11s} {'both readings':>13s}"
        )
        for (kind, dpi), (total, first, both) in sorted(counts.items()):
            print(f"{kind:14s} {dpi:4d} {total:6d} {first:11d} {both:13d}")
        total, first, both = (sum(row[i] for row in counts.values()) for i in range(3))
        print(f"{'all':14s} {'':4s} {total:6d} {first:11d} {both:13d}")
        print(f"second reading: {1000 * again:.1f} ms a sheet")
    return 0


if __name__ == "__main__":
    sys.exit(main())

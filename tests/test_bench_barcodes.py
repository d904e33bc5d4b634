"""The barcode benchmark's corpus and ways of reading (benchmarks/bench_barcodes.py)."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import img2pdf

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from bench_barcodes import WAYS, corpus, worn_report

from esak.synthetic.documents import cover_text, render_cover_sheet
from esak.synthetic.worn import KINDS


def test_a_cover_sheet_is_turned_four_ways_and_faded_and_every_way_reads_it(tmp_path):
    image = render_cover_sheet("123456", site="borken", dpi=300, rng=random.Random(4))
    png = tmp_path / "cover.png"
    image.save(png, dpi=(300, 300))
    (tmp_path / "cover.pdf").write_bytes(img2pdf.convert(str(png)))
    png.unlink()
    images = corpus([tmp_path])
    assert len(images) == 8
    assert {im.size for im in images} == {image.size, image.size[::-1]}
    text = cover_text("123456", site="borken")
    # A plain cover: what esak reads at half resolution, every cheaper way reads too (the
    # benchmark is there for the pages where they differ).
    for name, way in WAYS.items():
        assert way(images[0]) == {text}, name
    assert WAYS["esak"](images[1]) == {text}  # faded, still read


def test_the_worn_report_counts_each_kind_and_resolution():
    counts, again = worn_report(
        (1,), dpis=(200,), sheets=(("separator", "PATCHT", "QR"),), turns=(0,)
    )
    assert again > 0
    assert set(counts) == {(kind, 200) for kind in KINDS}
    for kind, (total, first, both) in counts.items():
        assert total == 1 and both == 1 and first <= both, kind

"""The engine of benchmarks/bench_scaling.py (esak.synthetic.no_ocr) makes a real ingest of
its deliveries — every page accounted for, real PDF/A files, a complete verify — so that the
benchmark measures esak's coordinator and index, not a shortcut; and the generator's ground
truth of a content page is the text drawn on it."""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path

import pikepdf

from esak.index.db import Index
from esak.index.expected import import_expected
from esak.migrate.ingest import ingest_delivery
from esak.profiles import load_profile
from esak.synthetic import random_person, render_content_page
from esak.synthetic.no_ocr import NO_OCR
from esak.verify.fixity import Level
from esak.verify.site import verify_site
from esak.workspace import Workspace

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_scaling.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_scaling", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scaling"] = module
    spec.loader.exec_module(module)
    return module


def test_the_scaling_benchmark_delivery_is_ingested_in_full(tmp_path):
    bench = _bench()
    made = bench.generate(120, tmp_path)
    assert made == {"households": 12, "pages": 120, "files": 1}
    profile = load_profile("borken")
    workspace = Workspace(tmp_path / "ws").ensure()
    with Index.open(workspace.index_path) as index:
        import_expected(index, "borken", tmp_path / "expected.csv", profile.is_household)
    report = ingest_delivery(workspace, profile, tmp_path / "delivery", workers=2,
                             engine=NO_OCR)  # fmt: skip
    per = {k: bench.HOUSEHOLD.count(k) * 12 for k in ("cover", "separator", "blank", "content")}
    assert report.pages == {"input": 120, "archived": per["content"], "cover": per["cover"],
                            "separator": per["separator"], "blank": per["blank"],
                            "quarantined": 0, "discarded": 0}  # fmt: skip
    assert report.documents_written == 12 * 3
    pdfs = sorted((workspace.archive_dir / "borken").rglob("*.pdf"))
    assert len(pdfs) == 36
    with pikepdf.open(pdfs[0]) as pdf:
        assert pdf.open_metadata().pdfa_status == "2B"
    with Index.open(workspace.index_path) as index:
        verified = verify_site(workspace, index, profile, Level.COMPLETE)
        texts = index.db.execute("SELECT COUNT(*) FROM page_text").fetchone()[0]
    assert verified.status == "complete" and verified.fixity.intact
    assert texts == per["content"]


def test_the_ground_truth_is_the_text_drawn_on_the_page():
    rng = random.Random(3)
    drawn: list[str] = []
    render_content_page(rng, "schreiben", dpi=100, person=random_person(rng),
                        household="95401BG0000123", text_out=drawn)  # fmt: skip
    (text,) = drawn
    assert "95401" in text and len(text) > 300
    # The same page without asking for its text is the same image.
    rng = random.Random(3)
    again = render_content_page(rng, "schreiben", dpi=100, person=random_person(rng),
                                household="95401BG0000123")  # fmt: skip
    rng = random.Random(3)
    first = render_content_page(rng, "schreiben", dpi=100, person=random_person(rng),
                                household="95401BG0000123", text_out=[])  # fmt: skip
    assert again.tobytes() == first.tobytes()
    assert json.dumps(text)  # plain text, no objects


def test_a_generated_delivery_writes_the_truth_of_every_content_page(tmp_path):
    from esak.synthetic import generate_delivery

    gen = generate_delivery(tmp_path, households=2, seed=4, dpi=100, missing=0,
                            orphan_pages=0, bad_file=False, with_manifest=False)  # fmt: skip
    texts = json.loads((tmp_path / "texts.json").read_text(encoding="utf-8"))["files"]
    content = {(f["path"], str(p["index"])) for f in gen.files for p in f["pages"]
               if p["kind"] == "content" and p["note"] != "handwritten"}  # fmt: skip
    assert content and {(f, i) for f, pages in texts.items() for i in pages} == content
    assert all(len(t) > 100 for pages in texts.values() for t in pages.values())

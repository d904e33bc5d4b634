"""The back-side corpus generator itself: sizes, determinism, truth, G4 survival, files.

These tests check the generator only. How a blank-page detector fares on the corpus is
tested elsewhere, with the corpus as held-out material.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from esak.migrate.pages import open_pages
from esak.synthetic.backsides import (
    CASES,
    Layers,
    blank_cases,
    case_by_name,
    case_rng,
    encode_page,
    g4_threshold,
    page_survives,
    survives,
    write_corpus,
    written_cases,
)

A4_PX = {200: (1654, 2339), 300: (2480, 3508)}


def test_registry_is_well_formed() -> None:
    names = [c.name for c in CASES]
    assert len(names) == len(set(names))
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", n) for n in names)
    assert all(c.description and "\n" not in c.description for c in CASES)
    assert {c.name for c in written_cases()} | {c.name for c in blank_cases()} == set(names)
    assert all(c.written for c in written_cases())
    assert not any(c.written for c in blank_cases())
    # The corpus is only useful with hard cases on both sides of the line.
    assert len(written_cases()) >= 12 and len(blank_cases()) >= 10
    assert case_by_name("all-black").written
    assert not case_by_name("bleed-through").written


def _digest(img: Image.Image) -> str:
    return hashlib.sha256(img.tobytes()).hexdigest()


@pytest.mark.parametrize("name", ["pencil-note", "combination", "thermal-receipt"])
def test_same_seed_same_page_other_seed_other_page(name: str) -> None:
    case = case_by_name(name)
    a = case.render(case_rng(case, 1), 200)
    b = case.render(case_rng(case, 1), 200)
    c = case.render(case_rng(case, 2), 200)
    assert _digest(a) == _digest(b)
    assert _digest(a) != _digest(c)
    # Not just other noise: the pages differ visibly (a mark or paper moved or changed).
    diff = np.abs(np.asarray(a, np.int16) - np.asarray(c, np.int16))
    assert (diff > 25).mean() > 0.0005


def test_seed_is_not_python_hash() -> None:
    # hash() of a str changes with PYTHONHASHSEED; the corpus must not.
    assert case_rng("pencil-note", 0).random() == case_rng(case_by_name("pencil-note"), 0).random()
    assert case_rng("pencil-note", 0).random() != case_rng("pencil-note", 1).random()
    assert case_rng("pencil-note", 0).getrandbits(32) == 4239774717


@pytest.mark.parametrize("dpi", [200, 300])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_each_case_renders_a4_grey_with_its_truth(case, dpi: int) -> None:
    layers = case.layers(case_rng(case, 0), dpi)
    img = layers.image
    assert img.mode == "L"
    assert img.size == A4_PX[dpi]
    arr = np.asarray(img)
    assert layers.unmarked.shape == arr.shape == layers.mark.shape
    if case.written:
        # Where the mark is, the page really is darker than the same page without it.
        assert layers.mark.sum() * (25.4 / dpi) ** 2 >= 1.0
        core = layers.mark
        darker = layers.unmarked[core].astype(float).mean() - arr[core].astype(float).mean()
        assert darker >= 15, darker
        # ... and hardly anywhere else (thin stroke ends lighter than the core's half-coverage
        # may lie further out).
        outside = ~_grow(core, dpi)
        assert (arr[outside] != layers.unmarked[outside]).sum() <= max(50, 0.05 * core.sum())
    else:
        assert not layers.mark.any()
        assert np.array_equal(arr, layers.unmarked)
    # A scan, not a drawing: the paper is noisy and not white.
    paper = arr[arr.shape[0] // 3 : arr.shape[0] // 3 + 200, 400:600]
    if case.name != "all-black":
        assert 150 < float(np.median(arr)) < 252
        assert paper.std() > 1.0


def _grow(mask: np.ndarray, dpi: int) -> np.ndarray:
    """The mark's core and the soft rim of its strokes around it (1 mm)."""
    from scipy import ndimage

    return ndimage.binary_dilation(mask, iterations=max(1, round(dpi / 25.4)))


def test_paper_levels_stay_within_their_kinds() -> None:
    for seed in range(4):
        white = case_by_name("plain-paper").layers(case_rng("plain-paper", seed), 200)
        grey = case_by_name("recycled-paper").layers(case_rng("recycled-paper", seed), 200)
        assert 232 <= white.paper <= 250
        assert 195 <= grey.paper <= 220
        # Recycled paper is visibly blotchy; white paper much less so.
        w = np.asarray(white.image, np.float32)[::8, ::8]
        g = np.asarray(grey.image, np.float32)[::8, ::8]
        assert np.percentile(g, 95) - np.percentile(g, 5) > np.percentile(w, 95) - np.percentile(
            w, 5
        )


def test_g4_keeps_strong_marks_and_loses_faint_ones() -> None:
    assert survives(case_by_name("handwritten-line"), "g4", dpi=200, seeds=2)
    assert survives(case_by_name("negative-print"), "g4", dpi=200, seeds=2)
    # Text 40-60 levels below white paper is above any bilevel threshold.
    thermal = case_by_name("thermal-receipt")
    assert not any(page_survives(thermal.layers(case_rng(thermal, s), 200), "g4") for s in range(2))
    assert survives(thermal, "jpeg", dpi=200, seeds=1)
    # A page without a written mark has nothing to lose.
    assert survives(case_by_name("bleed-through"), "g4", dpi=200)


def test_survival_counts_only_ink_the_mark_added() -> None:
    h, w = 400, 300
    unmarked = np.full((h, w), 240, np.uint8)
    mark = np.zeros((h, w), bool)
    mark[100:110, 50:250] = True  # 10 x 200 px at 300 dpi: 1.4 mm²... plenty
    faint = unmarked.copy()
    faint[mark] = 200
    strong = unmarked.copy()
    strong[mark] = 60
    # Black already without the mark (a punch hole) does not count for the mark.
    hole = unmarked.copy()
    hole[mark] = 30
    layers = {
        "faint": Layers(Image.fromarray(faint), unmarked, mark, 300, 240.0),
        "strong": Layers(Image.fromarray(strong), unmarked, mark, 300, 240.0),
        "hole": Layers(Image.fromarray(hole), hole, mark, 300, 240.0),
    }
    assert g4_threshold(unmarked) == 163
    assert not page_survives(layers["faint"], "g4")
    assert page_survives(layers["strong"], "g4")
    assert not page_survives(layers["hole"], "g4")
    assert page_survives(layers["faint"], "jpeg")


def test_encodings_are_what_scanning_services_deliver() -> None:
    case = case_by_name("margin-signature")
    img = case.render(case_rng(case, 0), 200)
    jpeg = Image.open(io.BytesIO(encode_page(img, 200, "jpeg")))
    assert jpeg.format == "JPEG" and jpeg.mode == "L" and jpeg.size == img.size
    g4 = Image.open(io.BytesIO(encode_page(img, 200, "g4")))
    assert g4.format == "TIFF" and g4.mode == "1" and g4.size == img.size
    assert g4.info.get("compression") == "group4"
    expected = np.asarray(img) >= g4_threshold(np.asarray(img))
    assert np.array_equal(np.asarray(g4), expected)
    with pytest.raises(ValueError):
        encode_page(img, 200, "png")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    folder = tmp_path_factory.mktemp("corpus")
    return folder, write_corpus(folder, dpis=(200,), seeds_per_case=1)


def test_write_corpus_files_match_truth(corpus: tuple[Path, list[dict]]) -> None:
    folder, truth = corpus
    assert json.loads((folder / "truth.json").read_text()) == truth
    files = sorted({row["file"] for row in truth})
    assert files == ["backsides-200dpi-g4.pdf", "backsides-200dpi-jpeg.pdf"]
    for file in files:
        rows = [r for r in truth if r["file"] == file]
        assert [r["page"] for r in rows] == list(range(len(rows)))
        with open_pages(folder / file) as src:
            assert src.page_count == len(rows)
            page = src.page(0, 100)
            assert page.size_mm == pytest.approx((210, 297), abs=0.2)
    for row in truth:
        assert set(row) >= {"file", "page", "case", "written", "dpi", "fmt", "seed"}
        assert row["written"] == case_by_name(row["case"]).written
    # Every case is in the JPEG file; G4 leaves out exactly the pages reported as skipped.
    jpeg = {r["case"] for r in truth if r["fmt"] == "jpeg"}
    g4 = {r["case"] for r in truth if r["fmt"] == "g4"}
    assert jpeg == {c.name for c in CASES}
    skipped = json.loads((folder / "skipped.json").read_text())
    assert {s["case"] for s in skipped if s["fmt"] == "g4"} == jpeg - g4
    assert "thermal-receipt" in jpeg - g4
    assert all(case_by_name(s["case"]).written for s in skipped)
    assert {c.name for c in blank_cases()} <= g4


def test_write_corpus_pages_are_the_rendered_pages(corpus: tuple[Path, list[dict]]) -> None:
    folder, truth = corpus
    row = next(r for r in truth if r["fmt"] == "jpeg" and r["case"] == "checkbox-tick")
    case = case_by_name(row["case"])
    want = np.asarray(case.render(case_rng(case, row["seed"]), 200), np.float32)
    with open_pages(folder / row["file"]) as src:
        got = np.asarray(src.page(row["page"], 200).image, np.float32)
    # PDFium rounds the page's pixel width up: 1654 px at 200 dpi come back as 1655.
    assert abs(got.shape[0] - want.shape[0]) <= 1 and abs(got.shape[1] - want.shape[1]) <= 1
    h, w = (min(got.shape[0], want.shape[0]) // 8) * 8, (min(got.shape[1], want.shape[1]) // 8) * 8

    def blocks(a: np.ndarray) -> np.ndarray:
        return a[:h, :w].reshape(h // 8, 8, w // 8, 8).mean(axis=(1, 3))

    # JPEG smooths the sensor noise away, but it is the same page.
    assert np.abs(blocks(got) - blocks(want)).mean() < 1.5


def test_write_corpus_is_deterministic(tmp_path: Path) -> None:
    cases = [case_by_name("initials"), case_by_name("punch-holes-light")]
    a = write_corpus(tmp_path / "a", dpis=(200,), seeds_per_case=2, cases=cases)
    b = write_corpus(tmp_path / "b", dpis=(200,), seeds_per_case=2, cases=cases)
    assert a == b
    for name in ("backsides-200dpi-jpeg.pdf", "backsides-200dpi-g4.pdf", "truth.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()

"""Round trip: a generated delivery, inspected, says what its truth says, page by page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from esak.errors import InputError
from esak.migrate.inspect import inspect_path
from esak.profiles import Profile, load_profile
from esak.synthetic import GeneratedDelivery, generate_delivery


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile("borken")


@pytest.fixture(scope="module")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> GeneratedDelivery:
    return generate_delivery(tmp_path_factory.mktemp("roundtrip"), households=5, seed=7, dpi=200)


def _good_files(gen: GeneratedDelivery) -> list[dict[str, Any]]:
    return [f for f in gen.files if f["format"] != "bad"]


def _check_file(gen: GeneratedDelivery, entry: dict[str, Any], rules: Profile, dpi: int) -> None:
    report = inspect_path(gen.delivery_dir / entry["path"], rules, dpi=dpi)
    truth = entry["pages"]
    where = entry["path"]
    assert len(report.pages) == len(truth), f"{where}: page count"
    for got, want in zip(report.pages, truth, strict=True):
        at = f"{where} page {want['index'] + 1}"
        assert got.index == want["index"], at
        assert str(got.page.kind) == want["kind"], f"{at}: {got.page.to_dict()} vs {want}"
        if want["barcode"] is not None:
            read = {(b.format, b.text) for b in got.page.barcodes}
            expected = (want["barcode"]["format"], want["barcode"]["text"])
            assert expected in read, f"{at}: {expected} not in {read}"
        if want["kind"] == "cover":
            assert got.page.cover is not None, at
            assert got.page.cover.household == want["household"], at
            # A bare household number carries no volume: only the ESAK1 form can report one.
            structured = want["barcode"]["text"].startswith("ESAK1;")
            assert got.page.cover.structured is structured, at
            if structured:
                assert got.page.cover.volume == want["volume"], at


def test_delivery_has_every_kind(delivery: GeneratedDelivery) -> None:
    kinds = {p["kind"] for _, p in delivery.iter_pages()}
    assert kinds == {"cover", "separator", "blank", "content"}
    assert any(f["format"] == "bad" for f in delivery.files)
    assert any(p["barcode"] for _, p in delivery.iter_pages())


def test_every_good_file_matches_truth(delivery: GeneratedDelivery, profile: Profile) -> None:
    files = _good_files(delivery)
    assert {f["format"] for f in files} >= {"pdf", "tiff", "image-folder", "household-pdf"}
    for entry in files:
        _check_file(delivery, entry, profile, 200)


def test_bad_file_raises_input_error(delivery: GeneratedDelivery, profile: Profile) -> None:
    bad = [f for f in delivery.files if f["format"] == "bad"]
    assert len(bad) == 1
    with pytest.raises(InputError):
        inspect_path(delivery.delivery_dir / bad[0]["path"], profile, dpi=200)


def test_first_batch_at_300_dpi(tmp_path: Path, profile: Profile) -> None:
    # One household: a single batch of every kind of page (an orphan page, a structured
    # cover, separators, blank back sides, bleed-through and a handwritten note), without
    # rendering five households' other files at 300 dpi only to leave them unread.
    gen = generate_delivery(
        tmp_path, households=1, missing=0, seed=6, dpi=300, bad_file=False, with_manifest=False
    )
    first = next(f for f in gen.files if f["format"] == "pdf")
    assert {p["kind"] for p in first["pages"]} == {"cover", "separator", "blank", "content"}
    _check_file(gen, first, profile, 300)

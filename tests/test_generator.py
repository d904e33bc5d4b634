"""The synthetic delivery generator: deterministic, and its truth matches its files."""

from __future__ import annotations

import csv
import hashlib
import json
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import pypdfium2 as pdfium
import pytest
import zxingcpp
from PIL import Image, ImageSequence
from scipy import ndimage

from esak.synthetic import (
    CONTENT_KINDS,
    SYMBOLOGIES,
    GeneratedDelivery,
    barcode_modules,
    generate_delivery,
    random_person,
    render_blank_page,
    render_content_page,
    render_cover_sheet,
    render_handwritten_note_page,
    render_separator,
)

HOUSEHOLD = re.compile(r"^\d{5}BG\d{7}$")
# zxing-cpp's names (str(format)) -> the names in the truth and in esak.
ZX_NAMES = {
    "Code 128": "Code128",
    "Code 39": "Code39",
    "QR Code": "QR",
    "DataMatrix": "DataMatrix",
    "Data Matrix": "DataMatrix",
}


@pytest.fixture(scope="module")
def gen(tmp_path_factory: pytest.TempPathFactory) -> GeneratedDelivery:
    # households=6: every kind of input, a missing and an unexpected household.
    return generate_delivery(tmp_path_factory.mktemp("gen"), households=6, seed=3, dpi=200)


def _hashes(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _images(g: GeneratedDelivery, f: dict[str, Any]) -> list[Image.Image]:
    """The pages of one delivered file as grey images, as a reader of the delivery sees them."""
    path = g.delivery_dir / f["path"]
    if f["format"] in ("pdf", "household-pdf"):
        doc = pdfium.PdfDocument(path)
        try:
            return [
                doc[i].render(scale=g.dpi / 72, grayscale=True).to_pil() for i in range(len(doc))
            ]
        finally:
            doc.close()
    if f["format"] == "tiff":
        with Image.open(path) as tif:
            return [frame.convert("L") for frame in ImageSequence.Iterator(tif)]
    assert f["format"] == "image-folder"
    return [Image.open(p).convert("L") for p in sorted(path.iterdir())]


def _real_page_count(g: GeneratedDelivery, f: dict[str, Any]) -> int:
    path = g.delivery_dir / f["path"]
    if f["format"] == "tiff":
        with Image.open(path) as tif:
            return tif.n_frames
    if f["format"] == "image-folder":
        return sum(1 for _ in path.iterdir())
    doc = pdfium.PdfDocument(path)
    try:
        return len(doc)
    finally:
        doc.close()


def _reads(img: Image.Image) -> set[tuple[str, str]]:
    return {
        (ZX_NAMES.get(str(b.format), str(b.format)), b.text) for b in zxingcpp.read_barcodes(img)
    }


def _is_payload(text: str) -> bool:
    return text.startswith(("ESAK1;", "DOC;")) or text == "PATCHT" or bool(HOUSEHOLD.match(text))


def _check_barcodes(g: GeneratedDelivery) -> int:
    checked = 0
    for f in g.files:
        if f["format"] == "bad":
            continue
        for img, page in zip(_images(g, f), f["pages"], strict=True):
            got = _reads(img)
            where = f"{f['path']} page {page['index']} ({page['kind']})"
            if page["barcode"] is None:
                assert got == set(), where
                continue
            want = (page["barcode"]["format"], page["barcode"]["text"])
            assert want in got, f"{where}: {got}"
            # zxing's downscaled pass now and then also decodes a skewed 1-D code into junk;
            # tolerated as long as it could not pass for a cover sheet or separator.
            assert not [r for r in got - {want} if _is_payload(r[1])], f"{where}: {got}"
            checked += 1
    return checked


def _structured(text: str) -> tuple[str, str, int, int] | None:
    if not text.startswith("ESAK1;"):
        return None
    _, site, household, volume, pages = text.split(";")
    return site, household, int(volume), int(pages)


# --- determinism ---------------------------------------------------------------------------


def test_same_seed_gives_identical_truth_and_bytes(tmp_path: Path) -> None:
    # Low resolution: determinism does not depend on it, and it keeps the test quick.
    kw: dict[str, Any] = {"households": 4, "dpi": 100}
    a = generate_delivery(tmp_path / "a", seed=5, **kw)
    b = generate_delivery(tmp_path / "b", seed=5, **kw)
    c = generate_delivery(tmp_path / "c", seed=6, **kw)
    assert a.to_dict() == b.to_dict()
    assert (tmp_path / "a" / "truth.json").read_bytes() == (
        tmp_path / "b" / "truth.json"
    ).read_bytes()
    hashes_a = _hashes(tmp_path / "a")
    assert hashes_a == _hashes(tmp_path / "b")
    assert a.to_dict() != c.to_dict()
    assert set(hashes_a.values()).isdisjoint(_hashes(tmp_path / "c").values())
    # The expected list's header alternates with the seed.
    assert {
        a.expected_csv.read_text(encoding="utf-8-sig").split(";")[0],
        c.expected_csv.read_text(encoding="utf-8-sig").split(";")[0],
    } == {"BG-Nummer", "household"}


def test_truth_json_round_trips(gen: GeneratedDelivery) -> None:
    assert gen.root is not None
    loaded = GeneratedDelivery.from_json(gen.root / "truth.json")
    assert loaded.to_dict() == gen.to_dict()
    assert loaded.delivery_dir == gen.delivery_dir
    assert loaded.expected_csv.is_file()
    data = json.loads((gen.root / "truth.json").read_text(encoding="utf-8"))
    # Portable: no absolute paths in the truth.
    assert data["delivery_dir"] == "delivery"
    assert data["expected_csv"] == "expected_borken.csv"


def test_refuses_to_write_into_a_used_delivery_folder(tmp_path: Path) -> None:
    (tmp_path / "delivery").mkdir()
    (tmp_path / "delivery" / "old.pdf").write_bytes(b"%PDF-1.4")
    with pytest.raises(FileExistsError):
        generate_delivery(tmp_path, households=1, missing=0, dpi=100)


# --- truth against files -------------------------------------------------------------------


def test_page_counts_match_the_files(gen: GeneratedDelivery) -> None:
    for f in gen.files:
        if f["format"] == "bad":
            continue
        assert _real_page_count(gen, f) == len(f["pages"]), f["path"]
        assert [p["index"] for p in f["pages"]] == list(range(len(f["pages"])))


def test_the_delivery_holds_every_kind_of_input(gen: GeneratedDelivery) -> None:
    formats = {f["format"] for f in gen.files}
    assert formats == {"pdf", "tiff", "image-folder", "household-pdf", "bad"}
    assert len([f for f in gen.files if f["format"] == "pdf"]) >= 2
    folder = next(f for f in gen.files if f["format"] == "image-folder")
    assert {Path(n).suffix for n in folder["images"]} <= {".png", ".jpg"}
    assert folder["images"] == sorted(folder["images"])
    hh_file = next(f for f in gen.files if f["format"] == "household-pdf")
    assert re.fullmatch(rf"{hh_file['household']}(_{hh_file['volume']})?\.pdf", hh_file["path"])
    assert all(p["kind"] in ("content", "blank") for p in hh_file["pages"])
    assert all(p["household"] == hh_file["household"] for p in hh_file["pages"])
    with Image.open(
        gen.delivery_dir / next(f["path"] for f in gen.files if f["format"] == "tiff")
    ) as tif:
        assert tif.info.get("compression") == "group4"
        assert tif.mode == "1"
        assert round(float(tif.info["dpi"][0])) == gen.dpi


def test_cover_sheets(gen: GeneratedDelivery) -> None:
    covers = [(f, p) for f, p in gen.iter_pages() if p["kind"] == "cover"]
    assert {p["barcode"]["format"] for _, p in covers} == set(SYMBOLOGIES)
    declared_counts = []
    for f, cover in covers:
        text = cover["barcode"]["text"]
        parsed = _structured(text)
        if parsed is None:
            assert text == cover["household"]
            continue
        assert cover["barcode"]["format"] != "Code39"  # cannot hold ';'
        site, household, volume, declared = parsed
        assert (site, household, volume) == (gen.site, cover["household"], cover["volume"])
        following = 0
        for page in f["pages"][cover["index"] + 1 :]:
            if page["kind"] == "cover":
                break
            following += 1
        assert declared in (0, following), text
        declared_counts.append(declared)
    assert any(declared_counts), "no cover declares its page count"
    assert 0 in declared_counts, "no structured cover leaves its page count open"


def test_sections_separators_and_documents(gen: GeneratedDelivery) -> None:
    doubled = False
    for f in gen.files:
        if f["format"] in ("bad", "household-pdf"):
            continue
        current: tuple[str, int] | None = None
        documents: list[int] = []
        previous = None
        for page in f["pages"]:
            kind = page["kind"]
            if kind == "cover":
                current = (page["household"], page["volume"])
                documents = []
            elif current is None:
                assert page["orphan"] and page["household"] is None and kind == "content"
            else:
                assert not page["orphan"]
                assert (page["household"], page["volume"]) == current
            if kind == "separator":
                text = page["barcode"]["text"]
                assert text == "PATCHT" or text == f"DOC;{page['doc_type']}"
                if text == "PATCHT":
                    assert page["barcode"]["format"] in ("Code39", "QR")
                else:
                    assert page["barcode"]["format"] in ("Code128", "QR")
                doubled |= previous is not None and previous["kind"] == "separator"
            if kind == "content" and current is not None:
                if not documents or documents[-1] != page["document"]:
                    documents.append(page["document"])
                # Documents are numbered 0, 1, 2 ... within the section, none empty.
                assert documents == list(range(len(documents)))
            elif kind != "content":
                assert page["document"] is None
            previous = page
    assert doubled, "no two separators in a row"
    orphans = [p for _, p in gen.iter_pages() if p["orphan"]]
    assert len(orphans) == 1


def test_households(gen: GeneratedDelivery) -> None:
    assert set(gen.missing_households) <= set(gen.expected_households)
    assert len(gen.missing_households) == 1
    assert len(gen.unexpected_households) == 1
    assert not set(gen.unexpected_households) & set(gen.expected_households)
    on_pages = {p["household"] for _, p in gen.iter_pages() if p["household"]}
    assert on_pages == set(gen.delivered_households)
    assert set(gen.delivered_households) == (
        set(gen.expected_households) - set(gen.missing_households)
    ) | set(gen.unexpected_households)
    every = on_pages | set(gen.expected_households) | set(gen.unexpected_households)
    assert all(HOUSEHOLD.match(h) for h in every)
    # One household spread over two batches: volume 1 in one, volume 2 in another.
    where: dict[tuple[str, int], set[str]] = {}
    for f, p in gen.iter_pages():
        if p["kind"] == "cover":
            where.setdefault((p["household"], p["volume"]), set()).add(f["path"])
    assert any(
        (h, 2) in where and where[(h, 1)].isdisjoint(where[(h, 2)]) for h, v in where if v == 1
    )


def test_expected_list_parses_like_excel_wrote_it(gen: GeneratedDelivery) -> None:
    raw = gen.expected_csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" in raw
    with open(gen.expected_csv, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    assert rows[0] in (
        ["BG-Nummer", "Name", "Status", "Bände"],
        ["household", "name", "status", "volumes"],
    )
    assert [r[0] for r in rows[1:]] == gen.expected_households
    names = [r[1] for r in rows[1:]]
    assert names == [gen.names[h] for h in gen.expected_households]
    assert all(", " in n for n in names)
    assert all(r[3].isdigit() and int(r[3]) >= 1 for r in rows[1:])


def test_manifest_lists_every_file_and_one_that_never_came(gen: GeneratedDelivery) -> None:
    assert gen.manifest is not None
    with open(gen.manifest, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter=";"))
    listed = {r["file"]: r for r in rows}
    on_disk = _hashes(gen.delivery_dir)
    del on_disk["manifest.csv"]
    assert set(listed) - set(on_disk) == {"box03/batch_404.pdf"} == set(gen.manifest_not_delivered)
    assert set(on_disk) <= set(listed)
    for name, digest in on_disk.items():
        assert listed[name]["sha256"] == digest
    for f in gen.files:
        if f["format"] in ("pdf", "tiff", "household-pdf"):
            assert int(listed[f["path"]]["pages"]) == len(f["pages"])


def test_the_bad_file_is_unreadable(gen: GeneratedDelivery) -> None:
    bad = [f for f in gen.files if f["format"] == "bad"]
    assert len(bad) == 1 and bad[0]["bad_reason"] and bad[0]["pages"] == []
    with pytest.raises(pdfium.PdfiumError):
        pdfium.PdfDocument(gen.delivery_dir / bad[0]["path"])


# --- pixels ----------------------------------------------------------------------------------


def test_every_barcode_in_the_truth_reads_and_no_other(gen: GeneratedDelivery) -> None:
    assert _check_barcodes(gen) >= 10


def test_barcodes_read_at_300_dpi(tmp_path: Path) -> None:
    g = generate_delivery(
        tmp_path, households=2, missing=0, seed=8, dpi=300, bad_file=False, with_manifest=False
    )
    assert [f["format"] for f in g.files] == ["pdf"]
    img = _images(g, g.files[0])[0]
    # A4 at 300 dpi; pdfium may round the 595.2 pt width up by a pixel.
    assert abs(img.size[0] - 2480) <= 1 and abs(img.size[1] - 3508) <= 1
    assert _check_barcodes(g) >= 3


def _largest_mark_mm(img: Image.Image, dpi: int, below: int) -> float:
    """Longest side (mm) of the largest connected area darker than ``below``."""
    labels, n = ndimage.label(np.asarray(img.convert("L")) < below)
    if n == 0:
        return 0.0
    sizes = np.bincount(labels.ravel())[1:]
    sl = ndimage.find_objects(labels)[int(np.argmax(sizes))]
    return max(sl[0].stop - sl[0].start, sl[1].stop - sl[1].start) * 25.4 / dpi


def test_blank_back_sides_and_a_handwritten_note(gen: GeneratedDelivery) -> None:
    pages = {
        note: next(
            (f, p)
            for f, p in gen.iter_pages()
            if p["note"] == note and p["kind"] == kind and f["format"] != "tiff"
        )
        for note, kind in ((None, "blank"), ("bleed-through", "blank"), ("handwritten", "content"))
    }
    for note, (f, p) in pages.items():
        img = _images(gen, f)[p["index"]]
        mark = _largest_mark_mm(img, gen.dpi, 128)
        if note == "handwritten":
            assert 25 <= mark <= 75, mark
        else:
            # Nothing but dust: no dark mark longer than a millimetre or so.
            assert mark < 1.5, (note, mark)
        if note == "bleed-through":
            # The other side shows through, but only as a light grey.
            arr = np.asarray(img)
            assert (arr < 236).mean() > 0.002
            assert _largest_mark_mm(img, gen.dpi, 190) < 1.5


def test_renderers() -> None:
    dpi = 100
    a4 = (round(210 / 25.4 * dpi), round(297 / 25.4 * dpi))
    person = random_person(random.Random(1))
    clean = render_cover_sheet("95401BG0000101", site="borken", dpi=dpi, scanner_noise=False)
    assert clean.mode == "L" and clean.size == a4
    assert np.asarray(clean)[0:20].min() == 255  # clean paper: printable as it is
    assert _reads(clean) == {("Code128", "ESAK1;borken;95401BG0000101;1;0")}
    with pytest.raises(ValueError):
        render_cover_sheet("95401BG0000101", site="borken", symbology="Code39", dpi=dpi)
    with pytest.raises(ValueError):
        barcode_modules("DOC;Antrag", "Code39")
    sep = render_separator("DOC;Antrag", symbology="DataMatrix", dpi=150, rng=random.Random(2))
    assert _reads(sep) == {("DataMatrix", "DOC;Antrag")}
    for kind in CONTENT_KINDS:
        page = render_content_page(
            random.Random(3), kind, dpi=dpi, person=person, household="95401BG0000101"
        )
        assert page.mode == "L" and page.size == a4
        assert (np.asarray(page) < 128).mean() > 0.005, kind
    bilevel = render_blank_page(random.Random(4), dpi=dpi, bilevel=True)
    assert bilevel.mode == "1"
    note = render_handwritten_note_page(random.Random(5), dpi=dpi)
    assert 25 <= _largest_mark_mm(note, dpi, 128) <= 75
    with pytest.raises(ValueError):
        render_content_page(
            random.Random(3), "steuerbescheid", dpi=dpi, person=person, household="x"
        )


def test_duplex_makes_a_mostly_content_or_a_mostly_blank_delivery(tmp_path):
    from esak.synthetic import generate_delivery

    shares = {}
    for duplex in (0.0, 1.0):
        g = generate_delivery(tmp_path / str(duplex), households=2, seed=3, dpi=100,
                              missing=0, orphan_pages=0, bad_file=False, duplex=duplex)  # fmt: skip
        totals = g.page_totals()
        shares[duplex] = totals["blank"] / totals["input"], totals["content"] / totals["input"]
        for f in g.files:
            kinds = [p["kind"] for p in f["pages"]]
            for i, kind in enumerate(kinds[:-1]):
                if kind == "cover" and duplex == 1.0:
                    assert kinds[i + 1] == "blank", (f["path"], i)  # a cover's back side
            # A back side turned into a handwritten note belongs to the document before it.
            for p in f["pages"]:
                if p["note"] == "handwritten":
                    assert p["document"] is not None
    assert shares[0.0][1] > 0.5 and shares[0.0][0] < 0.15  # only the three back sides worth testing
    assert shares[1.0][0] > 0.4 and shares[1.0][0] > shares[1.0][1]
    with pytest.raises(ValueError, match="duplex"):
        generate_delivery(tmp_path / "bad", households=2, duplex=1.5)

"""Printable cover sheets: printed, scanned back, and recognised by esak's own classifier."""

from __future__ import annotations

import random
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import numpy as np
import pikepdf
import pypdfium2 as pdfium
import pytest
from PIL import Image

from esak import synthetic as generator
from esak.errors import InputError
from esak.index.db import Index
from esak.index.expected import import_expected
from esak.migrate import barcodes
from esak.migrate.barcodes import read_barcodes
from esak.migrate.classify import PageKind, classify_page
from esak.migrate.codes import find_text_covers
from esak.migrate.coversheets import BARCODE_TOP_MM, write_coversheets
from esak.profiles import Profile, load_profile

H1, H2, H3 = "95401BG0000101", "95401BG0000102", "95401BG0000103"
NAMES = ("Müller, Jürgen", "Weiß, Käthe", "Öztürk, Ayşe")
VOLUMES = {H1: 2, H2: 1, H3: 1}  # H2's row leaves volumes empty: one volume
SITE = "schoeppingen"  # umlaut in the name, longest key of the district's towns


@pytest.fixture(scope="module")
def profile() -> Profile:
    return load_profile(SITE)


@pytest.fixture
def index(tmp_path: Path, profile: Profile) -> Iterator[Index]:
    csv = tmp_path / "soll.csv"
    csv.write_text(
        f"BG-Nummer;Name;Status;Bände\r\n{H1};{NAMES[0]};aktiv;2\r\n"
        f"{H2};{NAMES[1]};aktiv;\r\n{H3};{NAMES[2]};ruhend;1\r\n",
        encoding="utf-8-sig",
    )
    with Index.open(tmp_path / "ws" / "index.sqlite") as opened:
        assert import_expected(opened, SITE, csv, profile.is_household).ok
        yield opened


def _pdf_text(path: Path) -> list[str]:
    doc = pdfium.PdfDocument(str(path))
    try:
        return [page.get_textpage().get_text_range() for page in doc]
    finally:
        doc.close()


def _render(path: Path, dpi: int) -> list[Image.Image]:
    doc = pdfium.PdfDocument(str(path))
    try:
        return [p.render(scale=dpi / 72, grayscale=True).to_pil().convert("L") for p in doc]
    finally:
        doc.close()


def _scan(img: Image.Image, seed: int, *, bilevel: bool) -> Image.Image:
    """What a scanner makes of the printout: greyish paper, a slight skew, sensor noise."""
    rng = np.random.default_rng(seed)
    arr = np.asarray(img, dtype=np.float32) * (235 / 255) + 12
    arr += rng.normal(0, 6, arr.shape)
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "L")
    out = out.rotate(0.5, resample=Image.Resampling.BILINEAR, fillcolor=240)
    return out.point(lambda v: 255 if v >= 150 else 0, mode="1").convert("L") if bilevel else out


def _code_rows(inked: np.ndarray, dpi: int) -> tuple[int, int]:
    """First and past-last row of the code: the block of inked rows from its top on."""
    top = round((BARCODE_TOP_MM - 2) * dpi / 25.4)
    while not inked[top]:
        top += 1
    bottom = top
    while inked[bottom]:
        bottom += 1
    return top, bottom


def test_one_a4_page_per_volume_owner_only_and_no_names(
    tmp_path: Path, index: Index, profile: Profile
) -> None:
    out = tmp_path / "deckblaetter.pdf"
    result = write_coversheets(index, profile, out)
    assert result.to_dict() == {
        "site": SITE,
        "output": str(out),
        "sheets": 4,
        "households": 3,
        "symbology": "Code128",
    }
    assert out.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deckblaetter.pdf", "soll.csv", "ws"]
    with pikepdf.open(out) as pdf:
        assert len(pdf.pages) == sum(VOLUMES.values())
        streams = b""
        for page in pdf.pages:
            x0, y0, x1, y1 = (float(v) for v in page.mediabox)
            assert abs(x1 - x0 - 595) <= 1 and abs(y1 - y0 - 842) <= 1
            assert "/XObject" not in page.Resources  # vector: bars are rectangles, no picture
            streams += page.Contents.read_bytes()
    assert b"Sch\xf6ppingen" in streams  # WinAnsi byte for ö
    texts = _pdf_text(out)
    sheets = [(H1, 1, 2), (H1, 2, 2), (H2, 1, 1), (H3, 1, 1)]
    for text, (household, volume, of) in zip(texts, sheets, strict=True):
        assert "AKTENDECKBLATT" in text and f"BG-Nummer: {household}" in text
        assert (f"Band {volume} von {of}" if of > 1 else f"Band {volume}") in text
        assert "Standort: Schöppingen" in text
    raw = out.read_bytes()
    for name in NAMES:
        for part in name.split(", "):
            assert part not in "".join(texts)
            for enc in ("utf-8", "cp1252", "utf-16-be"):
                data = part.encode(enc, errors="ignore")
                assert data not in raw and data not in streams


def test_chosen_households_in_the_given_order(
    tmp_path: Path, index: Index, profile: Profile
) -> None:
    out = tmp_path / "two.pdf"
    result = write_coversheets(index, profile, out, households=[H3, H1, H3], symbology="QR")
    assert (result.sheets, result.households, result.symbology) == (3, 2, "QR")
    numbers = [t.split("BG-Nummer: ")[1][:14] for t in _pdf_text(out)]
    assert numbers == [H3, H1, H1]


@pytest.mark.parametrize("symbology", ["Code128", "QR", "DataMatrix"])
def test_printed_and_scanned_sheets_are_recognised(
    tmp_path: Path, index: Index, profile: Profile, symbology: str
) -> None:
    out = tmp_path / f"{symbology}.pdf"
    write_coversheets(index, profile, out, symbology=symbology)
    want = [(H1, 1), (H1, 2), (H2, 1), (H3, 1)]
    for dpi, bilevel in ((300, False), (200, True)):
        pages = _render(out, dpi)
        for i, (img, (household, volume)) in enumerate(zip(pages, want, strict=True)):
            at = f"{symbology} page {i + 1} at {dpi} dpi"
            got = classify_page(_scan(img, dpi * 10 + i, bilevel=bilevel), dpi, profile)
            assert got.kind is PageKind.COVER and got.problem is None, f"{at}: {got.to_dict()}"
            assert got.cover is not None and got.cover.structured, at
            assert (got.cover.household, got.cover.volume) == (household, volume), at
            assert got.cover.declared_pages == 0, at
            text = f"ESAK1;{SITE};{household};{volume};0"
            assert [(b.format, b.text) for b in got.barcodes] == [(symbology, text)], at
    # Modules of at least 0.33 mm and quiet zones of 10 (1-D) or 4 (2-D) modules all round,
    # measured on the clean 300-dpi rendering.
    arr = np.asarray(_render(out, 300)[0]) < 128
    top, bottom = _code_rows(arr.any(axis=1), 300)
    row = arr[(top + bottom) // 2]
    left, right = np.flatnonzero(row)[[0, -1]]
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, row.astype(np.int8), 0])))[::2]
    module = int(runs.min())
    assert module >= 0.33 * 300 / 25.4
    q = (10 if symbology == "Code128" else 4) * module
    zone = arr[top - q : bottom + q, left - q : right + 1 + q].copy()
    zone[q:-q, q:-q] = False
    assert not zone.any()


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed")
def test_clear_text_alone_identifies_the_sheet(
    tmp_path: Path, index: Index, profile: Profile
) -> None:
    out = tmp_path / "one.pdf"
    write_coversheets(index, profile, out, households=[H2])
    dpi = 300
    arr = np.asarray(_render(out, dpi)[0]).copy()
    top, bottom = _code_rows((arr < 128).any(axis=1), dpi)
    arr[top:bottom] = 255
    masked = Image.fromarray(arr, "L")
    assert read_barcodes(masked) == []
    png = BytesIO()
    masked.save(png, format="PNG", dpi=(dpi, dpi))
    ocr = subprocess.run(
        ["tesseract", "stdin", "stdout", "-l", "deu"],
        input=png.getvalue(),
        capture_output=True,
        check=True,
        timeout=120,
    ).stdout.decode("utf-8")
    assert find_text_covers([ocr]) == ((0, H2),), ocr


@pytest.mark.slow
def test_ingest_files_scanned_sheets_under_their_household_and_volume(
    tmp_path: Path, index: Index, profile: Profile
) -> None:
    from esak.migrate.ingest import ingest_delivery
    from esak.workspace import Workspace

    out = tmp_path / "sheets.pdf"
    write_coversheets(index, profile, out, households=[H2, H1])  # H2 v1, H1 v1, H1 v2
    dpi = 200
    sheets = _render(out, dpi)
    rng = random.Random(5)

    def content(household: str) -> Image.Image:
        person = generator.random_person(rng, SITE)
        return generator.render_content_page(
            rng, "schreiben", dpi=dpi, person=person, household=household, site=SITE
        ).convert("L")

    pages = [_scan(sheets[0], 1, bilevel=False), content(H2)]
    pages += [_scan(sheets[2], 2, bilevel=False), content(H1)]
    bilevel = [p.point(lambda v: 255 if v >= 150 else 0, mode="1") for p in pages]
    delivery = tmp_path / "delivery"
    (delivery / "box01").mkdir(parents=True)
    bilevel[0].save(
        delivery / "box01" / "batch_001.tif",
        save_all=True,
        append_images=bilevel[1:],
        compression="group4",
        dpi=(dpi, dpi),
    )
    ws = Workspace(tmp_path / "ingest-ws")
    report = ingest_delivery(ws, profile, delivery, workers=1)
    assert report.ok, report.to_dict()
    assert report.pages["input"] == 4 and report.pages["cover"] == 2
    assert report.pages["archived"] == 2 and report.pages["quarantined"] == 0
    assert report.households == sorted([H1, H2])
    with sqlite3.connect(ws.index_path) as db:
        docs = db.execute("SELECT household, volume, pages FROM documents ORDER BY household")
        assert docs.fetchall() == [(H1, 2, 1), (H2, 1, 1)]


def test_unknown_or_malformed_household_is_refused(
    tmp_path: Path, index: Index, profile: Profile
) -> None:
    out = tmp_path / "x.pdf"
    with pytest.raises(InputError, match="95401BG0000999") as caught:
        write_coversheets(index, profile, out, households=[H1, "95401BG0000999"])
    assert "esak expected import" in (caught.value.remedy or "")
    with pytest.raises(InputError) as caught:
        write_coversheets(index, profile, out, households=["Müller, Jürgen", "12345"])
    assert "Müller" not in str(caught.value) and "'12345'" in str(caught.value)
    with pytest.raises(InputError, match="no households"):
        write_coversheets(index, profile, out, households=[])
    assert not out.exists()


def test_site_without_expected_list_is_refused(tmp_path: Path, index: Index) -> None:
    other = load_profile("suedlohn")
    with pytest.raises(InputError, match="no expected list") as caught:
        write_coversheets(index, other, tmp_path / "x.pdf")
    assert "esak expected import --site suedlohn" in (caught.value.remedy or "")


@pytest.mark.parametrize("symbology", ["Code39", "EAN13"])
def test_symbology_that_cannot_hold_the_text_is_refused(
    tmp_path: Path, index: Index, profile: Profile, symbology: str
) -> None:
    with pytest.raises(InputError, match=symbology):
        write_coversheets(index, profile, tmp_path / "x.pdf", symbology=symbology)


def test_missing_output_folder_is_refused_and_a_rewrite_is_atomic(
    tmp_path: Path, index: Index, profile: Profile
) -> None:
    with pytest.raises(InputError, match="does not exist"):
        write_coversheets(index, profile, tmp_path / "nowhere" / "x.pdf")
    assert not (tmp_path / "nowhere").exists()
    out = tmp_path / "print" / "x.pdf"
    out.parent.mkdir()
    out.write_bytes(b"old")
    write_coversheets(index, profile, out, households=[H3])
    with pikepdf.open(out) as pdf:
        assert len(pdf.pages) == 1
    assert [p.name for p in out.parent.iterdir()] == ["x.pdf"]  # no temp file left behind
    assert out.stat().st_mode & 0o777 == 0o600


def test_one_copy_of_the_barcode_matrix() -> None:
    assert generator.barcode_modules is barcodes.barcode_modules


def test_every_site_gets_its_sheets_in_every_symbology(tmp_path: Path, index: Index) -> None:
    from esak.profiles import load_all

    csv = tmp_path / "one.csv"
    csv.write_text(f"household;volumes\n{H1};3\n", encoding="utf-8")
    for site in load_all():
        # The same household at every site: refused as "another site's list" without force.
        import_expected(index, site.key, csv, site.is_household, force=True)
        for symbology in ("Code128", "QR", "DataMatrix"):
            out = tmp_path / f"{site.key}-{symbology}.pdf"
            result = write_coversheets(index, site, out, households=[H1], symbology=symbology)
            assert result.sheets == 3
        first = _pdf_text(out)[0]
        assert f"Standort: {site.name}" in first, first  # Südlohn, Gronau (Westf.), ...

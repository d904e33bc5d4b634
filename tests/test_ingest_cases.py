"""Ingest on hand-built deliveries: real sample scans behind cover sheets, and hostile input."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import sqlite3
from pathlib import Path

import numpy as np
import pikepdf
import pypdfium2 as pdfium
import pytest
import zxingcpp
from click.testing import CliRunner
from lxml import etree
from PIL import Image

from esak.cli import cli
from esak.synthetic import random_person, render_content_page, render_cover_sheet
from tests.conftest import osd_rotation, pdf_bytes, sample
from tests.test_pages import _bomb_png

pytestmark = pytest.mark.slow
DPI = 200


def _cover(household: str, **kw) -> Image.Image:
    return render_cover_sheet(household, site="borken", dpi=DPI, rng=random.Random(1), **kw)


def _with_pages_of(cover: Image.Image, pdf_path: Path, target: Path) -> None:
    """A batch: a cover sheet, then the pages of a real scan, unchanged."""
    out = pikepdf.open(io.BytesIO(pdf_bytes([cover], DPI)))
    with pikepdf.open(pdf_path) as src:
        out.pages.extend(src.pages)
        out.save(target)


def _ingest(ws: Path, delivery: Path, *args: str) -> dict:
    result = CliRunner().invoke(
        cli,
        ["--workspace", str(ws), "ingest", "--site", "borken", str(delivery), "--json", *args],
        catch_exceptions=False,
    )
    return json.loads(result.stdout)


def _show(ws: Path, household: str) -> list[dict]:
    result = CliRunner().invoke(cli, ["--workspace", str(ws), "show", household, "--json"])
    return json.loads(result.stdout)["documents"]


@pytest.fixture(scope="module")
def samples_run(tmp_path_factory):
    fax = sample("paperless", "barcode-fax-image.pdf")
    cardinal = sample("ocrmypdf", "cardinal.pdf")
    root = tmp_path_factory.mktemp("samples")
    delivery = root / "delivery"
    delivery.mkdir()
    _with_pages_of(_cover("95401BG0000101"), fax, delivery / "batch_fax.pdf")
    _with_pages_of(_cover("95401BG0000102"), cardinal, delivery / "batch_cardinal.pdf")
    # The provider's manifest dates one file's scan; the delivery's date covers the other.
    digest = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in delivery.iterdir()}
    (delivery / "manifest.csv").write_text(
        "file;sha256;scanned_at;scanner\n"
        f"batch_fax.pdf;{digest['batch_fax.pdf']};;\n"
        f"batch_cardinal.pdf;{digest['batch_cardinal.pdf']};2021-01-18;Fujitsu fi-7900\n",
        encoding="utf-8",
    )
    ws = root / "ws"
    return _ingest(ws, delivery, "--scanned-on", "2021-01-20"), ws


def test_fax_scan_behind_a_cover_sheet_becomes_two_documents(samples_run):
    report, ws = samples_run
    docs = _show(ws, "95401BG0000101")
    assert [d["pages"] for d in docs] == [1, 1]
    assert report["pages"]["separator"] == 1


def test_cardinal_pages_come_out_upright_with_text(samples_run, tmp_path):
    _, ws = samples_run
    (doc,) = _show(ws, "95401BG0000102")
    assert doc["pages"] == 4
    pdf = pdfium.PdfDocument(doc["path"])
    for i in range(4):
        page = pdf[i]
        assert "linnsequencer" in page.get_textpage().get_text_range().lower(), f"page {i}"
        png = tmp_path / f"p{i}.png"
        page.render(scale=150 / 72).to_pil().save(png)
        assert osd_rotation(png) == 0, f"page {i} is not upright"


def test_turned_pages_the_engine_and_the_scan_dates_are_recorded_and_stated(samples_run):
    report, ws = samples_run
    assert report["delivery_problems"] == []
    db = sqlite3.connect(ws / "index.sqlite")
    turned = db.execute(
        "SELECT p.page_index, p.rotation FROM pages p JOIN input_files f ON f.id = p.file_id "
        "WHERE f.relpath = 'batch_cardinal.pdf' AND p.outcome = 'archived' ORDER BY 1"
    ).fetchall()
    # cardinal.pdf holds its page in all four orientations: three of them were turned.
    assert len(turned) == 4 and sum(1 for _, r in turned if r) == 3, turned
    assert {e for (e,) in db.execute("SELECT engine FROM documents")} <= {"tesseract", "ocrmypdf"}
    assert None not in {e for (e,) in db.execute("SELECT engine FROM documents")}
    scanned = dict(db.execute("SELECT relpath, scanned_at FROM input_files").fetchall())
    assert scanned == {"batch_fax.pdf": None, "batch_cardinal.pdf": "2021-01-18"}
    assert db.execute("SELECT scanned_on FROM deliveries").fetchall() == [("2021-01-20",)]
    result = CliRunner().invoke(cli, ["--workspace", str(ws), "transfer-note", "--site",
                                      "borken", "--by", "A. Admin", "--json"])  # fmt: skip
    notes = {Path(n["document"]).parts[-3]: n["note"] for n in json.loads(result.stdout)["notes"]}
    ns = {"tv": "urn:esak:transfervermerk:1"}
    cardinal = etree.parse(notes["95401BG0000102"]).getroot()
    degrees = sorted(b.get("grad") for b in cardinal.findall(
        "tv:Besonderheiten/tv:Besonderheit[@art='seite_gedreht']", ns))  # fmt: skip
    assert degrees == sorted(str(r) for _, r in turned if r)
    step = "tv:Prozessschritte/tv:Prozessschritt[@art='scan']"
    scans = {h: etree.parse(n).getroot().find(step, ns).get("zeitpunkt") for h, n in notes.items()}
    assert scans == {"95401BG0000101": "2021-01-20", "95401BG0000102": "2021-01-18"}
    assert cardinal.findtext("tv:Auftragnehmer/tv:Scanner", namespaces=ns) == "Fujitsu fi-7900"


def test_a_scan_date_in_the_future_is_refused(tmp_path):
    args = ["--workspace", str(tmp_path / "ws"), "ingest", "--site", "borken", str(tmp_path),
            "--scanned-on", "2999-01-01"]  # fmt: skip
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "future" in result.output
    assert not (tmp_path / "ws").exists()


# --- hostile input ------------------------------------------------------------------------


def _erase_barcode(img: Image.Image) -> Image.Image:
    """The cover sheet with its barcode torn off: only the printed text is left."""
    arr = np.array(img)
    for code in zxingcpp.read_barcodes(img):
        p = code.position
        xs = [p.top_left.x, p.top_right.x, p.bottom_left.x, p.bottom_right.x]
        ys = [p.top_left.y, p.top_right.y, p.bottom_left.y, p.bottom_right.y]
        arr[max(min(ys) - 30, 0) : max(ys) + 30, max(min(xs) - 30, 0) : max(xs) + 30] = 245
    out = Image.fromarray(arr)
    assert zxingcpp.read_barcodes(out) == []
    return out


@pytest.fixture(scope="module")
def hostile_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    delivery = root / "delivery"
    delivery.mkdir()
    rng = random.Random(5)
    person = random_person(rng)

    def content(household: str) -> Image.Image:
        return render_content_page(
            rng, "lohnabrechnung", dpi=DPI, person=person, household=household
        )

    good = pdf_bytes([_cover("95401BG0000201"), content("95401BG0000201")], DPI)
    (delivery / "batch 1 Übergabe.pdf").write_bytes(good)
    (delivery / "batch_1_copy.pdf").write_bytes(good)  # delivered twice
    (delivery / "kaputt.pdf").write_bytes(os.urandom(3000))
    outside = root / "secret.pdf"
    outside.write_bytes(good)
    (delivery / "link.pdf").symlink_to(outside)
    bombs = delivery / "bomb"
    bombs.mkdir()
    (bombs / "0001.png").write_bytes(_bomb_png())
    bad = render_cover_sheet(
        "95401BG0000301", site="rhede", dpi=DPI, rng=random.Random(2), symbology="QR"
    )
    (delivery / "wrong_site.pdf").write_bytes(pdf_bytes([bad, content("95401BG0000301")], DPI))
    torn = _erase_barcode(_cover("95401BG0000401", scanner_noise=False))
    (delivery / "torn_cover.pdf").write_bytes(pdf_bytes([torn, content("95401BG0000401")], DPI))
    ws = root / "ws"
    return _ingest(ws, delivery), ws


def test_each_bad_file_is_set_aside_with_its_reason(hostile_run):
    report, _ = hostile_run
    reasons = {f["file"]: f["reason"] for f in report["quarantined_files"]}
    assert "not a PDF" in reasons["kaputt.pdf"]
    assert "outside the delivery" in reasons["link.pdf"]
    # An image folder's pages are opened one by one: the bomb is set aside as its page.
    (bomb,) = [p for p in report["quarantined_pages"] if p["file"] == "bomb"]
    assert "pixels" in bomb["reason"] and bomb["pages"] == "1"
    assert "same content as" in reasons["batch_1_copy.pdf"]
    assert "batch 1 Übergabe.pdf" not in reasons


def test_cover_of_another_site_sets_its_pages_aside(hostile_run):
    report, _ = hostile_run
    aside = [p for p in report["quarantined_pages"] if p["file"] == "wrong_site.pdf"]
    assert aside and "rhede" in aside[0]["reason"] and aside[0]["pages"] == "1-2"
    assert "95401BG0000301" not in report["households"]


def test_cover_with_torn_barcode_is_recognised_by_its_printed_text(hostile_run):
    report, ws = hostile_run
    assert "95401BG0000401" in report["households"]
    (doc,) = _show(ws, "95401BG0000401")
    # Page 1 is the cover sheet; the document is page 2, counted from 1 (CONTRACT §6).
    assert doc["pages"] == 1
    assert doc["source"] == {"file": "torn_cover.pdf", "first_page": 2, "last_page": 2}


def test_the_good_file_is_archived_once(hostile_run):
    report, ws = hostile_run
    assert len(_show(ws, "95401BG0000201")) == 1
    assert report["files"]["duplicate"] == 1

"""``esak blanks`` and ``esak blanks keep`` end to end: the generated delivery of the session
(real ingest, real OCR), its dropped blank pages listed, laid out on a review sheet and one of
them put back into its document; errors, and a kill in the middle of a keep."""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pikepdf
import pypdfium2 as pdfium
import pytest
from click.testing import CliRunner
from PIL import Image

from esak.cli import cli
from esak.errors import ExitCode
from esak.synthetic import render_blank_page, render_cover_sheet
from esak.verify.blanks import TILES_PER_SHEET
from tests.conftest import write_pdf

pytestmark = pytest.mark.slow

DPI = 150
HOUSEHOLD = "95401BG0000777"


def esak(ws: Path, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(ws), *args], catch_exceptions=False)


def as_json(ws: Path, *args: str) -> tuple[int, dict]:
    result = esak(ws, *args, "--json")
    return result.exit_code, json.loads(result.stdout)


def sql(ws: Path, query: str, *params):
    db = sqlite3.connect(ws / "index.sqlite")
    try:
        return db.execute(query, params).fetchall()
    finally:
        db.close()


def verify(ws: Path) -> tuple[int, dict]:
    return as_json(ws, "verify", "--site", "borken", "--level", "valid")


@pytest.fixture(scope="module")
def site(e2e_ingest, tmp_path_factory):
    """The session's ingested workspace and its delivery, copied: keep changes both."""
    truth, _, _, ws, delivery, _, _ = e2e_ingest
    root = tmp_path_factory.mktemp("blanks")
    shutil.copytree(ws, root / "ws")
    shutil.copytree(delivery, root / "delivery")
    db = sqlite3.connect(root / "ws" / "index.sqlite")
    with db:
        db.execute("UPDATE deliveries SET path = ?", [str(root / "delivery")])
    db.close()
    return {"truth": truth, "ws": root / "ws", "delivery": root / "delivery", "root": root}


def _dropped_truth(truth: dict) -> list[tuple[str, int]]:
    return sorted(
        (f["path"], p["index"])
        for f in truth["files"]
        if f["format"] != "bad"
        for p in f["pages"]
        if p["kind"] == "blank"
    )


def _grey(pdf: Path, index: int, size: tuple[int, int]) -> np.ndarray:
    doc = pdfium.PdfDocument(str(pdf))
    try:
        image = doc[index].render(scale=100 / 72, grayscale=True).to_pil().convert("L")
    finally:
        doc.close()
    return np.asarray(image.resize(size), dtype=np.float32)


# --- the listing and the sheet ------------------------------------------------------------


def test_json_lists_exactly_the_pages_ingest_dropped(site):
    code, data = as_json(site["ws"], "blanks", "--site", "borken")
    assert code == ExitCode.OK, data
    got = [(p["file"], p["index"]) for p in data["pages"]]
    recorded = sql(
        site["ws"],
        "SELECT f.relpath, p.page_index FROM pages p JOIN input_files f ON f.id = p.file_id "
        "WHERE p.outcome = 'blank' ORDER BY f.relpath, p.page_index",
    )
    assert sorted(got) == sorted(recorded) and data["count"] == len(got) > 0
    # Blank back sides as generated; the classifier errs towards content, never the other way.
    assert set(got) <= set(_dropped_truth(site["truth"]))
    assert all(p["page"] == p["index"] + 1 and p["problem"] is None for p in data["pages"])
    assert data["sheet"] is None and data["problems"] == 0
    (delivery,) = sql(site["ws"], "SELECT id FROM deliveries")[0]
    assert {p["delivery"] for p in data["pages"]} == {delivery}
    # One delivery named: the same pages; an unknown one: a clear error.
    assert (
        as_json(site["ws"], "blanks", "--site", "borken", "--delivery", str(delivery))[1]["pages"]
        == data["pages"]
    )
    code, error = as_json(site["ws"], "blanks", "--site", "borken", "--delivery", "99")
    assert code == ExitCode.INPUT and "no delivery 99" in error["error"] and error["remedy"]


def test_the_review_sheet_shows_every_dropped_page_labelled(site, tmp_path):
    out = tmp_path / "leerseiten.pdf"
    # The sheet a reviewer reads: in German, as a Jobcenter sees it.
    code, data = as_json(site["ws"], "--lang", "de", "blanks", "--site", "borken", "-o", str(out))
    assert code == ExitCode.OK and data["sheet"] == str(out), data
    n = data["count"]
    assert os.stat(out).st_mode & 0o077 == 0
    with pikepdf.open(out) as pdf:
        assert len(pdf.pages) == data["sheets"] == math.ceil(n / TILES_PER_SHEET)
        tiles = []
        for page in pdf.pages:
            xobjects = page.Resources.XObject
            for k in range(len(xobjects.keys())):
                tiles.append(pikepdf.PdfImage(xobjects[f"/Im{k}"]).as_pil_image())
    assert len(tiles) == n
    doc = pdfium.PdfDocument(str(out))
    text = "".join(p.get_textpage().get_text_range() for p in doc)
    doc.close()
    assert "Leerseiten zur Sichtprüfung — Borken" in text and f"{n} Seite(n)" in text
    assert f"Blatt 1/{data['sheets']}" in text
    for page in data["pages"]:
        assert page["file"] in text and f"S. {page['page']} · Lief. " in text
    notes = {(f["path"], p["index"]): p["note"] for f in site["truth"]["files"]
             for p in f["pages"]}  # fmt: skip
    for page, tile in zip(data["pages"], tiles, strict=True):
        marks = (np.asarray(tile) < 235).mean()
        # Bleed-through shows on its tile, a plain back side stays plain.
        if notes[(page["file"], page["index"])] == "bleed-through":
            assert marks > 0.03, page
        else:
            assert marks < 0.02, page
    # A tile is the page itself, downscaled.
    first_pdf = next(i for i, p in enumerate(data["pages"]) if p["file"].endswith(".pdf"))
    page, tile = data["pages"][first_pdf], tiles[first_pdf]
    source = _grey(site["delivery"] / page["file"], page["index"], tile.size)
    assert np.abs(np.asarray(tile, dtype=np.float32) - source).mean() < 4


def test_a_missing_or_changed_delivery_file_gets_a_placeholder_and_exit_1(site, tmp_path):
    files = sorted({(p["file"]) for p in as_json(site["ws"], "blanks", "--site", "borken")[1]
                    ["pages"] if p["file"].endswith(".pdf")})  # fmt: skip
    gone, changed = site["delivery"] / files[0], site["delivery"] / files[1]
    aside = tmp_path / "aside.pdf"
    shutil.move(gone, aside)
    original = changed.read_bytes()
    changed.write_bytes(original + b"\n")
    try:
        out = tmp_path / "sheet.pdf"
        code, data = as_json(
            site["ws"], "--lang", "de", "blanks", "--site", "borken", "-o", str(out)
        )
    finally:
        shutil.move(aside, gone)
        changed.write_bytes(original)
    assert code == ExitCode.PROBLEMS
    problems = {p["file"]: p["problem"] for p in data["pages"] if p["problem"]}
    assert problems == {files[0]: "missing", files[1]: "changed"}
    assert data["problems"] == sum(p["file"] in files[:2] for p in data["pages"])
    doc = pdfium.PdfDocument(str(out))
    text = "".join(p.get_textpage().get_text_range() for p in doc)
    doc.close()
    text = " ".join(text.split())  # placeholder texts are wrapped over lines
    assert "Datei nicht mehr in der Lieferung" in text and "SHA-256 weicht ab" in text
    with pikepdf.open(out) as pdf:
        images = sum(len(p.Resources.XObject.keys()) for p in pdf.pages)
    assert images == data["count"] - data["problems"]


# --- keep ---------------------------------------------------------------------------------


def _keepable(ws: Path) -> tuple[str, int, int, int]:
    """(file, page, document id, its pages) of a dropped page of a PDF with a document before
    it in its section; of those, one whose document has the fewest pages (a keep OCRs the
    whole document again, and every keep makes its document a page longer)."""
    rows = sql(
        ws,
        "SELECT f.relpath, p.page_index, (SELECT q.document_id FROM pages q WHERE "
        "q.file_id = p.file_id AND q.outcome = 'archived' AND q.page_index < p.page_index "
        "AND q.household = p.household AND q.volume = p.volume ORDER BY q.page_index DESC "
        "LIMIT 1) FROM pages p JOIN input_files f ON f.id = p.file_id "
        "WHERE p.outcome = 'blank' AND f.format IN ('pdf', 'household-pdf') "
        "AND p.household IS NOT NULL "
        "ORDER BY f.relpath, p.page_index",
    )
    sizes = dict(sql(ws, "SELECT id, pages FROM documents"))
    relpath, index, doc = min((r for r in rows if r[2] is not None), key=lambda r: sizes[r[2]])
    return relpath, index + 1, doc, sizes[doc]


def test_keep_puts_the_page_back_into_its_document(site):
    ws = site["ws"]
    code_before, before = verify(ws)
    relpath, page, doc, pages = _keepable(ws)
    (old_path, old_sha) = sql(ws, "SELECT path, sha256 FROM documents WHERE id = ?", doc)[0]
    code, data = as_json(
        ws, "blanks", "keep", "--site", "borken", "--file", relpath, "--page", str(page)
    )
    assert code == ExitCode.OK, data
    [kept] = data["kept"]
    assert kept["document"] == old_path and kept["page"] == page
    [document] = data["documents"]
    assert document["pages"] == pages + 1 and document["sha256_before"] == old_sha
    new_pages, new_sha = sql(ws, "SELECT pages, sha256 FROM documents WHERE id = ?", doc)[0]
    assert new_pages == pages + 1 and new_sha == document["sha256"] != old_sha
    # The archived document's page at that position is the kept page.
    archived = ws / "archive" / old_path
    size = (200, 283)
    shown = _grey(archived, kept["document_page"] - 1, size)
    source = _grey(site["delivery"] / relpath, page - 1, size)
    assert np.abs(shown - source).mean() < 2
    # Pages in order, numbered anew.
    rows = sql(ws, "SELECT page_index, document_page, outcome FROM pages WHERE document_id = ? "
               "ORDER BY page_index", doc)  # fmt: skip
    assert [r[1] for r in rows] == list(range(1, pages + 2)) and page - 1 in [r[0] for r in rows]
    assert sql(ws, "SELECT path, sha256, pages FROM superseded_documents WHERE document_id = ?",
               doc) == [(old_path, old_sha, pages)]  # fmt: skip
    assert sql(ws, "SELECT outcome, exit_code FROM runs WHERE command = 'blanks keep'") == [
        ("ok", 0)
    ]
    code_after, after = verify(ws)
    assert code_after == code_before and after["intact"] and after["accounting_errors"] == []
    assert after["pages"]["archived"] == before["pages"]["archived"] + 1
    assert after["pages"]["blank"] == before["pages"]["blank"] - 1
    assert after["pages"]["input"] == before["pages"]["input"]
    assert all(b["balanced"] for b in after["batches"])
    listed = as_json(ws, "blanks", "--site", "borken")[1]["pages"]
    assert (relpath, page) not in [(p["file"], p["page"]) for p in listed]
    # Again: nothing to do, and it says so.
    code, again = as_json(
        ws, "blanks", "keep", "--site", "borken", "--file", relpath, "--page", str(page)
    )
    assert code == ExitCode.OK and again["kept"] == [] and len(again["already_kept"]) == 1
    assert sql(ws, "SELECT sha256 FROM documents WHERE id = ?", doc) == [(new_sha,)]


@pytest.fixture(scope="module")
def second(site):
    """A second delivery: a blank before the first cover sheet (an orphan), then a cover
    sheet followed by one blank back side only (a section without a document)."""
    rng = random.Random(8)
    folder = site["root"] / "second"
    cover = render_cover_sheet(HOUSEHOLD, site="borken", dpi=DPI, rng=rng)
    blank = render_blank_page(rng, dpi=DPI)
    white = Image.new("L", blank.size, 255)  # blank beyond doubt, whatever the generator adds
    write_pdf([blank, cover, white], folder / "batch_800.pdf", DPI)
    assert esak(site["ws"], "ingest", "--site", "borken", str(folder)).exit_code in (0, 1)
    (delivery,) = sql(site["ws"], "SELECT id FROM deliveries WHERE path = ?", str(folder))[0]
    return str(delivery)


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--file", "box01/batch_001.pdf", "--page", "1"], ExitCode.USAGE, "not a dropped blank"),
        (["--file", "box09/nothing.pdf", "--page", "2"], ExitCode.USAGE, "no input file"),
        (["--file", "box01/batch_001.pdf", "--page", "999"], ExitCode.USAGE, "there is no page"),
        (["--file", "batch_800.pdf", "--page", "1"], ExitCode.PROBLEMS, "belongs to no household"),
    ],
    ids=["not-blank", "unknown-file", "unknown-page", "orphan"],
)
def test_keep_refuses_what_it_cannot_keep(site, second, args, code, words):
    result = esak(site["ws"], "blanks", "keep", "--site", "borken", *args, "--json")
    assert result.exit_code == code
    error = json.loads(result.stdout)
    assert words in error["error"] and error["remedy"] and error["exit_code"] == code
    assert words in result.stderr
    if code == ExitCode.PROBLEMS:
        assert "clarified" in error["remedy"]


def test_a_page_of_a_section_without_a_document_becomes_a_new_document(site, second):
    ws = site["ws"]
    code, data = as_json(
        ws, "blanks", "keep", "--site", "borken", "--file", "batch_800.pdf", "--page", "3",
        "--delivery", second,
    )  # fmt: skip
    assert code == ExitCode.OK, data
    [document] = data["documents"]
    assert document["new"] and document["pages"] == 1
    assert document["path"] == f"borken/{HOUSEHOLD}/band-01/0001.pdf"
    assert (ws / "archive" / document["path"]).is_file()
    code, report = verify(ws)
    assert report["intact"] and report["accounting_errors"] == []
    assert HOUSEHOLD in report["unexpected_households"]


# --- a kill in the middle -------------------------------------------------------------------


@pytest.mark.parametrize("point", ["keep-journal", "keep-swapped"])
def test_a_keep_killed_in_the_middle_leaves_verify_intact_and_a_rerun_completes_it(
    site, tmp_path, point
):
    # On a copy: both kill points keep the same page of the same workspace (the module's
    # own goes on without these keeps).
    ws = tmp_path / "ws"
    shutil.copytree(site["ws"], ws)
    code_before, before = verify(ws)
    relpath, page, doc, pages = _keepable(ws)
    (old_sha,) = sql(ws, "SELECT sha256 FROM documents WHERE id = ?", doc)[0]
    (tmp_path / "faults").mkdir()
    argv = [sys.executable, "-m", "esak", "--workspace", str(ws), "blanks", "keep", "--site",
            "borken", "--file", relpath, "--page", str(page), "--json"]  # fmt: skip
    faults = {"ESAK_FAULTS": f"kill:{point}", "ESAK_FAULTS_DIR": str(tmp_path / "faults")}
    env = {**os.environ, **faults}
    killed = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr
    code, report = verify(ws)
    assert code == code_before and report["intact"] and report["pages"] == before["pages"]
    assert sql(ws, "SELECT sha256 FROM documents WHERE id = ?", doc) == [(old_sha,)]
    assert not (ws / "keep.journal").exists() and not list((ws / "tmp").glob("keep-*"))
    rerun = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == ExitCode.OK, rerun.stderr
    assert json.loads(rerun.stdout)["documents"][0]["pages"] == pages + 1
    code, report = verify(ws)
    assert code == code_before and report["intact"] and report["accounting_errors"] == []
    assert report["pages"]["archived"] == before["pages"]["archived"] + 1
    # The killed run is in the audit log as one that never finished.
    runs = sql(ws, "SELECT finished_at FROM runs WHERE command = 'blanks keep' ORDER BY id")
    assert runs[-2] == (None,)


def test_blanks_needs_a_sheet_or_json(site):
    result = esak(site["ws"], "blanks", "--site", "borken")
    assert result.exit_code == ExitCode.USAGE and "-o FILE.pdf" in result.stderr

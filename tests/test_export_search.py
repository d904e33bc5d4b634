"""The handover: the BagIt export (validated by bagit-python itself), its check, incremental
exports and DMS mappings on generated rows; German full-text search on real OCR'd pages."""

from __future__ import annotations

import csv
import io
import json
import random
import re
import sqlite3
from pathlib import Path

import bagit
import pytest
from click.testing import CliRunner

from esak.cli import cli
from esak.errors import ExitCode
from esak.index.audit import record_existing
from esak.index.db import Index
from esak.index.texts import normalise, snippet, terms
from esak.synthetic import random_person, render_content_page, render_cover_sheet
from esak.synthetic.index import Shape, populate
from esak.workspace import Workspace
from tests.conftest import write_pdf

SMALL = Shape(households=3, documents_per_household=2, pages_per_document=1,
              blank_per_document=0, households_per_batch=3)  # fmt: skip


def esak(ws: Path, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(ws), *args], catch_exceptions=False)


def as_json(ws: Path, *args: str) -> tuple[int, dict]:
    result = esak(ws, *args, "--json")
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def ws(tmp_path) -> Path:
    workspace = Workspace(tmp_path / "ws").ensure()
    with Index.open(workspace.index_path) as index:
        populate(index, workspace.archive_dir, "borken", SMALL)
        with index.transaction() as db:
            record_existing(db)
    assert as_json(workspace.root, "transfer-note", "--site", "borken", "--by", "A. Admin")[0] == 0
    return workspace.root


def _rows(path: Path, encoding: str = "utf-8-sig", delimiter: str = ";") -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(encoding=encoding)), delimiter=delimiter))


def test_the_export_is_a_valid_bag_with_its_index(ws, tmp_path):
    out = tmp_path / "bag"
    code, result = as_json(ws, "export", "--site", "borken", "-o", str(out))
    assert code == ExitCode.OK, result
    assert result["documents"] == 6
    bag = bagit.Bag(str(out))
    bag.validate(fast=False)  # bagit-python's own full validation
    assert set(bag.algorithms) == {"sha256", "sha512"}
    info = bag.info
    assert info["esak-Site"] == "borken" and info["Payload-Oxum"]
    assert info["esak-Audit-Checkpoint"].startswith("size ")
    pdfs = sorted(p.relative_to(out / "data").as_posix() for p in (out / "data").rglob("*.pdf"))
    assert pdfs[0] == "95401BG0000001/band-01/0001.pdf" and len(pdfs) == 6
    assert len(list((out / "data").rglob("*.tv.xml"))) == 6
    rows = _rows(out / "index.csv")
    assert rows[0] == ["household", "volume", "document", "type", "pages", "received_at",
                       "sha256", "transfer_note", "path"]  # fmt: skip
    assert len(rows) == 7 and all((out / r[8]).is_file() for r in rows[1:])
    listed = json.loads((out / "index.json").read_text(encoding="utf-8"))["documents"]
    assert [d["sha256"] for d in listed] == [r[6] for r in rows[1:]]
    # Owner-only, recorded in the index and the audit log.
    assert all(p.stat().st_mode & 0o077 == 0 for p in out.rglob("*"))
    db = sqlite3.connect(ws / "index.sqlite")
    assert db.execute("SELECT documents FROM exports").fetchall() == [(6,)]
    made = db.execute("SELECT COUNT(*) FROM audit_log WHERE kind = 'export_made'").fetchone()
    assert made == (1,)
    assert as_json(ws, "audit", "verify")[0] == ExitCode.OK
    code, check = as_json(ws, "export", "verify", str(out))
    assert code == ExitCode.OK and check["valid"] and check["documents"] == 6


@pytest.mark.parametrize("damage", ["pdf_byte", "note_removed", "index_edited", "extra_file"])
def test_a_changed_bag_fails_export_verify(ws, tmp_path, damage):
    out = tmp_path / "bag"
    as_json(ws, "export", "--site", "borken", "-o", str(out))
    pdf = next((out / "data").rglob("*.pdf"))
    if damage == "pdf_byte":
        data = bytearray(pdf.read_bytes())
        data[-3] ^= 1
        pdf.write_bytes(bytes(data))
    elif damage == "note_removed":
        next((out / "data").rglob("*.tv.xml")).unlink()
    elif damage == "index_edited":
        (out / "index.csv").write_text("household\n", encoding="utf-8")
    else:
        (out / "data" / "extra.pdf").write_bytes(b"%PDF-1.7\n")
    code, check = as_json(ws, "export", "verify", str(out))
    assert code == ExitCode.INTEGRITY and check["problems"], check


def test_an_incremental_export_holds_only_the_new_documents(ws, tmp_path):
    with Index.open(ws / "index.sqlite") as index, index.transaction() as db:
        db.execute("UPDATE documents SET created_at = '2021-02-01T08:00:00+00:00'")
        db.execute("UPDATE documents SET created_at = '2021-03-05T08:00:00+00:00' "
                   "WHERE household = '95401BG0000002'")  # fmt: skip
    code, result = as_json(ws, "export", "--site", "borken", "--since", "2021-03-01",
                           "-o", str(tmp_path / "bag"))  # fmt: skip
    assert code == ExitCode.OK and result["documents"] == 2 and result["since"] == "2021-03-01"
    rows = _rows(tmp_path / "bag" / "index.csv")
    assert {r[0] for r in rows[1:]} == {"95401BG0000002"}
    code, error = as_json(ws, "export", "--site", "borken", "--since", "2021-04-01",
                          "-o", str(tmp_path / "later"))  # fmt: skip
    assert code == ExitCode.PROBLEMS and not (tmp_path / "later").exists()
    code, error = as_json(ws, "export", "--site", "borken", "-o", str(tmp_path / "bag"))
    assert code == ExitCode.USAGE and "exists already" in error["error"]


def test_a_dms_mapping_renames_columns_and_writes_a_metadata_file_per_document(ws, tmp_path):
    mapping = tmp_path / "d3.toml"
    mapping.write_text(
        'name = "d3"\nmetadata_files = true\n[csv]\ndelimiter = "|"\nencoding = "cp1252"\n'
        'date_format = "%d.%m.%Y"\n[columns]\nhousehold = "BG-Nummer"\ntype = "Dokumentart"\n'
        'sha256 = "Prüfsumme"\npath = "Datei"\n', encoding="utf-8")  # fmt: skip
    out = tmp_path / "bag"
    code, result = as_json(ws, "export", "--site", "borken", "--mapping", str(mapping),
                           "-o", str(out))  # fmt: skip
    assert code == ExitCode.OK, result
    rows = _rows(out / "index.csv", encoding="cp1252", delimiter="|")
    assert rows[0] == ["BG-Nummer", "Dokumentart", "Prüfsumme", "Datei"]
    meta = sorted((out / "data").rglob("*.meta.txt"))
    assert len(meta) == 6
    assert meta[0].read_text(encoding="utf-8").startswith("BG-Nummer=95401BG0000001\n")
    bagit.Bag(str(out)).validate(fast=False)
    bad = tmp_path / "bad.toml"
    bad.write_text('[columns]\nname = "Name"\n', encoding="utf-8")
    code, error = as_json(ws, "export", "--site", "borken", "--mapping", str(bad),
                          "-o", str(tmp_path / "x"))  # fmt: skip
    assert code == ExitCode.CONFIG and "unknown field" in error["error"]


def test_an_archived_file_that_differs_from_the_index_is_not_exported(ws, tmp_path):
    pdf = next((ws / "archive").rglob("*.pdf"))
    pdf.write_bytes(pdf.read_bytes() + b"x")
    code, error = as_json(ws, "export", "--site", "borken", "-o", str(tmp_path / "bag"))
    assert code == ExitCode.INPUT and "differs" in error["error"]
    assert not (tmp_path / "bag").exists() and not list(tmp_path.glob(".bag*"))


# --- search ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("written", "typed"), [
    ("Straße", "strasse"), ("Müller", "Mueller"), ("Müller", "müller"), ("GRÖSSE", "größe"),
    ("Bewilligungsbescheid", "BESCHEID"), ("Café", "cafe"),
])  # fmt: skip
def test_german_normalisation(written, typed):
    assert all(t in normalise(written) for t in terms(typed))


def test_a_snippet_is_cut_from_the_original_text():
    text = "Sehr geehrte Frau Beispiel,\nmit diesem Bescheid über die Bewilligung von Leistungen"
    cut = snippet(text, terms("ueber"), width=12)
    assert "über" in cut and cut.startswith("…") and "\n" not in cut


DPI = 200
A, B = "95401BG0000601", "95401BG0000602"


@pytest.fixture(scope="module")
def ocr_ws(tmp_path_factory) -> Path:
    """Two households of real OCR'd pages: a Bewilligungsbescheid and a Mietbescheinigung."""
    root = tmp_path_factory.mktemp("search")
    rng = random.Random(21)
    pages = []
    for household, kind in ((A, "bewilligungsbescheid"), (B, "mietbescheinigung")):
        person = random_person(rng)
        pages.append(render_cover_sheet(household, site="borken", dpi=DPI, rng=rng))
        pages.append(render_content_page(rng, kind, dpi=DPI, person=person, household=household))
    write_pdf(pages, root / "delivery" / "batch_001.pdf", DPI)
    ws = root / "ws"
    result = esak(ws, "ingest", "--site", "borken", str(root / "delivery"), "--workers", "1")
    assert result.exit_code in (0, 1), result.output
    return ws


def _texts(ws: Path) -> dict[str, str]:
    db = sqlite3.connect(ws / "index.sqlite")
    return dict(db.execute("SELECT household, text FROM page_text").fetchall())


def _search(ws: Path, *words: str) -> tuple[int, list[dict]]:
    code, result = as_json(ws, "search", "--site", "borken", *words)
    return code, result.get("hits", [])


def test_ingest_indexes_the_text_and_search_ranks_the_right_document_first(ocr_ws):
    texts = _texts(ocr_ws)
    assert set(texts) == {A, B} and "Bewilligung" in texts[A]
    code, hits = _search(ocr_ws, "bewilligung")
    assert code == ExitCode.OK and hits[0]["household"] == A and hits[0]["page"] == 1
    assert "Bewilligung" in hits[0]["snippet"]
    code, hits = _search(ocr_ws, "BEWILLIGUNG", "leistungen")  # every word, any case
    assert hits and hits[0]["household"] == A
    assert _search(ocr_ws, "Bewilligung", "--household", B)[1] == []
    assert _search(ocr_ws, "Gartenzwergparade")[0] == ExitCode.PROBLEMS


def test_compounds_and_umlauts_are_found_in_real_ocr_text(ocr_ws):
    texts = _texts(ocr_ws)
    # Words OCR read with an umlaut or ß: found typed without them, and with them.
    words = sorted({w for w in re.findall(r"\w+", texts[A]) if re.search("[äöüß]", w)},
                   key=len, reverse=True)  # fmt: skip
    assert words, texts[A][:200]
    for word in words[:3]:
        plain = word.lower().replace("ß", "ss").replace("ä", "ae").replace("ö", "oe")
        plain = plain.replace("ü", "ue")
        for typed in (plain, word.upper(), word):
            assert A in {h["household"] for h in _search(ocr_ws, typed)[1]}, (word, typed)
    # A compound found by its last part.
    compound = max(re.findall(r"[A-Za-zäöüß]{14,}", texts[A]), key=len)
    tail = compound[-7:]
    assert A in {h["household"] for h in _search(ocr_ws, tail)[1]}, compound


def test_every_search_is_recorded_and_reindex_gives_the_same_hits(ocr_ws):
    before = _search(ocr_ws, "bewilligung")[1]
    db = sqlite3.connect(ocr_ws / "index.sqlite")
    runs = db.execute("SELECT options FROM runs WHERE command = 'search'").fetchall()
    assert any(json.loads(o)["query"] == "bewilligung" for (o,) in runs)
    with db:
        db.execute("DELETE FROM page_text")
    assert _search(ocr_ws, "bewilligung")[1] == []
    code, done = as_json(ocr_ws, "search", "reindex", "--site", "borken")
    assert code == ExitCode.OK and done["documents"] == 2 and done["index"]["pages"] == 2
    after = _search(ocr_ws, "bewilligung")[1]
    assert [h["household"] for h in after] == [h["household"] for h in before]

"""Ingest end to end: a generated delivery, real OCR, real PDF/A, checked against the truth."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pikepdf
import pytest
from click.testing import CliRunner

from esak.cli import cli
from esak.errors import ExitCode
from tests.conftest import snapshot

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ingested(e2e_ingest):
    return e2e_ingest


def test_exit_code_says_problems_were_found(ingested):
    _, report, result, *_ = ingested
    assert result.exit_code == ExitCode.PROBLEMS
    assert report["ok"] is False


def test_every_page_is_accounted_for_as_the_truth_says(ingested):
    truth, report, *_ = ingested
    pages = [p for f in truth["files"] for p in f["pages"]]
    kinds = Counter(p["kind"] for p in pages)
    orphans = sum(1 for p in pages if p["orphan"])
    got = report["pages"]
    assert got["input"] == len(pages)
    assert got["cover"] == kinds["cover"]
    assert got["separator"] == kinds["separator"]
    assert got["blank"] == kinds["blank"]
    assert got["archived"] == kinds["content"] - orphans
    assert got["quarantined"] == orphans


def test_households_and_set_aside_files(ingested):
    truth, report, *_ = ingested
    assert report["households"] == sorted(truth["delivered_households"])
    bad = [f["path"] for f in truth["files"] if f["format"] == "bad"]
    assert [f["file"] for f in report["quarantined_files"]] == bad
    assert all(f["reason"] for f in report["quarantined_files"])
    orphan = report["quarantined_pages"][0]
    assert "before the first cover sheet" in orphan["reason"]
    assert {"file": "box03/batch_404.pdf", "problem": "listed in manifest, not delivered"} in (
        report["delivery_problems"]
    )


def test_documents_are_pdfa_with_text_and_split_at_separators(ingested):
    truth, report, _, ws, *_ = ingested
    household = truth["files"][1]["pages"][0]["household"] or report["households"][0]
    shown = CliRunner().invoke(cli, ["--workspace", str(ws), "show", household, "--json"])
    docs = json.loads(shown.stdout)["documents"]
    assert docs
    # Documents per section = content runs between separators, as the truth numbers them.
    expected_docs = {
        (p["volume"], p["document"])
        for f in truth["files"]
        for p in f["pages"]
        if p["household"] == household and p["kind"] == "content" and not p["orphan"]
    }
    assert len(docs) == len(expected_docs)
    for doc in docs:
        path = Path(doc["path"])
        assert path.is_relative_to(ws / "archive")
        assert path.stat().st_mode & 0o077 == 0
        with pikepdf.open(path) as pdf:
            assert pdf.open_metadata().pdfa_status == "2B"
            assert len(pdf.pages) == doc["pages"]
        assert doc["sha256"] and len(doc["sha256"]) == 64


def test_text_layer_is_german_ocr(ingested):
    import pypdfium2 as pdfium

    ws = ingested[3]
    any_doc = next((ws / "archive").rglob("*.pdf"))
    text = pdfium.PdfDocument(str(any_doc))[0].get_textpage().get_text_range()
    assert "BG-Nummer" in text or "Jobcenter" in text, text[:300]


def test_delivery_untouched_and_nothing_outside_the_workspace(ingested):
    *_, delivery, before, root = ingested
    assert snapshot(delivery) == before
    assert sorted(p.name for p in root.iterdir()) == ["sample", "ws"]


def test_second_run_changes_nothing(ingested):
    _, first, _, ws, delivery, *_ = ingested
    archive_before = snapshot(ws / "archive")
    result = CliRunner().invoke(
        cli, ["--workspace", str(ws), "ingest", "--site", "borken", str(delivery), "--json"]
    )
    again = json.loads(result.stdout)
    assert again["documents_written"] == 0
    assert again["pages"] == first["pages"]
    assert any("nothing to do" in n for n in again["notes"])
    assert snapshot(ws / "archive") == archive_before
    assert os.listdir(ws / "tmp") == []

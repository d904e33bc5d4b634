"""The QA sample (esak qa) on indexes of generated rows: the draw and its determinism, the
flags, the four-eyes rule, defects and their escalation, status, results from a CSV file."""

from __future__ import annotations

import io
import json
import math
import shutil
from pathlib import Path

import pikepdf
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from esak.cli import cli
from esak.errors import ExitCode
from esak.index.db import Index
from esak.profiles import profiles_dir
from esak.synthetic.index import Shape, populate
from esak.verify import qa
from esak.workspace import Workspace

SMALL = Shape(households=6, documents_per_household=2, pages_per_document=3,
              blank_per_document=1, households_per_batch=2)  # fmt: skip
INGESTER = "ingest-user"


def esak(ws: Path, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(ws), *args], catch_exceptions=False)


def as_json(ws: Path, *args: str) -> tuple[int, dict]:
    result = esak(ws, *args, "--json")
    return result.exit_code, json.loads(result.stdout)


def _make(root: Path, shape: Shape = SMALL) -> Path:
    workspace = Workspace(root).ensure()
    with Index.open(workspace.index_path) as index, index.transaction() as db:
        populate(index, workspace.archive_dir, "borken", shape)
        run_id = db["runs"].insert({"command": "ingest", "site": "borken",
                                    "options": json.dumps({"by": "A. Scanner"}),
                                    "os_user": INGESTER, "esak_version": "test",
                                    "started_at": "2021-02-01T08:00:00+00:00"}).last_pk  # fmt: skip
        db.execute("UPDATE input_files SET run_id = ?", [run_id])
    return workspace.root


@pytest.fixture
def ws(tmp_path) -> Path:
    return _make(tmp_path / "ws")


def _draw(ws: Path, *args: str) -> dict:
    code, sample = as_json(ws, "qa", "draw", "--site", "borken", *args)
    assert code == ExitCode.OK, sample
    return sample


def _counts(ws: Path) -> tuple[int, int, int]:
    with Index.open(ws / "index.sqlite") as index:
        files = index.db.execute("SELECT COUNT(*) FROM input_files").fetchone()[0]
        docs = index.db.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        pages = index.db.execute("SELECT COUNT(*) FROM pages WHERE outcome = 'archived'")
        return files, docs, pages.fetchone()[0]


def test_the_same_seed_draws_the_same_sample(ws):
    first = _draw(ws, "--seed", "42")
    again = _draw(ws, "--delivery", "1", "--seed", "42")
    assert first["seed"] == again["seed"] == 42 and first["sample"] != again["sample"]
    keys = [(i["file"], i["index"], i["reason"]) for i in first["items"]]
    assert keys == [(i["file"], i["index"], i["reason"]) for i in again["items"]]
    other = _draw(ws, "--delivery", "1", "--seed", "43", "--rate", "0.5")
    assert len(other["items"]) > len(first["items"])


def test_without_a_seed_one_is_drawn_stored_and_printed(ws):
    sample = _draw(ws)
    assert isinstance(sample["seed"], int)
    assert str(sample["seed"]) in esak(ws, "qa", "draw", "--site", "borken", "--delivery", "1",
                                       "--seed", str(sample["seed"])).stderr  # fmt: skip
    for item in sample["items"]:
        assert set(item) >= {"item", "household", "document", "page", "reason"}
        assert item["reason"] in ("random", "flagged") and item["page"] >= 1


def test_a_delivery_sampled_already_is_not_drawn_again_by_default(ws):
    _draw(ws)
    code, error = as_json(ws, "qa", "draw", "--site", "borken")
    assert code == ExitCode.PROBLEMS and "nothing to sample" in error["error"]


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    households=st.integers(1, 8),
    docs=st.integers(1, 3),
    per_batch=st.integers(1, 4),
    rate=st.sampled_from([0.03, 0.1, 0.25, 0.5]),
    seed=st.integers(0, 2**31 - 1),
)
def test_every_file_gets_an_item_and_the_size_follows_the_rate(
    tmp_path_factory, households, docs, per_batch, rate, seed
):
    shape = Shape(households=households, documents_per_household=docs, pages_per_document=2,
                  blank_per_document=0, households_per_batch=per_batch)  # fmt: skip
    ws = _make(tmp_path_factory.mktemp("h") / "ws", shape)
    files, documents, pages = _counts(ws)
    sample = _draw(ws, "--rate", str(rate), "--seed", str(seed))
    assert {i["file"] for i in sample["items"]} == {f"box/{h}.pdf" for h in _firsts(ws)}
    assert all(i["reason"] == "random" for i in sample["items"])  # nothing flagged here
    assert len(sample["items"]) == min(pages, max(files, math.ceil(rate * documents)))
    assert len({(i["file"], i["index"]) for i in sample["items"]}) == len(sample["items"])


def _firsts(ws: Path) -> list[str]:
    with Index.open(ws / "index.sqlite") as index:
        return [r[0].removeprefix("box/").removesuffix(".pdf")
                for r in index.db.execute("SELECT relpath FROM input_files")]  # fmt: skip


def test_every_flag_lands_in_the_sample(ws):
    with Index.open(ws / "index.sqlite") as index, index.transaction() as db:
        content = db.execute(
            "SELECT id, file_id, page_index FROM pages WHERE outcome = 'archived' ORDER BY id"
        ).fetchall()
        db.execute("UPDATE pages SET reason = 'assigned after clarification (case 3)' "
                   "WHERE id = ?", [content[0][0]])  # fmt: skip
        db.execute("UPDATE pages SET reason = 'blank page kept after review' WHERE id = ?",
                   [content[1][0]])  # fmt: skip
        db.execute("UPDATE pages SET rotation = 270 WHERE id = ?", [content[2][0]])
        section = db.execute(
            "SELECT id, file_id, household FROM sections ORDER BY id DESC LIMIT 1"
        ).fetchone()
        db.execute("UPDATE sections SET declared_pages = found_pages + 2 WHERE id = ?",
                   [section[0]])  # fmt: skip
        mismatched = {
            (f, i) for f, i in db.execute(
                "SELECT file_id, page_index FROM pages WHERE outcome = 'archived' "
                "AND file_id = ? AND household = ?", [section[1], section[2]])
        }  # fmt: skip
        # A document of another file, none of whose pages carries another flag.
        taken = [c[0] for c in content[:3]]
        ocrmypdf_doc = db.execute(
            "SELECT document_id FROM pages WHERE outcome = 'archived' AND file_id != ? "
            "GROUP BY document_id HAVING SUM(id IN (?, ?, ?)) = 0 ORDER BY document_id LIMIT 1",
            [section[1], *taken]).fetchone()[0]  # fmt: skip
        db.execute("UPDATE documents SET engine = 'ocrmypdf' WHERE id = ?", [ocrmypdf_doc])
        first_of_doc = db.execute(
            "SELECT page_index FROM pages WHERE document_id = ? ORDER BY page_index LIMIT 1",
            [ocrmypdf_doc]).fetchone()[0]  # fmt: skip
    sample = _draw(ws, "--seed", "1")
    flagged = {(i["index"], i["why"]) for i in sample["items"] if i["reason"] == "flagged"}
    assert (content[0][2], "assigned after clarification") in flagged
    assert (content[1][2], "blank page kept after review") in flagged
    assert (content[2][2], "turned by 270° to be upright") in flagged
    by_ocrmypdf = [i for i in sample["items"] if "OCRmyPDF" in (i["why"] or "")]
    assert [i["index"] for i in by_ocrmypdf] == [first_of_doc]  # one page of the document
    declared = {i["index"] for i in sample["items"] if "declares" in (i["why"] or "")}
    assert declared == {i for _f, i in mismatched} and len(declared) == 6
    random_items = [i for i in sample["items"] if i["reason"] == "random"]
    assert len(random_items) == 3  # one per file: 3 % of 12 documents is less
    assert not {(i["index"], i["file"]) for i in random_items} & {
        (i["index"], i["file"]) for i in sample["items"] if i["reason"] == "flagged"
    }


def _item(sample: dict) -> str:
    return str(sample["items"][0]["item"])


@pytest.mark.parametrize("reviewer", [INGESTER, "A. Scanner", " ingest-USER "])
def test_the_person_who_ran_the_ingest_may_not_check(ws, reviewer):
    sample = _draw(ws, "--seed", "3")
    code, error = as_json(ws, "qa", "record", "--sample", str(sample["sample"]), "--item",
                          _item(sample), "--result", "ok", "--reviewer", reviewer)  # fmt: skip
    assert code == ExitCode.USAGE and "four-eyes" in error["error"]
    code, done = as_json(ws, "qa", "record", "--sample", str(sample["sample"]), "--item",
                         _item(sample), "--result", "ok", "--reviewer", reviewer,
                         "--allow-same-person")  # fmt: skip
    assert code == ExitCode.OK and done["checked"] == 1


def test_allow_same_person_is_refused_at_very_high_protection(ws, tmp_path, monkeypatch):
    folder = tmp_path / "profiles"
    shutil.copytree(profiles_dir(), folder)
    text = (folder / "borken.toml").read_text(encoding="utf-8")
    (folder / "borken.toml").write_text(text + 'protection = "very-high"\n', encoding="utf-8")
    monkeypatch.setenv("ESAK_PROFILES", str(folder))
    sample = _draw(ws, "--seed", "3")
    assert len(sample["items"]) == _counts(ws)[2]  # very-high: every page
    code, error = as_json(ws, "qa", "record", "--sample", str(sample["sample"]), "--item",
                          _item(sample), "--result", "ok", "--reviewer", INGESTER,
                          "--allow-same-person")  # fmt: skip
    assert code == ExitCode.USAGE and "very-high" in error["error"]
    code, _ = as_json(ws, "qa", "record", "--sample", str(sample["sample"]), "--item",
                      _item(sample), "--result", "ok", "--reviewer", "B. Prüfer")  # fmt: skip
    assert code == ExitCode.OK


def test_a_defect_opens_a_case_checks_the_whole_file_and_doubles_the_next_draws(tmp_path):
    ws = _make(tmp_path / "ws", Shape(households=40, documents_per_household=2,
                                      pages_per_document=3, blank_per_document=0,
                                      households_per_batch=20))  # fmt: skip
    sample = _draw(ws, "--delivery", "1", "--seed", "5")
    assert len(sample["items"]) == 3  # ceil(3 % of 80 documents)
    item = sample["items"][0]
    code, done = as_json(ws, "qa", "record", "--sample", str(sample["sample"]), "--item",
                         str(item["item"]), "--result", "defect", "--note", "Seite abgeschnitten",
                         "--reviewer", "B. Prüfer")  # fmt: skip
    assert code == ExitCode.OK and done["status"] == "failed" and len(done["cases"]) == 1
    _, cases = as_json(ws, "clarify", "list", "--site", "borken")  # a sync never closes it
    (case,) = [c for c in cases["cases"] if c["kind"] == "qa_defect"]
    assert case["detail"] == "Seite abgeschnitten" and case["household"] == item["household"]
    assert (case["file"], case["first_page"]) == (item["file"], item["index"] + 1)
    with Index.open(ws / "index.sqlite") as index:
        in_file = index.db.execute(
            "SELECT COUNT(*) FROM pages p JOIN input_files f ON f.id = p.file_id "
            "WHERE f.relpath = ? AND p.outcome = 'archived'", [item["file"]]
        ).fetchone()[0]  # fmt: skip
        events = index.db.execute("SELECT COUNT(*) FROM audit_log WHERE kind = 'qa_result'")
        assert events.fetchone()[0] == 1
    code, status = as_json(ws, "qa", "status", "--site", "borken")
    (row,) = status["samples"]
    assert row["total"] == in_file + 2 and row["defects"] == 1 and row["status"] == "failed"
    doubled = [_draw(ws, "--delivery", "1", "--seed", "5") for _ in range(3)]
    assert [d["rate"] for d in doubled] == [0.06, 0.06, 0.03]
    assert [len(d["items"]) for d in doubled] == [5, 5, 3]


def test_status_follows_the_contract(ws):
    code, empty = as_json(ws, "qa", "status", "--site", "borken")
    assert code == ExitCode.OK and empty == {"samples": []}
    sample = _draw(ws, "--seed", "9")
    _, status = as_json(ws, "qa", "status", "--site", "borken")
    (row,) = status["samples"]
    assert {k: row[k] for k in ("sample", "delivery", "status", "total", "checked", "defects")} \
        == {"sample": sample["sample"], "delivery": 1, "status": "open",
            "total": len(sample["items"]), "checked": 0, "defects": 0}  # fmt: skip
    for item in sample["items"]:
        as_json(ws, "qa", "record", "--sample", str(sample["sample"]), "--item",
                str(item["item"]), "--result", "ok", "--reviewer", "B. Prüfer")  # fmt: skip
    _, status = as_json(ws, "qa", "status", "--site", "borken")
    assert status["samples"][0]["status"] == "passed"


def test_results_from_a_csv_file_all_or_nothing(ws, tmp_path):
    sample = _draw(ws, "--seed", "11")
    ids = [i["item"] for i in sample["items"]]
    bad = tmp_path / "bad.csv"
    bad.write_text(f"item;result;note\n{ids[0]};ok;\n{ids[1]};kaputt;\n", encoding="utf-8")
    code, error = as_json(ws, "qa", "record", "--sample", str(sample["sample"]), "--from",
                          str(bad), "--reviewer", "B. Prüfer")  # fmt: skip
    assert code == ExitCode.INPUT and "line 3" in error["error"]
    _, status = as_json(ws, "qa", "status", "--site", "borken")
    assert status["samples"][0]["checked"] == 0  # nothing recorded
    good = tmp_path / "good.csv"
    good.write_text("item;result;note\n" + "".join(f"{i};ok;\n" for i in ids), encoding="utf-8")
    code, done = as_json(ws, "qa", "record", "--sample", str(sample["sample"]), "--from",
                         str(good), "--reviewer", "B. Prüfer")  # fmt: skip
    assert code == ExitCode.OK and done["status"] == "passed"
    code, error = as_json(ws, "qa", "record", "--sample", str(sample["sample"]), "--from",
                          str(good), "--reviewer", "B. Prüfer")  # fmt: skip
    assert code == ExitCode.USAGE and "already checked" in error["error"]


def test_the_sheet_shows_each_page_image_beside_its_facts(ws, tmp_path):
    sample = _draw(ws, "--seed", "2")
    real = sample["items"][0]
    pdf = pikepdf.new()
    for _ in range(3):
        pdf.add_blank_page(page_size=(595, 842))
    pdf.save(ws / "archive" / real["document"])
    out = tmp_path / "sheet.html"
    result = esak(ws, "qa", "sheet", "--sample", str(sample["sample"]), "-o", str(out))
    assert result.exit_code == ExitCode.OK, result.output
    page = out.read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") >= 1  # the real PDF; stand-ins have none
    assert "page image not available" in page
    assert real["household"] in page and real["document"] in page
    assert page.count('type="checkbox"') == 4 * len(sample["items"])
    assert "http" not in page.replace('charset="utf-8"', "")


def test_the_pdf_sheet_has_a_page_per_item_with_the_archived_scan_itself(ws, tmp_path):
    import img2pdf
    import pypdfium2 as pdfium
    from PIL import Image

    sample = _draw(ws, "--seed", "2")
    real = sample["items"][0]
    scan = Image.new("L", (413, 585), 255)
    scan.paste(0, (40, 40, 200, 120))  # something to find again
    buffer = io.BytesIO()
    scan.save(buffer, "PNG")
    pages = max(real["page"], 1)
    (ws / "archive" / real["document"]).write_bytes(
        img2pdf.convert([buffer.getvalue()] * pages, layout_fun=img2pdf.get_fixed_dpi_layout_fun(
            (50, 50))))  # fmt: skip
    out = tmp_path / "sheet.pdf"
    result = esak(ws, "qa", "sheet", "--sample", str(sample["sample"]), "-o", str(out))
    assert result.exit_code == ExitCode.OK, result.output
    assert out.stat().st_mode & 0o077 == 0
    with pikepdf.open(out) as sheet:
        assert len(sheet.pages) == len(sample["items"])
        placed = sheet.pages[0].get_images()
        assert len(placed) == 1
        image = pikepdf.PdfImage(next(iter(placed.values()))).as_pil_image()
        assert image.size == (413, 585) and image.getpixel((100, 80)) == 0  # the scan's pixels
        assert not sheet.pages[1].get_images()  # a stand-in archive file: no image
    text = pdfium.PdfDocument(str(out))
    first = text[0].get_textpage().get_text_range()
    assert real["household"] in first and "upright" in first and "page in the document" in first
    assert "page image not available" in text[1].get_textpage().get_text_range()


def test_choose_is_a_pure_function_of_pages_flags_rate_and_seed():
    pages = [{"page_id": n, "file_id": n // 10, "page_index": n % 10, "document_id": n // 2}
             for n in range(40)]  # fmt: skip
    flagged = {7: "blank page kept after review"}
    first = qa.choose(pages, flagged, 0.2, 99)
    assert first == qa.choose(pages, flagged, 0.2, 99)
    assert [i["page_id"] for i in first if i["kind"] == "flagged"] == [7]
    assert sum(i["kind"] == "random" for i in first) == max(4, math.ceil(0.2 * 20))
    assert len(qa.choose(pages, flagged, 1.0, 99)) == 40  # every page

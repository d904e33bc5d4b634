"""Transfer notes (Transfervermerke) on an index of generated rows: one valid note per
archived document, the person named, the PDF's sha256, a stable UUID, show, fixity, anomalies."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from esak.cli import cli
from esak.errors import ExitCode
from esak.index.db import Index
from esak.profiles import profiles_dir
from esak.synthetic.index import Shape, populate
from esak.verify.transfer import NAMESPACE, schema
from esak.workspace import Workspace

SMALL = Shape(
    households=2,
    documents_per_household=2,
    pages_per_document=2,
    blank_per_document=1,
    households_per_batch=2,
)
NS = {"tv": NAMESPACE}


def esak(ws: Path, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(ws), *args], catch_exceptions=False)


def as_json(ws: Path, *args: str) -> tuple[int, dict]:
    result = esak(ws, *args, "--json")
    return result.exit_code, json.loads(result.stdout)


def note(ws: Path, by: str = "A. Admin", *args: str) -> tuple[int, dict]:
    return as_json(ws, "transfer-note", "--site", "borken", "--by", by, *args)


@pytest.fixture
def ws(tmp_path) -> Path:
    workspace = Workspace(tmp_path / "ws").ensure()
    with Index.open(workspace.index_path) as index:
        populate(index, workspace.archive_dir, "borken", SMALL)
    return workspace.root


def documents(ws: Path) -> list[dict]:
    with Index.open(ws / "index.sqlite") as index:
        return list(index.db.query("SELECT * FROM documents ORDER BY path"))


def parse(path: str | Path) -> etree._Element:
    return etree.parse(str(path)).getroot()


def test_every_document_gets_a_note_that_validates_names_the_person_and_the_pdf(ws):
    code, result = note(ws)
    assert code == ExitCode.OK and result["skipped"] == []
    docs = documents(ws)
    assert result["written"] == len(docs) == 4
    for doc, written in zip(docs, result["notes"], strict=True):
        path = Path(written["note"])
        assert path == ws / "archive" / doc["path"].replace(".pdf", ".tv.xml")
        root = parse(path)
        assert schema().validate(root)
        assert root.get("status") == "vorlaeufig"
        assert root.findtext("tv:Verantwortlich/tv:Name", namespaces=NS) == "A. Admin"
        assert root.find("tv:Dokument/tv:Datei", NS).get("sha256") == doc["sha256"]
        assert root.find("tv:Dokument", NS).get("uuid") == written["uuid"]
        assert "Bild und Inhalt" in root.findtext("tv:Erklaerung", namespaces=NS)
        qa = root.find("tv:Pruefung/tv:Qualitaetssicherung", NS)
        assert qa.get("status") == "nicht_vorhanden"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600  # owner-only by default


@pytest.mark.parametrize("by", ["", "   ", "Jobcenter im Kreis Borken", "jobcenter"])
def test_an_empty_name_or_only_the_organisation_is_refused(ws, by):
    code, result = note(ws, by)
    assert code == ExitCode.USAGE and "--by" in result["error"]
    assert not list((ws / "archive").rglob("*.tv.xml"))


def test_writing_again_keeps_the_uuid_and_updates_the_note(ws):
    _, first = note(ws)
    _, again = note(ws, "B. Leitung")
    assert [n["uuid"] for n in again["notes"]] == [n["uuid"] for n in first["notes"]]
    assert not any(n["created"] for n in again["notes"])
    root = parse(again["notes"][0]["note"])
    assert root.findtext("tv:Verantwortlich/tv:Name", namespaces=NS) == "B. Leitung"
    with Index.open(ws / "index.sqlite") as index:
        rows = list(index.db.query("SELECT * FROM transfer_notes ORDER BY document_id"))
        (events,) = index.db.execute(
            "SELECT COUNT(*) FROM audit_log WHERE kind = 'transfer_note'"
        ).fetchone()
    assert len(rows) == 4 and {r["by_name"] for r in rows} == {"B. Leitung"}
    assert [r["sha256"] for r in rows] == [n["sha256"] for n in again["notes"]]
    assert events == 8


def test_one_household_only(ws):
    household = documents(ws)[0]["household"]
    code, result = note(ws, "A. Admin", "--household", household)
    assert code == ExitCode.OK and result["written"] == 2
    assert all(household in n["note"] for n in result["notes"])
    assert note(ws, "A. Admin", "--household", "../x")[0] == ExitCode.USAGE


def test_show_json_lists_the_note(ws):
    household = documents(ws)[0]["household"]
    _, shown = as_json(ws, "show", household)
    assert [d["transfer_note"] for d in shown["documents"]] == [None, None]
    _, result = note(ws)
    _, shown = as_json(ws, "show", household)
    first = shown["documents"][0]["transfer_note"]
    assert first == {
        "path": result["notes"][0]["note"],
        "sha256": result["notes"][0]["sha256"],
        "status": "vorlaeufig",
    }


def test_fixity_knows_notes_and_finds_one_edited_or_deleted(ws):
    _, result = note(ws)
    _, report = as_json(ws, "verify", "--site", "borken")
    fixity = report["fixity"]
    assert fixity["untracked"] == [] and fixity["missing"] == [] and fixity["changed"] == []
    assert fixity["notes_checked"] == 4
    edited, deleted = (Path(n["note"]) for n in result["notes"][:2])
    rel = lambda p: str(p.relative_to(ws / "archive"))  # noqa: E731
    text = edited.read_bytes()
    edited.write_bytes(text.replace(b"A. Admin", b"X. Admin"))  # same size: only a hash sees it
    _, report = as_json(ws, "verify", "--site", "borken")
    assert report["fixity"]["changed"] == []
    code, report = as_json(ws, "verify", "--site", "borken", "--level", "valid")
    assert code == ExitCode.INTEGRITY and rel(edited) in report["fixity"]["changed"]
    deleted.unlink()
    code, report = as_json(ws, "verify", "--site", "borken")
    assert code == ExitCode.INTEGRITY and report["fixity"]["missing"] == [rel(deleted)]
    assert report["fixity"]["untracked"] == []


def test_kept_blank_and_assigned_pages_and_dropped_blanks_are_anomalies(ws):
    with Index.open(ws / "index.sqlite") as index, index.transaction() as db:
        doc = db.execute("SELECT id FROM documents ORDER BY path LIMIT 1").fetchone()[0]
        pages = [
            r[0]
            for r in db.execute(
                "SELECT id FROM pages WHERE document_id = ? ORDER BY document_page", [doc]
            )
        ]
        db.execute(
            "UPDATE pages SET reason = 'blank page kept after review' WHERE id = ?", [pages[0]]
        )
        db.execute(
            "UPDATE pages SET reason = 'assigned after clarification (case 7)' WHERE id = ?",
            [pages[1]],
        )
    _, result = note(ws)
    root = parse(result["notes"][0]["note"])
    found = root.findall("tv:Besonderheiten/tv:Besonderheit", NS)
    kinds = [b.get("art") for b in found]
    assert sorted(kinds) == ["leerseite_behalten", "leerseite_entfernt", "nach_klaerung_zugeordnet"]
    assert root.find("tv:Besonderheiten", NS).get("anzahl") == "3"
    assigned = next(b for b in found if b.get("art") == "nach_klaerung_zugeordnet")
    assert assigned.get("klaerfall") == "7"
    assert schema().validate(root)


def test_a_changed_pdf_gets_no_note(ws):
    pdf = ws / "archive" / documents(ws)[0]["path"]
    pdf.write_bytes(b"%PDF-1.7 not what was archived\n")
    code, result = note(ws)
    assert code == ExitCode.INTEGRITY and result["written"] == 3
    assert result["skipped"] == [{"document": str(pdf), "problem": "changed"}]


def test_the_latest_verification_is_stated(ws):
    _, report = as_json(ws, "verify", "--site", "borken")
    _, result = note(ws)
    check = parse(result["notes"][0]["note"]).find("tv:Pruefung/tv:Vollstaendigkeit", NS)
    assert check.get("status") == ("bestanden" if report["complete"] else "nicht_bestanden")
    assert check.get("stufe") == "complete" and check.get("verifikation")


def test_a_withdrawn_delivery_takes_its_notes_out_of_the_archive(ws):
    assert note(ws)[0] == ExitCode.OK
    assert list((ws / "archive").rglob("*.tv.xml"))
    with Index.open(ws / "index.sqlite") as index:
        deliveries = [r[0] for r in index.db.execute("SELECT id FROM deliveries ORDER BY id")]
    for delivery in deliveries:
        code, result = as_json(ws, "withdraw", "--delivery", str(delivery), "--by", "A. Admin",
                               "--reason", "falsche Lieferung")  # fmt: skip
        assert code == ExitCode.OK, result
    assert list((ws / "archive").rglob("*.tv.xml")) == []
    _, report = as_json(ws, "verify", "--site", "borken")
    assert report["fixity"]["untracked"] == [] and report["fixity"]["missing"] == []


# --- the note follows QA: preliminary, final, failed, changed after the sample -------------


def _qa_state(note_file: str) -> tuple[str, etree._Element]:
    root = parse(note_file)
    return root.get("status"), root.find("tv:Pruefung/tv:Qualitaetssicherung", NS)


def _record_all(ws: Path, sample: dict, result: str = "ok") -> dict:
    results = []
    for item in sample["items"]:
        code, done = as_json(ws, "qa", "record", "--sample", str(sample["sample"]),
                             "--item", str(item["item"]), "--result", result,
                             "--reviewer", "B. Prüfer")  # fmt: skip
        assert code == ExitCode.OK, done
        results.append(done)
    return results[-1]


def test_a_note_turns_final_when_the_sample_of_its_delivery_passed(ws):
    _, first = note(ws)
    assert {n["status"] for n in first["notes"]} == {"vorlaeufig"}
    assert first["final"] == 0 and first["preliminary"] == 4
    code, sample = as_json(ws, "qa", "draw", "--site", "borken", "--seed", "5")
    assert code == ExitCode.OK, sample
    # Drawn, not checked: still preliminary, and the note says how far the check is.
    _, drawn = note(ws)
    status, qa = _qa_state(drawn["notes"][0]["note"])
    assert status == "vorlaeufig" and qa.get("status") == "offen"
    done = _record_all(ws, sample)
    assert done["status"] == "passed"
    # qa record rewrote the notes itself, naming the person each named before.
    assert done["notes"] == {"written": 4, "final": 4}
    for path in (ws / "archive").rglob("*.tv.xml"):
        status, qa = _qa_state(path)
        assert status == "final" and qa.get("status") == "bestanden"
        assert qa.get("pruefer") == "B. Prüfer" and qa.get("stichprobe") == str(sample["sample"])
        assert qa.get("datum") and parse(path).findtext("tv:Verantwortlich/tv:Name",
                                                        namespaces=NS) == "A. Admin"  # fmt: skip
        assert schema().validate(parse(path))
    with Index.open(ws / "index.sqlite") as index:
        assert {r[0] for r in index.db.execute("SELECT status FROM transfer_notes")} == {"final"}


def test_a_defect_keeps_the_notes_preliminary_until_a_new_sample_passes(ws):
    note(ws)
    code, sample = as_json(ws, "qa", "draw", "--site", "borken", "--seed", "5")
    done = _record_all(ws, sample, result="defect")
    assert done["status"] == "failed" and done["notes"]["final"] == 0
    status, qa = _qa_state(next((ws / "archive").rglob("*.tv.xml")))
    assert status == "vorlaeufig" and qa.get("status") == "nicht_bestanden"
    with Index.open(ws / "index.sqlite") as index:
        delivery = index.db.execute("SELECT MIN(id) FROM deliveries").fetchone()[0]
    code, again = as_json(ws, "qa", "draw", "--site", "borken", "--delivery", str(delivery),
                          "--seed", "6")  # fmt: skip
    assert code == ExitCode.OK and again["sample"] != sample["sample"]
    assert _record_all(ws, again)["notes"]["final"] == 4


def test_a_document_changed_after_the_sample_is_not_final(ws):
    note(ws)
    _, sample = as_json(ws, "qa", "draw", "--site", "borken", "--seed", "5")
    _record_all(ws, sample)
    doc = documents(ws)[0]
    with Index.open(ws / "index.sqlite") as index, index.transaction() as db:
        db["superseded_documents"].insert(
            {"document_id": doc["id"], "path": doc["path"], "sha256": doc["sha256"],
             "size": doc["size"], "pages": doc["pages"], "text_chars": doc["text_chars"],
             "superseded_at": "2999-01-01T00:00:00+00:00", "reason": "test"})  # fmt: skip
    _, result = note(ws)
    by_doc = {n["document"]: n for n in result["notes"]}
    changed = by_doc[str(ws / "archive" / doc["path"])]
    assert changed["status"] == "vorlaeufig" and result["final"] == 3
    _, qa = _qa_state(changed["note"])
    assert qa.get("status") == "offen" and "neue Stichprobe" in qa.text


def test_scan_date_scanner_provider_engine_and_turned_pages_are_stated(ws, tmp_path, monkeypatch):
    folder = tmp_path / "profiles"
    shutil.copytree(profiles_dir(), folder)
    text = (folder / "borken.toml").read_text(encoding="utf-8")
    (folder / "borken.toml").write_text(text + 'provider = "Scan-Service Test"\n', encoding="utf-8")
    monkeypatch.setenv("ESAK_PROFILES", str(folder))
    first, second = documents(ws)[:2]
    with Index.open(ws / "index.sqlite") as index, index.transaction() as db:
        db.execute("UPDATE deliveries SET scanned_on = '2021-01-20'")
        db.execute("UPDATE input_files SET scanned_at = '2021-01-18', scanner = 'Fujitsu fi-7900' "
                   "WHERE id = ?", [first["file_id"]])  # fmt: skip
        db.execute("UPDATE documents SET engine = 'ocrmypdf' WHERE id = ?", [first["id"]])
        db.execute("UPDATE documents SET engine = 'tesseract' WHERE id = ?", [second["id"]])
        page = db.execute("SELECT page_index FROM pages WHERE document_id = ? "
                          "ORDER BY document_page LIMIT 1", [first["id"]]).fetchone()
        page = page[0]
        db.execute("UPDATE pages SET rotation = 90 WHERE document_id = ? AND page_index = ?",
                   [first["id"], page])  # fmt: skip
    _, result = note(ws)
    notes = {n["document"]: parse(n["note"]) for n in result["notes"]}
    one = notes[str(ws / "archive" / first["path"])]
    two = notes[str(ws / "archive" / second["path"])]
    assert schema().validate(one) and schema().validate(two)
    scan = one.find("tv:Prozessschritte/tv:Prozessschritt[@art='scan']", NS)
    assert scan.get("zeitpunkt") == "2021-01-18"  # the manifest's date of the file
    others = [n for p, n in notes.items() if not p.endswith(first["path"])]
    dates = {n.find("tv:Prozessschritte/tv:Prozessschritt[@art='scan']", NS).get("zeitpunkt")
             for n, d in zip(others, documents(ws)[1:], strict=True)
             if d["file_id"] != first["file_id"]}  # fmt: skip
    assert dates <= {"2021-01-20"}  # the delivery's --scanned-on
    assert one.findtext("tv:Auftragnehmer/tv:Name", namespaces=NS) == "Scan-Service Test"
    assert one.findtext("tv:Auftragnehmer/tv:Scanner", namespaces=NS) == "Fujitsu fi-7900"
    assert one.find("tv:Verfahren/tv:OCR", NS).get("weg") == "ocrmypdf"
    assert two.find("tv:Verfahren/tv:OCR", NS).get("weg") == "direkt"
    # Each names the Tesseract that read it: the CLI under OCRmyPDF, tesserocr's directly.
    cli = subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout
    assert one.find("tv:Verfahren/tv:OCR", NS).get("version") == cli.split()[1]
    import tesserocr

    assert two.find("tv:Verfahren/tv:OCR", NS).get("version") == (
        f"{tesserocr.tesseract_version().split()[1]} (tesserocr {tesserocr.__version__})"
    )
    kinds = {b.get("art"): b for b in one.findall("tv:Besonderheiten/tv:Besonderheit", NS)}
    assert kinds["seite_gedreht"].get("grad") == "90"
    assert kinds["seite_gedreht"].get("eingabeseite") == str(page + 1)
    assert "ocrmypdf_verarbeitung" in kinds
    found = two.findall("tv:Besonderheiten/tv:Besonderheit", NS)
    assert "seite_gedreht" not in {b.get("art") for b in found}

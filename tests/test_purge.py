"""Purge after handover (esak purge) on indexes of generated rows: exactly the exported and
released documents lose their PDF, transfer note and text, and nothing else; the evidence
stays and verify and audit verify still pass; every refusal; the deletion record; a purge
killed by kill -9 finished by running it again."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pikepdf
import pypdfium2 as pdfium
import pytest

from esak.errors import ExitCode
from esak.index.audit import record_existing
from esak.index.db import Index
from esak.index.texts import set_document_text
from esak.synthetic.index import Shape, populate
from esak.workspace import Workspace
from tests.test_release import INGESTER, _backed_up, _qa, _sql, _verified, as_json, esak

SMALL = Shape(households=2, documents_per_household=2, pages_per_document=2,
              blank_per_document=0, households_per_batch=1)  # fmt: skip
SCANNED = "2021-01-04"


def _word(document_id: int) -> str:
    """A word only this document's text holds (and that nothing else in the index does)."""
    return f"Zahnarztrechnung{'QXJZW'[document_id % 5]}{document_id:03d}kuvert"


def _texts(ws: Path) -> None:
    with Index.open(ws / "index.sqlite") as index, index.transaction() as db:
        for doc_id, site, household, pages in db.execute(
            "SELECT id, site, household, pages FROM documents WHERE id NOT IN "
            "(SELECT document_id FROM page_text)"
        ).fetchall():
            set_document_text(db, doc_id, site, household,
                              [f"Seite {n} {_word(doc_id)}" for n in range(pages)])  # fmt: skip


def _build(root: Path) -> Path:
    """Delivery 1 (households 1-2) released; delivery 2 (households 3-4) not; every document
    with a transfer note and a text; one export of the whole site."""
    workspace = Workspace(root).ensure()
    with Index.open(workspace.index_path) as index, index.transaction() as db:
        populate(index, workspace.archive_dir, "borken", SMALL)
        run_id = db["runs"].insert({"command": "ingest", "site": "borken", "options": "{}",
                                    "os_user": INGESTER, "esak_version": "test",
                                    "started_at": "2021-01-05T00:00:00+00:00"}).last_pk  # fmt: skip
        db.execute("UPDATE input_files SET run_id = ?", [run_id])
        db.execute("UPDATE deliveries SET scanned_on = ?, path = '/synthetic/one'", [SCANNED])
        record_existing(db)
    ws = workspace.root
    _texts(ws)
    _qa(ws)
    assert as_json(ws, "transfer-note", "--site", "borken", "--by", "A. Admin")[0] == 0
    _verified(ws)
    _backed_up(ws)
    code, done = as_json(ws, "release", "approve", "--site", "borken", "--delivery", "1",
                         "--by", "C. Leitung")  # fmt: skip
    assert code == ExitCode.OK, done
    with Index.open(workspace.index_path) as index, index.transaction() as db:
        populate(index, workspace.archive_dir, "borken", SMALL, first=3)
        record_existing(db)
    _texts(ws)
    assert as_json(ws, "transfer-note", "--site", "borken", "--by", "A. Admin")[0] == 0
    return ws


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    return _build(tmp_path_factory.mktemp("purge") / "ws")


@pytest.fixture
def ws(built, tmp_path) -> Path:
    copy = tmp_path / "ws"
    shutil.copytree(built, copy, symlinks=True)
    return copy


def _export(ws: Path, place: Path, *args: str) -> Path:
    code, done = as_json(ws, "export", "--site", "borken", "-o", str(place), *args)
    assert code == ExitCode.OK, done
    return place


def _files(ws: Path) -> set[str]:
    return {p.relative_to(ws / "archive").as_posix()
            for p in (ws / "archive").rglob("*") if p.is_file()}  # fmt: skip


def _purge(ws: Path, bag: Path, *args: str) -> tuple[int, dict]:
    return as_json(ws, "purge", "--site", "borken", "--exported", str(bag), "--by", "D. Schutz",
                   "--reason", "DMS-Import bestätigt", *args)  # fmt: skip


def _index_bytes(ws: Path) -> bytes:
    return b"".join(p.read_bytes() for p in ws.glob("index.sqlite*"))


def test_purge_removes_exactly_the_released_exported_documents_and_keeps_evidence(ws, tmp_path):
    bag = _export(ws, tmp_path / "bag")
    docs = _sql(ws, "SELECT d.id, d.path, d.sha256, f.delivery_id FROM documents d "
                "JOIN input_files f ON f.id = d.file_id ORDER BY d.id")  # fmt: skip
    released = [d for d in docs if d[3] == 1]
    kept = [d for d in docs if d[3] != 1]
    assert len(released) == 4 and len(kept) == 4
    before = _files(ws)
    pages_before = _sql(ws, "SELECT id, outcome, household, document_id FROM pages ORDER BY id")
    verify_before = esak(ws, "verify", "--site", "borken", "--json").exit_code

    code, dry = _purge(ws, bag, "--dry-run")
    assert code == ExitCode.PROBLEMS  # documents of the bag that may not go
    assert sorted(d["path"] for d in dry["documents"]) == sorted(d[1] for d in released)
    assert {r["reason"] for r in dry["refused"]} == {"not_released"}
    assert sorted(r["path"] for r in dry["refused"]) == sorted(d[1] for d in kept)
    assert _files(ws) == before and dry["purge"] is None

    record = tmp_path / "loeschprotokoll.pdf"
    code, done = _purge(ws, bag, "-o", str(record))
    assert code == ExitCode.PROBLEMS, done
    assert done["backups_holding_content"] == ["/backup"]  # made before: still holds them
    assert done["pages"] == 8 and len(done["documents"]) == 4
    gone = {d[1] for d in released} | {d[1][:-4] + ".tv.xml" for d in released}
    assert done["removed_files"] == 8
    assert _files(ws) == before - gone  # exactly these: every other file as it was
    for _id, path, _sha256, _delivery in kept:
        assert (ws / "archive" / path).is_file()
    # The evidence stays: rows, hashes, pages, notes' rows; the text of the purged ones goes.
    assert _sql(ws, "SELECT id, path, sha256 FROM documents ORDER BY id") == [d[:3] for d in docs]
    assert _sql(ws, "SELECT id, outcome, household, document_id FROM pages ORDER BY id") \
        == pages_before  # fmt: skip
    assert _sql(ws, "SELECT COUNT(*) FROM transfer_notes") == [(8,)]
    assert _sql(ws, "SELECT DISTINCT document_id FROM page_text ORDER BY 1") \
        == [(d[0],) for d in kept]  # fmt: skip
    raw = _index_bytes(ws)
    for doc_id, *_ in released:
        assert _word(doc_id).encode() not in raw  # nowhere in the file, not in free pages
        code, _hits = as_json(ws, "search", _word(doc_id).lower()[:-6])
        assert code == ExitCode.PROBLEMS  # no hits
    for doc_id, *_ in kept:
        assert _word(doc_id).encode() in raw
    # verify and audit verify as before, saying what happened.
    result = esak(ws, "verify", "--site", "borken", "--json")
    assert result.exit_code == verify_before
    fixity = json.loads(result.stdout)["fixity"]
    assert fixity["purged"] == 4 and fixity["missing"] == [] and fixity["untracked"] == []
    assert fixity["checked"] == 4
    assert esak(ws, "verify", "--site", "borken").stdout.count("handed over and deleted") == 1
    code, audit = as_json(ws, "audit", "verify")
    assert code == ExitCode.OK, audit
    # show lists the purged documents with their hashes.
    household = _sql(ws, "SELECT household FROM documents WHERE id = ?", released[0][0])[0][0]
    code, shown = as_json(ws, "show", household)
    assert code == ExitCode.OK
    assert {d["status"] for d in shown["documents"]} == {"purged"}
    assert {d["sha256"] for d in shown["documents"]} <= {d[2] for d in released}
    # A later export does not hold them; backup copies what is left.
    code, again = as_json(ws, "export", "--site", "borken", "-o", str(tmp_path / "bag2"))
    assert code == ExitCode.OK and again["documents"] == 4
    code, backup = as_json(ws, "backup", "--to", str(tmp_path / "backup"))
    assert code == ExitCode.OK, backup
    assert as_json(ws, "backup", "verify", str(tmp_path / "backup"))[0] == ExitCode.OK
    # The deletion record: every removed document, as a PDF and (again) as CSV.
    text = "".join(page.get_textpage().get_text_range()
                   for page in pdfium.PdfDocument(str(record)))
    for _id, _path, sha256, _d in released:
        assert sha256[:20] in text.replace("\r", "").replace("\n", "")
    assert "Deletion record 1" in text and "D. Schutz" in text
    german = tmp_path / "loeschprotokoll-de.pdf"
    assert esak(ws, "--lang", "de", "purge", "record", "1", "-o", str(german)).exit_code == 0
    text = "".join(page.get_textpage().get_text_range()
                   for page in pdfium.PdfDocument(str(german)))
    assert "Löschprotokoll 1" in text and "übergeben" in text and "Gelöscht am" in text
    csv_file = tmp_path / "record.csv"
    assert esak(ws, "purge", "record", str(done["purge"]), "-o", str(csv_file)).exit_code == 0
    rows = list(csv.reader(io.StringIO(csv_file.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert sorted(r[10] for r in rows[1:]) == sorted(d[2] for d in released)
    assert os.stat(csv_file).st_mode & 0o077 == 0
    code, listed = as_json(ws, "purge", "list")
    assert [p["documents"] for p in listed["purges"]] == [4]
    # One audit event per document and one for the purge, listing them all.
    (event,) = _sql(ws, "SELECT data FROM audit_log WHERE kind = 'purge_done'")
    assert sorted(d["sha256"] for d in json.loads(event[0])["documents_removed"]) \
        == sorted(d[2] for d in released)  # fmt: skip
    assert _sql(ws, "SELECT COUNT(*) FROM audit_log WHERE kind = 'document_purged'") == [(4,)]
    # The same bag again: nothing more to do, the refused ones still refused.
    code, second = _purge(ws, bag)
    assert code == ExitCode.PROBLEMS and second["already_purged"] == 4
    assert second["documents"] == [] and len(second["refused"]) == 4


def test_a_bag_that_does_not_verify_is_refused_whole(ws, tmp_path):
    bag = _export(ws, tmp_path / "bag")
    before = _files(ws)
    pdf = next((bag / "data").rglob("*.pdf"))
    pdf.write_bytes(pdf.read_bytes() + b"x")
    code, error = _purge(ws, bag)
    assert code == ExitCode.INTEGRITY and "does not verify" in error["error"]
    assert _files(ws) == before


def test_a_bag_of_another_workspace_or_site_is_refused(ws, built, tmp_path):
    other = tmp_path / "other"
    shutil.copytree(built, other, symlinks=True)
    bag = _export(other, tmp_path / "bag")  # same documents, another export's token
    code, error = _purge(ws, bag)
    assert code == ExitCode.INPUT and "not made from this workspace" in error["error"]
    code, error = as_json(ws, "purge", "--site", "rhede", "--exported", str(bag), "--by", "x",
                          "--reason", "y")  # fmt: skip
    assert code == ExitCode.USAGE and "of site 'borken'" in error["error"]
    assert _sql(ws, "SELECT COUNT(*) FROM purges") == [(0,)]


def test_a_document_changed_after_the_export_is_refused(ws, tmp_path):
    bag = _export(ws, tmp_path / "bag", "--household", "95401BG0000001")
    (doc_id, path) = _sql(ws, "SELECT id, path FROM documents WHERE household = ? ORDER BY id "
                          "LIMIT 1", "95401BG0000001")[0]  # fmt: skip
    # As a blanks keep would: a new version of the PDF, recorded.
    _sql(ws, "UPDATE documents SET sha256 = ? WHERE id = ?", "0" * 64, doc_id)
    code, done = _purge(ws, bag)
    assert code == ExitCode.PROBLEMS
    assert [(r["path"], r["reason"]) for r in done["refused"]] == [(path, "changed_since_export")]
    assert len(done["documents"]) == 1 and (ws / "archive" / path).is_file()


def test_a_purge_killed_after_its_commit_is_finished_by_running_it_again(ws, tmp_path):
    bag = _export(ws, tmp_path / "bag")
    before = _files(ws)
    env = {**os.environ, "ESAK_FAULTS": "kill:purge-committed",
           "ESAK_FAULTS_DIR": str(tmp_path / "faults")}  # fmt: skip
    (tmp_path / "faults").mkdir()
    killed = subprocess.run(
        [sys.executable, "-m", "esak", "--workspace", str(ws), "purge", "--site", "borken",
         "--exported", str(bag), "--by", "D. Schutz", "--reason", "DMS", "--json"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    assert _files(ws) == before  # committed, not yet removed
    assert (ws / "commit.journal").exists()
    code, done = _purge(ws, bag)
    assert code == ExitCode.PROBLEMS  # the four not released
    assert len(done["recovered"]) == 8 and done["already_purged"] == 4 and done["documents"] == []
    assert len(before - _files(ws)) == 8 and not (ws / "commit.journal").exists()
    assert as_json(ws, "audit", "verify")[0] == ExitCode.OK
    fixity = as_json(ws, "verify", "--site", "borken")[1]["fixity"]
    assert fixity["purged"] == 4 and fixity["missing"] == [] and fixity["untracked"] == []


def test_a_purge_killed_before_its_commit_leaves_everything(ws, tmp_path):
    bag = _export(ws, tmp_path / "bag")
    before = _files(ws)
    (tmp_path / "faults").mkdir()
    env = {**os.environ, "ESAK_FAULTS": "kill:purge-journal",
           "ESAK_FAULTS_DIR": str(tmp_path / "faults")}  # fmt: skip
    killed = subprocess.run(
        [sys.executable, "-m", "esak", "--workspace", str(ws), "purge", "--site", "borken",
         "--exported", str(bag), "--by", "D. Schutz", "--reason", "DMS", "--json"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert killed.returncode == -9, killed.stderr
    # The journal names the files, the index still keeps them: the recovery removes none.
    assert esak(ws, "verify", "--site", "borken").exit_code in (0, 1)
    assert _files(ws) == before
    assert _sql(ws, "SELECT COUNT(*) FROM documents WHERE purge_id IS NOT NULL") == [(0,)]
    _code, done = _purge(ws, bag)
    assert len(done["documents"]) == 4 and len(before - _files(ws)) == 8


def test_the_pdf_record_is_a_pdf(ws, tmp_path):
    bag = _export(ws, tmp_path / "bag")
    _purge(ws, bag)
    out = tmp_path / "r.pdf"
    assert esak(ws, "purge", "record", "1", "-o", str(out)).exit_code == 0
    with pikepdf.open(out) as pdf:
        assert len(pdf.pages) >= 1
    assert esak(ws, "purge", "record", "7", "-o", str(out)).exit_code == ExitCode.USAGE


def test_blanks_keep_refuses_to_add_a_page_to_a_purged_document(ws, tmp_path):
    from esak.errors import ProblemsError
    from esak.migrate.keep import _target

    bag = _export(ws, tmp_path / "bag")
    _purge(ws, bag)
    purged, live = (_sql(ws, "SELECT id, household, volume FROM documents WHERE purge_id IS "
                         f"{what} NULL LIMIT 1")[0] for what in ("NOT", ""))  # fmt: skip
    with Index.open(ws / "index.sqlite") as index:
        assert _target(index, live[1], live[2], live[0]).document_id == live[0]
        with pytest.raises(ProblemsError, match="handed over to the DMS and deleted"):
            _target(index, purged[1], purged[2], purged[0])

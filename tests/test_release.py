"""The release of the paper originals (esak release) on indexes of generated rows: each blocker
alone blocks and its removal releases, the clock, the four-eyes-and-more rule for approve,
holds, the lists for the provider, and no withdrawal after a release."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

import pikepdf
import pytest
from click.testing import CliRunner

from esak.cli import cli
from esak.errors import ExitCode
from esak.index.audit import now
from esak.index.db import Index
from esak.profiles import profiles_dir
from esak.synthetic.index import Shape, populate
from esak.workspace import Workspace

SMALL = Shape(households=2, documents_per_household=2, pages_per_document=2,
              blank_per_document=0, households_per_batch=1)  # fmt: skip
INGESTER = "ingest-user"
REVIEWER = "B. Prüfer"
SCANNED = "2021-01-04"


def esak(ws: Path, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(ws), *args], catch_exceptions=False)


def as_json(ws: Path, *args: str) -> tuple[int, dict]:
    result = esak(ws, *args, "--json")
    return result.exit_code, json.loads(result.stdout)


def _sql(ws: Path, sql: str, *params) -> list[tuple]:
    with Index.open(ws / "index.sqlite") as index, index.transaction() as db:
        return db.execute(sql, list(params)).fetchall()


def _qa(ws: Path, result: str = "ok", *draw: str) -> dict:
    code, sample = as_json(ws, "qa", "draw", "--site", "borken", "--rate", "1", *draw)
    assert code == ExitCode.OK, sample
    for item in sample["items"]:
        code, done = as_json(ws, "qa", "record", "--sample", str(sample["sample"]),
                             "--item", str(item["item"]), "--result", result,
                             "--reviewer", REVIEWER)  # fmt: skip
        assert code == ExitCode.OK, done
    return sample


def _verified(ws: Path) -> None:
    """A verification at level valid that found everything intact (its row, as verify
    records it: a real one needs real PDF/A files, which the generated rows do not have)."""
    at = now()
    _sql(ws, "INSERT INTO verifications (site, level, started_at, finished_at, ok, complete, "
         "intact, expected_households, archived_households, missing_households, "
         "documents_checked, files_changed, files_missing, files_untracked, documents_invalid, "
         "findings) VALUES ('borken', 'valid', ?, ?, 1, 1, 1, 2, 2, 0, 4, 0, 0, 0, 0, '[]')",
         at, at)  # fmt: skip


def _backed_up(ws: Path) -> None:
    at = now()
    _sql(ws, "INSERT INTO backups (site, place, started_at, finished_at, documents, "
         "files_copied, bytes_copied, audit_size, audit_root, verified) "
         "VALUES ('borken', '/backup', ?, ?, 4, 4, 100, 0, '', 1)", at, at)  # fmt: skip


STEPS = ("scan_date", "qa", "notes", "verify", "backup")


def _make(root: Path, skip: str | None = None) -> Path:
    """A delivery with everything its release needs, but for the step ``skip``."""
    workspace = Workspace(root).ensure()
    with Index.open(workspace.index_path) as index, index.transaction() as db:
        populate(index, workspace.archive_dir, "borken", SMALL)
        run_id = db["runs"].insert({"command": "ingest", "site": "borken", "options": "{}",
                                    "os_user": INGESTER, "esak_version": "test",
                                    "started_at": now()}).last_pk  # fmt: skip
        db.execute("UPDATE input_files SET run_id = ?", [run_id])
    ws = workspace.root
    steps = {
        "scan_date": lambda: _sql(ws, "UPDATE deliveries SET scanned_on = ?", SCANNED),
        "qa": lambda: _qa(ws),
        "notes": lambda: as_json(ws, "transfer-note", "--site", "borken", "--by", "A. Admin"),
        "verify": lambda: _verified(ws),
        "backup": lambda: _backed_up(ws),
    }
    for name in STEPS:
        if name != skip:
            steps[name]()
    return ws


def _check(ws: Path, *args: str) -> tuple[int, dict]:
    return as_json(ws, "release", "check", "--site", "borken", *args)


def _codes(report: dict) -> list[str]:
    (delivery,) = report["deliveries"]
    return [b["code"] for b in delivery["blockers"]]


def test_a_delivery_with_everything_in_place_is_releasable(tmp_path):
    ws = _make(tmp_path / "ws")
    code, report = _check(ws, "--as-of", "2021-02-01")
    assert code == ExitCode.OK, report
    (d,) = report["deliveries"]
    assert d["releasable"] and d["blockers"] == [] and d["decision"] is None
    assert d["scanned_at"] == SCANNED and d["destroy_on"] == "2021-03-01" and d["days_left"] == 28


def _notes_again(ws: Path) -> None:
    as_json(ws, "transfer-note", "--site", "borken", "--by", "A. Admin")


# Each step missing: the blocker it leaves (alone), and what removes it (then verify and back
# up again where the removal changed the delivery).
MISSING = [
    ("scan_date", ["no_scan_date"],
     lambda ws: _sql(ws, "UPDATE deliveries SET scanned_on = ?", SCANNED)),
    ("qa", ["qa_not_drawn", "notes_not_final"],
     lambda ws: (_qa(ws), _verified(ws), _backed_up(ws))),
    ("notes", ["notes_not_final"], lambda ws: (_notes_again(ws), _verified(ws), _backed_up(ws))),
    ("verify", ["not_verified"], _verified),
    ("backup", ["no_backup"], _backed_up),
]  # fmt: skip


@pytest.mark.parametrize(("skip", "blockers", "remedy"), MISSING, ids=[m[0] for m in MISSING])
def test_each_missing_step_blocks_alone_and_its_remedy_releases(tmp_path, skip, blockers, remedy):
    ws = _make(tmp_path / "ws", skip=skip)
    code, report = _check(ws)
    assert code == ExitCode.PROBLEMS and sorted(_codes(report)) == sorted(blockers), report
    for b in report["deliveries"][0]["blockers"]:
        assert b["action"].startswith("esak ") and b["detail"]
    remedy(ws)
    code, report = _check(ws)
    assert code == ExitCode.OK and _codes(report) == [], report


def test_an_open_case_blocks_until_resolved(tmp_path):
    ws = _make(tmp_path / "ws")
    _sql(ws, "INSERT INTO cases (site, kind, key, status, delivery_id, file, detail, opened_at) "
         "VALUES ('borken', 'delivery_problem', 'delivery:x', 'open', 1, 'manifest.csv', "
         "'listed in manifest, not delivered', ?)", now())  # fmt: skip
    assert _codes(_check(ws)[1]) == ["open_cases"]
    (case_id,) = _sql(ws, "SELECT id FROM cases")[0]
    code, closed = as_json(ws, "clarify", "close", str(case_id), "--by", "A. Admin",
                           "--reason", "kein Befund")  # fmt: skip
    assert code == ExitCode.OK, closed
    # Resolving it changed the delivery: verification and backup must be newer.
    assert sorted(_codes(_check(ws)[1])) == ["no_backup", "not_verified"]
    _verified(ws)
    _backed_up(ws)
    assert _check(ws)[0] == ExitCode.OK


def test_a_sample_not_finished_or_failed_blocks_until_a_new_one_passes(tmp_path):
    ws = _make(tmp_path / "ws", skip="qa")
    code, sample = as_json(ws, "qa", "draw", "--site", "borken", "--rate", "1")
    assert "qa_open" in _codes(_check(ws)[1])
    first = sample["items"][0]["item"]
    as_json(ws, "qa", "record", "--sample", str(sample["sample"]), "--item", str(first),
            "--result", "defect", "--reviewer", REVIEWER, "--note", "unleserlich")  # fmt: skip
    codes = _codes(_check(ws)[1])
    assert "qa_failed" in codes and "open_cases" in codes
    (case_id,) = _sql(ws, "SELECT id FROM cases WHERE status = 'open'")[0]
    as_json(ws, "clarify", "close", str(case_id), "--by", "A. Admin", "--reason", "neu gescannt")
    _qa(ws, "ok", "--delivery", "1")
    _verified(ws)
    _backed_up(ws)
    code, report = _check(ws)
    assert code == ExitCode.OK, report


def test_a_changed_or_missing_file_is_a_fixity_blocker_with_exit_10(tmp_path):
    ws = _make(tmp_path / "ws")
    (path,) = _sql(ws, "SELECT path FROM documents ORDER BY id LIMIT 1")[0]
    pdf = ws / "archive" / path
    original = pdf.read_bytes()
    pdf.write_bytes(original + b"x")
    code, report = _check(ws)
    assert code == ExitCode.INTEGRITY and _codes(report) == ["fixity"]
    pdf.unlink()
    assert _check(ws)[0] == ExitCode.INTEGRITY
    pdf.write_bytes(original)
    assert _check(ws)[0] == ExitCode.OK


def _profile_with(tmp_path: Path, monkeypatch, text: str) -> None:
    folder = tmp_path / "profiles"
    shutil.copytree(profiles_dir(), folder)
    borken = folder / "borken.toml"
    borken.write_text(borken.read_text(encoding="utf-8").replace("[scan]", text + "\n[scan]"),
                      encoding="utf-8")  # fmt: skip
    monkeypatch.setenv("ESAK_PROFILES", str(folder))


def test_documents_whose_originals_are_kept_block_until_held(tmp_path, monkeypatch):
    _profile_with(tmp_path, monkeypatch, 'keep_original_types = ["Urkunde"]')
    ws = _make(tmp_path / "ws")
    assert _check(ws)[0] == ExitCode.OK
    _sql(ws, "UPDATE documents SET doc_type = 'Urkunde' WHERE id = 1")
    code, report = _check(ws)
    assert code == ExitCode.PROBLEMS and _codes(report) == ["keep_original"]
    assert "Urkunde" in report["deliveries"][0]["blockers"][0]["detail"]
    code, held = as_json(ws, "release", "hold", "--site", "borken", "--delivery", "1", "--by",
                         "A. Admin", "--reason", "Originale aufbewahren")  # fmt: skip
    assert code == ExitCode.OK and held["decision"] == "hold"
    code, report = _check(ws)
    assert code == ExitCode.OK and report["deliveries"][0]["decision"] == "hold"
    assert report["urgent_holds"] == []
    # The Sperrliste names the file and why; nothing is on the Freigabeliste.
    out = tmp_path / "liste.csv"
    assert esak(ws, "release", "list", "--site", "borken", "-o", str(out)).exit_code == 0
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert {r[0] for r in rows[1:]} == {"Sperrliste"}


@pytest.mark.parametrize(("as_of", "days_left", "urgent", "overdue"), [
    ("2021-02-14", 15, False, False),  # day 41: blocked, not yet urgent
    ("2021-02-15", 14, True, False),   # day 42: 14 days left, the warning
    ("2021-03-01", 0, True, False),    # day 56: the day of destruction
    ("2021-03-02", -1, True, True),    # day 57: overdue
])  # fmt: skip
def test_the_clock(tmp_path, as_of, days_left, urgent, overdue):
    ws = _make(tmp_path / "ws", skip="backup")
    code, report = _check(ws, "--as-of", as_of)
    (d,) = report["deliveries"]
    assert (d["days_left"], d["urgent"], d["overdue"]) == (days_left, urgent, overdue)
    assert [u["delivery"] for u in report["urgent_holds"]] == ([1] if urgent else [])
    _backed_up(ws)
    code, report = _check(ws, "--as-of", as_of)
    assert code == ExitCode.OK and report["urgent_holds"] == []  # releasable: not a hold


def test_a_manifest_date_earlier_than_the_delivery_date_starts_the_clock(tmp_path):
    ws = _make(tmp_path / "ws")
    _sql(ws, "UPDATE input_files SET scanned_at = '2020-12-28' WHERE id = 1")
    (d,) = _check(ws)[1]["deliveries"]
    assert d["scanned_at"] == "2020-12-28" and d["destroy_on"] == "2021-02-22"


@pytest.mark.parametrize("person", [INGESTER, REVIEWER, "b. prüfer"])
def test_approve_needs_a_third_person(tmp_path, person):
    ws = _make(tmp_path / "ws")
    code, error = as_json(ws, "release", "approve", "--site", "borken", "--delivery", "1",
                          "--by", person)  # fmt: skip
    assert code == ExitCode.USAGE and "third person" in error["error"]
    assert _sql(ws, "SELECT COUNT(*) FROM releases") == [(0,)]


def test_approve_is_refused_while_blocked_and_then_records_the_release(tmp_path):
    ws = _make(tmp_path / "ws", skip="backup")
    code, error = as_json(ws, "release", "approve", "--site", "borken", "--delivery", "1",
                          "--by", "C. Leitung")  # fmt: skip
    assert code == ExitCode.PROBLEMS and "no verified backup" in error["error"]
    _backed_up(ws)
    code, done = as_json(ws, "release", "approve", "--site", "borken", "--delivery", "1",
                         "--by", "C. Leitung")  # fmt: skip
    assert code == ExitCode.OK and done["decision"] == "release"
    assert done["destroy_on"] == "2021-03-01"
    code, report = _check(ws)
    assert code == ExitCode.OK and report["deliveries"][0]["decision"] == "release"
    # An audit event, in the log that audit verify reads.
    assert _sql(ws, "SELECT COUNT(*) FROM audit_log WHERE kind = 'delivery_released'") == [(1,)]
    # Released: no hold, no second release, no withdrawal.
    code, error = as_json(ws, "release", "hold", "--site", "borken", "--delivery", "1",
                          "--by", "A. Admin", "--reason", "zu spät")  # fmt: skip
    assert code == ExitCode.USAGE and "too late" in error["error"]
    code, error = as_json(ws, "withdraw", "--delivery", "1", "--by", "A. Admin",
                          "--reason", "falsch")  # fmt: skip
    assert code == ExitCode.PROBLEMS and "can no longer be withdrawn" in error["error"]
    assert _sql(ws, "SELECT COUNT(*) FROM documents") == [(4,)]


def test_approve_hashes_every_file_first(tmp_path):
    ws = _make(tmp_path / "ws")
    (path,) = _sql(ws, "SELECT path FROM documents ORDER BY id LIMIT 1")[0]
    pdf = ws / "archive" / path
    data = bytearray(pdf.read_bytes())
    data[-2] ^= 1  # the same size: only a hash sees it
    pdf.write_bytes(bytes(data))
    assert _check(ws)[0] == ExitCode.OK  # the check only looks at sizes
    code, error = as_json(ws, "release", "approve", "--site", "borken", "--delivery", "1",
                          "--by", "C. Leitung")  # fmt: skip
    assert code == ExitCode.INTEGRITY, error


def test_the_lists_for_the_provider(tmp_path):
    ws = _make(tmp_path / "ws")
    as_json(ws, "release", "approve", "--site", "borken", "--delivery", "1", "--by", "C. Leitung")
    out = tmp_path / "liste.csv"
    result = esak(ws, "--lang", "de", "release", "list", "--site", "borken", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o077 == 0
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["Liste", "Lieferung", "Box"]
    assert len(rows) == 3 and {r[0] for r in rows[1:]} == {"Freigabeliste"}
    assert {r[4] for r in rows[1:]} == {"box/95401BG0000001.pdf", "box/95401BG0000002.pdf"}
    assert {r[8] for r in rows[1:]} == {"C. Leitung"} and {r[10] for r in rows[1:]} == {
        "01.03.2021"}  # fmt: skip
    pdf_out = tmp_path / "liste.pdf"
    listed = esak(ws, "--lang", "de", "release", "list", "--site", "borken", "-o", str(pdf_out))
    assert listed.exit_code == 0
    import pypdfium2 as pdfium

    text = pdfium.PdfDocument(str(pdf_out))[0].get_textpage().get_text_range()
    assert "Freigabeliste" in text and "box/95401BG0000001.pdf" in text and "C. Leitung" in text
    with pikepdf.open(pdf_out) as pdf:
        assert len(pdf.pages) == 1


def test_a_second_delivery_not_released_is_on_the_sperrliste(tmp_path):
    ws = _make(tmp_path / "ws")
    as_json(ws, "release", "approve", "--site", "borken", "--delivery", "1", "--by", "C. Leitung")
    _sql(ws, "UPDATE deliveries SET path = '/synthetic/first'")
    with Index.open(ws / "index.sqlite") as index:
        populate(index, ws / "archive", "borken", SMALL, first=10)
    code, report = _check(ws)
    assert code == ExitCode.PROBLEMS
    assert [d["decision"] for d in report["deliveries"]] == ["release", None]
    out = tmp_path / "liste.csv"
    esak(ws, "release", "list", "--site", "borken", "-o", str(out))
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig")), delimiter=";"))
    lists = [r[0] for r in rows[1:]]
    assert lists == ["Freigabeliste"] * 2 + ["Sperrliste"] * 2  # released first
    assert "no scan date" in rows[-1][9]


def test_check_as_csv_and_html(tmp_path):
    ws = _make(tmp_path / "ws", skip="backup")
    out = tmp_path / "check.html"
    result = esak(ws, "release", "check", "--site", "borken", "--format", "html", "-o", str(out))
    assert result.exit_code == ExitCode.PROBLEMS
    page = out.read_text(encoding="utf-8")
    assert "esak backup --to DIR --site borken" in page
    assert "http://" not in page and "https://" not in page
    out = tmp_path / "check.csv"
    esak(ws, "release", "check", "--site", "borken", "--format", "csv", "-o", str(out))
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8-sig")), delimiter=";"))
    assert rows[1][6] == "no_backup"


def test_a_decision_is_an_event_of_an_intact_audit_log(tmp_path):
    from esak.index.audit import record_existing

    workspace = Workspace(tmp_path / "ws").ensure()
    with Index.open(workspace.index_path) as index:
        populate(index, workspace.archive_dir, "borken", SMALL)
        with index.transaction() as db:
            record_existing(db)
    ws = workspace.root
    code, held = as_json(ws, "release", "hold", "--site", "borken", "--delivery", "1",
                         "--by", "A. Admin", "--reason", "Prüfung")  # fmt: skip
    assert code == ExitCode.OK, held
    code, audit = as_json(ws, "audit", "verify")
    assert code == ExitCode.OK and audit["intact"], audit
    kinds = [r[0] for r in _sql(ws, "SELECT kind FROM audit_log ORDER BY seq")]
    assert "delivery_held" in kinds

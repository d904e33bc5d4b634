"""``esak verify`` end to end: each finding provoked through the real pipeline on a generated
delivery (real OCR, real PDF/A), then the archive tampered with the way people and disks do."""

from __future__ import annotations

import csv
import io
import json
import random
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pikepdf
import pytest
from click.testing import CliRunner
from PIL import Image

from esak.cli import cli
from esak.errors import ExitCode
from esak.synthetic import (
    random_person,
    render_blank_page,
    render_content_page,
    render_cover_sheet,
)
from esak.verify.fixity import pdf_problem
from tests.conftest import write_pdf

pytestmark = pytest.mark.slow

CONTRACT_KEYS = {
    "site", "complete", "expected_households", "archived_households", "missing_households",
    "unexpected_households", "pages", "page_count_mismatches", "delivery_problems",
    "quarantined_files", "fixity",
}  # fmt: skip
DPI = 200


def esak(ws: Path, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(ws), *args], catch_exceptions=False)


def verify_json(ws: Path, *args: str) -> tuple[int, dict]:
    result = esak(ws, "verify", "--json", *args)
    return result.exit_code, json.loads(result.stdout)


@pytest.fixture
def site(e2e_ingest, tmp_path):
    """A copy of the ingested workspace, with the generated expected list imported."""
    truth, report, _, ws, _, _, root = e2e_ingest
    copy = tmp_path / "ws"
    shutil.copytree(ws, copy)
    expected_csv = root / "sample" / Path(truth["expected_csv"]).name
    esak(copy, "expected", "import", "--site", "borken", str(expected_csv))
    return {"truth": truth, "report": report, "ws": copy, "csv": expected_csv, "tmp": tmp_path}


def _archived(ws: Path) -> list[Path]:
    return sorted((ws / "archive").rglob("*.pdf"))


# --- findings on the generated delivery -----------------------------------------------------


def test_report_has_the_contract_fields_and_the_planted_problems(site):
    truth, ws = site["truth"], site["ws"]
    code, r = verify_json(ws, "--site", "borken")
    assert code == ExitCode.PROBLEMS
    assert r.keys() >= CONTRACT_KEYS
    assert r["complete"] is False and r["intact"] is True
    assert r["missing_households"] == sorted(truth["missing_households"])
    assert r["unexpected_households"] == []
    assert r["archived_households"] == len(truth["delivered_households"])
    assert r["expected_households"] == r["archived_households"] + len(r["missing_households"])
    # Page accounting: equal to what ingest reported, balanced in every batch.
    assert r["pages"] == site["report"]["pages"]
    assert r["pages"]["input"] == sum(v for k, v in r["pages"].items() if k != "input")
    assert r["batches"] and all(b["balanced"] for b in r["batches"])
    assert r["accounting_errors"] == []
    bad = [f["path"] for f in truth["files"] if f["format"] == "bad"]
    assert [f["file"] for f in r["quarantined_files"]] == bad
    assert {
        "file": "box03/batch_404.pdf",
        "problem": "listed in manifest, not delivered",
    }.items() <= (r["delivery_problems"][0].items())
    assert "before the first cover sheet" in r["quarantined_pages"][0]["reason"]
    assert r["fixity"]["checked"] == len(_archived(ws)) == r["documents"] > 0
    assert r["fixity"]["changed"] == r["fixity"]["missing"] == r["fixity"]["untracked"] == []


def test_a_household_dropped_from_the_expected_list_is_unexpected(site):
    ws, truth = site["ws"], site["truth"]
    gone = sorted(truth["delivered_households"])[0]
    lines = site["csv"].read_text(encoding="utf-8-sig").splitlines()
    shorter = site["tmp"] / "expected.csv"
    kept = [line for line in lines if gone not in line]
    shorter.write_text("\n".join(kept) + "\n", encoding="utf-8")
    replace = ("expected", "import", "--site", "borken", "--replace", str(shorter))
    # It has archived documents: a replace dropping it is refused unless forced.
    assert esak(ws, *replace).exit_code == ExitCode.PROBLEMS
    assert esak(ws, *replace, "--force").exit_code == 0
    code, r = verify_json(ws, "--site", "borken")
    assert code == ExitCode.PROBLEMS
    assert r["unexpected_households"] == [gone]
    assert gone not in r["missing_households"]


def test_a_cover_that_declares_more_pages_than_follow_is_a_mismatch(site):
    """A second delivery: a structured cover saying 3 pages, then one blank back side."""
    ws, truth = site["ws"], site["truth"]
    household = sorted(truth["delivered_households"])[0]
    rng = random.Random(5)
    cover = render_cover_sheet(household, site="borken", declared_pages=3, dpi=DPI, rng=rng)
    write_pdf(
        [cover, render_blank_page(rng, dpi=DPI)], site["tmp"] / "second" / "batch_900.pdf", DPI
    )
    esak(ws, "ingest", "--site", "borken", str(site["tmp"] / "second"))
    code, r = verify_json(ws, "--site", "borken")
    assert code == ExitCode.PROBLEMS
    assert [
        {k: m[k] for k in ("household", "volume", "declared", "found")}
        for m in r["page_count_mismatches"]
    ] == [{"household": household, "volume": 1, "declared": 3, "found": 1}]
    assert r["pages"]["cover"] == site["report"]["pages"]["cover"] + 1
    assert r["pages"]["blank"] == site["report"]["pages"]["blank"] + 1


def test_fast_sees_sizes_complete_sees_strays_valid_sees_content(site):
    ws = site["ws"]
    files = _archived(ws)
    rel = [p.relative_to(ws / "archive").as_posix() for p in files]
    # Same size, one byte flipped: only a re-hash notices.
    data = bytearray(files[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    files[0].write_bytes(bytes(data))
    # Grown by a byte: its size says it.
    with files[1].open("ab") as fh:
        fh.write(b"\n")
    files[2].unlink()
    stray = files[3].parent / "copy of 0001.pdf"
    stray.write_bytes(b"%PDF-1.4 left behind")

    code, fast = verify_json(ws, "--site", "borken", "--level", "fast")
    assert code == ExitCode.INTEGRITY
    assert fast["fixity"]["changed"] == [rel[1]]
    assert fast["fixity"]["missing"] == [rel[2]]
    assert fast["fixity"]["untracked"] == []

    code, complete = verify_json(ws, "--site", "borken")
    assert code == ExitCode.INTEGRITY
    assert complete["fixity"]["untracked"] == [stray.relative_to(ws / "archive").as_posix()]
    assert complete["fixity"]["changed"] == [rel[1]]

    code, valid = verify_json(ws, "--site", "borken", "--level", "valid")
    assert code == ExitCode.INTEGRITY
    assert sorted(valid["fixity"]["changed"]) == sorted([rel[0], rel[1]])
    assert valid["fixity"]["invalid"] == []
    assert valid["intact"] is False and valid["status"] == "damaged"


def test_valid_passes_on_the_untouched_archive_and_checks_every_document(site):
    code, r = verify_json(site["ws"], "--site", "borken", "--level", "valid")
    assert code == ExitCode.PROBLEMS  # incomplete (planted problems), but intact
    assert r["intact"] is True
    assert r["fixity"]["checked"] == r["documents"]


def test_history_records_every_verification_newest_first(site):
    ws = site["ws"]
    verify_json(ws, "--site", "borken", "--level", "fast")
    verify_json(ws, "--site", "borken")
    result = esak(ws, "verify", "--history", "--site", "borken", "--json")
    rows = json.loads(result.stdout)["verifications"]
    assert [r["level"] for r in rows] == ["complete", "fast"]
    assert rows[0]["id"] > rows[1]["id"]
    assert rows[0]["ok"] is False and rows[0]["intact"] is True
    assert rows[0]["missing_households"] == len(site["truth"]["missing_households"])
    assert any("no archived documents" in f for f in rows[0]["findings"])
    assert rows[0]["os_user"]
    table = esak(ws, "verify", "--history")
    assert table.exit_code == 0 and "borken" in table.stdout


def test_csv_report_lists_every_finding(site):
    ws, truth = site["ws"], site["truth"]
    out = site["tmp"] / "borken.csv"
    result = esak(ws, "verify", "--site", "borken", "--format", "csv", "-o", str(out))
    assert result.exit_code == ExitCode.PROBLEMS
    assert out.stat().st_mode & 0o077 == 0
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel reads the umlauts right
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    by = {}
    for row in rows:
        by.setdefault(row["category"], []).append(row)
    assert [r["household"] for r in by["missing_household"]] == truth["missing_households"]
    assert by["status"][0]["detail"] == "incomplete"
    assert len(by["archived_household"]) == len(truth["delivered_households"])
    assert by["delivery_problem"][0]["file"] == "box03/batch_404.pdf"
    assert by["file_set_aside"] and by["pages_set_aside"] and by["batch"]
    pages = {r["detail"]: int(r["count"]) for r in by["pages"]}
    assert pages["input"] == site["report"]["pages"]["input"]


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.tags: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.urls += [v for k, v in attrs if k in ("src", "href", "action") and v]

    def handle_data(self, data):
        self.text.append(data)


def test_html_report_is_one_self_contained_page(site):
    ws, truth = site["ws"], site["truth"]
    out = site["tmp"] / "borken.html"
    assert esak(ws, "verify", "--site", "borken", "--format", "html", "-o", str(out)).exit_code == 1
    html = out.read_text(encoding="utf-8")
    parser = _Collect()
    parser.feed(html)
    assert parser.urls == []  # nothing fetched, nothing linked
    assert "script" not in parser.tags and "link" not in parser.tags
    assert "svg" in parser.tags  # the chart
    text = " ".join(parser.text)
    assert "Not complete" in text
    for household in truth["missing_households"]:
        assert household in text
    # Data protection: the expected list carries names; the report must not.
    names = [
        row["name"]
        for row in csv.DictReader(io.StringIO(site["csv"].read_text(encoding="utf-8-sig")),
                                  delimiter=";")
        if row.get("name")
    ]  # fmt: skip
    assert names and not any(name in html for name in names)


@pytest.mark.parametrize(
    ("lang", "title", "section"),
    [
        ("de", "Prüfbericht: Borken", "Bedarfsgemeinschaften und Seiten"),
        ("en", "Verification report: Borken", "Households and pages"),
    ],
)
def test_html_report_renders_in_headless_chromium(site, lang, title, section):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    ws, tmp = site["ws"], site["tmp"]
    out = tmp / f"borken-{lang}.html"
    esak(ws, "--lang", lang, "verify", "--site", "borken", "--format", "html", "-o", str(out))
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ]  # fmt: skip

    def run(*args: str) -> str:
        done = subprocess.run(
            [chromium, *flags, f"--user-data-dir={tmp / 'chromium'}", *args],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout

    dom = run("--dump-dom", out.as_uri())
    assert title in dom and section in dom
    png = tmp / f"report-{lang}.png"
    run(f"--screenshot={png}", "--window-size=1100,1400", out.as_uri())
    with Image.open(png) as img:
        assert img.size == (1100, 1400)
        colours = img.convert("RGB").getcolors(maxcolors=1 << 20)
    # The verdict box is drawn in its colour: amber for an incomplete site.
    assert any(c == (0xA1, 0x5C, 0x00) for _, c in colours)


# --- a complete site, and one that is damaged afterwards ------------------------------------


@pytest.fixture(scope="module")
def clean_site(tmp_path_factory):
    """Rhede: two expected households, both delivered whole, nothing wrong."""
    root = tmp_path_factory.mktemp("clean")
    ws = root / "ws"
    rng = random.Random(7)
    households = ["95401BG0000201", "95401BG0000202"]
    pages = []
    for household in households:
        person = random_person(rng, "rhede")
        pages.append(
            render_cover_sheet(household, site="rhede", declared_pages=1, dpi=DPI, rng=rng)
        )
        pages.append(
            render_content_page(
                rng, "schreiben", dpi=DPI, person=person, household=household, site="rhede"
            )
        )
    write_pdf(pages, root / "delivery" / "batch_001.pdf", DPI)
    (root / "expected.csv").write_text("household;name\n" + "".join(
        f"{h};Test Person {i}\n" for i, h in enumerate(households)), encoding="utf-8")  # fmt: skip
    assert (
        esak(ws, "expected", "import", "--site", "rhede", str(root / "expected.csv")).exit_code == 0
    )
    ingest = esak(ws, "ingest", "--site", "rhede", str(root / "delivery"), "--json")
    assert ingest.exit_code == 0, ingest.stdout
    return root, ws


def test_a_complete_intact_site_exits_0_and_tampering_then_exits_10(clean_site, tmp_path):
    _, ws_orig = clean_site
    ws = tmp_path / "ws"
    shutil.copytree(ws_orig, ws)
    code, r = verify_json(ws, "--site", "rhede", "--level", "valid")
    assert code == ExitCode.OK, r["findings"]
    assert r["ok"] and r["complete"] and r["status"] == "complete"
    assert r["archived_households"] == 2 and r["fixity"]["checked"] == 2

    status = json.loads(esak(ws, "rollout", "status", "--json").stdout)
    rhede = next(s for s in status["sites"] if s["site"] == "rhede")
    assert rhede["state"] == "verified"  # Rhede has no go-live date yet
    assert rhede["last_verification"]["ok"] is True

    next(iter(_archived(ws))).unlink()
    code, r = verify_json(ws, "--site", "rhede")
    assert code == ExitCode.INTEGRITY and r["status"] == "damaged"
    status = json.loads(esak(ws, "rollout", "status", "--json").stdout)
    rhede = next(s for s in status["sites"] if s["site"] == "rhede")
    assert rhede["state"] == "importing"
    assert any("problem" in b["reason"] for b in rhede["blockers"])


def test_verify_all_takes_the_worst_exit_code(clean_site, site, tmp_path):
    root, ws_orig = clean_site
    ws = tmp_path / "rhede"
    shutil.copytree(ws_orig, ws)
    code, r = verify_json(ws, "--all")
    assert code == ExitCode.OK and [s["site"] for s in r["sites"]] == ["rhede"]
    # Rhede's complete delivery (two pages to OCR) into the workspace of Borken's incomplete
    # one (ingested already): --all reports both, and exits with the worse code, Borken's.
    both = site["ws"]
    assert esak(both, "expected", "import", "--site", "rhede", str(root / "expected.csv")
                ).exit_code == 0  # fmt: skip
    assert esak(both, "ingest", "--site", "rhede", str(root / "delivery")).exit_code == 0
    code, r = verify_json(both, "--all")
    assert code == ExitCode.PROBLEMS
    assert [s["site"] for s in r["sites"]] == ["borken", "rhede"] and r["ok"] is False
    assert [s["ok"] for s in r["sites"]] == [False, True]


def test_pdf_problem_names_what_is_wrong(clean_site, tmp_path):
    _, ws = clean_site
    good = _archived(ws)[0]
    with pikepdf.open(good) as pdf:
        pages = len(pdf.pages)
    assert pdf_problem(good, pages, 10) is None
    assert "pages" in pdf_problem(good, pages + 1, 10)
    plain = tmp_path / "plain.pdf"
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.save(plain)
    assert "not PDF/A" in pdf_problem(plain, 1, 0)
    # A PDF/A whose text layer was stripped (here: content streams emptied).
    stripped = tmp_path / "stripped.pdf"
    with pikepdf.open(good) as pdf:
        for page in pdf.pages:
            page.Contents = pdf.make_stream(b"")
        pdf.save(stripped)
    assert "text layer" in pdf_problem(stripped, pages, 10)
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"not a pdf")
    assert "cannot be opened" in pdf_problem(garbage, 1, 0)


# --- errors a user meets --------------------------------------------------------------------


def test_usage_and_workspace_errors(tmp_path, clean_site):
    _, ws = clean_site
    assert esak(ws, "verify").exit_code == ExitCode.USAGE
    assert esak(ws, "verify", "--site", "rhede", "--all").exit_code == ExitCode.USAGE
    unknown = esak(ws, "verify", "--site", "atlantis", "--json")
    assert (
        unknown.exit_code == ExitCode.CONFIG and "atlantis" in json.loads(unknown.stdout)["error"]
    )
    nowhere = esak(tmp_path / "nothing-here", "verify", "--site", "rhede", "--json")
    assert nowhere.exit_code == ExitCode.WORKSPACE
    assert not (tmp_path / "nothing-here").exists()  # a report never creates a workspace
    missing_dir = esak(ws, "verify", "--site", "rhede", "--format", "csv", "-o",
                       str(tmp_path / "no" / "such" / "dir.csv"))  # fmt: skip
    assert missing_dir.exit_code == ExitCode.INPUT
    assert esak(ws, "verify", "--site", "rhede", "-o", str(tmp_path / "x")).exit_code == 2


def test_verify_is_refused_while_an_ingest_holds_the_workspace(clean_site, tmp_path):
    from esak.workspace import Workspace

    _, ws_orig = clean_site
    ws = tmp_path / "ws"
    shutil.copytree(ws_orig, ws)
    with Workspace(ws).lock():
        result = esak(ws, "verify", "--site", "rhede", "--json")
    assert result.exit_code == ExitCode.LOCKED
    assert "pid" in json.loads(result.stdout)["error"]

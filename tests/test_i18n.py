"""German where people read, stable where scripts read: the catalog, dates, the reports."""

from __future__ import annotations

import csv
import datetime as dt
import gettext
import io
import json
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po
from click.testing import CliRunner

from esak import i18n
from esak.cli import cli
from esak.index.db import Index
from esak.report import csvfile, html, terminal
from esak.synthetic.index import Shape, populate
from esak.workspace import Workspace
from tests.test_report import _report, _rollout

ROOT = Path(__file__).resolve().parent.parent
PO = ROOT / "esak" / "locale" / "de" / "LC_MESSAGES" / "esak.po"
MO = PO.with_suffix(".mo")
PLACEHOLDER = re.compile(r"\{(\w*)[^}]*\}")


def _catalog():
    with PO.open("rb") as fh:
        return read_po(fh, locale="de")


def test_every_message_in_the_code_has_a_german_text_with_the_same_placeholders():
    catalog = _catalog()
    found = {msg for _, _, msg, _, _ in _messages()}
    assert len(found) > 150  # the reports' words: the extraction itself works
    for message in found:
        entry = catalog.get(message)
        assert entry is not None and entry.string, f"no German text for {message!r}"
        assert not entry.fuzzy, message
        assert sorted(PLACEHOLDER.findall(entry.string)) == sorted(PLACEHOLDER.findall(message))


def _messages():
    for filename, lineno, message, comments, context in extract_from_dir(
        str(ROOT / "esak"), method_map=[("**.py", "python")]
    ):
        yield (
            filename,
            lineno,
            message if isinstance(message, str) else message[0],
            comments,
            context,
        )


def test_literal_messages_inside_f_strings_are_in_the_catalog_too():
    """Babel does not look inside f-strings: a _("...") there would show in English."""
    catalog = _catalog()
    calls = re.compile(r"""\b_N?\(\s*(["'])((?:(?!\1).)+)\1\s*\)""")
    marked = re.compile(r"""\bN_\(\s*(["'])((?:(?!\1).)+)\1\s*\)""")
    for path in (ROOT / "esak").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for pattern in (calls, marked):
            for match in pattern.finditer(text):
                message = match.group(2)
                if "\\" in message:
                    continue
                assert catalog.get(message) is not None, f"{path.name}: {message!r}"


def test_the_compiled_catalog_is_the_po_file():
    """esak reads the .mo: after a change to the .po, `make i18n` compiles it again."""
    with MO.open("rb") as fh:
        compiled = {m.id: m.string for m in read_mo(fh) if m.id}
    source = {m.id: m.string for m in _catalog() if m.id}
    assert compiled == source


def test_local_time_and_dates_for_people_iso_for_scripts():
    i18n.set_language("de")
    assert i18n.local_time("2026-12-01T05:42:00+00:00") == "01.12.2026 06:42"
    assert i18n.local_time("2026-07-01T04:42:00+00:00") == "01.07.2026 06:42"  # summer time
    assert i18n.local_date(dt.date(2021, 6, 30)) == "30.06.2021"
    assert i18n.number(7000) == "7.000"
    i18n.set_language("en")
    assert i18n.local_time("2026-12-01T05:42:00+00:00") == "2026-12-01 06:42"
    assert i18n.number(7000) == "7,000"
    stamp = dt.datetime.fromisoformat(i18n.iso_now())
    assert stamp.utcoffset() in (dt.timedelta(hours=1), dt.timedelta(hours=2))


def test_the_language_is_chosen_by_option_environment_profile_in_that_order(monkeypatch):
    monkeypatch.delenv(i18n.ENV_LANG, raising=False)
    assert i18n.set_language() == "de"  # the default
    i18n.use_profile_language("en")
    assert i18n.language() == "en"  # no choice made: the profile's language
    monkeypatch.setenv(i18n.ENV_LANG, "de")
    i18n.set_language()
    i18n.use_profile_language("en")
    assert i18n.language() == "de"  # the environment wins over the profile
    i18n.set_language("en")
    assert i18n.language() == "en"  # and --lang over the environment
    with pytest.raises(Exception, match="unknown language 'fr'"):
        i18n.set_language("fr")


def test_the_html_report_in_german_has_its_verdict_sign_off_and_provenance(german):
    report = _report()
    report.fingerprint = "ab" * 32
    report.profile_file, report.profile_sha256 = "borken.toml", "cd" * 32
    page = html.site_report_html(report)
    assert '<html lang="de">' in page
    assert "Archiv beschädigt: archivierte Dateien wurden verändert" in page
    assert "Fehlende Bedarfsgemeinschaften (1)" in page and ">BG-Nummer</th>" in page
    assert "Zurückgestellte Seiten" in page and "Geprüft am 01.12.2026 07:42" in page
    assert "Integritätsprüfung" in page
    for word in ("Abnahme", "Geprüft", "Abgenommen", "Unterschrift", "Datum"):
        assert word in page
    assert "Profil borken.toml (SHA-256 cdcdcdcd" in page and "abababababababab" in page
    assert "missing households" not in page.lower()
    report.unexpected = report.missing_volumes = []
    report.page_count_mismatches = report.delivery_problems = []
    report.quarantined_files = report.quarantined_pages = report.accounting_errors = []
    report.batches = []
    report.fixity.missing = report.fixity.changed = report.fixity.untracked = []
    report.fixity.invalid = []
    assert "Nicht vollständig: dieser Standort kann noch nicht" in html.site_report_html(report)
    report.missing = []
    assert "Vollständig — kann abgenommen werden" in html.site_report_html(report)


def test_the_csv_opens_with_german_headers_and_no_page_range_excel_takes_for_a_date(german):
    text = csvfile.site_reports_csv([_report()])
    rows = list(csv.reader(io.StringIO(text), delimiter=";"))
    assert rows[0] == ["Standort", "Kategorie", "BG-Nummer", "Band", "Lieferung", "Datei",
                       "Anzahl", "Hinweis"]  # fmt: skip
    aside = next(r for r in rows if r[1] == "Zurückgestellte Seiten")
    assert aside[6] == "1–2"  # an en dash: "1-2" would open as the 1st of February
    assert "vor dem ersten Deckblatt" in aside[7]
    rollout = list(csv.reader(io.StringIO(csvfile.rollout_csv(_rollout())), delimiter=";"))
    assert rollout[0][:3] == ["Nr.", "Standortkürzel", "Standort"]
    assert "02.11.2026" in rollout[1] and "im Import" in rollout[1]


def test_the_terminal_summaries_in_german(german, monkeypatch):
    buffer = io.StringIO()
    from rich.console import Console

    monkeypatch.setattr(terminal, "out", Console(file=buffer, width=200, highlight=False))
    terminal.verify_reports([_report()])
    terminal.rollout_table(_rollout())
    text = buffer.getvalue()
    assert "ARCHIV BESCHÄDIGT" in text and "Bedarfsgemeinschaften" in text
    assert "BG-1004 Band 2" in text and "Deckblatt nennt 7, gefunden 6" in text
    assert "Einführung, Stand 01.12.2026" in text and "30.11.2026 23:00 nicht bestanden" in text
    assert "1 erwartete Bedarfsgemeinschaft(en) nicht archiviert" not in text  # not its blocker
    assert "im Import" in text


def test_json_keys_and_values_stay_english_in_german(tmp_path):
    ws = Workspace(tmp_path / "ws").ensure()
    with Index.open(ws.index_path) as index:
        populate(index, ws.archive_dir, "borken", Shape(households=3, households_per_batch=3))
    runner = CliRunner()
    args = ["--workspace", str(ws.root)]
    german = runner.invoke(cli, [*args, "--lang", "de", "rollout", "status", "--json"])
    english = runner.invoke(cli, [*args, "--lang", "en", "rollout", "status", "--json"])
    assert json.loads(german.stdout) == json.loads(english.stdout)
    human = runner.invoke(
        cli, [*args, "--lang", "de", "rollout", "status", "--as-of", "30.06.2021"]
    )
    assert "Einführung, Stand 30.06.2021" in human.output
    verify = runner.invoke(cli, [*args, "--lang", "de", "verify", "--site", "borken", "--json"])
    payload = json.loads(verify.stdout)
    assert payload["status"] == "complete" and "fingerprint" in payload
    assert payload["findings"] == []


def test_gettext_reads_the_shipped_catalog():
    translation = gettext.translation(i18n.DOMAIN, i18n.LOCALE_DIR, languages=["de"])
    assert translation.gettext("Missing households") == "Fehlende Bedarfsgemeinschaften"


def test_no_module_that_translates_rebinds_the_underscore():
    """`_, w, h = tile` in a function that also calls _() makes _ a local there: the report
    fails with "'bytes' object is not callable" (it did, on the blanks review sheet)."""
    import ast

    for path in (ROOT / "esak").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imports_gettext = any(
            isinstance(node, ast.ImportFrom) and node.module == "esak.i18n"
            and any(a.name == "_" for a in node.names)
            for node in ast.walk(tree)
        )  # fmt: skip
        if not imports_gettext:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, ast.Store):
                raise AssertionError(f"{path.name}, line {node.lineno}: _ is assigned")

"""The command line as scripts use it: JSON shapes, exit codes, errors without tracebacks."""

from __future__ import annotations

import json

import click
import pytest
from click.testing import CliRunner

from esak.cli import cli
from esak.errors import ExitCode
from tests.conftest import sample


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


@pytest.mark.parametrize(
    "path", [p for p, _ in _commands(cli)], ids=[" ".join(p) for p, _ in _commands(cli)]
)
def test_every_command_has_help_with_an_example_and_is_in_the_readme(path):
    from pathlib import Path

    command = dict(_commands(cli))[path]
    assert command.help and "Example:" in command.help
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    import re

    words = re.escape(" ".join(path))
    assert re.search(rf"esak (\[--workspace DIR\] )?{words}\b", readme)


def test_inspect_json_follows_the_contract():
    result = run("inspect", str(sample("paperless", "patch-code-t-middle.pdf")), "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["file"].endswith("patch-code-t-middle.pdf")
    assert [p["index"] for p in data["pages"]] == [0, 1, 2]
    assert [p["kind"] for p in data["pages"]] == ["content", "separator", "content"]
    assert data["pages"][1]["barcodes"] == [{"format": "Code39", "text": "PATCHT"}]
    assert data["pages"][0]["barcodes"] == []
    # A content page without a barcode says which mark made it content, and where.
    assert "mm from the left" in data["pages"][0]["why"]
    assert "why" not in data["pages"][1]


def test_inspect_of_an_encrypted_file_is_one_line_and_exit_3():
    result = run("inspect", str(sample("paperless", "negative-control-password-is-test.pdf")))
    assert result.exit_code == ExitCode.INPUT
    assert "Traceback" not in result.output
    assert "encrypted" in result.stderr


def test_inspect_error_with_json_is_still_one_json_object(tmp_path):
    bad = tmp_path / "x.pdf"
    bad.write_bytes(b"not a pdf at all")
    result = run("inspect", str(bad), "--json")
    assert result.exit_code == ExitCode.INPUT
    data = json.loads(result.stdout)
    assert data["exit_code"] == 3 and "not a PDF" in data["error"] and data["remedy"]


def test_inspect_unknown_site_is_a_config_error():
    result = run("inspect", str(sample("paperless", "patch-code-t.pdf")), "--site", "atlantis")
    assert result.exit_code == ExitCode.CONFIG
    assert "unknown site" in result.stderr


def test_profiles_list_json_has_all_sites():
    data = json.loads(run("profiles", "list", "--json").stdout)
    keys = {s["key"] for s in data["sites"]}
    assert len(keys) == 18 and {"borken", "rhede", "schoeppingen", "kreisverwaltung"} <= keys


def test_profiles_show():
    result = run("profiles", "show", "borken", "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["go_live"] == "2021-03-01"


def test_expected_import_twice_changes_nothing_and_reports_bad_rows(tmp_path):
    csv_file = tmp_path / "soll.csv"
    text = "BG-Nummer;Name;Status\n95401BG0000101;Müller, Jürgen;aktiv\n95401BG000010;Weiß;aktiv\n"
    csv_file.write_bytes(text.encode("cp1252"))
    ws = str(tmp_path / "ws")
    first = run(
        "--workspace", ws, "expected", "import", "--site", "borken", str(csv_file), "--json"
    )
    assert first.exit_code == ExitCode.PROBLEMS
    data = json.loads(first.stdout)
    assert (data["added"], data["encoding"], data["rejected"][0]["line"]) == (1, "cp1252", 3)
    assert "Müller" not in first.stdout + first.stderr  # households by number, never by name
    second = run(
        "--workspace", ws, "expected", "import", "--site", "borken", str(csv_file), "--json"
    )
    again = json.loads(second.stdout)
    assert (again["added"], again["updated"], again["unchanged"]) == (0, 0, 1)


def test_expected_import_clean_list_exits_0_and_workspace_is_private(tmp_path):
    csv_file = tmp_path / "soll.csv"
    csv_file.write_text("household,status\n95401BG0000101,aktiv\n95401BG0000102,aktiv\n")
    ws = tmp_path / "ws"
    result = run("--workspace", str(ws), "expected", "import", "--site", "borken", str(csv_file))
    assert result.exit_code == 0, result.output
    assert ws.stat().st_mode & 0o077 == 0
    assert (ws / "index.sqlite").stat().st_mode & 0o077 == 0


def test_workspace_from_environment(tmp_path):
    csv_file = tmp_path / "soll.csv"
    csv_file.write_text("household\n95401BG0000101\n")
    ws = tmp_path / "from-env"
    result = run(
        "expected", "import", "--site", "borken", str(csv_file), env={"ESAK_WORKSPACE": str(ws)}
    )
    assert result.exit_code == 0
    assert (ws / "index.sqlite").exists()


# --- JSON on every error, click's usage errors included (CONTRACT §7) -----------------------


@pytest.mark.parametrize(
    "args",
    [
        ("verify", "--site", "borken", "--level", "quick", "--json"),
        ("rollout", "status", "--as-of", "2021-13-40", "--json"),
        ("rollout", "plan", "--json", "--as-of", "31.02.2021"),
        ("expected", "import", "soll.csv", "--json"),  # no --site
        ("--json", "show", "95401BG0000101"),  # --json where the group has no such option
        ("show", "95401BG0000101", "--json", "--colour"),  # unknown option
        ("blanks", "keep", "--site", "borken", "--file", "a.pdf", "--json"),  # no --page
        ("verify", "--site", "borken", "--format", "json", "--level", "quick"),
        ("verify", "--site", "borken", "--format=json", "--level", "quick"),
    ],
    ids=lambda a: " ".join(a),
)
def test_usage_errors_with_json_are_one_json_object_and_exit_2(args, tmp_path):
    result = run("--workspace", str(tmp_path / "ws"), *args)
    assert result.exit_code == ExitCode.USAGE
    data = json.loads(result.stdout)
    assert set(data) == {"error", "remedy", "exit_code"} and data["exit_code"] == 2
    assert data["error"] and "--help" in data["remedy"]
    assert "esak: error:" in result.stderr  # and said to people on standard error
    assert not (tmp_path / "ws").exists()  # refused before anything was done


def test_usage_error_json_names_the_option_and_the_command_to_ask():
    result = run("verify", "--site", "borken", "--level", "quick", "--json")
    data = json.loads(result.stdout)
    assert "'--level'" in data["error"] and "'quick'" in data["error"]
    assert data["remedy"] == "see esak verify --help"


def test_usage_errors_without_json_keep_clicks_form():
    result = run("verify", "--level", "quick")
    assert result.exit_code == ExitCode.USAGE
    assert result.stdout == ""
    assert "Usage: esak verify" in result.stderr and "'quick'" in result.stderr


def test_json_after_a_double_dash_is_an_argument_not_the_option():
    result = run("inspect", "--bogus", "--", "--json")
    assert result.exit_code == ExitCode.USAGE
    assert result.stdout == ""


# --- --workspace before or after the command ----------------------------------------------

#: Every command that works on a workspace (the others, e.g. inspect, have none).
WORKSPACE_COMMANDS = [
    ("expected", "import"),
    ("ingest",),
    ("show",),
    ("verify",),
    ("rollout", "status"),
    ("rollout", "plan"),
    ("blanks",),
    ("blanks", "keep"),
    ("coversheets",),
]


@pytest.mark.parametrize("path", WORKSPACE_COMMANDS, ids=" ".join)
def test_workspace_option_is_in_each_commands_help(path):
    result = run(*path, "--help")
    assert result.exit_code == 0
    assert "--workspace DIR" in result.stdout and "ESAK_WORKSPACE" in result.stdout


def _soll(tmp_path):
    csv_file = tmp_path / "soll.csv"
    csv_file.write_text("household\n95401BG0000101\n95401BG0000102\n")
    return str(csv_file)


def test_workspace_after_the_command_is_the_same_as_before_it(tmp_path):
    ws = tmp_path / "ws"
    imported = run(
        "expected", "import", "--site", "borken", _soll(tmp_path), "--workspace", str(ws)
    )
    assert imported.exit_code == 0, imported.output
    assert (ws / "index.sqlite").exists()
    after = run("verify", "--site", "borken", "--workspace", str(ws), "--json")
    before = run("--workspace", str(ws), "verify", "--site", "borken", "--json")
    for result in (after, before):
        assert result.exit_code == ExitCode.PROBLEMS  # expected, nothing archived
        assert json.loads(result.stdout)["expected_households"] == 2
    # Both at once, naming the same folder (spelt differently): fine.
    same = run("--workspace", str(ws), "verify", "--site", "borken", "--workspace", f"{ws}/")
    assert same.exit_code == ExitCode.PROBLEMS and "two folders" not in same.stderr


def test_workspace_given_twice_with_two_folders_is_refused(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    result = run(
        "--workspace", str(a), "verify", "--site", "borken", "--workspace", str(b), "--json"
    )
    assert result.exit_code == ExitCode.USAGE
    data = json.loads(result.stdout)
    assert str(a) in data["error"] and str(b) in data["error"] and "once" in data["remedy"]
    human = run("--workspace", str(a), "rollout", "plan", "--workspace", str(b))
    assert human.exit_code == ExitCode.USAGE and "two folders" in human.stderr
    assert not a.exists() and not b.exists()


def test_workspace_on_the_command_line_beats_the_environment_before_or_after(tmp_path):
    env = {"ESAK_WORKSPACE": str(tmp_path / "from-env")}
    ws = tmp_path / "ws"
    result = run(
        "expected", "import", "--site", "borken", _soll(tmp_path), "--workspace", str(ws), env=env
    )
    assert result.exit_code == 0, result.output
    assert (ws / "index.sqlite").exists() and not (tmp_path / "from-env").exists()


# --- show ---------------------------------------------------------------------------------


def _archived_household(ws, household="95401BG0000101", file="box[a]/scan[1].pdf"):
    """An index with one document of ``household``: pages 3-4 of ``file`` (indexes 2, 3)."""
    from esak.index.db import Index

    with Index.open(ws / "index.sqlite") as index, index.transaction() as db:
        delivery = (
            db["deliveries"]
            .insert({"site": "borken", "path": "/d", "first_seen": "2021-02-15"})
            .last_pk
        )
        file_id = db["input_files"].insert(
            {"delivery_id": delivery, "site": "borken", "relpath": file, "format": "pdf",
             "outcome": "ingested", "ingested_at": "2021-02-15"}
        ).last_pk  # fmt: skip
        doc = db["documents"].insert(
            {"site": "borken", "household": household, "volume": 1, "seq": 1,
             "doc_type": "[antrag]", "path": f"borken/{household}/band-01/0001.pdf", "pages": 2,
             "size": 10, "sha256": "0" * 64, "file_id": file_id, "created_at": "2021-02-15"}
        ).last_pk  # fmt: skip
        db["pages"].insert_all(
            [{"file_id": file_id, "page_index": 0, "kind": "cover", "outcome": "cover"},
             {"file_id": file_id, "page_index": 1, "kind": "blank", "outcome": "blank"},
             {"file_id": file_id, "page_index": 2, "kind": "content", "outcome": "archived",
              "document_id": doc, "document_page": 1},
             {"file_id": file_id, "page_index": 3, "kind": "content", "outcome": "archived",
              "document_id": doc, "document_page": 2}]
        )  # fmt: skip


def test_show_json_counts_pages_from_1_and_the_table_does_not_add_1_again(tmp_path, consoles):
    ws = tmp_path / "ws"
    _archived_household(ws)
    result = run("--workspace", str(ws), "show", "95401BG0000101", "--json")
    assert result.exit_code == 0, result.output
    (doc,) = json.loads(result.stdout)["documents"]
    assert doc["source"] == {"file": "box[a]/scan[1].pdf", "first_page": 3, "last_page": 4}
    table = run("--workspace", str(ws), "show", "95401BG0000101")
    assert table.exit_code == 0
    # The file's name and the document type keep their brackets.
    shown = consoles[0].getvalue()  # the table, wide enough not to wrap
    assert "box[a]/scan[1].pdf p. 3–4" in shown and "[antrag]" in shown


def test_show_of_an_expected_household_without_documents_is_a_problem(tmp_path):
    ws = tmp_path / "ws"
    run("--workspace", str(ws), "expected", "import", "--site", "borken", _soll(tmp_path))
    result = run("--workspace", str(ws), "show", "95401BG0000102", "--json")
    assert result.exit_code == ExitCode.PROBLEMS
    data = json.loads(result.stdout)
    assert data["error"] == (
        "household 95401BG0000102 is on the expected list of site borken but has no archived "
        "documents yet"
    )
    assert "esak verify --site borken" in data["remedy"] and data["exit_code"] == 1
    human = run("--workspace", str(ws), "show", "95401BG0000102")
    assert human.exit_code == ExitCode.PROBLEMS and "no archived documents yet" in human.stderr


def test_show_of_an_unknown_household_is_an_input_error(tmp_path):
    ws = tmp_path / "ws"
    _archived_household(ws)
    result = run("--workspace", str(ws), "show", "95401BG0000999", "--json")
    assert result.exit_code == ExitCode.INPUT
    assert "is not in the index" in json.loads(result.stdout)["error"]


# --- brackets in names and messages -------------------------------------------------------


@pytest.mark.parametrize("name", ["scan[1].pdf", "Akte [dask].pdf"])
def test_errors_keep_brackets_in_file_names(tmp_path, name):
    bad = tmp_path / name
    bad.write_bytes(b"not a pdf at all")
    result = run("inspect", str(bad))
    assert result.exit_code == ExitCode.INPUT
    assert name in result.stderr


@pytest.fixture
def consoles(monkeypatch):
    """What the terminal renderer prints, as plain text: (stdout, stderr)."""
    import io

    from rich.console import Console

    from esak.report import terminal

    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr(terminal, "out", Console(file=out, width=300, highlight=False))
    monkeypatch.setattr(terminal, "err", Console(file=err, width=300, highlight=False))
    return out, err


def test_messages_and_warnings_print_brackets_as_they_are(consoles):
    from esak.report import terminal

    terminal.error("cannot read scan[1].pdf: needs [dask]", "pip install esak[dask]")
    terminal.warn_all(["scan[1].pdf, page 2: [bold]not bold[/bold]"])
    assert consoles[1].getvalue().splitlines() == [
        "esak: error: cannot read scan[1].pdf: needs [dask]",
        "  what to do: pip install esak[dask]",
        "problem: scan[1].pdf, page 2: [bold]not bold[/bold]",
    ]


def test_ingest_summary_prints_names_and_reasons_with_brackets(consoles):
    from esak.index.deliveries import IngestReport
    from esak.report import terminal

    report = IngestReport(
        site="borken", delivery="/mnt/[red]", run_id=1,
        files={"ingested": 0, "quarantined": 1, "duplicate": 0},
        pages={k: 0 for k in ("input", "archived", "cover", "separator", "blank", "quarantined")},
        households=[], documents_written=0, pages_ocr=0, already_ingested=0,
        quarantined_files=[{"file": "box[a]/scan[1].pdf", "reason": "[dask] worker died"}],
        quarantined_pages=[], delivery_problems=[], page_count_mismatches=[], seconds=1.0,
        notes=["took over the lock of [pid 7]"],
    )  # fmt: skip
    terminal.ingest_summary(report)
    text = consoles[0].getvalue()
    assert "ingest of /mnt/[red] for borken" in text
    assert "set aside box[a]/scan[1].pdf: [dask] worker died" in text
    assert "took over the lock of [pid 7]" in text


def test_unknown_site_named_in_brackets_is_shown_as_typed():
    result = run("inspect", str(sample("paperless", "patch-code-t.pdf")), "--site", "[dask]")
    assert result.exit_code == ExitCode.CONFIG
    assert "[dask]" in result.stderr


# --- ingest: what is not a delivery -------------------------------------------------------


def _ingest(ws, delivery, *extra):
    return run(
        "--workspace", str(ws), "ingest", "--site", "borken", str(delivery), "--json", *extra
    )


@pytest.mark.parametrize("where", ["is", "inside", "holds"])
def test_ingest_refuses_the_workspace_as_delivery(tmp_path, where):
    ws = tmp_path / "ws" if where != "holds" else tmp_path / "delivery" / "ws"
    delivery = {"is": ws, "inside": ws / "archive", "holds": tmp_path / "delivery"}[where]
    delivery.mkdir(parents=True)
    (delivery / "batch.pdf").write_bytes(b"%PDF-1.4\n")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = _ingest(ws, delivery)
    assert result.exit_code == ExitCode.INPUT, result.output
    data = json.loads(result.stdout)
    assert {"is": "is the workspace", "inside": "is inside the workspace",
            "holds": "holds the workspace"}[where] in data["error"]  # fmt: skip
    assert "outside the workspace" in data["remedy"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no lock, no index


def test_ingest_of_a_folder_without_scan_files_is_refused(tmp_path):
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    for name in ("Anschreiben.docx", "Liste.txt"):
        (delivery / name).write_bytes(b"x")
    result = _ingest(tmp_path / "ws", delivery)
    assert result.exit_code == ExitCode.INPUT
    data = json.loads(result.stdout)
    assert data["error"].startswith(f"no scan files in {delivery}") and data["remedy"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert json.loads(_ingest(tmp_path / "ws", empty).stdout)["error"] == (
        f"no scan files in {empty}"
    )


# --- ingest: the deadline -----------------------------------------------------------------


def test_ingest_with_a_past_dated_until_is_a_usage_error(tmp_path):
    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "batch.pdf").write_bytes(b"x")
    result = _ingest(tmp_path / "ws", delivery, "--until", "01.02.2021 05:00")
    assert result.exit_code == ExitCode.USAGE
    assert "has passed" in json.loads(result.stdout)["error"]
    assert not (tmp_path / "ws").exists()


def test_ingest_prints_its_deadline_and_reports_it(tmp_path):
    from datetime import datetime

    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / "kaputt.pdf").write_bytes(b"not a pdf: set aside, nothing to OCR")
    started = datetime.now().astimezone()
    result = _ingest(tmp_path / "ws", delivery, "--max-minutes", "30")
    assert result.exit_code == ExitCode.PROBLEMS, result.output
    report = json.loads(result.stdout)
    deadline = datetime.fromisoformat(report["deadline"])
    assert deadline.utcoffset() is not None
    assert 29 * 60 < (deadline - started).total_seconds() <= 31 * 60
    assert f"deadline: no new work after {report['deadline']}" in result.stderr
    again = _ingest(tmp_path / "ws", delivery)
    assert json.loads(again.stdout)["deadline"] is None

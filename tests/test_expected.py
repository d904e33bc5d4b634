"""The expected list (Soll-Liste): parsing every CSV variant Excel produces, and importing it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from esak.cli import cli
from esak.errors import ExitCode, InputError, ProblemsError, UsageError
from esak.index.db import Index
from esak.index.expected import (
    ExpectedRow,
    ParsedList,
    expected_households,
    import_expected,
    list_expected,
    parse_expected_csv,
    remove_expected,
)
from esak.profiles import load_profile
from esak.synthetic.index import Shape, populate

H1 = "95401BG0000101"
H2 = "95401BG0000102"
H3 = "95401BG0000103"
H4 = "95401BG0000104"
NAMES = ("Müller, Jürgen", "Özdemir", "Weiß")


def is_household(s: str) -> bool:
    return re.fullmatch(r"\d{5}BG\d{7}", s) is not None


def write(tmp_path: Path, text: str, encoding: str = "utf-8", name: str = "list.csv") -> Path:
    path = tmp_path / name
    # newline="" keeps the line endings exactly as written, like a file from Windows.
    with path.open("w", encoding=encoding, newline="") as f:
        f.write(text)
    return path


def parse(path: Path) -> ParsedList:
    return parse_expected_csv(path, is_household)


@pytest.fixture
def index(tmp_path: Path) -> Iterator[Index]:
    with Index.open(tmp_path / "ws" / "index.sqlite") as opened:
        yield opened


def stored(index: Index, site: str = "borken") -> dict[str, dict]:
    return {
        r["household"]: r for r in index.db.query("SELECT * FROM expected WHERE site = ?", [site])
    }


# --- encodings -----------------------------------------------------------------------------

EXCEL_SEMICOLON = (
    "BG-Nummer;Name;Status;Bände\r\n"
    f"{H1};Müller, Jürgen;aktiv;2\r\n"
    f"{H2};Özdemir;aktiv;1\r\n"
    f"{H3};Weiß;ruhend;\r\n"
)


#: What the rows of EXCEL_SEMICOLON keep (the names are read, never kept).
EXCEL_FIELDS = [("aktiv", 2), ("aktiv", 1), ("ruhend", None)]


def test_windows_1252_names_decode(tmp_path: Path, index: Index) -> None:
    path = write(tmp_path, EXCEL_SEMICOLON, encoding="cp1252")
    raw = path.read_bytes()
    assert b"M\xfcller, J\xfcrgen" in raw
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # so the test really exercises the fallback

    parsed = parse(path)
    assert parsed.encoding == "cp1252"
    assert parsed.delimiter == ";"
    assert parsed.problems == []
    assert [(r.status, r.volumes) for r in parsed.rows] == EXCEL_FIELDS

    import_expected(index, "borken", path, is_household)
    rows = stored(index)
    assert all("name" not in rows[h] for h in (H1, H2, H3))  # read, never kept
    assert rows[H1]["volumes"] == 2
    assert rows[H3]["volumes"] is None
    assert rows[H3]["status"] == "ruhend"


def test_utf8_with_bom(tmp_path: Path) -> None:
    path = write(tmp_path, EXCEL_SEMICOLON, encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    parsed = parse(path)
    # If the BOM stayed in the text, the first header cell would not be recognised.
    assert parsed.encoding == "utf-8-sig"
    assert [r.household for r in parsed.rows] == [H1, H2, H3]
    assert [(r.status, r.volumes) for r in parsed.rows] == EXCEL_FIELDS


def test_utf8_without_bom(tmp_path: Path) -> None:
    path = write(tmp_path, EXCEL_SEMICOLON, encoding="utf-8")
    parsed = parse(path)
    assert parsed.encoding == "utf-8"
    assert [(r.status, r.volumes) for r in parsed.rows] == EXCEL_FIELDS


def test_neither_utf8_nor_cp1252(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    # 0x81 is undefined in Windows-1252 and invalid as a UTF-8 start byte.
    path.write_bytes(f"household;name\n{H1};A\x81B\n".encode("latin-1"))
    with pytest.raises(InputError, match="neither UTF-8 nor Windows-1252"):
        parse(path)


# --- delimiters, headers, quoting ----------------------------------------------------------


def test_comma_delimiter_with_quoted_comma(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        f'household,name,status,volumes\n{H1},"Müller, Jürgen",aktiv,3\n{H2},Weiß,,\n',
    )
    parsed = parse(path)
    assert parsed.delimiter == ","
    assert parsed.problems == []
    assert parsed.rows == [
        ExpectedRow(H1, "aktiv", 3, 2),
        ExpectedRow(H2, None, None, 3),
    ]


def test_semicolon_delimiter_with_quoted_semicolon(tmp_path: Path) -> None:
    path = write(tmp_path, f'household;name;status\n{H1};"Müller; Jürgen";"aktiv"\n')
    parsed = parse(path)
    assert parsed.delimiter == ";"
    assert parsed.problems == []
    assert parsed.rows[0].status == "aktiv"


@pytest.mark.parametrize("header", ["household", "BG-Nummer", " bg-nummer ", "HOUSEHOLD"])
def test_household_header_variants(tmp_path: Path, header: str) -> None:
    parsed = parse(write(tmp_path, f"{header};Name\n{H1};Weiß\n"))
    assert [r.household for r in parsed.rows] == [H1]


@pytest.mark.parametrize("header", ["Bände", "Baende", "volumes", "BÄNDE"])
def test_volumes_header_aliases(tmp_path: Path, header: str) -> None:
    parsed = parse(write(tmp_path, f"BG-Nummer;{header}\n{H1};4\n"))
    assert parsed.rows[0].volumes == 4


def test_columns_in_any_order_and_unknown_ones_ignored(tmp_path: Path) -> None:
    text = f"Sachbearbeiter;Status;Geburtsdatum;BG-Nummer;Name\nSB 12;aktiv;01.01.1970;{H1};Weiß\n"
    parsed = parse(write(tmp_path, text))
    assert parsed.rows == [ExpectedRow(H1, "aktiv", None, 2)]


def test_only_household_column(tmp_path: Path) -> None:
    parsed = parse(write(tmp_path, f"household\n{H1}\n{H2}\n"))
    assert [r.household for r in parsed.rows] == [H1, H2]
    assert all(r.status is None and r.volumes is None for r in parsed.rows)


def test_excel_sep_hint_line(tmp_path: Path) -> None:
    parsed = parse(write(tmp_path, f"sep=,\nhousehold,name\n{H1},Weiß\n{H2},x\n"))
    assert parsed.delimiter == ","
    assert [(r.household, r.line) for r in parsed.rows] == [(H1, 3), (H2, 4)]


def test_whitespace_around_values_is_stripped(tmp_path: Path) -> None:
    parsed = parse(write(tmp_path, f"household;name;volumes\n {H1} ; Weiß ; 2 \n"))
    assert parsed.rows == [ExpectedRow(H1, None, 2, 2)]


# --- bad rows and line numbers -------------------------------------------------------------


def test_each_bad_row_kind_with_its_line(tmp_path: Path) -> None:
    text = (
        "household;name;status;volumes\n"  # 1
        f"{H1};Müller, Jürgen;aktiv;1\n"  # 2 good
        ";Özdemir;aktiv;1\n"  # 3 empty household
        "95401BG000010;Weiß;aktiv;1\n"  # 4 pattern (six digits)
        f"{H1};Müller, Jürgen;aktiv;1\n"  # 5 duplicate of line 2
        f"{H2};Weiß;aktiv;0\n"  # 6 volumes 0
        f"{H3};Weiß;aktiv;zwei\n"  # 7 volumes not a number
        f"{H4};Weiß;aktiv;1,5\n"  # 8 volumes not whole
        "95401BG0000105;Müller; Jürgen;aktiv;1\n"  # 9 unquoted separator: 5 fields
        "95401BG0000106;Weiß\n"  # 10 too few fields
        "95401BG0000107;Weiß;aktiv;-1\n"  # 11 negative
        "95401BG0000108;Weiß;aktiv;\n"  # 12 good, no volumes
    )
    parsed = parse(write(tmp_path, text))
    assert [(r.household, r.line) for r in parsed.rows] == [(H1, 2), ("95401BG0000108", 12)]
    problems = {p.line: p.reason for p in parsed.problems}
    assert sorted(problems) == [3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert parsed.rows_read == 11

    assert "no household number" in problems[3]
    assert "'95401BG000010'" in problems[4]
    assert "does not match the site's" in problems[4]
    assert H1 in problems[5] and "twice" in problems[5] and "line 2" in problems[5]
    assert H2 in problems[6] and "'0'" in problems[6]
    assert H3 in problems[7] and "'zwei'" in problems[7]
    assert "'1,5'" in problems[8]
    assert "has 5 fields, the header has 4" in problems[9]
    assert "95401BG0000105" in problems[9]
    assert "has 2 fields, the header has 4" in problems[10]
    assert "'-1'" in problems[11]
    for reason in problems.values():
        for fragment in ("Müller", "Jürgen", "Özdemir", "Weiß"):
            assert fragment not in reason


def test_name_in_household_column_is_not_echoed(tmp_path: Path) -> None:
    parsed = parse(write(tmp_path, "household;status\nMüller, Jürgen;aktiv\n"))
    assert parsed.rows == []
    [problem] = parsed.problems
    assert problem.line == 2
    assert "Müller" not in problem.reason
    assert "does not match the site's pattern" in problem.reason


def test_quoted_multiline_field_keeps_line_numbers(tmp_path: Path) -> None:
    text = (
        "household;name;status;volumes\r\n"  # 1
        f'{H1};"Müller,\r\nJürgen";aktiv;1\r\n'  # 2-3
        f"{H2};Weiß;aktiv;0\r\n"  # 4 bad volumes
        f"{H3};Özdemir;aktiv;1\r\n"  # 5
    )
    parsed = parse(write(tmp_path, text))
    assert [(r.household, r.line) for r in parsed.rows] == [(H1, 2), (H3, 5)]
    assert (parsed.rows[0].status, parsed.rows[0].volumes) == ("aktiv", 1)
    assert [p.line for p in parsed.problems] == [4]


def test_unclosed_quote_is_reported_with_its_span(tmp_path: Path) -> None:
    text = (
        "household;name;status;volumes\n"  # 1
        f"{H1};Weiß;aktiv;1\n"  # 2
        f'{H2};"Özdemir;aktiv;1\n'  # 3: quote never closed, swallows the rest
        f"{H3};Weiß;aktiv;1\n"  # 4
    )
    parsed = parse(write(tmp_path, text))
    assert [r.household for r in parsed.rows] == [H1]
    [problem] = parsed.problems
    assert problem.line == 3
    assert "3–" in problem.reason and "quote" in problem.reason
    assert "Özdemir" not in problem.reason


def test_blank_lines_are_skipped_silently(tmp_path: Path) -> None:
    text = (
        "household;name;status;volumes\r\n"  # 1
        "\r\n"  # 2
        f"{H1};Weiß;aktiv;1\r\n"  # 3
        ";;;\r\n"  # 4
        "   \r\n"  # 5
        f"{H2};Özdemir;aktiv;\r\n"  # 6
        ";;;\r\n;;;\r\n\r\n"
    )
    parsed = parse(write(tmp_path, text))
    assert parsed.problems == []
    assert [(r.household, r.line) for r in parsed.rows] == [(H1, 3), (H2, 6)]
    assert parsed.rows_read == 2


def test_header_only_list_has_no_rows(tmp_path: Path) -> None:
    parsed = parse(write(tmp_path, "household;name\r\n;\r\n"))
    assert parsed.rows == [] and parsed.problems == []


# --- file-level problems -------------------------------------------------------------------


def _input_error(path: Path) -> InputError:
    with pytest.raises(InputError) as caught:
        parse(path)
    assert caught.value.exit_code == ExitCode.INPUT
    assert caught.value.remedy
    return caught.value


def test_missing_file(tmp_path: Path) -> None:
    error = _input_error(tmp_path / "nope.csv")
    assert "does not exist" in str(error) and "nope.csv" in str(error)


def test_folder_instead_of_file(tmp_path: Path) -> None:
    assert "is a folder" in str(_input_error(tmp_path))


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf", b"\r\n\r\n", b";;;\n;;;\n"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(content)
    assert "is empty" in str(_input_error(path))


def test_no_household_column(tmp_path: Path) -> None:
    error = _input_error(write(tmp_path, f"Nummer;Name\n{H1};Weiß\n"))
    message = str(error)
    assert "'Nummer', 'Name'" in message
    assert "';'" in message and "','" in message
    assert "BG-Nummer" in message


def test_bg_nr_is_not_a_household_header(tmp_path: Path) -> None:
    error = _input_error(write(tmp_path, f"BG-Nr.;Name\n{H1};Weiß\n"))
    assert "'BG-Nr.'" in str(error)


def test_missing_header_does_not_echo_the_data_row(tmp_path: Path) -> None:
    error = _input_error(write(tmp_path, f"{H1};Müller, Jürgen;aktiv;1\n"))
    assert "no header row" in str(error)
    assert "Müller" not in str(error)


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(b"household;name\n\x00\x01\x02\x03" + bytes(range(256)))
    assert "binary" in str(_input_error(path))


def test_excel_workbook(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 64)
    assert "Excel workbook" in str(_input_error(path))


def test_utf16_text(tmp_path: Path) -> None:
    path = write(tmp_path, f"household;name\n{H1};Weiß\n", encoding="utf-16")
    assert "UTF-16" in str(_input_error(path))


def test_duplicate_household_column(tmp_path: Path) -> None:
    error = _input_error(write(tmp_path, f"household;BG-Nummer\n{H1};{H2}\n"))
    assert "twice" in str(error)


# --- import --------------------------------------------------------------------------------


def test_import_records_counts_and_checksum(tmp_path: Path, index: Index) -> None:
    path = write(tmp_path, EXCEL_SEMICOLON, encoding="cp1252")
    result = import_expected(index, "borken", path, is_household)
    assert (result.added, result.updated, result.unchanged, result.removed) == (3, 0, 0, 0)
    assert result.ok
    assert result.total_expected == 3
    [record] = index.db["expected_imports"].rows
    assert record["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert record["site"] == "borken"
    assert (record["encoding"], record["delimiter"]) == ("cp1252", ";")
    assert (record["rows_read"], record["added"], record["rejected"]) == (3, 3, 0)
    assert stored(index)[H2]["source_line"] == 3
    assert stored(index)[H2]["source_file"] == str(path.absolute())
    stamp = stored(index)[H2]["imported_at"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00", stamp)


def test_to_dict_shape_without_names(tmp_path: Path, index: Index) -> None:
    path = write(tmp_path, EXCEL_SEMICOLON + f"{H1};Müller, Jürgen;aktiv;0\r\n")
    result = import_expected(index, "borken", path, is_household)
    data = result.to_dict()
    assert set(data) == {
        "site",
        "file",
        "encoding",
        "delimiter",
        "rows_read",
        "added",
        "updated",
        "unchanged",
        "removed",
        "rejected",
        "total_expected",
        "dry_run",
        "changes",
        "forced",
    }
    assert data["dry_run"] is False and data["forced"] == []
    assert data["changes"] == {"added": [H1, H2, H3], "updated": [], "removed": []}
    assert data["rejected"] == [{"line": 5, "reason": data["rejected"][0]["reason"]}]
    assert not result.ok
    assert data["rows_read"] == 4
    assert data["total_expected"] == 3
    dumped = json.dumps(data, ensure_ascii=False)
    for fragment in ("Müller", "Jürgen", "Özdemir", "Weiß"):
        assert fragment not in dumped


def test_reimport_changes_nothing(tmp_path: Path, index: Index) -> None:
    path = write(tmp_path, EXCEL_SEMICOLON)
    import_expected(index, "borken", path, is_household)
    # A marker instead of sleeping: any rewrite of imported_at would replace it.
    index.db.execute("UPDATE expected SET imported_at = 'marker'")
    before = stored(index)

    result = import_expected(index, "borken", path, is_household)
    assert (result.added, result.updated, result.unchanged, result.removed) == (0, 0, 3, 0)
    assert stored(index) == before
    assert index.db["expected_imports"].count == 2


def test_changed_status_is_an_update(tmp_path: Path, index: Index) -> None:
    import_expected(index, "borken", write(tmp_path, EXCEL_SEMICOLON), is_household)
    index.db.execute("UPDATE expected SET imported_at = 'marker'")
    changed = EXCEL_SEMICOLON.replace("Özdemir;aktiv", "Özdemir;abgeschlossen")
    result = import_expected(index, "borken", write(tmp_path, changed, name="v2.csv"), is_household)
    assert (result.added, result.updated, result.unchanged) == (0, 1, 2)
    rows = stored(index)
    assert rows[H2]["status"] == "abgeschlossen"
    assert rows[H2]["imported_at"] != "marker"
    assert rows[H2]["source_file"].endswith("v2.csv")
    assert rows[H1]["imported_at"] == "marker"


def test_without_replace_nothing_is_removed(tmp_path: Path, index: Index) -> None:
    import_expected(index, "borken", write(tmp_path, EXCEL_SEMICOLON), is_household)
    smaller = write(tmp_path, f"household\n{H1}\n", name="small.csv")
    result = import_expected(index, "borken", smaller, is_household)
    assert result.removed == 0
    assert result.total_expected == 3
    assert expected_households(index, "borken") == [H1, H2, H3]


def test_replace_removes_missing_households_of_that_site_only(tmp_path: Path, index: Index) -> None:
    import_expected(index, "borken", write(tmp_path, EXCEL_SEMICOLON), is_household)
    import_expected(
        index, "rhede", write(tmp_path, f"household\n{H4}\n", name="rhede.csv"), is_household
    )
    new = write(tmp_path, f"household;name\n{H3};Weiß\n{H1};Müller\n", name="new.csv")
    result = import_expected(index, "borken", new, is_household, replace=True)
    assert result.removed == 1
    assert result.total_expected == 2
    assert expected_households(index, "borken") == [H1, H3]
    assert expected_households(index, "rhede") == [H4]


def test_replace_keeps_households_whose_row_was_rejected(tmp_path: Path, index: Index) -> None:
    import_expected(index, "borken", write(tmp_path, EXCEL_SEMICOLON), is_household)
    text = f"household;volumes\n{H1};1\n{H2};null\n"
    result = import_expected(
        index, "borken", write(tmp_path, text, name="new.csv"), is_household, replace=True
    )
    # H2's row is bad, but the list still names it: only H3 is really gone.
    assert result.removed == 1
    assert expected_households(index, "borken") == [H1, H2]


def test_replace_with_no_valid_rows_is_refused(tmp_path: Path, index: Index) -> None:
    import_expected(index, "borken", write(tmp_path, EXCEL_SEMICOLON), is_household)
    empty = write(tmp_path, "household;name\n", name="empty.csv")
    with pytest.raises(InputError, match="refusing"):
        import_expected(index, "borken", empty, is_household, replace=True)
    assert expected_households(index, "borken") == [H1, H2, H3]


@pytest.mark.parametrize(
    "bad_row",
    [
        ";Weiß;aktiv;1",  # no household number: could be any household
        "95401BG00001;Weiß;aktiv;1",  # not a household number
        f'{H2};"Weiß;aktiv;1',  # unclosed quote: may have swallowed the rows below
    ],
)
def test_replace_with_unattributable_rejected_row_is_refused(
    tmp_path: Path, index: Index, bad_row: str
) -> None:
    import_expected(index, "borken", write(tmp_path, EXCEL_SEMICOLON), is_household)
    index.db.execute("UPDATE expected SET imported_at = 'marker'")
    before = stored(index)
    text = f"household;name;status;volumes\n{H4};Weiß;neu;1\n{bad_row}\n{H3};Weiß;ruhend;\n"
    new = write(tmp_path, text, name="new.csv")
    with pytest.raises(InputError, match="line\\(s\\) 3"):
        import_expected(index, "borken", new, is_household, replace=True)
    assert stored(index) == before
    assert index.db["expected_imports"].count == 1


def test_import_is_one_transaction(tmp_path: Path, index: Index) -> None:
    # Make the very last statement of the import fail: nothing before it may remain.
    index.db.execute(
        "CREATE TRIGGER fail_import BEFORE INSERT ON expected_imports "
        "BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
    )
    with pytest.raises(Exception, match="disk trouble"):
        import_expected(index, "borken", write(tmp_path, EXCEL_SEMICOLON), is_household)
    assert index.db["expected"].count == 0
    assert not index.db.conn.in_transaction


def test_expected_households_sorted(tmp_path: Path, index: Index) -> None:
    import_expected(
        index, "borken", write(tmp_path, f"household\n{H3}\n{H1}\n{H2}\n"), is_household
    )
    assert expected_households(index, "borken") == [H1, H2, H3]
    assert expected_households(index, "rhede") == []


# --- lists that are easy to get wrong (refusals, --force, --dry-run) --------------------------

A1, A2 = "95401BG0000001", "95401BG0000002"  # archived by populate()
TINY = Shape(households=2, documents_per_household=1, pages_per_document=1,
             blank_per_document=0, households_per_batch=2)  # fmt: skip


def archived_index(index: Index) -> None:
    """Borken expects A1 and A2, both with an archived document, and H1 without one."""
    populate(index, None, "borken", TINY)
    index.db["expected"].insert(
        {"site": "borken", "household": H1, "status": "aktiv", "volumes": 2,
         "source_file": "x.csv", "source_line": 4, "imported_at": "t"}
    )  # fmt: skip


def everything(index: Index, runs: bool = True) -> dict[str, list]:
    """Every row of the tables an import may touch, to prove nothing changed (``runs``: the
    audit log too, which records a refused run)."""
    tables = ("expected", "expected_imports", "runs")[: 3 if runs else 2]
    return {
        table: list(index.db.execute(f"SELECT * FROM {table} ORDER BY 1, 2").fetchall())
        for table in tables
    }


def test_a_list_that_mostly_does_not_fit_the_pattern_is_refused(tmp_path, index) -> None:
    text = f"household\n{H1}\n95417-0000102\n95417-0000103\n"
    before = everything(index, runs=False)
    with pytest.raises(InputError) as refused:
        import_expected(index, "borken", write(tmp_path, text), is_household)
    assert refused.value.exit_code == ExitCode.INPUT
    assert "2 of 3 rows hold no household number of site 'borken'" in refused.value.message
    assert "--force" in refused.value.remedy
    assert everything(index, runs=False) == before
    forced = import_expected(index, "borken", write(tmp_path, text), is_household, force=True)
    assert expected_households(index, "borken") == [H1]
    assert forced.forced and "2 of 3 rows" in forced.forced[0]
    assert forced.exit_code == ExitCode.PROBLEMS  # the two rows are still rejected


def test_half_the_rows_not_fitting_is_not_refused(tmp_path, index) -> None:
    text = f"household\n{H1}\n95417-0000102\n"
    result = import_expected(index, "borken", write(tmp_path, text), is_household)
    assert (result.added, len(result.rejected), result.forced) == (1, 1, [])


def test_the_agency_code_of_the_profile_decides_what_fits(tmp_path, index) -> None:
    borken = dataclasses.replace(load_profile("borken"), agency_code="95401")
    rhede_list = write(tmp_path, "household\n95417BG0000001\n95417BG0000002\n95401BG0000003\n")
    with pytest.raises(InputError, match="2 of 3 rows"):
        import_expected(index, "borken", rhede_list, borken.is_household)
    # Without a pinned code the default pattern takes any agency.
    result = import_expected(index, "borken", rhede_list, load_profile("borken").is_household)
    assert result.added == 3


def test_a_list_mostly_expected_at_another_site_is_refused(tmp_path, index) -> None:
    rhede = write(tmp_path, f"household\n{H1}\n{H2}\n{H3}\n", name="rhede.csv")
    import_expected(index, "rhede", rhede, is_household)
    before = everything(index, runs=False)
    with pytest.raises(InputError) as refused:
        import_expected(index, "borken", rhede, is_household)
    message, remedy = refused.value.message, refused.value.remedy
    assert "3 of the 3 households of this list are already expected at another site" in message
    assert "rhede (3)" in message
    assert "is it the list of rhede?" in remedy and "--force" in remedy
    assert everything(index, runs=False) == before
    # Half of them elsewhere is a list with some movers, not another site's list.
    half = write(tmp_path, f"household\n{H1}\n{H4}\n", name="half.csv")
    assert import_expected(index, "borken", half, is_household).added == 2
    forced = import_expected(index, "borken", rhede, is_household, force=True)
    assert forced.added == 2 and "rhede (3)" in forced.forced[0]
    assert expected_households(index, "rhede") == [H1, H2, H3]  # the other site untouched


def test_replace_never_silently_drops_an_archived_household(tmp_path, index) -> None:
    archived_index(index)
    only_h1 = write(tmp_path, f"household\n{H1}\n")
    before = everything(index, runs=False)
    with pytest.raises(ProblemsError) as refused:
        import_expected(index, "borken", only_h1, is_household, replace=True)
    assert refused.value.exit_code == ExitCode.PROBLEMS
    assert f"2 household(s) of site 'borken' that already have archived documents: {A1}, {A2}" in (
        refused.value.message
    )
    assert "--force" in refused.value.remedy
    assert everything(index, runs=False) == before  # the refusal is only logged
    # A list that keeps them may drop the others.
    keeps = write(tmp_path, f"household\n{A1}\n{A2}\n", name="keeps.csv")
    assert import_expected(index, "borken", keeps, is_household, replace=True).removed == 1
    forced = import_expected(index, "borken", only_h1, is_household, replace=True, force=True)
    assert forced.removed_households == [A1, A2]
    assert "archived documents" in forced.forced[0]
    assert expected_households(index, "borken") == [H1]


def test_a_refused_import_is_in_the_audit_log(tmp_path, index) -> None:
    archived_index(index)
    with pytest.raises(ProblemsError):
        import_expected(index, "borken", write(tmp_path, f"household\n{H1}\n"), is_household,
                        replace=True)  # fmt: skip
    run = index.db.execute("SELECT command, outcome, exit_code FROM runs").fetchall()[-1]
    assert run == ("expected import", "problems", ExitCode.PROBLEMS)


def test_dry_run_shows_the_changes_and_changes_nothing(tmp_path, index) -> None:
    archived_index(index)
    text = f"household;status\n{A1};aktiv\n{H1};ruhend\n{H2};neu\n"
    path = write(tmp_path, text)
    before = everything(index)
    with pytest.raises(ProblemsError):  # A2 would go: refused in a dry run too
        import_expected(index, "borken", path, is_household, replace=True, dry_run=True)
    result = import_expected(index, "borken", path, is_household, replace=True, dry_run=True,
                             force=True)  # fmt: skip
    assert everything(index) == before
    data = result.to_dict()
    assert data["dry_run"] is True
    assert data["changes"] == {"added": [H2], "updated": [A1, H1], "removed": [A2]}
    assert (data["added"], data["updated"], data["unchanged"], data["removed"]) == (1, 2, 0, 1)
    assert data["total_expected"] == 3
    real = import_expected(index, "borken", path, is_household, replace=True, force=True)
    assert real.to_dict()["changes"] == data["changes"]
    assert real.total_expected == data["total_expected"]


def test_a_list_without_optional_columns_leaves_those_fields(tmp_path, index) -> None:
    import_expected(index, "borken", write(tmp_path, EXCEL_SEMICOLON), is_household)
    full = stored(index)
    bare = import_expected(
        index, "borken", write(tmp_path, f"household\n{H1}\n{H2}\n{H3}\n", name="bare.csv"),
        is_household,
    )  # fmt: skip
    assert (bare.updated, bare.unchanged) == (0, 3)
    assert stored(index) == full  # status and volumes kept
    # A list with a volumes column changes the volumes, and only them.
    volumes = write(tmp_path, f"household;Bände\n{H1};5\n{H2};\n", name="volumes.csv")
    result = import_expected(index, "borken", volumes, is_household)
    assert result.updated_households == [H1, H2]
    rows = stored(index)
    assert (rows[H1]["volumes"], rows[H1]["status"]) == (5, "aktiv")
    assert rows[H2]["volumes"] is None and rows[H2]["status"] == "aktiv"  # the cell was empty


def test_list_expected_shows_no_names(tmp_path, index) -> None:
    archived_index(index)
    listed = list_expected(index, "borken")
    assert listed["total"] == 3
    assert [h["household"] for h in listed["households"]] == [A1, A2, H1]
    assert listed["households"][2] == {
        "household": H1, "status": "aktiv", "volumes": 2, "documents": 0,
        "source_file": "x.csv", "source_line": 4, "imported_at": "t",
    }  # fmt: skip
    assert listed["households"][0]["documents"] == 1
    assert "Müller" not in json.dumps(listed)
    assert list_expected(index, "rhede") == {"site": "rhede", "total": 0, "households": []}


def test_remove_expected(tmp_path, index) -> None:
    archived_index(index)
    result = remove_expected(index, "borken", [H1, H4], is_household)
    assert result.to_dict() == {
        "site": "borken", "removed": [H1], "not_expected": [H4], "with_documents": [],
        "total_expected": 2,
    }  # fmt: skip
    assert result.exit_code == ExitCode.PROBLEMS  # H4 was not on the list: a typo?
    assert remove_expected(index, "borken", [A1], is_household, force=True).exit_code == 0
    assert expected_households(index, "borken") == [A2]
    runs = index.db.execute("SELECT command, options FROM runs ORDER BY id").fetchall()[-2:]
    assert [r[0] for r in runs] == ["expected remove", "expected remove"]
    assert json.loads(runs[1][1]) == {"force": True, "households": [A1]}


def test_remove_refuses_an_archived_household(index) -> None:
    archived_index(index)
    with pytest.raises(ProblemsError) as refused:
        remove_expected(index, "borken", [H1, A2], is_household)
    assert f"1 of these household(s) of site 'borken' already have archived documents: {A2}" in (
        refused.value.message
    )
    assert "--force" in refused.value.remedy
    assert expected_households(index, "borken") == [A1, A2, H1]  # nothing removed
    forced = remove_expected(index, "borken", [H1, A2], is_household, force=True)
    assert (forced.removed, forced.with_documents) == ([A2, H1], [A2])


def test_remove_refuses_what_is_not_a_household_number(index) -> None:
    with pytest.raises(UsageError, match="not a household number of site 'borken'"):
        remove_expected(index, "borken", ["Müller"], is_household)


# --- the expected commands ------------------------------------------------------------------


def cli_run(ws: Path, *args: str):
    return CliRunner().invoke(cli, ["--workspace", str(ws), *args], catch_exceptions=False)


def test_expected_commands(tmp_path) -> None:
    ws = tmp_path / "ws"
    soll = write(tmp_path, f"household;volumes\n{H1};2\n{H2};1\n")
    dry = cli_run(ws, "expected", "import", "--site", "borken", str(soll), "--dry-run", "--json")
    assert dry.exit_code == ExitCode.WORKSPACE and not ws.exists()  # a dry run creates nothing
    ws.mkdir()
    dry = cli_run(ws, "expected", "import", "--site", "borken", str(soll), "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["changes"]["added"] == [H1, H2]
    assert "dry run, nothing changed" in dry.stderr
    assert list(ws.iterdir()) == []
    done = cli_run(ws, "expected", "import", "--site", "borken", str(soll), "--json")
    assert done.exit_code == 0 and json.loads(done.stdout)["dry_run"] is False

    listed = cli_run(ws, "expected", "list", "--site", "borken", "--json")
    assert [h["household"] for h in json.loads(listed.stdout)["households"]] == [H1, H2]
    table = cli_run(ws, "expected", "list", "--site", "borken")
    assert H1 in table.stdout and "volumes" in table.stdout

    rhede = cli_run(ws, "expected", "import", "--site", "rhede", str(soll), "--json")
    assert rhede.exit_code == ExitCode.INPUT
    assert "--force" in json.loads(rhede.stdout)["remedy"]
    forced = cli_run(ws, "expected", "import", "--site", "rhede", str(soll), "--force")
    assert forced.exit_code == 0 and "note: --force:" in forced.stderr

    removed = cli_run(ws, "expected", "remove", "--site", "borken", H2, H4, "--json")
    assert removed.exit_code == ExitCode.PROBLEMS
    assert json.loads(removed.stdout)["removed"] == [H2]
    assert f"not on the expected list of borken: {H4}" in removed.stderr
    wrong = cli_run(ws, "expected", "remove", "--site", "borken", "nonsense", "--json")
    assert wrong.exit_code == ExitCode.USAGE
    assert cli_run(ws, "expected", "remove", "--site", "borken").exit_code == ExitCode.USAGE
    gone = cli_run(tmp_path / "none", "expected", "remove", "--site", "borken", H1)
    assert gone.exit_code == ExitCode.WORKSPACE and not (tmp_path / "none").exists()


def test_expected_commands_refuse_dropping_archived_households(tmp_path) -> None:
    from esak.workspace import Workspace

    ws = Workspace(tmp_path / "ws").ensure()
    with Index.open(ws.index_path) as index:
        archived_index(index)
    only_h1 = write(tmp_path, f"household\n{H1}\n")
    base = ("expected", "import", "--site", "borken", str(only_h1), "--replace")
    refused = cli_run(ws.root, *base, "--json")
    assert refused.exit_code == ExitCode.PROBLEMS
    assert A1 in json.loads(refused.stdout)["error"]
    dry = cli_run(ws.root, *base, "--dry-run", "--force", "--json")
    assert dry.exit_code == 0 and json.loads(dry.stdout)["changes"]["removed"] == [A1, A2]
    assert "would be removed" in dry.stderr
    remove = cli_run(ws.root, "expected", "remove", "--site", "borken", A1, "--json")
    assert remove.exit_code == ExitCode.PROBLEMS and A1 in json.loads(remove.stdout)["error"]
    forced = cli_run(ws.root, "expected", "remove", "--site", "borken", A1, "--force", "--json")
    assert json.loads(forced.stdout)["with_documents"] == [A1]
    assert "removed although archived" in forced.stderr

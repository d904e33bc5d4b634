"""Site profiles: the shipped files, validation messages, and household-number checks."""

from __future__ import annotations

import dataclasses
import datetime
import json
import shutil
from pathlib import Path

import pytest

from esak import profiles
from esak.errors import ConfigError, ExitCode
from esak.profiles import (
    DEFAULT_HOUSEHOLD_PATTERN,
    Profile,
    default_profile,
    load_all,
    load_profile,
    profiles_dir,
)

REPO_PROFILES = (Path(__file__).resolve().parent.parent / "profiles").resolve()

TOWNS = {
    "ahaus": "Ahaus",
    "bocholt": "Bocholt",
    "borken": "Borken",
    "gescher": "Gescher",
    "gronau": "Gronau (Westf.)",
    "heek": "Heek",
    "heiden": "Heiden",
    "isselburg": "Isselburg",
    "legden": "Legden",
    "raesfeld": "Raesfeld",
    "reken": "Reken",
    "rhede": "Rhede",
    "schoeppingen": "Schöppingen",
    "stadtlohn": "Stadtlohn",
    "suedlohn": "Südlohn",
    "velen": "Velen",
    "vreden": "Vreden",
}

# The public record of the rollout (CONTRACT.md section 1): key -> (go-live, order, note part).
PUBLIC_RECORD = {
    "borken": (datetime.date(2021, 3, 1), 1, None),
    "rhede": (None, 2, None),
    "velen": (datetime.date(2021, 5, 15), 3, "mid-May 2021"),
    "heek": (datetime.date(2021, 5, 15), 3, "mid-May 2021"),
    "gronau": (datetime.date(2021, 5, 15), 3, "mid-May 2021"),
    "gescher": (datetime.date(2021, 6, 1), 4, "June 2021"),
    "bocholt": (datetime.date(2021, 7, 1), 5, "delayed"),
}

# A valid profile whose line numbers the error tests rely on (see the comments).
VALID = """\
[site]
name = "Testort"
kind = "municipality"
go_live = 2021-03-01
go_live_note = "test"
rollout_order = 1
departments = ["SGB II"]

[households]
pattern = '^\\d{5}BG\\d{7}$'

[scan]
ocr_languages = ["deu"]
blank_pages = "drop"
"""
LINE = {
    "[site]": 1,
    "name": 2,
    "kind": 3,
    "go_live": 4,
    "rollout_order": 6,
    "departments": 7,
    "[households]": 9,
    "pattern": 10,
    "[scan]": 12,
    "ocr_languages": 13,
    "blank_pages": 14,
}


def variant(old: str, new: str) -> str:
    """VALID with one exact line replaced (new may hold several lines, or be empty)."""
    lines = VALID.splitlines()
    assert lines.count(old) == 1, old
    index = lines.index(old)
    replacement = new.splitlines() if new else []
    return "\n".join(lines[:index] + replacement + lines[index + 1 :]) + "\n"


def write(directory: Path, text: str, key: str = "testort") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{key}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def config_error(directory: Path, key: str = "testort") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_profile(key, directory)
    return info.value


# --- the shipped profiles ------------------------------------------------------------------


def test_all_eighteen_shipped_profiles_load() -> None:
    loaded = load_all(REPO_PROFILES)
    assert len(loaded) == 18
    assert {p.key for p in loaded} == set(TOWNS) | {"kreisverwaltung"}
    assert sorted(p.stem for p in REPO_PROFILES.glob("*.toml")) == sorted(p.key for p in loaded)


def test_default_folder_is_the_repository_profiles(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ESAK_PROFILES", raising=False)
    assert profiles_dir() == REPO_PROFILES
    assert load_profile("borken").path == REPO_PROFILES / "borken.toml"


def test_esak_profiles_overrides_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, VALID)
    monkeypatch.setenv("ESAK_PROFILES", str(tmp_path))
    assert profiles_dir() == tmp_path
    assert [p.key for p in load_all()] == ["testort"]
    with pytest.raises(ConfigError, match="unknown site 'borken'"):
        load_profile("borken")


@pytest.mark.parametrize("key", sorted(TOWNS))
def test_towns_have_their_names(key: str) -> None:
    profile = load_profile(key, REPO_PROFILES)
    assert profile.key == key
    assert profile.name == TOWNS[key]
    assert profile.kind == "municipality"


def test_district_administration() -> None:
    profile = load_profile("kreisverwaltung", REPO_PROFILES)
    assert profile.name == "Kreisverwaltung Borken"
    assert profile.kind == "district"
    assert profile.go_live is None
    assert profile.rollout_order is None


@pytest.mark.parametrize("key", sorted(PUBLIC_RECORD))
def test_dates_follow_the_public_record(key: str) -> None:
    go_live, order, note = PUBLIC_RECORD[key]
    profile = load_profile(key, REPO_PROFILES)
    assert profile.go_live == go_live
    assert profile.rollout_order == order
    if note:
        assert profile.go_live_note is not None and note in profile.go_live_note


def test_sites_without_a_public_date_are_unplanned() -> None:
    others = [p for p in load_all(REPO_PROFILES) if p.key not in PUBLIC_RECORD]
    assert len(others) == 11
    for profile in others:
        assert profile.go_live is None, profile.key
        assert profile.rollout_order is None, profile.key
        assert profile.to_dict()["go_live"] == "unplanned"


def test_shipped_settings_follow_the_contract() -> None:
    for profile in load_all(REPO_PROFILES):
        assert profile.departments[0] == "SGB II", profile.key
        assert profile.household_pattern == DEFAULT_HOUSEHOLD_PATTERN, profile.key
        assert profile.ocr_languages == ("deu",), profile.key
        assert profile.blank_pages == "drop", profile.key
        assert profile.is_household("95401BG0000101"), profile.key


def test_load_all_sorts_by_rollout_order_then_name() -> None:
    keys = [p.key for p in load_all(REPO_PROFILES)]
    assert keys[:7] == ["borken", "rhede", "gronau", "heek", "velen", "gescher", "bocholt"]
    unplanned = keys[7:]
    assert unplanned == sorted(unplanned)  # their names sort like their keys
    assert unplanned.index("schoeppingen") < unplanned.index("stadtlohn")
    assert unplanned.index("stadtlohn") < unplanned.index("suedlohn")


def test_every_key_is_documented_in_borken_toml() -> None:
    lines = (REPO_PROFILES / "borken.toml").read_text(encoding="utf-8").splitlines()
    for table, keys in profiles._SCHEMA.items():
        assert f"[{table}]" in lines
        for key in keys:
            # An optional key Borken leaves unset is documented by a commented-out example.
            (index,) = [
                i for i, line in enumerate(lines) if line.startswith((f"{key} =", f"# {key} ="))
            ]
            assert lines[index - 1].startswith("#"), f"{key} has no comment above it"


def test_to_dict_is_json() -> None:
    data = load_profile("borken", REPO_PROFILES).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["go_live"] == "2021-03-01"
    assert data["rollout_order"] == 1
    assert data["departments"] == ["SGB II"]
    assert data["path"] == str(REPO_PROFILES / "borken.toml")
    assert load_profile("rhede", REPO_PROFILES).to_dict()["go_live"] == "unplanned"


def test_profile_is_frozen() -> None:
    profile = load_profile("borken", REPO_PROFILES)
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.name = "Bocholt"  # type: ignore[misc]


def test_default_profile() -> None:
    profile = default_profile()
    assert profile.key == "default"
    assert profile.household_pattern == DEFAULT_HOUSEHOLD_PATTERN
    assert profile.go_live is None
    assert profile.is_household("95401BG0000101")
    assert json.dumps(profile.to_dict())


# --- unknown sites -------------------------------------------------------------------------


def test_unknown_site_lists_the_known_keys() -> None:
    with pytest.raises(ConfigError) as info:
        load_profile("xyz", REPO_PROFILES)
    error = info.value
    assert error.message == "unknown site 'xyz'"
    assert error.exit_code == ExitCode.CONFIG
    assert error.remedy is not None
    for key in ("borken", "rhede", "schoeppingen", "kreisverwaltung"):
        assert key in error.remedy


def test_unknown_site_suggests_the_key_for_a_town_name() -> None:
    with pytest.raises(ConfigError) as info:
        load_profile("Schöppingen", REPO_PROFILES)
    assert info.value.remedy is not None
    assert "did you mean 'schoeppingen'" in info.value.remedy


@pytest.mark.parametrize("key", ["../evil", "..", "", "EVIL", "evil/", "evil\x00"])
def test_site_key_never_reaches_outside_the_folder(tmp_path: Path, key: str) -> None:
    folder = tmp_path / "profiles"
    write(folder, VALID, key="borken")
    write(tmp_path, VALID, key="evil")  # a valid profile next to the folder
    (folder / "EVIL.toml").write_text(VALID, encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown site"):
        load_profile(key, folder)


def test_missing_profiles_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist") as info:
        load_all(tmp_path / "nowhere")
    assert info.value.remedy is not None and "ESAK_PROFILES" in info.value.remedy


# --- validation: each error names the file and the line ------------------------------------


def test_valid_template_loads(tmp_path: Path) -> None:
    # The error tests below only mean something if their starting point is valid.
    write(tmp_path, VALID)
    profile = load_profile("testort", tmp_path)
    assert profile.name == "Testort"
    assert profile.go_live == datetime.date(2021, 3, 1)


ERRORS = [
    # (id, old line, new line(s), expected line, expected words)
    (
        "toml-syntax",
        'kind = "municipality"',
        'kind = "municipality',
        LINE["kind"],
        "not valid TOML",
    ),
    ("toml-bad-date", "go_live = 2021-03-01", "go_live = 2021-02-30", LINE["go_live"], "TOML"),
    (
        "toml-duplicate-key",
        'kind = "municipality"',
        'kind = "municipality"\nname = "Zweitort"',
        LINE["kind"] + 1,
        "'name' is set twice",
    ),
    (
        "unknown-key",
        'kind = "municipality"',
        'kind = "municipality"\ncolour = "blue"',
        LINE["kind"] + 1,
        "[site] unknown key 'colour'; allowed keys: name, kind, go_live",
    ),
    (
        "unknown-key-in-later-table",
        'blank_pages = "drop"',
        'blank_pages = "drop"\nname = "x"',
        LINE["blank_pages"] + 1,
        "[scan] unknown key 'name'; allowed keys: ocr_languages, blank_pages",
    ),
    (
        "unknown-subtable",
        'blank_pages = "drop"',
        'blank_pages = "drop"\n\n[site.extra]\nx = 1',
        LINE["blank_pages"] + 2,
        "[site] unknown key 'extra'",
    ),
    (
        "unknown-table",
        'blank_pages = "drop"',
        'blank_pages = "drop"\n\n[sites]\nname = "x"',
        LINE["blank_pages"] + 2,
        "unknown table [sites]; allowed tables: [site], [households], [scan]",
    ),
    (
        "key-outside-table",
        "[site]",
        'name = "x"\n[site]',
        1,
        "unknown key 'name' outside any table",
    ),
    ("name-type", 'name = "Testort"', "name = 5", LINE["name"], "name must be a string"),
    ("name-empty", 'name = "Testort"', 'name = " "', LINE["name"], "must not be empty"),
    ("kind-value", 'kind = "municipality"', 'kind = "town"', LINE["kind"], "'town'"),
    ("order-type", "rollout_order = 1", 'rollout_order = "1"', LINE["rollout_order"], "integer"),
    ("order-bool", "rollout_order = 1", "rollout_order = true", LINE["rollout_order"], "integer"),
    ("order-zero", "rollout_order = 1", "rollout_order = 0", LINE["rollout_order"], "positive"),
    (
        "date-quoted",
        "go_live = 2021-03-01",
        'go_live = "2021-03-01"',
        LINE["go_live"],
        "not a date",
    ),
    ("date-word", "go_live = 2021-03-01", 'go_live = "soon"', LINE["go_live"], "'soon'"),
    (
        "date-with-time",
        "go_live = 2021-03-01",
        "go_live = 2021-03-01T08:00:00",
        LINE["go_live"],
        "not a date-time",
    ),
    ("date-number", "go_live = 2021-03-01", "go_live = 2021", LINE["go_live"], "not an integer"),
    (
        "department-unknown",
        'departments = ["SGB II"]',
        'departments = ["SGB II", "SGB III"]',
        LINE["departments"],
        "unknown department 'SGB III'",
    ),
    (
        "department-type",
        'departments = ["SGB II"]',
        'departments = "SGB II"',
        LINE["departments"],
        "array of strings",
    ),
    (
        "department-empty",
        'departments = ["SGB II"]',
        "departments = []",
        LINE["departments"],
        "must not be empty",
    ),
    (
        "department-twice",
        'departments = ["SGB II"]',
        'departments = ["SGB II", "SGB II"]',
        LINE["departments"],
        "twice",
    ),
    (
        "regex-invalid",
        "pattern = '^\\d{5}BG\\d{7}$'",
        "pattern = '^(\\d{5'",
        LINE["pattern"],
        "[households] pattern '^(\\d{5' is not a valid regular expression "
        "(missing ), unterminated subpattern)",
    ),
    (
        "regex-unanchored",
        "pattern = '^\\d{5}BG\\d{7}$'",
        "pattern = '\\d{5}BG\\d{7}'",
        LINE["pattern"],
        "must be anchored",
    ),
    (
        "regex-no-start-anchor",
        "pattern = '^\\d{5}BG\\d{7}$'",
        "pattern = '\\d{5}BG\\d{7}$'",
        LINE["pattern"],
        "must be anchored",
    ),
    (
        "regex-no-end-anchor",
        "pattern = '^\\d{5}BG\\d{7}$'",
        "pattern = '^\\d{5}BG\\d{7}'",
        LINE["pattern"],
        "must be anchored",
    ),
    (
        "regex-escaped-dollar",
        "pattern = '^\\d{5}BG\\d{7}$'",
        "pattern = '^\\d{5}BG\\d{7}\\$'",
        LINE["pattern"],
        "must be anchored",
    ),
    ("regex-type", "pattern = '^\\d{5}BG\\d{7}$'", "pattern = 5", LINE["pattern"], "string"),
    (
        "ocr-language",
        'ocr_languages = ["deu"]',
        'ocr_languages = ["DEU"]',
        LINE["ocr_languages"],
        "'DEU' is not a tesseract language code",
    ),
    (
        "blank-pages",
        'blank_pages = "drop"',
        'blank_pages = "skip"',
        LINE["blank_pages"],
        '\'skip\' is not allowed; use "drop" or "keep"',
    ),
    (
        "missing-site-key",
        'kind = "municipality"',
        "",
        LINE["[site]"],
        "[site] missing required key 'kind'",
    ),
    (
        "missing-pattern",
        "pattern = '^\\d{5}BG\\d{7}$'",
        "",
        LINE["[households]"],
        "[households] missing required key 'pattern'",
    ),
    (
        "table-not-a-table",
        "[site]",
        'site = "Testort"\n[sitex]',
        1,
        "'site' must be a table",
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [case[1:] for case in ERRORS],
    ids=[case[0] for case in ERRORS],
)
def test_error_names_file_and_line(
    tmp_path: Path, old: str, new: str, line: int, words: str
) -> None:
    path = write(tmp_path, variant(old, new))
    error = config_error(tmp_path)
    first = str(error.message).splitlines()[0]
    assert first.startswith(f"{path}, line {line}: "), error.message
    assert words in error.message
    assert error.exit_code == ExitCode.CONFIG
    assert error.remedy is not None and "esak profiles show testort" in error.remedy


def test_missing_table_names_the_file(tmp_path: Path) -> None:
    text = VALID.split("[scan]")[0]
    path = write(tmp_path, text)
    error = config_error(tmp_path)
    assert error.message == (
        f"{path}: missing table [scan] (with keys: ocr_languages, blank_pages)"
    )


def test_all_problems_of_a_file_are_reported_in_line_order(tmp_path: Path) -> None:
    text = variant('blank_pages = "drop"', 'blank_pages = "skip"')
    text = text.replace('kind = "municipality"', 'kind = "town"')
    path = write(tmp_path, text)
    lines = config_error(tmp_path).message.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}, line {LINE['kind']}: [site] kind")
    assert lines[1].startswith(f"{path}, line {LINE['blank_pages']}: [scan] blank_pages")


def test_error_in_shipped_borken_file_reads_like_the_example(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "profiles"
    folder.mkdir()
    lines = (REPO_PROFILES / "borken.toml").read_text(encoding="utf-8").splitlines()
    (index,) = [i for i, line in enumerate(lines) if line.startswith("pattern =")]
    lines[index] = "pattern = '^(\\d{5'"
    (folder / "borken.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    error = config_error(Path("profiles"), "borken")
    assert error.message == (
        f"profiles/borken.toml, line {index + 1}: [households] pattern '^(\\d{{5' "
        "is not a valid regular expression (missing ), unterminated subpattern)"
    )
    assert error.remedy == "fix the file and run `esak profiles show borken`"


@pytest.mark.parametrize("name", ["Testort", "schöppingen", "1ort", "test ort"])
def test_file_name_must_be_a_lower_case_ascii_key(tmp_path: Path, name: str) -> None:
    write(tmp_path, VALID, key=name)
    with pytest.raises(ConfigError) as info:
        load_all(tmp_path)
    assert f"{name}.toml" in info.value.message
    assert "lower-case ASCII" in info.value.message


def test_one_bad_file_fails_load_all(tmp_path: Path) -> None:
    write(tmp_path, VALID, key="good")
    write(tmp_path, variant('blank_pages = "drop"', 'blank_pages = "skip"'), key="bad")
    with pytest.raises(ConfigError, match=r"bad\.toml, line 14"):
        load_all(tmp_path)


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "testort.toml"
    path.write_bytes(VALID.replace("Testort", "Sch\xf6ppingen").encode("cp1252"))
    error = config_error(tmp_path)
    assert error.message == f"{path}, line {LINE['name']}: not UTF-8 text"


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    (tmp_path / "testort.toml").write_bytes(b"\xef\xbb\xbf" + VALID.encode("utf-8"))
    assert load_profile("testort", tmp_path).name == "Testort"


def test_copied_shipped_folder_loads_from_elsewhere(tmp_path: Path) -> None:
    shutil.copytree(REPO_PROFILES, tmp_path / "p")
    assert len(load_all(tmp_path / "p")) == 18


def test_load_all_puts_unplanned_sites_last(tmp_path: Path) -> None:
    write(tmp_path, variant("rollout_order = 1", ""), key="aaa")  # no order
    write(tmp_path, variant("rollout_order = 1", "rollout_order = 2"), key="zzz")
    write(tmp_path, VALID, key="mmm")
    assert [p.key for p in load_all(tmp_path)] == ["mmm", "zzz", "aaa"]


# --- household numbers ---------------------------------------------------------------------


def permissive_profile(tmp_path: Path) -> Profile:
    write(tmp_path, variant("pattern = '^\\d{5}BG\\d{7}$'", "pattern = '^.+$'"))
    return load_profile("testort", tmp_path)


def test_household_accepts_the_documented_example() -> None:
    profile = load_profile("borken", REPO_PROFILES)
    assert profile.is_household("95401BG0000101")


@pytest.mark.parametrize(
    "text",
    [
        "95401BG000010",  # one digit short
        "95401BG00001011",  # one digit long
        "../95401BG0000101",
        "95401BG0000101\n",  # `$` alone would let this through
        " 95401BG0000101",
        "95401bg0000101",
        "95401BG0000101/",
        "",
        "٩٥٤٠١BG٠٠٠٠١٠١",  # Arabic-Indic digits match \d
    ],
)
def test_household_refuses(text: str) -> None:
    assert not load_profile("borken", REPO_PROFILES).is_household(text)


@pytest.mark.parametrize(
    "text",
    ["a/b", "..", "x%2Fy", "a b", "a\x00b", "a\\b", "a.b", "tab\t", "CON", "nul", "x" * 65, "ß"],
)
def test_household_refuses_path_tricks_even_with_a_permissive_pattern(
    tmp_path: Path, text: str
) -> None:
    profile = permissive_profile(tmp_path)
    assert not profile.is_household(text)


def test_permissive_pattern_still_accepts_plain_numbers(tmp_path: Path) -> None:
    # Shows that the refusals above come from the path rules, not from a broken pattern.
    profile = permissive_profile(tmp_path)
    assert profile.is_household("ABC123")
    assert profile.is_household("x" * 64)


def test_household_pattern_must_match_the_whole_text(tmp_path: Path) -> None:
    # Without a group, ^ binds to the first alternative and $ to the last only.
    sloppy = "pattern = '^95401BG\\d{7}|95402BG\\d{7}$'"
    write(tmp_path, variant("pattern = '^\\d{5}BG\\d{7}$'", sloppy))
    profile = load_profile("testort", tmp_path)
    assert profile.is_household("95401BG0000101")
    assert profile.is_household("95402BG0000101")
    assert not profile.is_household("95401BG0000101X")
    assert not profile.is_household("X95402BG0000101")


def test_the_site_profiles_ship_inside_the_package(monkeypatch):
    """A non-editable install (a wheel) must find the profiles: they are package data, and
    the repository's profiles/ is the same folder."""
    import tomllib

    import esak

    monkeypatch.delenv(profiles.ENV_PROFILES, raising=False)
    package = Path(esak.__file__).resolve().parent
    folder = profiles_dir()
    assert folder.is_relative_to(package)
    conf = tomllib.loads((package.parent / "pyproject.toml").read_text(encoding="utf-8"))
    shipped = {p for pattern in conf["tool"]["setuptools"]["package-data"]["esak"]
               for p in package.glob(pattern)}  # fmt: skip
    found = set(folder.glob("*.toml"))
    assert len(found) == len(TOWNS) + 1
    assert found <= shipped
    assert REPO_PROFILES.resolve() == folder


def test_agency_code_pins_the_numbers_of_a_site(tmp_path: Path) -> None:
    line = "pattern = '^\\d{5}BG\\d{7}$'"
    write(tmp_path, variant(line, f'{line}\nagency_code = "95417"'))
    profile = load_profile("testort", tmp_path)
    assert profile.agency_code == "95417" and profile.to_dict()["agency_code"] == "95417"
    assert profile.is_household("95417BG0000101")
    assert not profile.is_household("95401BG0000101")  # fits the pattern, another agency
    assert load_profile("borken", REPO_PROFILES).agency_code is None  # shipped: not pinned


@pytest.mark.parametrize("value", ['"954/1"', '"9540 1"', "95401", '""'])
def test_a_bad_agency_code_is_a_config_error(tmp_path: Path, value: str) -> None:
    line = "pattern = '^\\d{5}BG\\d{7}$'"
    write(tmp_path, variant(line, f"{line}\nagency_code = {value}"))
    error = config_error(tmp_path)
    assert "agency_code" in error.message

"""Site profiles: one TOML file per migration site, ``profiles/<key>.toml``.

A profile is configuration written by hand by the migration team, so every error names the
file, the line and what is wrong, and says what to do. The schema is documented key by key
in ``profiles/borken.toml``.
"""

from __future__ import annotations

import datetime
import difflib
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esak.errors import ConfigError
from esak.i18n import LANGUAGES, use_profile_language
from esak.vocabulary import BlankPolicy

ENV_PROFILES = "ESAK_PROFILES"
DEFAULT_HOUSEHOLD_PATTERN = r"^\d{5}BG\d{7}$"

KINDS = ("municipality", "district")
DEPARTMENTS = ("SGB II", "SGB XII")
BLANK_PAGE_POLICIES = tuple(BlankPolicy)
#: The protection need of a site's files (TR-RESISCAN): how much of each delivery QA samples.
PROTECTION_LEVELS = ("normal", "high", "very-high")
UNPLANNED = "unplanned"

_KEY_RE = re.compile(r"[a-z][a-z0-9_-]*")
_OCR_LANGUAGE_RE = re.compile(r"[a-z_]+")

# A household number becomes a folder and file name, also on Windows file shares, where
# these names are devices rather than files whatever the extension.
_WINDOWS_DEVICE_NAMES = frozenset(
    ["CON", "PRN", "AUX", "NUL"]
    + [f"COM{i}" for i in range(1, 10)]
    + [f"LPT{i}" for i in range(1, 10)]
)
# Far longer than any real layout, and short enough that `<household>_<volume>.pdf` stays
# well below the 255-byte name limit of common file systems.
_MAX_HOUSEHOLD_LENGTH = 64

# Required keys first, in the order a reader expects them; "allowed keys" messages use it.
_SCHEMA: dict[str, dict[str, bool]] = {
    "site": {
        "name": True,
        "kind": True,
        "go_live": True,
        "go_live_note": False,
        "rollout_order": False,
        "departments": True,
        "language": False,
    },
    "households": {"pattern": True, "agency_code": False},
    "scan": {"ocr_languages": True, "blank_pages": True, "protection": False, "provider": False},
    # Optional as a whole: every key has a default.
    "release": {"retention_days": False, "warn_days": False, "keep_original_types": False},
}
#: Days from scanning until the provider destroys the paper unless told otherwise (8 weeks).
RETENTION_DAYS = 56
#: Days left at which a blocked delivery is an urgent hold.
WARN_DAYS = 14


@dataclass(frozen=True)
class Profile:
    """One site's settings, validated. ``go_live`` is None while the site is unplanned."""

    key: str
    name: str
    kind: str
    go_live: datetime.date | None
    go_live_note: str | None
    rollout_order: int | None
    departments: tuple[str, ...]
    household_pattern: str
    ocr_languages: tuple[str, ...]
    blank_pages: str
    path: Path
    #: the language of this site's reports ("de", "en"); None: German unless chosen otherwise
    language: str | None = None
    #: The agency code every household number of this site begins with (None: not pinned).
    agency_code: str | None = None
    #: the protection need (PROTECTION_LEVELS): the QA sample's rate and four-eyes rule
    protection: str = "normal"
    #: the scanning provider's name, for the transfer notes (None: not said)
    provider: str | None = None
    #: days from scanning to the paper's destruction, and the days left that make it urgent
    retention_days: int = RETENTION_DAYS
    warn_days: int = WARN_DAYS
    #: document types whose paper originals are kept (never released for destruction)
    keep_original_types: tuple[str, ...] = ()
    _household_re: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Compiled once: is_household runs for every barcode and every expected-list row.
        try:
            compiled = re.compile(self.household_pattern)
        except re.error as exc:
            raise ConfigError(
                f"site {self.key!r}: household pattern '{self.household_pattern}' is not a "
                f"valid regular expression ({exc.msg})",
                "fix the pattern in the site profile",
            ) from exc
        object.__setattr__(self, "_household_re", compiled)

    def is_household(self, text: str) -> bool:
        """True if ``text`` is a household number of this site.

        The pattern must match the whole text, and the text must be plain ASCII letters and
        digits no matter what the pattern allows: the number is used as a path component, so
        a sloppy pattern must never let through ``/``, ``..``, ``%``, whitespace or NUL.
        """
        if not isinstance(text, str) or not text or len(text) > _MAX_HOUSEHOLD_LENGTH:
            return False
        # isalnum alone accepts non-ASCII digits and letters (e.g. "١٢٣", "ß").
        if not (text.isascii() and text.isalnum()):
            return False
        if text.upper() in _WINDOWS_DEVICE_NAMES:
            return False
        if self.agency_code is not None and not text.startswith(self.agency_code):
            return False
        return self._household_re.fullmatch(text) is not None

    def to_dict(self) -> dict[str, Any]:
        """The profile as JSON-able data, for ``--json`` output."""
        return {
            "key": self.key,
            "name": self.name,
            "kind": self.kind,
            "go_live": self.go_live.isoformat() if self.go_live else UNPLANNED,
            "go_live_note": self.go_live_note,
            "rollout_order": self.rollout_order,
            "departments": list(self.departments),
            "household_pattern": self.household_pattern,
            "agency_code": self.agency_code,
            "ocr_languages": list(self.ocr_languages),
            "blank_pages": self.blank_pages,
            "language": self.language,
            "protection": self.protection,
            "provider": self.provider,
            "retention_days": self.retention_days,
            "warn_days": self.warn_days,
            "keep_original_types": list(self.keep_original_types),
            "path": str(self.path),
        }


def profiles_dir() -> Path:
    """The profiles folder: ``$ESAK_PROFILES``, else the site profiles shipped in the package
    (``esak/data/profiles/``; the repository's ``profiles/`` points there)."""
    chosen = os.environ.get(ENV_PROFILES)
    if chosen:
        return Path(chosen).expanduser()
    return Path(__file__).resolve().parent / "data" / "profiles"


def default_profile() -> Profile:
    """Settings for work that is not tied to a site, such as ``esak inspect`` without --site."""
    return Profile(
        key="default",
        name="Default settings (no site)",
        # Neither of KINDS: no site, so nothing should treat it as a municipality.
        kind="default",
        go_live=None,
        go_live_note=None,
        rollout_order=None,
        departments=DEPARTMENTS,
        household_pattern=DEFAULT_HOUSEHOLD_PATTERN,
        ocr_languages=("deu",),
        blank_pages=BlankPolicy.DROP,
        # The defaults come from this module, not from a profile file.
        path=Path(__file__).resolve(),
    )


def known_keys(directory: Path | None = None) -> list[str]:
    """Site keys that have a profile file in ``directory`` (default: :func:`profiles_dir`)."""
    folder = _existing_dir(directory)
    return sorted(p.stem for p in _profile_files(folder))


def load_profile(key: str, directory: Path | None = None) -> Profile:
    """Load and validate the profile of site ``key``; ConfigError if unknown or faulty.

    A command about one site speaks that site's ``language`` unless --lang or ESAK_LANG
    chose one."""
    folder = _existing_dir(directory)
    # Checked before building a path, so that a key like "../x" never reaches the file system.
    if not _KEY_RE.fullmatch(key):
        raise _unknown_site(key, folder)
    path = folder / f"{key}.toml"
    if not path.is_file():
        raise _unknown_site(key, folder)
    profile = _load_file(path)
    use_profile_language(profile.language)
    return profile


def load_all(directory: Path | None = None) -> list[Profile]:
    """All profiles in ``directory``, by rollout order (unplanned last), then name.

    One faulty file fails the whole call: a rollout overview that silently skips a site
    would look complete when it is not.
    """
    folder = _existing_dir(directory)
    profiles = [_load_file(path) for path in _profile_files(folder)]
    return sorted(profiles, key=_rollout_sort_key)


# --- loading and validation -------------------------------------------------------------


def _existing_dir(directory: Path | None) -> Path:
    folder = directory if directory is not None else profiles_dir()
    if not folder.is_dir():
        raise ConfigError(
            f"the profiles folder {_display(folder)} does not exist",
            f"point {ENV_PROFILES} at the folder that holds the <site>.toml files",
        )
    return folder


def _profile_files(folder: Path) -> list[Path]:
    # Dot files are editor leftovers (.#borken.toml), not profiles.
    return sorted(p for p in folder.glob("*.toml") if not p.name.startswith(".") and p.is_file())


def _unknown_site(key: str, folder: Path) -> ConfigError:
    keys = sorted(p.stem for p in _profile_files(folder))
    remedy = f"known sites: {', '.join(keys)}" if keys else f"{_display(folder)} holds no profiles"
    # People type the town's name ("Schöppingen", "Gronau (Westf.)"); point them to the key.
    guess = _transliterate(key.strip().lower()).split(" ")[0]
    close = difflib.get_close_matches(guess, keys, n=1)
    if close:
        remedy = f"did you mean '{close[0]}'? {remedy}"
    return ConfigError(f"unknown site '{key}'", remedy)


def _transliterate(text: str) -> str:
    for umlaut, ascii_form in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(umlaut, ascii_form)
    return text


def _rollout_sort_key(profile: Profile) -> tuple[bool, int, str, str]:
    order = profile.rollout_order
    # DIN 5007 order (ä as a) so that "Südlohn" sorts among the S names on any locale.
    folded = profile.name.casefold()
    for umlaut, plain in (("ä", "a"), ("ö", "o"), ("ü", "u"), ("ß", "ss")):
        folded = folded.replace(umlaut, plain)
    return (order is None, order or 0, folded, profile.key)


def _display(path: Path) -> str:
    # Relative to the working folder when possible: that is how people named it.
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


class _Problems:
    """Collects every problem of one file, so that one run shows all that needs fixing."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text
        self.items: list[tuple[int | None, str]] = []

    def add(self, what: str, table: str | None = None, key: str | None = None) -> None:
        line = _find_line(self.text, table, key) if table is not None else None
        self.items.append((line, what))

    def raise_if_any(self) -> None:
        if not self.items:
            return
        shown = _display(self.path)
        ordered = sorted(self.items, key=lambda item: (item[0] is None, item[0] or 0))
        message = "\n".join(
            f"{shown}, line {line}: {what}" if line else f"{shown}: {what}"
            for line, what in ordered
        )
        raise ConfigError(message, f"fix the file and run `esak profiles show {self.path.stem}`")


def _load_file(path: Path) -> Profile:
    shown = _display(path)
    remedy = f"fix the file and run `esak profiles show {path.stem}`"
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {shown}: {exc.strerror}", remedy) from exc
    try:
        # Editors on Windows may write a BOM, which TOML does not allow; it is harmless here.
        text = raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{shown}, line {line}: not UTF-8 text", f"save the file as UTF-8, then {remedy}"
        ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line, detail = _toml_error_position(exc, text)
        raise ConfigError(f"{shown}, line {line}: not valid TOML: {detail}", remedy) from exc

    problems = _Problems(path, text)
    if not _KEY_RE.fullmatch(path.stem):
        problems.add(
            f"the file name gives the site key '{path.stem}', but site keys are lower-case "
            "ASCII ([a-z][a-z0-9_-]*, umlauts as ae/oe/ue); rename the file"
        )
    tables = _check_tables(data, problems)
    site, households, scan = tables["site"], tables["households"], tables["scan"]

    name = _string(site, "site", "name", problems)
    kind = _choice(site, "site", "kind", KINDS, problems)
    go_live = _go_live(site, problems)
    note = _string(site, "site", "go_live_note", problems)
    order = _rollout_order(site, problems)
    departments = _departments(site, problems)
    pattern = _household_pattern(households, problems)
    agency_code = _agency_code(households, problems)
    languages = _ocr_languages(scan, problems)
    blank_pages = _choice(scan, "scan", "blank_pages", BLANK_PAGE_POLICIES, problems)
    language = _choice(site, "site", "language", LANGUAGES, problems)
    protection = _choice(scan, "scan", "protection", PROTECTION_LEVELS, problems)
    provider = _string(scan, "scan", "provider", problems)
    release = tables["release"]
    retention = _days(release, "retention_days", RETENTION_DAYS, problems)
    warn = _days(release, "warn_days", WARN_DAYS, problems)
    keep_types = _string_list(release, "release", "keep_original_types", problems) or []
    problems.raise_if_any()

    return Profile(
        key=path.stem,
        name=name or "",
        kind=kind or "",
        go_live=go_live,
        go_live_note=note,
        rollout_order=order,
        departments=departments,
        household_pattern=pattern or DEFAULT_HOUSEHOLD_PATTERN,
        ocr_languages=languages,
        blank_pages=blank_pages or "",
        path=path,
        language=language,
        agency_code=agency_code,
        protection=protection or "normal",
        provider=provider.strip() if provider else None,
        retention_days=retention,
        warn_days=warn,
        keep_original_types=tuple(keep_types),
    )


def _days(table: dict[str, Any], key: str, default: int, problems: _Problems) -> int:
    if key not in table:
        return default
    value = table[key]
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 3650:
        problems.add(
            f"[release] {key} must be a whole number of days from 1 to 3650, not {value!r}",
            "release",
            key,
        )
        return default
    return value


def _toml_error_position(exc: tomllib.TOMLDecodeError, text: str) -> tuple[int, str]:
    message = str(exc)
    line: int | None = None
    found = re.search(r"\s*\(at line (\d+), column (\d+)\)$", message)
    if found:
        line = int(found.group(1))
        detail = f"{message[: found.start()]} (column {found.group(2)})"
    else:
        detail = re.sub(r"\s*\(at end of document\)$", "", message)
    # "Cannot overwrite a value" does not say which key, and sometimes not where.
    duplicate = _find_duplicate_key(text) if message.startswith("Cannot overwrite") else None
    if duplicate is not None:
        line = line or duplicate[0]
        detail = f"{detail}: '{duplicate[1]}' is set twice"
    return line or max(1, len(text.splitlines())), detail


def _check_tables(data: dict[str, Any], problems: _Problems) -> dict[str, dict[str, Any]]:
    """The three tables (empty where absent or wrong), after reporting unknown or missing ones."""
    allowed_tables = ", ".join(f"[{t}]" for t in _SCHEMA)
    tables: dict[str, dict[str, Any]] = {t: {} for t in _SCHEMA}
    for name, value in data.items():
        if name not in _SCHEMA:
            if isinstance(value, dict):
                problems.add(
                    f"unknown table [{name}]; allowed tables: {allowed_tables}", name, None
                )
            else:
                problems.add(
                    f"unknown key '{name}' outside any table; allowed tables: {allowed_tables}",
                    "",
                    name,
                )
            continue
        if not isinstance(value, dict):
            problems.add(f"'{name}' must be a table [{name}], not {_toml_type(value)}", "", name)
            continue
        tables[name] = value
    for table, keys in _SCHEMA.items():
        required = [k for k, needed in keys.items() if needed]
        if table not in data:
            if required:
                problems.add(f"missing table [{table}] (with keys: {', '.join(required)})")
            continue
        if not isinstance(data[table], dict):
            continue
        allowed = ", ".join(keys)
        for key in tables[table]:
            if key not in keys:
                problems.add(f"[{table}] unknown key '{key}'; allowed keys: {allowed}", table, key)
        for key in required:
            if key not in tables[table]:
                problems.add(f"[{table}] missing required key '{key}'", table, None)
    return tables


def _string(table: dict[str, Any], tname: str, key: str, problems: _Problems) -> str | None:
    if key not in table:
        return None
    value = table[key]
    if not isinstance(value, str):
        problems.add(f"[{tname}] {key} must be a string, not {_toml_type(value)}", tname, key)
        return None
    if not value.strip():
        problems.add(f"[{tname}] {key} must not be empty", tname, key)
        return None
    return value


def _choice(
    table: dict[str, Any], tname: str, key: str, allowed: tuple[str, ...], problems: _Problems
) -> str | None:
    value = _string(table, tname, key, problems)
    if value is None:
        return None
    if value not in allowed:
        choices = " or ".join(f'"{a}"' for a in allowed)
        problems.add(f"[{tname}] {key} {value!r} is not allowed; use {choices}", tname, key)
        return None
    return value


def _go_live(site: dict[str, Any], problems: _Problems) -> datetime.date | None:
    if "go_live" not in site:
        return None
    value = site["go_live"]
    # datetime is a subclass of date: a go-live with a time of day is a different kind of value.
    if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
        return value
    if value == UNPLANNED:
        return None
    hint = 'use a TOML date without quotes, like 2021-03-01, or the string "unplanned"'
    if isinstance(value, str):
        problems.add(f"[site] go_live {value!r} is not a date; {hint}", "site", "go_live")
    else:
        problems.add(
            f"[site] go_live must be a date, not {_toml_type(value)}; {hint}", "site", "go_live"
        )
    return None


def _rollout_order(site: dict[str, Any], problems: _Problems) -> int | None:
    if "rollout_order" not in site:
        return None
    value = site["rollout_order"]
    # bool is a subclass of int, but `rollout_order = true` is a mistake, not 1.
    if not isinstance(value, int) or isinstance(value, bool):
        problems.add(
            f"[site] rollout_order must be an integer, not {_toml_type(value)}",
            "site",
            "rollout_order",
        )
        return None
    if value < 1:
        problems.add(
            f"[site] rollout_order must be a positive integer, not {value}",
            "site",
            "rollout_order",
        )
        return None
    return value


def _string_list(
    table: dict[str, Any], tname: str, key: str, problems: _Problems
) -> list[str] | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.add(
            f'[{tname}] {key} must be an array of strings, like ["x"], not {_toml_type(value)}',
            tname,
            key,
        )
        return None
    if not value:
        problems.add(f"[{tname}] {key} must not be empty", tname, key)
        return None
    duplicates = sorted({v for v in value if value.count(v) > 1})
    if duplicates:
        problems.add(f"[{tname}] {key} lists {duplicates[0]!r} twice", tname, key)
        return None
    return value


def _departments(site: dict[str, Any], problems: _Problems) -> tuple[str, ...]:
    values = _string_list(site, "site", "departments", problems)
    if values is None:
        return ()
    unknown = [v for v in values if v not in DEPARTMENTS]
    if unknown:
        allowed = ", ".join(f'"{d}"' for d in DEPARTMENTS)
        problems.add(
            f"[site] departments: unknown department {unknown[0]!r}; allowed values: {allowed}",
            "site",
            "departments",
        )
        return ()
    return tuple(values)


def _household_pattern(households: dict[str, Any], problems: _Problems) -> str | None:
    pattern = _string(households, "households", "pattern", problems)
    if pattern is None:
        return None
    try:
        re.compile(pattern)
    except re.error as exc:
        problems.add(
            f"[households] pattern '{pattern}' is not a valid regular expression ({exc.msg})",
            "households",
            "pattern",
        )
        return None
    # Matching uses fullmatch anyway; the anchors are required so that the file says what
    # it means to a reader, who would otherwise take '\d{5}BG' for a substring search.
    starts = pattern.startswith(("^", r"\A"))
    ends = (pattern.endswith("$") and not _escaped_last(pattern)) or pattern.endswith(r"\Z")
    if not (starts and ends):
        problems.add(
            f"[households] pattern '{pattern}' must be anchored: start it with ^ and end it "
            f"with $, like '{DEFAULT_HOUSEHOLD_PATTERN}'",
            "households",
            "pattern",
        )
        return None
    return pattern


def _agency_code(households: dict[str, Any], problems: _Problems) -> str | None:
    """The optional agency code: ASCII letters and digits that begin every household number.

    Pinning it tells one site's numbers from another's where the pattern alone cannot
    (the default pattern accepts any five-digit agency).
    """
    code = _string(households, "households", "agency_code", problems)
    if code is None:
        return None
    if not (code.isascii() and code.isalnum()):
        problems.add(
            f'[households] agency_code {code!r} must be ASCII letters and digits, e.g. "95401"',
            "households",
            "agency_code",
        )
        return None
    return code


def _escaped_last(pattern: str) -> bool:
    # '\$' is a literal dollar sign, '\\$' a backslash and then the anchor.
    backslashes = len(pattern[:-1]) - len(pattern[:-1].rstrip("\\"))
    return backslashes % 2 == 1


def _ocr_languages(scan: dict[str, Any], problems: _Problems) -> tuple[str, ...]:
    values = _string_list(scan, "scan", "ocr_languages", problems)
    if values is None:
        return ()
    bad = [v for v in values if not _OCR_LANGUAGE_RE.fullmatch(v)]
    if bad:
        problems.add(
            f"[scan] ocr_languages: {bad[0]!r} is not a tesseract language code "
            '(lower-case letters and _, like "deu" or "deu_latf")',
            "scan",
            "ocr_languages",
        )
        return ()
    return tuple(values)


_TOML_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a float"),
    (str, "a string"),
    (list, "an array"),
    (dict, "a table"),
    (datetime.datetime, "a date-time"),
    (datetime.date, "a date"),
    (datetime.time, "a time"),
)


def _toml_type(value: object) -> str:
    # Named as TOML names them: the people who edit profiles know TOML, not Python.
    for python_type, toml_name in _TOML_TYPES:
        if isinstance(value, python_type):
            return toml_name
    return type(value).__name__


# --- finding the line of a key -------------------------------------------------------------
# tomllib gives no positions for values, so semantic errors are located by scanning the text.
# Good enough for hand-written profiles: each key appears once per table, and the scan does
# not try to understand multi-line strings.

_HEADER_RE = re.compile(r"^\s*\[\[?\s*([^\[\]#]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY_LINE_RE = re.compile(r"""^\s*("[^"]*"|'[^']*'|[A-Za-z0-9_-]+)\s*[=.]""")


def _normalize_table(name: str) -> str:
    parts = [part.strip().strip("\"'") for part in name.split(".")]
    return ".".join(parts)


def _scan_lines(text: str) -> list[tuple[int, str, str | None, str | None]]:
    """(line number, current table, header name or None, key or None) for each line."""
    rows: list[tuple[int, str, str | None, str | None]] = []
    table = ""
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER_RE.match(line)
        if header:
            table = _normalize_table(header.group(1))
            rows.append((number, table, table, None))
            continue
        key = _KEY_LINE_RE.match(line)
        rows.append((number, table, None, key.group(1).strip("\"'") if key else None))
    return rows


def _find_line(text: str, table: str, key: str | None) -> int | None:
    """Line of ``key`` inside ``[table]`` ("" = top level), or of the table's header."""
    for number, current, header, found_key in _scan_lines(text):
        if key is None:
            if header is not None and (header == table or header.startswith(table + ".")):
                return number
            continue
        # A sub-table [site.extra] is the key 'extra' of [site].
        if header is not None and table and header.split(".")[:2] == [table, key]:
            return number
        if header is None and current == table and found_key == key:
            return number
    return None


def _find_duplicate_key(text: str) -> tuple[int, str] | None:
    seen: set[tuple[str, str]] = set()
    for number, table, header, key in _scan_lines(text):
        if header is not None or key is None:
            continue
        if (table, key) in seen:
            return number, key
        seen.add((table, key))
    return None

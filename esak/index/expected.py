"""The expected list (Soll-Liste): which households a site's paper files must yield.

It comes as a CSV export from the specialist procedure, often opened and re-saved in Excel,
so it may be UTF-8 (with or without BOM) or Windows-1252, separated by ``;`` or ``,``.
Rows that do not parse are reported by line number and skipped; the rest still load.

Personal names are stored in the index but never appear in a reason, an error or the
JSON report: those end up in logs and tickets.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esak.errors import ExitCode, InputError
from esak.index.audit import now as now_utc
from esak.index.audit import recorded_run
from esak.index.db import Index

HouseholdCheck = Callable[[str], bool]

DELIMITERS = (";", ",")
MAX_VOLUMES = 999

# Header names (compared case-insensitively, after stripping whitespace) → our column.
_COLUMN_ALIASES = {
    "household": "household",
    "bg-nummer": "household",
    "name": "name",
    "status": "status",
    "volumes": "volumes",
    "bände": "volumes",
    "baende": "volumes",
}

_REMEDY_SAVE_AS = "in Excel use File → Save As → 'CSV UTF-8' or 'CSV (semicolon separated)'"


@dataclass(frozen=True)
class ExpectedRow:
    household: str
    name: str | None
    status: str | None
    volumes: int | None
    #: Physical line in the file where the row starts (header = line 1).
    line: int


@dataclass(frozen=True)
class RowProblem:
    line: int
    #: Names the household number where there is one, never a person's name.
    reason: str
    #: The row's household number if it was a valid one (the row failed for another reason).
    household: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "reason": self.reason}


@dataclass
class ParsedList:
    rows: list[ExpectedRow]
    problems: list[RowProblem]
    encoding: str
    delimiter: str

    @property
    def rows_read(self) -> int:
        """Data rows in the file, good and bad (blank lines not counted)."""
        return len(self.rows) + len(self.problems)


@dataclass
class ExpectedImport:
    site: str
    file: str
    encoding: str
    delimiter: str
    rows_read: int
    added: int
    updated: int
    unchanged: int
    removed: int
    rejected: list[RowProblem] = field(default_factory=list)
    #: Households of the site in the index after the import.
    total_expected: int = 0
    sha256: str = ""

    @property
    def ok(self) -> bool:
        return not self.rejected

    @property
    def exit_code(self) -> ExitCode:
        """0 when all is well, 1 (problems) otherwise: for the CLI and the run log alike."""
        return ExitCode.OK if self.ok else ExitCode.PROBLEMS

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "file": self.file,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "rows_read": self.rows_read,
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "rejected": [problem.to_dict() for problem in self.rejected],
            "total_expected": self.total_expected,
        }


def parse_expected_csv(path: Path, is_household: HouseholdCheck) -> ParsedList:
    """Read an expected list. Bad rows land in ``problems``; a bad file raises InputError."""
    return _parse(_read(Path(path)), Path(path), is_household)


def import_expected(
    index: Index,
    site: str,
    path: Path,
    is_household: HouseholdCheck,
    replace: bool = False,
) -> ExpectedImport:
    """Load an expected list (see :func:`_import_expected`), recorded in the audit log."""
    options = {"file": str(Path(path).absolute()), "replace": replace}
    with recorded_run(index, "expected import", site, options) as run:
        result = _import_expected(index, site, path, is_household, replace)
        run.finish(result.exit_code)
        return result


def _import_expected(
    index: Index,
    site: str,
    path: Path,
    is_household: HouseholdCheck,
    replace: bool,
) -> ExpectedImport:
    """Load an expected list into the index for ``site``, in one transaction.

    Households already listed with the same name, status and volumes are left untouched
    (their ``imported_at`` too), so importing the same list twice changes nothing. With
    ``replace``, households of the site missing from this list are removed — except those
    whose row was rejected for a reason other than the household number, since the list
    does name them. A replace is refused (InputError, nothing changed) when the list has no
    valid rows, or a rejected row has no readable household number.
    """
    path = Path(path)
    data = _read(path)
    # Hash the very bytes we parse, so the recorded checksum is the list that was loaded.
    sha256 = hashlib.sha256(data).hexdigest()
    parsed = _parse(data, path, is_household)
    source = str(path.absolute())
    now = now_utc()

    listed = {row.household for row in parsed.rows}
    kept_despite_errors = {p.household for p in parsed.problems if p.household}
    if replace:
        _check_replace(parsed, path, site, listed | kept_despite_errors)

    with index.transaction() as db:
        conn = db.conn
        existing = {
            household: (name, status, volumes)
            for household, name, status, volumes in conn.execute(
                "SELECT household, name, status, volumes FROM expected WHERE site = ?",
                (site,),
            )
        }
        to_insert: list[tuple[Any, ...]] = []
        to_update: list[tuple[Any, ...]] = []
        unchanged = 0
        for row in parsed.rows:
            values = (row.name, row.status, row.volumes)
            before = existing.get(row.household)
            if before is None:
                to_insert.append((site, row.household, *values, source, row.line, now))
            elif before != values:
                to_update.append((*values, source, row.line, now, site, row.household))
            else:
                unchanged += 1
        conn.executemany(
            "INSERT INTO expected (site, household, name, status, volumes, "
            "source_file, source_line, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            to_insert,
        )
        conn.executemany(
            "UPDATE expected SET name = ?, status = ?, volumes = ?, source_file = ?, "
            "source_line = ?, imported_at = ? WHERE site = ? AND household = ?",
            to_update,
        )
        to_remove: list[str] = []
        if replace:
            to_remove = sorted(set(existing) - listed - kept_despite_errors)
            conn.executemany(
                "DELETE FROM expected WHERE site = ? AND household = ?",
                [(site, household) for household in to_remove],
            )
        total = conn.execute("SELECT count(*) FROM expected WHERE site = ?", (site,)).fetchone()[0]
        result = ExpectedImport(
            site=site,
            file=source,
            encoding=parsed.encoding,
            delimiter=parsed.delimiter,
            rows_read=parsed.rows_read,
            added=len(to_insert),
            updated=len(to_update),
            unchanged=unchanged,
            removed=len(to_remove),
            rejected=list(parsed.problems),
            total_expected=int(total),
            sha256=sha256,
        )
        db["expected_imports"].insert(
            {
                "site": site,
                "file": source,
                "sha256": sha256,
                "encoding": parsed.encoding,
                "delimiter": parsed.delimiter,
                "rows_read": result.rows_read,
                "added": result.added,
                "updated": result.updated,
                "unchanged": result.unchanged,
                "removed": result.removed,
                "rejected": len(result.rejected),
                "imported_at": now,
            }
        )
    return result


def _check_replace(parsed: ParsedList, path: Path, site: str, named: set[str]) -> None:
    """Refuse a --replace that could remove a household the list meant to keep."""
    if not named:
        raise InputError(
            f"{path} has no valid rows; refusing to replace the expected list of site "
            f"{site!r} with nothing",
            "fix the rows reported above, or import without --replace",
        )
    # A rejected row without a readable household number may be any household; removing
    # "the rest" would then drop it from the list without anyone having decided so.
    unknown = [p.line for p in parsed.problems if p.household is None]
    if unknown:
        lines = ", ".join(str(line) for line in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise InputError(
            f"{path}: refusing to replace the expected list of site {site!r}: the rows on "
            f"line(s) {lines}{more} were rejected without a readable household number, "
            "so esak cannot tell which households the list keeps; nothing was changed",
            "fix those rows and import again, or import without --replace",
        )


def expected_households(index: Index, site: str) -> list[str]:
    """The household numbers expected for ``site``, sorted."""
    return [
        household
        for (household,) in index.db.conn.execute(
            "SELECT household FROM expected WHERE site = ? ORDER BY household", (site,)
        )
    ]


# --- reading -------------------------------------------------------------------------------


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise InputError(
            f"the expected list {path} does not exist", "check the file name and folder"
        ) from exc
    except IsADirectoryError as exc:
        raise InputError(
            f"{path} is a folder, not an expected list", "name the CSV file inside it"
        ) from exc
    except PermissionError as exc:
        raise InputError(
            f"cannot read the expected list {path}: permission denied",
            "copy the file somewhere you can read it, or ask for read access",
        ) from exc
    except OSError as exc:
        raise InputError(
            f"cannot read the expected list {path}: {exc.strerror}",
            "check the file and the drive it is on",
        ) from exc


def _decode(data: bytes, path: Path) -> tuple[str, str]:
    """The text and the name of its encoding; strict UTF-8 first, Excel's cp1252 after."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(
            f"{path} is UTF-16 text (Excel's 'Unicode Text'), not a CSV file esak can read",
            _REMEDY_SAVE_AS,
        )
    if data.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise InputError(f"{path} is an Excel workbook, not a CSV file", _REMEDY_SAVE_AS)
    if b"\x00" in data:
        raise InputError(
            f"{path} is a binary file (it contains NUL bytes), not a CSV file",
            "export the expected list from the specialist procedure as CSV",
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        if text.startswith("\ufeff"):
            return text[1:], "utf-8-sig"
        return text, "utf-8"
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path} is neither UTF-8 nor Windows-1252 text "
            f"(byte 0x{data[exc.start]:02X} at offset {exc.start})",
            _REMEDY_SAVE_AS,
        ) from exc


def _is_blank(fields: list[str]) -> bool:
    # Excel pads empty rows with delimiters (";;;"): still blank, not data.
    return not any(f.strip() for f in fields)


def _header_columns(header: list[str]) -> dict[str, int]:
    return {
        _COLUMN_ALIASES[cell.strip().casefold()]: position
        for position, cell in enumerate(header)
        if cell.strip().casefold() in _COLUMN_ALIASES
    }


def _split(line: str, delimiter: str) -> list[str]:
    return next(csv.reader([line], delimiter=delimiter), [])


def _choose_delimiter(
    header_line: str, body: str, path: Path, line_no: int, is_household: HouseholdCheck
) -> str:
    fits = [d for d in DELIMITERS if "household" in _header_columns(_split(header_line, d))]
    if len(fits) == 1:
        return fits[0]
    if fits:
        # A header of one column splits either way; the data rows decide.
        return max(DELIMITERS, key=lambda d: (d in header_line, body.count(d), d == ";"))
    split = {d: _split(header_line, d) for d in DELIMITERS}
    if any(is_household(cell.strip()) for cells in split.values() for cell in cells):
        # Never echo this line: it is a data row and may hold a person's name.
        raise InputError(
            f"{path}: line {line_no} is a data row: the file has no header row",
            "add a first line naming the columns, e.g. household;name;status;volumes",
        )
    cells = max(split.values(), key=len)
    found = ", ".join(repr(_clip(cell.strip())) for cell in cells) or "none"
    raise InputError(
        f"{path}: no 'household' or 'BG-Nummer' column in the header on line {line_no} "
        f"(columns found: {found}; tried ';' and ',' as separators)",
        "name the column with the household numbers 'household' or 'BG-Nummer'",
    )


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _parse(data: bytes, path: Path, is_household: HouseholdCheck) -> ParsedList:
    text, encoding = _decode(data, path)
    stream = io.StringIO(text, newline="")

    # Find the header: the first non-blank line, after Excel's optional "sep=;" hint.
    line_no = 0
    forced: str | None = None
    header_line = ""
    for raw in iter(stream.readline, ""):
        line_no += 1
        line = raw.rstrip("\r\n")
        match = re.fullmatch(r"\s*sep=(.)\s*", line, flags=re.IGNORECASE)
        if match and forced is None and match.group(1) in DELIMITERS:
            forced = match.group(1)
            continue
        if re.sub(r'[\s;,"]', "", line):
            header_line = line
            break
    if not header_line:
        raise InputError(f"{path} is empty: it has no header and no rows", _export_remedy())

    delimiter = forced or _choose_delimiter(header_line, text, path, line_no, is_household)
    header = _split(header_line, delimiter)
    columns = _header_columns(header)
    if "household" not in columns:
        raise InputError(
            f"{path}: the 'sep={delimiter}' line says the separator is {delimiter!r}, but the "
            f"header on line {line_no} has no 'household' or 'BG-Nummer' column when split at it",
            "delete the 'sep=' line or correct it",
        )
    _reject_duplicate_columns(header, path, line_no)

    rows: list[ExpectedRow] = []
    problems: list[RowProblem] = []
    first_seen: dict[str, int] = {}
    header_line_no = line_no
    reader = csv.reader(stream, delimiter=delimiter)
    consumed = 0  # reader.line_num before the current record
    while True:
        start = header_line_no + consumed + 1
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(
                RowProblem(
                    start,
                    f"cannot be read as CSV ({exc}); the rest of the file from here on "
                    "was not read — look for a double quote without its closing quote",
                )
            )
            break
        end = header_line_no + reader.line_num
        consumed = reader.line_num
        if _is_blank(fields):
            continue
        outcome = _check_row(fields, len(header), columns, start, first_seen, is_household)
        if isinstance(outcome, RowProblem):
            if end > start:
                # Other rows may have been swallowed into this one, so the household it
                # names does not stand for the whole span: leave it unattributed.
                outcome = RowProblem(
                    outcome.line,
                    f"{outcome.reason} (this row runs over lines {start}–{end}: "
                    "a double quote may be missing its closing quote)",
                )
            problems.append(outcome)
        else:
            rows.append(outcome)
    return ParsedList(rows=rows, problems=problems, encoding=encoding, delimiter=delimiter)


def _export_remedy() -> str:
    return "export the expected list again from the specialist procedure"


def _reject_duplicate_columns(header: list[str], path: Path, line_no: int) -> None:
    seen: dict[str, int] = {}
    for position, cell in enumerate(header, start=1):
        column = _COLUMN_ALIASES.get(cell.strip().casefold())
        if column is None:
            continue
        if column in seen:
            raise InputError(
                f"{path}: the header on line {line_no} has the {column} column twice "
                f"(columns {seen[column]} and {position})",
                "delete or rename one of them",
            )
        seen[column] = position


def _check_row(
    fields: list[str],
    width: int,
    columns: dict[str, int],
    line: int,
    first_seen: dict[str, int],
    is_household: HouseholdCheck,
) -> ExpectedRow | RowProblem:
    """The row, or the first thing wrong with it."""

    def value(column: str) -> str | None:
        position = columns.get(column)
        text = fields[position].strip() if position is not None and position < len(fields) else ""
        return text or None

    if len(fields) != width:
        # The household column usually comes first, before any shifted field; if it holds a
        # valid number, name it, so the user finds the row and --replace keeps the household.
        household = value("household")
        known = household if household is not None and is_household(household) else None
        prefix = f"household {known}: " if known else ""
        return RowProblem(
            line,
            f"{prefix}has {len(fields)} fields, the header has {width} — a value that "
            "contains the separator must be in double quotes",
            known,
        )

    household = value("household")
    if household is None:
        return RowProblem(line, "no household number")
    if not is_household(household):
        if any(ch.isdigit() for ch in household):
            shown = repr(_clip(household))
            return RowProblem(
                line, f"household {shown} does not match the site's household-number pattern"
            )
        # No digit at all: most likely a name in the wrong column, which must not be echoed.
        return RowProblem(
            line,
            "the household column holds text that is not a household number "
            "(not shown: it may be a name); it does not match the site's pattern",
        )
    earlier = first_seen.setdefault(household, line)
    if earlier != line:
        return RowProblem(
            line, f"household {household} is listed twice: already on line {earlier}", household
        )

    volumes_text = value("volumes")
    volumes: int | None = None
    if volumes_text is not None:
        if not re.fullmatch(r"[0-9]+", volumes_text) or not (1 <= int(volumes_text) <= MAX_VOLUMES):
            return RowProblem(
                line,
                f"household {household}: volumes {_clip(volumes_text, 12)!r} is not a whole "
                f"number from 1 to {MAX_VOLUMES}",
                household,
            )
        volumes = int(volumes_text)

    return ExpectedRow(
        household=household,
        name=value("name"),
        status=value("status"),
        volumes=volumes,
        line=line,
    )

"""The expected list (Soll-Liste): which households a site's paper files must yield.

It comes as a CSV export from the specialist procedure, often opened and re-saved in Excel,
so it may be UTF-8 (with or without BOM) or Windows-1252, separated by ``;`` or ``,``.
Rows that do not parse are reported by line number and skipped; the rest still load.

A person's name is never kept (data minimisation, SGB X § 67c): a ``name`` column is
recognised, so that a list exported with one is read as it is, and its cells are dropped as
the row is parsed. No name is stored, logged, shown or put into a reason: reasons name
households by number and lines by their number.

A list is easy to get wrong: another site's export, the wrong column, an old file with
households whose paper is already scanned. An import is refused (``force`` overrides) when
most of its numbers do not fit the site or are expected at another site, and a replace or
a removal never drops a household that already has archived documents without ``force``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esak.errors import ExitCode, InputError, ProblemsError, UsageError
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

#: The optional columns, as the index stores them; a list without one leaves it as it was.
#: (``name`` is read, never stored.)
OPTIONAL_COLUMNS = ("status", "volumes")

#: Households named in a message before "and N more".
_SHOW = 10


@dataclass(frozen=True)
class ExpectedRow:
    household: str
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
    #: The household column holds something that is not a household number of the site.
    misfit: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "reason": self.reason}


@dataclass
class ParsedList:
    rows: list[ExpectedRow]
    problems: list[RowProblem]
    encoding: str
    delimiter: str
    #: The columns the header names (``household`` and any of :data:`OPTIONAL_COLUMNS`).
    columns: frozenset[str] = frozenset({"household"})

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
    #: Nothing was changed: the counts and lists say what the import would do.
    dry_run: bool = False
    #: The households added, updated and removed (or that would be, in a dry run).
    added_households: list[str] = field(default_factory=list)
    updated_households: list[str] = field(default_factory=list)
    removed_households: list[str] = field(default_factory=list)
    #: What ``force`` let through that would have been refused, one sentence each.
    forced: list[str] = field(default_factory=list)

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
            "dry_run": self.dry_run,
            "changes": {
                "added": self.added_households,
                "updated": self.updated_households,
                "removed": self.removed_households,
            },
            "forced": self.forced,
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
    *,
    force: bool = False,
    dry_run: bool = False,
) -> ExpectedImport:
    """Load an expected list (see :func:`_import_expected`), recorded in the audit log.

    ``dry_run``: the same checks and the same result, but nothing is changed or recorded
    (the index may be one opened read-only).
    """
    if dry_run:
        return _import_expected(index, site, path, is_household, replace, force, dry_run=True)
    options = {"file": str(Path(path).absolute()), "replace": replace, "force": force}
    with recorded_run(index, "expected import", site, options) as run:
        result = _import_expected(index, site, path, is_household, replace, force)
        run.finish(result.exit_code)
        return result


@dataclass
class _Plan:
    """What an import changes, computed from the index as it is."""

    insert: list[tuple[Any, ...]]
    update: list[tuple[Any, ...]]
    unchanged: int
    remove: list[str]


def _import_expected(
    index: Index,
    site: str,
    path: Path,
    is_household: HouseholdCheck,
    replace: bool,
    force: bool = False,
    dry_run: bool = False,
) -> ExpectedImport:
    """Load an expected list into the index for ``site``, in one transaction.

    Households already listed with the same status and volumes are left untouched
    (their ``imported_at`` too), so importing the same list twice changes nothing. An
    optional column the list does not have leaves that field as it is. With ``replace``,
    households of the site missing from this list are removed — except those whose row was
    rejected for a reason other than the household number, since the list does name them.
    A replace is refused (InputError, nothing changed) when the list has no valid rows, or a
    rejected row has no readable household number.

    Refused unless ``force`` (nothing changed): a list whose numbers mostly do not fit the
    site, or are mostly expected at another site (InputError: the wrong file for this site);
    a replace that would remove households with archived documents (ProblemsError: someone
    must decide).
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
    conn = index.db.conn
    forced: list[str] = []

    def plan_and_check() -> _Plan:
        forced.extend(_check_site(conn, parsed, path, site, force))
        plan = _plan(conn, site, parsed, source, now, replace, listed | kept_despite_errors)
        archived = _with_documents(conn, site, plan.remove)
        if archived:
            what = (
                f"--replace would remove {len(archived)} household(s) of site {site!r} that "
                f"already have archived documents: {_some(archived)}"
            )
            if not force:
                raise ProblemsError(
                    f"{path}: {what}; nothing was changed",
                    "keep them in the list; to take them off the expected list anyway (their "
                    "documents stay archived, verify then reports them as unexpected), add "
                    "--force",
                )
            forced.append(what)
        return plan

    def result_of(plan: _Plan, total: int) -> ExpectedImport:
        return ExpectedImport(
            site=site,
            file=source,
            encoding=parsed.encoding,
            delimiter=parsed.delimiter,
            rows_read=parsed.rows_read,
            added=len(plan.insert),
            updated=len(plan.update),
            unchanged=plan.unchanged,
            removed=len(plan.remove),
            rejected=list(parsed.problems),
            total_expected=total,
            sha256=sha256,
            dry_run=dry_run,
            added_households=sorted(row[1] for row in plan.insert),
            updated_households=sorted(row[-1] for row in plan.update),
            removed_households=plan.remove,
            forced=forced,
        )

    if dry_run:
        plan = plan_and_check()
        total = _count(conn, site) + len(plan.insert) - len(plan.remove)
        return result_of(plan, total)

    with index.transaction() as db:
        # Checked and planned inside the transaction: on the index as it is now.
        plan = plan_and_check()
        conn.executemany(
            "INSERT INTO expected (site, household, status, volumes, "
            "source_file, source_line, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            plan.insert,
        )
        conn.executemany(
            "UPDATE expected SET status = ?, volumes = ?, source_file = ?, "
            "source_line = ?, imported_at = ? WHERE site = ? AND household = ?",
            plan.update,
        )
        conn.executemany(
            "DELETE FROM expected WHERE site = ? AND household = ?",
            [(site, household) for household in plan.remove],
        )
        result = result_of(plan, _count(conn, site))
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


def _plan(
    conn: Any,
    site: str,
    parsed: ParsedList,
    source: str,
    now: str,
    replace: bool,
    named: set[str],
) -> _Plan:
    existing = {
        household: (status, volumes)
        for household, status, volumes in conn.execute(
            "SELECT household, status, volumes FROM expected WHERE site = ?", (site,)
        )
    }
    present = [column in parsed.columns for column in OPTIONAL_COLUMNS]
    insert: list[tuple[Any, ...]] = []
    update: list[tuple[Any, ...]] = []
    unchanged = 0
    for row in parsed.rows:
        listed = (row.status, row.volumes)
        before = existing.get(row.household)
        if before is None:
            insert.append((site, row.household, *listed, source, row.line, now))
            continue
        # A column the list does not have says nothing about that field: keep it.
        values = tuple(
            new if has else old for new, old, has in zip(listed, before, present, strict=True)
        )
        if before != values:
            update.append((*values, source, row.line, now, site, row.household))
        else:
            unchanged += 1
    remove = sorted(set(existing) - named) if replace else []
    return _Plan(insert, update, unchanged, remove)


def _count(conn: Any, site: str) -> int:
    return int(conn.execute("SELECT count(*) FROM expected WHERE site = ?", (site,)).fetchone()[0])


def _some(households: list[str]) -> str:
    """At most :data:`_SHOW` household numbers, then how many more."""
    shown = ", ".join(households[:_SHOW])
    more = len(households) - _SHOW
    return f"{shown} and {more} more" if more > 0 else shown


def _query_in(conn: Any, sql: str, site: str, households: list[str]) -> Iterator[Any]:
    """The rows of ``sql`` (``?`` the site, ``{marks}`` the households), asked in chunks:
    SQLite limits the parameters of one statement."""
    for start in range(0, len(households), 500):
        chunk = households[start : start + 500]
        yield from conn.execute(sql.format(marks=", ".join("?" * len(chunk))), [site, *chunk])


def _with_documents(conn: Any, site: str, households: list[str]) -> list[str]:
    """Those of ``households`` that have archived documents at ``site``, sorted."""
    sql = "SELECT DISTINCT household FROM documents WHERE site = ? AND household IN ({marks})"
    return sorted({h for (h,) in _query_in(conn, sql, site, households)})


def _check_site(conn: Any, parsed: ParsedList, path: Path, site: str, force: bool) -> list[str]:
    """Refuse a list that does not look like this site's; with ``force``, say what passed.

    More than half of its rows without a household number of the site (pattern, agency
    code), or more than half of its households expected at another site: the wrong file.
    """
    forced: list[str] = []
    misfits = sum(1 for p in parsed.problems if p.misfit)
    if misfits * 2 > parsed.rows_read:
        what = (
            f"{misfits} of {parsed.rows_read} rows hold no household number of site {site!r} "
            f"(see its pattern: esak profiles show {site})"
        )
        if not force:
            raise InputError(
                f"{path}: {what}: this looks like another site's list, or the wrong column "
                "read as household numbers; nothing was changed",
                "check the file and --site; to import the rows that fit anyway, add --force",
            )
        forced.append(what)
    households = [row.household for row in parsed.rows]
    sql = "SELECT household, site FROM expected WHERE site != ? AND household IN ({marks})"
    foreign: dict[str, set[str]] = {}
    for household, other in _query_in(conn, sql, site, households):
        foreign.setdefault(other, set()).add(household)
    count = len(set().union(*foreign.values())) if foreign else 0
    if count * 2 > len(households):
        sites = ", ".join(f"{other} ({len(hs)})" for other, hs in sorted(foreign.items()))
        likely = max(foreign, key=lambda other: len(foreign[other]))
        what = (
            f"{count} of the {len(households)} households of this list are already expected "
            f"at another site: {sites}"
        )
        if not force:
            raise InputError(
                f"{path}: {what}; this looks like another site's list; nothing was changed",
                f"check --site (is it the list of {likely}?); if these households belong to "
                f"site {site!r} as well, add --force",
            )
        forced.append(what)
    return forced


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


def list_expected(index: Index, site: str) -> dict[str, Any]:
    """The site's expected list as scripts and people see it: every column it keeps, and how
    many documents each household has archived at the site."""
    keys = ("household", "status", "volumes", "documents", "source_file", "source_line",
            "imported_at")  # fmt: skip
    rows = index.db.conn.execute(
        "SELECT e.household, e.status, e.volumes, "
        "(SELECT COUNT(*) FROM documents d WHERE d.site = e.site AND d.household = e.household), "
        "e.source_file, e.source_line, e.imported_at FROM expected e WHERE e.site = ? "
        "ORDER BY e.household",
        (site,),
    ).fetchall()
    return {
        "site": site,
        "total": len(rows),
        "households": [dict(zip(keys, row, strict=True)) for row in rows],
    }


@dataclass
class ExpectedRemoval:
    site: str
    removed: list[str]
    #: Named, but not on the site's expected list (nothing to remove).
    not_expected: list[str]
    total_expected: int
    #: Removed although they have archived documents (``force``).
    with_documents: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        """1 when a named household was not on the list: perhaps a typo to look at."""
        return ExitCode.PROBLEMS if self.not_expected else ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "removed": self.removed,
            "not_expected": self.not_expected,
            "with_documents": self.with_documents,
            "total_expected": self.total_expected,
        }


def remove_expected(
    index: Index,
    site: str,
    households: list[str],
    is_household: HouseholdCheck,
    *,
    force: bool = False,
) -> ExpectedRemoval:
    """Take ``households`` off the site's expected list, in one transaction; recorded.

    A text that is not a household number of the site is a usage error; a household that
    has archived documents is refused (ProblemsError, nothing removed) unless ``force``.
    """
    wrong = [h for h in households if not is_household(h)]
    if wrong:
        raise UsageError(
            f"not a household number of site {site!r}: {', '.join(map(repr, wrong[:_SHOW]))}",
            f"name households as printed on the cover sheet (see esak profiles show {site})",
        )
    named = sorted(set(households))
    options = {"households": named, "force": force}
    with recorded_run(index, "expected remove", site, options) as run:
        with index.transaction() as db:
            conn = db.conn
            sql = "SELECT household FROM expected WHERE site = ? AND household IN ({marks})"
            present = sorted({h for (h,) in _query_in(conn, sql, site, named)})
            archived = _with_documents(conn, site, present)
            if archived and not force:
                raise ProblemsError(
                    f"{len(archived)} of these household(s) of site {site!r} already have "
                    f"archived documents: {_some(archived)}; nothing was removed",
                    "leave them on the list; to take them off anyway (their documents stay "
                    "archived, verify then reports them as unexpected), add --force",
                )
            conn.executemany(
                "DELETE FROM expected WHERE site = ? AND household = ?",
                [(site, h) for h in present],
            )
            result = ExpectedRemoval(
                site=site,
                removed=present,
                not_expected=sorted(set(named) - set(present)),
                total_expected=_count(conn, site),
                with_documents=archived,
            )
        run.finish(result.exit_code)
    return result


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
    return ParsedList(
        rows=rows,
        problems=problems,
        encoding=encoding,
        delimiter=delimiter,
        columns=frozenset(columns),
    )


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
                line,
                f"household {shown} does not match the site's household-number pattern",
                misfit=True,
            )
        # No digit at all: most likely a name in the wrong column, which must not be echoed.
        return RowProblem(
            line,
            "the household column holds text that is not a household number "
            "(not shown: it may be a name); it does not match the site's pattern",
            misfit=True,
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
        status=value("status"),
        volumes=volumes,
        line=line,
    )

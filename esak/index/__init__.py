"""The index: what esak knows about a workspace, kept in one SQLite database."""

from esak.index.db import MIGRATIONS, Index, schema_version
from esak.index.expected import (
    ExpectedImport,
    ExpectedRow,
    ParsedList,
    RowProblem,
    expected_households,
    import_expected,
    parse_expected_csv,
)

__all__ = [
    "MIGRATIONS",
    "ExpectedImport",
    "ExpectedRow",
    "Index",
    "ParsedList",
    "RowProblem",
    "expected_households",
    "import_expected",
    "parse_expected_csv",
    "schema_version",
]

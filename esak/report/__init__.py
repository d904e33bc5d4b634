"""What esak shows people: terminal output, HTML and CSV reports.

``tables`` defines each table once (title, columns, rows); ``terminal``, ``html`` and
``csvfile`` render it. Nothing here decides anything: it shows what the library returned, and
names households by number only. A new report adds its table to ``tables`` and a function to
each renderer it appears in.
"""

from __future__ import annotations

from pathlib import Path

from esak.atomic import write_atomic


def write_report(path: Path, text: str, *, bom: bool = False) -> Path:
    """Write a report owner-only, atomically: a reader never sees half a file."""
    data = (("\ufeff" if bom else "") + text).encode("utf-8")
    return write_atomic(path, lambda fh: fh.write(data))

"""What an ingest reports while it runs: counts for a progress bar, and each finished file
for the log a migration team reads in the morning."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FileDone:
    """One file of the delivery finished: what the morning log shows of it."""

    file: str
    outcome: str  # ingested, quarantined, duplicate
    pages: int = 0
    reason: str | None = None


@dataclass
class Progress:
    pages_total: int = 0
    pages_classified: int = 0
    #: pages of the files finished in this run (for the time left)
    pages_done: int = 0
    documents_total: int = 0
    documents_done: int = 0
    files_total: int = 0
    files_done: int = 0
    started: float = field(default_factory=time.monotonic)
    #: the file that finished last; set just before the callback that reports it
    last: FileDone | None = None


ProgressCallback = Callable[[Progress], None]

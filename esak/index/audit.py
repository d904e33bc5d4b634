"""The audit log: every run of a command that changes or proves the workspace, in the index.

Who (OS user), when, which command with which options, which esak, and how it ended. Rows
name sites and files, never a person: the options recorded are paths and numbers.
"""

from __future__ import annotations

import contextlib
import getpass
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from esak import __version__
from esak.errors import EsakError, ExitCode
from esak.index.db import Index


def now() -> str:
    """The current time as the index stores it: UTC, ISO 8601, to the second."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return "unknown"


@dataclass
class RunRecord:
    """An open row of the ``runs`` table; set ``outcome`` and ``exit_code`` before it closes."""

    id: int
    outcome: str = "ok"
    exit_code: int = 0

    def finish(self, code: ExitCode) -> None:
        """Record how the run ended, from its result's exit code."""
        self.outcome, self.exit_code = code.name.lower(), int(code)


@contextlib.contextmanager
def recorded_run(
    index: Index, command: str, site: str | None, options: dict[str, Any]
) -> Iterator[RunRecord]:
    """Record a run: its start now, its end (and how it ended) when the block leaves.

    An exception leaving the block is recorded with the exit code the CLI will give it, so the
    log says "stopped" or "disk-full" rather than nothing.
    """
    with index.transaction() as db:
        run_id = (
            db["runs"]
            .insert(
                {
                    "command": command,
                    "site": site,
                    # ASCII escapes: a path with non-UTF-8 bytes is stored, not refused.
                    "options": json.dumps(options, ensure_ascii=True, sort_keys=True),
                    "os_user": os_user(),
                    "esak_version": __version__,
                    "started_at": now(),
                }
            )
            .last_pk
        )
    record = RunRecord(int(run_id))
    try:
        yield record
    except EsakError as exc:
        record.outcome, record.exit_code = exc.exit_code.name.lower(), int(exc.exit_code)
        raise
    except KeyboardInterrupt:
        record.outcome, record.exit_code = "stopped", int(ExitCode.STOPPED)
        raise
    except BaseException:
        record.outcome, record.exit_code = "failed", int(ExitCode.INTERNAL)
        raise
    finally:
        # The end of a run is worth recording even when the disk is full: then it is lost
        # with the rest of the transaction, and the row keeps finished_at empty (= killed).
        with contextlib.suppress(EsakError), index.transaction() as db:
            db["runs"].update(
                record.id,
                {"finished_at": now(), "outcome": record.outcome, "exit_code": record.exit_code},
            )

"""Exit codes and the exceptions that carry them.

Library code raises an :class:`EsakError` subclass; only the CLI turns it into an exit
code and a message. Every error says what went wrong *and* what the user should do.
The numbers are a contract with the operations team's scripts: never renumber.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    #: The run finished, but found problems: files set aside, rows rejected,
    #: households missing, pages unaccounted for. Read the report.
    PROBLEMS = 1
    #: The command line was wrong (unknown option, missing argument).
    USAGE = 2
    #: An input file or folder cannot be read or is not what it claims to be.
    INPUT = 3
    #: Unknown site, or a site profile with an error.
    CONFIG = 4
    #: A program or language pack esak needs is missing (tesseract, deu, ghostscript).
    DEPENDENCY = 5
    #: Another esak run holds the workspace.
    LOCKED = 6
    #: Stopped early on purpose (deadline, SIGTERM, Ctrl-C); run the same command again to resume.
    STOPPED = 7
    #: The disk holding the workspace is full; free space, then run again to resume.
    DISK_FULL = 8
    #: The workspace or its index database cannot be used (permissions, corrupt, newer schema).
    WORKSPACE = 9
    #: Archived files were changed, removed or added behind esak's back (fixity failure).
    INTEGRITY = 10
    #: A bug in esak. Please report it with the command and its output.
    INTERNAL = 70


class EsakError(Exception):
    """An error the user can act on: ``message`` says what, ``remedy`` says what to do."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, remedy: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.remedy = remedy

    def __str__(self) -> str:
        if self.remedy:
            return f"{self.message} — {self.remedy}"
        return self.message


class ProblemsError(EsakError):
    """A request esak cannot carry out until a person has clarified something (exit 1)."""

    exit_code = ExitCode.PROBLEMS


class UsageError(EsakError):
    """An option value that the command line parser cannot judge (e.g. ``--until 25:00``)."""

    exit_code = ExitCode.USAGE


class InputError(EsakError):
    exit_code = ExitCode.INPUT


class ConfigError(EsakError):
    exit_code = ExitCode.CONFIG


class DependencyError(EsakError):
    exit_code = ExitCode.DEPENDENCY


class LockedError(EsakError):
    exit_code = ExitCode.LOCKED


class StoppedError(EsakError):
    exit_code = ExitCode.STOPPED


class DiskFullError(EsakError):
    exit_code = ExitCode.DISK_FULL


class WorkspaceError(EsakError):
    exit_code = ExitCode.WORKSPACE


class IntegrityError(EsakError):
    exit_code = ExitCode.INTEGRITY


#: What to do about an input file esak cannot use: the scanning service has the paper.
REDELIVER = "ask the scanning service to deliver it again"


def redeliver(why: str = "") -> str:
    """The remedy for a delivered file that cannot be used: why, then what to do."""
    return f"{why}; {REDELIVER}" if why else REDELIVER

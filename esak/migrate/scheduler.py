"""Runs jobs on a pool of workers until they are done, the night is over, or a worker dies.

It knows nothing of what the jobs do (OCRmyPDF's ``task``/``task_finished`` shape): each
:class:`Job` brings its function and task, a time limit, a check that says whether a result
is worth another try, and what to do when it is done or has failed for good. The scheduler
owns the pool and what can go wrong with it:

- at most one job per worker, urgent jobs (documents: a file is committed sooner) first;
- a worker that dies takes the jobs in flight with it (locally the whole pool, on Dask the
  job it ran): they run again, each alone, so that a second crash is its own;
- a job past its time limit is stopped by restarting the pool (on Dask: only its worker),
  the others go again;
- a job is tried ``max_attempts`` times before it has failed;
- at the deadline or on a signal (:class:`StopRequest`) no new job starts, what runs may
  finish for a grace period, then it is abandoned (nothing of it is recorded).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any

from esak.errors import DependencyError, UsageError
from esak.migrate.executor import WorkerPool

#: Why a job's worker went away under it.
WORKER_DIED = "the worker process died (crash or out of memory)"


@dataclass(eq=False)
class Job:
    fn: Callable[[Any], Any]
    task: Any
    #: Seconds after which the job is stuck.
    timeout: float
    #: The job's result (or the exception its task raised) once ``check`` accepts it.
    on_done: Callable[[Any], None]
    #: Why the job failed for good, after its last attempt.
    on_failed: Callable[[str], None]
    #: Why a result (or exception) is a failure worth another try; None accepts it.
    check: Callable[[Any], str | None]
    urgent: bool = False
    attempts: int = 0
    #: it may have killed its worker: run it alone, so that a second crash is its own
    isolate: bool = False
    started: float = 0.0


class StopRequest:
    """Whether the run must stop taking new work: a deadline passed, or a signal came."""

    def __init__(self, deadline: float | None = None) -> None:
        #: wall-clock time (time.time()) after which no new work starts
        self.deadline = deadline
        #: why ("deadline reached", "SIGTERM", "Ctrl-C"); set by signal handlers
        self.reason: str | None = None
        self.stopping = False

    def request(self, reason: str) -> None:
        """Stop taking new work (from a signal handler: only sets a flag)."""
        if self.reason is None:
            self.reason = reason

    def check(self) -> bool:
        """Whether to stop now; a passed deadline counts from here on."""
        if self.deadline is not None and time.time() >= self.deadline and not self.reason:
            self.reason = "deadline reached"
        if self.reason:
            self.stopping = True
        return self.stopping

    @contextlib.contextmanager
    def on_signals(self) -> Iterator[None]:
        """SIGTERM and Ctrl-C ask to stop cleanly; a second Ctrl-C stops at once."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_term(signum: int, frame: object) -> None:
            self.request("SIGTERM")

        def on_int(signum: int, frame: object) -> None:
            if self.reason:
                raise KeyboardInterrupt
            self.request("Ctrl-C")

        old_term = signal.signal(signal.SIGTERM, on_term)
        old_int = signal.signal(signal.SIGINT, on_int)
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, old_term)
            signal.signal(signal.SIGINT, old_int)


class Scheduler:
    def __init__(
        self, pool: WorkerPool, stop: StopRequest, *, max_attempts: int, grace_s: float
    ) -> None:
        self.pool = pool
        self.stop = stop
        self.max_attempts = max_attempts
        self.grace_s = grace_s
        #: An error that ends the run (a full disk, a missing program): set by a callback.
        self.fatal: Exception | None = None
        self._urgent: deque[Job] = deque()
        self._normal: deque[Job] = deque()
        self._running: dict[Future[Any], Job] = {}

    def submit(self, job: Job) -> None:
        self._queue(job).append(job)

    def abort(self, error: Exception) -> None:
        """End the run after the callback that found ``error``: nothing more is started."""
        self.fatal = error

    def run(self) -> None:
        """Run jobs, at most one per worker, until all are done or the run must stop."""
        grace_ends = 0.0
        while self._running or ((self._urgent or self._normal) and not self.stop.stopping):
            self.stop.check()
            if self.stop.stopping and not grace_ends:
                # No new work; what runs may finish (and its file be committed) for a while.
                grace_ends = time.monotonic() + self.grace_s
                self._urgent.clear()
                self._normal.clear()
            if self.fatal:
                return
            if not self.stop.stopping:
                self._fill()
            if not self._running:
                continue
            done, _ = wait(list(self._running), timeout=1.0, return_when=FIRST_COMPLETED)
            for future in done:
                job = self._running.pop(future, None)
                if job is None:  # already handled after a broken pool
                    continue
                try:
                    result = future.result()
                except DependencyError as exc:  # the pool found what no retry mends
                    self.abort(exc)
                    return
                except Exception as exc:  # the task raised: a bug or a library failing
                    lost = self.pool.lost(exc)
                    if lost == "pool":
                        self._pool_broke(job)
                        continue
                    if lost == "worker":  # only its own worker died (Dask)
                        self._retry_or_fail(job, WORKER_DIED, True)
                        continue
                    result = exc
                self._finished(job, result)
                if self.fatal:
                    return
            self._watchdog()
            if self.stop.stopping and time.monotonic() >= grace_ends and self._running:
                self._running.clear()  # abandoned: nothing of theirs is recorded
                return

    def _queue(self, job: Job) -> deque[Job]:
        return self._urgent if job.urgent else self._normal

    def _fill(self) -> None:
        while len(self._running) < self.pool.workers:
            queue = self._urgent or self._normal
            if not queue:
                return
            if any(j.isolate for j in self._running.values()):
                return
            job = queue[0]
            if job.isolate and self._running:
                return  # a suspect of a crash runs alone, so that a second crash is its own
            queue.popleft()
            job.started = time.monotonic()
            self._running[self.pool.submit(job.fn, job.task)] = job

    def _pool_broke(self, job: Job) -> None:
        """A worker died (crash, OOM killer): every task in flight is lost with the pool."""
        suspects = [job, *self._running.values()]
        self._running.clear()
        self.pool.restart()
        for suspect in suspects:
            self._retry_or_fail(suspect, WORKER_DIED, True)

    def _watchdog(self) -> None:
        """A task past its time limit is stopped by restarting the pool (on Dask: only its
        worker); the others that restart took down go again."""
        now = time.monotonic()
        hung = [j for j in self._running.values() if now - j.started > j.timeout]
        if not hung or not self.pool.can_kill:
            return
        if self.pool.restarts_one:
            for future in [f for f, j in self._running.items() if j in hung]:
                job = self._running.pop(future, None)
                if job is None:
                    continue  # taken down with an earlier one's worker: already handled
                # Jobs that shared the worker go again, not counted as an attempt.
                stopped = self.pool.stop(future)
                others = [self._running.pop(o) for o in stopped if o in self._running]
                for other in [job, *others]:
                    if other in hung:
                        self._retry_or_fail(other, f"took longer than {other.timeout:.0f} s", True)
                    else:
                        self._queue(other).appendleft(other)
            return
        others = [j for j in self._running.values() if j not in hung]
        self._running.clear()
        self.pool.restart()
        for job in reversed(others):
            self._queue(job).appendleft(job)
        for job in hung:
            self._retry_or_fail(job, f"took longer than {job.timeout:.0f} s", True)

    def _retry_or_fail(self, job: Job, reason: str, isolate: bool = False) -> None:
        """Once more (alone, if it may have killed its worker); the last failure is final."""
        job.attempts += 1
        if job.attempts < self.max_attempts:
            job.isolate = job.isolate or isolate
            self._queue(job).appendleft(job)
            return
        job.on_failed(reason)

    def _finished(self, job: Job, result: Any) -> None:
        reason = job.check(result)
        if reason is None:
            job.on_done(result)
        else:
            self._retry_or_fail(job, reason)


#: A bare ``--until HH:MM`` means its next occurrence only when that is this close: a cron
#: job started at 22:00 with --until 05:00 means tomorrow morning, but --until 05:00 given at
#: 05:30 is almost surely a mistake (a run meant to stop at once would run for a day).
BARE_TIME_MAX_AHEAD = timedelta(hours=20)

_DATED_FORMATS = ("%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", "%d.%m.%Y %H:%M")


def deadline_from(
    until: str | None, max_minutes: float | None, now: datetime | None = None
) -> float | None:
    """The earlier of ``--until`` and now + ``--max-minutes``, as a ``time.time()`` value;
    None when neither is given.

    ``--until`` is a local time: ``HH:MM`` (its next occurrence, which must be less than 20
    hours ahead), ``YYYY-MM-DD HH:MM`` or ``DD.MM.YYYY HH:MM``. ``now`` is for tests; an
    aware ``now`` also gives the time zone ``--until`` is read in.
    """
    if now is None or now.tzinfo is None:
        now = (now or datetime.now()).astimezone()
        zone = None  # the system's own rules, daylight saving time included
    else:
        zone = now.tzinfo
    candidates = []
    if until is not None:
        candidates.append(_until(until.strip(), now, zone).timestamp())
    if max_minutes is not None:
        if max_minutes <= 0:
            raise UsageError("--max-minutes must be more than 0")
        candidates.append(now.timestamp() + max_minutes * 60)
    return min(candidates) if candidates else None


def deadline_text(deadline: float | None) -> str | None:
    """A deadline as ISO 8601 local time with its UTC offset, for reports; None without one."""
    if deadline is None:
        return None
    return datetime.fromtimestamp(deadline).astimezone().isoformat(timespec="seconds")


def _local(naive: datetime, zone: tzinfo | None) -> datetime:
    # astimezone() on a naive time applies the system's rules for that day (05:00 after the
    # clocks change is an hour nearer); a given zone applies its own.
    return naive.astimezone() if zone is None else naive.replace(tzinfo=zone)


def _until(until: str, now: datetime, zone: tzinfo | None) -> datetime:
    for fmt in _DATED_FORMATS:
        try:
            dated = datetime.strptime(until, fmt)
        except ValueError:
            continue
        at = _local(dated, zone)
        if at <= now:
            raise UsageError(
                f"--until {until!r} has passed (it is {now:%d.%m.%Y %H:%M})",
                "give a time still ahead, e.g. --until 06:00 or --until "
                f"'{(now + timedelta(days=1)):%d.%m.%Y} 06:00'",
            )
        return at
    try:
        clock = datetime.strptime(until, "%H:%M").time()
    except ValueError:
        raise UsageError(
            f"--until {until!r} is not a time of day",
            "give HH:MM (e.g. 06:00) or a date and time "
            "(e.g. '2026-12-02 06:00' or '02.12.2026 06:00')",
        ) from None
    at = _local(datetime.combine(now.date(), clock), zone)
    passed = at <= now
    if passed:
        # 06:00 said at 22:00 means tomorrow morning
        at = _local(datetime.combine(now.date() + timedelta(days=1), clock), zone)
    ahead = at.timestamp() - now.timestamp()
    if ahead >= BARE_TIME_MAX_AHEAD.total_seconds():
        dated = f"--until '{at:%d.%m.%Y %H:%M}'"
        rule = (
            "a bare time means its next occurrence only when that is less than "
            f"{BARE_TIME_MAX_AHEAD.total_seconds() / 3600:.0f} hours ahead"
        )
        if passed:
            raise UsageError(
                f"{clock:%H:%M} has passed today (it is {now:%H:%M}); "
                f"give a date to mean tomorrow: {dated}",
                rule,
            )
        raise UsageError(
            f"{clock:%H:%M} is {round(ahead / 3600, 1):g} hours ahead (it is {now:%H:%M}); "
            f"give the date to mean it: {dated}",
            rule,
        )
    return at


def describe(error: object) -> str:
    """An error or a failure reason as one line for the log and the index."""
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}".rstrip(": ")
    return str(error)

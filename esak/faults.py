"""Fault injection for the robustness tests: a kill, a hang or a full disk at a named point.

Inactive unless ``ESAK_FAULTS`` is set, which only tests do. The value is a comma-separated
list of ``action:point[@n]``: at the n-th time (default 1) any process of the run passes
``point`` (``@*``: every time), do ``action``:

- ``kill``: SIGKILL this process (a power cut, the OOM killer);
- ``hang``: sleep for an hour (a stuck Tesseract or Ghostscript);
- ``slow``: sleep :data:`SLOW_SECONDS` (a page that takes its time: a test of a deadline
  must not depend on how fast this machine reads);
- ``enospc``: raise ``OSError(ENOSPC)`` (a full disk);
- ``crash``: raise ``RuntimeError`` (a bug in a library).

Passes are counted across processes in ``ESAK_FAULTS_DIR`` (one file per point), so
"the second document any worker builds" means the same in a pool of workers.
"""

from __future__ import annotations

import errno
import os
import signal
import time

ENV = "ESAK_FAULTS"
ENV_DIR = "ESAK_FAULTS_DIR"
SLOW_SECONDS = 5.0


def fault(point: str) -> None:
    """Do what ``ESAK_FAULTS`` asks at ``point``; nothing when it is not set."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    passes: int | None = None  # counted once per pass, however many entries name the point
    for entry in spec.split(","):
        action, _, rest = entry.strip().partition(":")
        name, _, nth = rest.partition("@")
        if name != point:
            continue
        if passes is None:
            passes = _passes(point)
        if nth != "*" and passes != int(nth or 1):
            continue
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "hang":
            time.sleep(3600)
        elif action == "slow":
            time.sleep(SLOW_SECONDS)
        elif action == "enospc":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        elif action == "crash":
            raise RuntimeError(f"injected fault at {point}")


def _passes(point: str) -> int:
    """How many times any process has reached ``point``, this time included."""
    folder = os.environ.get(ENV_DIR)
    if not folder:
        return 1
    fd = os.open(os.path.join(folder, point), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        # One byte per pass, appended atomically: the file's size is the count.
        os.write(fd, b".")
        return os.fstat(fd).st_size
    finally:
        os.close(fd)

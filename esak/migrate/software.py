"""What a machine would make of a page: the software that decides the bytes of a document.

A Dask worker on another machine must produce what the coordinator's machine would: the same
esak code, the same Tesseract and German model, the same Ghostscript. A worker with an older
model reads other words; one with other esak code may split differently. So the coordinator
compares each worker's :func:`software` with its own before a run (and every task checks
again, for workers that join later), and a difference stops the run with exit 5 instead of
mixing two kinds of output in one e-file.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from functools import cache
from pathlib import Path

import esak
from esak.errors import DependencyError
from esak.migrate.ocr import MissingProgram, cli_version, reader_version, tessdata


class WrongSoftware(DependencyError):
    """A worker would make other documents than the coordinator's machine (exit 5)."""


#: What is compared, in the order differences are named.
FIELDS = (
    "esak",
    "esak_code",
    "python",
    "reader",
    "tesseract",
    "tesseract_deu",
    "ghostscript",
)


def _run(*cmd: str) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "missing"
    return (done.stdout + done.stderr).strip()


def _code_digest() -> str:
    """sha256 over esak's Python files (names and bytes): the code, whatever its version says."""
    root = Path(esak.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _deu_model() -> str:
    try:
        model = Path(tessdata()) / "deu.traineddata"
        return hashlib.sha256(model.read_bytes()).hexdigest()[:16]
    except (MissingProgram, OSError):
        return "missing"


@cache
def software() -> dict[str, str]:
    """This process's esak, Python, Tesseract (with its German model) and Ghostscript.

    ``reader`` is the Tesseract that reads plain scans (tesserocr's, or the CLI's with
    ``ESAK_TESSERACT=cli``); ``tesseract`` the CLI that OCRmyPDF runs for all other documents."""
    gs = _run("gs", "--version").splitlines()
    return {
        "esak": esak.__version__,
        "esak_code": _code_digest(),
        "python": f"{sys.version_info.major}.{sys.version_info.minor}",
        "reader": reader_version(),
        "tesseract": cli_version(),
        "tesseract_deu": _deu_model(),
        "ghostscript": gs[0] if gs else "missing",
    }


def differences(here: dict[str, str], there: dict[str, str]) -> list[str]:
    """What differs, each as ``name: there (here: …)``; empty when both would make the same."""
    return [
        f"{name} {there.get(name, 'missing')} (here: {here.get(name, 'missing')})"
        for name in FIELDS
        if there.get(name) != here.get(name)
    ]

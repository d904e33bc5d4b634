"""Shared fixtures. Real sample scans are read from ../shared/samples, never copied here."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

# The tests read esak's English texts; tests of the German ones ask for German themselves
# (--lang de, or the `german` fixture). Set before esak is imported, and for every
# command a test starts.
os.environ["ESAK_LANG"] = "en"

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "samples"
PEAK_LIMIT_KIB = 2 * 1024 * 1024  # 2 GB; ru_maxrss is in KiB on Linux


class DefaultRules:
    """Site rules of the contract's default household pattern."""

    key = "default"

    def is_household(self, text: str) -> bool:
        return re.fullmatch(r"\d{5}BG\d{7}", text) is not None


@pytest.fixture(autouse=True)
def _english_unless_asked():
    """Each test starts in English, whatever the test before it chose."""
    from esak import i18n

    i18n.set_language()
    yield
    i18n.set_language()


@pytest.fixture
def german():
    """Human output in German, as a Jobcenter sees it by default."""
    from esak import i18n

    i18n.set_language("de")
    yield
    i18n.set_language()


@pytest.fixture
def rules() -> DefaultRules:
    return DefaultRules()


#: The user root-run tests drop to where a test needs permissions to mean something (CI runs
#: as root, and root may read anything).
UNPRIVILEGED = 65534  # nobody


def as_unprivileged(argv: Sequence[str], **kwargs) -> subprocess.CompletedProcess:
    """Run ``argv`` as an ordinary user: as it is when we are one, through ``setpriv`` when
    we are root. Never skipped: a missing setpriv fails the test."""
    if os.geteuid() == 0:
        argv = [
            "setpriv",
            f"--reuid={UNPRIVILEGED}",
            f"--regid={UNPRIVILEGED}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            *argv,
        ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kwargs)


#: The group of the read-only role in tests; created (as a system group) when absent.
READ_GROUP = "esak-test-read"
TREE = Path(__file__).resolve().parent.parent


def as_user(
    argv: Sequence[str], uid: int, gid: int, groups: Sequence[int] = (), **kwargs
) -> subprocess.CompletedProcess:
    """Run ``argv`` as ``uid``/``gid`` with exactly the supplementary ``groups`` (setpriv;
    root only). Imports esak from this tree, whoever runs it."""
    env = dict(kwargs.pop("env", os.environ))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TREE), env.get("PYTHONPATH")]))
    argv = [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={gid}",
        f"--groups={','.join(map(str, groups))}" if groups else "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        *argv,
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, **kwargs)


@pytest.fixture(scope="session")
def read_group() -> int:
    """The gid of :data:`READ_GROUP`, created if absent. Needs root, as CI runs: tests of a
    second user are about permissions, which root alone can set up for another user."""
    import grp

    if os.geteuid() != 0:
        pytest.skip("needs root to run commands as a second user and group")
    try:
        return grp.getgrnam(READ_GROUP).gr_gid
    except KeyError:
        subprocess.run(["groupadd", "--system", READ_GROUP], check=True)
        return grp.getgrnam(READ_GROUP).gr_gid


@pytest.fixture
def open_tmp():
    """A temporary folder that an unprivileged user may enter (pytest's own is root-only)."""
    path = Path(tempfile.mkdtemp(prefix="esak-test-"))
    path.chmod(0o755)
    yield path
    for sub in path.rglob("*"):
        if sub.is_dir():
            sub.chmod(0o755)
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def sample(*parts: str) -> Path:
    path = SAMPLES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"sample {path} not present")
    return path


def snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file and folder under ``folder`` with its size and mtime: to prove nothing changed."""
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(folder.rglob("*"))
    }


@pytest.fixture(scope="session")
def e2e_ingest(tmp_path_factory):
    """One generated delivery ingested with real OCR, shared by the end-to-end modules.

    Tests that change the workspace must copy it first (``shutil.copytree``).
    Returns (truth, ingest report, CLI result, workspace, delivery, delivery snapshot, root).
    """
    import json

    from click.testing import CliRunner

    from esak.cli import cli
    from esak.synthetic import generate_delivery

    root = tmp_path_factory.mktemp("e2e")
    truth = generate_delivery(root / "sample", households=4, seed=2, dpi=200)
    delivery = root / "sample" / "delivery"
    before = snapshot(delivery)
    ws = root / "ws"
    result = CliRunner().invoke(
        cli,
        ["--workspace", str(ws), "ingest", "--site", "borken", str(delivery), "--json"],
        catch_exceptions=False,
    )
    return truth.to_dict(), json.loads(result.stdout), result, ws, delivery, before, root


def pdf_bytes(images, dpi: int) -> bytes:
    """Scanned pages (PIL images) as one lossless PDF, the way a scanner writes a batch."""
    import io

    import img2pdf

    parts = []
    for img in images:
        buf = io.BytesIO()
        img.save(buf, format="PNG", dpi=(dpi, dpi))
        parts.append(buf.getvalue())
    return img2pdf.convert(parts)


def write_pdf(images, target: Path, dpi: int) -> Path:
    """``pdf_bytes`` of ``images`` written to ``target`` (its folder made if need be)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(pdf_bytes(images, dpi))
    return target


#: Runs ``argv[2:]`` and writes its exit code and the peak RSS (KiB) of it and every
#: descendant it reaped to the file ``argv[1]``.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "with open(sys.argv[1], 'w') as fh:\n"
    "    fh.write(f'{code} {peak}')\n"
)


def run_with_peak(
    cmd: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run ``cmd``, its output captured as text; returns its result and the largest peak RSS
    (KiB, see ``PEAK_LIMIT_KIB``) of it and every descendant it reaped.

    The command runs in a session of its own: on ``timeout`` the whole session is killed and
    ``subprocess.TimeoutExpired`` raised, with the output up to then.
    """
    fd, peak_file = tempfile.mkstemp(prefix="peak-", suffix=".txt")
    os.close(fd)
    wrapper = [sys.executable, "-c", _MEASURE, peak_file, *cmd]
    try:
        proc = subprocess.Popen(
            wrapper,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            raise subprocess.TimeoutExpired(cmd, timeout, out, err) from None
        if proc.returncode != 0:  # the measuring itself failed
            raise subprocess.CalledProcessError(proc.returncode, wrapper, out, err)
        code, peak = (int(x) for x in Path(peak_file).read_text().split())
    finally:
        os.unlink(peak_file)
    return subprocess.CompletedProcess(list(cmd), code, out, err), peak


def form_bomb(target: Path, depth: int = 24) -> None:
    """A 2 KB page of forms that each draw the next twice: 2**depth rectangles for PDFium."""
    import pikepdf

    pdf = pikepdf.new()
    pdf.add_blank_page(page_size=(595, 842))
    current = pdf.make_stream(b"0 0 1 1 re f")
    current.Type, current.Subtype = pikepdf.Name.XObject, pikepdf.Name.Form
    current.BBox = [0, 0, 595, 842]
    for _ in range(depth):
        form = pdf.make_stream(b"/X Do /X Do")
        form.Type, form.Subtype = pikepdf.Name.XObject, pikepdf.Name.Form
        form.BBox = [0, 0, 595, 842]
        form.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(X=current))
        current = form
    page = pdf.pages[0]
    page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(X=current))
    page.Contents = pdf.make_stream(b"/X Do")
    pdf.save(target)


def osd_rotation(png: Path) -> int:
    """Clockwise degrees Tesseract's OSD says the page image needs to be upright."""
    import subprocess

    out = subprocess.run(
        ["tesseract", str(png), "-", "--psm", "0"], capture_output=True, text=True, check=False
    ).stdout
    for line in out.splitlines():
        if line.startswith("Rotate:"):
            return int(line.split(":")[1])
    raise AssertionError(f"no orientation found: {out}")

"""One hostile delivery through the real ``esak ingest``, as a subprocess.

Every kind of broken, malicious or merely odd input at once: each file or page is set aside
with a reason, the run goes on and exits 1 (problems), never 70 (a bug); every page is
accounted for; nothing is written outside the workspace; no archive path is made of anything
but a valid household number and integers; the delivery is unchanged; and no process of the
run (coordinator, workers, OCR) ever holds 2 GB.
"""

from __future__ import annotations

import io
import json
import os
import random
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from PIL import Image

from esak.migrate.barcodes import barcode_modules
from esak.migrate.plan import ORPHAN_REASON
from esak.profiles import load_profile
from esak.synthetic import random_person, render_content_page, render_cover_sheet
from tests.conftest import PEAK_LIMIT_KIB, pdf_bytes, run_with_peak
from tests.test_pages import _bomb_png

pytestmark = pytest.mark.slow

DPI = 200
A4_PX = (round(210 / 25.4 * DPI), round(297 / 25.4 * DPI))

GOOD = "95401BG0000501"  # the one household whose page is archived
ABSURD = "95401BG0000502"  # cover, then pages of absurd size
XBOMB = "95401BG0000503"  # cover, then a page whose image claims 46000x46000 pixels

#: Barcode texts that try to leave the archive folder, or to pass as a household number.
TRAVERSAL = [
    ("ESAK1;borken;../../etc;1;0", "QR"),
    ("ESAK1;borken;95401BG0000001%2F..;1;0", "QR"),
    ("95401BG0000001/../../x", "Code128"),
    ("ESAK1;borken;95401BG000000\x001;1;0", "QR"),
    ("95401BG000000\x001", "Code128"),
    ("٩٥٤٠١BG٠٠٠٠٠٠١", "QR"),  # Arabic-Indic digits
    ("ESAK1;borken;９５４０１BG０００００００１;1;0", "DataMatrix"),  # full-width digits
    ("ESAK1;../../borken;95401BG0000001;1;0", "QR"),
    ("ESAK1;borken;/etc/passwd;1;0", "QR"),
    ("..\\..\\x", "Code128"),  # no cover sheet at all: content after an unusable cover
    ("/etc/passwd", "Code128"),
]


# --- building the delivery ----------------------------------------------------------------


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", dpi=(DPI, DPI))
    return buf.getvalue()


def _code_page(text: str, symbology: str) -> Image.Image:
    """A white A4 page with nothing on it but one barcode holding ``text``."""
    modules = barcode_modules(text, symbology)
    if modules.shape[0] == 1:
        block = np.repeat(np.repeat(modules, 160, axis=0), 4, axis=1)
    else:
        block = np.repeat(np.repeat(modules, 8, axis=0), 8, axis=1)
    page = Image.new("L", A4_PX, 250)
    page.paste(Image.fromarray(np.where(block, 20, 250).astype(np.uint8), "L"), (200, 300))
    return page


def _cover(household: str, seed: int) -> Image.Image:
    return render_cover_sheet(household, site="borken", dpi=DPI, rng=random.Random(seed))


def _with_pages(first: bytes, add) -> bytes:
    """A PDF of ``first`` with pages appended by ``add(pdf)``."""
    pdf = pikepdf.open(io.BytesIO(first))
    add(pdf)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


def _add_page(pdf: pikepdf.Pdf, width: float, height: float) -> pikepdf.Page:
    pdf.add_blank_page()
    page = pdf.pages[-1]
    # pikepdf refuses sizes outside 3..14400 units; the raw MediaBox takes anything.
    page.MediaBox = pikepdf.Array([0, 0, width, height])
    page.Contents = pdf.make_stream(b"0 g 10 10 200 20 re f")
    return page


def _image_bomb_page(pdf: pikepdf.Pdf) -> None:
    """An A4 page whose image claims 46000x46000 grey pixels: 2.1 GB when decoded."""
    page = _add_page(pdf, 595, 842)
    side = 46000
    image = pikepdf.Stream(pdf, zlib.compress(b"\x00" * side * 8, 9))
    image.Type = pikepdf.Name.XObject
    image.Subtype = pikepdf.Name.Image
    image.Width = side
    image.Height = side
    image.ColorSpace = pikepdf.Name.DeviceGray
    image.BitsPerComponent = 8
    image.Filter = pikepdf.Name.FlateDecode
    page.Resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=image))
    page.Contents = pdf.make_stream(b"q 595 0 0 842 0 0 cm /Im0 Do Q")


def _bomb_tiff() -> bytes:
    """A few hundred bytes of TIFF claiming 40000x40000 grey pixels."""
    entries = [
        (256, 4, 40000),  # ImageWidth, LONG
        (257, 4, 40000),  # ImageLength
        (258, 3, 8),  # BitsPerSample, SHORT
        (259, 3, 1),  # Compression: none
        (262, 3, 1),  # PhotometricInterpretation: black is zero
        (273, 4, 0),  # StripOffsets (set below)
        (277, 3, 1),  # SamplesPerPixel
        (278, 4, 40000),  # RowsPerStrip
        (279, 4, 40000 * 40000),  # StripByteCounts
    ]
    data_at = 8 + 2 + 12 * len(entries) + 4
    ifd = struct.pack("<H", len(entries))
    for tag, kind, value in entries:
        ifd += struct.pack("<HHII", tag, kind, 1, data_at if tag == 273 else value)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + struct.pack("<I", 0) + b"\x00" * 256


def _build(root: Path) -> tuple[Path, list[str], dict[str, int]]:
    """The hostile delivery: its folder, the names of the five identical files, and the pages
    of each input the reader can open (the others hold none it can count)."""
    delivery = root / "delivery"
    delivery.mkdir()
    outside = root / "outside"
    outside.mkdir()
    rng = random.Random(11)

    content = render_content_page(
        rng, "lohnabrechnung", dpi=DPI, person=random_person(rng), household=GOOD
    )
    good = pdf_bytes([_cover(GOOD, 1), content], DPI)
    # The same content five times; the first in file-name order is archived.
    same_content = [
        "-Kopie Übergabe.pdf",  # a leading dash
        'Übergabe 1 "Stapel".pdf',
        "zeilen\numbruch.pdf",  # a newline
        "link-intern.pdf",  # a symbolic link to the second, inside the delivery
        "Kopie \\xff.pdf",  # a byte that is not UTF-8 (as reported)
    ]
    for name in same_content[:3]:
        (delivery / name).write_bytes(good)
    (delivery / same_content[3]).symlink_to(same_content[1])
    with open(os.fsencode(delivery) + b"/Kopie \xff.pdf", "wb") as fh:
        fh.write(good)

    # Files the reader refuses: each is set aside whole, with its reason.
    (delivery / "zufall.pdf").write_bytes(random.Random(1).randbytes(4096))
    (delivery / "zufall.tif").write_bytes(random.Random(2).randbytes(4096))
    pikepdf.new().save(delivery / "leer (0 Seiten).pdf")
    (delivery / "abgeschnitten.pdf").write_bytes(good[: len(good) // 2])
    (delivery / "95401BG0000504.pdf").write_bytes(good[: len(good) // 3])  # a household's file
    with pikepdf.open(io.BytesIO(good)) as pdf:
        pdf.save(delivery / "geschützt.pdf", encryption=pikepdf.Encryption(user="x", owner="y"))
    (delivery / "bombe.tif").write_bytes(_bomb_tiff())
    # A name that is not UTF-8 (made on another system).
    with open(os.fsencode(delivery) + b"/kaputt\xff.pdf", "wb") as fh:
        fh.write(random.Random(3).randbytes(2048))

    # Image folders: a bomb as the only page, a bomb loose in the root (the root's own
    # folder batch), and a blank page in a folder whose name has a dash, quotes, a byte that
    # is not UTF-8 and a newline.
    (delivery / "Bömbe ordner").mkdir()
    (delivery / "Bömbe ordner" / "0001.png").write_bytes(_bomb_png())
    (delivery / "Bombe.png").write_bytes(_bomb_png())
    odd_folder = os.fsencode(delivery) + b"/-ordner 'a' \"\xfe\"\nzwei"
    os.mkdir(odd_folder)
    with open(odd_folder + b"/0001.png", "wb") as fh:
        fh.write(_png(Image.new("L", A4_PX, 252)))

    # After a valid cover: pages of absurd size, and a page with an image bomb.
    absurd = _with_pages(
        pdf_bytes([_cover(ABSURD, 2)], DPI),
        lambda pdf: (_add_page(pdf, 200000, 200000), _add_page(pdf, 1, 100000)),
    )
    (delivery / "absurd groß.pdf").write_bytes(absurd)
    (delivery / "bild-bombe.pdf").write_bytes(
        _with_pages(pdf_bytes([_cover(XBOMB, 3)], DPI), _image_bomb_page)
    )

    # Cover sheets whose codes try path traversal, and a lone code that is a path.
    traversal = pdf_bytes([_code_page(text, symbology) for text, symbology in TRAVERSAL], DPI)
    (delivery / "pfad 'traversal'.pdf").write_bytes(traversal)
    lone = pdf_bytes([_code_page("/etc/passwd", "QR")], DPI)
    (delivery / "x\\..\\..\\evil.pdf").write_bytes(lone)  # backslashes are no separators
    (delivery / "..\\..\\evil.pdf").write_bytes(lone[:-1])  # a dot file: never opened

    # Symbolic links leading outside: to a file, a folder, by a relative path, and a loop.
    (outside / "secret.pdf").write_bytes(pdf_bytes([_cover("95401BG0000599", 4)], DPI))
    (delivery / "link-raus.pdf").symlink_to(outside / "secret.pdf")
    (delivery / "link-ordner").symlink_to(outside)
    (delivery / "link-passwd.pdf").symlink_to("../" * 12 + "etc/passwd")
    (delivery / "schleife.pdf").symlink_to("schleife.pdf")

    pages = {
        same_content[0]: 2,
        "absurd groß.pdf": 3,
        "bild-bombe.pdf": 2,
        "pfad 'traversal'.pdf": len(TRAVERSAL),
        "x\\..\\..\\evil.pdf": 1,
        "Bömbe ordner": 1,
        ".": 1,
        "-ordner 'a' \"\\xfe\"\nzwei": 1,
    }
    return delivery, same_content, pages


# --- observing the run --------------------------------------------------------------------


def _tree(folder: Path, skip: Path) -> dict[bytes, tuple[int, int, int, bytes]]:
    """Every entry under ``folder`` (links not followed, names as bytes), but ``skip``."""
    out = {}
    base, skipped = os.fsencode(folder), os.fsencode(skip)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) != skipped]
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            link = os.readlink(path) if os.path.islink(path) else b""
            out[os.path.relpath(path, base)] = (st.st_mode, st.st_size, st.st_mtime_ns, link)
    return out


def _esak(root: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run esak as its own process; returns the result and the peak RSS (KiB) of its tree."""
    env = {k: v for k, v in os.environ.items() if k != "ESAK_WORKSPACE"}
    env["TMPDIR"] = str(root / "systmp")
    cmd = [sys.executable, "-m", "esak", *args]
    try:
        return run_with_peak(cmd, cwd=root, env=env, timeout=540)
    except subprocess.TimeoutExpired as hung:
        pytest.fail(f"esak {' '.join(args)} hung for 9 minutes:\n{hung.stderr[-3000:]}")


def _spans(pages: str) -> range:
    first, _, last = pages.partition("-")
    return range(int(first), int(last or first) + 1)


def _page_reasons(report: dict, file: str) -> dict[int, str]:
    """Page number (from 1) -> reason, for the pages of ``file`` that were set aside."""
    out: dict[int, str] = {}
    for entry in report["quarantined_pages"]:
        if entry["file"] == file:
            for page in _spans(entry["pages"]):
                assert page not in out, f"{file}: page {page} set aside twice"
                out[page] = entry["reason"]
    return out


# --- the test -----------------------------------------------------------------------------


def test_hostile_delivery_is_set_aside_piece_by_piece(tmp_path):
    root = tmp_path
    (root / "systmp").mkdir()
    delivery, same, input_pages = _build(root)
    ws = root / "ws"
    before = _tree(root, skip=ws)
    ingest = ["--workspace", str(ws), "ingest", "--site", "borken", str(delivery), "--json"]

    result, peak_kib = _esak(root, *ingest, "--workers", "2")
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 1, result.stderr  # problems, not a crash (70) nor refusal (3)
    report = json.loads(result.stdout)
    assert peak_kib < PEAK_LIMIT_KIB, f"peak memory {peak_kib / 1024:.0f} MiB"

    files = {f["file"]: f["reason"] for f in report["quarantined_files"]}
    for reason in files.values():
        assert reason.strip()

    # The same content five times: archived once, the others named as its copies.
    archived_copy = [name for name in same if name not in files]
    assert archived_copy == ["-Kopie Übergabe.pdf"], files
    for name in same[1:]:
        assert "same content as -Kopie Übergabe.pdf" in files[name], name
    assert report["files"]["duplicate"] == 4

    # Files set aside whole, each with the reason it deserves.
    expected_files = {
        "zufall.pdf": "not a PDF",
        "zufall.tif": "not a PDF, TIFF",
        "leer (0 Seiten).pdf": "no pages",
        "abgeschnitten.pdf": "cannot be read",
        "95401BG0000504.pdf": "cannot be read",
        "geschützt.pdf": "encrypted",
        "bombe.tif": "pixels",
        "kaputt\\xff.pdf": "not a PDF",
        "link-raus.pdf": "outside the delivery",
        "link-ordner": "outside the delivery",
        "link-passwd.pdf": "outside the delivery",
        "schleife.pdf": "symbolic link",
        "..\\..\\evil.pdf": "hidden",
    }
    for name, words in expected_files.items():
        assert name in files, f"{name} not set aside: {sorted(files)}"
        assert words in files[name], (name, files[name])
    assert set(files) == set(expected_files) | set(same[1:])

    # Pages set aside, each with its reason.
    absurd = _page_reasons(report, "absurd groß.pdf")
    assert set(absurd) == {2, 3} and all("larger than any sheet" in r for r in absurd.values())
    (xbomb,) = _page_reasons(report, "bild-bombe.pdf").values()
    assert "46000x46000 pixels" in xbomb
    for folder in ("Bömbe ordner", "."):
        assert "pixels" in _page_reasons(report, folder)[1], folder
    traversal = _page_reasons(report, "pfad 'traversal'.pdf")
    assert set(traversal) == set(range(1, len(TRAVERSAL) + 1))
    for page, (text, _) in enumerate(TRAVERSAL, start=1):
        assert "unusable cover sheet" in traversal[page], (text, traversal[page])
    assert "../../etc" in traversal[1] and "%2F.." in traversal[2]
    assert "site '../../borken'" in traversal[8]
    (evil,) = _page_reasons(report, "x\\..\\..\\evil.pdf").values()
    assert evil == ORPHAN_REASON
    assert report["delivery_problems"] == []
    # Read by its real name, reported by a storable one: the odd folder's blank page.
    odd = "-ordner 'a' \"\\xfe\"\nzwei"
    assert odd not in files and not _page_reasons(report, odd)

    # Every input page ends in exactly one place, and the count is the delivery's.
    pages = report["pages"]
    expected_input = sum(input_pages.values())
    assert pages["input"] == expected_input
    assert pages["input"] == sum(v for k, v in pages.items() if k != "input")
    assert pages == {
        "input": expected_input,
        "archived": 1,
        "cover": 3,
        "separator": 0,
        "blank": 1,
        "quarantined": expected_input - 5,
        "discarded": 0,
    }
    assert report["households"] == [GOOD]

    # The archive holds nothing but <site>/<valid household>/band-NN/NNNN.pdf.
    profile = load_profile("borken")
    archive = ws / "archive"
    archived = []
    for dirpath, dirnames, filenames in os.walk(archive):
        rel = Path(dirpath).relative_to(archive).parts
        for name in dirnames:
            parts = (*rel, name)
            if len(parts) == 1:
                assert parts == ("borken",)
            elif len(parts) == 2:
                assert profile.is_household(name), parts
            else:
                assert len(parts) == 3 and re.fullmatch(r"band-\d{2,3}", name), parts
        for name in filenames:
            assert len(rel) == 3 and re.fullmatch(r"\d{4}\.pdf", name), (rel, name)
            path = Path(dirpath, name)
            assert not path.is_symlink()
            assert path.resolve().is_relative_to(archive.resolve())
            archived.append("/".join((*rel, name)))
    assert archived == [f"borken/{GOOD}/band-01/0001.pdf"]
    for path in ws.rglob("*"):
        assert path.resolve().is_relative_to(ws.resolve()), path

    # Nothing written outside the workspace (temp files included), the delivery unchanged.
    assert _tree(root, skip=ws) == before

    # A second run finds everything known, and still says "problems".
    again, peak_again = _esak(root, *ingest)
    assert again.returncode == 1, again.stderr
    second = json.loads(again.stdout)
    assert second["documents_written"] == 0 and second["pages"] == pages
    assert second["quarantined_files"] == report["quarantined_files"]
    assert peak_again < PEAK_LIMIT_KIB
    assert _tree(root, skip=ws) == before
    print(f"peak RSS of the run and its workers: {peak_kib / 1024:.0f} MiB")


# --- esak inspect on a page built to exhaust memory --------------------------------------


def test_inspect_reports_a_page_built_to_exhaust_memory_and_stays_under_2_gb(tmp_path):
    from esak.errors import ExitCode
    from tests.conftest import form_bomb

    bomb = tmp_path / "batch_002.pdf"
    form_bomb(bomb)
    command = [sys.executable, "-m", "esak", "inspect", str(bomb), "--json"]
    done, peak_kib = run_with_peak(command, timeout=600)
    assert done.returncode == ExitCode.INPUT
    assert peak_kib < PEAK_LIMIT_KIB  # the CLI and its reading process, each below 2 GB
    error = json.loads(done.stdout)
    assert "batch_002.pdf, page 1" in error["error"] and "died" in error["error"]
    assert "ask the scanning service" in error["remedy"]


def test_inspect_reads_again_after_its_reading_process_died(tmp_path):
    from esak.errors import InputError
    from esak.migrate.inspect import inspect_path
    from tests.conftest import form_bomb

    form_bomb(tmp_path / "bomb.pdf")
    with pytest.raises(InputError, match="died"):
        inspect_path(tmp_path / "bomb.pdf", load_profile("borken"))
    fine = tmp_path / "fine.pdf"
    fine.write_bytes(pdf_bytes([_cover("95401BG0000001", 1)], DPI))
    report = inspect_path(fine, load_profile("borken"))
    assert [str(p.page.kind) for p in report.pages] == ["cover"]

"""The delivery scan: every kind of entry a delivery folder may hold, and the manifest."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import sys
import unicodedata
from pathlib import Path

import img2pdf
import pytest
from PIL import Image

from esak.errors import InputError
from esak.files import sha256_file
from esak.migrate.delivery import (
    Capture,
    DeliveryProblem,
    DeliveryScan,
    InputItem,
    scan_delivery,
)
from tests.conftest import as_unprivileged

HH = "95401BG0000101"
HH2 = "95401BG0000102"


def is_household(text: str) -> bool:
    return re.fullmatch(r"\d{5}BG\d{7}", text) is not None


def _png_bytes(level: int = 200, size: tuple[int, int] = (12, 16)) -> bytes:
    buf = io.BytesIO()
    Image.new("L", size, level).save(buf, format="PNG")
    return buf.getvalue()


def write_pdf(path: Path, pages: int = 1, level: int = 200) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(img2pdf.convert([_png_bytes(level + i) for i in range(pages)]))
    return path


def write_png(path: Path, level: int = 200) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_png_bytes(level))
    return path


def write_jpg(path: Path, level: int = 200) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (12, 16), level).save(path, format="JPEG")
    return path


def write_tiff(path: Path, frames: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    images = [Image.new("1", (16, 16), i % 2) for i in range(frames)]
    images[0].save(path, format="TIFF", save_all=True, append_images=images[1:])
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(root: Path, rows: list[tuple[str, ...]], *, header: str = "file;sha256;pages",
                   delimiter: str = ";", encoding: str = "utf-8") -> Path:  # fmt: skip
    lines = [header] + [delimiter.join(row) for row in rows]
    path = root / "manifest.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


def scan(root: Path) -> DeliveryScan:
    return scan_delivery(root, is_household)


def by_rel(result: DeliveryScan) -> dict[str, InputItem]:
    return {item.relpath: item for item in result.items}


def problems(result: DeliveryScan) -> set[tuple[str, str]]:
    return {(p.file, p.problem) for p in result.problems}


# --- formats ------------------------------------------------------------------------------


def test_each_format_is_recognised(tmp_path):
    write_pdf(tmp_path / "box01" / "batch_001.pdf", pages=2)
    write_tiff(tmp_path / "box01" / "batch_002.tif", frames=3)
    write_png(tmp_path / "box02" / "batch_003" / "p1.png")
    write_jpg(tmp_path / "box02" / "batch_003" / "p2.jpg")
    write_pdf(tmp_path / f"{HH}.pdf")
    (tmp_path / "notes.txt").write_text("hello")

    items = by_rel(scan(tmp_path))

    assert set(items) == {
        "box01/batch_001.pdf",
        "box01/batch_002.tif",
        "box02/batch_003",
        f"{HH}.pdf",
        "notes.txt",
    }
    pdf = items["box01/batch_001.pdf"]
    assert (pdf.format, pdf.problem, pdf.household, pdf.volume) == ("pdf", None, None, None)
    assert pdf.path == tmp_path / "box01" / "batch_001.pdf"
    assert pdf.path.is_absolute()
    assert pdf.sha256 == sha(pdf.path)
    assert pdf.size == pdf.path.stat().st_size
    assert items["box01/batch_002.tif"].format == "tiff"
    assert items["box01/batch_002.tif"].problem is None
    folder = items["box02/batch_003"]
    assert folder.format == "image-folder"
    assert folder.files == ("p1.png", "p2.jpg")
    assert folder.path == tmp_path / "box02" / "batch_003"
    assert folder.problem is None
    assert items[f"{HH}.pdf"].format == "household-pdf"
    assert items["notes.txt"].format == "unknown"
    assert items["notes.txt"].problem == "not a scan file (.txt)"


def test_upper_case_suffixes_are_recognised(tmp_path):
    write_pdf(tmp_path / "BATCH.PDF")
    write_tiff(tmp_path / "MULTI.TIFF", frames=2)
    write_png(tmp_path / "pages" / "P1.PNG")
    write_jpg(tmp_path / "pages" / "P2.JPEG")
    items = by_rel(scan(tmp_path))
    assert items["BATCH.PDF"].format == "pdf"
    assert items["MULTI.TIFF"].format == "tiff"
    assert items["pages"].files == ("P1.PNG", "P2.JPEG")


@pytest.mark.parametrize(
    ("name", "fmt", "household", "volume"),
    [
        (f"{HH}.pdf", "household-pdf", HH, 1),
        (f"{HH}.PDF", "household-pdf", HH, 1),
        (f"{HH}_2.pdf", "household-pdf", HH, 2),
        (f"{HH}_999.pdf", "household-pdf", HH, 999),
        (f"{HH}_0.pdf", "pdf", None, None),
        (f"{HH}_1000.pdf", "pdf", None, None),
        (f"{HH}_x.pdf", "pdf", None, None),
        (f"{HH}_.pdf", "pdf", None, None),
        (f"{HH}-2.pdf", "pdf", None, None),
        ("95401BG000010.pdf", "pdf", None, None),
        (f"x{HH}.pdf", "pdf", None, None),
        (f"{HH} Müller.pdf", "pdf", None, None),
    ],
)
def test_household_file_names(tmp_path, name, fmt, household, volume):
    write_pdf(tmp_path / name)
    item = scan(tmp_path).items[0]
    assert (item.format, item.household, item.volume) == (fmt, household, volume)


def test_household_pattern_is_the_callers(tmp_path):
    write_pdf(tmp_path / "A-17.pdf")
    write_pdf(tmp_path / f"{HH}.pdf")
    items = by_rel(scan_delivery(tmp_path, lambda text: text == "A-17"))
    assert items["A-17.pdf"].format == "household-pdf"
    assert items[f"{HH}.pdf"].format == "pdf"


def test_household_tiff_is_not_a_household_file(tmp_path):
    # The contract names household files only as PDFs.
    write_tiff(tmp_path / f"{HH}.tif", frames=2)
    item = scan(tmp_path).items[0]
    assert (item.format, item.household) == ("tiff", None)


# --- image folders ------------------------------------------------------------------------


def test_image_folder_pages_are_in_natural_order(tmp_path):
    folder = tmp_path / "batch"
    for n in (10, 2, 1, 11, 3):
        write_png(folder / f"page{n}.png", level=100 + n)
    item = scan(tmp_path).items[0]
    assert item.files == ("page1.png", "page2.png", "page3.png", "page10.png", "page11.png")
    assert item.size == sum((folder / name).stat().st_size for name in item.files)


def test_image_folder_sha256_is_over_names_and_page_hashes(tmp_path):
    folder = tmp_path / "batch"
    write_png(folder / "page2.png", level=10)
    write_png(folder / "page10.png", level=20)
    item = scan(tmp_path).items[0]
    expected = hashlib.sha256(
        b"page2.png\0" + sha(folder / "page2.png").encode() + b"\n"
        b"page10.png\0" + sha(folder / "page10.png").encode() + b"\n"
    ).hexdigest()
    assert item.sha256 == expected


def test_image_folder_sha256_changes_when_a_page_changes(tmp_path):
    folder = tmp_path / "batch"
    write_png(folder / "page1.png", level=10)
    write_png(folder / "page2.png", level=20)
    before = scan(tmp_path).items[0].sha256
    assert scan(tmp_path).items[0].sha256 == before
    write_png(folder / "page2.png", level=21)
    after = scan(tmp_path).items[0].sha256
    assert after != before


def test_image_folder_sha256_changes_when_pages_are_renamed(tmp_path):
    folder = tmp_path / "batch"
    write_png(folder / "page1.png", level=10)
    write_png(folder / "page2.png", level=20)
    before = scan(tmp_path).items[0].sha256
    (folder / "page2.png").rename(folder / "page3.png")
    assert scan(tmp_path).items[0].sha256 != before


def test_loose_images_in_the_root_are_one_folder_item(tmp_path):
    write_png(tmp_path / "scan2.png")
    write_jpg(tmp_path / "scan1.jpg")
    items = by_rel(scan(tmp_path))
    assert set(items) == {"."}
    assert items["."].format == "image-folder"
    assert items["."].files == ("scan1.jpg", "scan2.png")
    assert items["."].path == tmp_path


def test_multi_frame_tiff_is_its_own_item_single_frame_joins_the_folder(tmp_path):
    folder = tmp_path / "box"
    write_tiff(folder / "multi.tif", frames=3)
    write_tiff(folder / "single.tif", frames=1)
    write_png(folder / "a.png")
    items = by_rel(scan(tmp_path))
    assert set(items) == {"box", "box/multi.tif"}
    assert items["box/multi.tif"].format == "tiff"
    assert items["box"].format == "image-folder"
    assert items["box"].files == ("a.png", "single.tif")


def test_folder_of_single_frame_tiffs_is_an_image_folder(tmp_path):
    for n in (1, 2, 3):
        write_tiff(tmp_path / "b" / f"{n:04d}.tiff")
    items = by_rel(scan(tmp_path))
    assert items["b"].format == "image-folder"
    assert items["b"].files == ("0001.tiff", "0002.tiff", "0003.tiff")


def test_damaged_tiff_is_its_own_tiff_item_for_the_reader(tmp_path):
    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "broken.tif").write_bytes(b"II*\x00garbage")
    (tmp_path / "box" / "png-in-disguise.tif").write_bytes(_png_bytes())
    write_png(tmp_path / "box" / "p1.png")
    items = by_rel(scan(tmp_path))
    for rel in ("box/broken.tif", "box/png-in-disguise.tif"):
        assert items[rel].format == "tiff"
        assert items[rel].problem is None
        assert items[rel].sha256 == sha(tmp_path / rel)
    assert items["box"].files == ("p1.png",)


def test_nested_folders_each_form_their_own_batch(tmp_path):
    write_png(tmp_path / "box" / "cover.png")
    write_png(tmp_path / "box" / "batch" / "p1.png")
    items = by_rel(scan(tmp_path))
    assert items["box"].files == ("cover.png",)
    assert items["box/batch"].files == ("p1.png",)


# --- links --------------------------------------------------------------------------------


def test_symlink_leading_outside_is_set_aside_unread(tmp_path):
    outside = write_pdf(tmp_path / "secret" / "other.pdf")
    (tmp_path / "secret" / "folder").mkdir()
    root = tmp_path / "delivery"
    write_pdf(root / "batch.pdf")
    (root / "link.pdf").symlink_to(outside)
    (root / "linkdir").symlink_to(tmp_path / "secret" / "folder")
    (root / "relative.pdf").symlink_to(Path("..") / "secret" / "other.pdf")
    items = by_rel(scan(root))
    for rel in ("link.pdf", "linkdir", "relative.pdf"):
        assert items[rel].format == "unknown"
        assert items[rel].problem == "symbolic link leading outside the delivery"
        assert items[rel].sha256 is None


def test_symlink_to_a_file_inside_reads_as_that_file(tmp_path):
    target = write_pdf(tmp_path / "box" / "batch.pdf")
    (tmp_path / "copy.pdf").symlink_to(Path("box") / "batch.pdf")
    (tmp_path / f"{HH}_3.pdf").symlink_to(target)
    items = by_rel(scan(tmp_path))
    link = items["copy.pdf"]
    assert (link.format, link.problem) == ("pdf", None)
    assert link.sha256 == sha(target)
    assert link.size == target.stat().st_size
    assert link.path == tmp_path / "copy.pdf"
    assert items[f"{HH}_3.pdf"].format == "household-pdf"
    assert items[f"{HH}_3.pdf"].volume == 3


def test_symlink_to_an_image_inside_joins_the_folder(tmp_path):
    write_png(tmp_path / "b" / "p1.png")
    (tmp_path / "b" / "p2.png").symlink_to("p1.png")
    assert scan(tmp_path).items[0].files == ("p1.png", "p2.png")


def test_symlink_to_a_folder_inside_is_not_followed(tmp_path):
    write_png(tmp_path / "batch" / "p1.png")
    (tmp_path / "again").symlink_to("batch")
    (tmp_path / "batch" / "loop").symlink_to("..")
    items = by_rel(scan(tmp_path))
    for rel in ("again", "batch/loop"):
        assert items[rel].format == "unknown"
        assert items[rel].problem == "symbolic link to a folder, not followed"
    assert items["batch"].files == ("p1.png",)


def test_broken_symlink(tmp_path):
    write_pdf(tmp_path / "batch.pdf")
    (tmp_path / "gone.pdf").symlink_to("nothing-here.pdf")
    (tmp_path / "self.pdf").symlink_to("self.pdf")
    items = by_rel(scan(tmp_path))
    for rel in ("gone.pdf", "self.pdf"):
        assert items[rel].format == "unknown"
        assert items[rel].problem == "broken symbolic link"
        assert items[rel].sha256 is None


def test_delivery_root_may_itself_be_a_link(tmp_path):
    write_pdf(tmp_path / "real" / "batch.pdf")
    (tmp_path / "real" / "inner.pdf").symlink_to("batch.pdf")
    (tmp_path / "alias").symlink_to("real")
    items = by_rel(scan(tmp_path / "alias"))
    assert items["inner.pdf"].problem is None


# --- what is not a scan -------------------------------------------------------------------


def test_hidden_and_system_files_are_reported_not_skipped(tmp_path):
    write_pdf(tmp_path / "batch.pdf")
    write_pdf(tmp_path / ".hidden.pdf")
    (tmp_path / "Thumbs.db").write_bytes(b"x")
    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "DESKTOP.INI").write_bytes(b"[x]")
    (tmp_path / "box" / ".DS_Store").write_bytes(b"\0\0")
    (tmp_path / "box" / "thumbs.DB").write_bytes(b"y")
    items = by_rel(scan(tmp_path))
    for rel in (".hidden.pdf", "Thumbs.db", "box/DESKTOP.INI", "box/.DS_Store", "box/thumbs.DB"):
        assert items[rel].format == "unknown", rel
        assert items[rel].problem == "not a scan file (hidden or system file)", rel
    assert items["Thumbs.db"].sha256 == sha(tmp_path / "Thumbs.db")


def test_hidden_folder_is_reported_once_and_not_entered(tmp_path):
    write_pdf(tmp_path / "batch.pdf")
    write_pdf(tmp_path / ".trash" / "deleted.pdf")
    write_png(tmp_path / ".trash" / "sub" / "p1.png")
    items = by_rel(scan(tmp_path))
    assert set(items) == {"batch.pdf", ".trash"}
    assert items[".trash"].format == "unknown"
    assert items[".trash"].problem == "not a scan file (hidden or system file)"


def test_images_hidden_among_pages_do_not_join_the_batch(tmp_path):
    write_png(tmp_path / "b" / "p1.png")
    write_png(tmp_path / "b" / "._p1.png")  # macOS resource fork copy
    items = by_rel(scan(tmp_path))
    assert items["b"].files == ("p1.png",)
    assert items["b/._p1.png"].problem == "not a scan file (hidden or system file)"


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("notes.txt", "not a scan file (.txt)"),
        ("README", "not a scan file (no extension)"),
        ("scan.PDF.zip", "not a scan file (.zip)"),
        ("photo.gif", "not a scan file (.gif)"),
        ("list.CSV", "not a scan file (.csv)"),
    ],
)
def test_other_files_beside_a_scan_are_unknown_and_set_aside(tmp_path, name, problem):
    write_pdf(tmp_path / "batch.pdf")  # a delivery, with one odd file in it
    (tmp_path / name).write_bytes(b"data")
    item = by_rel(scan(tmp_path))[name]
    assert (item.relpath, item.format, item.problem) == (name, "unknown", problem)
    assert item.sha256 == hashlib.sha256(b"data").hexdigest()
    assert item.size == 4


def test_manifest_is_not_an_item_but_one_in_a_subfolder_is(tmp_path):
    pdf = write_pdf(tmp_path / "batch.pdf")
    write_manifest(tmp_path, [("batch.pdf", sha(pdf), "1")])
    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "manifest.csv").write_text("file;sha256\r\n")
    result = scan(tmp_path)
    items = by_rel(result)
    assert "manifest.csv" not in items
    assert items["box/manifest.csv"].problem == "not a scan file (.csv)"
    assert result.has_manifest


def test_named_pipe_is_not_read(tmp_path):
    write_pdf(tmp_path / "batch.pdf")
    os.mkfifo(tmp_path / "pipe.pdf")
    items = by_rel(scan(tmp_path))  # would hang if the pipe were opened
    assert items["pipe.pdf"].format == "unknown"
    assert items["pipe.pdf"].problem.startswith("not a regular file")


_SCAN_AS_USER = """
import json, re, sys
from esak.errors import InputError
from esak.migrate.delivery import scan_delivery
try:
    result = scan_delivery(sys.argv[1], lambda t: re.fullmatch(r"\\d{5}BG\\d{7}", t) is not None)
except InputError as exc:
    print(json.dumps({"error": str(exc), "remedy": exc.remedy}))
else:
    print(json.dumps({i.relpath: [i.format, i.problem, i.sha256] for i in result.items}))
"""


def _scan_unprivileged(root: Path) -> dict:
    """The delivery scanned by an ordinary user (root, as in CI, may read any file)."""
    done = as_unprivileged([sys.executable, "-c", _SCAN_AS_USER, str(root)])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_unreadable_files_and_folders(open_tmp):
    root = open_tmp
    write_pdf(root / "ok.pdf")
    locked = write_pdf(root / "locked.pdf")
    locked_tiff = write_tiff(root / "locked.tif", frames=2)
    write_png(root / "pages" / "p1.png")
    locked_page = write_png(root / "pages" / "p2.png")
    locked_dir = root / "closed"
    write_pdf(locked_dir / "inner.pdf")
    for path in (root, *root.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    for path in (locked, locked_tiff, locked_page):
        path.chmod(0)
    locked_dir.chmod(0)
    items = _scan_unprivileged(root)
    assert items["ok.pdf"][1] is None
    assert items["locked.pdf"][1] == "cannot be read (permission denied)"
    assert items["locked.pdf"][2] is None
    assert items["locked.tif"][0] == "tiff"
    assert items["locked.tif"][1] == "cannot be read (permission denied)"
    assert items["pages"][1] == "cannot be read (permission denied): p2.png"
    assert items["pages"][2] is None
    assert items["closed"][1] == "cannot be read (permission denied)"


def test_unreadable_root_is_an_input_error(open_tmp):
    root = open_tmp / "delivery"
    write_pdf(root / "batch.pdf")
    for path in (root, *root.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o644)
    root.chmod(0)
    answer = _scan_unprivileged(root)
    assert "permission denied" in answer["error"]
    assert answer["remedy"]


# --- names --------------------------------------------------------------------------------

ODD_NAMES = [
    "Akte Müller.pdf",
    "Größe & Maß #1.pdf",
    "50% 'quoted' \"double\".pdf",
    "semi;colon,comma.pdf",
    "Ärger/Übersicht ß.pdf",
]


def test_odd_names_work_with_a_manifest(tmp_path):
    rows = []
    for n, name in enumerate(ODD_NAMES):
        path = write_pdf(tmp_path / name, level=100 + n)
        quoted = '"' + name.replace('"', '""') + '"'
        rows.append((quoted, sha(path), "1"))
    write_manifest(tmp_path, rows)
    result = scan(tmp_path)
    assert sorted(item.relpath for item in result.items) == sorted(ODD_NAMES)
    assert result.problems == []
    assert result.manifest_pages == dict.fromkeys(ODD_NAMES, 1)
    for item in result.items:
        assert item.format == "pdf" and item.problem is None
        assert item.path.exists()


@pytest.mark.parametrize(("on_disk", "in_manifest"), [("NFD", "NFC"), ("NFC", "NFD")])
def test_names_match_across_unicode_normalisation(tmp_path, on_disk, in_manifest):
    name = "Schöppingen/Akte Müller.pdf"
    path = write_pdf(tmp_path / unicodedata.normalize(on_disk, name))
    write_manifest(tmp_path, [(unicodedata.normalize(in_manifest, name), sha(path), "1")])
    result = scan(tmp_path)
    assert result.problems == []
    item = result.items[0]
    assert item.path.exists()
    assert result.manifest_pages == {item.relpath: 1}


def test_nfd_image_folder_files_name_real_files(tmp_path):
    folder = tmp_path / unicodedata.normalize("NFD", "Bände")
    write_png(folder / unicodedata.normalize("NFD", "Seite ü1.png"))
    item = scan(tmp_path).items[0]
    assert all((item.path / name).exists() for name in item.files)


# --- the manifest -------------------------------------------------------------------------


@pytest.fixture
def delivery(tmp_path):
    """A delivery with a PDF, a TIFF, an image folder, and a helper to write the manifest."""
    files = {
        "box01/batch_001.pdf": write_pdf(tmp_path / "box01" / "batch_001.pdf", pages=2),
        "box01/batch_002.tif": write_tiff(tmp_path / "box01" / "batch_002.tif", frames=3),
        "box02/batch_003/page1.png": write_png(tmp_path / "box02" / "batch_003" / "page1.png", 1),
        "box02/batch_003/page2.png": write_png(tmp_path / "box02" / "batch_003" / "page2.png", 2),
    }
    return tmp_path, {rel: sha(path) for rel, path in files.items()}


def test_a_complete_manifest_has_no_findings(delivery):
    root, hashes = delivery
    pages = {"box01/batch_001.pdf": "2", "box01/batch_002.tif": "3"}
    write_manifest(root, [(rel, h, pages.get(rel, "1")) for rel, h in hashes.items()])
    result = scan(root)
    assert result.has_manifest
    assert result.problems == []
    assert result.manifest_pages == {
        "box01/batch_001.pdf": 2,
        "box01/batch_002.tif": 3,
        "box02/batch_003/page1.png": 1,
        "box02/batch_003/page2.png": 1,
        # Summed for the batch, which is what the reader counts.
        "box02/batch_003": 2,
    }


def test_scan_dates_and_scanners_of_the_manifest(delivery):
    root, hashes = delivery
    when = {"box01/batch_001.pdf": ("2021-01-18", "Fujitsu fi-7900"),
            "box01/batch_002.tif": ("19.01.2021", ""),  # as Excel writes it on a German Windows
            "box02/batch_003/page1.png": ("2021-01-22", "Kodak i4250"),
            "box02/batch_003/page2.png": ("2021-01-21", "Kodak i4250")}  # fmt: skip
    write_manifest(root, [(rel, h, *when[rel]) for rel, h in hashes.items()],
                   header="file;sha256;scanned_at;scanner")  # fmt: skip
    result = scan(root)
    assert result.problems == []
    assert result.manifest_capture == {
        "box01/batch_001.pdf": Capture("2021-01-18", "Fujitsu fi-7900"),
        "box01/batch_002.tif": Capture("2021-01-19", None),
        "box02/batch_003/page1.png": Capture("2021-01-22", "Kodak i4250"),
        "box02/batch_003/page2.png": Capture("2021-01-21", "Kodak i4250"),
        # The batch of page files: its earliest page, the scanner all of them name.
        "box02/batch_003": Capture("2021-01-21", "Kodak i4250"),
    }


@pytest.mark.parametrize("bad", ["2021-02-30", "gestern", "2021/01/18", "18.1.21"])
def test_a_scan_date_that_is_no_date_is_a_manifest_problem(delivery, bad):
    root, hashes = delivery
    write_manifest(root, [(rel, h, bad) for rel, h in hashes.items()],
                   header="file;sha256;scanned_at")  # fmt: skip
    result = scan(root)
    problems = {p.problem for p in result.problems}
    assert any(f"scanned_at {bad!r} is not a date" in p for p in problems), problems
    assert all(c.scanned_at is None for c in result.manifest_capture.values())


def test_no_manifest_no_findings(delivery):
    root, _ = delivery
    result = scan(root)
    assert result.has_manifest is False
    assert result.problems == []
    assert result.manifest_pages == {}


def test_every_manifest_finding(delivery):
    root, hashes = delivery
    (root / ".DS_Store").write_bytes(b"junk")
    wrong = "0" * 64
    write_manifest(
        root,
        [
            ("box01/batch_001.pdf", hashes["box01/batch_001.pdf"].upper(), "2"),
            ("box01/batch_002.tif", wrong, "3"),
            ("box02/batch_003/page1.png", hashes["box02/batch_003/page1.png"], "1"),
            # page2.png is not listed
            ("box07/batch_3.pdf", wrong, "12"),
            ("../outside.pdf", wrong, ""),
            ("/etc/passwd", wrong, ""),
            ("C:\\scans\\batch.pdf", wrong, ""),
            ("box01\\..\\..\\x.pdf", wrong, ""),
        ],
    )
    result = scan(root)
    assert problems(result) == {
        ("box01/batch_002.tif", "checksum differs from manifest"),
        ("box02/batch_003/page2.png", "delivered, not listed in manifest"),
        (".DS_Store", "delivered, not listed in manifest"),
        ("box07/batch_3.pdf", "listed in manifest, not delivered"),
        ("manifest.csv", "manifest row 6: path leaves the delivery"),
        ("manifest.csv", "manifest row 7: path leaves the delivery"),
        ("manifest.csv", "manifest row 8: path leaves the delivery"),
        ("manifest.csv", "manifest row 9: path leaves the delivery"),
    }
    assert len(result.problems) == 8
    # Not every page of the batch is in the manifest, so the batch gets no declared count.
    assert "box02/batch_003" not in result.manifest_pages
    assert result.manifest_pages["box07/batch_3.pdf"] == 12
    assert all(isinstance(p, DeliveryProblem) for p in result.problems)


def test_manifest_paths_with_backslashes_and_dot_slash(delivery):
    root, hashes = delivery
    rows = [
        ("box01\\batch_001.pdf", hashes["box01/batch_001.pdf"]),
        ("./box01/batch_002.tif", hashes["box01/batch_002.tif"]),
        (".\\box02\\batch_003\\page1.png", hashes["box02/batch_003/page1.png"]),
        ("box02//batch_003/./page2.png", hashes["box02/batch_003/page2.png"]),
    ]
    write_manifest(root, rows, header="file;sha256")
    result = scan(root)
    assert result.problems == []
    assert result.manifest_pages == {}


def test_dots_inside_a_name_do_not_leave_the_delivery(tmp_path):
    path = write_pdf(tmp_path / "batch..1.pdf")
    write_manifest(tmp_path, [("batch..1.pdf", sha(path), "1")])
    assert scan(tmp_path).problems == []


def test_manifest_with_commas_bom_and_upper_case_headers(delivery):
    root, hashes = delivery
    lines = ["File,SHA256,Pages"] + [f"{rel},{h},1" for rel, h in hashes.items()]
    (root / "manifest.csv").write_bytes(("\ufeff" + "\n".join(lines) + "\n").encode("utf-8"))
    result = scan(root)
    assert result.problems == []
    assert result.manifest_pages["box01/batch_001.pdf"] == 1


def test_manifest_in_windows_1252(tmp_path):
    path = write_pdf(tmp_path / "Akte Müller.pdf")
    write_manifest(tmp_path, [("Akte Müller.pdf", sha(path))], header="file;sha256",
                   encoding="cp1252")  # fmt: skip
    result = scan(tmp_path)
    assert result.has_manifest
    assert result.problems == []


def test_manifest_reports_a_changed_file(tmp_path):
    path = write_pdf(tmp_path / "batch.pdf", level=10)
    write_manifest(tmp_path, [("batch.pdf", sha(path), "1")])
    assert scan(tmp_path).problems == []
    write_pdf(tmp_path / "batch.pdf", level=11)
    assert problems(scan(tmp_path)) == {("batch.pdf", "checksum differs from manifest")}


def test_manifest_checks_hidden_files_and_links(tmp_path):
    target = write_pdf(tmp_path / "batch.pdf")
    (tmp_path / "Thumbs.db").write_bytes(b"x")
    (tmp_path / "link.pdf").symlink_to("batch.pdf")
    (tmp_path / "gone.pdf").symlink_to("nothing.pdf")
    write_manifest(
        tmp_path,
        [
            ("batch.pdf", sha(target)),
            ("Thumbs.db", "1" * 64),
            ("link.pdf", sha(target)),
            ("gone.pdf", "2" * 64),
        ],
        header="file;sha256",
    )
    # The broken link is delivered (and set aside as an item), its content cannot be compared.
    assert problems(scan(tmp_path)) == {("Thumbs.db", "checksum differs from manifest")}


def test_manifest_rows_inside_a_hidden_folder_are_checked_on_disk(tmp_path):
    write_pdf(tmp_path / "batch.pdf")
    kept = write_pdf(tmp_path / ".meta" / "kept.pdf")
    write_manifest(
        tmp_path,
        [
            ("batch.pdf", sha(tmp_path / "batch.pdf")),
            (".meta/kept.pdf", sha(kept)),
            (".meta/lost.pdf", "3" * 64),
        ],
        header="file;sha256",
    )
    assert problems(scan(tmp_path)) == {(".meta/lost.pdf", "listed in manifest, not delivered")}


def test_manifest_listing_a_case_variant_matches(tmp_path):
    # Made on Windows, where the case of a name does not matter.
    path = write_pdf(tmp_path / "Box01" / "Batch_1.pdf")
    write_manifest(tmp_path, [("box01/BATCH_1.PDF", sha(path), "1")])
    result = scan(tmp_path)
    assert result.problems == []
    assert result.manifest_pages == {"Box01/Batch_1.pdf": 1}


def test_manifest_row_findings(delivery):
    root, hashes = delivery
    rows = [(rel, h, "1") for rel, h in hashes.items()]
    rows += [
        ("box01/batch_001.pdf", hashes["box01/batch_001.pdf"], "1"),
        ("box01", "4" * 64, ""),
        ("", "5" * 64, ""),
        ("new.pdf", "not-a-hash", "zwei"),
        ("new2.pdf", "", "-1"),
    ]
    write_manifest(root, rows)
    result = scan(root)
    assert problems(result) == {
        ("manifest.csv", "manifest row 6: box01/batch_001.pdf is listed again (first in row 2)"),
        ("manifest.csv", "manifest row 7: box01 is a folder, not a file"),
        ("manifest.csv", "manifest row 8: no file name"),
        ("manifest.csv", "manifest row 9: 'not-a-hash' is not a SHA-256 checksum"),
        ("manifest.csv", "manifest row 9: pages 'zwei' is not a whole number"),
        ("manifest.csv", "manifest row 10: no checksum for new2.pdf"),
        ("manifest.csv", "manifest row 10: pages '-1' is not a whole number"),
        ("new.pdf", "listed in manifest, not delivered"),
        ("new2.pdf", "listed in manifest, not delivered"),
    }
    assert "new.pdf" not in result.manifest_pages


def test_manifest_listing_itself_is_fine(tmp_path):
    path = write_pdf(tmp_path / "batch.pdf")
    write_manifest(tmp_path, [("batch.pdf", sha(path)), ("manifest.csv", "6" * 64)],
                   header="file;sha256")  # fmt: skip
    assert scan(tmp_path).problems == []


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"name;checksum\r\nbatch.pdf;abc\r\n", "lacks the column(s) 'file', 'sha256'"),
        (b"file;pages\r\nbatch.pdf;1\r\n", "lacks the column(s) 'sha256'"),
        (b"", "empty"),
        (b"\r\n\r\n", "empty"),
        (b"\x81\x8d\x8f\x90\x9d file;sha256\r\n", "not a text file"),
        (b"%PDF-1.4\x00\x01\x02file;sha256", "not a text file"),
    ],
)
def test_bad_manifest_is_one_problem_and_no_reconciliation(tmp_path, content, expected):
    write_pdf(tmp_path / "batch.pdf")
    (tmp_path / "manifest.csv").write_bytes(content)
    result = scan(tmp_path)
    assert result.has_manifest
    assert len(result.problems) == 1
    assert result.problems[0].file == "manifest.csv"
    assert expected in result.problems[0].problem
    assert result.manifest_pages == {}


def test_delivery_problem_to_dict():
    problem = DeliveryProblem("box07/batch_3.pdf", "listed in manifest, not delivered")
    assert problem.to_dict() == {
        "file": "box07/batch_3.pdf",
        "problem": "listed in manifest, not delivered",
    }


# --- the delivery as a whole --------------------------------------------------------------


def test_items_are_sorted_naturally(tmp_path):
    for name in ("box10/a.pdf", "box2/b.pdf", "box2/batch_10.pdf", "box2/batch_9.pdf", "z.pdf"):
        write_pdf(tmp_path / name)
    write_png(tmp_path / "box2" / "imgs" / "p.png")
    assert [item.relpath for item in scan(tmp_path).items] == [
        "box2/b.pdf",
        "box2/batch_9.pdf",
        "box2/batch_10.pdf",
        "box2/imgs",
        "box10/a.pdf",
        "z.pdf",
    ]


def _snapshot(root: Path) -> dict[str, tuple[int, int, int, str | None]]:
    shot: dict[str, tuple[int, int, int, str | None]] = {}
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in dirs + files:
            path = Path(folder) / name
            st = path.lstat()
            content = None
            if path.is_file() and not path.is_symlink():
                content = sha(path)
            shot[str(path.relative_to(root))] = (st.st_size, st.st_mtime_ns, st.st_mode, content)
    st = root.lstat()
    shot["."] = (st.st_size, st.st_mtime_ns, st.st_mode, None)
    return shot


def test_the_delivery_is_not_changed(delivery):
    root, hashes = delivery
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.pdf").write_bytes(b"x")
    (root / "Thumbs.db").write_bytes(b"x")
    (root / "broken.tif").write_bytes(b"II*\x00")
    (root / "link.pdf").symlink_to("box01/batch_001.pdf")
    (root / "gone.pdf").symlink_to("nothing.pdf")
    write_manifest(root, [(rel, h, "1") for rel, h in hashes.items()])
    before = _snapshot(root)
    scan(root)
    scan(root)
    assert _snapshot(root) == before


def test_empty_delivery_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no scan files in") as err:
        scan(tmp_path)
    assert err.value.remedy


def test_delivery_with_only_a_manifest_or_empty_folders_holds_no_scans(tmp_path):
    (tmp_path / "box01").mkdir()
    (tmp_path / "manifest.csv").write_text("file;sha256\r\n")
    with pytest.raises(InputError, match="no scan files in"):
        scan(tmp_path)


def test_delivery_of_only_office_files_holds_no_scans(tmp_path):
    """19 documents that are not scans: refused as a whole, not 19 files set aside."""
    for n in range(10):
        (tmp_path / f"Anschreiben {n}.docx").write_bytes(b"PK\x03\x04")
    for n in range(9):
        (tmp_path / "notizen" / f"{n}.txt").parent.mkdir(exist_ok=True)
        (tmp_path / "notizen" / f"{n}.txt").write_text("x")
    (tmp_path / ".versteckt.pdf").write_bytes(b"%PDF-")  # hidden: not a scan either
    with pytest.raises(InputError) as err:
        scan(tmp_path)
    assert err.value.message.startswith(f"no scan files in {tmp_path} (only 20 other file(s)")
    assert "e.g. .versteckt.pdf" in err.value.message
    assert "PDF, TIFF, PNG or JPEG" in err.value.remedy


@pytest.mark.parametrize(
    "make",
    [
        lambda root: write_pdf(root / "sub" / "batch.pdf"),
        lambda root: write_tiff(root / "batch.tif", frames=2),
        lambda root: write_png(root / "page.png"),
        lambda root: write_jpg(root / "box" / "page.jpg"),
        lambda root: (root / "kaputt.pdf").write_bytes(b"not a pdf"),  # the reader judges it
    ],
    ids=["pdf", "tiff", "png", "jpeg", "damaged-pdf"],
)
def test_one_scan_file_among_junk_is_a_delivery(tmp_path, make):
    make(tmp_path)
    (tmp_path / "notes.txt").write_text("x")
    items = by_rel(scan(tmp_path))
    assert items["notes.txt"].problem == "not a scan file (.txt)"
    assert any(item.format != "unknown" for item in items.values())


def test_missing_root_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no such folder") as err:
        scan(tmp_path / "nope")
    assert err.value.remedy


def test_root_that_is_a_file_is_an_input_error(tmp_path):
    path = write_pdf(tmp_path / "batch.pdf")
    with pytest.raises(InputError, match="not a folder") as err:
        scan(path)
    assert err.value.remedy


def test_scan_root_is_absolute(tmp_path, monkeypatch):
    write_pdf(tmp_path / "d" / "batch.pdf")
    monkeypatch.chdir(tmp_path)
    result = scan_delivery(Path("d"), is_household)
    assert result.root == tmp_path / "d"
    assert result.items[0].path == tmp_path / "d" / "batch.pdf"


def test_sha256_file_streams_large_files(tmp_path):
    path = tmp_path / "big.bin"
    data = os.urandom(3 * 1024 * 1024 + 17)
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    assert sha256_file(empty) == hashlib.sha256(b"").hexdigest()


def test_a_copy_of_a_delivery_scans_the_same(delivery, tmp_path_factory):
    # Hashes depend on content and names only, so a re-delivered copy is recognised.
    root, _ = delivery
    copy = tmp_path_factory.mktemp("copy") / "d"
    shutil.copytree(root, copy)
    first = [(i.relpath, i.format, i.sha256, i.size, i.files) for i in scan(root).items]
    second = [(i.relpath, i.format, i.sha256, i.size, i.files) for i in scan(copy).items]
    assert first == second

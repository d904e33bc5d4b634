"""Property and fuzz tests: what hostile bytes and texts can do to the barcode parser, the page
reader and the delivery scan.

Fast (well under a minute) and reproducible: every test is derandomized and writes no example
database, so CI sees the same examples on every run.
"""

from __future__ import annotations

import io
import os
import re
import resource
import shutil
import struct
from datetime import timedelta
from pathlib import Path

import img2pdf
import numpy as np
import pikepdf
import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from esak.errors import InputError
from esak.files import display_name
from esak.migrate.barcodes import Barcode
from esak.migrate.classify import (
    CoverInfo,
    PageClass,
    PageKind,
    PayloadProblem,
    SeparatorInfo,
    classify_barcodes,
    parse_payload,
)
from esak.migrate.delivery import scan_delivery
from esak.migrate.pages import open_pages
from esak.profiles import load_profile
from esak.sandbox import LimitedReader, ReaderDied
from tests.conftest import PEAK_LIMIT_KIB, sample

#: Damaged files make Pillow warn ("Corrupt EXIF data", "Tag data larger than file"): expected.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL.*")

PROFILE = load_profile("borken")

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=10),  # a hang fails here; pytest-timeout stops a real one
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# --- (a) barcode texts ---------------------------------------------------------------------

#: Pieces that hostile or broken barcode texts are made of.
_TOKENS = [
    "ESAK1",
    "ESAK2",
    "esak1",
    "borken",
    "rhede",
    "..",
    "../",
    "..\\",
    "/",
    "\\",
    "%2F",
    "%2e%2e",
    "\x00",
    "\n",
    " ",
    ";",
    "95401BG0000001",
    "95401BG000000",
    "95401bg0000001",
    "٩٥٤٠١",  # Arabic-Indic digits
    "９５４０１",  # full-width digits
    "BG",
    "0",
    "1",
    "999",
    "1000",
    "-1",
    "+1",
    "1e3",
    "PATCHT",
    "DOC;",
    "CON",
    "NUL",
    "/etc/passwd",
    "C:",
]
_token_text = st.lists(st.one_of(st.sampled_from(_TOKENS), st.text(max_size=8)), max_size=12).map(
    "".join
)


def _field(*plausible: str) -> st.SearchStrategy[str]:
    """A field of the structured form: mostly plausible, so that later fields are reached."""
    likely = st.sampled_from(plausible)
    return st.one_of(likely, likely, likely, _token_text)


#: Includes more digits than int() takes (4300).
_NUMERIC = ("0", "1", "007", "999", "1000", "100000", "100001", "9" * 5000, "0" * 5000 + "1")
_structured = st.tuples(
    st.sampled_from(["ESAK1", "ESAK1", "ESAK1", "ESAK", "esak1"]),
    _field("borken", "rhede"),
    _field("95401BG0000001", "95401BG0000001 ", "95401BG000000１"),
    _field(*_NUMERIC),
    _field(*_NUMERIC),
).map(";".join)

barcode_texts = st.one_of(st.text(max_size=200), _token_text, _structured)

_HOUSEHOLD_CHARS = re.compile(r"[0-9A-Za-z]+")


def _check_household(household: str) -> None:
    assert PROFILE.is_household(household), household
    assert _HOUSEHOLD_CHARS.fullmatch(household) and household.isascii(), household
    for bad in ("/", "\\", ".", "%", "\x00"):
        assert bad not in household


@settings(FUZZ, max_examples=400)
@given(st.one_of(barcode_texts, _structured))
def test_parse_payload_never_raises_and_never_yields_a_bad_household(text):
    payload = parse_payload(text, PROFILE)
    assert payload is None or isinstance(payload, CoverInfo | SeparatorInfo | PayloadProblem)
    if isinstance(payload, CoverInfo):
        _check_household(payload.household)
        assert 1 <= payload.volume <= 999
        assert 0 <= payload.declared_pages <= 100_000
    if isinstance(payload, SeparatorInfo) and payload.doc_type is not None:
        assert not payload.doc_type.startswith(".")
        assert "/" not in payload.doc_type and "\\" not in payload.doc_type
    if isinstance(payload, PayloadProblem):
        assert payload.reason.strip()


@settings(FUZZ, max_examples=150)
@given(volume=_field(*_NUMERIC), pages=_field(*_NUMERIC))
@example(volume="1", pages="9" * 5000)  # int() refuses more than 4300 digits
@example(volume="0" * 5000 + "1", pages="0")
def test_volume_and_page_count_of_a_cover_are_small_whole_numbers_or_a_problem(volume, pages):
    payload = parse_payload(f"ESAK1;borken;95401BG0000001;{volume};{pages}", PROFILE)
    assert isinstance(payload, CoverInfo | PayloadProblem)
    if isinstance(payload, CoverInfo):
        assert payload.volume == int(volume.lstrip("0") or "0")
        assert payload.declared_pages == int(pages.lstrip("0") or "0")
    else:
        assert "volume" in payload.reason or "page count" in payload.reason


@FUZZ
@given(
    st.lists(
        st.builds(
            Barcode, st.sampled_from(["Code128", "Code39", "QR", "DataMatrix"]), barcode_texts
        ),
        max_size=4,
    )
)
def test_classify_barcodes_never_raises_and_covers_are_valid_or_have_a_problem(codes):
    decided = classify_barcodes(codes, PROFILE)
    if decided is None:
        return
    assert isinstance(decided, PageClass)
    if decided.kind is PageKind.COVER:
        # A cover either names one valid household, or says why it cannot be used.
        assert (decided.cover is None) != (decided.problem is None)
        if decided.cover is not None:
            _check_household(decided.cover.household)
    else:
        assert decided.kind is PageKind.SEPARATOR and decided.cover is None


# --- (b) the page reader on mutated files ------------------------------------------------


def _png_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _page(level: int = 245, mode: str = "L") -> Image.Image:
    arr = np.full((70, 50), level, dtype=np.uint8)
    arr[20:24, 5:45] = 30
    return Image.fromarray(arr, "L").convert(mode)


def _seeds() -> dict[str, bytes]:
    """Small, valid inputs of every kind the reader takes, keyed by file name."""
    seeds: dict[str, bytes] = {}
    pdf = img2pdf.convert([_png_bytes(_page(), dpi=(10, 10)), _png_bytes(_page(200), dpi=(10, 10))])
    seeds["img2pdf.pdf"] = pdf
    out = io.BytesIO()
    with pikepdf.open(io.BytesIO(pdf)) as doc:
        doc.pages[0].MediaBox = pikepdf.Array([0, 0, 300, 400])
        doc.pages[1].Rotate = 90
        doc.save(out, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    seeds["objstreams.pdf"] = out.getvalue()
    out = io.BytesIO()
    frames = [_page(mode="1"), _page(100, mode="1")]
    frames[0].save(
        out, format="TIFF", save_all=True, append_images=frames[1:], compression="group4"
    )
    seeds["g4.tif"] = out.getvalue()
    out = io.BytesIO()
    Image.fromarray(np.arange(3500, dtype=np.uint16).reshape(70, 50) * 17).save(
        out, format="TIFF", compression="tiff_deflate"
    )
    seeds["grey16.tiff"] = out.getvalue()
    seeds["page.png"] = _png_bytes(_page(mode="LA"))
    out = io.BytesIO()
    _page(mode="RGB").save(out, format="JPEG", quality=50, dpi=(20, 20))
    seeds["page.jpg"] = out.getvalue()
    return seeds


SEEDS = _seeds()
#: Values that break parsers: zero, negative, huge, not numbers at all.
_NUMBERS = [b"0", b"-1", b"1", b"65535", b"99999999", b"4294967295", b"1e308", b"3.5", b"/X"]

_mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(1, 255)),
    st.tuples(st.just("insert"), st.integers(0, 1 << 20), st.binary(min_size=1, max_size=16)),
    st.tuples(st.just("delete"), st.integers(0, 1 << 20), st.integers(1, 64)),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 20), st.just(0)),
    # A header field (width, height, offset, count) set to something absurd.
    st.tuples(
        st.just("field"),
        st.integers(0, 1 << 20),
        st.sampled_from([0, 1, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF, 40000]),
    ),
    # A number in a PDF (a /Width, /Count, /Length, a MediaBox corner) replaced.
    st.tuples(st.just("number"), st.integers(0, 1 << 20), st.sampled_from(_NUMBERS)),
)


def _mutate(data: bytes, mutations: list[tuple]) -> bytes:
    buf = bytearray(data)
    for op, where, arg in mutations:
        pos = where % max(1, len(buf))
        if op == "flip" and buf:
            buf[pos] ^= arg
        elif op == "insert":
            buf[pos:pos] = arg
        elif op == "delete":
            del buf[pos : pos + arg]
        elif op == "truncate":
            del buf[pos:]
        elif op == "field" and len(buf) >= 4:
            pos = min(pos, len(buf) - 4)
            order = ">" if buf[:2] in (b"MM", b"\x89P") else "<"
            buf[pos : pos + 4] = struct.pack(order + "I", arg)
        elif op == "number":
            numbers = list(re.finditer(rb"\d+", bytes(buf)))
            if numbers:
                found = numbers[where % len(numbers)]
                buf[found.start() : found.end()] = arg
    return bytes(buf)


def _read_all(path: Path) -> None:
    """Open the input and render its pages (first few and last) at a low resolution."""
    try:
        with open_pages(path) as src:
            count = src.page_count
            assert count >= 1
            for index in sorted({*range(min(count, 4)), count - 1}):
                try:
                    page = src.page(index, dpi=20)
                except InputError as exc:
                    assert exc.message and exc.remedy
                    continue
                assert page.image.mode == "L"
                assert page.image.width * page.image.height <= 40_000_000
                page.image.close()
    except InputError as exc:
        assert exc.message and exc.remedy
        exc.message.encode("utf-8")  # storable and printable as it is


def _read_all_peak(path: str) -> int:
    """``_read_all``, returning the reading process's peak RSS in KiB."""
    _read_all(Path(path))
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


class _Reader:
    """Reads mutated files as ingest's workers and ``esak inspect`` do: in a child process
    under the address-space limit (esak.migrate.inspect.LimitedReader).

    Some mutations make PDFium ask for hundreds of MB (a PNG predictor row of /Columns
    99999999 is 100 MB, in an image or in the xref stream PDFium parses on opening); once in
    a full test run such a file took 16 s and 2 GB in the test process. Under the limit PDFium
    is refused the memory and the reading process dies, which esak reports as that page or
    file being unreadable: counted here, and allowed.
    """

    def __init__(self) -> None:
        self.process = LimitedReader()
        self.died = 0
        self.peak_kib = 0

    def read(self, path: Path) -> None:
        try:
            self.peak_kib = max(self.peak_kib, self.process.run(_read_all_peak, str(path)))
        except ReaderDied:
            self.died += 1


@pytest.fixture(scope="module")
def reader():
    reading = _Reader()
    yield reading
    reading.process.close()
    # The limit held: no reading process grew near 2 GB, and dying stayed the exception.
    assert reading.peak_kib < PEAK_LIMIT_KIB
    assert reading.died <= 5, reading.died


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.timeout(60)
@settings(FUZZ, max_examples=1500)
@given(
    name=st.sampled_from(sorted(SEEDS)),
    mutations=st.lists(_mutation, min_size=1, max_size=6),
)
def test_page_reader_on_mutated_files_raises_only_input_error(fuzz_dir, reader, name, mutations):
    path = fuzz_dir / name
    path.write_bytes(_mutate(SEEDS[name], mutations))
    reader.read(path)


_SAMPLE_FILES = [
    ("paperless", "patch-code-t-middle.pdf"),
    ("paperless", "patch-code-t-middle-alpha.tiff"),
    ("paperless", "negative-control-password-is-test.pdf"),
    ("ocrmypdf", "ccitt.pdf"),
    ("ocrmypdf", "masks.pdf"),
    ("ocrmypdf", "linn.png"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("parts", _SAMPLE_FILES, ids=lambda p: p[1])
def test_page_reader_on_mutated_sample_scans(parts, fuzz_dir, reader):
    original = sample(*parts).read_bytes()  # skips when the samples are absent

    @settings(FUZZ, max_examples=60)
    @given(mutations=st.lists(_mutation, min_size=1, max_size=4))
    def run(mutations):
        path = fuzz_dir / f"sample-{parts[1]}"
        path.write_bytes(_mutate(original, mutations))
        reader.read(path)

    run()


def test_fuzzing_stayed_far_below_the_memory_limit():
    # ru_maxrss is in KiB on Linux: the whole test process, fuzzing included, never held 2 GB.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < PEAK_LIMIT_KIB


# --- the delivery scan on hostile file names ---------------------------------------------


def _storable(name: str) -> bool:
    if not name or name in (".", "..") or "/" in name or "\x00" in name:
        return False
    try:
        return len(os.fsencode(name)) <= 255
    except UnicodeEncodeError:  # a lone surrogate the file system encoding cannot take
        return False


file_names = st.one_of(
    st.text(min_size=1, max_size=30),
    st.binary(min_size=1, max_size=30).map(os.fsdecode),  # bytes that may not be UTF-8
    st.tuples(st.text(max_size=12), st.sampled_from([".pdf", ".PDF", ".tif", ".png", ".jpg"])).map(
        "".join
    ),
).filter(_storable)
_CONTENTS = {
    "random": os.urandom(64),
    "empty": b"",
    "pdf": SEEDS["img2pdf.pdf"],
    "tiff": SEEDS["g4.tif"],
    "png": SEEDS["page.png"],
}


@pytest.mark.timeout(60)
@settings(FUZZ, max_examples=150)
@given(
    files=st.lists(
        st.tuples(file_names, st.sampled_from(sorted(_CONTENTS)), st.booleans()),
        min_size=1,
        max_size=8,
        unique_by=lambda f: f[0],
    )
)
def test_delivery_scan_reports_every_file_whatever_its_name(fuzz_dir, files):
    root = fuzz_dir / "delivery"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    written: set[str] = set()
    manifest = None
    for name, content, in_folder in files:
        folder = root / "sub folder" if in_folder else root
        try:
            folder.mkdir(exist_ok=True)
            (folder / name).write_bytes(_CONTENTS[content])
        except OSError:  # "sub folder" is also one of the names
            continue
        rel = f"sub folder/{display_name(name)}" if in_folder else display_name(name)
        if not in_folder and name.lower() == "manifest.csv":
            manifest = rel
            continue
        written.add(rel)
    assume(written)

    try:
        scan = scan_delivery(root, PROFILE.is_household)
    except InputError as exc:
        # A folder without a single scan file is refused whole (nothing to ingest), never
        # turned into a list of set-aside files.
        assert exc.message.startswith("no scan files in"), exc.message
        scan_suffixes = {".pdf", ".tif", ".tiff", ".png", ".jpg", ".jpeg"}
        assert not any(Path(name).suffix.lower() in scan_suffixes for name, _, _ in files), files
        return

    seen: set[str] = set()
    for item in scan.items:
        item.relpath.encode("utf-8")  # every name is storable text
        assert item.problem is None or item.problem.strip()
        if item.format == "image-folder":
            for page in item.files:
                page_rel = display_name(page)
                seen.add(page_rel if item.relpath == "." else f"{item.relpath}/{page_rel}")
        else:
            seen.add(item.relpath)
    assert written <= seen, written - seen
    assert seen <= written, seen - written
    for problem in scan.problems:
        problem.file.encode("utf-8")
        assert problem.problem.strip()
    if manifest is None:
        assert not scan.has_manifest

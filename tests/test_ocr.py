"""The direct OCR path (esak.migrate.ocr): which pages it takes, how it turns pages, where the
text layer lies, and the documents it hands to OCRmyPDF instead."""

from __future__ import annotations

import io
import os
import random
import tempfile
from pathlib import Path

import img2pdf
import numpy as np
import pikepdf
import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageDraw

from esak.migrate.ocr import (
    NotScanned,
    _overlay_matrix,
    _Scan,
    _words,
    ocr_scanned_pages,
    save_pdfa,
    scanned_image,
)
from esak.migrate.tasks import DocumentTask, build_document
from esak.synthetic import random_person, render_content_page
from esak.synthetic.drawing import load_font
from esak.verify.fixity import pdf_problem
from tests.conftest import osd_rotation, write_pdf

DPI = 300


@pytest.fixture(scope="module")
def page_image() -> Image.Image:
    rng = random.Random(11)
    return render_content_page(
        rng, "schreiben", dpi=DPI, person=random_person(rng), household="95401BG0000001"
    )


# --- which pages are plain scans --------------------------------------------------------------


def _one_page(tmp_path: Path, edit=None) -> pikepdf.Pdf:
    img = Image.new("L", (850, 1100), 255)
    path = write_pdf([img], tmp_path / "one.pdf", DPI)
    pdf = pikepdf.open(path)
    if edit:
        edit(pdf, pdf.pages[0])
    return pdf


def test_a_scanned_page_is_taken_with_its_resolution(tmp_path):
    with _one_page(tmp_path) as pdf:
        scan = scanned_image(pdf.pages[0])
    assert scan.dpi == pytest.approx(DPI, rel=0.01)
    assert (scan.width, scan.height) == pytest.approx((850 * 72 / DPI, 1100 * 72 / DPI), abs=0.1)


def _add_text(pdf: pikepdf.Pdf, page: pikepdf.Page) -> None:
    font = pdf.make_indirect(
        pikepdf.Dictionary(Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type1,
                           BaseFont=pikepdf.Name.Helvetica)
    )  # fmt: skip
    page.add_resource(font, pikepdf.Name.Font, prefix="F")
    page.contents_add(pdf.make_stream(b"BT /F1 12 Tf 10 10 Td (scanner OCR) Tj ET"))


def _second_image(pdf: pikepdf.Pdf, page: pikepdf.Page) -> None:
    (_, image), *_ = page.get_images().items()
    page.Resources.XObject[pikepdf.Name("/Im9")] = image
    page.contents_add(pdf.make_stream(b"q 10 0 0 10 0 0 cm /Im9 Do Q"))


def _turned(pdf: pikepdf.Pdf, page: pikepdf.Page) -> None:
    w, h = float(page.mediabox[2]), float(page.mediabox[3])
    page.Contents = pdf.make_stream(f"q 0 {h} {-w} 0 {w} 0 cm /Im0 Do Q".encode())


def _smask(pdf: pikepdf.Pdf, page: pikepdf.Page) -> None:
    (_, image), *_ = page.get_images().items()
    image.SMask = pdf.make_stream(b"\xff", Width=1, Height=1, BitsPerComponent=8,
                                  ColorSpace=pikepdf.Name.DeviceGray, Type=pikepdf.Name.XObject,
                                  Subtype=pikepdf.Name.Image)  # fmt: skip


def _small(pdf: pikepdf.Pdf, page: pikepdf.Page) -> None:
    page.Contents = pdf.make_stream(b"q 100 0 0 100 50 50 cm /Im0 Do Q")


def _stretched(pdf: pikepdf.Pdf, page: pikepdf.Page) -> None:
    page.MediaBox = [0, 0, 204, 400]
    page.Contents = pdf.make_stream(b"q 204 0 0 400 0 0 cm /Im0 Do Q")


def _annotated(pdf: pikepdf.Pdf, page: pikepdf.Page) -> None:
    page.Annots = pdf.make_indirect(pikepdf.Array())


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (_add_text, "text"),
        (_second_image, "more than one"),
        (_turned, "turned"),
        (_smask, "SMask"),
        (_small, "fill"),
        (_stretched, "resolution"),
        (_annotated, "annotations"),
    ],
)
def test_pages_that_are_not_plain_scans_are_refused_with_a_reason(tmp_path, edit, why):
    with _one_page(tmp_path, edit) as pdf, pytest.raises(NotScanned, match=why):
        scanned_image(pdf.pages[0])


def test_word_statistics_from_tesseract_tsv():
    header = "\t".join(
        ["level", "page_num", "block_num", "par_num", "line_num", "word_num", "left", "top",
         "width", "height", "conf", "text"]
    )  # fmt: skip
    rows = [
        "5\t1\t1\t1\t1\t1\t0\t0\t100\t20\t90\tWort",
        "5\t1\t1\t1\t1\t2\t0\t0\t20\t100\t30\tHoch",
        "5\t1\t1\t1\t1\t3\t0\t0\t20\t100\t-1\t",  # not a word
        "4\t1\t1\t1\t1\t0\t0\t0\t200\t20\t-1\t",  # a line
    ]
    mean, words, vertical = _words("\n".join([header, *rows]))
    assert (mean, words, vertical) == (60.0, 2, 0.5)


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_overlay_matrix_puts_the_upright_text_box_onto_the_turned_image(rotate):
    scan = _Scan(image=None, x0=10.0, y0=20.0, width=600.0, height=800.0, dpi=300.0)  # type: ignore[arg-type]
    upright = (600.0, 800.0) if rotate in (0, 180) else (800.0, 600.0)
    a, b, c, d, e, f = _overlay_matrix(scan, [0, 0, *upright], rotate)

    def place(u: float, v: float) -> tuple[float, float]:
        return (round(a * u + c * v + e, 6), round(b * u + d * v + f, 6))

    corners = {place(0, 0), place(upright[0], 0), place(0, upright[1]), place(*upright)}
    assert corners == {(10, 20), (610, 20), (10, 820), (610, 820)}
    # The upright page's top-left corner (where reading starts) lies where the image's text
    # starts once the page is shown turned by `rotate` degrees clockwise.
    top_left = place(0, upright[1])
    expected = {0: (10, 820), 90: (10, 20), 180: (610, 20), 270: (610, 820)}[rotate]
    assert top_left == expected


# --- real OCR: turned pages and the place of the text ---------------------------------------


def _shown(x: float, y: float, w: float, h: float, rotate: int) -> tuple[float, float]:
    """A point of the page's own space where it appears on the page as shown (points from
    the top left), the page turned `rotate` degrees clockwise."""
    return {
        0: (x, h - y),
        90: (y, x),
        180: (w - x, y),
        270: (h - y, w - x),
    }[rotate]


def _ink_under_words(page: pdfium.PdfPage, bitmap: np.ndarray, scale: float) -> float:
    """Share of recognised words whose box, as the text layer places it, covers dark pixels."""
    text = page.get_textpage()
    w, h = page.get_mediabox()[2:]
    rotate = page.get_rotation()
    hits = total = 0
    for i in range(text.count_rects()):
        left, bottom, right, top = text.get_rect(i)
        (xa, ya), (xb, yb) = _shown(left, bottom, w, h, rotate), _shown(right, top, w, h, rotate)
        x0, x1 = sorted((int(xa * scale), int(xb * scale)))
        y0, y1 = sorted((int(ya * scale), int(yb * scale)))
        box = bitmap[max(0, y0) : y1 + 1, max(0, x0) : x1 + 1]
        if box.size == 0:
            continue
        total += 1
        hits += bool((box < 100).mean() > 0.03)
    text.close()
    return hits / total if total else 0.0


@pytest.fixture(scope="module")
def turned_document(page_image, tmp_path_factory):
    """One letter four times: upright and turned by 90, 180 and 270 degrees."""
    folder = tmp_path_factory.mktemp("turned")
    pages = [page_image, *(page_image.rotate(angle, expand=True) for angle in (90, 180, 270))]
    source = write_pdf(pages, folder / "in.pdf", DPI)
    keep: list[pikepdf.Pdf] = []
    with pikepdf.open(source) as pdf:
        results = ocr_scanned_pages(pdf, folder, "deu", 120, keep)
        save_pdfa(pdf, folder / "out.pdf", "95401BG0000001 Band 1")
    for k in keep:
        k.close()
    return folder / "out.pdf", results, folder


def test_turned_pages_come_out_upright_with_their_text_in_place(turned_document):
    out, results, folder = turned_document
    # PIL turns anticlockwise: 90 anticlockwise needs 90 clockwise to be upright.
    assert [r.rotate for r in results] == [0, 90, 180, 270]
    assert not results[0].checked_orientation
    assert all("Jobcenter" in r.text for r in results)
    doc = pdfium.PdfDocument(str(out))
    scale = 100 / 72
    for i in range(4):
        page = doc[i]
        assert "jobcenter" in page.get_textpage().get_text_range().lower(), f"page {i}"
        image = page.render(scale=scale, grayscale=True).to_pil().convert("L")
        png = folder / f"shown-{i}.png"
        image.save(png)
        assert osd_rotation(png) == 0, f"page {i} is not shown upright"
        # The words of the text layer lie on the printed words, whichever way the page is turned.
        assert _ink_under_words(page, np.asarray(image), scale) > 0.9, f"page {i}"
    doc.close()


def test_the_output_is_pdfa_and_keeps_the_scan_as_delivered(turned_document):
    out, results, folder = turned_document
    assert pdf_problem(out, 4, sum(len(r.text) for r in results)) is None
    with pikepdf.open(folder / "in.pdf") as src, pikepdf.open(out) as dst:
        assert dst.open_metadata().pdfa_status == "2B"
        assert dst.open_metadata()["dc:title"] == "95401BG0000001 Band 1"
        for before, after in zip(src.pages, dst.pages, strict=True):
            (_, old), *_ = before.get_images().items()
            new = [img for img in after.get_images().values() if img.Subtype == "/Image"]
            assert len(new) == 1
            assert new[0].read_raw_bytes() == old.read_raw_bytes()  # not re-encoded


# --- the whole document: which engine ---------------------------------------------------------


def _task(source: Path, pages: int, tmp: Path) -> DocumentTask:
    return DocumentTask(
        key="k",
        source=str(source),
        format="pdf",
        files=None,
        pages=tuple(range(pages)),
        languages=("deu",),
        tmp_dir=str(tmp),
        title="95401BG0000001 Band 1",
        timeout=120,
    )


def test_a_scanned_document_goes_straight_to_tesseract(page_image, tmp_path):
    small = page_image.reduce(2)
    source = write_pdf([small], tmp_path / "scan.pdf", DPI // 2)
    before = (os.environ.get("TMPDIR"), tempfile.tempdir)
    result = build_document(_task(source, 1, tmp_path / "tmp"))
    # Temporary files went under the workspace's tmp, and the caller's TMPDIR is as it was.
    assert (os.environ.get("TMPDIR"), tempfile.tempdir) == before
    assert result.error is None and result.engine == "tesseract"
    assert result.pdfa == "2B" and result.text_chars > 200
    assert sorted(p.name for p in (tmp_path / "tmp").iterdir()) == [Path(result.output).name]


def test_a_page_with_text_on_it_goes_to_ocrmypdf(page_image, tmp_path):
    small = page_image.reduce(2)
    scan = write_pdf([small, small], tmp_path / "scan.pdf", DPI // 2)
    with pikepdf.open(scan) as pdf:
        _add_text(pdf, pdf.pages[1])  # a scanner's own text layer on the second page
        pdf.save(tmp_path / "with-text.pdf")
    result = build_document(_task(tmp_path / "with-text.pdf", 2, tmp_path / "tmp"))
    assert result.error is None and result.engine == "ocrmypdf"
    assert result.pdfa == "2B" and result.pages == 2
    with pikepdf.open(result.output) as pdf:
        assert len(pdf.pages) == 2
    text = pdfium.PdfDocument(result.output)[1].get_textpage().get_text_range()
    assert "Jobcenter" in text


def test_a_cmyk_jpeg_is_not_passed_to_tesseract_as_it_is(page_image, tmp_path):
    buf = io.BytesIO()
    page_image.reduce(2).convert("CMYK").save(buf, format="JPEG", dpi=(150, 150))
    source = tmp_path / "cmyk.pdf"
    source.write_bytes(img2pdf.convert(buf.getvalue()))
    result = build_document(_task(source, 1, tmp_path / "tmp"))
    assert result.error is None, result.error
    assert result.pdfa == "2B" and result.text_chars > 200


def test_a_png_of_an_image_folder_goes_into_the_pdf_as_it_is(page_image, tmp_path):
    from esak.migrate.tasks import _page_pdf_as_is, _png_as_it_is

    png = tmp_path / "0001.png"
    page_image.reduce(2).save(png, dpi=(150, 150))
    assert _png_as_it_is(png)
    with pikepdf.open(io.BytesIO(_page_pdf_as_is(png))) as pdf:
        (_, image), *_ = pdf.pages[0].get_images().items()
        assert image.DecodeParms.Predictor == 15  # PNG rows as they are, not re-encoded
        with Image.open(png) as original:
            assert np.array_equal(
                np.asarray(pikepdf.PdfImage(image).as_pil_image()), np.asarray(original)
            )
        assert scanned_image(pdf.pages[0]).dpi == pytest.approx(150, rel=0.01)
    page_image.reduce(2).convert("LA").save(tmp_path / "alpha.png")
    assert not _png_as_it_is(tmp_path / "alpha.png")


@pytest.mark.parametrize(
    ("mode", "g4", "suffix"),
    [("L", None, ".png"), ("1", None, ".png"), ("1", "BlackIs1", ".tif"), ("1", "white", ".tif")],
)
def test_a_lossless_scan_goes_to_tesseract_with_its_data_as_it_is(
    page_image, tmp_path, mode, g4, suffix
):
    from PIL import ImageOps

    from esak.migrate.ocr import _image_file

    img = page_image.reduce(2).convert(mode)
    if g4:
        # img2pdf writes /BlackIs1 true; the PDF default (false) is the same data inverted.
        drawn = img if g4 == "BlackIs1" else ImageOps.invert(img.convert("L")).convert("1")
        buf = io.BytesIO()
        drawn.save(buf, format="TIFF", compression="group4", dpi=(DPI // 2, DPI // 2))
        source = tmp_path / "scan.pdf"
        source.write_bytes(img2pdf.convert(buf.getvalue()))
        if g4 == "white":
            with pikepdf.open(source, allow_overwriting_input=True) as pdf:
                (_, image), *_ = pdf.pages[0].get_images().items()
                del image.DecodeParms[0]["/BlackIs1"]
                pdf.save(source)
    else:
        source = write_pdf([img], tmp_path / "scan.pdf", DPI // 2)
    with pikepdf.open(source) as pdf:
        scan = scanned_image(pdf.pages[0])
        handed = _image_file(scan, tmp_path / "p0")
        decoded = _image_file(scan, tmp_path / "p1", as_is=False)
        assert (handed.suffix, decoded.suffix) == (suffix, ".pnm")
        with Image.open(handed) as a, Image.open(decoded) as b:
            assert np.array_equal(np.asarray(a.convert(mode)), np.asarray(b.convert(mode)))
            assert np.array_equal(np.asarray(b.convert(mode)), np.asarray(img))


def test_a_palette_image_is_decoded_not_handed_as_grey(page_image, tmp_path):
    from esak.migrate.ocr import _image_file

    img = page_image.reduce(2).convert("RGB").quantize(16)  # Flate with an Indexed space
    with pikepdf.open(write_pdf([img], tmp_path / "scan.pdf", DPI // 2)) as pdf:
        scan = scanned_image(pdf.pages[0])
        assert scan.image.ColorSpace[0] == pikepdf.Name.Indexed
        handed = _image_file(scan, tmp_path / "p0")
        assert handed.suffix == ".pnm"
        with Image.open(handed) as got:
            assert np.array_equal(np.asarray(got), np.asarray(img.convert("RGB")))


def test_a_g4_image_without_a_colour_space_goes_to_ocrmypdf_not_to_an_error(
    page_image, tmp_path
):
    from esak.migrate.ocr import _image_file

    buf = io.BytesIO()
    page_image.reduce(2).convert("1").save(buf, format="TIFF", compression="group4")
    source = tmp_path / "scan.pdf"
    source.write_bytes(img2pdf.convert(buf.getvalue()))
    with pikepdf.open(source, allow_overwriting_input=True) as pdf:
        (_, image), *_ = pdf.pages[0].get_images().items()
        del image["/ColorSpace"]
        pdf.save(source)
    with pikepdf.open(source) as pdf, pytest.raises(NotScanned):
        _image_file(scanned_image(pdf.pages[0]), tmp_path / "p0")


def test_a_damaged_lossless_image_goes_to_ocrmypdf_as_before(page_image, tmp_path):
    import zlib

    source = write_pdf([page_image.reduce(2)], tmp_path / "scan.pdf", DPI // 2)
    with pikepdf.open(source, allow_overwriting_input=True) as pdf:
        (_, image), *_ = pdf.pages[0].get_images().items()
        raw = image.read_raw_bytes()
        cut = zlib.compress(zlib.decompress(raw)[: len(raw) // 3])  # rows missing at the end
        image.write(cut, filter=image.Filter, decode_parms=image.DecodeParms)
        pdf.save(source)
    keep: list[pikepdf.Pdf] = []
    with pikepdf.open(source) as pdf, pytest.raises(NotScanned, match="cannot be decoded"):
        ocr_scanned_pages(pdf, tmp_path, "deu", 120, keep)
    assert not list(tmp_path.glob("p0000*")), "the page's temporary files are gone"
    result = build_document(_task(source, 1, tmp_path / "tmp"))
    assert result.error is None and result.engine == "ocrmypdf", result


def test_a_missing_program_is_said_so_not_reported_as_a_failed_page():
    from esak.migrate.ocr import MissingProgram, _run

    with pytest.raises(MissingProgram, match="esak-no-such-program"):
        _run(["esak-no-such-program", "--version"], timeout=5)


# --- the two readers: Tesseract in the worker (tesserocr) and a process per page ----------------


@pytest.fixture(scope="module")
def page_png(page_image, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("reader") / "page.png"
    page_image.save(path)
    return path


def _read(reader: str, image: Path, base: Path, monkeypatch, timeout: float = 120):
    from esak.migrate import ocr

    monkeypatch.setenv(ocr.READER_ENV, reader)
    return ocr.recognise(image, base, "deu", DPI, timeout)


def test_both_readers_read_a_page_alike_and_place_its_words_alike(page_png, tmp_path, monkeypatch):
    from esak.migrate.ocr import words_from_tsv

    api = _read("api", page_png, tmp_path / "api", monkeypatch)
    cli = _read("cli", page_png, tmp_path / "cli", monkeypatch)
    assert api.tsv.splitlines()[0] == cli.tsv.splitlines()[0]  # the same header, as parsed
    assert "Jobcenter" in api.text and "Jobcenter" in cli.text
    assert api.pdf.exists() and not (tmp_path / "api.txt").exists()
    assert abs(api.words - cli.words) <= 0.05 * cli.words
    assert api.confidence > 80 and api.vertical < 0.5
    first: dict[str, dict[str, object]] = {"api": {}, "cli": {}}
    for name, rec in (("api", api), ("cli", cli)):
        for word in words_from_tsv(rec.tsv, 0):
            first[name].setdefault(word.text, word)
    same = [(a, first["cli"][text]) for text, a in first["api"].items() if text in first["cli"]]
    assert len(same) > 0.8 * len(first["cli"])
    # The same word, where it first occurs, stands in the same place (to a few pixels).
    close = [
        (a.left, a.top, a.right, a.bottom) == pytest.approx((c.left, c.top, c.right, c.bottom),
                                                            abs=0.003)
        for a, c in same
    ]  # fmt: skip
    assert sum(close) > 0.9 * len(same)
    with pikepdf.open(api.pdf) as layer:
        assert len(layer.pages) == 1 and "/Font" in layer.pages[0].Resources


@pytest.mark.parametrize("reader", ["api", "cli"])
def test_both_readers_find_how_a_page_is_turned(page_image, reader, tmp_path, monkeypatch):
    from esak.migrate.ocr import READER_ENV, orientation

    monkeypatch.setenv(READER_ENV, reader)
    turned = tmp_path / "turned.png"
    page_image.rotate(90, expand=True).save(turned)  # PIL turns anticlockwise
    assert orientation(turned, DPI, 60) == 90
    blank = tmp_path / "blank.png"
    Image.new("L", (850, 1100), 255).save(blank)
    assert orientation(blank, DPI, 60) == 0


def test_a_page_tesseract_takes_too_long_on_is_a_timeout(page_png, tmp_path, monkeypatch):
    from esak.migrate.ocr import OcrTimeout

    with pytest.raises(OcrTimeout, match="took longer than"):
        _read("api", page_png, tmp_path / "slow", monkeypatch, timeout=0.05)
    assert not (tmp_path / "slow.pdf").exists()
    # The API object is still good for the next page.
    assert "Jobcenter" in _read("api", page_png, tmp_path / "next", monkeypatch).text


def test_an_image_tesseract_cannot_read_is_an_ocr_error(tmp_path, monkeypatch):
    from esak.migrate.ocr import OcrError

    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n but not an image")
    with pytest.raises(OcrError, match="could not read the image"):
        _read("api", bad, tmp_path / "bad", monkeypatch)


def test_the_api_object_is_made_again_after_so_many_pages(page_png, tmp_path, monkeypatch):
    from esak.migrate import ocr

    monkeypatch.setattr(ocr, "RECYCLE_PAGES", 2)
    monkeypatch.setattr(ocr, "_local", __import__("threading").local())
    first = ocr._text_api("deu")
    assert ocr._text_api("deu") is first
    again = ocr._text_api("deu")
    assert again is not first
    assert "Jobcenter" in _read("api", page_png, tmp_path / "after", monkeypatch).text


def test_without_tesserocr_the_remedy_names_both_ways(monkeypatch):
    import sys

    from esak.errors import DependencyError
    from esak.migrate import ocr

    monkeypatch.setitem(sys.modules, "tesserocr", None)  # import fails
    monkeypatch.setenv(ocr.READER_ENV, "api")
    with pytest.raises(DependencyError) as raised:
        ocr.check_dependencies(("deu",))
    assert "pip install tesserocr" in str(raised.value.remedy)
    assert "ESAK_TESSERACT=cli" in str(raised.value.remedy)
    monkeypatch.setenv(ocr.READER_ENV, "cli")
    ocr.check_dependencies(("deu",))  # the CLI alone is enough then


def test_a_machine_that_reads_with_the_other_reader_is_another_machine(monkeypatch):
    """A Dask worker with ESAK_TESSERACT=cli reads other words: software() tells it apart."""
    from esak.migrate import software as sw
    from esak.migrate.ocr import READER_ENV

    monkeypatch.setenv(READER_ENV, "api")
    sw.software.cache_clear()
    here = sw.software()
    monkeypatch.setenv(READER_ENV, "cli")
    sw.software.cache_clear()
    there = sw.software()
    sw.software.cache_clear()
    assert here["reader"].startswith("tesserocr ") and "tesseract 5." in here["reader"]
    assert there["reader"] == there["tesseract"]
    assert [d.split()[0] for d in sw.differences(here, there)] == ["reader"]


# --- white on dark ----------------------------------------------------------------------------

#: Printed light on dark: a letterhead banner, a grey band of hints, a negative copy of a note.
_LIGHT_ON_DARK = (
    ((0, 3, 210, 14), 25, 14, ("JOBCENTER IM KREIS BORKEN Leistungsabteilung",)),
    ((15, 268, 195, 280), 90, 10, ("Bitte Rückseite beachten Wichtige Hinweise",)),
    ((110, 200, 190, 232), 30, 11, ("AKTENVERMERK", "Nur für den Dienstgebrauch")),
)


def _light_on_dark(page: Image.Image) -> tuple[Image.Image, list[str]]:
    img, words = page.copy(), []
    draw = ImageDraw.Draw(img)
    px = DPI / 25.4
    for box, ground, points, lines in _LIGHT_ON_DARK:
        x0, y0, x1, y1 = (round(v * px) for v in box)
        draw.rectangle([x0, y0, x1, y1], fill=ground)
        size = points * DPI / 72
        font = load_font("sans-bold", round(size))
        y = y0 + round(2 * px)
        for line in lines:
            draw.text((x0 + round(3 * px), y), line, font=font, fill=250, anchor="lt")
            y += round(size * 1.6)
            words += line.split()
    return img, words


@pytest.mark.parametrize("reader", ["api", "cli"])
def test_text_printed_light_on_dark_is_read(page_image, reader, tmp_path, monkeypatch):
    """Tesseract reads a line it cannot read as printed once more inverted
    (``tessedit_do_invert``, on by default). Switching it off saves 2 % of Tesseract's CPU on
    ordinary pages and loses nearly every word printed light on dark: letterheads, stamps, negative
    copies (README, Performance, round six). This keeps either reader from losing them."""
    img, words = _light_on_dark(page_image)
    image = tmp_path / "page.png"
    img.save(image)
    read = set(_read(reader, image, tmp_path / "out", monkeypatch).text.split())
    missed = [w for w in words if w not in read]
    assert len(missed) <= 2, missed

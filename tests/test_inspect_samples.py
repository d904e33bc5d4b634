"""Barcode reading and blank detection on real scans from other projects' test suites."""

from __future__ import annotations

import pytest

from esak.errors import InputError
from esak.migrate.classify import PageKind
from esak.migrate.inspect import inspect_path
from tests.conftest import sample

# The table of ../shared/samples/paperless/README.md: page -> barcodes (format, text).
PAPERLESS = {
    "patch-code-t.pdf": (1, {0: [("Code39", "PATCHT")]}),
    "patch-code-t-qr.pdf": (1, {0: [("QR", "PATCHT")]}),
    "patch-code-t-middle.pdf": (3, {1: [("Code39", "PATCHT")]}),
    "patch-code-t-middle-reverse.pdf": (3, {1: [("Code39", "PATCHT")]}),
    "patch-code-t-middle-distorted.pdf": (3, {1: [("Code39", "PATCHT")]}),
    "patch-code-t-middle-fuzzy.pdf": (3, {1: [("Code39", "PATCHT")]}),
    "patch-code-t-middle-unreadable.pdf": (3, {}),
    "patch-code-t-middle-alpha.tiff": (3, {1: [("Code39", "PATCHT")]}),
    "patch-code-t-double.pdf": (4, {1: [("Code39", "PATCHT")], 2: [("Code39", "PATCHT")]}),
    "several-patcht-codes.pdf": (7, {2: [("Code39", "PATCHT")], 5: [("Code39", "PATCHT")]}),
    "barcode-fax-image.pdf": (3, {1: [("Code39", "PATCHT")]}),
    "barcode-39-custom.pdf": (1, {0: [("Code39", "CUSTOM BARCODE")]}),
    "barcode-128-custom.pdf": (1, {0: [("Code128", "CUSTOM BARCODE")]}),
    "barcode-qr-custom.pdf": (1, {0: [("QR", "CUSTOM BARCODE")]}),
    "barcode-39-asn-123.pdf": (1, {0: [("Code39", "ASN00123")]}),
    "barcode-39-asn-custom-prefix.pdf": (1, {0: [("Code39", "CUSTOM-PREFIX-00123")]}),
    "barcode-39-asn-invalid.pdf": (1, {0: [("Code39", "ASNXYZXYZ")]}),
    "barcode-128-asn-too-large.pdf": (1, {0: [("Code128", "ASN4294967296")]}),
    "barcode-qr-asn-000123-upscale-dpi.pdf": (1, {0: [("QR", "ASN 000123")]}),
    "split-by-asn-1.pdf": (
        10,
        {i: [("Code39", f"ASN0012{n}")] for n, i in enumerate((0, 2, 3, 6, 8), start=3)},
    ),
    "split-by-asn-2.pdf": (
        12,
        {
            0: [("Code39", "ASN00123")],
            2: [("Code39", "PATCHT")],
            4: [("Code39", "ASN00124")],
            5: [("Code39", "ASN00125")],
            8: [("Code39", "ASN00126")],
            10: [("Code39", "ASN00127")],
        },
    ),
    "split-by-tag-basic.pdf": (6, {1: [("QR", "TAG:invoice")], 3: [("QR", "TAG:receipt")]}),
    "split-by-tag-mixed-asn.pdf": (
        8,
        {
            0: [("QR", "ASN12345")],
            2: [("QR", "TAG:personal")],
            4: [("QR", "ASN13456")],
            6: [("QR", "TAG:business")],
        },
    ),
    "split-by-tag-multiple-per-page.pdf": (
        5,
        {1: [("QR", "TAG:invoice"), ("QR", "TAG:expense")], 3: [("QR", "TAG:receipt")]},
    ),
    "negative-control-simple.pdf": (1, {}),
}


@pytest.mark.parametrize("name", sorted(PAPERLESS))
def test_paperless_barcodes_on_exactly_the_right_pages(name, rules):
    pages, expected = PAPERLESS[name]
    report = inspect_path(sample("paperless", name), rules)
    assert len(report.pages) == pages
    for page in report.pages:
        found = sorted((b.format, b.text) for b in page.page.barcodes)
        assert found == sorted(expected.get(page.index, [])), f"page {page.index}"
        is_patch = any(text == "PATCHT" for _, text in expected.get(page.index, []))
        assert (page.page.kind is PageKind.SEPARATOR) == is_patch, f"page {page.index}"


def test_two_patch_codes_in_a_row_are_two_separators(rules):
    kinds = [
        p.page.kind
        for p in inspect_path(sample("paperless", "patch-code-t-double.pdf"), rules).pages
    ]
    assert kinds == [PageKind.CONTENT, PageKind.SEPARATOR, PageKind.SEPARATOR, PageKind.CONTENT]


def test_encrypted_pdf_is_refused_with_a_reason(rules):
    with pytest.raises(InputError, match="encrypted"):
        inspect_path(sample("paperless", "negative-control-password-is-test.pdf"), rules)


OCRMYPDF_SCANS = [
    "ccitt.pdf",
    "linn.pdf",
    "linn.png",
    "c02-22.pdf",
    "skew.pdf",
    "rotated_skew.pdf",
    "cardinal.pdf",
    "multipage.pdf",
    "typewriter.png",
    "3small.pdf",
    "masks.pdf",
    "francais.pdf",
]


@pytest.mark.parametrize("name", OCRMYPDF_SCANS)
def test_no_real_scan_with_text_is_called_blank(name, rules):
    report = inspect_path(sample("ocrmypdf", name), rules)
    assert report.pages
    assert [p.index for p in report.pages if p.page.kind is PageKind.BLANK] == []


def test_cardinal_pages_in_every_orientation_are_content(rules):
    report = inspect_path(sample("ocrmypdf", "cardinal.pdf"), rules)
    assert [p.page.kind for p in report.pages] == [PageKind.CONTENT] * 4


def test_huge_page_is_read_without_exhausting_memory(rules):
    # multipage.pdf page 1 is a 9000x9000 image: rendered at the page's size, not the image's.
    report = inspect_path(sample("ocrmypdf", "multipage.pdf"), rules)
    assert len(report.pages) == 6

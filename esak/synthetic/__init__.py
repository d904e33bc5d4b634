"""Test and demo data generation, outside the pipeline.

Nothing in here is imported by ingest, inspect or verify: these modules make synthetic scans
(and the truth about them) so that tests and demos can check the pipeline against pages whose
right answer is known, without real case files, which may not leave the job centre.

- ``drawing``: a sheet in millimetres, fonts, the scanner's look, barcodes at a readable size;
- ``documents``: cover sheets, separators, blank back sides and the letters, notices and forms
  of made-up people;
- ``delivery``: a whole scan delivery (batches, manifest, expected list) with its truth;
- ``backsides``: hard back sides, written and blank, for the blank-page test;
- ``mail``: incoming mail, letters with the household they belong to, as scans and as a
  model of OCR reads them (the router's corpus);
- ``index``: index rows of a district-sized site for benchmarks;
- ``demo``: ``esak demo``, the whole pipeline on a generated delivery against its truth.
"""

from esak.migrate.barcodes import barcode_modules
from esak.synthetic.delivery import DUPLEX, GeneratedDelivery, generate_delivery
from esak.synthetic.documents import (
    CONTENT_KINDS,
    DOC_TYPES,
    SYMBOLOGIES,
    Person,
    cover_text,
    random_person,
    render_blank_page,
    render_content_page,
    render_cover_sheet,
    render_handwritten_note_page,
    render_separator,
)

__all__ = [
    "CONTENT_KINDS",
    "DOC_TYPES",
    "DUPLEX",
    "SYMBOLOGIES",
    "GeneratedDelivery",
    "Person",
    "barcode_modules",
    "cover_text",
    "generate_delivery",
    "random_person",
    "render_blank_page",
    "render_content_page",
    "render_cover_sheet",
    "render_handwritten_note_page",
    "render_separator",
]

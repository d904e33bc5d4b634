"""The coordinator's state for one input file on its way through the pipeline.

A batch is classified in chunks, planned, its documents OCR'd, planned again where the OCR
text showed a cover sheet whose barcode could not be read, and committed. What its jobs have
brought back is kept here, so that a re-plan that keeps a document reuses its OCR.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from esak.migrate.delivery import InputItem
from esak.migrate.plan import BatchPlan, PageRecord
from esak.migrate.tasks import DocumentResult
from esak.vocabulary import PageKind


@dataclass
class Batch:
    item: InputItem
    page_count: int
    records: dict[int, PageRecord] = field(default_factory=dict)
    chunks_left: int = 0
    plan: BatchPlan | None = None
    #: a document's pages -> its OCR result; a re-plan that keeps a document reuses it
    done_by_pages: dict[tuple[int, ...], DocumentResult] = field(default_factory=dict)
    failed: dict[tuple[int, ...], str] = field(default_factory=dict)
    docs_left: int = 0
    #: a document's text showed a cover sheet: plan again once the running documents are back
    replan: bool = False
    #: pages before the first cover were read once for a cover sheet's printed text
    probed: bool = False

    def failed_documents(self) -> dict[int, str]:
        """The planned documents whose OCR failed for good, by number, with the reason."""
        assert self.plan is not None
        return {
            d.number: self.failed[tuple(d.pages)]
            for d in self.plan.documents
            if tuple(d.pages) in self.failed
        }

    def mark_text_covers(self, covers: list[tuple[int, str]]) -> None:
        """Pages whose printed text shows a cover sheet become covers; plan the batch anew."""
        for index, household in covers:
            self.records[index] = replace(
                self.records[index],
                kind=PageKind.COVER,
                household=household,
                volume=1,
                declared_pages=0,
                detected_by="ocr",
            )
        self.replan = True

"""``esak search``: find a document by what it says, in German.

The text of every archived page is in the index (:mod:`esak.index.texts`), written when its
document is archived (ingest, ``clarify assign``, ``blanks keep``) and by ``search reindex``
from the archived PDFs' text layers (for documents archived before the index had it).
Searching social data is itself an act to record: every search is a run in the index's run
log and audit log (who, when, which words, how many hits) — never a name from an expected
list, which the search does not read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from esak.errors import ExitCode, UsageError
from esak.index import texts
from esak.index.audit import recorded_run
from esak.index.db import Index
from esak.profiles import load_profile
from esak.workspace import Workspace


@dataclass
class SearchResult:
    query: str
    hits: list[texts.Hit]
    site: str | None
    household: str | None
    doc_type: str | None
    run_id: int = 0
    seconds: float = 0.0

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.hits else ExitCode.PROBLEMS

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "site": self.site, "household": self.household,
                "type": self.doc_type, "hits": [h.to_dict() for h in self.hits],
                "run_id": self.run_id, "seconds": round(self.seconds, 3)}  # fmt: skip


def _writing(workspace: Workspace) -> Index:
    workspace.existing()
    workspace.check_writable()
    return Index.open_existing(workspace.index_path, workspace.access)


def search(
    workspace: Workspace,
    query: str,
    *,
    site: str | None = None,
    household: str | None = None,
    doc_type: str | None = None,
    limit: int = 20,
) -> SearchResult:
    """Pages that hold every word of ``query``, best first; the search is recorded."""
    if not texts.terms(query):
        raise UsageError("give at least one word to search for", 'esak search "Bescheid"')
    if not 1 <= limit <= 1000:
        raise UsageError(f"--limit {limit} is not between 1 and 1000")
    key = load_profile(site).key if site else None
    started = time.monotonic()
    with _writing(workspace) as index:
        options = {"query": query, "household": household, "type": doc_type, "limit": limit}
        with recorded_run(index, "search", key, options) as run:
            hits = texts.search(index, query, site=key, household=household,
                                doc_type=doc_type, limit=limit)  # fmt: skip
            result = SearchResult(query, hits, key, household, doc_type, run.id,
                                  time.monotonic() - started)  # fmt: skip
            run.finish(result.exit_code)
            return result


@dataclass
class ReindexResult:
    documents: int = 0
    pages: int = 0
    missing: list[str] = field(default_factory=list)
    size: dict[str, int] = field(default_factory=dict)
    run_id: int = 0

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.INTEGRITY if self.missing else ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return {"documents": self.documents, "pages": self.pages, "missing": self.missing,
                "index": self.size, "run_id": self.run_id}  # fmt: skip


def reindex(workspace: Workspace, site: str | None = None) -> ReindexResult:
    """The text of every archived document again, from its PDF's text layer."""
    import pypdfium2 as pdfium

    key = load_profile(site).key if site else None
    result = ReindexResult()
    with (
        _writing(workspace) as index,
        workspace.lock(),
        recorded_run(index, "search reindex", key, {"site": key}) as run,
    ):
        result.run_id = run.id
        # A purged document's text is gone on purpose, with its PDF (esak purge).
        sql = "SELECT id, site, household, path FROM documents WHERE purge_id IS NULL"
        rows = index.db.execute(sql + (" AND site = ?" if key else ""),
                                [key] if key else []).fetchall()  # fmt: skip
        for doc_id, doc_site, household, path in rows:
            try:
                pdf = pdfium.PdfDocument(str(workspace.archive_dir / path))
            except (pdfium.PdfiumError, OSError):
                result.missing.append(path)
                continue
            try:
                pages = [page.get_textpage().get_text_range() for page in pdf]
            finally:
                pdf.close()
            with index.transaction() as db:
                texts.set_document_text(db, doc_id, doc_site, household, pages)
            result.documents += 1
            result.pages += len(pages)
        result.size = texts.size(index)
        run.finish(result.exit_code)
    return result

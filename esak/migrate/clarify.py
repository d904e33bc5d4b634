"""``esak clarify``: a person resolves a Klärfall, with a name and a reason.

- ``assign``: pages set aside become a document of the named household — OCR'd into PDF/A
  from the delivery as ingest does it (:mod:`esak.migrate.keep`'s build and commit, with its
  journal, so a kill -9 leaves nothing half-done) — and the case is resolved in the same
  transaction; a letter of the incoming mail (a ``mail`` case) is filed as ``mail ingest``
  files one: a ``Posteingang`` document in the household's ``post/<yyyy>/`` with its receipt
  date, its letter row and audit event naming the person, and its transfer note;
- ``close``: anything else; pages or a file set aside become ``discarded`` (still counted in
  the page accounting), a missing household is waived, an unexpected one accepted, a manifest
  gap or a page-count difference acknowledged;
- ``reopen``: a closed case is open again (discarded pages are set aside again).

Each is a run in the audit log and an event of the case; nothing is deleted.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from typing import Any

from esak.errors import ProblemsError, UsageError
from esak.index import cases as case_rows
from esak.index import keeps
from esak.index import mail as mail_rows
from esak.index.audit import recorded_run
from esak.index.cases import Case, get_case
from esak.index.db import Index
from esak.migrate.keep import (
    Target,
    build_documents,
    commit_documents,
    recover_keep,
    refresh_file_notes,
)
from esak.profiles import load_profile
from esak.verify.transfer import write_document_notes
from esak.vocabulary import MAIL_DOC_TYPE, POST_VOLUME, CaseKind, CaseStatus, PageOutcome
from esak.workspace import Workspace

#: The reason on a page that came into a household's file by a resolved Klärfall.
ASSIGNED_REASON = "assigned after clarification"
#: The pages within a letter's span that are none of its content.
_NOT_OF_A_LETTER = (PageOutcome.BLANK, PageOutcome.SEPARATOR, PageOutcome.COVER)


@dataclass
class ClarifyResult:
    case: dict[str, Any]
    run_id: int
    document: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"case": self.case, "run_id": self.run_id, "document": self.document,
                "notes": self.notes}  # fmt: skip


def case_list(workspace: Workspace, site: str | None, status: str) -> list[dict[str, Any]]:
    """The cases as JSON-able rows (CONTRACT §8), oldest first. Whoever may write the
    workspace sees them brought in line with the findings first; a reader sees them as the
    last ingest or verify left them."""
    sites = [load_profile(site).key] if site is not None else None
    workspace.existing()
    if not workspace.index_path.is_file():
        return []  # an empty workspace: nothing ingested, nothing to clarify
    if not workspace.writable:
        with Index.open_readonly(workspace.index_path) as index:
            return [c.to_dict() for c in case_rows.list_cases(index, site, status)]
    with Index.open(workspace.index_path, workspace.access) as index, workspace.lock():
        for key in sites or _sites_with_data(index):
            case_rows.sync_cases(index, key)
        return [c.to_dict() for c in case_rows.list_cases(index, site, status)]


def _sites_with_data(index: Index) -> list[str]:
    return [
        r[0]
        for r in index.db.execute(
            "SELECT site FROM expected UNION SELECT site FROM input_files "
            "UNION SELECT site FROM cases ORDER BY 1"
        )
    ]


def _writing(workspace: Workspace) -> Index:
    workspace.existing()
    workspace.check_writable()
    return Index.open_existing(workspace.index_path, workspace.access)


def _who(by: str, reason: str) -> tuple[str, str]:
    by, reason = (by or "").strip(), (reason or "").strip()
    if not by:
        raise UsageError("say who resolves the case: --by NAME", "esak clarify --help")
    if not reason:
        raise UsageError("say why: --reason TEXT", "esak clarify --help")
    return by, reason


def _open_case(index: Index, case_id: int) -> Case:
    case = get_case(index, case_id)
    if case.status != CaseStatus.OPEN:
        last = case.resolution or {}
        raise UsageError(
            f"case {case_id} is already resolved ({last.get('action')} by {last.get('by')} "
            f"on {last.get('at')})",
            f"to change it, reopen it first: esak clarify reopen {case_id} --by NAME --reason TEXT",
        )
    return case


def assign_case(
    workspace: Workspace,
    case_id: int,
    household: str,
    *,
    volume: int = 1,
    doc_type: str | None = None,
    by: str,
    reason: str,
) -> ClarifyResult:
    """The pages of a ``pages`` case become one new document of ``household``; the letter of
    a ``mail`` case becomes a letter of its incoming mail."""
    by, reason = _who(by, reason)
    if volume < 1:
        raise UsageError(f"volume {volume} is not a volume", "volumes count from 1: --volume 1")
    with _writing(workspace) as index, workspace.lock():
        notes = recover_keep(workspace, index)
        case = _open_case(index, case_id)
        if case.kind not in (CaseKind.PAGES, CaseKind.MAIL):
            raise UsageError(
                f"case {case_id} is about {case.kind.replace('_', ' ')}: only pages set aside "
                "and letters can be assigned to a household",
                f"close it instead: esak clarify close {case_id} --by NAME --reason TEXT",
            )
        profile = load_profile(case.site)
        if not profile.is_household(household):
            raise UsageError(
                f"{household!r} is not a household number of {profile.name}",
                f"give the number as printed on the file (pattern {profile.household_pattern})",
            )
        assert case.file_id is not None and case.first_page and case.last_page
        letter = None
        if case.kind == CaseKind.MAIL:
            letter = _letter_to_file(index, case, household)
            span = range(case.first_page - 1, case.last_page)
            # Its blank back sides stay left out, as mail ingest left them out.
            pages = [p for p in span if keeps.page_state(index, case.file_id, p).outcome
                     not in _NOT_OF_A_LETTER]  # fmt: skip
            volume, doc_type = POST_VOLUME, doc_type or MAIL_DOC_TYPE
        else:
            pages = list(range(case.first_page - 1, case.last_page))
        states = [keeps.page_state(index, case.file_id, p).outcome for p in pages]
        if any(state != PageOutcome.QUARANTINED for state in states):
            raise ProblemsError(
                f"the pages of case {case_id} are no longer all set aside ({', '.join(states)})",
                "esak clarify list --status all shows what happened to them",
            )
        options = {"case": case_id, "household": household, "volume": volume,
                   "type": doc_type, "by": by, "reason": reason}  # fmt: skip
        with recorded_run(index, "clarify assign", case.site, options) as record:
            source = keeps.input_file(index, case.file_id)
            target = Target(household, volume, None, None, pages, kept=list(pages),
                             doc_type=doc_type,
                             received_at=letter.received_at if letter else None)  # fmt: skip

            def resolve(db: Any, targets: list[Target]) -> None:
                document_id = targets[0].document_id
                case_rows.resolve(
                    db, case, "assign", by, reason, record.id, household=household,
                    volume=volume if letter is None else None, doc_type=doc_type,
                    document_id=document_id,
                )  # fmt: skip
                if letter is not None:
                    assert document_id is not None
                    mail_rows.assign_letter(db, letter, household, document_id, by=by,
                                            reason=reason, run_id=record.id)  # fmt: skip

            work = workspace.tmp_dir / f"keep-{record.id}"
            try:
                build_documents(workspace, profile, source, [target], work)
                commit_documents(
                    workspace, index, case.site, source, [target], record.id, work,
                    reason=f"{ASSIGNED_REASON} (case {case_id})",
                    from_outcome=PageOutcome.QUARANTINED, within=resolve,
                )  # fmt: skip
                refresh_file_notes(workspace, index, case.site, record.id, source.id)
                if letter is not None and target.document_id is not None:
                    # A letter gets its note when it is filed, as mail ingest files one.
                    write_document_notes(workspace, index, case.site, [target.document_id],
                                         by=by, run_id=record.id)  # fmt: skip
            finally:
                shutil.rmtree(work, ignore_errors=True)
            return ClarifyResult(get_case(index, case_id).to_dict(), record.id, target.path, notes)


def _letter_to_file(index: Index, case: Case, household: str) -> mail_rows.LetterRow:
    """The letter of a ``mail`` case, to be filed in ``household``: a household the site
    knows (a letter in a file nobody reads would be lost with its deadline)."""
    letter = mail_rows.letter_of_case(index, case.id)
    if letter is None or letter.received_at is None:
        raise ProblemsError(
            f"case {case.id} names no letter of the incoming mail in the index",
            "esak clarify list --status all shows the case; close it if it is stale",
        )
    known, _ = mail_rows.site_households(index, case.site)
    if household not in known:
        raise UsageError(
            f"{household} is neither on the expected list of site {case.site} nor archived "
            "there: a letter is filed only in a household the site knows",
            "check the number on the letter; a new household goes on the expected list first "
            f"(esak expected import --site {case.site} FILE.csv)",
        )
    return letter


def close_case(workspace: Workspace, case_id: int, *, by: str, reason: str) -> ClarifyResult:
    """Resolve a case without a new document; pages or a file set aside become discarded."""
    by, reason = _who(by, reason)
    with _writing(workspace) as index, workspace.lock():
        case = _open_case(index, case_id)
        options = {"case": case_id, "by": by, "reason": reason}
        with recorded_run(index, "clarify close", case.site, options) as record:
            with index.transaction() as db:
                case_rows.discard_pages(db, case)
                case_rows.resolve(db, case, "close", by, reason, record.id)
            if case.file_id is not None:
                refresh_file_notes(workspace, index, case.site, record.id, case.file_id)
            return ClarifyResult(get_case(index, case_id).to_dict(), record.id)


def reopen_case(workspace: Workspace, case_id: int, *, by: str, reason: str) -> ClarifyResult:
    """Open a resolved case again: discarded pages are set aside again."""
    by, reason = _who(by, reason)
    with _writing(workspace) as index, workspace.lock():
        case = get_case(index, case_id)
        if case.status == CaseStatus.OPEN:
            raise UsageError(f"case {case_id} is open", "esak clarify list shows it")
        if case.resolution and case.resolution["action"] == "assign":
            raise ProblemsError(
                f"the pages of case {case_id} are archived in {case.resolution['household']}'s "
                "file: reopening would leave them in two places",
                "withdraw the delivery (esak withdraw) if they must come out again",
            )
        options = {"case": case_id, "by": by, "reason": reason}
        with recorded_run(index, "clarify reopen", case.site, options) as record:
            with index.transaction() as db:
                case_rows.discard_pages(db, case, back=True)
                case_rows.reopen(db, case, by, reason, record.id)
            return ClarifyResult(get_case(index, case_id).to_dict(), record.id)

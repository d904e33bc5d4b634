"""``esak withdraw``: take back a delivery that was ingested by mistake.

Its documents leave the archive; the index keeps what was there. In one transaction:

- a ``withdrawals`` row (who, why, when, the run);
- every document made from one of the delivery's input files is copied whole into
  ``withdrawn_documents`` (path, sha256, size, pages, … and the id it had), its pages no longer
  point to it, and it leaves ``documents``; the versions a ``blanks keep`` replaced stay in
  ``superseded_documents``, which names the withdrawn row instead of the document (schema 6);
- the delivery's input files and their pages get the outcome ``withdrawn`` (no longer part of
  any site's accounting), the delivery its ``withdrawal_id``;
- its open Klärfälle are resolved with the action ``withdrawn``, and the site's cases are
  brought in line with what is left (an expected household whose only documents came from this
  delivery is missing again).

Just before the commit, the commit journal (:mod:`esak.archive`) names the archive files;
after it, they are removed (with their household's folders, when empty) and the journal is
cleared. A kill -9 in between leaves files the index no longer knows: the next ingest,
withdraw or verify removes them (:func:`esak.archive.recover_journal`). The delivery folder is
never touched; ingesting it again gives the archive of its first ingest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esak.archive import clear_journal, recover_journal, sync_removals, write_journal
from esak.errors import ExitCode, ProblemsError, UsageError
from esak.faults import fault
from esak.i18n import local_time
from esak.index import cases as case_rows
from esak.index.audit import DOCUMENT_WITHDRAWN, append_audit, now, recorded_run
from esak.index.db import Index
from esak.index.releases import is_released
from esak.index.texts import drop_document_text
from esak.index.transfer_notes import note_path
from esak.migrate.keep import recover_keep
from esak.vocabulary import CaseStatus, FileOutcome, PageOutcome
from esak.workspace import Workspace

#: The columns of ``documents`` that ``withdrawn_documents`` keeps (besides the id it had).
_DOCUMENT_COLUMNS = (
    "site", "household", "volume", "seq", "doc_type", "path", "pages", "size", "sha256",
    "pdfa", "text_chars", "file_id", "created_at",
)  # fmt: skip
#: How many deliveries an error about an unknown id lists.
_LISTED = 20


@dataclass
class WithdrawResult:
    withdrawal_id: int
    site: str
    delivery_id: int
    delivery: str
    by: str
    reason: str
    at: str
    run_id: int
    files: int = 0
    pages: int = 0
    #: the documents that left the archive: path (under archive/), household, volume, …
    documents: list[dict[str, Any]] = field(default_factory=list)
    #: Klärfälle of the delivery resolved as withdrawn; opened (or open again) and closed
    #: because the site's findings changed with it
    cases_resolved: list[int] = field(default_factory=list)
    cases_opened: list[int] = field(default_factory=list)
    cases_closed: list[int] = field(default_factory=list)
    #: archive files removed, and those that could not be (the next run removes them)
    removed: int = 0
    left: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def households(self) -> list[str]:
        return sorted({d["household"] for d in self.documents})

    @property
    def exit_code(self) -> ExitCode:
        """0: withdrawn, archive and index agree; 1: archive files could not be removed."""
        return ExitCode.PROBLEMS if self.left else ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "withdrawal": self.withdrawal_id,
            "site": self.site,
            "delivery": self.delivery_id,
            "delivery_path": self.delivery,
            "by": self.by,
            "reason": self.reason,
            "at": self.at,
            "run_id": self.run_id,
            "files": self.files,
            "pages": self.pages,
            "households": self.households,
            "documents": self.documents,
            "cases": {
                "resolved": self.cases_resolved,
                "opened": self.cases_opened,
                "closed": self.cases_closed,
            },
            "removed": self.removed,
            "left": self.left,
            "notes": self.notes,
        }


def withdraw_delivery(
    workspace: Workspace, delivery_id: int, *, by: str, reason: str
) -> WithdrawResult:
    """Take delivery ``delivery_id`` back out of the archive; see the module's description.

    Raises :class:`UsageError` for an empty ``by`` or ``reason``, an unknown delivery (listing
    the deliveries there are) and one already withdrawn (when, by whom); :class:`ProblemsError`
    when another delivery's files were not archived because they repeat this one's.
    """
    by, reason = (by or "").strip(), (reason or "").strip()
    if not by:
        raise UsageError("say who withdraws the delivery: --by NAME", "esak withdraw --help")
    if not reason:
        raise UsageError("say why the delivery is withdrawn: --reason TEXT", "esak withdraw --help")
    workspace.existing()
    workspace.check_writable()
    with (
        Index.open_existing(workspace.index_path, workspace.access) as index,
        workspace.lock() as lock,
    ):
        notes = []
        if lock.stale_holder:
            notes.append(f"took over the lock of a run that did not finish ({lock.stale_holder})")
        # What a killed run left: first the archive back in line with the index.
        notes += recover_keep(workspace, index)
        if recovered := recover_journal(workspace, index):
            notes.append(f"removed {len(recovered)} archive file(s) a killed run left uncommitted")
        site, path = _delivery(index, delivery_id)
        _refuse_if_others_depend_on_it(index, delivery_id)
        if is_released(index, delivery_id):
            # Its paper may be gone already: the archive is the only copy left.
            raise ProblemsError(
                f"delivery {delivery_id} ({path}) was released for the destruction of its "
                "paper originals: it can no longer be withdrawn",
                "correct single documents with esak clarify or esak blanks keep instead",
            )
        options = {"delivery": delivery_id, "by": by, "reason": reason}
        with recorded_run(index, "withdraw", site, options) as record:
            result = WithdrawResult(0, site, delivery_id, path, by, reason, now(), record.id)
            result.notes = notes
            targets = _withdraw(workspace, index, result)
            fault("withdraw-committed")
            _remove(workspace, targets, result)
            record.finish(result.exit_code)
            return result


def _delivery(index: Index, delivery_id: int) -> tuple[str, str]:
    """The delivery's (site, path); refused when unknown or withdrawn already."""
    row = index.db.execute(
        "SELECT d.site, d.path, w.at, w.by_name, w.reason FROM deliveries d "
        "LEFT JOIN withdrawals w ON w.id = d.withdrawal_id WHERE d.id = ?",
        [delivery_id],
    ).fetchone()
    if row is None:
        raise UsageError(f"there is no delivery {delivery_id}", _known_deliveries(index))
    site, path, at, who, why = row
    if at is not None:
        raise UsageError(
            f"delivery {delivery_id} ({path}) was withdrawn already, on {local_time(at)} by {who} "
            f"({why})",
            f"nothing to do; to bring it back, ingest it again: esak ingest --site {site} {path}",
        )
    return site, path


def _known_deliveries(index: Index) -> str:
    rows = index.db.execute(
        "SELECT id, site, path, withdrawal_id IS NOT NULL FROM deliveries ORDER BY id DESC"
    ).fetchall()
    if not rows:
        return "nothing has been ingested into this workspace yet"
    shown = sorted(rows[:_LISTED], key=lambda r: (r[1], r[0]))
    listed = "; ".join(
        f"{site} {id_} ({path}{', withdrawn' if gone else ''})" for id_, site, path, gone in shown
    )
    more = f" and {len(rows) - _LISTED} older" if len(rows) > _LISTED else ""
    return f"give the id of one of the deliveries: {listed}{more}"


def _refuse_if_others_depend_on_it(index: Index, delivery_id: int) -> None:
    """A file of another delivery with the same content as one of this delivery's was
    recorded as a duplicate, not archived: without this delivery its pages would be nowhere."""
    rows = index.db.execute(
        "SELECT g.delivery_id, g.relpath FROM input_files g WHERE g.outcome = ? "
        "AND g.delivery_id != ? AND g.duplicate_of IN "
        "(SELECT id FROM input_files WHERE delivery_id = ? AND outcome = ?) "
        "ORDER BY g.delivery_id, g.relpath",
        [FileOutcome.DUPLICATE, delivery_id, delivery_id, FileOutcome.INGESTED],
    ).fetchall()
    if not rows:
        return
    others = sorted({r[0] for r in rows})
    files = ", ".join(f"{relpath} (delivery {d})" for d, relpath in rows)
    first = others[0]
    raise ProblemsError(
        f"delivery {delivery_id} holds the only archived copy of {len(rows)} file(s) of other "
        f"deliveries, recorded there as duplicates: {files}; withdrawing it would leave "
        "their pages in no archive",
        f"withdraw delivery {first} first (esak withdraw --delivery {first} --by NAME "
        "--reason TEXT), then this one, and ingest the other one again",
    )


def _withdraw(workspace: Workspace, index: Index, result: WithdrawResult) -> list[Path]:
    """The one transaction; the commit journal names the archive files before it commits.
    Returns those files, to be removed once it has."""
    delivery_id = result.delivery_id
    targets: list[Path] = []
    try:
        with index.transaction() as db:
            result.withdrawal_id = int(
                db["withdrawals"]
                .insert({"site": result.site, "delivery_id": delivery_id, "by_name": result.by,
                         "reason": result.reason, "at": result.at, "run_id": result.run_id})
                .last_pk
            )  # fmt: skip
            files = [
                r[0]
                for r in db.execute(
                    "SELECT id FROM input_files WHERE delivery_id = ? AND outcome != ? ORDER BY id",
                    [delivery_id, FileOutcome.WITHDRAWN],
                )
            ]
            marks = ", ".join("?" * len(files))
            columns = ", ".join(_DOCUMENT_COLUMNS)
            documents = db.execute(
                f"SELECT id, {columns} FROM documents WHERE file_id IN ({marks}) "
                "ORDER BY site, household, volume, seq",
                files,
            ).fetchall()
            for document_id, *values in documents:
                row = dict(zip(_DOCUMENT_COLUMNS, values, strict=True))
                kept = int(
                    db["withdrawn_documents"]
                    .insert({"withdrawal_id": result.withdrawal_id, "document_id": document_id,
                             **row})
                    .last_pk
                )  # fmt: skip
                db.execute(
                    "UPDATE superseded_documents SET withdrawn_document_id = ?, "
                    "document_id = NULL WHERE document_id = ?",
                    [kept, document_id],
                )
                db.execute("UPDATE pages SET document_id = NULL WHERE document_id = ?",
                           [document_id])  # fmt: skip
                drop_document_text(db, document_id)
                db.execute("DELETE FROM documents WHERE id = ?", [document_id])
                # The tamper-evident log: this row and its file left on purpose.
                append_audit(db, DOCUMENT_WITHDRAWN, ("documents", document_id),
                             {"withdrawal_id": result.withdrawal_id, "path": row["path"],
                              "sha256": row["sha256"], "withdrawn_document_id": kept})  # fmt: skip
                result.documents.append(
                    {k: row[k] for k in ("path", "household", "volume", "pages", "sha256")}
                )
                targets.append(workspace.archive_dir / row["path"])
                # Its transfer note goes with it (the note's row stays, as the record).
                note = workspace.archive_dir / note_path(row["path"])
                if note.exists():
                    targets.append(note)
            result.files = len(files)
            result.pages = db.execute(
                f"UPDATE pages SET outcome = ? WHERE file_id IN ({marks})",
                [PageOutcome.WITHDRAWN, *files],
            ).rowcount
            db.execute(
                f"UPDATE input_files SET outcome = ? WHERE id IN ({marks})",
                [FileOutcome.WITHDRAWN, *files],
            )
            db.execute(
                "UPDATE deliveries SET withdrawal_id = ? WHERE id = ?",
                [result.withdrawal_id, delivery_id],
            )
            for case_id in [
                r[0]
                for r in db.execute(
                    f"SELECT id FROM cases WHERE status = ? AND (delivery_id = ? "
                    f"OR file_id IN ({marks})) ORDER BY id",
                    [CaseStatus.OPEN, delivery_id, *files],
                )
            ]:
                case = case_rows.get_case(index, case_id)
                case_rows.resolve(db, case, "withdrawn", result.by, result.reason, result.run_id)
                result.cases_resolved.append(case_id)
            sync = case_rows.sync_cases(index, result.site, result.run_id)
            result.cases_opened = sorted(sync.opened + sync.reopened)
            result.cases_closed = sync.closed
            # Named durably before the commit: after it, the index no longer knows them, and
            # whoever finds the journal next removes them (recover_journal).
            write_journal(workspace, targets)
    except BaseException:
        # Rolled back: the index still records every file, the archive is as it was.
        clear_journal(workspace)
        raise
    return targets


def _remove(workspace: Workspace, targets: list[Path], result: WithdrawResult) -> None:
    """The withdrawn files out of the archive, with their volume and household folders when
    nothing else is left in them; the journal cleared once none is left."""
    for target in targets:
        try:
            target.unlink(missing_ok=True)
        except OSError as exc:
            result.left.append(target.relative_to(workspace.archive_dir).as_posix())
            result.notes.append(f"could not remove {target}: {exc.strerror}")
            continue
        result.removed += 1
        for folder in (target.parent, target.parent.parent):
            try:
                folder.rmdir()
            except OSError:
                break  # not empty (or gone already)
    sync_removals(targets)
    if result.left:
        result.notes.append(
            f"{len(result.left)} withdrawn file(s) are still in the archive; the next esak "
            "ingest, withdraw or verify removes them (the commit journal names them)"
        )
    else:
        clear_journal(workspace)

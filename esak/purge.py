"""``esak purge``: delete the workspace's copy of a site's e-files once the DMS has them.

esak is a temporary place for social data (SGB X §§ 67 ff., DSGVO Art. 5 (1) e). After a
verified export (:mod:`esak.export`) has been taken over by the DMS, the content goes; the
evidence stays:

- **Removed**, per document the bag holds with the same sha256: its PDF, its transfer note
  (the XML file) and its searchable text (``page_text`` and its FTS5 index, merged so that no
  old segment keeps it; the file vacuumed, so that no free page does).
- **Kept**: the document's row (path, sha256, size, pages: the hashes the DMS can check
  against), page accounting, the transfer note's row (its hash), cases and their resolutions,
  QA results, releases, the audit log. ``documents.purge_id`` says the content is gone on
  purpose, and every check that reads files knows it: ``verify`` counts such documents as
  "übergeben und gelöscht", ``audit verify`` reads a ``document_purged`` event per document.

Refused, document by document (listed with the reason, nothing of it removed):
a document whose delivery's paper originals were not released (``release approve``), one that
changed after the export (its sha256 now differs from the bag's), one no longer in the index.
The whole purge is refused when the bag does not validate in full, was not made by this
workspace, or belongs to another site.

One transaction records the purge and marks its documents, with the commit journal naming
their files (as ``withdraw`` does); the files go after the commit. A purge killed in between
is finished by the next purge, ingest, withdraw or verify (:func:`esak.archive.recover_journal`
removes files the index no longer keeps), and running the purge again says so.

The deletion record (Löschprotokoll) is the ``purges`` and ``purge_documents`` rows, a
``purge_done`` audit event listing every document, and a German document for the data
protection officer (:func:`protocol_pdf`, :func:`protocol_csv`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bagit

from esak.archive import clear_journal, recover_journal, sync_removals, write_journal
from esak.errors import ExitCode, InputError, IntegrityError, ProblemsError, UsageError
from esak.export import INDEX_JSON, TOKEN_FIELD, verify_export
from esak.faults import fault
from esak.i18n import _, local_date, local_time
from esak.index.audit import DOCUMENT_PURGED, append_audit, now, recorded_run
from esak.index.db import Index
from esak.index.releases import is_released
from esak.index.texts import drop_document_text
from esak.index.transfer_notes import note_path
from esak.profiles import load_profile
from esak.workspace import Workspace

PURGE_DONE = "purge_done"

#: Why a document of the bag is not purged (``refused[].reason``).
NOT_RELEASED = "not_released"
CHANGED = "changed_since_export"
NOT_IN_INDEX = "not_in_index"


@dataclass
class PurgeResult:
    site: str
    bag: Path
    export_id: int
    by: str
    reason: str
    dry_run: bool
    purge_id: int | None = None
    at: str | None = None
    #: what is (or, with dry_run, would be) deleted: household, volume, document, path,
    #: sha256, pages, size
    documents: list[dict[str, Any]] = field(default_factory=list)
    refused: list[dict[str, Any]] = field(default_factory=list)
    #: documents of the bag deleted by an earlier purge
    already: int = 0
    #: files removed now (PDFs and notes), files a killed purge had left and that are gone now
    removed_files: int = 0
    recovered: list[str] = field(default_factory=list)
    #: backups made before this purge: they still hold what it deleted
    backups: list[str] = field(default_factory=list)
    run_id: int | None = None

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.PROBLEMS if self.refused else ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site, "bag": str(self.bag), "export": self.export_id,
            "purge": self.purge_id, "at": self.at, "by": self.by, "reason": self.reason,
            "dry_run": self.dry_run, "documents": self.documents,
            "pages": sum(d["pages"] for d in self.documents),
            "bytes": sum(d["size"] for d in self.documents), "refused": self.refused,
            "already_purged": self.already, "removed_files": self.removed_files,
            "recovered": self.recovered, "backups_holding_content": self.backups,
            "run_id": self.run_id,
            "exit_code": int(self.exit_code),
        }  # fmt: skip


def _bag_facts(bag: Path, site: str) -> tuple[str | None, dict[str, str]]:
    """The bag validated in full; its token and ``path in bag → sha256`` of its PDFs."""
    # The bag on its own (every hash, index.json); each document is matched with this
    # index below, so that one changed since the export is refused alone.
    check = verify_export(bag)
    if check.problems:
        first = check.problems[0]
        raise IntegrityError(
            f"the export {bag} does not verify ({len(check.problems)} problem(s), e.g. "
            f"{first['path'] or 'the bag'}: {first['problem']}): nothing is purged",
            f"esak export verify {bag} lists them; purge only after an export that verifies",
        )
    try:
        info = bagit.Bag(str(bag)).info
        listed = json.loads((bag / INDEX_JSON).read_text(encoding="utf-8"))
    except (bagit.BagError, OSError, ValueError) as exc:  # validated a moment ago
        raise InputError(f"the export {bag} cannot be read: {exc}", "check the folder") from exc
    if listed.get("site") != site:
        raise UsageError(
            f"the export {bag} is of site {listed.get('site')!r}, not {site!r}",
            "give the site the bag was exported from",
        )
    token = info.get(TOKEN_FIELD)
    return (token if isinstance(token, str) else None), {
        e["path"]: e["sha256"] for e in listed["documents"]
    }


def _export_of(index: Index, bag: Path, token: str | None, site: str) -> dict[str, Any]:
    rows = []
    if token:
        rows = list(index.db.query("SELECT * FROM exports WHERE token = ?", [token]))
    if not rows:  # a bag made before exports had tokens: known by where it was written
        rows = list(index.db.query("SELECT * FROM exports WHERE place = ? AND token IS NULL",
                                   [str(bag.resolve())]))  # fmt: skip
    if not rows or rows[0]["site"] != site:
        raise InputError(
            f"the export {bag} was not made from this workspace's site {site}: its documents "
            "cannot be matched with what is archived here",
            "give the bag that esak export wrote from this workspace (esak export --site "
            f"{site} -o DIR), as it was handed to the DMS",
        )
    return rows[0]


def _candidates(index: Index, export_id: int) -> list[dict[str, Any]]:
    return list(index.db.query(
        "SELECT e.document_id, e.sha256 AS exported, d.id, d.site, d.household, d.volume, "
        "d.seq, d.path, d.sha256, d.size, d.pages, d.purge_id, f.delivery_id "
        "FROM export_documents e LEFT JOIN documents d ON d.id = e.document_id "
        "LEFT JOIN input_files f ON f.id = d.file_id WHERE e.export_id = ? "
        "ORDER BY d.household, d.volume, d.seq, e.document_id", [export_id]))  # fmt: skip


def purge_site(
    workspace: Workspace,
    site: str,
    bag: Path,
    *,
    by: str,
    reason: str,
    dry_run: bool = False,
) -> PurgeResult:
    """Delete the content of every document of ``bag`` that may go (module docstring)."""
    profile = load_profile(site)
    if not by.strip() or not reason.strip():
        raise UsageError("a purge needs --by NAME and --reason TEXT", "say who and why")
    bag = Path(os.path.abspath(bag))
    if not bag.is_dir():
        raise InputError(f"{bag} is not a folder", "name the bag esak export wrote")
    workspace.existing()
    if not dry_run:
        workspace.check_writable()
    with Index.open_existing(workspace.index_path, workspace.access) as index, workspace.lock():
        recovered = [] if dry_run else recover_journal(workspace, index)
        token, in_bag = _bag_facts(bag, profile.key)
        export = _export_of(index, bag, token, profile.key)
        result = PurgeResult(profile.key, bag, int(export["id"]), by.strip(), reason.strip(),
                             dry_run, recovered=recovered)  # fmt: skip
        bag_hashes = set(in_bag.values())
        chosen = []
        for row in _candidates(index, result.export_id):
            refused = _refusal(index, row, bag_hashes)
            if refused:
                result.refused.append(refused)
            elif row["purge_id"] is not None:
                result.already += 1
            else:
                chosen.append(row)
        result.documents = [
            {"household": r["household"], "volume": r["volume"], "document": r["seq"],
             "path": r["path"], "sha256": r["sha256"], "pages": r["pages"], "size": r["size"]}
            for r in chosen
        ]  # fmt: skip
        if dry_run:
            return result
        if not chosen:
            if recovered:
                _forget_text(index)
            if not result.refused and not result.already:
                raise ProblemsError(f"the export {bag} holds nothing to purge",
                                    "esak export verify DIR shows what it holds")  # fmt: skip
            return result
        options = {"site": profile.key, "bag": str(bag), "by": result.by,
                   "reason": result.reason}  # fmt: skip
        with recorded_run(index, "purge", profile.key, options) as run:
            result.run_id = run.id
            targets = _commit(workspace, index, result, chosen, export)
            fault("purge-committed")
            _remove(workspace, targets, result)
            _forget_text(index)
        result.backups = [r[0] for r in index.db.execute(
            "SELECT DISTINCT place FROM backups WHERE started_at < ? ORDER BY place",
            [result.at])]  # fmt: skip
    return result


def _refusal(index: Index, row: dict[str, Any], bag_hashes: set[str]) -> dict[str, Any] | None:
    def no(code: str, detail: str) -> dict[str, Any]:
        return {"household": row["household"], "path": row["path"], "document": row["seq"],
                "reason": code, "detail": detail}  # fmt: skip

    if row["id"] is None:
        return no(NOT_IN_INDEX, f"document {row['document_id']} is no longer in the index "
                                "(withdrawn)")  # fmt: skip
    if row["exported"] not in bag_hashes:
        return no(CHANGED, "the bag does not hold the PDF with the hash it was exported with")
    if row["sha256"] != row["exported"]:
        return no(CHANGED, "the document changed after the export (blanks keep, clarify): "
                           "export it again and hand the new bag over first")  # fmt: skip
    if row["purge_id"] is None and (
        row["delivery_id"] is None or not is_released(index, row["delivery_id"])
    ):
        return no(NOT_RELEASED, f"the paper originals of delivery {row['delivery_id']} are not "
                                "released: esak release check shows why")  # fmt: skip
    return None


def _commit(workspace: Workspace, index: Index, result: PurgeResult,
            chosen: list[dict[str, Any]], export: dict[str, Any]) -> list[Path]:  # fmt: skip
    targets: list[Path] = []
    at = now()
    try:
        with index.transaction() as db:
            purge = {"site": result.site, "export_id": result.export_id, "bag": str(result.bag),
                     "by_name": result.by, "reason": result.reason, "started_at": at,
                     "finished_at": at, "documents": len(chosen),
                     "pages": sum(r["pages"] for r in chosen),
                     "bytes": sum(r["size"] for r in chosen), "run_id": result.run_id}  # fmt: skip
            result.purge_id = int(db["purges"].insert(purge).last_pk)
            result.at = at
            notes = {r[0]: (r[1], r[2]) for r in db.execute(
                f"SELECT document_id, path, sha256 FROM transfer_notes WHERE document_id IN "
                f"({', '.join('?' * len(chosen))})", [r["id"] for r in chosen])}  # fmt: skip
            for r in chosen:
                note = notes.get(r["id"])
                db["purge_documents"].insert({
                    "purge_id": result.purge_id, "document_id": r["id"],
                    "household": r["household"], "volume": r["volume"], "seq": r["seq"],
                    "path": r["path"], "sha256": r["sha256"], "size": r["size"],
                    "pages": r["pages"], "note_path": note[0] if note else None,
                    "note_sha256": note[1] if note else None, "delivery_id": r["delivery_id"],
                })  # fmt: skip
                db.execute("UPDATE documents SET purge_id = ? WHERE id = ?",
                           [result.purge_id, r["id"]])  # fmt: skip
                drop_document_text(db, r["id"])
                # The tamper-evident log: the file left on purpose, the row stays.
                append_audit(db, DOCUMENT_PURGED, ("documents", r["id"]),
                             {"purge_id": result.purge_id, "path": r["path"],
                              "sha256": r["sha256"]})  # fmt: skip
                targets.append(workspace.archive_dir / r["path"])
                if note:
                    targets.append(workspace.archive_dir / note[0])
                elif (workspace.archive_dir / note_path(r["path"])).exists():
                    targets.append(workspace.archive_dir / note_path(r["path"]))
            append_audit(db, PURGE_DONE, ("purges", result.purge_id),
                         {**purge, "export_token": export.get("token"),
                          "documents_removed": result.documents})  # fmt: skip
            # Named durably before the commit: after it, the index keeps none of them, and
            # whoever finds the journal next removes them (recover_journal).
            write_journal(workspace, targets)
            fault("purge-journal")
    except BaseException:
        clear_journal(workspace)
        raise
    return targets


def _remove(workspace: Workspace, targets: list[Path], result: PurgeResult) -> None:
    for target in targets:
        if target.exists():
            target.unlink()
            result.removed_files += 1
        for folder in (target.parent, target.parent.parent):
            try:
                folder.rmdir()
            except OSError:
                break  # not empty (or gone already)
    sync_removals(targets)
    clear_journal(workspace)


def _forget_text(index: Index) -> None:
    """No trace of deleted text in the file: FTS5 keeps a deleted row's postings in its old
    segments until they are merged; ``secure_delete`` (set on every connection) zeroes what
    is freed; the checkpoint writes the zeroed pages over the old ones and empties the WAL.
    No VACUUM: it would rewrite the whole index (gigabytes for a district) for free pages
    that hold only zeros."""
    with index.transaction() as db:
        db.execute("INSERT INTO page_text_fts (page_text_fts) VALUES ('optimize')")
    index.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


# --- the deletion record (Löschprotokoll) -----------------------------------------------------


def purges(workspace: Workspace, site: str | None = None,
           purge_id: int | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Every purge (of ``site``; only ``purge_id``), newest last, with its documents."""
    if not workspace.existing().index_path.is_file():
        return []
    where = {"site = ?": site, "id = ?": purge_id}
    clauses = [c for c, v in where.items() if v is not None]
    with Index.open_readonly(workspace.index_path) as index:
        sql = "SELECT * FROM purges" + (f" WHERE {' AND '.join(clauses)}" if clauses else "")
        out = list(index.db.query(sql + " ORDER BY id",
                                  [v for v in where.values() if v is not None]))  # fmt: skip
        for p in out:
            p["removed"] = list(index.db.query(
                "SELECT household, volume, seq AS document, path, sha256, pages, size, "
                "note_path, note_sha256, delivery_id FROM purge_documents WHERE purge_id = ? "
                "ORDER BY household, volume, seq", [p["id"]]))  # fmt: skip
    return out


def purge_record(workspace: Workspace, purge_id: int) -> dict[str, Any]:
    for p in purges(workspace, purge_id=purge_id):
        return p
    raise UsageError(f"there is no purge {purge_id}", "esak purge list shows the purges")


PROTOCOL_COLUMNS = (
    ("household", "household"),
    ("volume", "volume"),
    ("document", "document"),
    ("pages", "pages"),
    ("sha256", "sha256"),
    ("delivery_id", "delivery"),
)


def protocol_csv(record: dict[str, Any]) -> str:
    import csv
    import io

    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\r\n")
    w.writerow([_("purge"), _("site"), _("deleted on"), _("by"), _("reason"), _("export"),
                *(_(label) for _k, label in PROTOCOL_COLUMNS),
                _("transfer note sha256")])  # fmt: skip
    for d in record["removed"]:
        w.writerow([record["id"], record["site"], local_time(record["finished_at"]),
                    record["by_name"], record["reason"], record["bag"],
                    *(d[k] if d[k] is not None else "" for k, _l in PROTOCOL_COLUMNS),
                    d["note_sha256"] or ""])  # fmt: skip
    return out.getvalue()


def protocol_pdf(record: dict[str, Any]) -> Any:
    """The Löschprotokoll for the data protection officer (German for a German site)."""
    from esak.report.pdf import table_pdf

    profile = load_profile(record["site"])
    about = [
        _("Jobcenter im Kreis Borken, site {site}").format(site=profile.name),
        _("Deleted on {at} by {by}. Reason: {reason}").format(
            at=local_time(record["finished_at"]), by=record["by_name"], reason=record["reason"]),
        _("Handed over to the DMS beforehand as the verified export {bag}. Deleted from the "
          "migration workspace: the PDF, its transfer note and its searchable text. Kept as "
          "evidence: the hashes below, page accounting, cases, QA, release decisions and the "
          "audit log.").format(bag=record["bag"]),
        _("{n} document(s), {pages} page(s), {mb} MB.").format(
            n=record["documents"], pages=record["pages"],
            mb=f"{record['bytes'] / 1e6:.1f}".replace(".", ",")),
        _("As of {date}.").format(date=local_date(dt.date.today())),
    ]  # fmt: skip
    shares = {"household": 1.5, "volume": 0.5, "document": 0.6, "pages": 0.5,
              "sha256": 4.0, "delivery_id": 0.6}  # fmt: skip
    columns = [(_(label), shares[key]) for key, label in PROTOCOL_COLUMNS]
    cells = [[str(d[k]) if d[k] is not None else "" for k, _l in PROTOCOL_COLUMNS]
             for d in record["removed"]]  # fmt: skip
    title = _("Deletion record {n}: {site}").format(n=record["id"], site=profile.name)
    return table_pdf(title, about, columns, cells)

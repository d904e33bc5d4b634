"""``esak export``: hand a site over to the DMS as a BagIt bag (RFC 8493) an archivist can check.

The bag (made and validated with bagit-python, the Library of Congress' reference code):

- ``data/<household>/band-<v>/<nnnn>.pdf`` (mail: ``data/<household>/post/<yyyy>/…``), each
  with its transfer note ``<nnnn>.tv.xml``, as the archive holds them;
- ``index.csv`` (``;``, UTF-8 with BOM) and ``index.json``: one row per document — household,
  volume, document, type, pages, received_at (mail), sha256, transfer note — as tag files,
  so the DMS import reads them without walking the payload; with a mapping (``--mapping
  FILE.toml``) the CSV takes the DMS's own column names, separator, encoding and date format,
  and each document may get a metadata file of its own (``<nnnn>.meta.txt``, key=value, as
  d.3-style imports want);
- ``bag-info.txt``: the site, the export time, the esak version, the audit log's size and
  root at the export (its checkpoint) and the Payload-Oxum; sha256 and sha512 manifests.

The bag is built under a temporary name beside ``DIR`` and renamed when complete: a ``DIR``
that exists is a whole bag. Each export is a row of ``exports`` (with every document's
sha256 in ``export_documents``) and an audit event ``export_made``. ``--since`` exports only
what was archived or replaced from that day on.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import shutil
import tomllib
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bagit

from esak import __version__
from esak.errors import ConfigError, ExitCode, InputError, ProblemsError, UsageError
from esak.files import sha256_file
from esak.index import merkle
from esak.index.audit import append_audit, now, recorded_run
from esak.index.db import Index
from esak.profiles import load_profile
from esak.workspace import Workspace

INDEX_CSV, INDEX_JSON = "index.csv", "index.json"
COLUMNS = ("household", "volume", "document", "type", "pages", "received_at", "sha256",
           "transfer_note", "path")  # fmt: skip
EXPORTED = "export_made"
#: The bag-info.txt field that names the export (``exports.token``).
TOKEN_FIELD = "esak-Export-Token"


@dataclass
class Mapping:
    """How a DMS wants the index: column names, separator, encoding, dates, metadata files."""

    name: str = "dms-csv"
    delimiter: str = ";"
    encoding: str = "utf-8-sig"
    date_format: str = "%Y-%m-%d"
    #: (esak field, the DMS's column name), in the DMS's order
    columns: tuple[tuple[str, str], ...] = tuple((c, c) for c in COLUMNS)
    metadata_files: bool = False


def load_mapping(path: Path | None) -> Mapping:
    """The default ``dms-csv`` index, or a mapping from a TOML file (README: DMS mappings)."""
    if path is None:
        return Mapping()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(
            f"cannot read the mapping {path}: {exc}",
            "give a TOML file as the README shows (DMS mappings)",
        ) from exc
    csv_ = data.get("csv", {})
    columns = data.get("columns", {})
    if not isinstance(columns, dict) or not columns:
        raise ConfigError(f"{path}: [columns] must map esak fields to column names",
                          f"fields: {', '.join(COLUMNS)}")  # fmt: skip
    unknown = sorted(set(columns) - set(COLUMNS))
    if unknown:
        raise ConfigError(f"{path}: unknown field(s) in [columns]: {', '.join(unknown)}",
                          f"fields: {', '.join(COLUMNS)}")  # fmt: skip
    delimiter = str(csv_.get("delimiter", ";"))
    encoding = str(csv_.get("encoding", "utf-8-sig"))
    if len(delimiter) != 1 or encoding not in ("utf-8", "utf-8-sig", "cp1252"):
        raise ConfigError(f"{path}: [csv] delimiter must be one character and encoding one of "
                          "utf-8, utf-8-sig, cp1252", "fix the mapping file")  # fmt: skip
    return Mapping(
        name=str(data.get("name", path.stem)),
        delimiter=delimiter,
        encoding=encoding,
        date_format=str(csv_.get("date_format", "%Y-%m-%d")),
        columns=tuple((k, str(v)) for k, v in columns.items()),
        metadata_files=bool(data.get("metadata_files", False)),
    )


@dataclass
class ExportResult:
    site: str
    place: Path
    documents: int
    bytes: int
    since: str | None
    audit_size: int
    audit_root: str
    export_id: int = 0
    run_id: int = 0
    seconds: float = 0.0

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site, "place": str(self.place), "documents": self.documents,
                "bytes": self.bytes, "since": self.since, "export": self.export_id,
                "audit": {"size": self.audit_size, "root": self.audit_root},
                "run_id": self.run_id, "seconds": round(self.seconds, 2)}  # fmt: skip


def _audit_state(index: Index) -> tuple[int, str]:
    hashes = [bytes.fromhex(r[0]) for r in
              index.db.execute("SELECT leaf_hash FROM audit_log ORDER BY seq")]  # fmt: skip
    return len(hashes), merkle.root(hashes).hex()


def _documents(index: Index, site: str, households: list[str], since: str | None) -> list[dict]:
    sql = (
        "SELECT d.id, d.household, d.volume, d.seq, d.doc_type, d.pages, d.received_at, "
        "d.sha256, d.size, d.path, n.path AS note, n.sha256 AS note_sha256, "
        "COALESCE((SELECT MAX(s.superseded_at) FROM superseded_documents s "
        "WHERE s.document_id = d.id), d.created_at) AS changed "
        "FROM documents d LEFT JOIN transfer_notes n ON n.document_id = d.id WHERE d.site = ? "
        # Handed over and deleted here already: nothing left to export.
        "AND d.purge_id IS NULL"
    )
    args: list[Any] = [site]
    if households:
        sql += f" AND d.household IN ({', '.join('?' * len(households))})"
        args += households
    rows = list(index.db.query(sql + " ORDER BY d.household, d.volume, d.path", args))
    if since:
        rows = [r for r in rows if r["changed"][:10] >= since]
    return rows


def _in_bag(site: str, archive_path: str) -> str:
    """``borken/95401BG…/band-01/0001.pdf`` → ``95401BG…/band-01/0001.pdf``."""
    return archive_path.removeprefix(f"{site}/")


def export_site(
    workspace: Workspace,
    site: str,
    output: Path,
    *,
    households: list[str] | None = None,
    since: dt.date | None = None,
    mapping: Mapping | None = None,
) -> ExportResult:
    """Write the bag to ``output`` (which must not exist yet), whole or not at all."""
    started = dt.datetime.now()
    profile = load_profile(site)
    mapping = mapping or Mapping()
    households = sorted(set(households or []))
    for h in households:
        if not profile.is_household(h):
            raise UsageError(f"{h!r} is not a household number of {profile.name}",
                             f"pattern {profile.household_pattern}")  # fmt: skip
    output = Path(os.path.abspath(output))
    if output.exists():
        raise UsageError(
            f"{output} exists already: an export goes into a new folder",
            "give a folder that does not exist yet, e.g. with the date in its name",
        )
    if output.is_relative_to(workspace.root):
        raise UsageError(f"{output} lies inside the workspace", "export to a place outside it")
    workspace.existing()
    workspace.check_writable()
    day = since.isoformat() if since else None
    with Index.open_existing(workspace.index_path, workspace.access) as index, workspace.lock():
        documents = _documents(index, profile.key, households, day)
        if not documents:
            raise ProblemsError(f"nothing to export of {profile.name}"
                                + (f" since {day}" if day else ""),
                                "esak verify --site SITE shows what is archived")  # fmt: skip
        size, root = _audit_state(index)
        options = {"site": profile.key, "output": str(output), "households": households,
                   "since": day, "mapping": mapping.name}  # fmt: skip
        with recorded_run(index, "export", profile.key, options) as run:
            tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            try:
                token = uuid.uuid4().hex
                total = _write_bag(workspace, profile.key, documents, tmp, mapping,
                                   {"size": size, "root": root}, day, token)  # fmt: skip
                os.replace(tmp, output)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            result = ExportResult(profile.key, output, len(documents), total, day, size, root,
                                  run_id=run.id)  # fmt: skip
            with index.transaction() as db:
                row = {"site": profile.key, "place": str(output), "created_at": now(),
                       "since": day, "documents": len(documents), "bytes": total,
                       "audit_size": size, "audit_root": root, "run_id": run.id,
                       "token": token}  # fmt: skip
                result.export_id = int(db["exports"].insert(row).last_pk)
                db["export_documents"].insert_all(
                    {"export_id": result.export_id, "document_id": d["id"],
                     "sha256": d["sha256"]} for d in documents)  # fmt: skip
                append_audit(db, EXPORTED, ("exports", result.export_id), row)
            result.seconds = (dt.datetime.now() - started).total_seconds()
            return result


def _write_bag(workspace: Workspace, site: str, documents: list[dict], tmp: Path,
               mapping: Mapping, audit: dict[str, Any], since: str | None,
               token: str) -> int:  # fmt: skip
    tmp.mkdir(mode=0o700, parents=True)
    total = 0
    entries = []
    for d in documents:
        source = workspace.archive_dir / d["path"]
        if sha256_file(source) != d["sha256"]:
            raise InputError(f"{d['path']} differs from the index: it is not exported",
                             f"esak verify --site {site} --level valid")  # fmt: skip
        rel = _in_bag(site, d["path"])
        target = tmp / rel
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        total += d["size"]
        note = None
        if d["note"]:
            note = _in_bag(site, d["note"])
            shutil.copyfile(workspace.archive_dir / d["note"], tmp / note)
        entry = {"household": d["household"], "volume": d["volume"], "document": d["seq"],
                 "type": d["doc_type"], "pages": d["pages"], "received_at": d["received_at"],
                 "sha256": d["sha256"], "transfer_note": f"data/{note}" if note else None,
                 "path": f"data/{rel}"}  # fmt: skip
        entries.append(entry)
        if mapping.metadata_files:
            meta = target.with_suffix(".meta.txt")
            lines = [f"{name}={_cell(entry[key], mapping)}\n" for key, name in mapping.columns]
            meta.write_text("".join(lines), encoding="utf-8")
    info = {
        "Source-Organization": "Jobcenter im Kreis Borken",
        "Bagging-Date": dt.date.today().isoformat(),
        "External-Description": f"esak export of site {site}"
        + (f" since {since}" if since else ""),
        "esak-Site": site,
        "esak-Version": __version__,
        "esak-Export-Time": now(),
        "esak-Audit-Checkpoint": f"size {audit['size']} root {audit['root']}",
        "esak-Mapping": mapping.name,
        # Which export of the workspace this is, wherever the bag is moved (esak purge).
        TOKEN_FIELD: token,
    }
    bag = bagit.make_bag(str(tmp), bag_info=info, checksums=["sha256", "sha512"])
    (tmp / INDEX_CSV).write_bytes(_index_csv(entries, mapping))
    (tmp / INDEX_JSON).write_text(json.dumps({"site": site, "documents": entries},
                                             ensure_ascii=False, indent=1) + "\n",
                                  encoding="utf-8")  # fmt: skip
    bag.save(manifests=False)  # the tag manifests now cover the index files too
    for folder, _dirs, files in os.walk(tmp):
        os.chmod(folder, 0o700)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o600)
    return total


def _cell(value: Any, mapping: Mapping) -> str:
    if value is None:
        return ""
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            return dt.date.fromisoformat(value).strftime(mapping.date_format)
        except ValueError:
            return value
    return str(value)


def _index_csv(entries: list[dict], mapping: Mapping) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, delimiter=mapping.delimiter, lineterminator="\r\n")
    w.writerow([name for _key, name in mapping.columns])
    for e in entries:
        w.writerow([_cell(e[key], mapping) for key, _name in mapping.columns])
    return out.getvalue().encode(mapping.encoding, errors="replace")


# --- verify ---------------------------------------------------------------------------------


@dataclass
class ExportCheck:
    place: Path
    documents: int = 0
    problems: list[dict[str, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.INTEGRITY if self.problems else ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return {"place": str(self.place), "valid": not self.problems,
                "documents": self.documents, "problems": self.problems}  # fmt: skip


def verify_export(place: Path, workspace: Workspace | None = None) -> ExportCheck:
    """The bag validated in full (every manifest entry re-hashed, the Payload-Oxum, the tag
    manifests) and every PDF's hash against ``index.json``; with a workspace whose index made
    the export, against that index's documents too."""
    check = ExportCheck(Path(place))
    if not Path(place).is_dir():
        raise InputError(f"{place} is not a folder", "name the folder esak export wrote")
    try:
        bag = bagit.Bag(str(place))
        bag.validate(fast=False)
    except bagit.BagValidationError as exc:
        details = getattr(exc, "details", None) or [exc]
        check.problems += [{"path": str(getattr(d, "path", "") or ""), "problem": str(d)}
                           for d in details]  # fmt: skip
    except bagit.BagError as exc:
        check.problems.append({"path": "", "problem": f"not a valid bag: {exc}"})
        return check
    try:
        listed = json.loads((Path(place) / INDEX_JSON).read_text(encoding="utf-8"))["documents"]
    except (OSError, ValueError, KeyError) as exc:
        check.problems.append({"path": INDEX_JSON, "problem": f"cannot be read: {exc}"})
        return check
    check.documents = len(listed)
    recorded: dict[str, str] = {}
    if workspace is not None and workspace.index_path.is_file():
        with Index.open_readonly(workspace.index_path) as index:
            recorded = {r[0]: r[1] for r in index.db.execute("SELECT sha256, sha256 FROM "
                                                             "documents")}  # fmt: skip
    for entry in listed:
        pdf = Path(place) / entry["path"]
        try:
            actual = sha256_file(pdf)
        except OSError:
            check.problems.append({"path": entry["path"], "problem": "missing"})
            continue
        if actual != entry["sha256"]:
            check.problems.append({"path": entry["path"],
                                   "problem": "its sha256 differs from index.json"})  # fmt: skip
        elif recorded and actual not in recorded:
            check.problems.append({"path": entry["path"],
                                   "problem": "no archived document has this sha256"})  # fmt: skip
    return check

"""``esak transfer-note``: a Transfervermerk per archived document (TR-RESISCAN 1.5 A.NB.4).

Here, in ``verify/``, not ``migrate/``: a note is no step of the pipeline that makes the
archive; it attests what was done and what was checked — the setting of the capture, the
anomalies the index knows, the site's verification and (later) its QA sample — and QA calls
:func:`write_notes` again with ``status="final"`` once a batch's sample passed.

Each note is ``<nnnn>.tv.xml`` beside its PDF (CONTRACT §9), validated against
``esak/data/transfervermerk.xsd`` before it is written (a note that does not validate is a
bug), written whole or not at all with the workspace's file mode, and recorded in
``transfer_notes`` (the document's stable UUID, the PDF's sha256, the note's own sha256) and
in the audit log in the same transaction.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.resources
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lxml import etree

from esak import __version__
from esak.archive import recover_journal
from esak.atomic import write_atomic
from esak.errors import ExitCode, ProblemsError, UsageError
from esak.files import sha256_file
from esak.index.audit import now, recorded_run
from esak.index.db import Index
from esak.index.transfer_notes import (
    ASSIGNED_PREFIX,
    KEPT_REASON,
    DocumentFacts,
    NoteRow,
    document_facts,
    latest_verification,
    note_of,
    note_path,
    record_note,
    site_documents,
)
from esak.profiles import Profile, load_profile
from esak.workspace import Workspace

NAMESPACE = "urn:esak:transfervermerk:1"
FORMAT_VERSION = 1
PRELIMINARY = "vorlaeufig"
FINAL = "final"
STATUSES = (PRELIMINARY, FINAL)
ORGANISATION = "Jobcenter im Kreis Borken"
#: TR-RESISCAN 4.2.7.4 f: the statement of the note.
STATEMENT = "Das Scanprodukt stimmt in Bild und Inhalt mit dem Original überein."
#: What the note says while QA results do not exist.
NO_QA = "Keine QS-Stichprobe erfasst: die Qualitätssicherung (esak qa) ist noch nicht verfügbar."

_ORGANISATION_ONLY = re.compile(r"(?i)\s*(jobcenter|jc)\b")


def responsible_person(by: str | None) -> str:
    """The person named by ``--by`` (a pseudonym will do), never only the organisation."""
    name = " ".join((by or "").split())
    if not name:
        raise UsageError(
            "say who is responsible for the capture: --by NAME (a pseudonym will do)",
            "esak transfer-note --help",
        )
    if _ORGANISATION_ONLY.match(name):
        raise UsageError(
            f"--by {name!r} names the organisation: a transfer note names a responsible "
            "person (TR-RESISCAN 4.2.7.4 a)",
            'give a person\'s name or pseudonym, e.g. --by "A. Admin"',
        )
    return name


@dataclass
class TransferResult:
    site: str
    household: str | None
    by: str
    status: str
    run_id: int = 0
    notes: list[dict[str, Any]] = field(default_factory=list)
    #: documents that got no note: their archived file is missing or changed
    skipped: list[dict[str, str]] = field(default_factory=list)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.INTEGRITY if self.skipped else ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "household": self.household,
            "by": self.by,
            "status": self.status,
            "run_id": self.run_id,
            "written": len(self.notes),
            "notes": self.notes,
            "skipped": self.skipped,
        }


def write_notes(
    workspace: Workspace,
    site: str,
    *,
    by: str,
    household: str | None = None,
    status: str = PRELIMINARY,
    qa: dict[str, str] | None = None,
) -> TransferResult:
    """Write or update the note of every archived document of ``site`` (or ``household``).

    ``status``: ``vorlaeufig`` until the batch's QA passed, then ``final``; ``qa``: the QA
    result to state (``{"status": ..., "sample": ..., "text": ...}``), None while there is none.
    """
    by = responsible_person(by)
    if status not in STATUSES:
        raise UsageError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    profile = load_profile(site)
    if household is not None and not profile.is_household(household):
        raise UsageError(
            f"{household!r} is not a household number of {profile.name}",
            f"give the number as printed on the file (pattern {profile.household_pattern})",
        )
    workspace.existing()
    workspace.check_writable()
    result = TransferResult(profile.key, household, by, status)
    with Index.open_existing(workspace.index_path, workspace.access) as index, workspace.lock():
        from esak.migrate.keep import recover_keep

        recover_keep(workspace, index)
        recover_journal(workspace, index)
        documents = site_documents(index, profile.key, household)
        if not documents:
            whom = f"household {household}" if household else f"site {profile.name}"
            raise ProblemsError(
                f"{whom} has no archived documents: nothing to write a transfer note for",
                f"esak show HOUSEHOLD or esak verify --site {profile.key} shows what is archived",
            )
        options = {"household": household, "by": by, "status": status}
        with recorded_run(index, "transfer-note", profile.key, options) as record:
            result.run_id = record.id
            setting = _setting(profile)
            verification = latest_verification(index, profile.key)
            for document in documents:
                pdf = workspace.archive_dir / document["path"]
                problem = _file_problem(pdf, document["sha256"])
                if problem:
                    result.skipped.append({"document": str(pdf), "problem": problem})
                    continue
                result.notes.append(
                    write_note(
                        workspace,
                        index,
                        document,
                        by=by,
                        status=status,
                        run_id=record.id,
                        setting=setting,
                        verification=verification,
                        qa=qa,
                    )
                )
            record.finish(result.exit_code)
    return result


def _file_problem(pdf: Path, recorded: str) -> str | None:
    if not pdf.is_file():
        return "missing"
    if sha256_file(pdf) != recorded:
        return "changed"
    return None


def write_note(
    workspace: Workspace,
    index: Index,
    document: dict[str, Any],
    *,
    by: str,
    status: str,
    run_id: int,
    setting: dict[str, Any],
    verification: dict[str, Any] | None,
    qa: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Write one document's note (its UUID kept from an earlier note) and record it."""
    existing = note_of(index, document["id"])
    doc_uuid = existing.uuid if existing else str(uuid.uuid4())
    rel = note_path(document["path"])
    facts = document_facts(index, document)
    written_at = now()
    data = build_note(
        facts,
        doc_uuid=doc_uuid,
        by=by,
        status=status,
        written_at=written_at,
        run_id=run_id,
        setting=setting,
        verification=verification,
        qa=qa,
    )
    row = NoteRow(
        document["id"],
        doc_uuid,
        rel,
        hashlib.sha256(data).hexdigest(),
        len(data),
        document["sha256"],
        status,
        written_at,
        run_id,
        by,
    )
    target = workspace.archive_dir / rel
    with index.transaction() as db:
        record_note(db, row)
        # The file last, just before the commit: a failed write rolls the row back.
        write_atomic(target, lambda fh: fh.write(data))
        workspace.access.apply(target)
    return {
        "document": str(workspace.archive_dir / document["path"]),
        "note": str(target),
        "uuid": doc_uuid,
        "sha256": row.sha256,
        "status": status,
        "created": existing is None,
    }


# --- the setting ------------------------------------------------------------------------------


def _setting(profile: Profile) -> dict[str, Any]:
    return {
        "profile_file": profile.path.name,
        "profile_sha256": sha256_file(profile.path),
        "blank_pages": profile.blank_pages,
        "languages": "+".join(profile.ocr_languages),
        "tesseract": tesseract_version(),
        "ocrmypdf": ocrmypdf_version(),
    }


@functools.cache
def tesseract_version() -> str:
    """``tesseract --version``'s first line (e.g. ``5.3.0``), or ``unbekannt``."""
    exe = shutil.which("tesseract")
    if exe is None:
        return "unbekannt"
    try:
        done = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return "unbekannt"
    first = (done.stdout or done.stderr).strip().splitlines()
    words = first[0].split() if first else []
    return words[1] if len(words) > 1 else "unbekannt"


@functools.cache
def ocrmypdf_version() -> str:
    try:
        return importlib.metadata.version("ocrmypdf")
    except importlib.metadata.PackageNotFoundError:
        return "unbekannt"


# --- the XML ------------------------------------------------------------------------------


def _el(parent: Any, tag: str, text: str | None = None, /, **attrs: Any) -> Any:
    element = etree.SubElement(parent, f"{{{NAMESPACE}}}{tag}")
    for key, value in attrs.items():
        if value is not None:
            element.set(key, str(value).lower() if isinstance(value, bool) else str(value))
    if text is not None:
        element.text = text
    return element


def build_note(
    facts: DocumentFacts,
    *,
    doc_uuid: str,
    by: str,
    status: str,
    written_at: str,
    run_id: int,
    setting: dict[str, Any],
    verification: dict[str, Any] | None,
    qa: dict[str, str] | None = None,
) -> bytes:
    """The note's bytes (UTF-8 XML), validated against the XSD; raises if they do not."""
    doc, source, delivery = facts.document, facts.input_file, facts.delivery
    root = etree.Element(f"{{{NAMESPACE}}}Transfervermerk", nsmap={None: NAMESPACE})
    root.set("version", str(FORMAT_VERSION))
    root.set("status", status)
    root.set("erstellt", written_at)

    dokument = _el(root, "Dokument", uuid=doc_uuid)
    _el(
        dokument,
        "Datei",
        pfad=doc["path"],
        sha256=doc["sha256"],
        groesse=doc["size"],
        format=f"PDF/A-{doc['pdfa']}" if doc.get("pdfa") else "PDF",
    )
    _el(
        dokument,
        "PositionDesDokuments",
        standort=doc["site"],
        bedarfsgemeinschaft=doc["household"],
        band=doc["volume"],
        nummer=doc["seq"],
        dokumentart=doc.get("doc_type"),
    )
    seiten = _el(dokument, "Seiten", anzahl=doc["pages"])
    for number, page_index, _ in facts.pages:
        _el(seiten, "Seite", nummer=number or 1, eingabeseite=page_index + 1)

    verantwortlich = _el(root, "Verantwortlich")
    _el(verantwortlich, "Name", by)
    _el(verantwortlich, "Organisation", f"{ORGANISATION}, Standort {doc['site']}")

    verfahren = _el(root, "Verfahren")
    _el(verfahren, "Software", name="esak", version=__version__)
    _el(
        verfahren,
        "Standortprofil",
        datei=setting["profile_file"],
        sha256=setting["profile_sha256"],
        leerseiten=setting["blank_pages"],
    )
    _el(
        verfahren,
        "OCR",
        engine="Tesseract",
        version=setting["tesseract"],
        ocrmypdf=setting["ocrmypdf"],
        sprachen=setting["languages"],
        ausgabe="PDF/A-2b mit Textebene",
    )
    _el(
        verfahren,
        "Stapel",
        lieferung=delivery["id"],
        lieferordner=delivery["path"],
        eingabedatei=source["relpath"],
        eingabeformat=source["format"],
        sha256=source.get("sha256"),
        seiten=source.get("page_count"),
    )

    besonderheiten = _el(root, "Besonderheiten")
    count = 0
    for _, page_index, reason in facts.pages:
        if reason == KEPT_REASON:
            _el(
                besonderheiten,
                "Besonderheit",
                reason,
                art="leerseite_behalten",
                eingabeseite=page_index + 1,
            )
            count += 1
        elif reason and reason.startswith(ASSIGNED_PREFIX):
            case = re.search(r"\(case (\d+)\)", reason)
            _el(
                besonderheiten,
                "Besonderheit",
                reason,
                art="nach_klaerung_zugeordnet",
                eingabeseite=page_index + 1,
                klaerfall=case.group(1) if case else None,
            )
            count += 1
    for page_index in facts.dropped_blanks:
        _el(
            besonderheiten,
            "Besonderheit",
            "Leerseite entfernt",
            art="leerseite_entfernt",
            eingabeseite=page_index + 1,
        )
        count += 1
    for case in facts.cases:
        text = (
            f"{case['kind']}: {case['detail']} ({case['action']}, {case['by']}, "
            f"{case['resolved_at']})"
        )
        _el(
            besonderheiten,
            "Besonderheit",
            text,
            art="klaerfall",
            klaerfall=case["id"],
            eingabeseite=case["first_page"],
            bis=case["last_page"],
        )
        count += 1
    for diff in facts.count_differences:
        _el(
            besonderheiten,
            "Besonderheit",
            "Seitenzahl laut Deckblatt weicht ab",
            art="seitenzahl_abweichend",
            angegeben=diff["declared"],
            gefunden=diff["found"],
        )
        count += 1
    besonderheiten.set("anzahl", str(count))

    schritte = _el(root, "Prozessschritte")
    _el(schritte, "Prozessschritt", art="scan", zeitpunkt="unbekannt")
    _el(
        schritte,
        "Prozessschritt",
        art="erfassung",
        zeitpunkt=source["ingested_at"],
        lauf=source.get("run_id"),
    )
    _el(schritte, "Prozessschritt", art="archivierung", zeitpunkt=doc["created_at"])
    _el(schritte, "Prozessschritt", art="transfervermerk", zeitpunkt=written_at, lauf=run_id)

    pruefung = _el(root, "Pruefung")
    if verification is None:
        _el(pruefung, "Vollstaendigkeit", status="nicht_geprueft")
    else:
        _el(
            pruefung,
            "Vollstaendigkeit",
            status="bestanden" if verification["ok"] else "nicht_bestanden",
            verifikation=verification["id"],
            stufe=verification["level"],
            zeitpunkt=verification["at"],
        )
    qa = qa or {"status": "nicht_vorhanden", "text": NO_QA}
    _el(
        pruefung,
        "Qualitaetssicherung",
        qa.get("text"),
        status=qa["status"],
        stichprobe=qa.get("sample"),
    )

    _el(root, "Erklaerung", STATEMENT)

    data = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    validate(data)
    return data


@functools.cache
def schema() -> etree.XMLSchema:
    xsd = importlib.resources.files("esak").joinpath("data", "transfervermerk.xsd")
    return etree.XMLSchema(etree.fromstring(xsd.read_bytes()))


def validate(data: bytes) -> None:
    """Raise if ``data`` is not a note by the XSD: esak never writes one that is not."""
    xsd = schema()
    if not xsd.validate(etree.fromstring(data)):
        raise RuntimeError(f"a transfer note esak built does not validate: {xsd.error_log}")

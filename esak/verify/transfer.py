"""``esak transfer-note``: a Transfervermerk per archived document (TR-RESISCAN 1.5 A.NB.4).

Here, in ``verify/``, not ``migrate/``: a note is no step of the pipeline that makes the
archive; it attests what was done and what was checked — the setting of the capture, the
anomalies the index knows, the site's verification and its delivery's QA sample. A note is
``vorlaeufig`` until the delivery's latest sample passed (drawn after the document last
changed), then ``final``; ``qa record``, ``blanks keep`` and ``clarify`` rewrite the notes
their change concerns (:func:`refresh_notes`).

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
from esak.index.qa import delivery_qa, last_changed
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
from esak.migrate.ocr import cli_version, reader_version
from esak.profiles import Profile, load_profile
from esak.vocabulary import POST_VOLUME
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
NO_QA = "Noch keine QS-Stichprobe gezogen (esak qa draw)."
#: What the note says of a document archived or changed after its delivery's sample was drawn.
AFTER_SAMPLE = (
    "Nach der Stichprobe archiviert oder geändert: eine neue Stichprobe der Lieferung steht aus."
)

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

    @property
    def final(self) -> int:
        return sum(1 for n in self.notes if n["status"] == FINAL)

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "household": self.household,
            "by": self.by,
            "status": self.status,
            "run_id": self.run_id,
            "written": len(self.notes),
            "final": self.final,
            "preliminary": len(self.notes) - self.final,
            "notes": self.notes,
            "skipped": self.skipped,
        }


def write_notes(
    workspace: Workspace,
    site: str,
    *,
    by: str,
    household: str | None = None,
) -> TransferResult:
    """Write or update the note of every archived document of ``site`` (or ``household``).

    A note is ``final`` once the latest QA sample of its document's delivery passed and was
    drawn after the document's file last changed; ``vorlaeufig`` until then.
    """
    by = responsible_person(by)
    profile = load_profile(site)
    if household is not None and not profile.is_household(household):
        raise UsageError(
            f"{household!r} is not a household number of {profile.name}",
            f"give the number as printed on the file (pattern {profile.household_pattern})",
        )
    workspace.existing()
    workspace.check_writable()
    result = TransferResult(profile.key, household, by, "")
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
        options = {"household": household, "by": by}
        with recorded_run(index, "transfer-note", profile.key, options) as record:
            result.run_id = record.id
            _write_all(workspace, index, profile, documents, result, by=by, run_id=record.id)
            statuses = {n["status"] for n in result.notes}
            result.status = statuses.pop() if len(statuses) == 1 else "mixed"
            record.finish(result.exit_code)
    return result


def _write_all(
    workspace: Workspace,
    index: Index,
    profile: Profile,
    documents: list[dict[str, Any]],
    result: TransferResult,
    *,
    by: str | None,
    run_id: int,
) -> None:
    setting = _setting(profile)
    verification = latest_verification(index, profile.key)
    for document in documents:
        pdf = workspace.archive_dir / document["path"]
        problem = _file_problem(pdf, document["sha256"])
        if problem:
            result.skipped.append({"document": str(pdf), "problem": problem})
            continue
        existing = note_of(index, document["id"])
        who = by or (existing.by_name if existing else None)
        if who is None:
            continue
        note = write_note(
            workspace, index, document, by=who, run_id=run_id, setting=setting,
            verification=verification,
        )  # fmt: skip
        result.notes.append(note)


def refresh_notes(
    workspace: Workspace,
    index: Index,
    site: str,
    run_id: int,
    *,
    file_ids: list[int] | None = None,
    delivery_ids: list[int] | None = None,
) -> TransferResult:
    """Rewrite the notes that exist of the documents of these input files or deliveries, each
    naming the person it named, after a change they state (a QA result, a page kept or
    assigned, a Klärfall closed): part of the caller's run."""
    profile = load_profile(site)
    result = TransferResult(profile.key, None, "", "")
    files = set(file_ids or [])
    if delivery_ids:
        marks = ", ".join("?" * len(delivery_ids))
        sql = f"SELECT id FROM input_files WHERE delivery_id IN ({marks})"
        files |= {r[0] for r in index.db.execute(sql, delivery_ids)}
    documents = [d for d in site_documents(index, profile.key, None) if d["file_id"] in files]
    documents = [d for d in documents if note_of(index, d["id"]) is not None]
    if documents:
        _write_all(workspace, index, profile, documents, result, by=None, run_id=run_id)
    return result


def write_document_notes(
    workspace: Workspace,
    index: Index,
    site: str,
    document_ids: list[int],
    *,
    by: str,
    run_id: int,
) -> TransferResult:
    """Write the notes of these documents of ``site`` (letters of the incoming mail, which
    get theirs when they are archived), naming ``by``: part of the caller's run. A document
    whose PDF is missing or changed is skipped (``skipped``)."""
    profile = load_profile(site)
    result = TransferResult(profile.key, None, by, "")
    if not document_ids:
        return result
    marks = ", ".join("?" * len(document_ids))
    documents = list(
        index.db.query(
            f"SELECT * FROM documents WHERE site = ? AND id IN ({marks}) "
            "AND purge_id IS NULL ORDER BY id",
            [profile.key, *document_ids],
        )
    )
    if documents:
        _write_all(workspace, index, profile, documents, result, by=by, run_id=run_id)
    return result


def qa_state(
    index: Index, document: dict[str, Any], delivery_id: int
) -> tuple[str, dict[str, Any]]:
    """The note's status and what it states of QA for ``document`` of ``delivery_id``."""
    qa = delivery_qa(index, delivery_id)
    if qa is None:
        return PRELIMINARY, {"status": "nicht_vorhanden", "text": NO_QA}
    sample = str(qa["sample"])
    reviewers = ", ".join(qa["reviewers"]) or None
    day = (qa["checked_at"] or "")[:10] or None
    if qa["drawn_at"] < last_changed(index, document["id"]):
        return PRELIMINARY, {"status": "offen", "sample": sample, "text": AFTER_SAMPLE}
    if qa["status"] == "passed":
        text = (f"Stichprobe {sample} bestanden: {qa['checked']} Seiten im "
                "Vier-Augen-Prinzip geprüft.")  # fmt: skip
        return FINAL, {"status": "bestanden", "sample": sample, "text": text,
                       "reviewer": reviewers, "day": day}  # fmt: skip
    if qa["status"] == "failed":
        text = (f"Stichprobe {sample}: {qa['defects']} Mängel festgestellt; nach der Nachbesserung "
                "ist eine neue Stichprobe zu ziehen.")  # fmt: skip
        return PRELIMINARY, {"status": "nicht_bestanden", "sample": sample, "text": text,
                             "reviewer": reviewers, "day": day}  # fmt: skip
    text = f"Stichprobe {sample}: {qa['checked']} von {qa['total']} Seiten geprüft."
    return PRELIMINARY, {"status": "offen", "sample": sample, "text": text,
                         "reviewer": reviewers, "day": day}  # fmt: skip


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
    run_id: int,
    setting: dict[str, Any],
    verification: dict[str, Any] | None,
) -> dict[str, Any]:
    """Write one document's note (its UUID kept from an earlier note) and record it."""
    existing = note_of(index, document["id"])
    doc_uuid = existing.uuid if existing else str(uuid.uuid4())
    rel = note_path(document["path"])
    facts = document_facts(index, document)
    status, qa = qa_state(index, document, facts.delivery["id"])
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
        "reader": reader_tesseract(),
        "ocrmypdf": ocrmypdf_version(),
        "provider": profile.provider,
    }


def reader_tesseract() -> str:
    """The Tesseract that reads plain scans ("direkt"), e.g. ``5.5.4 (tesserocr 2.13.0)``."""
    line = reader_version()
    if line.startswith("tesserocr "):
        words = line.split()
        return f"{words[-1]} (tesserocr {words[1].rstrip(':')})"
    return tesseract_version()


def tesseract_version() -> str:
    """The CLI's version (e.g. ``5.3.0``), or ``unbekannt``."""
    words = cli_version().split()
    return words[1] if len(words) > 1 and words[0] == "tesseract" else "unbekannt"


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
    qa: dict[str, Any] | None = None,
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
        # A letter of the incoming mail lies in the household's post/, in no volume.
        band=doc["volume"] if doc["volume"] != POST_VOLUME else None,
        nummer=doc["seq"],
        dokumentart=doc.get("doc_type"),
    )
    seiten = _el(dokument, "Seiten", anzahl=doc["pages"])
    for number, page_index, _ in facts.pages:
        _el(seiten, "Seite", nummer=number or 1, eingabeseite=page_index + 1)

    verantwortlich = _el(root, "Verantwortlich")
    _el(verantwortlich, "Name", by)
    _el(verantwortlich, "Organisation", f"{ORGANISATION}, Standort {doc['site']}")
    if setting.get("provider") or source.get("scanner"):
        auftragnehmer = _el(root, "Auftragnehmer")
        _el(auftragnehmer, "Name", setting.get("provider") or "nicht angegeben")
        if source.get("scanner"):
            _el(auftragnehmer, "Scanner", source["scanner"])

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
        version=setting["reader"] if doc.get("engine") == "tesseract" else setting["tesseract"],
        ocrmypdf=setting["ocrmypdf"],
        sprachen=setting["languages"],
        ausgabe="PDF/A-2b mit Textebene",
        weg={"tesseract": "direkt", "ocrmypdf": "ocrmypdf"}.get(doc.get("engine") or ""),
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
    for _, page_index, _reason in facts.pages:
        turned = facts.rotations.get(page_index)
        if turned:
            _el(besonderheiten, "Besonderheit", f"Seite zur Anzeige um {turned}° gedreht",
                art="seite_gedreht", eingabeseite=page_index + 1, grad=turned)  # fmt: skip
            count += 1
    if doc.get("engine") == "ocrmypdf":
        _el(besonderheiten, "Besonderheit",
            "Kein reiner Scan (Text, Zeichnungen oder Farben, die PDF/A so nicht aufnimmt): "
            "über die OCRmyPDF-Verarbeitung erzeugt", art="ocrmypdf_verarbeitung")  # fmt: skip
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
    if doc.get("received_at"):
        # Incoming mail: the date on the letter's receipt stamp (Posteingang).
        _el(schritte, "Prozessschritt", art="eingang", zeitpunkt=doc["received_at"])
    scanned = source.get("scanned_at") or delivery.get("scanned_on") or "unbekannt"
    _el(schritte, "Prozessschritt", art="scan", zeitpunkt=scanned)
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
        pruefer=qa.get("reviewer"),
        datum=qa.get("day"),
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

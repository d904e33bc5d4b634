"""``esak demo``: generate a synthetic Borken delivery and run the whole pipeline on it.

The demo checks esak against the generator's ground truth: it succeeds when esak finds
exactly the problems that were planted (a missing household, a broken file, an orphan page,
a manifest gap) and archives every content page of every delivered household. Then it
resolves those Klärfälle as a migration team would, has a QA sample checked by a second
person, writes the transfer notes, verifies at level valid and backs the workspace up: the
release check shows the path from blocked to releasable, and the site is complete.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esak.backup import backup as make_backup
from esak.errors import ExitCode
from esak.index.db import Index
from esak.index.deliveries import IngestReport
from esak.index.expected import expected_households, import_expected
from esak.migrate.clarify import assign_case, case_list, close_case
from esak.migrate.ingest import ingest_delivery
from esak.profiles import load_profile
from esak.report import write_report
from esak.report.html import site_report_html
from esak.synthetic.delivery import GeneratedDelivery, generate_delivery
from esak.verify.audit import verify_audit
from esak.verify.fixity import Level
from esak.verify.qa import draw as draw_sample
from esak.verify.qa import record as record_results
from esak.verify.qa import status as qa_status
from esak.verify.release import release_check
from esak.verify.site import SiteReport, verify_site
from esak.verify.transfer import write_notes
from esak.vocabulary import CaseKind
from esak.workspace import Workspace

SITE = "borken"


@dataclass
class DemoResult:
    folder: Path
    ingest: IngestReport
    expected: list[str]
    archived: list[str]
    missing: list[str]
    verification: SiteReport
    html_report: Path
    checks: list[tuple[str, bool]] = field(default_factory=list)
    #: how each Klärfall of the first verification was resolved, one line each
    resolutions: list[str] = field(default_factory=list)
    #: the verification after the Klärfälle were resolved
    final: SiteReport | None = None
    #: the QA sample, the transfer notes and the audit log, one line each
    evidence: list[str] = field(default_factory=list)
    #: the release check at each step, one line each: from blocked to releasable
    release: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(passed for _, passed in self.checks)

    @property
    def exit_code(self) -> ExitCode:
        """0 when all is well, 1 (problems) otherwise: for the CLI and the run log alike."""
        return ExitCode.OK if self.ok else ExitCode.PROBLEMS

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "ok": self.ok,
            "ingest": self.ingest.to_dict(),
            "expected_households": len(self.expected),
            "archived_households": len(self.archived),
            "missing_households": self.missing,
            "checks": [{"check": name, "passed": passed} for name, passed in self.checks],
            "verification": self.verification.to_dict(),
            "resolutions": self.resolutions,
            "evidence": self.evidence,
            "release": self.release,
            "final_verification": self.final.to_dict() if self.final else None,
            "html_report": str(self.html_report),
        }

    def lines(self) -> list[str]:
        out = [
            f"demo folder: {self.folder} (delivery in sample/delivery, workspace in workspace/)",
            f"expected households: {len(self.expected)}, archived: "
            f"{len(self.verification.archived)}, missing: {', '.join(self.missing) or 'none'}, "
            f"not expected: {', '.join(self.verification.unexpected) or 'none'}",
            "esak against the generator's ground truth:",
        ]
        out += [f"  [{'ok' if passed else 'FAILED'}] {name}" for name, passed in self.checks]
        if self.resolutions:
            out.append("the Klärfälle, resolved as a migration team would (esak clarify):")
            out += [f"  {line}" for line in self.resolutions]
        if self.final is not None:
            out.append(f"verification afterwards: {self.final.status.upper()}")
        if self.evidence:
            out.append("the evidence TR-RESISCAN asks for before the paper may go:")
            out += [f"  {line}" for line in self.evidence]
        if self.release:
            out.append("may the paper originals go? (esak release check, step by step):")
            out += [f"  {line}" for line in self.release]
        example = self.archived[0] if self.archived else "<household>"
        out.append(f"verification report (HTML, after the Klärfälle): {self.html_report}")
        out.append(f"try: esak --workspace {self.folder / 'workspace'} show {example}")
        return out


def run_demo(output: Path, *, households: int = 6, seed: int = 1, dpi: int = 300) -> DemoResult:
    """Generate (or reuse) the sample delivery under ``output`` and ingest it."""
    output = Path(output).absolute()
    sample = output / "sample"
    truth_file = sample / "truth.json"
    if truth_file.exists():
        truth = GeneratedDelivery.from_json(truth_file)
    else:
        truth = generate_delivery(sample, site=SITE, households=households, seed=seed, dpi=dpi)
    profile = load_profile(SITE)
    workspace = Workspace(output / "workspace").ensure()
    delivery = sample / "delivery"
    with Index.open(workspace.index_path) as index:
        import_expected(index, SITE, sample / Path(truth.expected_csv).name, profile.is_household)
        expected = expected_households(index, SITE)
    # The scanning provider scanned the paper three weeks ago: the eight weeks run from there.
    scanned = dt.date.today() - dt.timedelta(days=21)
    report = ingest_delivery(workspace, profile, delivery, scanned_on=scanned)
    with workspace.lock(), Index.open(workspace.index_path) as index:
        verification = verify_site(workspace, index, profile, Level.VALID)
    archived = report.households
    missing = sorted(set(expected) - set(archived))
    pages = [p for f in truth.to_dict()["files"] for p in f["pages"]]
    orphans = sum(1 for p in pages if p.get("orphan"))
    content = sum(1 for p in pages if p["kind"] == "content")
    bad = sorted(f["path"] for f in truth.to_dict()["files"] if f["format"] == "bad")
    result = DemoResult(output, report, expected, archived, missing, verification, Path())
    v = verification
    result.checks = [
        ("the missing household is reported missing", missing == sorted(truth.missing_households)),
        (
            "every delivered household is archived",
            sorted(archived) == sorted(truth.delivered_households),
        ),
        (
            "every content page is archived, the orphan set aside",
            report.pages["archived"] == content - orphans,
        ),
        (
            "the broken file is set aside with a reason",
            sorted(f["file"] for f in report.quarantined_files) == bad,
        ),
        ("covers, separators and blank pages all recognised", _kinds_match(report, pages)),
        ("the manifest gap is reported", bool(report.delivery_problems)),
        (
            "every input page is accounted for",
            report.pages["input"] == len(pages)
            and report.pages["input"] == sum(n for k, n in report.pages.items() if k != "input"),
        ),
        (
            "verify finds exactly the planted problems and an intact archive",
            v.missing == sorted(truth.missing_households)
            and v.unexpected == sorted(set(truth.delivered_households) - set(expected))
            and v.pages == report.pages
            and not v.accounting_errors
            and v.intact
            and v.fixity.checked == v.documents > 0,
        ),
    ]
    stages = [_release_stage(workspace, "after the ingest")]
    result.resolutions = _resolve_cases(workspace, truth)
    stages.append(_release_stage(workspace, "after the Klärfälle"))
    result.evidence, passed = _evidence(workspace)
    stages.append(_release_stage(workspace, "after QA and the transfer notes"))
    with workspace.lock(), Index.open(workspace.index_path) as index:
        result.final = verify_site(workspace, index, profile, Level.VALID)
    result.checks.append(
        (
            "every Klärfall resolved with a name and a reason, the site complete",
            result.final.ok and result.final.open_cases == 0 and bool(result.final.resolved_cases),
        )
    )
    result.html_report = write_report(
        output / f"report-{SITE}.html", site_report_html(result.final)
    )
    result.checks.append(
        ("QA sample checked by a second person, a transfer note per document, the audit log "
         "intact", passed)
    )  # fmt: skip
    stages.append(_release_stage(workspace, "after verify --level valid"))
    copy = make_backup(workspace, output / "backup", site=SITE)
    result.evidence.append(
        f"backup in {copy.place}: {copy.files} file(s), "
        + ("verified" if copy.verified else "NOT verified")
    )
    stages.append(_release_stage(workspace, "after the backup"))
    result.release = [line for line, _codes in stages]
    codes = [set(c) for _line, c in stages]
    result.checks.append(
        ("the release path: blocked, cases resolved, QA and notes, verified, backed up, "
         "releasable", all(codes[:-1]) and not codes[-1] and "open_cases" in codes[0]
         and "open_cases" not in codes[1] and "qa_not_drawn" not in codes[2]
         and codes[3] == {"no_backup"})
    )  # fmt: skip
    return result


def _release_stage(workspace: Workspace, when: str) -> tuple[str, list[str]]:
    """One look at the release check: the blockers of the demo's delivery, by code."""
    (delivery,) = release_check(workspace, SITE).deliveries
    codes = [b["code"] for b in delivery.blockers]
    state = "releasable" if delivery.releasable else "blocked by " + ", ".join(codes)
    return (f"{when}: {state} (scanned {delivery.scanned_at}, destruction from "
            f"{delivery.destroy_on}, {delivery.days_left} days left)", codes)  # fmt: skip


#: The synthetic second person who checks the QA sample (four eyes: not who ingested).
DEMO_REVIEWER = "Demo-Qualitätssicherung"


def _evidence(workspace: Workspace) -> tuple[list[str], bool]:
    """What TR-RESISCAN asks before the paper may go: a QA sample drawn and checked by a
    second person, a transfer note for every document, and an intact audit log."""
    sample = draw_sample(workspace, SITE, seed=1)
    recorded = record_results(
        workspace, sample.sample, [(item["item"], "ok", None) for item in sample.items],
        reviewer=DEMO_REVIEWER,
    )  # fmt: skip
    status = qa_status(workspace, SITE)[-1]["status"]
    notes = write_notes(workspace, SITE, by=DEMO_PERSON)
    audit = verify_audit(workspace)
    lines = [
        f"QA sample {sample.sample}: {sample.total} page(s) drawn (seed {sample.seed}), "
        f"checked by {DEMO_REVIEWER}: {status}",
        f"transfer notes: {len(notes.notes)} written by {DEMO_PERSON}",
        f"audit log: {audit.size} events, root {audit.root[:16]}…, "
        + ("intact" if audit.intact else f"NOT intact ({len(audit.problems)} problem(s))"),
    ]
    passed = (
        recorded is not None and status == "passed" and not notes.skipped
        and len(notes.notes) > 0 and audit.intact
    )  # fmt: skip
    return lines, passed


#: A synthetic name: who resolves the demo's Klärfälle.
DEMO_PERSON = "Demo-Sachbearbeitung"
_CLOSING = {
    CaseKind.FILE: "Datei defekt; Dienstleister bestätigt, dass sie leer war",
    CaseKind.MISSING_HOUSEHOLD: "keine Papierakte vorhanden",
    CaseKind.UNEXPECTED_HOUSEHOLD: "Zuzug nach dem Stichtag, Soll-Liste wird ergänzt",
    CaseKind.DELIVERY_PROBLEM: "im Manifest, nie gescannt: Dienstleister bestätigt",
    CaseKind.PAGE_COUNT_MISMATCH: "Papier nachgezählt, Deckblatt war falsch",
}


def _resolve_cases(workspace: Workspace, truth: GeneratedDelivery) -> list[str]:
    """The demo's Klärfälle resolved as a migration team would: the orphan page assigned to a
    delivered household, everything else closed with a reason."""
    lines = []
    household = sorted(truth.delivered_households)[0]
    for case in case_list(workspace, SITE, "open"):
        if case["kind"] == CaseKind.PAGES:
            done = assign_case(workspace, case["id"], household, by=DEMO_PERSON,
                               reason="Schreiben nennt die BG-Nummer")  # fmt: skip
            lines.append(f"case {case['id']} ({case['kind']}): assigned to {household}, "
                         f"archived as {done.document}")  # fmt: skip
        else:
            reason = _CLOSING.get(CaseKind(case["kind"]), "geprüft und abgeschlossen")
            close_case(workspace, case["id"], by=DEMO_PERSON, reason=reason)
            about = case["household"] or case["file"]
            lines.append(f"case {case['id']} ({case['kind']}, {about}): closed — {reason}")
    return lines


def _kinds_match(report: IngestReport, pages: list[dict[str, Any]]) -> bool:
    return all(
        report.pages[kind] == sum(1 for p in pages if p["kind"] == kind)
        for kind in ("cover", "separator", "blank")
    )

"""``esak release``: may the paper originals of a delivery go? (TR-RESISCAN, the end of it all)

The scanning provider destroys the paper ``retention_days`` (default 56: eight weeks) after
scanning unless told otherwise. ``check`` says per delivery, in time, whether its originals
may go, and names every blocker with the command that removes it:

- ``no_scan_date``: the clock cannot be read (``ingest --scanned-on``, or the manifest's
  ``scanned_at``);
- ``open_cases``: Klärfälle of the delivery not resolved;
- ``qa_not_drawn`` / ``qa_open`` / ``qa_failed`` / ``qa_outdated``: its QA sample is missing,
  not finished, found a defect (put right, then draw again), or older than its last change;
- ``notes_not_final``: a document without a transfer note, or with a preliminary one, or one
  that vouches for another version of the PDF;
- ``not_verified``: no ``verify --level valid`` that found every file intact and valid after
  the delivery last changed;
- ``no_backup``: no verified backup after the delivery last changed;
- ``keep_original``: it holds documents of a type whose originals the site keeps;
- ``fixity``: an archived file or note is missing or has another size (exit 10).

``approve`` releases a delivery only when nothing blocks it, and only by a person who neither
ran its ingest nor checked its QA sample; ``hold`` stops its clock. Each decision is an event of
the audit log; a released delivery can no longer be withdrawn. ``release_list`` is the
Freigabeliste and Sperrliste for the provider, per file as the provider named it: every file not
released is on the Sperrliste.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esak.backup import latest_backup
from esak.errors import ExitCode, IntegrityError, ProblemsError, UsageError
from esak.files import sha256_file
from esak.i18n import N_, _
from esak.index import releases as rows
from esak.index.audit import recorded_run
from esak.index.db import Index
from esak.index.qa import delivery_qa, ingest_people
from esak.profiles import Profile, load_profile
from esak.workspace import Workspace

BLOCKERS = {
    "no_scan_date": N_("no scan date: the eight weeks cannot be counted"),
    "open_cases": N_("{n} open Klärfall/Klärfälle"),
    "qa_not_drawn": N_("no QA sample drawn"),
    "qa_open": N_("QA sample {sample}: {checked} of {total} page(s) checked"),
    "qa_failed": N_("QA sample {sample} found {defects} defect(s): put right, then draw anew"),
    "qa_outdated": N_("QA sample {sample} is older than the delivery's last change"),
    "notes_not_final": N_("{n} document(s) without a final transfer note"),
    "not_verified": N_("no verification at level valid since the last change"),
    "no_backup": N_("no verified backup since the last change"),
    "keep_original": N_("{n} document(s) of a type whose originals are kept ({types})"),
    "fixity": N_("{n} archived file(s) missing or changed"),
}


@dataclass
class DeliveryRelease:
    delivery: int
    path: str
    scanned_at: str | None
    destroy_on: str | None
    days_left: int | None
    decision: dict[str, Any] | None = None
    blockers: list[dict[str, Any]] = field(default_factory=list)
    warn_days: int = 14

    @property
    def releasable(self) -> bool:
        return not self.blockers

    @property
    def decided(self) -> bool:
        return self.decision is not None

    @property
    def urgent(self) -> bool:
        """Blocked, undecided, and the day is near or past (an unknown day is the blocker
        ``no_scan_date``: the clock cannot say)."""
        near = self.days_left is not None and self.days_left <= self.warn_days
        return bool(self.blockers and not self.decided and near)

    @property
    def overdue(self) -> bool:
        return self.days_left is not None and self.days_left < 0 and not self.decided

    def block(self, code: str, action: str, **params: Any) -> None:
        # The detail in English for JSON; its template and values for a German report.
        self.blockers.append({"code": code, "detail": BLOCKERS[code].format(**params),
                              "action": action, "_text": (BLOCKERS[code], params)})  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        latest = self.decision or {}
        return {
            "delivery": self.delivery,
            "path": self.path,
            "scanned_at": self.scanned_at,
            "destroy_on": self.destroy_on,
            "days_left": self.days_left,
            "releasable": self.releasable,
            "decision": latest.get("decision"),
            "decided_by": latest.get("by"),
            "decided_at": latest.get("at"),
            "reason": latest.get("reason"),
            "urgent": self.urgent,
            "overdue": self.overdue,
            "blockers": [
                {k: v for k, v in b.items() if not k.startswith("_")} for b in self.blockers
            ],
        }


def blocker_text(blocker: dict[str, Any]) -> str:
    template, params = blocker["_text"]
    return _(template).format(**params)


@dataclass
class ReleaseCheck:
    site: str
    as_of: dt.date
    deliveries: list[DeliveryRelease]

    @property
    def urgent_holds(self) -> list[DeliveryRelease]:
        return [d for d in self.deliveries if d.urgent]

    @property
    def exit_code(self) -> ExitCode:
        if any(b["code"] == "fixity" for d in self.deliveries for b in d.blockers):
            return ExitCode.INTEGRITY
        blocked = [d for d in self.deliveries if d.blockers and not d.decided]
        return ExitCode.PROBLEMS if blocked else ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "as_of": self.as_of.isoformat(),
            "deliveries": [d.to_dict() for d in self.deliveries],
            "urgent_holds": [
                {"delivery": d.delivery, "days_left": d.days_left, "destroy_on": d.destroy_on,
                 "blockers": [b["code"] for b in d.blockers]}
                for d in self.urgent_holds
            ],
            "exit_code": int(self.exit_code),
        }


# --- the check --------------------------------------------------------------------------------


def judge(
    workspace: Workspace | None,
    index: Index,
    profile: Profile,
    facts: rows.DeliveryFacts,
    as_of: dt.date,
    *,
    fixity: bool = True,
) -> DeliveryRelease:
    """One delivery: its clock, its decision, and everything that blocks its release."""
    site = profile.key
    scanned = facts.scanned_at
    destroy = (dt.date.fromisoformat(scanned) + dt.timedelta(days=profile.retention_days)
               if scanned else None)  # fmt: skip
    result = DeliveryRelease(
        facts.id, facts.path, scanned, destroy.isoformat() if destroy else None,
        (destroy - as_of).days if destroy else None, rows.decision(index, facts.id),
        warn_days=profile.warn_days,
    )  # fmt: skip
    if result.decision and result.decision["decision"] == "release":
        return result  # decided for good: what was released stays released
    if scanned is None:
        result.block("no_scan_date", f"esak ingest --site {site} {facts.path} "
                     "--scanned-on YYYY-MM-DD")  # fmt: skip
    if facts.open_cases:
        result.block("open_cases", f"esak clarify list --site {site}", n=facts.open_cases)
    _qa(result, index, site, facts)
    documents = rows.documents(index, facts.id)
    not_final = [d for d in documents if d["note_status"] != "final"
                 or d["note_document_sha256"] != d["sha256"]]  # fmt: skip
    if not_final:
        result.block("notes_not_final", f'esak transfer-note --site {site} --by "NAME"',
                     n=len(not_final))  # fmt: skip
    last = facts.last_change or ""
    verified = rows.latest_valid_verification(index, site)
    if verified is None or verified["at"] < last:
        result.block("not_verified", f"esak verify --site {site} --level valid")
    backup = latest_backup(index, site)
    # Its start, not its end: a change committed while it ran may not be in the copy.
    if backup is None or backup["started_at"] < last:
        result.block("no_backup", f"esak backup --to DIR --site {site}")
    kept = [d for d in documents if d["doc_type"] in profile.keep_original_types]
    if kept:
        types = ", ".join(sorted({d["doc_type"] for d in kept}))
        action = (f"esak release hold --site {site} --delivery {facts.id} --by \"NAME\" "
                  '--reason "Originale aufbewahren"')  # fmt: skip
        result.block("keep_original", action, n=len(kept), types=types)
    if fixity and workspace is not None:
        broken = _broken_files(workspace, documents)
        if broken:
            result.block("fixity", f"esak verify --site {site} --level valid", n=len(broken))
    return result


def _qa(result: DeliveryRelease, index: Index, site: str, facts: rows.DeliveryFacts) -> None:
    qa = delivery_qa(index, facts.id)
    redraw = f"esak qa draw --site {site} --delivery {facts.id}"
    if qa is None:
        result.block("qa_not_drawn", redraw)
    elif qa["status"] == "failed":
        result.block("qa_failed", redraw, sample=qa["sample"], defects=qa["defects"])
    elif qa["status"] == "open":
        result.block("qa_open", f"esak qa sheet --sample {qa['sample']} -o FILE.pdf; "
                     f'esak qa record --sample {qa["sample"]} --from FILE.csv --reviewer "NAME"',
                     sample=qa["sample"], checked=qa["checked"], total=qa["total"])  # fmt: skip
    elif facts.last_change and qa["drawn_at"] < _product_change(index, facts.id):
        result.block("qa_outdated", redraw, sample=qa["sample"])


def _product_change(index: Index, delivery_id: int) -> str:
    """When the delivery's archived files last changed (a note does not count: QA writes it)."""
    row = index.db.execute(
        "SELECT MAX(COALESCE((SELECT MAX(s.superseded_at) FROM superseded_documents s "
        "WHERE s.document_id = d.id), d.created_at)) FROM documents d "
        "JOIN input_files f ON f.id = d.file_id WHERE f.delivery_id = ?",
        [delivery_id],
    ).fetchone()
    return row[0] or ""


def _broken_files(workspace: Workspace, documents: list[dict[str, Any]]) -> list[str]:
    """Archived PDFs and notes missing or of another size (a quick look; approve hashes)."""
    broken = []
    for d in documents:
        for path, size in ((d["path"], d["size"]), (d["note_path"], d["note_size"])):
            if path is None:
                continue
            file = workspace.archive_dir / path
            try:
                if file.stat().st_size != size:
                    broken.append(path)
            except OSError:
                broken.append(path)
    return broken


def _open(workspace: Workspace, *, write: bool) -> Index:
    workspace.existing()
    if write:
        workspace.check_writable()
        return Index.open_existing(workspace.index_path, workspace.access)
    return Index.open_readonly(workspace.index_path)


def release_check(workspace: Workspace, site: str, as_of: dt.date | None = None) -> ReleaseCheck:
    """Every delivery of the site not withdrawn, oldest first (CONTRACT §10)."""
    profile = load_profile(site)
    as_of = as_of or dt.date.today()
    if not workspace.existing().index_path.is_file():
        return ReleaseCheck(profile.key, as_of, [])
    with _open(workspace, write=False) as index:
        judged = [judge(workspace, index, profile, f, as_of)
                  for f in rows.deliveries(index, profile.key)]  # fmt: skip
    return ReleaseCheck(profile.key, as_of, judged)


def site_releases(
    workspace: Workspace | None, index: Index, profile: Profile, as_of: dt.date
) -> list[DeliveryRelease]:
    """For the rollout: every delivery's release state, without the look at the files."""
    return [judge(workspace, index, profile, f, as_of, fixity=False)
            for f in rows.deliveries(index, profile.key)]  # fmt: skip


# --- decisions --------------------------------------------------------------------------------


@dataclass
class Decision:
    site: str
    delivery: int
    decision: str
    by: str
    reason: str | None
    destroy_on: str | None
    run_id: int
    release_id: int

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK

    def to_dict(self) -> dict[str, Any]:
        return {"site": self.site, "delivery": self.delivery, "decision": self.decision,
                "by": self.by, "reason": self.reason, "destroy_on": self.destroy_on,
                "run_id": self.run_id, "release": self.release_id}  # fmt: skip


def _person(by: str) -> str:
    name = " ".join((by or "").split())
    if not name:
        raise UsageError("say who decides: --by NAME", "esak release --help")
    return name


def _delivery(index: Index, profile: Profile, delivery: int) -> rows.DeliveryFacts:
    known = {f.id: f for f in rows.deliveries(index, profile.key)}
    if delivery not in known:
        listed = ", ".join(map(str, known)) or "none"
        raise UsageError(
            f"{profile.name} has no delivery {delivery} (not withdrawn)",
            f"its deliveries: {listed}; esak release check --site {profile.key}",
        )
    return known[delivery]


def approve(workspace: Workspace, site: str, delivery: int, *, by: str) -> Decision:
    """Release the delivery's originals for destruction; refused while anything blocks it."""
    by = _person(by)
    profile = load_profile(site)
    with _open(workspace, write=True) as index, workspace.lock():
        facts = _delivery(index, profile, delivery)
        judged = judge(workspace, index, profile, facts, dt.date.today())
        if judged.decision and judged.decision["decision"] == "release":
            raise UsageError(f"delivery {delivery} was released before "
                             f"({judged.decision['at']}, {judged.decision['by']})",
                             "nothing to do")  # fmt: skip
        archive = workspace.archive_dir
        changed = [
            d["path"] for d in rows.documents(index, delivery)
            if sha256_file_or_none(archive / d["path"]) != d["sha256"]
        ]  # fmt: skip
        if changed:
            judged.block("fixity", f"esak verify --site {profile.key} --level valid",
                         n=len(changed))  # fmt: skip
        if judged.blockers:
            listed = "; ".join(f"{b['detail']} → {b['action']}" for b in judged.blockers)
            kind = IntegrityError if changed else ProblemsError
            raise kind(
                f"delivery {delivery} may not be released yet: {listed}",
                f"esak release check --site {profile.key} lists what to do",
            )
        same = {p for p in ingest_people(index, [delivery]) | rows.qa_reviewers(index, delivery)
                if p.strip().casefold() == by.casefold()}  # fmt: skip
        if same:
            raise UsageError(
                f"{by} ran the ingest or checked the QA sample of delivery {delivery}: the "
                "release needs a third person",
                "have the release approved by someone who did neither",
            )
        return _decide(index, profile, judged, "release", by, None)


def sha256_file_or_none(path: Path) -> str | None:
    try:
        return sha256_file(path)
    except OSError:
        return None


def hold(workspace: Workspace, site: str, delivery: int, *, by: str, reason: str) -> Decision:
    """Stop the clock: the originals of the delivery must not be destroyed."""
    by = _person(by)
    reason = " ".join((reason or "").split())
    if not reason:
        raise UsageError("say why the originals are held: --reason TEXT", "esak release --help")
    profile = load_profile(site)
    with _open(workspace, write=True) as index, workspace.lock():
        facts = _delivery(index, profile, delivery)
        judged = judge(workspace, index, profile, facts, dt.date.today(), fixity=False)
        if rows.is_released(index, delivery):
            raise UsageError(
                f"delivery {delivery} was released for destruction "
                f"({judged.decision['at'] if judged.decision else ''}): a hold comes too late "
                "for esak",
                "tell the scanning provider at once, in writing, to keep the originals",
            )
        return _decide(index, profile, judged, "hold", by, reason)


def _decide(index: Index, profile: Profile, judged: DeliveryRelease, decision: str, by: str,
            reason: str | None) -> Decision:  # fmt: skip
    options = {"delivery": judged.delivery, "decision": decision, "by": by, "reason": reason}
    with recorded_run(index, f"release {'approve' if decision == 'release' else 'hold'}",
                      profile.key, options) as run:  # fmt: skip
        with index.transaction() as db:
            release_id = rows.record_decision(
                db, profile.key, judged.delivery, decision, by=by, reason=reason,
                scanned_on=judged.scanned_at, destroy_on=judged.destroy_on, run_id=run.id,
            )  # fmt: skip
        return Decision(profile.key, judged.delivery, decision, by, reason, judged.destroy_on,
                        run.id, release_id)  # fmt: skip


# --- the lists for the provider -------------------------------------------------------------


RELEASE_COLUMNS = (
    ("list", N_("list")),
    ("delivery", N_("delivery")),
    ("box", N_("box")),
    ("batch", N_("batch")),
    ("file", N_("file")),
    ("pages", N_("pages")),
    ("decision", N_("decision")),
    ("date", N_("date")),
    ("by", N_("by")),
    ("reason", N_("reason")),
    ("destroy_on", N_("destruction from")),
)


def release_rows(workspace: Workspace, site: str) -> tuple[Profile, list[dict[str, Any]]]:
    """Every delivered file of the site with its decision: released (Freigabeliste) or not
    (Sperrliste: held, or not released yet — the provider destroys nothing without a release)."""
    profile = load_profile(site)
    out: list[dict[str, Any]] = []
    if not workspace.existing().index_path.is_file():
        return profile, out
    today = dt.date.today()
    with _open(workspace, write=False) as index:
        for facts in rows.deliveries(index, profile.key):
            judged = judge(workspace, index, profile, facts, today, fixity=False)
            latest = judged.decision or {}
            for f in rows.input_files(index, facts.id):
                parts = f["file"].split("/")
                kept = sorted(set((f["doc_types"] or "").split(",")) & set(
                    profile.keep_original_types))  # fmt: skip
                released = latest.get("decision") == "release" and not kept
                if released:
                    what, why = _("released for destruction"), ""
                elif latest.get("decision") == "hold":
                    what, why = _("held"), latest.get("reason") or ""
                else:
                    what = _("held (not released yet)")
                    why = "; ".join(blocker_text(b) for b in judged.blockers)
                if kept:
                    why = _("originals are kept: {types}").format(types=", ".join(kept))
                out.append({
                    "list": _("Freigabeliste") if released else _("Sperrliste"),
                    "released": released,
                    "delivery": facts.path,
                    "box": parts[0] if len(parts) > 1 else "",
                    "batch": parts[-1].rsplit(".", 1)[0],
                    "file": f["file"],
                    "pages": f["pages"],
                    "decision": what,
                    "date": (latest.get("at") or "")[:10],
                    "by": latest.get("by") or "",
                    "reason": why,
                    "destroy_on": judged.destroy_on or "",
                })  # fmt: skip
    out.sort(key=lambda r: (not r["released"], r["delivery"], r["file"]))
    return profile, out


def release_document(profile: Profile, listed: list[dict[str, Any]]) -> Any:
    """The lists as a PDF to send to the provider (German for a German site)."""
    from esak.i18n import local_date
    from esak.report.pdf import table_pdf

    released = sum(1 for r in listed if r["released"])
    about = [
        _("Jobcenter im Kreis Borken, site {site}, as of {date}").format(
            site=profile.name, date=local_date(dt.date.today())),
        _("Freigabeliste: {n} file(s) whose paper originals may be destroyed from the date "
          "given. Sperrliste: {m} file(s) whose originals must be kept until further notice.")
        .format(n=released, m=len(listed) - released),
    ]  # fmt: skip
    shares = {"list": 1.1, "delivery": 1.6, "box": 0.8, "batch": 1.1, "file": 2.0,
              "pages": 0.5, "decision": 1.4, "date": 0.9, "by": 1.1, "reason": 2.6,
              "destroy_on": 0.9}  # fmt: skip
    columns = [(_(label), shares[key]) for key, label in RELEASE_COLUMNS]
    cells = [[local_date(r[k]) if k in ("date", "destroy_on") else str(r[k] or "")
              for k, _label in RELEASE_COLUMNS] for r in listed]  # fmt: skip
    title = _("Freigabeliste and Sperrliste of the paper originals, {site}").format(
        site=profile.name)
    return table_pdf(title, about, columns, cells)

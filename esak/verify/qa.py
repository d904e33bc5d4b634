"""``esak qa``: the QA sample with four eyes (TR-RESISCAN A.SC.8).

- ``draw``: random archived pages, stratified so that every ingested input file gets at
  least one, at the rate of the site's protection need (normal 3 % of the documents, high
  10 %, very-high every page; doubled for the two draws after a defect), plus every page the
  index can tell is worth a look (flagged): pages of a section whose cover sheet declares
  another page count, pages assigned after a Klärfall, blank pages kept after review, pages
  esak turned upright, the first page of each document made by the OCRmyPDF path. The seed
  is stored: the same seed on the same index draws the same sample.
- ``sheet`` (:mod:`esak.verify.qa_sheet`): a worksheet, PDF or HTML, each page's image beside
  what it should be.
- ``record``: a reviewer who did not run the ingest records ok or defect; a defect opens a
  Klärfall ``qa_defect``, adds every other page of its input file to the sample and doubles
  the rate of the site's next two draws.
- ``status``: per sample drawn, checked, defects, and open / passed / failed.

A check of what was ingested, so it lives with the other checks (``esak.verify``); it writes
only index rows (and the worksheet the user names), never the archive.
"""

from __future__ import annotations

import csv
import io
import math
import random
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from esak.errors import InputError, ProblemsError, UsageError
from esak.index import qa as rows
from esak.index.audit import recorded_run
from esak.index.cases import open_reported
from esak.index.db import Index
from esak.profiles import load_profile
from esak.verify.transfer import refresh_notes
from esak.vocabulary import CaseKind
from esak.workspace import Workspace

#: The share of a delivery's documents drawn at random, by protection need (1.0: every page).
RATES = {"normal": 0.03, "high": 0.10, "very-high": 1.0}

#: The reason on a page assigned to a household by a resolved Klärfall (esak.migrate.clarify).
ASSIGNED_PREFIX = "assigned after clarification"
#: The reason on a blank page kept after review (esak.migrate.keep).
KEPT_BLANK = "blank page kept after review"

RESULTS = ("ok", "defect")



_status = rows.sample_status


def _writing(workspace: Workspace) -> Index:
    workspace.existing()
    workspace.check_writable()
    return Index.open_existing(workspace.index_path, workspace.access)


def _reading(workspace: Workspace) -> Index:
    workspace.existing()
    return Index.open_readonly(workspace.index_path)


# --- draw -----------------------------------------------------------------------------------


def flagged_pages(index: Index, pages: list[dict[str, Any]]) -> dict[int, str]:
    """The pages worth a look whatever the draw, page id → why."""
    why: dict[int, str] = {}
    ocrmypdf_documents: set[int] = set()
    for p in pages:
        reason = p["reason"] or ""
        if reason.startswith(ASSIGNED_PREFIX):
            why[p["page_id"]] = "assigned after clarification"
        elif reason == KEPT_BLANK:
            why[p["page_id"]] = "blank page kept after review"
        elif p.get("rotation"):
            why[p["page_id"]] = f"turned by {p['rotation']}° to be upright"
        elif p.get("engine") == "ocrmypdf" and p["document_id"] not in ocrmypdf_documents:
            # One page of each such document: the whole document went another way, not a page.
            ocrmypdf_documents.add(p["document_id"])
            why[p["page_id"]] = "document made by the OCRmyPDF path (not a plain scan)"
    sections = rows.mismatched_sections(index, sorted({p["file_id"] for p in pages}))
    for s in sections:
        text = f"cover sheet declares {s['declared']} pages, {s['found']} found"
        for p in pages:
            if (p["file_id"] == s["file_id"] and p["household"] == s["household"]
                    and p["volume"] == s["volume"] and s["cover_page"] is not None
                    and p["page_index"] > s["cover_page"]
                    and (s["until"] is None or p["page_index"] < s["until"])):  # fmt: skip
                why.setdefault(p["page_id"], text)
    return why


def choose(
    pages: list[dict[str, Any]], flagged: dict[int, str], rate: float, seed: int
) -> list[dict[str, Any]]:
    """The items of a draw, pure: ``pages`` in a deterministic order (file, page).

    Random pages are drawn from those not flagged: first one per input file, then more until
    ``ceil(rate × documents)``; a rate of 1 or more takes every page. Flagged pages follow.
    """
    rng = random.Random(seed)
    plain = [p for p in pages if p["page_id"] not in flagged]
    documents = len({p["document_id"] for p in pages})
    if rate >= 1:
        chosen = list(plain)
    else:
        by_file: dict[int, list[dict[str, Any]]] = {}
        for p in plain:
            by_file.setdefault(p["file_id"], []).append(p)
        chosen = [rng.choice(by_file[f]) for f in sorted(by_file)]
        taken = {p["page_id"] for p in chosen}
        rest = [p for p in plain if p["page_id"] not in taken]
        more = min(len(rest), max(0, math.ceil(rate * documents) - len(chosen)))
        chosen += rng.sample(rest, more)
        chosen.sort(key=lambda p: (p["file_id"], p["page_index"]))
    items = [{**p, "kind": "random", "why": None} for p in chosen]
    items += [{**p, "kind": "flagged", "why": flagged[p["page_id"]]}
              for p in pages if p["page_id"] in flagged]  # fmt: skip
    return items


@dataclass
class Sample:
    sample: int
    site: str
    seed: int
    rate: float
    escalated: bool
    deliveries: list[int]
    items: list[dict[str, Any]]
    run_id: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def checked(self) -> int:
        return sum(1 for i in self.items if i["result"])

    @property
    def defects(self) -> int:
        return sum(1 for i in self.items if i["result"] == "defect")

    @property
    def status(self) -> str:
        return _status(self.total, self.checked, self.defects)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sample": self.sample,
            "site": self.site,
            "seed": self.seed,
            "rate": self.rate,
            "escalated": self.escalated,
            "deliveries": self.deliveries,
            "status": self.status,
            "items": [_item_json(i) for i in self.items],
        }


def _item_json(i: dict[str, Any]) -> dict[str, Any]:
    return {"item": i["item"], "household": i["household"], "document": i["document"],
            "page": i["page"], "reason": i["reason"], "why": i["why"], "file": i["file"],
            "index": i["index"], "result": i["result"], "note": i["note"],
            "reviewer": i["reviewer"], "case": i["case"]}  # fmt: skip


def _load(index: Index, sample_id: int) -> Sample:
    row = rows.sample_row(index, sample_id)
    if row is None:
        raise UsageError(f"there is no QA sample {sample_id}", "esak qa status --site SITE")
    return Sample(row["id"], row["site"], row["seed"], row["rate"], bool(row["escalated"]),
                  row["deliveries"], rows.items(index, sample_id), row["run_id"])  # fmt: skip


def draw(
    workspace: Workspace,
    site: str,
    *,
    delivery: int | None = None,
    rate: float | None = None,
    seed: int | None = None,
) -> Sample:
    """Draw a sample of the delivery (or of every delivery of the site not sampled yet)."""
    profile = load_profile(site)
    if rate is not None and not 0 < rate <= 1:
        raise UsageError(f"rate {rate} is not a share of the pages",
                         "give it as a fraction above 0 and up to 1: --rate 0.05")  # fmt: skip
    if seed is not None and seed < 0:
        raise UsageError(f"seed {seed} is negative", "give a seed of 0 or more")
    with _writing(workspace) as index, workspace.lock():
        known = rows.deliveries(index, profile.key)
        if delivery is not None:
            if delivery not in {d["id"] for d in known}:
                listed = ", ".join(str(d["id"]) for d in known) or "none"
                raise UsageError(f"{profile.name} has no delivery {delivery} (not withdrawn)",
                                 f"its deliveries: {listed}")  # fmt: skip
            chosen = [delivery]
        else:
            chosen = [d["id"] for d in known if not d["sampled"]]
        pages = rows.archived_pages(index, chosen) if chosen else []
        if not pages:
            raise ProblemsError(
                f"nothing to sample at {profile.name}: no archived page in "
                + (f"delivery {delivery}" if delivery is not None else "a delivery not "
                   "sampled yet"),
                "ingest a delivery first, or name one with --delivery ID",
            )  # fmt: skip
        base = rate if rate is not None else RATES[profile.protection]
        escalations = rows.active_escalations(index, profile.key)
        effective = min(1.0, base * 2) if escalations else base
        if seed is None:
            seed = secrets.randbelow(2**31)
        items = choose(pages, flagged_pages(index, pages), effective, seed)
        options = {"site": profile.key, "delivery": delivery, "rate": effective, "seed": seed}
        with recorded_run(index, "qa draw", profile.key, options) as record:
            with index.transaction() as db:
                sample_id = rows.insert_sample(
                    db, profile.key, seed, effective, profile.protection, chosen, items,
                    escalations=escalations, run_id=record.id,
                )  # fmt: skip
            return _load(index, sample_id)


# --- record ---------------------------------------------------------------------------------


@dataclass
class Recorded:
    sample: Sample
    recorded: list[int]
    cases: list[int]
    added: list[int]
    run_id: int
    #: transfer notes of the sample's deliveries rewritten to state the result, and how many
    #: of them are final now
    notes_written: int = 0
    notes_final: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"sample": self.sample.sample, "status": self.sample.status,
                "notes": {"written": self.notes_written, "final": self.notes_final},
                "recorded": self.recorded, "cases": self.cases, "added_items": self.added,
                "total": self.sample.total, "checked": self.sample.checked,
                "defects": self.sample.defects, "run_id": self.run_id}  # fmt: skip


def read_results(path: Path) -> list[tuple[int, str, str | None]]:
    """RESULTS.csv: ``item;result;note`` with a header row; a bad row refuses the whole file
    (nothing is recorded), naming its line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read {path}: {exc}", "save it as UTF-8 CSV") from exc
    reader = csv.reader(io.StringIO(text), delimiter=";")
    header = next(reader, None)
    if header is None or [h.strip().lower() for h in header[:2]] != ["item", "result"]:
        raise InputError(f"{path}, line 1: the header must be item;result;note",
                         "the first row names the columns: item;result;note")  # fmt: skip
    out = []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        item, result = [*row, "", ""][:2]
        note = row[2].strip() if len(row) > 2 and row[2].strip() else None
        if not item.strip().isdigit():
            raise InputError(f"{path}, line {line}: {item!r} is not an item number",
                             "the item column holds the numbers of esak qa draw")  # fmt: skip
        if result.strip().lower() not in RESULTS:
            raise InputError(f"{path}, line {line}: result {result!r} is not ok or defect",
                             "write ok or defect in the result column")  # fmt: skip
        out.append((int(item), result.strip().lower(), note))
    if not out:
        raise InputError(f"{path} holds no result", "one row per item: item;result;note")
    return out


def _check_reviewer(index: Index, sample: Sample, reviewer: str, allow_same: bool,
                    protection: str) -> None:  # fmt: skip
    if allow_same and protection == "very-high":
        raise UsageError(
            "--allow-same-person is not allowed at a site whose protection need is very-high",
            "have someone who did not run the ingest check the sample",
        )
    people = rows.ingest_people(index, sample.deliveries)
    same = {p for p in people if p.strip().casefold() == reviewer.casefold()}
    if same and not allow_same:
        raise UsageError(
            f"{reviewer} ran the ingest of the sampled delivery: the four-eyes check needs "
            "another person",
            "have someone else record the results, or (not at very-high protection) add "
            "--allow-same-person",
        )


def record(
    workspace: Workspace,
    sample_id: int,
    results: list[tuple[int, str, str | None]],
    *,
    reviewer: str,
    allow_same_person: bool = False,
) -> Recorded:
    """Record the reviewer's results; all or nothing."""
    reviewer = (reviewer or "").strip()
    if not reviewer:
        raise UsageError("say who checked the pages: --reviewer NAME", "esak qa record --help")
    for _item, result, _note in results:
        if result not in RESULTS:
            raise UsageError(f"result {result!r} is not ok or defect", "--result ok|defect")
    with _writing(workspace) as index, workspace.lock():
        sample = _load(index, sample_id)
        profile = load_profile(sample.site)
        _check_reviewer(index, sample, reviewer, allow_same_person, profile.protection)
        by_id = {i["item"]: i for i in sample.items}
        seen: set[int] = set()
        for item_id, _result, _note in results:
            if item_id not in by_id:
                raise UsageError(f"item {item_id} is not in sample {sample_id}",
                                 f"esak qa draw lists them; its items: "
                                 f"{min(by_id)}–{max(by_id)}")  # fmt: skip
            if by_id[item_id]["result"] or item_id in seen:
                raise UsageError(f"item {item_id} of sample {sample_id} was already checked",
                                 "each item is recorded once")  # fmt: skip
            seen.add(item_id)
        options = {"sample": sample_id, "reviewer": reviewer, "items": len(results),
                   "allow_same_person": allow_same_person}  # fmt: skip
        cases: list[int] = []
        added: list[int] = []
        with recorded_run(index, "qa record", sample.site, options) as run:
            with index.transaction() as db:
                in_sample = {i["page_id"] for i in sample.items}
                for item_id, result, note in results:
                    item, case_id = by_id[item_id], None
                    if result == "defect":
                        case_id = open_reported(
                            db, sample.site, CaseKind.QA_DEFECT,
                            f"qa:{sample_id}:{item_id}", note or "QA defect",
                            by=reviewer, run_id=run.id, file=item["file"],
                            file_id=item["file_id"], first_page=item["index"] + 1,
                            last_page=item["index"] + 1, household=item["household"],
                            volume=item["volume"], delivery_id=_delivery_of(index, item),
                        )  # fmt: skip
                        cases.append(case_id)
                        more = [p for p in _file_pages(index, item["file_id"])
                                if p["page_id"] not in in_sample]  # fmt: skip
                        rows.add_items(db, sample_id, [
                            {**p, "kind": "flagged",
                             "why": f"escalation: defect in item {item_id}"} for p in more
                        ])  # fmt: skip
                        in_sample |= {p["page_id"] for p in more}
                        added += [p["page_id"] for p in more]
                        rows.add_escalation(db, sample.site, sample_id, item_id)
                    rows.record_result(db, item_id, result, note, reviewer, run.id, case_id)
            sample = _load(index, sample_id)
            added_items = [i["item"] for i in sample.items if i["page_id"] in set(added)]
            # The notes state the QA result: final once the sample passed.
            notes = refresh_notes(workspace, index, sample.site, run.id,
                                  delivery_ids=sample.deliveries)  # fmt: skip
            done = Recorded(sample, [r[0] for r in results], cases, added_items, run.id)
            done.notes_final = sum(1 for n in notes.notes if n["status"] == "final")
            done.notes_written = len(notes.notes)
            return done


def _delivery_of(index: Index, item: dict[str, Any]) -> int:
    return int(index.db.execute("SELECT delivery_id FROM input_files WHERE id = ?",
                                [item["file_id"]]).fetchone()[0])  # fmt: skip


def _file_pages(index: Index, file_id: int) -> list[dict[str, Any]]:
    delivery = int(index.db.execute("SELECT delivery_id FROM input_files WHERE id = ?",
                                    [file_id]).fetchone()[0])  # fmt: skip
    return [p for p in rows.archived_pages(index, [delivery]) if p["file_id"] == file_id]


# --- status ---------------------------------------------------------------------------------


def status(workspace: Workspace, site: str) -> list[dict[str, Any]]:
    """The site's samples, oldest first (CONTRACT §9)."""
    profile = load_profile(site)
    if not workspace.existing().index_path.is_file():
        return []
    with _reading(workspace) as index:
        out = []
        for s in rows.site_samples(index, profile.key):
            delivered = s["deliveries"]
            out.append({"sample": s["sample"],
                        "delivery": delivered[0] if len(delivered) == 1 else None,
                        "deliveries": delivered,
                        "status": _status(s["total"], s["checked"], s["defects"]),
                        "total": s["total"], "checked": s["checked"], "defects": s["defects"],
                        "rate": s["rate"], "escalated": s["escalated"],
                        "drawn_at": s["drawn_at"]})  # fmt: skip
        return out

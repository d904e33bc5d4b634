"""Synthetic scan deliveries: what a scanning service hands over, with the ground truth.

``esak demo`` and the tests need deliveries that look like the real thing (scanner noise,
skew, duplex back sides, cover sheets in every symbology, broken files, manifest gaps) and
whose every page is known in advance. Everything here is synthetic: names, addresses,
amounts and account numbers are made up.

The same seed gives the same truth and byte-identical files: every random choice is drawn
from one ``random.Random(seed)``; each page gets its own seed from it, from which its numpy
generator (for the pixel noise) is derived. Nothing reads the clock or the global RNGs.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import img2pdf
import numpy as np
from PIL import Image

from esak.files import sha256_file
from esak.migrate.barcodes import barcode_modules
from esak.synthetic.documents import (
    DOC_TYPES,
    KINDS_OF_TYPE,
    MAX_PAGES_OF_KIND,
    SYMBOLOGIES,
    Person,
    cover_text,
    random_person,
    render_blank_page,
    render_content_page,
    render_cover_sheet,
    render_handwritten_note_page,
    render_separator,
)
from esak.synthetic.drawing import module_px_1d

# --- the delivery ------------------------------------------------------------------------------


@dataclass
class GeneratedDelivery:
    """A generated delivery and its ground truth (``truth.json`` beside the delivery).

    ``files`` holds one dict per delivered file or image folder, exactly as in
    ``truth.json``: ``path`` (relative to the delivery, ``/``-separated), ``format``
    (``pdf``, ``tiff``, ``image-folder``, ``household-pdf`` or ``bad``), ``bad_reason`` and
    ``pages``, each page with ``index``, ``kind``, ``barcode``, ``household``, ``volume``,
    ``document``, ``doc_type``, ``orphan``, ``note`` and ``bilevel`` (a 1-bit page). Pages of
    a household section (cover, separators, blanks, content) carry its household and volume;
    ``document`` and ``doc_type`` are set for content pages (``doc_type`` also for ``DOC;``
    separators). Image folders also list their ``images`` in page order.
    """

    site: str
    seed: int
    delivery_dir: Path
    expected_csv: Path
    expected_households: list[str]
    delivered_households: list[str]
    missing_households: list[str]
    unexpected_households: list[str]
    files: list[dict[str, Any]]
    agency_code: str = "95401"
    dpi: int = 300
    #: ``delivery/manifest.csv``, if one was written.
    manifest: Path | None = None
    #: Files the manifest lists that were never delivered (a deliberate gap).
    manifest_not_delivered: list[str] = field(default_factory=list)
    #: Household number -> name as in the expected list (``Nachname, Vorname``).
    names: dict[str, str] = field(default_factory=dict)
    #: Where ``truth.json`` lies; paths in it are relative to this folder.
    root: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The truth as JSON-ready data, paths relative to :attr:`root` (so it is portable)."""

        def rel(p: Path | None) -> str | None:
            if p is None:
                return None
            if self.root is not None:
                try:
                    return p.relative_to(self.root).as_posix()
                except ValueError:
                    pass
            return p.as_posix()

        return {
            "site": self.site,
            "seed": self.seed,
            "agency_code": self.agency_code,
            "dpi": self.dpi,
            "delivery_dir": rel(self.delivery_dir),
            "expected_csv": rel(self.expected_csv),
            "manifest": rel(self.manifest),
            "expected_households": list(self.expected_households),
            "delivered_households": list(self.delivered_households),
            "missing_households": list(self.missing_households),
            "unexpected_households": list(self.unexpected_households),
            "manifest_not_delivered": list(self.manifest_not_delivered),
            "names": dict(self.names),
            "files": self.files,
        }

    @classmethod
    def from_json(cls, path: Path | str) -> GeneratedDelivery:
        """Load ``truth.json``; relative paths in it are taken from the file's folder."""
        path = Path(path)
        data = json.loads(path.read_text(encoding="utf-8"))
        root = path.parent

        def absolute(value: str | None) -> Path | None:
            if value is None:
                return None
            p = Path(value)
            return p if p.is_absolute() else root / p

        return cls(
            site=data["site"],
            seed=data["seed"],
            delivery_dir=absolute(data["delivery_dir"]) or root,
            expected_csv=absolute(data["expected_csv"]) or root,
            expected_households=data["expected_households"],
            delivered_households=data["delivered_households"],
            missing_households=data["missing_households"],
            unexpected_households=data["unexpected_households"],
            files=data["files"],
            agency_code=data.get("agency_code", "95401"),
            dpi=data.get("dpi", 300),
            manifest=absolute(data.get("manifest")),
            manifest_not_delivered=data.get("manifest_not_delivered", []),
            names=data.get("names", {}),
            root=root,
        )

    def iter_pages(self) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """Every page of every good file, as ``(file, page)``."""
        for f in self.files:
            for page in f["pages"]:
                yield f, page

    def page_totals(self) -> dict[str, int]:
        """Pages per kind over all good files, plus ``input`` (all of them) and ``orphan``."""
        totals = {"input": 0, "cover": 0, "separator": 0, "blank": 0, "content": 0, "orphan": 0}
        for _, page in self.iter_pages():
            totals["input"] += 1
            totals[page["kind"]] += 1
            totals["orphan"] += bool(page["orphan"])
        return totals

    def household_pages(self) -> dict[str, int]:
        """Content pages per household: what ends up in each e-file with blanks left out."""
        counts: dict[str, int] = {}
        for _, page in self.iter_pages():
            if page["kind"] == "content" and page["household"]:
                counts[page["household"]] = counts.get(page["household"], 0) + 1
        return counts


#: Beside truth.json: the text of every content page as drawn (what OCR should read).
TEXTS_JSON = "texts.json"


@dataclass
class _Spec:
    """One page to render, with its truth."""

    truth: dict[str, Any]
    seed: int
    bilevel: bool
    what: str  # cover | separator | blank | note | content
    args: dict[str, Any] = field(default_factory=dict)
    #: a content page's text as drawn, once rendered (``texts.json``)
    text: str | None = None


@dataclass
class _Container:
    path: str
    format: str  # pdf | tiff | image-folder | household-pdf
    pages: list[_Spec] = field(default_factory=list)
    household: str | None = None
    volume: int | None = None


def _page_truth(kind: str, **kw: Any) -> dict[str, Any]:
    truth: dict[str, Any] = {
        "index": -1,
        "kind": kind,
        "barcode": None,
        "household": None,
        "volume": None,
        "document": None,
        "doc_type": None,
        "orphan": False,
        "note": None,
    }
    truth.update(kw)
    return truth


#: The usual share of content sheets scanned with their empty back side (about a third of
#: the pages behind a content page are blank backs).
DUPLEX = 0.4


class _Planner:
    """Decides, page by page, what the delivery holds, before any pixel is drawn."""

    def __init__(self, rng: random.Random, fmt: str, duplex: float = DUPLEX) -> None:
        self.rng = rng
        self.fmt = fmt  # container format: decides grey or bilevel pages
        #: the share of content sheets scanned with their empty back side; at 1.0 the cover
        #: and separator sheets come with theirs too (a whole file scanned duplex)
        self.duplex = duplex

    def bilevel(self) -> bool:
        if self.fmt == "tiff":
            return True
        if self.fmt == "image-folder":
            return False
        return self.rng.random() < 0.4

    def spec(self, truth: dict[str, Any], what: str, **args: Any) -> _Spec:
        bilevel = self.bilevel()
        if what == "blank" and args.get("bleed_through"):
            # Bleed-through only exists on grey scans; thresholding wipes it out.
            bilevel = False
        truth["bilevel"] = bilevel
        return _Spec(
            truth=truth, seed=self.rng.getrandbits(64), bilevel=bilevel, what=what, args=args
        )

    def separator(self, doc_type: str | None, household: str, volume: int) -> _Spec:
        if doc_type is None:
            text, fmt = "PATCHT", self.rng.choice(("Code39", "QR"))
        else:
            text, fmt = f"DOC;{doc_type}", self.rng.choice(("Code128", "QR"))
        truth = _page_truth(
            "separator",
            barcode={"format": fmt, "text": text},
            household=household,
            volume=volume,
            doc_type=doc_type,
        )
        return self.spec(truth, "separator", text=text, symbology=fmt)

    def back_side(self, household: str | None, volume: int | None, orphan: bool = False) -> _Spec:
        bleed = self.fmt != "tiff" and self.rng.random() < 0.4
        truth = _page_truth(
            "blank",
            household=household,
            volume=volume,
            orphan=orphan,
            note="bleed-through" if bleed else None,
        )
        return self.spec(truth, "blank", bleed_through=bleed)

    def document(
        self,
        person: Person,
        household: str,
        volume: int | None,
        number: int | None,
        doc_type: str | None,
        *,
        orphan: bool = False,
        duplex: float | None = None,
    ) -> list[_Spec]:
        kind = self.rng.choice(KINDS_OF_TYPE[doc_type or self.rng.choice(DOC_TYPES)])
        total = self.rng.randint(1, MAX_PAGES_OF_KIND[kind])
        out = []
        for page_no in range(1, total + 1):
            truth = _page_truth(
                "content",
                household=None if orphan else household,
                volume=volume,
                document=number,
                doc_type=doc_type,
                orphan=orphan,
            )
            out.append(
                self.spec(
                    truth,
                    "content",
                    kind=kind,
                    person=person,
                    household=household,
                    page_no=page_no,
                    page_total=total,
                )
            )
            if self.rng.random() < (self.duplex if duplex is None else duplex):
                out.append(self.back_side(None if orphan else household, volume, orphan))
        return out

    def section(
        self, household: str, volume: int, person: Person, *, double_separator: bool
    ) -> list[_Spec]:
        """A cover sheet and the documents behind it (cover barcode is filled in later)."""
        cover = self.spec(_page_truth("cover", household=household, volume=volume), "cover")
        pages = [cover]
        sheets = self.duplex >= 1.0
        if sheets:
            pages.append(self.back_side(household, volume))
        n_docs = self.rng.randint(2, 4)
        double_at = self.rng.randint(1, n_docs - 1) if double_separator else -1
        for number in range(n_docs):
            doc_type: str | None = None
            if number == 0:
                if self.rng.random() < 0.4:
                    doc_type = self.rng.choice(DOC_TYPES)
                    pages.append(self.separator(doc_type, household, volume))
            else:
                if number == double_at:
                    # A sheet put in twice: the second separator opens no empty document.
                    pages.append(self.separator(None, household, volume))
                doc_type = None if self.rng.random() < 0.4 else self.rng.choice(DOC_TYPES)
                pages.append(self.separator(doc_type, household, volume))
            if sheets and pages[-1].what == "separator":
                pages.append(self.back_side(household, volume))
            pages.extend(self.document(person, household, volume, number, doc_type))
        return pages


def _render(spec: _Spec, dpi: int, site: str) -> Image.Image:
    rng = random.Random(spec.seed)
    a = spec.args
    if spec.what == "cover":
        return render_cover_sheet(
            a["household"],
            site=site,
            volume=a["volume"],
            declared_pages=a["declared_pages"],
            symbology=a["symbology"],
            structured=a["structured"],
            dpi=dpi,
            rng=rng,
            bilevel=spec.bilevel,
        )
    if spec.what == "separator":
        return render_separator(
            a["text"], symbology=a["symbology"], dpi=dpi, rng=rng, bilevel=spec.bilevel
        )
    if spec.what == "blank":
        return render_blank_page(
            rng, dpi=dpi, bleed_through=a["bleed_through"], bilevel=spec.bilevel
        )
    if spec.what == "note":
        return render_handwritten_note_page(rng, dpi=dpi, bilevel=spec.bilevel)
    drawn: list[str] = []
    img = render_content_page(
        rng,
        a["kind"],
        dpi=dpi,
        person=a["person"],
        household=a["household"],
        site=site,
        page_no=a["page_no"],
        page_total=a["page_total"],
        bilevel=spec.bilevel,
        text_out=drawn,
    )
    spec.text = drawn[0]
    return img


def _encode_for_pdf(img: Image.Image, dpi: int) -> bytes:
    # Both encodings are lossless and img2pdf embeds them as they are (CCITT G4 / Flate),
    # so what a test renders back from the PDF is exactly what was generated.
    buf = io.BytesIO()
    if img.mode == "1":
        img.save(buf, "TIFF", compression="group4", dpi=(dpi, dpi))
    else:
        img.save(buf, "PNG", dpi=(dpi, dpi), compress_level=6)
    return buf.getvalue()


def _write_container(c: _Container, delivery: Path, dpi: int, site: str) -> None:
    target = delivery / c.path
    target.parent.mkdir(parents=True, exist_ok=True)
    if c.format in ("pdf", "household-pdf"):
        blobs = [_encode_for_pdf(_render(s, dpi, site), dpi) for s in c.pages]
        # img2pdf's own writer: the pikepdf engine stamps a time-based /ID into the trailer
        # (img2pdf compares pikepdf versions as strings and so never asks for a fixed one).
        # The page size comes from the exact dpi, not from PNG's pHYs (pixels per metre, which
        # rounds 300 dpi to 299.9994 and makes a reader rasterise 2481 pixels instead of 2480).
        target.write_bytes(
            img2pdf.convert(
                blobs,
                nodate=True,
                engine=img2pdf.Engine.internal,
                layout_fun=img2pdf.get_fixed_dpi_layout_fun((dpi, dpi)),
            )
        )
    elif c.format == "tiff":
        frames = [_render(s, dpi, site) for s in c.pages]
        frames[0].save(
            target,
            "TIFF",
            save_all=True,
            append_images=frames[1:],
            compression="group4",
            dpi=(dpi, dpi),
        )
    else:
        target.mkdir(parents=True, exist_ok=True)
        for spec in c.pages:
            img = _render(spec, dpi, site)
            name = spec.truth.pop("_file")
            if name.endswith(".jpg"):
                img.save(target / name, "JPEG", quality=90, dpi=(dpi, dpi))
            else:
                img.save(target / name, "PNG", dpi=(dpi, dpi))


def generate_delivery(
    out_dir: Path,
    *,
    site: str = "borken",
    agency_code: str = "95401",
    households: int = 6,
    seed: int = 1,
    dpi: int = 300,
    missing: int = 1,
    orphan_pages: int = 1,
    bad_file: bool = True,
    with_manifest: bool = True,
    duplex: float = DUPLEX,
) -> GeneratedDelivery:
    """Write a synthetic scan delivery, its expected list and its truth into ``out_dir``.

    ``households`` is the length of the expected list; ``missing`` of them are not
    delivered at all. With 5 or more, one household is delivered that the list does not
    expect. With 4 or more, the delivery holds every kind of input (PDF batches, a G4 TIFF
    batch, a folder of single images, a household-named PDF) and one household is spread
    over two batches (volumes 1 and 2). ``duplex`` is the share of content sheets scanned
    with their empty back side (0: a mostly-content delivery; 1: every sheet, cover and
    separator sheets too, scanned duplex: a mostly-blank one). Writes ``out_dir/delivery/``,
    ``out_dir/expected_<site>.csv`` and ``out_dir/truth.json``.
    """
    if households < 1:
        raise ValueError("households must be at least 1")
    if not 0 <= missing < households:
        raise ValueError("missing must be at least 0 and less than households")
    if not (len(agency_code) == 5 and agency_code.isascii() and agency_code.isdigit()):
        raise ValueError("agency_code must be five digits")
    if orphan_pages < 0:
        raise ValueError("orphan_pages must not be negative")
    if not 0.0 <= duplex <= 1.0:
        raise ValueError("duplex must be between 0 and 1")
    out_dir = Path(out_dir)
    delivery = out_dir / "delivery"
    if delivery.exists() and any(delivery.iterdir()):
        # Never mix a new delivery into an old one (and never delete anything to make room).
        raise FileExistsError(f"{delivery} exists and is not empty")
    rng = random.Random(seed)
    full = households >= 4

    # Households: numbers, who is expected, who is missing, who comes unannounced.
    n_unexpected = 1 if households >= 5 else 0
    numbers = [
        f"{agency_code}BG{n:07d}"
        for n in rng.sample(range(100, 100_000), households + n_unexpected)
    ]
    expected = sorted(numbers[:households])
    unexpected = sorted(numbers[households:])
    missing_hh = sorted(rng.sample(expected, missing))
    people = {h: random_person(rng, site) for h in numbers}
    delivered_expected = [h for h in numbers[:households] if h not in missing_hh]
    delivered = delivered_expected + unexpected
    volumes: dict[str, list[int]] = {h: [] for h in numbers}

    containers: list[_Container] = []
    household_file: _Container | None = None
    spread = delivered[0]
    in_batches = list(delivered)
    if full and len(delivered_expected) >= 3:
        hh = delivered_expected[-1]
        in_batches.remove(hh)
        name = f"{hh}.pdf" if rng.random() < 0.5 else f"{hh}_1.pdf"
        household_file = _Container(name, "household-pdf", household=hh, volume=1)
    sections: list[tuple[str, int]] = [(h, 1) for h in in_batches]
    if full:
        sections.insert(1, (spread, 2))
    kinds = ["pdf"] * max(1, math.ceil(len(sections) / 3))
    if full:
        kinds = ["pdf", "pdf", "image-folder", "tiff"] + ["pdf"] * max(
            0, math.ceil(len(sections) / 3) - 4
        )
        # Every batch needs a cover sheet: with few households, some get further volumes.
        k = 0
        while len(sections) < len(kinds):
            h = in_batches[k % len(in_batches)]
            sections.append((h, max(v for hh, v in sections if hh == h) + 1))
            k += 1
    if household_file is None and full:
        # Too few households for one of its own: the spread household's next volume.
        vol = max(v for h, v in sections if h == spread) + 1
        household_file = _Container(
            f"{spread}_{vol}.pdf", "household-pdf", household=spread, volume=vol
        )

    for i, kind in enumerate(kinds, start=1):
        if kind == "image-folder":
            path = f"box02/batch_{i:03d}"
        elif kind == "tiff":
            path = f"box01/batch_{i:03d}.tif"
        else:
            path = f"box01/batch_{i:03d}.pdf" if i <= 4 else f"box03/batch_{i:03d}.pdf"
        containers.append(_Container(path, kind))

    # Sections to batches: the spread household's volume 2 in another batch than volume 1,
    # then every batch gets at least one section, the rest at random.
    assignment: list[int] = []
    for j, _ in enumerate(sections):
        if j == 0:
            assignment.append(0)
        elif full and j == 1:
            assignment.append(rng.randrange(1, len(containers)))
        else:
            empty = [b for b in range(len(containers)) if b not in assignment]
            assignment.append(empty[0] if empty else rng.randrange(len(containers)))
    double_sep_section = rng.randrange(len(sections))

    orphan_batch = rng.randrange(len(containers))
    for b, c in enumerate(containers):
        planner = _Planner(rng, c.format, duplex)
        if b == orphan_batch:
            for _ in range(orphan_pages):
                stray = f"{agency_code}BG{rng.randrange(100_000, 10_000_000):07d}"
                c.pages.extend(
                    planner.document(
                        random_person(rng, site), stray, None, None, None, orphan=True, duplex=0.0
                    )[:1]
                )
        for j, (h, vol) in enumerate(sections):
            if assignment[j] == b:
                c.pages.extend(
                    planner.section(h, vol, people[h], double_separator=j == double_sep_section)
                )
                volumes[h].append(vol)
    if household_file is not None:
        planner = _Planner(rng, "household-pdf", duplex)
        hh, vol = household_file.household, household_file.volume
        assert hh is not None and vol is not None
        for _ in range(rng.randint(2, 3)):
            household_file.pages.extend(planner.document(people[hh], hh, vol, 0, None))
        containers.append(household_file)
        volumes[hh].append(vol)

    _special_back_sides(rng, containers)
    _number_pages(containers)
    _assign_cover_codes(rng, containers, site, dpi)

    # Write everything.
    delivery.mkdir(parents=True, exist_ok=True)
    for c in containers:
        _write_container(c, delivery, dpi, site)
    files: list[dict[str, Any]] = []
    for c in containers:
        entry: dict[str, Any] = {
            "path": c.path,
            "format": c.format,
            "bad_reason": None,
            "household": c.household,
            "volume": c.volume,
            "pages": [s.truth for s in c.pages],
        }
        if c.format == "image-folder":
            entry["images"] = sorted(p.name for p in (delivery / c.path).iterdir())
        files.append(entry)
    if bad_file:
        files.append(_write_bad_file(rng, delivery, containers))
    files.sort(key=lambda f: f["path"])

    manifest_path: Path | None = None
    not_delivered: list[str] = []
    if with_manifest:
        not_delivered = ["box03/batch_404.pdf"] if full else []
        manifest_path = _write_manifest(delivery, files, not_delivered)

    csv_path = out_dir / f"expected_{site}.csv"
    _write_expected(rng, csv_path, expected, people, volumes, german=seed % 2 == 1)

    result = GeneratedDelivery(
        site=site,
        seed=seed,
        delivery_dir=delivery,
        expected_csv=csv_path,
        expected_households=expected,
        delivered_households=sorted(delivered),
        missing_households=missing_hh,
        unexpected_households=unexpected,
        files=files,
        agency_code=agency_code,
        dpi=dpi,
        manifest=manifest_path,
        manifest_not_delivered=not_delivered,
        names={h: people[h].list_name for h in expected},
        root=out_dir,
    )
    (out_dir / "truth.json").write_text(
        json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    # The ground truth of OCR, apart: per file, input page (from 0) -> the text as drawn.
    texts = {c.path: {str(s.truth["index"]): s.text for s in c.pages if s.text is not None}
             for c in containers}  # fmt: skip
    (out_dir / TEXTS_JSON).write_text(
        json.dumps({"files": texts}, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    return result


def _special_back_sides(rng: random.Random, containers: list[_Container]) -> None:
    """Make sure the delivery has the back sides worth testing.

    At least one plain blank, one with bleed-through, and one with a single handwritten
    line (which is content: a note on a back side must never be thrown away).
    """
    candidates = [
        (c, i)
        for c in containers
        if c.format != "household-pdf"
        for i, s in enumerate(c.pages)
        if s.truth["kind"] == "content" and not s.truth["orphan"]
    ]
    def backs_of_content() -> list[tuple[_Container, int]]:
        # Only these may become a note: the back of a cover or separator belongs to no document.
        return [
            (c, i)
            for c in containers
            for i, s in enumerate(c.pages)
            if s.truth["kind"] == "blank" and not s.truth["orphan"]
            and i > 0 and c.pages[i - 1].truth["kind"] == "content"
        ]

    backs = backs_of_content()
    while len(backs) < 3 and candidates:
        c, i = candidates.pop(rng.randrange(len(candidates)))
        if i + 1 < len(c.pages) and c.pages[i + 1].truth["kind"] == "blank":
            continue
        front = c.pages[i].truth
        planner = _Planner(rng, c.format)
        c.pages.insert(i + 1, planner.back_side(front["household"], front["volume"]))
        backs = backs_of_content()
        candidates = [(cc, j + (1 if cc is c and j > i else 0)) for cc, j in candidates]
    if not backs:
        return
    c, i = backs[rng.randrange(len(backs))]
    front = c.pages[i - 1].truth
    note = c.pages[i]
    note.what, note.args = "note", {}
    note.truth.update(
        kind="content", note="handwritten", document=front["document"], doc_type=front["doc_type"]
    )
    rest = [(cc, j) for cc, j in backs if (cc, j) != (c, i)]
    if rest and not any(cc.pages[j].truth["note"] == "bleed-through" for cc, j in rest):
        grey = [(cc, j) for cc, j in rest if cc.format != "tiff"]
        if grey:
            cc, j = grey[rng.randrange(len(grey))]
            spec = cc.pages[j]
            spec.args["bleed_through"] = True
            spec.bilevel = False
            spec.truth.update(note="bleed-through", bilevel=False)
    if (
        rest
        and all(cc.pages[j].truth["note"] == "bleed-through" for cc, j in rest)
        and len(rest) > 1
    ):
        cc, j = rest[0]
        cc.pages[j].args["bleed_through"] = False
        cc.pages[j].truth["note"] = None


def _number_pages(containers: list[_Container]) -> None:
    for c in containers:
        for i, spec in enumerate(c.pages):
            spec.truth["index"] = i
            if c.format == "image-folder":
                ext = "jpg" if (spec.seed >> 7) % 10 < 3 else "png"
                spec.truth["_file"] = f"{i + 1:04d}.{ext}"


def _assign_cover_codes(
    rng: random.Random, containers: list[_Container], site: str, dpi: int
) -> None:
    """Symbology and text of every cover sheet; all four symbologies occur when there are
    four covers, and structured covers declare their page count, except one that says 0."""
    covers: list[tuple[_Container, int]] = [
        (c, i) for c in containers for i, s in enumerate(c.pages) if s.what == "cover"
    ]
    formats = list(SYMBOLOGIES)
    rng.shuffle(formats)
    while len(formats) < len(covers):
        formats.append(rng.choice(SYMBOLOGIES))
    structured = [f != "Code39" and rng.random() < 0.8 for f in formats]
    uncounted = -1
    indices = [k for k, s in enumerate(structured[: len(covers)]) if s]
    if len(indices) >= 2:
        uncounted = rng.choice(indices)
    for k, (c, i) in enumerate(covers):
        following = 0
        for s in c.pages[i + 1 :]:
            if s.what == "cover":
                break
            following += 1
        spec = c.pages[i]
        declared = following if structured[k] and k != uncounted else 0
        text = cover_text(
            spec.truth["household"],
            site=site,
            volume=spec.truth["volume"],
            declared_pages=declared,
            structured=structured[k],
        )
        if (
            formats[k] == "Code128"
            and module_px_1d(barcode_modules(text, "Code128").shape[1], dpi) is None
        ):
            # A long site key makes the structured text too wide for a 1-D code on A4.
            formats[k] = "QR"
        spec.truth["barcode"] = {"format": formats[k], "text": text}
        spec.args = {
            "household": spec.truth["household"],
            "volume": spec.truth["volume"],
            "declared_pages": declared,
            "symbology": formats[k],
            "structured": structured[k],
        }


def _write_bad_file(
    rng: random.Random, delivery: Path, containers: list[_Container]
) -> dict[str, Any]:
    path = "box01/batch_099.pdf"
    target = delivery / path
    target.parent.mkdir(parents=True, exist_ok=True)
    pdfs = [c for c in containers if c.format == "pdf"]
    if pdfs and rng.random() < 0.5:
        # A transfer that broke off: the start of a real batch, without its end (no xref,
        # no trailer, most page objects missing).
        data = (delivery / pdfs[0].path).read_bytes()
        cut = max(200, len(data) // rng.randint(5, 9))
        target.write_bytes(data[:cut])
        reason = f"truncated PDF: {cut} of {len(data)} bytes, no trailer"
    else:
        nprng = np.random.default_rng(rng.getrandbits(64))
        target.write_bytes(
            nprng.integers(0, 256, rng.randint(20_000, 60_000), dtype=np.uint8).tobytes()
        )
        reason = "random bytes, not a PDF"
    return {
        "path": path,
        "format": "bad",
        "bad_reason": reason,
        "household": None,
        "volume": None,
        "pages": [],
    }


def _write_manifest(delivery: Path, files: list[dict[str, Any]], not_delivered: list[str]) -> Path:
    rows: list[tuple[str, str, str]] = []
    for f in files:
        if f["format"] == "image-folder":
            for name in f["images"]:
                rel = f"{f['path']}/{name}"
                rows.append((rel, sha256_file(delivery / rel), "1"))
        else:
            pages = "" if f["format"] == "bad" else str(len(f["pages"]))
            rows.append((f["path"], sha256_file(delivery / f["path"]), pages))
    for rel in not_delivered:
        rows.append((rel, hashlib.sha256(rel.encode()).hexdigest(), "12"))
    rows.sort()
    target = delivery / "manifest.csv"
    with open(target, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        writer.writerow(["file", "sha256", "pages"])
        writer.writerows(rows)
    return target


def _write_expected(
    rng: random.Random,
    path: Path,
    expected: list[str],
    people: dict[str, Person],
    volumes: dict[str, list[int]],
    *,
    german: bool,
) -> None:
    """The Soll-Liste as Excel writes it: UTF-8 with BOM, ``;``, CRLF."""
    header = (
        ["BG-Nummer", "Name", "Status", "Bände"]
        if german
        else ["household", "name", "status", "volumes"]
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh, delimiter=";", lineterminator="\r\n")
        writer.writerow(header)
        for h in expected:
            vols = max(volumes[h], default=0) or rng.randint(1, 2)
            writer.writerow([h, people[h].list_name, "aktiv", vols])

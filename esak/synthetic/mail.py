"""Synthetic incoming mail: letters, forms and notices that citizens, employers and landlords
send the Jobcenter, with the truth of where each belongs.

Each :class:`MailLetter` is a layout (lines of text in millimetres, with font and size, and
the codes printed on it) plus its :class:`MailTruth`. It is rendered to scans
(:func:`render_letter`: 200 or 300 dpi, several fonts, handwriting, skew, noise, fax quality)
for the end-to-end tests, and read by a model of OCR (:func:`simulated_ocr`) for corpus
tests of the router that need no Tesseract: the words with their confidence and boxes, the
confusions OCR makes (O/0, I/l/1, S/5, B/8, G/6), digits misread with the low confidence
measured for them, and the second reading of each number as Tesseract gives it.

Scenarios (:data:`SCENARIOS`): the number in the reference line, in the subject, in a table,
in a form field, in a landlord's notice, handwritten, typed with letters for digits, with
spaces or hyphens; a reply slip whose code agrees with the text, an esak cover sheet in
front of a letter; and the letters that must become Klärfälle — two numbers, another site's
number, an unknown number, a near miss of a known one, no number at all, and a reply slip
whose code names another household than the text.
"""

from __future__ import annotations

import io
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path

import img2pdf
from PIL import Image, ImageFont

from esak.mail.route import Word, distance
from esak.migrate.codes import cover_code, reply_code
from esak.synthetic.documents import random_person
from esak.synthetic.drawing import A4_MM, FONT_DIR, Sheet, finish_scan, place_barcode, scanner_look

_URW = Path("/usr/share/fonts/opentype/urw-base35")
#: Fonts letters are typed in (file, fallback); handwriting in a script font.
FONTS = {
    "dejavu-sans": (FONT_DIR / "DejaVuSans.ttf", None),
    "dejavu-serif": (FONT_DIR / "DejaVuSerif.ttf", None),
    "dejavu-mono": (FONT_DIR / "DejaVuSansMono.ttf", None),
    "nimbus-sans": (_URW / "NimbusSans-Regular.otf", "dejavu-sans"),
    "nimbus-roman": (_URW / "NimbusRoman-Regular.otf", "dejavu-serif"),
    "bookman": (_URW / "URWBookman-Light.otf", "dejavu-serif"),
    "palatino": (_URW / "P052-Roman.otf", "dejavu-serif"),
    "courier": (_URW / "NimbusMonoPS-Regular.otf", "dejavu-mono"),
    "hand": (_URW / "Z003-MediumItalic.otf", "dejavu-serif"),
}
TYPED_FONTS = tuple(f for f in FONTS if f != "hand")
QUALITIES = ("clean", "noisy", "fax")
#: How often each quality is drawn: most letters are scanned from paper, some came by fax.
QUALITY_WEIGHTS = {"clean": 4, "noisy": 4, "fax": 2}

#: Scenario → what must become of the letter: routed, or the reason of its Klärfall.
SCENARIOS = {
    "reference": "routed",
    "subject": "routed",
    "table": "routed",
    "form": "routed",
    "notice": "routed",
    "handwritten": "routed",
    "confusion": "routed",
    "spaced": "routed",
    "reply_slip": "routed",
    "cover_sheet": "routed",
    "two_numbers": "ambiguous",
    "other_site": "other_site",
    "unknown": "unknown_number",
    "near_miss": "near_match",
    "no_number": "no_candidate",
    "reply_disagrees": "ambiguous",
}
#: How often each scenario is drawn (a day's mail is mostly letters with their number).
WEIGHTS = {
    "reference": 14, "subject": 10, "table": 8, "form": 6, "notice": 6, "handwritten": 6,
    "confusion": 6, "spaced": 5, "reply_slip": 6, "cover_sheet": 3, "two_numbers": 5,
    "other_site": 5, "unknown": 5, "near_miss": 4, "no_number": 7, "reply_disagrees": 4,
}  # fmt: skip


@dataclass(frozen=True)
class Line:
    """One line of text on a page: top left corner in mm, font, size in points."""

    page: int
    x: float
    y: float
    text: str
    font: str = "dejavu-sans"
    pt: float = 11.0


@dataclass(frozen=True)
class Code:
    page: int
    text: str
    symbology: str = "QR"
    top: float = 250.0


@dataclass(frozen=True)
class MailTruth:
    #: routed, or the reason of the letter's Klärfall (CONTRACT §11)
    expect: str
    #: the household it must be filed in when routed (None: it must not be routed at all)
    household: str | None
    #: it carries one valid household number a person can read (the auto-routing share's
    #: denominator)
    readable: bool
    #: the households named on it (every number printed, its codes included)
    named: tuple[str, ...] = ()


@dataclass(frozen=True)
class MailLetter:
    name: str
    scenario: str
    pages: int
    lines: tuple[Line, ...]
    codes: tuple[Code, ...]
    truth: MailTruth
    dpi: int = 300
    quality: str = "clean"
    #: a page before the letter: an esak cover sheet (``ESAK1``), not part of it
    cover: str | None = None


@dataclass
class MailCorpus:
    site: str
    households: list[str]
    other_site: str
    other_households: list[str]
    letters: list[MailLetter] = field(default_factory=list)

    def expected_csv(self) -> str:
        return "household;name\n" + "".join(f"{h};Haushalt {i}\n" for i, h in
                                            enumerate(self.households, 1))  # fmt: skip

    def other_expected_csv(self) -> str:
        return "household;name\n" + "".join(f"{h};Haushalt {i}\n" for i, h in
                                            enumerate(self.other_households, 1))  # fmt: skip


def generate_mail(
    seed: int,
    letters: int,
    *,
    site: str = "borken",
    agency: str = "95401",
    other_site: str = "rhede",
    other_agency: str = "95417",
    households: int = 60,
    scenarios: Sequence[str] | None = None,
    qualities: Sequence[str] = QUALITIES,
    dpis: Sequence[int] = (200, 300),
    plan: Sequence[tuple[str, str]] | None = None,
    max_pages: int = 2,
) -> MailCorpus:
    """``letters`` letters for ``site`` (households ``<agency>BG0000101`` and on, densely
    numbered as a specialist procedure numbers them), drawn from ``scenarios`` (default: all,
    by :data:`WEIGHTS`; given: one after the other, in turn) in ``qualities`` (by
    :data:`QUALITY_WEIGHTS`). ``plan``: (scenario, quality) of each letter instead."""
    rng = random.Random(seed)
    mine = [f"{agency}BG{n:07d}" for n in range(101, 101 + households)]
    others = [f"{other_agency}BG{n:07d}" for n in range(101, 101 + households)]
    corpus = MailCorpus(site, mine, other_site, others)
    names = list(WEIGHTS)
    for number in range(len(plan) if plan else letters):
        if plan:
            scenario, quality = plan[number]
        else:
            if scenarios:
                scenario = scenarios[number % len(scenarios)]
            else:
                scenario = rng.choices(names, weights=[WEIGHTS[n] for n in names])[0]
            weights = [QUALITY_WEIGHTS.get(q, 1) for q in qualities]
            quality = rng.choices(list(qualities), weights)[0]
        dpi = 200 if quality == "fax" else rng.choice(list(dpis))
        corpus.letters.append(
            _letter(rng, number, scenario, quality, dpi, corpus, agency, site, max_pages)
        )
    return corpus


def _unknown_number(rng: random.Random, agency: str, known: Sequence[str]) -> str:
    while True:
        number = f"{agency}BG{rng.randint(2_000_000, 9_999_999):07d}"
        if all(distance(number, k) > 2 for k in known):
            return number


def _near_miss(rng: random.Random, known: Sequence[str]) -> str:
    while True:
        base = list(rng.choice(known))
        position = rng.randrange(7, 12)  # a digit of the running number, not its last two
        base[position] = rng.choice([d for d in "0123456789" if d != base[position]])
        number = "".join(base)
        if number not in known:
            return number


def _typo(rng: random.Random, number: str) -> str:
    """The number as a sender types it with letters for digits (O for 0, l for 1)."""
    chars = list(number)
    digits = [i for i, c in enumerate(chars) if c in "01" and i not in (5, 6)]
    for i in rng.sample(digits, k=min(len(digits), rng.randint(1, 3))):
        chars[i] = "O" if chars[i] == "0" else rng.choice("lI")
    return "".join(chars)


def _spaced(rng: random.Random, number: str) -> str:
    sep = rng.choice([" ", "-", " - "])
    return f"{number[:5]}{sep}{number[5:7]}{sep}{number[7:]}"


_SENDERS_EMPLOYER = ("Bäckerei Terhorst GmbH", "Logistik Westmünsterland KG",
                     "Pflegedienst Aa-Tal", "Autohaus Bocholter Straße")  # fmt: skip
_LANDLORDS = ("Wohnungsbau Borken eG", "Hausverwaltung Kemper", "Vonovia Kundenservice")
_BODIES = (
    "anbei übersende ich Ihnen die angeforderten Unterlagen.",
    "hiermit teile ich Ihnen mit, dass sich meine Anschrift geändert hat.",
    "bitte entnehmen Sie die Angaben der beigefügten Aufstellung.",
    "ich bitte um Rückruf wegen meines Antrags.",
)
_ENCLOSURES = ("Aufstellung der Nebenkosten 2020", "Kontoauszug (Kopie)", "Erklärung zum Einkommen")


def _letter(
    rng: random.Random,
    number: int,
    scenario: str,
    quality: str,
    dpi: int,
    corpus: MailCorpus,
    agency: str,
    site: str,
    max_pages: int = 2,
) -> MailLetter:
    person = random_person(rng, site)
    household = rng.choice(corpus.households)
    font = rng.choice(TYPED_FONTS)
    when = date(2021, 3, 1) + timedelta(days=rng.randint(0, 40))
    lines: list[Line] = []
    codes: list[Code] = []
    cover = None
    expect = SCENARIOS[scenario]
    target: str | None = household if expect == "routed" else None
    shown = household
    named = [household]
    if scenario == "confusion":
        shown = _typo(rng, household)
    elif scenario == "spaced":
        shown = _spaced(rng, household)
    elif scenario == "other_site":
        shown = rng.choice(corpus.other_households)
        named = [shown]
    elif scenario == "unknown":
        shown = _unknown_number(rng, agency, corpus.households)
        named = [shown]
    elif scenario == "near_miss":
        shown = _near_miss(rng, corpus.households)
        named = [shown]
    elif scenario == "no_number":
        named = []

    def add(page: int, x: float, y: float, text: str, pt: float = 11.0) -> float:
        lines.append(Line(page, x, y, text, font, pt))
        return y + pt * 0.3528 * 1.45

    # The sender's address block and the date.
    sender = {
        "table": rng.choice(_SENDERS_EMPLOYER),
        "notice": rng.choice(_LANDLORDS),
    }.get(scenario)
    y = 18.0
    address = [person.full_name, person.street, f"{person.postcode} {person.city}"]
    if sender:
        address = [sender, "Personalabteilung" if scenario == "table" else "Vermietung"]
    for text in address:
        y = add(0, 25, y, text, 10)
    y = 48.0
    for text in ("Jobcenter im Kreis Borken", "Standort Borken", "46325 Borken"):
        y = add(0, 25, y, text, 11)
    add(0, 150, 48, f"{person.city}, {when:%d.%m.%Y}", 10)
    y = 80.0
    hand = scenario == "handwritten"
    if hand:
        font = "hand"
    label = rng.choice(["Aktenzeichen:", "BG-Nummer:", "Ihr Zeichen:", "Kundennummer:",
                        "Bedarfsgemeinschaft:"])  # fmt: skip
    if scenario in ("reference", "confusion", "spaced", "unknown", "other_site", "near_miss",
                    "handwritten", "reply_disagrees"):  # fmt: skip
        y = add(0, 25, y, f"{label} {shown}", 11 if not hand else 14)
        subject = rng.choice(["Weiterbewilligungsantrag", f"Ihr Schreiben vom {when:%d.%m.}",
                              "Nachreichung von Unterlagen", "Änderungsmitteilung"])  # fmt: skip
        y = add(0, 25, y + 2, f"Betreff: {subject}", 11) + 4
    elif scenario in ("subject", "two_numbers"):
        subject = rng.choice(["Betreff: Weiterbewilligungsantrag für die BG",
                              "Betreff: Nachweise zur Bedarfsgemeinschaft",
                              "Betreff: Mitwirkung, BG-Nr."])  # fmt: skip
        y = add(0, 25, y, f"{subject} {shown}", 11) + 4
    elif scenario == "table":
        y = add(0, 25, y, "Verdienstbescheinigung nach § 58 SGB II", 12) + 3
        y = add(0, 25, y, "Angaben zur Person", 10)
        rows = [("Name, Vorname", person.list_name), ("Bedarfsgemeinschaft", shown),
                ("Beschäftigt seit", f"{when - timedelta(days=400):%d.%m.%Y}"),
                ("Bruttoentgelt", f"{rng.randint(450, 2400)},00 €")]  # fmt: skip
        for left, right in rows:
            add(0, 25, y, left, 10)
            y = add(0, 90, y, right, 10)
        y += 4
    elif scenario == "form":
        y = add(0, 25, y, "Veränderungsmitteilung (VÄM)", 13) + 3
        y = add(0, 25, y, "Nummer der Bedarfsgemeinschaft", 9)
        y = add(0, 25, y + 0.5, shown, 12) + 3
        y = add(0, 25, y, "Name, Vorname der antragstellenden Person", 9)
        y = add(0, 25, y + 0.5, person.list_name, 12) + 4
    elif scenario == "notice":
        y = add(0, 25, y, "Mietbescheinigung / Änderung der Nebenkosten", 12) + 2
        y = add(0, 25, y, f"Mieter: {person.full_name}, Ihr Zeichen {shown}", 10) + 4
    elif scenario in ("reply_slip", "cover_sheet", "no_number"):
        y = add(0, 25, y, "Betreff: " + rng.choice(["Rückantwort", "Ihre Anfrage",
                                                    "Unterlagen"]), 11) + 4  # fmt: skip
    if scenario == "two_numbers":
        second = rng.choice([h for h in corpus.households if h != household])
        named.append(second)
        y = add(0, 25, y, f"Mein Sohn hat eine eigene Bedarfsgemeinschaft: {second}.", 10) + 2
    if scenario == "reply_slip":
        codes.append(Code(0, reply_code(site, household, f"L{number:05d}")))
        if rng.random() < 0.5:
            y = add(0, 25, y, f"BG-Nummer: {household}", 10) + 2
    if scenario == "reply_disagrees":
        other = rng.choice([h for h in corpus.households if h != household])
        codes.append(Code(0, reply_code(site, other, f"L{number:05d}")))
        named.append(other)
    if scenario == "cover_sheet":
        cover = cover_code(site, household)

    body = [
        "Sehr geehrte Damen und Herren,",
        rng.choice(_BODIES),
        "Mit freundlichen Grüßen",
        person.full_name if not sender else (sender or ""),
    ]
    for text in body:
        y = add(0, 25, y, text, 11 if not hand else 14) + 1.5
    pages = 1 if rng.random() < 0.75 or max_pages < 2 else 2
    if pages == 2:
        add(1, 25, 20, "Anlage – Seite 2", 10)
        add(1, 25, 30, rng.choice(_ENCLOSURES), 11)
    if scenario == "no_number" and rng.random() < 0.4:
        add(0, 25, y + 4, f"Telefon: 02861 {rng.randint(10000, 99999)}", 10)
    truth = MailTruth(
        expect=expect,
        household=target,
        readable=expect == "routed",
        named=tuple(named),
    )
    name = f"brief-{number + 1:04d}.pdf"
    return MailLetter(name, scenario, pages, tuple(lines), tuple(codes), truth, dpi, quality,
                      cover)  # fmt: skip


# --- rendering ------------------------------------------------------------------------------


@lru_cache(maxsize=128)
def _font(name: str, size_px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path, fallback = FONTS[name]
    try:
        return ImageFont.truetype(str(path), size_px)
    except OSError:
        if fallback:
            return _font(fallback, size_px)
        return ImageFont.load_default(size=size_px)


def render_letter(letter: MailLetter, seed: int = 0) -> list[Image.Image]:
    """The letter's pages as scans (a cover sheet first, if it has one)."""
    from esak.synthetic.documents import render_cover_sheet

    rng = random.Random(f"{letter.name}:{seed}")
    out: list[Image.Image] = []
    fax = letter.quality == "fax"
    if letter.cover:
        out.append(render_cover_sheet(letter.cover.split(";")[2], site=letter.cover.split(";")[1],
                                      dpi=letter.dpi, rng=rng, bilevel=fax))  # fmt: skip
    for page in range(letter.pages):
        look = scanner_look(rng, letter.quality != "clean")
        sheet = Sheet(letter.dpi, look.paper, look.ink)
        for line in (x for x in letter.lines if x.page == page):
            f = _font(line.font, max(4, round(line.pt * letter.dpi / 72)))
            sheet.draw.text((sheet.px(line.x), sheet.px(line.y)), line.text, font=f, fill=look.ink)
        for code in (c for c in letter.codes if c.page == page):
            place_barcode(sheet, code.text, code.symbology, code.top)
        img = finish_scan(sheet, rng, look, bilevel=fax)
        if fax:
            # A fax: half the vertical resolution, stretched back, thresholded.
            grey = img.convert("L")
            w, h = grey.size
            grey = grey.resize((w, h // 2), Image.Resampling.BILINEAR)
            img = grey.resize((w, h), Image.Resampling.NEAREST).point(
                lambda v: 255 if v > 140 else 0, mode="1"
            )
        out.append(img)
    return out


def write_letter(letter: MailLetter, folder: Path, seed: int = 0, tiff: bool = False) -> Path:
    """The letter as one PDF (lossless: PNG or CCITT G4 pages), or a multi-page TIFF, in
    ``folder``."""
    pages = render_letter(letter, seed)
    if tiff:
        target = folder / letter.name.replace(".pdf", ".tif")
        target.parent.mkdir(parents=True, exist_ok=True)
        pages[0].save(target, "TIFF", save_all=True, append_images=pages[1:],
                      compression="group4" if pages[0].mode == "1" else "tiff_deflate",
                      dpi=(letter.dpi, letter.dpi))  # fmt: skip
        return target
    return _write_pdf([(img, letter.dpi) for img in pages], folder / letter.name)


def write_batch(
    letters: Sequence[MailLetter], target: Path, *, blank_after: Sequence[int] = (), seed: int = 0
) -> Path:
    """The letters as one scan batch, divided by ``PATCHT`` separator sheets; a blank back
    side after the letters numbered (from 0) in ``blank_after``."""
    from esak.synthetic.documents import render_blank_page, render_separator

    rng = random.Random(f"batch:{target.name}:{seed}")
    pages: list[tuple[Image.Image, int]] = []
    for number, letter in enumerate(letters):
        if number:
            pages.append((render_separator(dpi=letter.dpi, rng=rng), letter.dpi))
        pages += [(img, letter.dpi) for img in render_letter(letter, seed)]
        if number in blank_after:
            pages.append((render_blank_page(rng, dpi=letter.dpi), letter.dpi))
    return _write_pdf(pages, target)


def _write_pdf(pages: Sequence[tuple[Image.Image, int]], target: Path) -> Path:
    blobs = []
    for img, dpi in pages:
        buf = io.BytesIO()
        if img.mode == "1":
            img.save(buf, "TIFF", compression="group4", dpi=(dpi, dpi))
        else:
            img.save(buf, "PNG", dpi=(dpi, dpi))
        blobs.append(buf.getvalue())
    target.parent.mkdir(parents=True, exist_ok=True)
    dpi = pages[0][1]
    layout = img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))
    target.write_bytes(
        img2pdf.convert(blobs, nodate=True, engine=img2pdf.Engine.internal, layout_fun=layout)
    )
    return target


# --- a model of OCR -------------------------------------------------------------------------

#: Per quality: mean and spread of word confidence; chance per number of a confusion per
#: character, of a digit misread; chance that a second reading of a correct number agrees
#: (measured on generated scans: 98 % clean, 61 % fax).
_OCR = {
    "clean": (93.0, 3.0, 0.002, 0.004, 0.98),
    "noisy": (87.0, 6.0, 0.01, 0.02, 0.95),
    "fax": (70.0, 14.0, 0.04, 0.08, 0.61),
    "hand": (62.0, 16.0, 0.05, 0.10, 0.50),
}
_CONFUSE = {"0": "O", "1": "l", "5": "S", "8": "B", "6": "G", "B": "8", "G": "6"}
_MISREAD = {"0": "98", "1": "47", "3": "85", "4": "19", "5": "63", "6": "58", "7": "12",
            "8": "30", "9": "04", "2": "7"}  # fmt: skip


@dataclass
class SimulatedOcr:
    words: list[Word]
    #: second readings as the worker makes them: (page, first word index) → text
    checks: dict[tuple[int, int], str]
    #: a digit of a number was misread
    misread: bool = False


def simulated_ocr(letter: MailLetter, seed: int = 0) -> SimulatedOcr:
    """The words OCR would read off the letter's pages, with the errors OCR makes."""
    from esak.mail.route import read_numbers, template_of

    rng = random.Random(f"ocr:{letter.name}:{seed}")
    words: list[Word] = []
    misread = False
    truths: dict[int, str] = {}
    quality_of: dict[int, str] = {}
    for page in range(letter.pages):
        line_no = 0
        for line in sorted((x for x in letter.lines if x.page == page), key=lambda x: (x.y, x.x)):
            quality = "hand" if line.font == "hand" else letter.quality
            mean, spread, confuse, misreads, _ = _OCR[quality]
            x = line.x
            for token in line.text.split(" "):
                if not token:
                    x += _width(" ", line)
                    continue
                width = _width(token, line)
                conf = max(0.0, min(96.0, rng.gauss(mean, spread)))
                text = token
                numberish = sum(c.isdigit() for c in token) >= 4
                if numberish:
                    chars = list(token)
                    for i, c in enumerate(chars):
                        if c in _CONFUSE and rng.random() < confuse:
                            chars[i] = _CONFUSE[c]
                    if rng.random() < misreads:
                        digits = [i for i, c in enumerate(chars) if c in _MISREAD]
                        if digits:
                            i = rng.choice(digits)
                            chars[i] = rng.choice(_MISREAD[chars[i]])
                            conf = rng.uniform(15.0, 80.0)  # as measured for misread digits
                            misread = True
                    text = "".join(chars)
                top = line.y / A4_MM[1]
                height = line.pt * 0.3528 / A4_MM[1]
                truths[len(words)] = token
                quality_of[len(words)] = quality
                words.append(Word(text, round(conf, 1), page, line_no, x / A4_MM[0], top,
                                  (x + width) / A4_MM[0], top + height))  # fmt: skip
                x += width + _width(" ", line)
            line_no += 1
    checks: dict[tuple[int, int], str] = {}
    for reading in read_numbers(words, template_of(r"^\d{5}BG\d{7}$")):
        if reading.number is None:
            continue
        agree = _OCR[quality_of[reading.words[0]]][4]
        read = "".join(words[i].text for i in reading.words)
        printed = "".join(truths[i] for i in reading.words)
        if reading.conf < 50 and rng.random() < 0.5:
            checks[reading.key] = read  # a low-confidence misread repeated, as measured
        elif rng.random() < agree:
            checks[reading.key] = printed.replace("-", "").replace(" ", "")
        else:
            # A second reading gone wrong another way: a digit neither printed nor first read.
            flat = printed.replace("-", "").replace(" ", "")
            first = read.replace("-", "").replace(" ", "")
            at = rng.randrange(7, len(flat))
            taken = {flat[at], first[at] if at < len(first) else ""}
            checks[reading.key] = flat[:at] + rng.choice(
                [d for d in "0123456789" if d not in taken]) + flat[at + 1 :]  # fmt: skip
    return SimulatedOcr(words, checks, misread)


def _width(text: str, line: Line) -> float:
    f = _font(line.font, 100)
    return f.getlength(text) / 100 * line.pt * 0.3528

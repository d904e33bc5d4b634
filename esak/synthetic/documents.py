"""Synthetic pages of a case file: cover sheets, separators, blank back sides, and the
letters, notices, payslips, statements and forms of made-up people."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
from PIL import Image, ImageFilter

from esak.migrate.codes import COVER_TITLE, cover_code, household_label
from esak.synthetic.drawing import A4_MM, Sheet, finish_scan, place_barcode, scanner_look

#: Barcode symbologies of cover sheets and separators, named as in the truth and in esak.
SYMBOLOGIES = ("Code128", "Code39", "QR", "DataMatrix")

#: Document types that separators announce (``DOC;<type>``).
DOC_TYPES = ("Antrag", "Bescheid", "Einkommen", "Kontoauszug", "Mietvertrag", "Schriftverkehr")
#: What :func:`render_content_page` can draw.
CONTENT_KINDS = (
    "bewilligungsbescheid",
    "aenderungsbescheid",
    "lohnabrechnung",
    "kontoauszug",
    "mietbescheinigung",
    "weiterbewilligungsantrag",
    "schreiben",
)
KINDS_OF_TYPE = {
    "Antrag": ("weiterbewilligungsantrag",),
    "Bescheid": ("bewilligungsbescheid", "aenderungsbescheid"),
    "Einkommen": ("lohnabrechnung",),
    "Kontoauszug": ("kontoauszug",),
    "Mietvertrag": ("mietbescheinigung",),
    "Schriftverkehr": ("schreiben",),
}
MAX_PAGES_OF_KIND = {
    "bewilligungsbescheid": 3,
    "aenderungsbescheid": 2,
    "lohnabrechnung": 1,
    "kontoauszug": 2,
    "mietbescheinigung": 1,
    "weiterbewilligungsantrag": 2,
    "schreiben": 2,
}

# Site key -> (display name, post code). Keys as in CONTRACT §1; unknown keys are title-cased.
_SITES = {
    "ahaus": ("Ahaus", "48683"),
    "bocholt": ("Bocholt", "46395"),
    "borken": ("Borken", "46325"),
    "gescher": ("Gescher", "48712"),
    "gronau": ("Gronau (Westf.)", "48599"),
    "heek": ("Heek", "48619"),
    "heiden": ("Heiden", "46359"),
    "isselburg": ("Isselburg", "46419"),
    "legden": ("Legden", "48739"),
    "raesfeld": ("Raesfeld", "46348"),
    "reken": ("Reken", "48734"),
    "rhede": ("Rhede", "46414"),
    "schoeppingen": ("Schöppingen", "48624"),
    "stadtlohn": ("Stadtlohn", "48703"),
    "suedlohn": ("Südlohn", "46354"),
    "velen": ("Velen", "46342"),
    "vreden": ("Vreden", "48691"),
    "kreis": ("Kreis Borken", "46325"),
}


def _site(site: str) -> tuple[str, str]:
    return _SITES.get(site, (site.replace("_", " ").title(), "46325"))


# --- synthetic people ----------------------------------------------------------------------

# Name and place lists are data, kept compact rather than one item per line.
# fmt: off
_FIRST_F = (
    "Anna", "Özlem", "Käthe", "Jana", "Sabine", "Ayşe", "Marie", "Lea", "Renate", "Elif",
    "Dörte", "Hannelore", "Kübra", "Agnieszka", "Svetlana", "Jülide", "Maren", "Zoë",
)
_FIRST_M = (
    "Jürgen", "Sönke", "Björn", "Mehmet", "Lukas", "Jörg", "Uwe", "Günther", "Ömer", "Paul",
    "Frank", "Tobias", "Dariusz", "Hüseyin", "Klaus-Dieter", "Matthäus", "René", "Bünyamin",
)
_LAST = (
    "Müller", "Schäfer", "Weiß", "Yılmaz", "Groß", "Hölscher", "Kösters", "Böcker",
    "Brüggemann", "Schröer", "Tenbrück", "Terhörst", "Öztürk", "Strauß", "Büning", "Lübbers",
    "Wessels", "Kowalski", "Heßling", "Nüßing", "Eßling", "Große-Wöstmann", "Demir", "Köhne",
)
_STREETS = (
    "Ahauser Straße", "Bocholter Straße", "Mühlenstraße", "Königsweg", "Am Schlößchen",
    "Grüner Weg", "Dülmener Straße", "Weißdornweg", "Brückenstraße", "Lindenallee",
    "Hohe Straße", "Am Bügelkamp", "Nordring", "Heidestraße", "Schützenstraße",
)
_CLERKS = (
    "Frau Terhaar", "Herr Wübbeling", "Frau Büscher", "Herr Löchteken", "Frau Große-Heßling",
    "Herr Sökeland", "Frau Tüshaus",
)
_EMPLOYERS = (
    "Bäckerei Hölscher GmbH & Co. KG", "Pflegedienst Sonnenschein gGmbH",
    "Spedition Terwey GmbH", "Gärtnerei Büning", "Reinigungsservice Kösters UG",
    "Möbelhaus Brüggemann KG", "Metallbau Schröer GmbH",
)
_LANDLORDS = (
    "Hausverwaltung Terhörst & Söhne", "Wohnungsbau Westmünsterland eG (Muster)",
    "Grundstücksgemeinschaft Lübbers", "Frau Margarete Böcker", "Herr Heinz Wessels",
)
_MONTHS = (
    "Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September",
    "Oktober", "November", "Dezember",
)
# fmt: on


@dataclass(frozen=True)
class Person:
    """A synthetic head of household; no real person."""

    first_name: str
    last_name: str
    female: bool
    street: str
    postcode: str
    city: str
    birth_date: date

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def list_name(self) -> str:
        """As the specialist procedure lists it: ``Nachname, Vorname``."""
        return f"{self.last_name}, {self.first_name}"

    @property
    def salutation(self) -> str:
        return (
            f"Sehr geehrte Frau {self.last_name},"
            if self.female
            else f"Sehr geehrter Herr {self.last_name},"
        )


def random_person(rng: random.Random, site: str = "borken") -> Person:
    """A synthetic person living at ``site``."""
    female = rng.random() < 0.5
    name, postcode = _site(site)
    return Person(
        first_name=rng.choice(_FIRST_F if female else _FIRST_M),
        last_name=rng.choice(_LAST),
        female=female,
        street=f"{rng.choice(_STREETS)} {rng.randint(1, 140)}{rng.choice(['', '', '', 'a', 'b'])}",
        postcode=postcode,
        city=name.replace("Kreis ", ""),
        birth_date=date(1950, 1, 1) + timedelta(days=rng.randint(0, 365 * 52)),
    )


def _de_date(d: date) -> str:
    return d.strftime("%d.%m.%Y")


def _euro(x: float) -> str:
    # Adding 0.0 after rounding turns -0.0 into 0.0: no "-0,00 €" on a payslip.
    s = f"{round(x, 2) + 0.0:,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
    return f"{s} €"


def _rand_date(rng: random.Random, start: date = date(2019, 1, 1), days: int = 900) -> date:
    return start + timedelta(days=rng.randint(0, days))


# --- page renderers --------------------------------------------------------------------------


def _rng(rng: random.Random | None) -> random.Random:
    # Without an rng the page is still deterministic (needed for printable cover sheets).
    return rng if rng is not None else random.Random(0)


#: Where the code of a cover sheet and of a separator sheet begins (mm from the top), and
#: how tall a separator's 1-D bars are (a cover's are place_barcode's default).
COVER_CODE_TOP_MM = 72.0
SEPARATOR_CODE_TOP_MM = 80.0
SEPARATOR_BAR_MM = 20.0


def cover_text(
    household: str, *, site: str, volume: int = 1, declared_pages: int = 0, structured: bool = True
) -> str:
    """The barcode text of a cover sheet (CONTRACT §4)."""
    if structured:
        return cover_code(site, household, volume, declared_pages)
    return household


def render_cover_sheet(
    household: str,
    *,
    site: str,
    volume: int = 1,
    declared_pages: int = 0,
    symbology: str = "Code128",
    structured: bool = True,
    dpi: int = 300,
    rng: random.Random | None = None,
    scanner_noise: bool = True,
    bilevel: bool = False,
) -> Image.Image:
    """A cover sheet (Aktendeckblatt) for one volume of a household's file.

    With ``scanner_noise=False`` it is a clean, straight page fit for printing. It carries no
    person's name: cover sheets lie around the scanning service in stacks.
    """
    if structured and symbology == "Code39":
        raise ValueError("Code 39 cannot hold the structured ESAK1 form (';'); use a bare number")
    rng = _rng(rng)
    look = scanner_look(rng, scanner_noise)
    sheet = Sheet(dpi, look.paper, look.ink)
    name, _ = _site(site)
    text = cover_text(
        household, site=site, volume=volume, declared_pages=declared_pages, structured=structured
    )
    sheet.text(20, 15, "Jobcenter im Kreis Borken", font="sans-bold", pt=12)
    sheet.text(20, 21, f"Standort {name} · E-Sozialakte · Digitalisierung", font="sans", pt=9)
    sheet.hline(20, 190, 27, 0.5)
    sheet.text(105, 40, COVER_TITLE, font="sans-bold", pt=34, anchor="ma")
    sheet.text(
        105, 57, "Bitte vor die erste Seite des Bandes legen", font="sans", pt=11, anchor="ma"
    )
    y = place_barcode(sheet, text, symbology, COVER_CODE_TOP_MM)
    sheet.text(105, y + 10, household_label(household), font="mono-bold", pt=26, anchor="ma")
    sheet.text(105, y + 26, f"Band {volume}", font="sans-bold", pt=22, anchor="ma")
    sheet.text(105, y + 40, f"Standort: {name}", font="sans", pt=16, anchor="ma")
    pages_line = f"Seiten bis zum nächsten Deckblatt: {declared_pages}" if declared_pages else ""
    if pages_line:
        sheet.text(105, y + 50, pages_line, font="sans", pt=11, anchor="ma")
    sheet.rect(25, 225, 185, 262, 0.4)
    sheet.para(
        30,
        229,
        150,
        "Dieses Blatt ist nicht Bestandteil der E-Akte. Es ordnet die folgenden Seiten beim "
        "Scannen der Bedarfsgemeinschaft zu. Bei beschädigtem Code wird die BG-Nummer aus dem "
        "Klartext gelesen. Rechtskreis: SGB II.",
        font="sans",
        pt=10,
    )
    sheet.text(
        20, 280, f"Code: {symbology} · {'ESAK1' if structured else 'BG-Nummer'}", font="sans", pt=8
    )
    return finish_scan(sheet, rng, look, bilevel=bilevel)


def render_separator(
    text: str = "PATCHT",
    *,
    symbology: str = "Code39",
    dpi: int = 300,
    rng: random.Random | None = None,
    scanner_noise: bool = True,
    bilevel: bool = False,
) -> Image.Image:
    """A document separator sheet: ``PATCHT`` or ``DOC;<type>``, with a caption."""
    rng = _rng(rng)
    look = scanner_look(rng, scanner_noise)
    sheet = Sheet(dpi, look.paper, look.ink)
    sheet.text(105, 30, "TRENNBLATT", font="sans-bold", pt=36, anchor="ma")
    if text.upper().startswith("DOC;"):
        caption = f"Neues Dokument · Dokumentart: {text[4:]}"
    else:
        caption = "Neues Dokument (Patch T)"
    sheet.text(105, 50, caption, font="sans", pt=16, anchor="ma")
    y = place_barcode(sheet, text, symbology, SEPARATOR_CODE_TOP_MM, height_1d=SEPARATOR_BAR_MM)
    sheet.text(105, y + 8, text, font="mono", pt=14, anchor="ma")
    sheet.text(
        105,
        270,
        "Nicht Bestandteil der E-Akte – wird beim Scannen entfernt",
        font="sans",
        pt=10,
        anchor="ma",
    )
    return finish_scan(sheet, rng, look, bilevel=bilevel)


def render_blank_page(
    rng: random.Random,
    *,
    dpi: int = 300,
    specks: bool = True,
    bleed_through: bool = False,
    bilevel: bool = False,
    scanner_noise: bool = True,
) -> Image.Image:
    """An empty back side: paper, dust, and perhaps the other side's text faintly mirrored."""
    look = scanner_look(rng, scanner_noise)
    sheet = Sheet(dpi, look.paper, look.ink)
    bleed = _bleed_layer(rng, dpi, look.paper) if bleed_through and look.noise else None
    return finish_scan(sheet, rng, look, bilevel=bilevel, specks=specks, bleed=bleed)


def _bleed_layer(rng: random.Random, dpi: int, paper: int) -> np.ndarray:
    """Mirrored text of the front side at 215-235 grey, blurred as through paper.

    Light shining through a sheet is scattered over a few tenths of a millimetre, so the
    front's print arrives with soft edges: rendered at a sixth of the resolution, blurred
    there (0.35 mm) and scaled up.
    """
    low = max(36, dpi // 6)
    sub = random.Random(rng.getrandbits(64))
    front = Sheet(low)
    _draw_content(
        front, sub, sub.choice(CONTENT_KINDS), random_person(sub), "00000BG0000000", "borken", 1, 1
    )
    soft = front.img.filter(ImageFilter.GaussianBlur(0.35 * low / 25.4))
    full = soft.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize(
        (round(A4_MM[0] / 25.4 * dpi), round(A4_MM[1] / 25.4 * dpi)), Image.Resampling.BILINEAR
    )
    level = rng.randint(215, 235)
    darkness = (255 - np.asarray(full, dtype=np.int16)) / 255.0
    return np.rint(paper - darkness * (paper - level)).astype(np.int16)


def render_handwritten_note_page(
    rng: random.Random, *, dpi: int = 300, bilevel: bool = False, scanner_noise: bool = True
) -> Image.Image:
    """A back side that is empty but for one short handwritten line: not blank."""
    look = scanner_look(rng, scanner_noise)
    sheet = Sheet(dpi, look.paper, look.ink)
    length = rng.uniform(32, 58)
    x = rng.uniform(30, 175 - length)
    y = rng.uniform(40, 230)
    sheet.scribble(
        rng, x, y, length, ink=min(look.ink + rng.randint(10, 40), 90), pen=rng.uniform(0.4, 0.6)
    )
    return finish_scan(sheet, rng, look, bilevel=bilevel)


def render_content_page(
    rng: random.Random,
    kind: str,
    *,
    dpi: int = 300,
    person: Person,
    household: str,
    site: str = "borken",
    page_no: int = 1,
    page_total: int = 1,
    bilevel: bool = False,
    scanner_noise: bool = True,
    text_out: list[str] | None = None,
) -> Image.Image:
    """One page of a case file: a notice, payslip, bank statement, form or letter.

    ``kind`` is one of :data:`CONTENT_KINDS`; pages after the first of a document continue
    its text with a short header. ``text_out`` gets the page's text as drawn (the ground
    truth OCR is measured against; the image does not depend on it).
    """
    if kind not in CONTENT_KINDS:
        raise ValueError(f"unknown kind {kind!r}; use one of {', '.join(CONTENT_KINDS)}")
    look = scanner_look(rng, scanner_noise)
    sheet = Sheet(dpi, look.paper, look.ink)
    _draw_content(sheet, rng, kind, person, household, site, page_no, page_total)
    if text_out is not None:
        text_out.append(sheet.ground_truth())
    return finish_scan(sheet, rng, look, bilevel=bilevel)


# --- content -----------------------------------------------------------------------------

_HINTS = (
    "Bitte beachten Sie: Sie sind verpflichtet, jede Änderung in Ihren persönlichen und "
    "wirtschaftlichen Verhältnissen unverzüglich mitzuteilen. Dies gilt insbesondere für die "
    "Aufnahme einer Beschäftigung, Änderungen des Einkommens, einen Umzug sowie Änderungen in "
    "der Zusammensetzung der Bedarfsgemeinschaft.",
    "Einkommen aus Erwerbstätigkeit wird nach Abzug der Freibeträge auf den Bedarf angerechnet. "
    "Bitte legen Sie jede Verdienstbescheinigung unaufgefordert vor, sobald Sie sie erhalten.",
    "Die Kosten für Unterkunft und Heizung werden in tatsächlicher Höhe anerkannt, soweit sie "
    "angemessen sind. Vor einem Umzug holen Sie bitte die Zusicherung des Jobcenters ein.",
    "Während des Leistungsbezuges sind Sie gesetzlich kranken- und pflegeversichert. Die "
    "Beiträge werden vom Jobcenter unmittelbar an Ihre Krankenkasse gezahlt.",
    "Bitte geben Sie bei allen Schreiben und Anrufen Ihre BG-Nummer an. So können wir Ihr "
    "Anliegen schneller und ohne Rückfragen bearbeiten.",
    "Einen Weiterbewilligungsantrag stellen Sie bitte rechtzeitig vor Ablauf des "
    "Bewilligungszeitraumes. Den Vordruck erhalten Sie etwa sechs Wochen vorher mit der Post.",
    "Ihre Angaben werden nach den Vorschriften des Sozialgesetzbuches verarbeitet. Weitere "
    "Informationen zum Datenschutz erhalten Sie bei Ihrem Jobcenter.",
    "Sollten Sie eine Arbeit aufnehmen, teilen Sie dies bitte sofort mit und reichen Sie den "
    "Arbeitsvertrag sowie die erste Lohnabrechnung ein.",
    "Bitte prüfen Sie diesen Bescheid sorgfältig. Wenn Sie Fragen haben, wenden Sie sich an die "
    "oben genannte Ansprechperson; telefonische Auskünfte erhalten Sie montags bis freitags.",
)
_RECHTSBEHELF = (
    "Rechtsbehelfsbelehrung: Gegen diesen Bescheid kann innerhalb eines Monats nach "
    "Bekanntgabe Widerspruch erhoben werden. Der Widerspruch ist schriftlich, in "
    "elektronischer Form oder zur Niederschrift beim Jobcenter im Kreis Borken einzulegen."
)


def _letterhead(
    s: Sheet, rng: random.Random, person: Person, household: str, site: str, when: date
) -> float:
    name, postcode = _site(site)
    town = name.replace("Kreis ", "")
    s.rect(150, 12, 190, 30, 0.6)
    s.text(170, 15.5, "Jobcenter", font="sans-bold", pt=13, anchor="ma")
    s.text(170, 22.5, "Kreis Borken", font="sans", pt=9, anchor="ma")
    s.text(25, 14, "Jobcenter im Kreis Borken", font="sans-bold", pt=15)
    s.text(25, 21.5, f"Standort {name}", font="sans", pt=10)
    s.text(
        25,
        45,
        f"Jobcenter im Kreis Borken · Postfach {rng.randint(1000, 9999)} · {postcode} {town}",
        font="sans",
        pt=7,
    )
    s.hline(25, 100, 48.5, 0.15)
    y = 53.0
    for line in (person.full_name, person.street, f"{person.postcode} {person.city}"):
        y = s.text(25, y, line, font="serif", pt=11)
    iy = 45.0
    info = (
        ("Datum:", _de_date(when)),
        ("BG-Nummer:", household),
        ("Ansprechperson:", rng.choice(_CLERKS)),
        ("Telefon:", f"0000 00-{rng.randint(1000, 9999)}"),
        ("Zimmer:", str(rng.randint(1, 240))),
    )
    for label, value in info:
        s.text(122, iy, label, font="sans", pt=9)
        s.text(150, iy, value, font="sans", pt=9)
        iy += 4.8
    return 92.0


def _continuation(s: Sheet, household: str, page_no: int, page_total: int, title: str) -> float:
    s.text(25, 14, f"{title} – Seite {page_no} von {page_total}", font="sans", pt=9)
    s.text(185, 14, f"BG-Nummer: {household}", font="sans", pt=9, anchor="ra")
    s.hline(25, 185, 19, 0.2)
    return 28.0


def _footer(s: Sheet, page_no: int, page_total: int) -> None:
    s.text(105, 284, f"Seite {page_no} von {page_total}", font="sans", pt=8, anchor="ma")


def _closing(s: Sheet, rng: random.Random, y: float, signer: str | None = None) -> float:
    y = s.text(25, y + 4, "Mit freundlichen Grüßen", font="serif", pt=11)
    if signer is None:
        y = s.text(25, y + 2, "Im Auftrag", font="serif", pt=11)
        s.scribble(rng, 27, y + 8, rng.uniform(25, 40))
        y = s.text(25, y + 12, rng.choice(_CLERKS).split(" ", 1)[1], font="serif", pt=11)
    else:
        s.scribble(rng, 27, y + 8, rng.uniform(25, 40))
        y = s.text(25, y + 12, signer, font="serif", pt=11)
    return y


def _bescheid_amounts(rng: random.Random) -> tuple[float, float, float]:
    regel = rng.choice((424.0, 432.0, 446.0, 401.0, 360.0))
    kdu = round(rng.uniform(280, 620), 2)
    income = round(rng.choice((0.0, 0.0, rng.uniform(80, 450))), 2)
    return regel, kdu, income


def _draw_content(
    s: Sheet,
    rng: random.Random,
    kind: str,
    person: Person,
    household: str,
    site: str,
    page_no: int,
    page_total: int,
) -> None:
    when = _rand_date(rng)
    last = page_no == page_total
    width = 160.0
    if kind in ("bewilligungsbescheid", "aenderungsbescheid", "schreiben") and page_no > 1:
        title = {"bewilligungsbescheid": "Bescheid", "aenderungsbescheid": "Änderungsbescheid"}.get(
            kind, "Schreiben"
        )
        y = _continuation(s, household, page_no, page_total, f"{title} vom {_de_date(when)}")
        for text in rng.sample(_HINTS, 4):
            y = s.para(25, y, width, text) + 3
        if last:
            y = s.para(25, y + 2, width, _RECHTSBEHELF) + 2
            _closing(s, rng, y)
        _footer(s, page_no, page_total)
        return
    if kind == "bewilligungsbescheid":
        y = _letterhead(s, rng, person, household, site, when)
        y = (
            s.para(
                25,
                y,
                width,
                "Bescheid über die Bewilligung von Leistungen zur Sicherung des Lebensunterhalts "
                "nach dem Zweiten Buch Sozialgesetzbuch (SGB II)",
                font="serif-bold",
                pt=12,
            )
            + 4
        )
        y = s.text(25, y, person.salutation, font="serif", pt=11) + 2
        start = date(when.year, when.month, 1)
        end = date(start.year + 1, start.month, 1) - timedelta(days=1)
        y = (
            s.para(
                25,
                y,
                width,
                f"auf Ihren Antrag vom {_de_date(when - timedelta(days=rng.randint(10, 40)))} "
                "werden "
                "Ihnen und den mit Ihnen in der Bedarfsgemeinschaft lebenden Personen für die Zeit "
                f"vom {_de_date(start)} bis {_de_date(end)} Leistungen zur Sicherung des "
                "Lebensunterhalts in folgender Höhe bewilligt:",
            )
            + 3
        )
        regel, kdu, income = _bescheid_amounts(rng)
        rows = [["Zeitraum", "Regelbedarf", "Unterkunft", "Einkommen", "Gesamt"]]
        for k in range(rng.randint(2, 3)):
            month = (start.month - 1 + k) % 12
            inc = income if k else round(income * 0.5, 2)
            rows.append(
                [
                    f"{_MONTHS[month]} {start.year + (start.month - 1 + k) // 12}",
                    _euro(regel),
                    _euro(kdu),
                    _euro(-inc),
                    _euro(regel + kdu - inc),
                ]
            )
        y = s.table(25, y, [38, 30, 38, 27, 27], rows, right={1, 2, 3, 4}) + 3
        y = (
            s.para(
                25,
                y,
                width,
                "Die Leistungen werden monatlich im Voraus auf das von Ihnen angegebene Konto "
                "überwiesen. Die Berechnung entnehmen Sie bitte den beigefügten Berechnungsbögen, "
                "die Bestandteil dieses Bescheides sind.",
            )
            + 3
        )
        y = s.para(25, y, width, rng.choice(_HINTS)) + 3
        if last:
            y = s.para(25, y, width, _RECHTSBEHELF) + 2
            _closing(s, rng, y)
        _footer(s, page_no, page_total)
    elif kind == "aenderungsbescheid":
        y = _letterhead(s, rng, person, household, site, when)
        y = s.text(25, y, "Änderungsbescheid", font="serif-bold", pt=13)
        y = (
            s.para(
                25,
                y,
                width,
                "zur Bewilligung von Leistungen zur Sicherung des Lebensunterhalts nach dem SGB II",
                font="serif-bold",
                pt=11,
            )
            + 4
        )
        y = s.text(25, y, person.salutation, font="serif", pt=11) + 2
        ab = date(when.year, when.month, 1)
        y = (
            s.para(
                25,
                y,
                width,
                f"der Bescheid vom {_de_date(when - timedelta(days=rng.randint(30, 200)))} "
                "über die Bewilligung von Leistungen nach dem SGB II wird für die Zeit ab "
                f"{_de_date(ab)} teilweise aufgehoben und wie folgt geändert:",
            )
            + 3
        )
        regel, kdu, income = _bescheid_amounts(rng)
        new_kdu = round(kdu + rng.uniform(-40, 60), 2)
        new_inc = round(income + rng.uniform(0, 120), 2)
        rows = [
            ["Leistungsart", "bisher", "neu"],
            ["Regelbedarf", _euro(regel), _euro(regel)],
            ["Bedarfe für Unterkunft und Heizung", _euro(kdu), _euro(new_kdu)],
            ["anzurechnendes Einkommen", _euro(-income), _euro(-new_inc)],
            [
                "Leistungsanspruch monatlich",
                _euro(regel + kdu - income),
                _euro(regel + new_kdu - new_inc),
            ],
        ]
        y = s.table(25, y, [80, 35, 35], rows, right={1, 2}, bold_last=True) + 3
        reason = rng.choice(
            (
                "Grund der Änderung: Die Regelbedarfe wurden zum 01.01. gesetzlich angepasst.",
                "Grund der Änderung: Sie haben eine Beschäftigung aufgenommen. Das Einkommen "
                "wird nach Abzug der Freibeträge angerechnet.",
                "Grund der Änderung: Ihre Kosten für Unterkunft und Heizung haben sich nach "
                "Vorlage der Betriebskostenabrechnung geändert.",
            )
        )
        y = s.para(25, y, width, reason) + 3
        y = (
            s.para(
                25,
                y,
                width,
                "Soweit Leistungen zu Unrecht erbracht wurden, sind diese nach § 50 SGB X zu "
                "erstatten. Hierüber erhalten Sie gegebenenfalls einen gesonderten Bescheid.",
            )
            + 3
        )
        if last:
            y = s.para(25, y, width, _RECHTSBEHELF) + 2
            _closing(s, rng, y)
        _footer(s, page_no, page_total)
    elif kind == "schreiben":
        _draw_letter(s, rng, person, household, site, when, page_total)
    elif kind == "lohnabrechnung":
        _draw_payslip(s, rng, person, household, when)
    elif kind == "kontoauszug":
        _draw_statement(s, rng, person, household, site, when, page_no, page_total)
    elif kind == "mietbescheinigung":
        _draw_rent(s, rng, person, household, site, when)
    elif kind == "weiterbewilligungsantrag":
        _draw_wba(s, rng, person, household, site, when, page_no, page_total)


def _draw_letter(
    s: Sheet, rng: random.Random, person: Person, household: str, site: str, when: date, total: int
) -> None:
    width = 160.0
    variant = rng.randrange(3)
    if variant == 2:
        # A letter from the household to the job center (Widerspruch).
        y = 18.0
        for line in (person.full_name, person.street, f"{person.postcode} {person.city}"):
            y = s.text(25, y, line, font="serif", pt=11)
        name, postcode = _site(site)
        y = 50.0
        for line in (
            "Jobcenter im Kreis Borken",
            f"Standort {name}",
            f"{postcode} {name.replace('Kreis ', '')}",
        ):
            y = s.text(25, y, line, font="serif", pt=11)
        s.text(185, 75, f"{person.city}, {_de_date(when)}", font="serif", pt=11, anchor="ra")
        y = s.text(
            25,
            88,
            "Widerspruch gegen den Bescheid vom "
            + _de_date(when - timedelta(days=rng.randint(5, 25))),
            font="serif-bold",
            pt=11,
        )
        y = s.text(25, y, f"BG-Nummer: {household}", font="serif-bold", pt=11) + 5
        y = s.text(25, y, "Sehr geehrte Damen und Herren,", font="serif", pt=11) + 2
        for text in (
            "hiermit lege ich Widerspruch gegen den oben genannten Bescheid ein. Die Kosten für "
            "die Heizung wurden nicht vollständig berücksichtigt, obwohl ich die Abrechnung "
            "meines Vermieters fristgerecht eingereicht habe.",
            "Ich bitte Sie, den Bescheid zu überprüfen und die Nachzahlung auf mein Konto zu "
            "überweisen. Eine Kopie der Heizkostenabrechnung lege ich diesem Schreiben noch "
            "einmal bei.",
            "Für Rückfragen erreichen Sie mich vormittags unter der Ihnen bekannten Telefonnummer.",
        ):
            y = s.para(25, y, width, text) + 3
        _closing(s, rng, y, signer=person.full_name)
        return
    y = _letterhead(s, rng, person, household, site, when)
    if variant == 0:
        y = s.text(25, y, "Einladung zu einem persönlichen Gespräch", font="serif-bold", pt=12) + 4
        y = s.text(25, y, person.salutation, font="serif", pt=11) + 2
        texts = [
            f"bitte kommen Sie am {_de_date(when + timedelta(days=rng.randint(7, 21)))} um "
            f"{rng.randint(8, 14)}:{rng.choice(['00', '15', '30', '45'])} Uhr in das Jobcenter im "
            f"Kreis Borken, Standort {_site(site)[0]}. Ich möchte mit Ihnen über Ihre berufliche "
            "Situation und Ihre Eingliederungsvereinbarung sprechen.",
            "Diese Einladung erfolgt nach § 59 SGB II in Verbindung mit § 309 SGB III. Bringen "
            "Sie bitte Ihren Personalausweis und einen aktuellen Lebenslauf mit.",
            "Wenn Sie ohne wichtigen Grund nicht erscheinen, kann Ihr Arbeitslosengeld II "
            "gemindert werden. Sollten Sie den Termin nicht wahrnehmen können, melden Sie sich "
            "bitte vorher telefonisch.",
        ]
    else:
        y = s.text(25, y, "Mitwirkung – Anforderung von Unterlagen", font="serif-bold", pt=12) + 4
        y = s.text(25, y, person.salutation, font="serif", pt=11) + 2
        month = _MONTHS[rng.randrange(12)]
        texts = [
            "zur Prüfung Ihres Leistungsanspruchs benötige ich noch folgende Unterlagen: "
            f"Kontoauszüge der letzten drei Monate, die Verdienstbescheinigung für {month} "
            "sowie eine aktuelle Mietbescheinigung.",
            f"Bitte reichen Sie die Unterlagen bis zum {_de_date(when + timedelta(days=14))} ein. "
            "Nach § 60 SGB I sind Sie verpflichtet, die für die Leistung erheblichen Tatsachen "
            "anzugeben und Beweisurkunden vorzulegen.",
            "Kommen Sie dieser Verpflichtung nicht nach, können die Leistungen nach § 66 SGB I "
            "bis zur Nachholung der Mitwirkung ganz oder teilweise versagt werden.",
        ]
    for text in texts:
        y = s.para(25, y, width, text) + 3
    if total == 1:
        _closing(s, rng, y)
    _footer(s, 1, total)


def _draw_payslip(s: Sheet, rng: random.Random, person: Person, household: str, when: date) -> None:
    employer = rng.choice(_EMPLOYERS)
    s.text(25, 15, employer, font="sans-bold", pt=13)
    s.text(
        25,
        21.5,
        f"{rng.choice(_STREETS)} {rng.randint(1, 90)} · {person.postcode} {person.city}",
        font="sans",
        pt=9,
    )
    s.hline(25, 185, 26, 0.4)
    s.text(25, 32, "Lohnabrechnung / Verdienstbescheinigung", font="sans-bold", pt=14)
    month = _MONTHS[when.month - 1]
    y = s.text(25, 40, f"Abrechnungsmonat: {month} {when.year}", font="sans", pt=11) + 3
    fields = (
        ("Arbeitnehmer/in:", person.full_name),
        ("Anschrift:", f"{person.street}, {person.postcode} {person.city}"),
        ("Personalnummer:", str(rng.randint(10000, 99999))),
        ("Eintritt:", _de_date(when - timedelta(days=rng.randint(60, 1500)))),
        ("Vorlage beim Jobcenter, BG-Nummer:", household),
    )
    for label, value in fields:
        s.text(25, y, label, font="sans", pt=10)
        y = s.text(100, y, value, font="sans", pt=10)
    y += 4
    hours = rng.choice((20, 30, 38.5, 40, 45, 60, 80, 120))
    rate = rng.choice((9.50, 9.60, 10.45, 11.20, 12.00, 13.50))
    gross = round(hours * rate * 4.33 if hours < 50 else hours * rate, 2)
    bonus = round(rng.choice((0.0, 0.0, rng.uniform(15, 80))), 2)
    gross_total = gross + bonus
    rows = [
        ["Lohnart", "Menge", "Satz", "Betrag"],
        ["Stundenlohn", f"{hours:g}".replace(".", ",") + " Std.", _euro(rate), _euro(gross)],
        ["Zuschläge (Nacht/Sonntag)", "", "", _euro(bonus)],
        ["Bruttobezüge", "", "", _euro(gross_total)],
    ]
    y = s.table(25, y, [70, 30, 30, 30], rows, right={1, 2, 3}, bold_last=True) + 4
    kv = round(gross_total * 0.0795, 2)
    rv = round(gross_total * 0.093, 2)
    av = round(gross_total * 0.012, 2)
    pv = round(gross_total * 0.01525, 2)
    tax = round(max(0.0, gross_total - 1100) * 0.14, 2)
    net = gross_total - kv - rv - av - pv - tax
    rows = [
        ["Abzüge", "", "Betrag"],
        ["Lohnsteuer", "", _euro(tax)],
        ["Solidaritätszuschlag", "", _euro(0.0)],
        ["Krankenversicherung", "7,95 %", _euro(kv)],
        ["Rentenversicherung", "9,30 %", _euro(rv)],
        ["Arbeitslosenversicherung", "1,20 %", _euro(av)],
        ["Pflegeversicherung", "1,525 %", _euro(pv)],
        ["Nettobezüge / Auszahlungsbetrag", "", _euro(net)],
    ]
    y = s.table(25, y, [90, 30, 40], rows, right={1, 2}, bold_last=True) + 5
    y = s.para(
        25,
        y,
        160,
        f"Der Auszahlungsbetrag wird am {_de_date(date(when.year, when.month, 28))} auf das "
        "bekannte Konto überwiesen. Diese Bescheinigung wurde maschinell erstellt und ist ohne "
        "Unterschrift gültig. Bitte bewahren Sie sie sorgfältig auf.",
        font="sans",
        pt=10,
    )
    _footer(s, 1, 1)


def _draw_statement(
    s: Sheet,
    rng: random.Random,
    person: Person,
    household: str,
    site: str,
    when: date,
    page_no: int,
    total: int,
) -> None:
    s.text(25, 15, "Sparkasse Westmünster (Muster)", font="sans-bold", pt=14)
    s.text(
        185,
        16,
        f"Kontoauszug {when.month}/{when.year}",
        font="sans-bold",
        pt=11,
        anchor="ra",
    )
    s.text(185, 22, f"Blatt {page_no} von {total}", font="sans", pt=9, anchor="ra")
    iban = (
        "DE00 "
        + " ".join(f"{rng.randint(0, 9999):04d}" for _ in range(4))
        + f" {rng.randint(0, 99):02d}"
    )
    y = s.text(25, 28, f"Kontoinhaber/in: {person.full_name}", font="sans", pt=10)
    y = s.text(25, y, f"IBAN: {iban}   BIC: MUSTDEXXXXX", font="sans", pt=10)
    y = s.text(25, y, f"Vorgelegt beim Jobcenter – BG-Nummer: {household}", font="sans", pt=10) + 3
    balance = round(rng.uniform(-150, 900), 2)
    rows = [["Buchung", "Valuta", "Vorgang", "Betrag"]]
    rows.append(["", "", "Alter Kontostand", _euro(balance)])
    d = date(when.year, when.month, 1)
    entries = [
        (
            f"Gutschrift Jobcenter im Kreis Borken, SGB II {household}",
            round(rng.uniform(400, 1100), 2),
        ),
        ("Dauerauftrag Miete " + rng.choice(_LANDLORDS)[:24], -round(rng.uniform(300, 650), 2)),
        ("Lastschrift Stadtwerke (Strom/Gas)", -round(rng.uniform(40, 120), 2)),
        ("Kartenzahlung Lebensmittelmarkt", -round(rng.uniform(10, 90), 2)),
        ("Kartenzahlung Drogerie", -round(rng.uniform(4, 30), 2)),
        ("Lastschrift Mobilfunk", -round(rng.uniform(8, 30), 2)),
        ("Bargeldauszahlung Geldautomat", -float(rng.choice((20, 50, 100)))),
        ("Gutschrift Kindergeld Familienkasse", 219.0),
        ("Lastschrift Haftpflichtversicherung", -round(rng.uniform(4, 12), 2)),
        ("Kartenzahlung Bäckerei", -round(rng.uniform(2, 12), 2)),
    ]
    n = rng.randint(9, 15)
    for i in range(n):
        text, amount = entries[i] if i < 2 else rng.choice(entries[2:])
        d = d + timedelta(days=rng.randint(0, 3))
        rows.append([d.strftime("%d.%m."), d.strftime("%d.%m."), text, _euro(amount)])
        balance += amount
    rows.append(["", "", "Neuer Kontostand", _euro(balance)])
    y = s.table(25, y, [18, 18, 99, 28], rows, pt=9, right={3}, bold_last=True) + 4
    s.para(
        25,
        y,
        160,
        "Bitte prüfen Sie Ihren Kontoauszug. Einwendungen gegen Belastungen aus Lastschriften "
        "sind innerhalb von acht Wochen zu erheben. Der Rechnungsabschluss gilt als genehmigt, "
        "wenn nicht innerhalb von sechs Wochen widersprochen wird.",
        font="sans",
        pt=9,
    )


def _field(
    s: Sheet, x: float, y: float, w: float, label: str, value: str, rng: random.Random
) -> float:
    s.text(x, y, label, font="sans", pt=8)
    s.rect(x, y + 3.5, x + w, y + 11, 0.25)
    # Filled in by hand: an oblique font, slightly off the line.
    s.text(
        x + 2 + rng.uniform(0, 2), y + 5 + rng.uniform(-0.4, 0.6), value, font="sans-oblique", pt=11
    )
    return y + 14


def _draw_rent(
    s: Sheet, rng: random.Random, person: Person, household: str, site: str, when: date
) -> None:
    s.text(25, 15, "Jobcenter im Kreis Borken", font="sans-bold", pt=11)
    s.text(185, 15, f"BG-Nummer: {household}", font="sans-bold", pt=11, anchor="ra")
    s.text(25, 26, "Mietbescheinigung", font="sans-bold", pt=18)
    y = (
        s.text(25, 35, "(von der Vermieterin oder dem Vermieter auszufüllen)", font="sans", pt=10)
        + 3
    )
    landlord = rng.choice(_LANDLORDS)
    y = _field(s, 25, y, 160, "Name der Mieterin / des Mieters", person.full_name, rng)
    y = _field(
        s,
        25,
        y,
        160,
        "Anschrift der Wohnung",
        f"{person.street}, {person.postcode} {person.city}",
        rng,
    )
    _field(
        s,
        25,
        y,
        75,
        "Mietverhältnis seit",
        _de_date(when - timedelta(days=rng.randint(200, 3000))),
        rng,
    )
    _field(s, 105, y, 38, "Wohnfläche (m²)", f"{rng.randint(38, 95)}", rng)
    y = _field(s, 147, y, 38, "Anzahl Räume", f"{rng.randint(1, 4)}", rng)
    y = _field(s, 25, y, 160, "Vermieterin / Vermieter", landlord, rng) + 2
    base = round(rng.uniform(260, 520), 2)
    ops = round(rng.uniform(60, 160), 2)
    heat = round(rng.uniform(50, 120), 2)
    rows = [
        ["Monatliche Kosten", "Betrag"],
        ["Grundmiete (Kaltmiete)", _euro(base)],
        ["Betriebskostenvorauszahlung", _euro(ops)],
        ["Heizkostenvorauszahlung", _euro(heat)],
        ["Gesamtmiete", _euro(base + ops + heat)],
    ]
    y = s.table(25, y, [110, 50], rows, pt=10, right={1}, bold_last=True, grid=True) + 4
    s.text(25, y, "Warmwasserbereitung:", font="sans", pt=10)
    central = rng.random() < 0.6
    s.checkbox(75, y, central)
    s.text(80, y, "zentral", font="sans", pt=10)
    s.checkbox(100, y, not central)
    y = s.text(105, y, "dezentral (Boiler/Durchlauferhitzer)", font="sans", pt=10) + 3
    s.text(25, y, "Heizung:", font="sans", pt=10)
    heating = rng.randrange(3)
    for i, label in enumerate(("Gas", "Öl", "Fernwärme")):
        s.checkbox(75 + 28 * i, y, heating == i)
        s.text(80 + 28 * i, y, label, font="sans", pt=10)
    y += 10
    y = (
        s.para(
            25,
            y,
            160,
            "Ich bestätige die Richtigkeit der vorstehenden Angaben. Mir ist bekannt, dass das "
            "Jobcenter die Angaben überprüfen kann. Änderungen der Miete teile ich der Mieterin "
            "oder dem Mieter rechtzeitig schriftlich mit.",
            font="sans",
            pt=10,
        )
        + 12
    )
    s.text(25, y, f"{person.city}, {_de_date(when)}", font="sans-oblique", pt=11)
    s.scribble(rng, 110, y + 4, rng.uniform(30, 45))
    s.hline(25, 90, y + 7, 0.2)
    s.hline(105, 185, y + 7, 0.2)
    s.text(25, y + 8, "Ort, Datum", font="sans", pt=8)
    s.text(105, y + 8, "Unterschrift Vermieter/in", font="sans", pt=8)


def _draw_wba(
    s: Sheet,
    rng: random.Random,
    person: Person,
    household: str,
    site: str,
    when: date,
    page_no: int,
    total: int,
) -> None:
    s.text(25, 14, "Jobcenter im Kreis Borken", font="sans-bold", pt=11)
    s.text(185, 14, f"Seite {page_no} von {total}", font="sans", pt=9, anchor="ra")
    if page_no > 1:
        y = s.text(
            25, 24, "Weiterbewilligungsantrag – Anlage und Hinweise", font="sans-bold", pt=13
        )
        y = s.text(25, y, f"BG-Nummer: {household}", font="sans", pt=10) + 4
        for text in rng.sample(_HINTS, 5):
            y = s.para(25, y, 160, text, font="sans", pt=10) + 3
        return
    y = (
        s.para(
            25,
            24,
            120,
            "Weiterbewilligungsantrag: Antrag auf Weiterbewilligung der Leistungen zur Sicherung "
            "des Lebensunterhalts nach dem Zweiten Buch Sozialgesetzbuch (SGB II)",
            font="sans-bold",
            pt=12,
        )
        + 4
    )
    s.rect(150, 22, 185, 42, 0.3)
    s.text(167.5, 24, "Eingangsstempel", font="sans", pt=7, anchor="ma")
    s.text(167.5, 30, "EINGEGANGEN", font="sans-bold", pt=9, anchor="ma")
    s.text(167.5, 35, _de_date(when), font="sans-bold", pt=9, anchor="ma")
    y = max(y, 46)
    y = _field(s, 25, y, 75, "BG-Nummer", household, rng) - 14
    y = _field(s, 110, y, 75, "Geburtsdatum", _de_date(person.birth_date), rng)
    y = _field(s, 25, y, 160, "Name, Vorname", person.list_name, rng)
    y = (
        _field(s, 25, y, 160, "Anschrift", f"{person.street}, {person.postcode} {person.city}", rng)
        + 2
    )
    y = (
        s.text(
            25,
            y,
            "1. Haben sich Ihre Verhältnisse seit der letzten Antragstellung geändert?",
            font="sans-bold",
            pt=10,
        )
        + 2
    )
    questions = (
        "Hat sich die Zusammensetzung der Bedarfsgemeinschaft geändert?",
        "Hat eine Person der Bedarfsgemeinschaft Einkommen erzielt?",
        "Haben sich die Kosten für Unterkunft und Heizung geändert?",
        "Ist Vermögen vorhanden, das bisher nicht angegeben wurde?",
        "Hat sich Ihre Bankverbindung geändert?",
        "Ist eine Person arbeitsunfähig erkrankt oder in Ausbildung?",
    )
    for q in questions:
        yes = rng.random() < 0.25
        s.text(25, y, q, font="sans", pt=10)
        s.checkbox(160, y, yes)
        s.text(164.5, y, "ja", font="sans", pt=9)
        s.checkbox(172, y, not yes)
        s.text(176.5, y, "nein", font="sans", pt=9)
        y += 7
    y += 2
    y = (
        s.para(
            25,
            y,
            160,
            "Wenn Sie eine Frage mit ja beantwortet haben, fügen Sie bitte die entsprechenden "
            "Nachweise bei. Ich versichere, dass meine Angaben vollständig und richtig sind. "
            "Änderungen teile ich unverzüglich mit.",
            font="sans",
            pt=10,
        )
        + 12
    )
    s.text(25, y, f"{person.city}, {_de_date(when)}", font="sans-oblique", pt=11)
    s.scribble(rng, 110, y + 4, rng.uniform(30, 45))
    s.hline(25, 90, y + 7, 0.2)
    s.hline(105, 185, y + 7, 0.2)
    s.text(25, y + 8, "Ort, Datum", font="sans", pt=8)
    s.text(105, y + 8, "Unterschrift der Antragstellerin / des Antragstellers", font="sans", pt=8)

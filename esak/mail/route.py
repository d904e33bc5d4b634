"""Which household a letter of the incoming mail belongs to: pure logic, no I/O.

A letter sent to the wrong case worker discloses social data (Sozialdaten, § 35 SGB I): the
router never guesses. It routes a letter only when exactly one household of the site is
named and the evidence for it is strong; everything else becomes a Klärfall with a reason
(:class:`esak.vocabulary.MailReason`), and a person decides.

1. **Codes first.** A cover sheet (``ESAK1;…``), a reply slip (``ESAKP;<site>;<household>;
   <letter id>``) or a bare household number, validated like a cover sheet
   (:func:`esak.migrate.codes.parse_mail_code`). A code is protected by its checksum; the
   letter is routed by it unless the text names another household.
2. **Then the text.** :func:`read_numbers` finds the numbers of the site's pattern in the OCR
   words, tolerant of the usual confusions (O/0, I/l/1, S/5, B/8, G/6) and of spaces and
   hyphens inside a number. Each is looked up (:class:`Households`): a household of the site
   (expected or archived), of another site, or unknown; an unknown one may be a near match
   of a known one (one character off: a suggestion, never a route).
3. **Evidence.** A reading counts as *reliable* when Tesseract was confident (word
   confidence at least :data:`MIN_CONFIDENCE`) and a second reading of its box alone, with
   only the characters the pattern allows, gives the same number (``checks``, made by the
   worker: :mod:`esak.mail.task`). Measured on generated scans: a digit misread into another
   valid number passed both in none of 25 cases, a correct reading on a clean scan passed
   both in 98 % (fax quality: 61 %). A reliable reading is *supported* by an anchor word
   before it on its line or above it (BG-Nummer, Bedarfsgemeinschaft, Aktenzeichen, Ihr/
   Unser Zeichen, Kundennummer, …) or by its place in the top part of the first page.
   A letter is routed by its text when its one number is a household of the site, every
   reading of it is reliable, and one is supported or there are two. Anything else that may
   name another household keeps it from being routed: another number (of the site, another
   site's, unknown), a number read only in part that may not be this one, a second reading
   that gives another number. Household numbers are dense (0000131 and 0000138 are both
   households): a misread digit is another household, not noise.

Every decision carries its evidence (JSON-able) for the audit log and the case.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from esak.i18n import N_
from esak.migrate.codes import MailCode
from esak.migrate.ocr import OcrWord
from esak.vocabulary import MailReason, MailRoute

#: Below this word confidence (0-100) a reading is not reliable. Correct readings of clean
#: scans score 72-97, of fax-quality scans 45-90; the misread digits that a second reading
#: repeated scored 16-45.
MIN_CONFIDENCE = 60.0
#: A reading whose characters needed more corrections than this is not reliable.
MAX_CORRECTIONS = 4
#: Of the page's height: a number above this line of the first page stands where letters
#: carry their reference line and subject.
TOP_OF_PAGE = 0.4
#: Characters OCR reads where a digit was printed (or typed by the sender).
DIGIT_LOOKALIKES = {"O": "0", "o": "0", "I": "1", "l": "1", "i": "1", "|": "1", "!": "1",
                    "S": "5", "s": "5", "B": "8", "G": "6"}  # fmt: skip
#: Characters OCR reads where a letter of the number was printed.
LETTER_LOOKALIKES = {"B": "8R3ßb", "G": "6Cg", "O": "0o", "I": "1l|", "S": "5s"}
#: Characters that may stand inside a number without being part of it.
JOINERS = frozenset(" -‐–")

#: Anchor words, normalised (lower case, umlauts spelt out, letters only), as they end the
#: text before a number: "BG-Nummer:", "Ihr Zeichen", "Az.".
ANCHORS = (
    "bgnummer", "bgnr", "bg", "bedarfsgemeinschaft", "bedarfsgemeinschaftsnummer",
    "nummerderbedarfsgemeinschaft", "aktenzeichen", "az", "ihrzeichen", "ihrezeichen",
    "unserzeichen", "meinzeichen", "kundennummer", "kundennr", "geschaeftszeichen",
)  # fmt: skip
#: Anchors this long match with one character misread.
_FUZZY_ANCHOR = 8


#: One OCR word of a letter: page from 0, a line number within the page, a box relative to
#: the page, confidence 0-100 (-1: unknown); the worker's own record, not a copy of it.
Word = OcrWord


@dataclass(frozen=True)
class Template:
    """The household pattern as one set of allowed characters per position (a pattern of
    fixed length, like ``^\\d{5}BG\\d{7}$``)."""

    slots: tuple[frozenset[str], ...]

    @property
    def allowed(self) -> str:
        """Every character a number may hold (a second reading's whitelist)."""
        return "".join(sorted(set().union(*self.slots)))

    def mask(self, chars: Sequence[str], most: int = 2) -> str | None:
        """The number these characters may stand for, ``?`` where a character fits no
        reading (at most ``most`` of them); None when more do not fit."""
        if len(chars) != len(self.slots):
            return None
        out = [_read_char(char, slot) or "?" for char, slot in zip(chars, self.slots, strict=True)]
        letters = [i for i, slot in enumerate(self.slots) if len(slot) == 1 and min(slot).isalpha()]
        if letters and all(out[i] == "?" for i in letters):
            return None  # digits where the pattern's letters stand: some other long number
        return "".join(out) if 0 < out.count("?") <= most else None

    def read(self, chars: Sequence[str]) -> tuple[str, int] | None:
        """The number these characters stand for, with how many had to be corrected; None
        when they cannot stand for a number of the pattern."""
        if len(chars) != len(self.slots):
            return None
        out, fixed = [], 0
        for char, slot in zip(chars, self.slots, strict=True):
            read = _read_char(char, slot)
            if read is None:
                return None
            out.append(read)
            fixed += read != char
        return "".join(out), fixed


def _read_char(char: str, slot: frozenset[str]) -> str | None:
    if char in slot:
        return char
    if char.upper() in slot and char.upper().isalpha():
        return char.upper()
    digit = DIGIT_LOOKALIKES.get(char)
    if digit is not None and digit in slot:
        return digit
    for letter in slot:
        if char in LETTER_LOOKALIKES.get(letter, ""):
            return letter
    return None


def template_of(pattern: str) -> Template | None:
    """The pattern as a :class:`Template`, or None when it is not one of fixed length made of
    literals, classes and counted repeats (then only exact readings are found)."""
    try:
        import re._parser as sre_parse  # the parser of the re module itself

        parsed = sre_parse.parse(pattern)
    except Exception:  # an odd pattern: no template, exact readings only
        return None
    slots: list[frozenset[str]] = []
    if not _walk(parsed, slots, sre_parse) or not 4 <= len(slots) <= 40:
        return None
    return Template(tuple(slots))


_ALNUM = frozenset("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


def _walk(items: Any, slots: list[frozenset[str]], sre: Any) -> bool:
    c = sre._constants if hasattr(sre, "_constants") else sre
    for op, av in items:
        if op is c.AT:
            continue
        if op is c.LITERAL:
            slots.append(frozenset({chr(av)}) & _ALNUM or frozenset({chr(av)}))
        elif op is c.IN:
            chars = _class_chars(av, c)
            if not chars:
                return False
            slots.append(chars)
        elif op is c.CATEGORY:
            chars = _class_chars([(op, av)], c)
            if not chars:
                return False
            slots.append(chars)
        elif op in (c.MAX_REPEAT, c.MIN_REPEAT):
            low, high, sub = av
            if low != high or low > 40:
                return False
            for _ in range(low):
                if not _walk(sub, slots, sre):
                    return False
        elif op is c.SUBPATTERN:
            if not _walk(av[-1], slots, sre):
                return False
        else:
            return False
        if len(slots) > 40:
            return False
    return True


def _class_chars(items: Any, c: Any) -> frozenset[str]:
    chars: set[str] = set()
    for op, av in items:
        if op is c.NEGATE:
            return frozenset()
        if op is c.LITERAL:
            chars.add(chr(av))
        elif op is c.RANGE:
            chars.update(chr(x) for x in range(av[0], av[1] + 1))
        elif op is c.CATEGORY and av is c.CATEGORY_DIGIT:
            chars.update("0123456789")
        else:
            return frozenset()
    return frozenset(chars & _ALNUM)


# --- reading numbers ------------------------------------------------------------------------


@dataclass(frozen=True)
class Reading:
    """One place in the letter where a household number stands (or one that is a character
    short or long: ``number`` None, only a near match can come of it)."""

    #: the number it reads as (confusions corrected); None: malformed
    number: str | None
    #: as OCR read it, spaces between its words
    raw: str
    page: int
    line: int
    #: indexes of its words in the letter's word list
    words: tuple[int, ...]
    box: tuple[float, float, float, float]
    #: the lowest confidence of its words (-1: not known)
    conf: float
    corrections: int
    #: the anchor word before or above it (normalised), if any
    anchor: str | None
    top_of_first_page: bool
    #: of a malformed reading: the numbers it is one character away from (one put in or
    #: taken out, confusions corrected)
    variants: tuple[str, ...] = ()
    #: of a reading of the number's length with characters that fit no reading: the number
    #: with ``?`` in their place
    mask: str | None = None

    def fits(self, household: str) -> bool:
        """Whether a malformed reading may be a reading of ``household``."""
        if self.mask is not None:
            return len(self.mask) == len(household) and all(
                m in ("?", h) for m, h in zip(self.mask, household, strict=True)
            )
        return household in self.variants

    @property
    def key(self) -> tuple[int, int]:
        """How a second reading names it: (page, its first word)."""
        return self.page, self.words[0]

    def to_dict(self, verified: bool | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "raw": self.raw,
            "page": self.page + 1,
            "conf": round(self.conf, 1),
            "corrections": self.corrections,
            "anchor": self.anchor,
            "top_of_first_page": self.top_of_first_page,
        }
        if verified is not None:
            out["second_reading"] = verified
        return out


def read_numbers(words: Sequence[Word], template: Template | None) -> list[Reading]:
    """Every place in ``words`` where a number of the template stands, in reading order; with
    no template, words that are a number as they are (``exact``)."""
    lines: dict[tuple[int, int], list[int]] = {}
    for i, w in enumerate(words):
        lines.setdefault((w.page, w.line), []).append(i)
    found: list[Reading] = []
    for (page, line), members in sorted(lines.items()):
        members.sort(key=lambda i: words[i].left)
        texts = [words[i].text for i in members]
        for number, raw, used, fixed, variants, mask in _scan_line(texts, template):
            idx = tuple(members[u] for u in used)
            parts = [words[i] for i in idx]
            box = (min(p.left for p in parts), min(p.top for p in parts),
                   max(p.right for p in parts), max(p.bottom for p in parts))  # fmt: skip
            confs = [p.conf for p in parts]
            conf = -1.0 if min(confs) < 0 else min(confs)
            found.append(
                Reading(number, raw, page, line, idx, box, conf, fixed,
                        _anchor(words, idx, box, page), page == 0 and box[1] < TOP_OF_PAGE,
                        variants, mask)
            )  # fmt: skip
    return found


def _significant(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char in DIGIT_LOOKALIKES)


def _scan_line(
    texts: list[str], template: Template | None
) -> Iterable[tuple[str | None, str, list[int], int, tuple[str, ...], str | None]]:
    """(number or None, raw text, word positions, corrections, variants of a malformed one)
    of each number on one line."""
    chars: list[tuple[str, int]] = []  # (character, word position); -1: between words
    for pos, text in enumerate(texts):
        if chars:
            chars.append((" ", -1))
        chars.extend((ch, pos) for ch in text)
    if template is None:
        for pos, text in enumerate(texts):
            stripped = "".join(ch for ch in text if ch.isascii() and ch.isalnum())
            if stripped == text.strip(".,;:()[]"):
                yield stripped, text, [pos], 0, (), None
        return
    length = len(template.slots)
    taken_until = -1
    for start in range(len(chars)):
        if start <= taken_until or not _starts_number(chars, start):
            continue
        sig: list[int] = []  # positions in chars of the characters read
        i = start
        while i < len(chars) and len(sig) < length + 1:
            ch = chars[i][0]
            if _significant(ch):
                sig.append(i)
            elif ch in JOINERS and sig:
                # Spaces and hyphens inside the number ("95401 - BG - 0000101"), at most three.
                after = i
                while after < len(chars) and chars[after][0] in JOINERS and after - i < 3:
                    after += 1
                if after >= len(chars) or not _significant(chars[after][0]):
                    break
                i = after
                continue
            else:
                break
            i += 1
        for size in (length, length - 1, length + 1):
            if len(sig) < size or size < 1:
                continue
            end = sig[size - 1]
            if not _ends_number(chars, end):
                continue
            text = [chars[p][0] for p in sig[:size]]
            read = template.read(text) if size == length else None
            variants = () if size == length else _variants(text, template)
            mask = template.mask(text) if size == length and read is None else None
            if read is None and not variants and mask is None:
                continue
            positions = sorted({chars[p][1] for p in range(start, end + 1) if chars[p][1] >= 0})
            raw = "".join(ch for ch, _ in chars[start : end + 1])
            if read is not None:
                yield read[0], raw, positions, read[1], (), None
            else:
                yield None, raw, positions, 0, variants, mask
            taken_until = end
            break


def _starts_number(chars: list[tuple[str, int]], i: int) -> bool:
    ch = chars[i][0]
    if not _significant(ch):
        return False
    if i == 0 or not _significant(chars[i - 1][0]):
        return True
    # "Nr95401BG…": a number glued to a word starts where letters turn into digits.
    return chars[i - 1][0].isalpha() and ch.isdigit()


def _ends_number(chars: list[tuple[str, int]], i: int) -> bool:
    if i + 1 >= len(chars) or not _significant(chars[i + 1][0]):
        return True
    return chars[i][0].isdigit() and chars[i + 1][0].isalpha()


def _variants(text: list[str], template: Template) -> tuple[str, ...]:
    """The numbers that characters one too many or one short stand for with one character
    taken out or put in: what a damaged reading may be a reading of."""
    found: set[str] = set()
    if len(text) == len(template.slots) + 1:
        for k in range(len(text)):
            read = template.read(text[:k] + text[k + 1 :])
            if read:
                found.add(read[0])
    elif len(text) == len(template.slots) - 1:
        for k in range(len(text) + 1):
            for char in sorted(template.slots[k]):
                read = template.read([*text[:k], char, *text[k:]])
                if read:
                    found.add(read[0])
    return tuple(sorted(found))


def _norm(text: str) -> str:
    lowered = text.casefold().replace("ß", "ss")
    for umlaut, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue")):
        lowered = lowered.replace(umlaut, plain)
    decomposed = unicodedata.normalize("NFKD", lowered)
    return re.sub(r"[^a-z]", "", decomposed)


def _is_anchor(text: str) -> str | None:
    if not text:
        return None
    for anchor in ANCHORS:
        if text == anchor:
            return anchor
        if (
            len(anchor) >= _FUZZY_ANCHOR
            and abs(len(text) - len(anchor)) <= 1
            and distance(text, anchor) <= 1
        ):
            return anchor
    return None


def _anchor(
    words: Sequence[Word], used: tuple[int, ...], box: tuple[float, float, float, float], page: int
) -> str | None:
    """An anchor word before the number on its line, or a label right above it."""
    left, top, _, bottom = box
    height = max(bottom - top, 1e-3)
    before = [
        i
        for i, w in enumerate(words)
        if i not in used
        and w.page == page
        and w.right <= left + height
        and min(w.bottom, bottom) - max(w.top, top) >= 0.4 * min(height, w.bottom - w.top)
    ]
    before.sort(key=lambda i: words[i].right, reverse=True)
    # The text just before the number (up to four words): what it ends with is its label.
    found = _ending_anchor([_norm(words[i].text) for i in before[:4]])
    if found:
        return found
    above = [
        i
        for i, w in enumerate(words)
        if w.page == page
        and i not in used
        and w.bottom <= top + 0.2 * height
        and top - w.bottom < 3.0 * height
        and w.left < box[2]
        and w.right > left
    ]
    # A label above (a form's field, a table's heading): any anchor on that line.
    for line_no in dict.fromkeys(
        words[i].line for i in sorted(above, key=lambda i: -words[i].bottom)
    ):
        line = sorted(
            (j for j, w in enumerate(words) if w.page == page and w.line == line_no),
            key=lambda j: words[j].left,
        )
        texts = [_norm(words[j].text) for j in line]
        for end in range(len(texts)):
            found = _ending_anchor(texts[max(0, end - 3) : end + 1][::-1])
            if found:
                return found
    return None


def _ending_anchor(texts_nearest_first: list[str]) -> str | None:
    joined = ""
    for text in texts_nearest_first:
        joined = text + joined
        found = _is_anchor(joined)
        if found:
            return found
    return None


def distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) from ``a`` to ``b``."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        row = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], prev2[j - 2] + 1)
        prev2, prev = prev, row
    return prev[-1]


# --- households -----------------------------------------------------------------------------


class HouseholdLookup(Protocol):
    site: str

    def status(self, household: str) -> tuple[str, str | None]: ...
    def near(self, text: str) -> list[str]: ...
    def fitting(self, reading: Reading) -> list[str]: ...


KNOWN, OTHER_SITE, UNKNOWN = "known", "other_site", "unknown"


class Households:
    """The households a letter may go to (the site's: expected or archived) and those of the
    other sites, with a lookup for near matches (one edit away)."""

    def __init__(self, site: str, known: Iterable[str], elsewhere: Mapping[str, str]) -> None:
        self.site = site
        self.known = frozenset(known)
        self.elsewhere = {h: s for h, s in elsewhere.items() if h not in self.known}
        self._deletes: dict[str, set[str]] | None = None

    def status(self, household: str) -> tuple[str, str | None]:
        """``known`` (of this site), ``other_site`` (and which), or ``unknown``."""
        if household in self.known:
            return KNOWN, self.site
        if household in self.elsewhere:
            return OTHER_SITE, self.elsewhere[household]
        return UNKNOWN, None

    def near(self, text: str) -> list[str]:
        """The site's households one edit away from ``text`` (not ``text`` itself)."""
        if self._deletes is None:
            self._deletes = {}
            for household in self.known:
                for key in _deletions(household):
                    self._deletes.setdefault(key, set()).add(household)
        candidates: set[str] = set()
        for key in _deletions(text):
            candidates |= self._deletes.get(key, set())
        return sorted(h for h in candidates if h != text and distance(text, h) <= 1)

    def fitting(self, reading: Reading) -> list[str]:
        """The site's households a malformed reading may be a reading of."""
        if reading.mask is not None:
            return sorted(h for h in self.known if reading.fits(h))
        return sorted(v for v in reading.variants if v in self.known)


def _deletions(text: str) -> set[str]:
    return {text} | {text[:i] + text[i + 1 :] for i in range(len(text))}


# --- the decision ---------------------------------------------------------------------------


@dataclass
class Decision:
    """Where a letter goes: ``household`` and ``route``, or a Klärfall's ``reason``, with the
    ``suggestion`` a person may follow (never taken by itself) and the evidence."""

    household: str | None = None
    route: MailRoute | None = None
    reason: MailReason | None = None
    suggestion: str | None = None
    #: what the case's detail says, in English (its first part is translated where shown)
    why: str = ""
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def routed(self) -> bool:
        return self.household is not None


#: The first part of a case's detail, one per reason (translated where it is shown).
WHY = {
    MailReason.NO_CANDIDATE: N_("no household number found in the letter"),
    MailReason.AMBIGUOUS: N_("the letter names more than one household"),
    MailReason.LOW_CONFIDENCE: N_("a household number was read without enough certainty"),
    MailReason.UNKNOWN_NUMBER: N_("the household number is not known at this site"),
    MailReason.OTHER_SITE: N_("the household number belongs to another site"),
    MailReason.NEAR_MATCH: N_("only a near match of a known household number"),
}


class _Judge:
    """One letter's evidence, and the decisions that carry it."""

    def __init__(
        self,
        readings: Sequence[Reading],
        codes: Sequence[MailCode],
        households: HouseholdLookup,
        checks: Mapping[tuple[int, int], str],
        template: Template | None,
    ) -> None:
        self.households = households
        self.codes = list(codes)
        self.numbers = [r for r in readings if r.number is not None]
        self.damaged = [r for r in readings if r.number is None]
        self.verified = {r.key: _verified(r, checks, template) for r in self.numbers}
        #: what each second reading gives as a number (of the pattern), where it gives one
        self.second = {r.key: n for r in self.numbers if (n := _second_number(r, checks, template))}
        self.status = {n: households.status(n) for n in {r.number or "" for r in self.numbers}}
        self.evidence: dict[str, Any] = {
            "codes": [_code_dict(c) for c in codes],
            "numbers": [self._number_dict(n) for n in sorted(self.status)],
            "damaged": [{**r.to_dict(), "near": households.fitting(r)[:10]} for r in self.damaged],
        }

    def _number_dict(self, number: str) -> dict[str, Any]:
        kind, site = self.status[number]
        readings = [r.to_dict(self.verified[r.key]) for r in self.numbers if r.number == number]
        return {"household": number, "status": kind, "site": site, "readings": readings}

    def known(self, household: str) -> bool:
        return self.households.status(household)[0] == KNOWN

    def reliable(self, reading: Reading) -> bool:
        return (
            self.verified.get(reading.key, False)
            and reading.conf >= MIN_CONFIDENCE
            and reading.corrections <= MAX_CORRECTIONS
        )

    def route(self, household: str, route: MailRoute, rule: str) -> Decision:
        self.evidence["rule"] = rule
        return Decision(household, route, evidence=self.evidence)

    def case(
        self, reason: MailReason, detail: str, rule: str, suggestion: str | None = None
    ) -> Decision:
        self.evidence["rule"] = rule
        why = WHY[reason] + (f": {detail}" if detail else "")
        return Decision(None, None, reason, suggestion, why, self.evidence)


def route_letter(
    readings: Sequence[Reading],
    codes: Sequence[MailCode],
    households: HouseholdLookup,
    checks: Mapping[tuple[int, int], str] | None = None,
    template: Template | None = None,
) -> Decision:
    """Decide where the letter goes (see the module's docstring). ``checks``: the second
    reading of each well-formed reading's box, by :attr:`Reading.key`; ``template`` reads
    them (the site's pattern)."""
    judge = _Judge(readings, codes, households, checks or {}, template)
    if codes:
        return _by_codes(judge)
    return _by_text(judge)


def _by_codes(j: _Judge) -> Decision:
    """Codes first: one usable code of a household of the site routes the letter, unless the
    text names another household."""
    site = j.households.site
    named = sorted({c.household for c in j.codes if c.household})
    foreign = sorted({c.site for c in j.codes if not c.household and c.site and c.site != site})
    broken = [c for c in j.codes if not c.household and c.site in (None, site)]
    if len(named) > 1:
        return j.case(MailReason.AMBIGUOUS, "codes of " + ", ".join(named), "codes disagree")
    if foreign:
        if named:
            detail = f"a code of {named[0]} and one of site {foreign[0]}"
            return j.case(MailReason.AMBIGUOUS, detail, "codes disagree")
        return j.case(MailReason.OTHER_SITE, f"a code of site {foreign[0]}", "code of a site")
    if not named:
        detail = f"a code that cannot be used ({broken[0].problem})"
        return j.case(MailReason.UNKNOWN_NUMBER, detail, "code unusable")
    household = named[0]
    kind, where = j.households.status(household)
    if kind == OTHER_SITE:
        detail = f"code of {household} (site {where})"
        return j.case(MailReason.OTHER_SITE, detail, "code of another site's household")
    if kind == UNKNOWN:
        return j.case(MailReason.UNKNOWN_NUMBER, f"code of {household}", "code unknown")
    if broken:
        detail = f"a code of {household} and one that cannot be used ({broken[0].problem})"
        return j.case(MailReason.AMBIGUOUS, detail, "codes disagree")
    # Any other number in the text disagrees with the code, even one that may be the code's
    # own number misread: numbers are dense, a misread one may be a neighbour's.
    against = sorted({r.number or "" for r in j.numbers if r.number != household})
    if against:
        detail = f"the code names {household}, the text " + ", ".join(against)
        return j.case(MailReason.AMBIGUOUS, detail, "code and text disagree")
    garbled = [r for r in j.damaged if not r.fits(household)]
    if garbled:
        detail = f"the code names {household}, the text a number read only in part: "
        return j.case(MailReason.AMBIGUOUS, detail + repr(garbled[0].raw), "code and text disagree")
    return j.route(household, MailRoute.BARCODE, "a code of the site's household")


def _by_text(j: _Judge) -> Decision:
    """Then the text: exactly one number, a household of the site, read reliably."""
    distinct = sorted(j.status)
    if not distinct:
        near = sorted({h for r in j.damaged for h in j.households.fitting(r)})
        shown = ", ".join(repr(r.raw) for r in j.damaged[:3])
        if len(near) == 1:
            detail = f"{shown} (suggestion: {near[0]})"
            return j.case(MailReason.NEAR_MATCH, detail, "damaged number", suggestion=near[0])
        if near:
            detail = f"{shown} (near " + ", ".join(near) + ")"
            return j.case(MailReason.AMBIGUOUS, detail, "damaged number, several households")
        if j.damaged:
            # A number a character short or long, near no household of the site.
            return j.case(MailReason.UNKNOWN_NUMBER, shown, "damaged number, none near")
        return j.case(MailReason.NO_CANDIDATE, "", "no number")
    if len(distinct) > 1:
        if all(j.status[n][0] == OTHER_SITE for n in distinct):
            sites = ", ".join(sorted({j.status[n][1] or "" for n in distinct}))
            detail = ", ".join(distinct) + f" (site {sites})"
            return j.case(MailReason.OTHER_SITE, detail, "numbers of other sites")
        return j.case(MailReason.AMBIGUOUS, ", ".join(distinct), "several numbers")
    (number,) = distinct
    kind, where = j.status[number]
    if kind == OTHER_SITE:
        return j.case(MailReason.OTHER_SITE, f"{number} (site {where})", "number of a site")
    if kind == UNKNOWN:
        near = j.households.near(number)
        if len(near) == 1:
            detail = f"{number} (suggestion: {near[0]})"
            return j.case(MailReason.NEAR_MATCH, detail, "unknown number", suggestion=near[0])
        if near:
            detail = f"{number} (near " + ", ".join(near) + ")"
            return j.case(MailReason.NEAR_MATCH, detail, "unknown number, several near")
        return j.case(MailReason.UNKNOWN_NUMBER, number, "unknown number")
    for r in j.damaged:
        # A damaged reading of this number agrees; any other (another household's, garbled)
        # may name a second household.
        if not r.fits(number):
            detail = f"{number}, and a number read only in part: {r.raw!r}"
            return j.case(MailReason.AMBIGUOUS, detail, "a damaged number that is not this one")
    mine = [r for r in j.numbers if r.number == number]
    # A second reading that gives another number: the place may name another household.
    seconds = sorted({j.second[r.key] for r in mine if j.second.get(r.key) not in (None, number)})
    if seconds:
        detail = f"{number} (suggestion; read a second time as " + ", ".join(seconds) + ")"
        return j.case(MailReason.LOW_CONFIDENCE, detail, "two readings of a place disagree",
                      suggestion=number)  # fmt: skip
    # Every place the number stands must read reliably: one that does not may be another
    # household's number misread into this one.
    reliable = [r for r in mine if j.reliable(r)]
    supported = [r for r in reliable if r.anchor or r.top_of_first_page]
    if len(reliable) == len(mine) and supported:
        return j.route(number, MailRoute.TEXT, "one household of the site, read reliably, "
                       "anchored or at the top of page 1")  # fmt: skip
    if len(reliable) == len(mine) >= 2:
        return j.route(number, MailRoute.TEXT, "one household of the site, read reliably twice")
    detail = f"{number} (suggestion; {_weakness(j, mine)})"
    return j.case(MailReason.LOW_CONFIDENCE, detail, "not read reliably", suggestion=number)


def _verified(
    reading: Reading, checks: Mapping[tuple[int, int], str], template: Template | None
) -> bool:
    """Whether the second reading of the reading's box gives the same number."""
    second = checks.get(reading.key)
    if second is None or reading.number is None:
        return False
    flat = [ch for ch in second if _significant(ch)]
    if template is None:
        return "".join(flat) == reading.number
    read = template.read(flat)
    return read is not None and read[0] == reading.number


def _second_number(
    reading: Reading, checks: Mapping[tuple[int, int], str], template: Template | None
) -> str | None:
    second = checks.get(reading.key)
    if second is None or template is None:
        return None
    read = template.read([ch for ch in second if _significant(ch)])
    return read[0] if read else None


def _weakness(j: _Judge, readings: list[Reading]) -> str:
    best = max(readings, key=lambda r: (j.verified[r.key], r.conf))
    parts = [f"confidence {best.conf:.0f}"]
    if not j.verified[best.key]:
        parts.append("a second reading differs")
    if not (best.anchor or best.top_of_first_page):
        parts.append("no anchor word")
    return ", ".join(parts)


def _code_dict(code: MailCode) -> dict[str, Any]:
    return {
        "kind": code.kind,
        "text": code.text,
        "household": code.household,
        "site": code.site,
        "problem": code.problem,
    }

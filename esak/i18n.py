"""The language people read: gettext catalogs, German by default, English on request.

Every sentence meant for a person is written in English in the code and marked: ``_()``
translates it now, ``N_()`` only marks a constant that is translated where it is shown
(:func:`tr`), for texts stored in the index (a reason a page was set aside) or put into JSON.
The German catalog is ``esak/locale/de/LC_MESSAGES/esak.po`` (made with Babel: ``make
i18n``). JSON keys, JSON values meant for scripts and exit codes never change with the
language.

The language is, in this order: ``--lang``, ``$ESAK_LANG``, the site profile's
``language``, German.
"""

from __future__ import annotations

import datetime as dt
import gettext
import os
from pathlib import Path
from zoneinfo import ZoneInfo

DOMAIN = "esak"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"
ENV_LANG = "ESAK_LANG"
#: Where every Jobcenter esak serves keeps its clocks; human output shows this local time.
TIMEZONE = ZoneInfo("Europe/Berlin")

_translations: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"
#: chosen on the command line or in the environment: a profile's language does not override it
_explicit = False


def set_language(language: str | None = None, *, explicit: bool = True) -> str:
    """Use ``language`` (``de`` or ``en``); ``None``: ``$ESAK_LANG``, else German."""
    global _translations, _language, _explicit
    chosen = language or os.environ.get(ENV_LANG) or DEFAULT_LANGUAGE
    chosen = chosen.strip().lower().split("_")[0].split("-")[0]
    if chosen not in LANGUAGES:
        from esak.errors import UsageError

        raise UsageError(
            f"unknown language {chosen!r}", f"use one of: {', '.join(LANGUAGES)} (--lang)"
        )
    if chosen == "en":
        _translations = gettext.NullTranslations()
    else:
        # fallback: a missing catalog shows English rather than failing (a test guards it)
        _translations = gettext.translation(DOMAIN, LOCALE_DIR, languages=[chosen], fallback=True)
    _language = chosen
    _explicit = explicit and bool(language or os.environ.get(ENV_LANG))
    return chosen


def use_profile_language(language: str | None) -> None:
    """A site profile's ``language``, unless the user chose one."""
    if language and not _explicit:
        set_language(language, explicit=False)


def language() -> str:
    return _language


def _(message: str) -> str:
    """``message`` in the current language."""
    return _translations.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translations.ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Marks a constant for the catalog; it is translated where it is shown (:func:`tr`)."""
    return message


def tr(text: str | None) -> str:
    """A stored English text in the current language, where the catalog has it; else as it
    is (a reason with a file name or a library's message in it)."""
    if not text:
        return ""
    translated = _translations.gettext(text)
    if translated != text:
        return translated
    # "known reason: detail" — the known part translated, the detail as it is.
    head, sep, rest = text.partition(": ")
    if sep and (head_translated := _translations.gettext(head)) != head:
        return f"{head_translated}: {rest}"
    return text


def local_time(value: str | dt.datetime | None, *, seconds: bool = False) -> str:
    """A time for people: local (Europe/Berlin), ``01.12.2026 06:42`` (German) or
    ``2026-12-01 06:42`` (English). ISO 8601 strings are what the index stores."""
    if value is None or value == "":
        return ""
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)  # the index stores UTC
    moment = moment.astimezone(TIMEZONE)
    pattern = "%d.%m.%Y %H:%M" if _language == "de" else "%Y-%m-%d %H:%M"
    return moment.strftime(pattern + (":%S" if seconds else ""))


def local_date(value: dt.date | str | None) -> str:
    """A date for people: ``30.06.2021`` (German) or ``2021-06-30`` (English)."""
    if value is None or value == "":
        return ""
    day = dt.date.fromisoformat(value) if isinstance(value, str) else value
    return day.strftime("%d.%m.%Y" if _language == "de" else "%Y-%m-%d")


def number(n: int) -> str:
    """``7.000`` (German) or ``7,000`` (English)."""
    text = f"{n:,}"
    return text.replace(",", ".") if _language == "de" else text


def iso_now() -> str:
    """Now, for JSON: ISO 8601 with the UTC offset of local time."""
    return dt.datetime.now(TIMEZONE).isoformat(timespec="seconds")


try:
    set_language()
except Exception:  # an unknown $ESAK_LANG: the CLI reports it; until then, German
    set_language(DEFAULT_LANGUAGE, explicit=False)

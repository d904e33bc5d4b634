"""esak's words for what a page, a file, a site can be: one enum each, used everywhere.

They are StrEnums: each member is its own string (``PageOutcome.BLANK == "blank"``), so the
index, the JSON output and CONTRACT §5/§6 keep the plain words, and code that compares with a
string keeps working while it moves to the names.
"""

from __future__ import annotations

from enum import StrEnum


class PageKind(StrEnum):
    """What a page is, as classification finds it (CONTRACT §7, ``esak inspect``)."""

    COVER = "cover"
    SEPARATOR = "separator"
    BLANK = "blank"
    CONTENT = "content"


class PageOutcome(StrEnum):
    """What became of an input page: exactly one of these (CONTRACT §5)."""

    ARCHIVED = "archived"
    COVER = "cover"
    SEPARATOR = "separator"
    BLANK = "blank"
    QUARANTINED = "quarantined"


class FileOutcome(StrEnum):
    """What became of an input file (CONTRACT §5)."""

    INGESTED = "ingested"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"


class InputFormat(StrEnum):
    """What an input of a delivery is (CONTRACT §4)."""

    PDF = "pdf"
    #: ``<household>.pdf`` / ``<household>_<volume>.pdf``: one household's file, no cover.
    HOUSEHOLD_PDF = "household-pdf"
    TIFF = "tiff"
    #: The single-page images of one folder, one batch in natural file-name order.
    IMAGE_FOLDER = "image-folder"
    UNKNOWN = "unknown"


class BlankPolicy(StrEnum):
    """What ingest does with blank pages (profile ``blank_pages``)."""

    DROP = "drop"
    KEEP = "keep"


class SiteState(StrEnum):
    """Where a site stands in the rollout (``esak rollout status``), in order."""

    UNPLANNED = "unplanned"
    PLANNED = "planned"
    IMPORTING = "importing"
    VERIFIED = "verified"
    LIVE = "live"

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
    #: set aside, then given up by a person with a reason (a closed Klärfall): still counted
    DISCARDED = "discarded"
    #: its delivery was withdrawn: no longer part of any site's accounting
    WITHDRAWN = "withdrawn"


#: The outcomes a site's page accounting adds up (a withdrawn delivery is not in it).
ACCOUNTED = tuple(o for o in PageOutcome if o is not PageOutcome.WITHDRAWN)


class FileOutcome(StrEnum):
    """What became of an input file (CONTRACT §5)."""

    INGESTED = "ingested"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"
    #: set aside whole, then given up by a person with a reason (a closed Klärfall)
    DISCARDED = "discarded"
    #: its delivery was taken back (``esak withdraw``); the row stays as the record
    WITHDRAWN = "withdrawn"


class CaseKind(StrEnum):
    """What a Klärfall is about (CONTRACT §8)."""

    PAGES = "pages"
    FILE = "file"
    MISSING_HOUSEHOLD = "missing_household"
    UNEXPECTED_HOUSEHOLD = "unexpected_household"
    DELIVERY_PROBLEM = "delivery_problem"
    PAGE_COUNT_MISMATCH = "page_count_mismatch"
    QA_DEFECT = "qa_defect"
    MAIL = "mail"


class CaseStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class InputFormat(StrEnum):
    """What an input of a delivery is (CONTRACT §4)."""

    PDF = "pdf"
    #: ``<household>.pdf`` / ``<household>_<volume>.pdf``: one household's file, no cover.
    HOUSEHOLD_PDF = "household-pdf"
    TIFF = "tiff"
    #: The single-page images of one folder, one batch in natural file-name order.
    IMAGE_FOLDER = "image-folder"
    #: One page image on its own: a letter of the incoming mail (``esak mail ingest``).
    IMAGE = "image"
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


#: The volume number of a household's incoming mail (``archive/<site>/<household>/post/``):
#: never a volume of the paper file, which count from 1.
POST_VOLUME = 0
#: The document type of a letter of the incoming mail.
MAIL_DOC_TYPE = "Posteingang"


class MailRoute(StrEnum):
    """How a letter of the incoming mail reached its household (CONTRACT §11)."""

    BARCODE = "barcode"
    TEXT = "text"
    #: a person resolved its Klärfall with ``esak clarify assign``
    ASSIGN = "assign"


class MailReason(StrEnum):
    """Why a letter was not routed by itself: the reason of its Klärfall (CONTRACT §11)."""

    NO_CANDIDATE = "no_candidate"
    AMBIGUOUS = "ambiguous"
    LOW_CONFIDENCE = "low_confidence"
    UNKNOWN_NUMBER = "unknown_number"
    OTHER_SITE = "other_site"
    NEAR_MATCH = "near_match"

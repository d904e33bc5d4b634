"""What a mail delivery came to (``esak mail ingest``'s result), read from the index:
its letters, each filed or a Klärfall, and its files and pages (CONTRACT §5, §11)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from esak.errors import ExitCode
from esak.index import mail as mail_rows
from esak.index.db import Index
from esak.index.deliveries import delivery_report


@dataclass
class MailReport:
    """What a mail delivery came to, as the index records it (CONTRACT §11)."""

    site: str
    delivery: str
    delivery_id: int
    run_id: int
    letters: list[mail_rows.LetterRow]
    files: dict[str, int]
    pages: dict[str, int]
    quarantined_files: list[dict[str, Any]]
    delivery_problems: list[dict[str, Any]]
    documents_written: int = 0
    cases_opened: int = 0
    already_ingested: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def routed(self) -> int:
        return sum(1 for letter in self.letters if letter.household)

    @property
    def cases(self) -> int:
        return sum(1 for letter in self.letters if not letter.household)

    @property
    def ok(self) -> bool:
        return not (self.cases or self.quarantined_files or self.delivery_problems)

    @property
    def exit_code(self) -> ExitCode:
        """0 when every letter was routed (and the delivery is sound), 1 otherwise."""
        return ExitCode.OK if self.ok else ExitCode.PROBLEMS

    def to_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "delivery": self.delivery,
            "delivery_id": self.delivery_id,
            "run_id": self.run_id,
            "ok": self.ok,
            "letters": len(self.letters),
            "routed": self.routed,
            "cases": self.cases,
            "items": [letter.to_item() for letter in self.letters],
            "files": self.files,
            "pages": self.pages,
            "quarantined_files": self.quarantined_files,
            "delivery_problems": self.delivery_problems,
            "documents_written": self.documents_written,
            "cases_opened": self.cases_opened,
            "already_ingested": self.already_ingested,
            "seconds": round(self.seconds, 1),
            "notes": self.notes,
        }


def mail_report(index: Index, site: str, delivery_id: int) -> MailReport:
    """A mail delivery as the index records it: its letters, files and pages."""
    base = delivery_report(index, site, delivery_id)
    return MailReport(
        site=site,
        delivery=base.delivery,
        delivery_id=delivery_id,
        run_id=0,
        letters=mail_rows.delivery_letters(index, delivery_id),
        files=base.files,
        pages=base.pages,
        quarantined_files=base.quarantined_files,
        delivery_problems=base.delivery_problems,
    )

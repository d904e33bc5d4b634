"""Shared fixtures. Real sample scans are read from ../shared/samples, never copied here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parent.parent.parent / "shared" / "samples"


class DefaultRules:
    """Site rules of the contract's default household pattern."""

    key = "default"

    def is_household(self, text: str) -> bool:
        return re.fullmatch(r"\d{5}BG\d{7}", text) is not None


@pytest.fixture
def rules() -> DefaultRules:
    return DefaultRules()


def sample(*parts: str) -> Path:
    path = SAMPLES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"sample {path} not present")
    return path

"""The benchmark's accuracy measure (benchmarks/accuracy.py): CER and the order-free word
miss rate."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

from accuracy import Accuracy

TRUTH = "Bescheid über Leistungen\nzur Sicherung des Lebensunterhalts\nBetrag 412,50 EUR"


def test_reading_blocks_in_another_order_costs_cer_but_misses_no_word():
    reordered = "Betrag 412,50 EUR\nBescheid über Leistungen zur Sicherung des Lebensunterhalts"
    a = Accuracy()
    a.add(reordered, TRUTH)
    assert a.cer > 0.2
    assert a.words == 10 and a.words_missed == 0 and a.word_miss == 0


def test_a_misread_word_and_a_missing_page_count_as_missed():
    a = Accuracy()
    a.add(TRUTH.replace("412,50", "412.5O").replace("\n", "  \n "), TRUTH)
    assert a.words_missed == 1 and 0 < a.cer < 0.05  # whitespace is layout, not an error
    a.add(None, "zwei Wörter")
    assert a.missing == 1 and a.words == 12 and a.words_missed == 3
    assert a.to_dict()["word_miss"] == 3 / 12

"""``ingest --until`` / ``--max-minutes``: when a night run stops taking new work."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from esak.errors import UsageError
from esak.migrate.scheduler import deadline_from, deadline_text

BERLIN = ZoneInfo("Europe/Berlin")


def at(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=BERLIN)


def until(text: str, now: datetime) -> datetime:
    deadline = deadline_from(text, None, now=now)
    assert deadline is not None
    return datetime.fromtimestamp(deadline, BERLIN)


def test_a_cron_job_at_22_00_with_until_05_00_runs_until_tomorrow_morning():
    assert until("05:00", at(1, 22)) == at(2, 5)


def test_a_bare_time_still_ahead_today_is_today():
    assert until("05:00", at(1, 4, 10)) == at(1, 5)
    assert until("23:59", at(1, 8)) == at(1, 23, 59)


def test_a_bare_time_just_passed_is_refused_with_the_dated_form_to_give():
    with pytest.raises(UsageError) as err:
        deadline_from("05:00", None, now=at(1, 5, 30))
    assert err.value.message == (
        "05:00 has passed today (it is 05:30); give a date to mean tomorrow: "
        "--until '02.12.2026 05:00'"
    )
    assert "20 hours" in err.value.remedy


def test_the_same_time_as_now_has_passed():
    with pytest.raises(UsageError, match="has passed today"):
        deadline_from("05:00", None, now=at(1, 5))


@pytest.mark.parametrize(
    ("now", "text", "ahead"),
    [
        (at(1, 9), "04:59", timedelta(hours=19, minutes=59)),  # tomorrow, under 20 hours
        (at(1, 0, 1), "20:00", timedelta(hours=19, minutes=59)),  # today, under 20 hours
    ],
)
def test_a_bare_time_less_than_20_hours_ahead_is_accepted(now, text, ahead):
    assert until(text, now) - now == ahead


@pytest.mark.parametrize(
    ("now", "text", "words", "dated"),
    [
        (at(1, 9), "05:00", "05:00 has passed today (it is 09:00)", "02.12.2026 05:00"),
        (at(1, 2), "23:30", "23:30 is 21.5 hours ahead (it is 02:00)", "01.12.2026 23:30"),
    ],
    ids=["tomorrow, 20 hours ahead", "today, 21.5 hours ahead"],
)
def test_a_bare_time_20_or_more_hours_ahead_is_refused(now, text, words, dated):
    with pytest.raises(UsageError) as err:
        deadline_from(text, None, now=now)
    assert err.value.message.startswith(words)
    assert err.value.message.endswith(f"--until '{dated}'")


@pytest.mark.parametrize("text", ["2026-12-02 05:00", "02.12.2026 05:00", "2026-12-02T05:00"])
def test_a_dated_until_means_that_day_even_a_day_ahead(text):
    assert until(text, at(1, 5, 30)) == at(2, 5)
    assert until(text, at(1, 1)) == at(2, 5)  # 28 hours ahead: the date says so


def test_a_dated_until_in_the_past_is_refused():
    with pytest.raises(UsageError, match=r"has passed \(it is 01\.12\.2026 05:30\)") as err:
        deadline_from("01.12.2026 05:00", None, now=at(1, 5, 30))
    assert err.value.remedy


@pytest.mark.parametrize(
    "text", ["25:00", "5 Uhr", "02.12.2026", "", "06:00:00", "2026-02-30 05:00"]
)
def test_an_until_that_is_no_time_is_a_usage_error_with_a_remedy(text):
    with pytest.raises(UsageError, match="is not a time of day") as err:
        deadline_from(text, None, now=at(1, 22))
    assert "02.12.2026 06:00" in err.value.remedy


def test_the_night_the_clocks_go_forward_is_an_hour_shorter():
    # 29 March 2026, 02:00 CET becomes 03:00 CEST: 22:00 to 05:00 is six hours, not seven.
    now = at(28, 22, month=3)
    assert deadline_from("05:00", None, now=now) == now.timestamp() + 6 * 3600
    assert until("05:00", now).utcoffset() == timedelta(hours=2)


@pytest.fixture
def berlin_clock(monkeypatch):
    """The machine's own time zone set to Europe/Berlin for one test."""
    import time

    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_machines_clock_change_is_known_too(berlin_clock):
    # A naive now is the machine's local time: its rules, not the offset of 22:00, give 05:00.
    now = datetime(2026, 3, 28, 22, 0)
    assert deadline_from("05:00", None, now=now) == now.astimezone().timestamp() + 6 * 3600
    assert deadline_text(deadline_from("05:00", None, now=now)) == "2026-03-29T05:00:00+02:00"


def test_a_fixed_offset_now_reads_until_in_that_offset():
    now = datetime(2026, 12, 1, 22, 0, tzinfo=timezone(timedelta(hours=-5)))
    assert deadline_from("05:00", None, now=now) == now.timestamp() + 7 * 3600


def test_the_earlier_of_until_and_max_minutes_wins():
    now = at(1, 22)
    assert deadline_from("05:00", 30, now=now) == now.timestamp() + 30 * 60
    assert deadline_from("22:10", 30, now=now) == now.timestamp() + 10 * 60
    assert deadline_from(None, None, now=now) is None


def test_without_now_the_local_clock_is_used():
    soon = datetime.now() + timedelta(hours=2)
    deadline = deadline_from(f"{soon:%H:%M}", None)
    assert deadline is not None
    assert 60 * 60 < deadline - datetime.now().timestamp() <= 2 * 60 * 60


def test_deadline_text_is_iso_8601_with_its_utc_offset():
    text = deadline_text(at(2, 5).timestamp())
    assert text is not None
    parsed = datetime.fromisoformat(text)
    assert parsed.utcoffset() is not None and parsed == at(2, 5)
    assert deadline_text(None) is None

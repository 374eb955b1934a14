"""The working calendar's missing years: found, logged, printed and put on the wall."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from gridpulse.clock import parse_local
from gridpulse.loop.calendar import WorkingCalendar, load_calendar
from gridpulse.loop.calendar_years import YearGap, banner, warn_year_gap, year_gap

TZ = "Asia/Shanghai"
BUNDLED = load_calendar()


def at(text: str) -> int:
    return parse_local(text, TZ)


def test_bundled_file_covers_2025_and_2026_only():
    # 2027's schedule was not published when it was written: this test fails (and should
    # be updated) once it is added, as a reminder to check the new entries.
    assert BUNDLED.years == {2025, 2026}
    assert BUNDLED.provisional_years == frozenset()
    assert BUNDLED.source == "holidays.toml (bundled)"


@pytest.mark.parametrize("now, missing", [
    ("2025-06-01T12:00", None),  # 2025 and 2026 both there
    ("2025-12-31T23:59:59", None),
    ("2026-01-01T00:00", (2027,)),  # next year absent all through 2026
    ("2026-12-06T16:00", (2027,)),
    ("2027-02-17T09:00", (2027, 2028)),  # the Spring Festival with no schedule at all
    ("2024-06-01T12:00", (2024,)),
])
def test_missing_years(now, missing):
    gap = year_gap(BUNDLED, at(now), TZ)
    assert (gap and gap.missing) == missing


def test_the_year_is_the_city_zones():
    # 2025-12-31T16:30Z is already 2026-01-01 00:30 in Shanghai, still 2025 in UTC.
    ts = parse_local("2025-12-31T16:30:00+00:00", TZ)
    assert year_gap(BUNDLED, ts, TZ).missing == (2027,)
    assert year_gap(BUNDLED, ts, "UTC") is None


def test_years_of_a_calendar_without_holidays():
    assert WorkingCalendar().years == frozenset()
    assert year_gap(WorkingCalendar(), at("2026-06-01T00:00"), TZ).missing == (2026, 2027)


def test_provisional_entries(tmp_path):
    path = tmp_path / "h.toml"
    path.write_text("[[holidays]]\nname = 'New Year 2026'\nfirst = 2026-01-01\n\n"
                    "[[holidays]]\nname = 'New Year 2027'\nfirst = 2027-01-01\nprovisional = true\n",
                    encoding="utf-8")
    cal = load_calendar(path)
    assert cal.years == {2026, 2027} and cal.provisional_years == {2027}
    assert date(2027, 1, 1) in cal.holidays  # provisional days still count
    gap = year_gap(cal, at("2026-12-06T12:00"), TZ)
    assert gap == YearGap((), (2027,), str(path))
    assert "2027 schedule is marked provisional" in gap.message()
    assert "暂定" in banner(gap)["zh"] and "provisional" in banner(gap)["en"]


def test_provisional_must_be_a_boolean(tmp_path):
    path = tmp_path / "h.toml"
    path.write_text("[[holidays]]\nfirst = 2027-01-01\nprovisional = 'yes'\n", encoding="utf-8")
    with pytest.raises(ValueError, match="provisional"):
        load_calendar(path)


def test_message_says_what_and_how_to_fix():
    msg = year_gap(BUNDLED, at("2026-12-06T12:00"), TZ).message()
    assert msg.startswith("working calendar holidays.toml (bundled): no holiday schedule for 2027")
    assert "GRIDPULSE_HOLIDAYS_FILE" in msg and "\n" not in msg


def test_banner_in_both_languages():
    assert banner(None) is None
    text = banner(YearGap((2027,), (), "holidays.toml (bundled)"))
    assert set(text) == {"zh", "en"}
    assert "2027年节假日安排" in text["zh"] and "GRIDPULSE_HOLIDAYS_FILE" in text["zh"]
    assert "no holiday schedule for 2027" in text["en"]
    assert "2027、2028年" in banner(YearGap((2027, 2028), (), ""))["zh"]


def test_logged_at_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="gridpulse.calendar"):
        assert warn_year_gap(BUNDLED, TZ, at("2026-12-06T12:00")) is not None
        assert warn_year_gap(BUNDLED, TZ, at("2025-06-01T12:00")) is None
    (record,) = caplog.records
    assert record.levelno == logging.WARNING and "2027" in record.getMessage()


def test_rules_load_warns(caplog, tmp_path):
    from gridpulse.loop.facts import Rules
    path = tmp_path / "holidays.toml"
    path.write_text("[[holidays]]\nfirst = 2020-01-01\n", encoding="utf-8")  # long past
    with caplog.at_level(logging.WARNING, logger="gridpulse.calendar"):
        Rules.load("", str(path), TZ)
    (record,) = caplog.records
    assert record.getMessage().startswith(f"working calendar {path}: no holiday schedule for")

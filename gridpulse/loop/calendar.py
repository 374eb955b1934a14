"""Working calendars: how much working time lies between two instants.

Non-urgent case clocks only run during office hours on working days; urgent ones run
24/7. Both kinds answer the same three questions (see :class:`Calendar`), so the SLA
code never needs to know which one it holds.

Times are epoch milliseconds (UTC). Office hours are local wall-clock times in the
calendar's zone; each day's window is converted with the zone's real rules, so a zone
with daylight saving still gets 08:30-17:30 local. The default zone, Asia/Shanghai, has
had no DST since 1991, so every working day there is exactly ``day_ms`` long; that is
what lets a "working day" be a fixed 9 working hours elsewhere in gridpulse.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from gridpulse.clock import DAY_MS, local_day

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_DATE = date(1970, 1, 1)
_MS = timedelta(milliseconds=1)
DEFAULT_HOLIDAYS = Path(__file__).with_name("holidays.toml")


class Calendar(Protocol):
    """What SLA clocks need from a calendar (working hours or 24/7)."""

    working: bool  # True if only office hours count
    day_ms: int  # length of one "day" of this calendar's time

    def is_working(self, ts_ms: int) -> bool: ...
    def add(self, start_ms: int, duration_ms: int) -> int: ...
    def between(self, a_ms: int, b_ms: int) -> int: ...


class Clock24:
    """24/7 time (urgent cases): every millisecond counts, a day is 24 hours."""

    working = False
    day_ms = DAY_MS

    def is_working(self, ts_ms: int) -> bool:
        """Always true."""
        return True

    def add(self, start_ms: int, duration_ms: int) -> int:
        """``start_ms + duration_ms``."""
        if duration_ms < 0:
            raise ValueError("duration_ms must be >= 0")
        return start_ms + duration_ms

    def between(self, a_ms: int, b_ms: int) -> int:
        """``b_ms - a_ms``, or 0 if ``b_ms <= a_ms``."""
        return max(0, b_ms - a_ms)


CLOCK24 = Clock24()


def _hhmm(text: str, key: str) -> time:
    try:
        hh, mm = text.split(":")
        return time(int(hh), int(mm))
    except (ValueError, AttributeError):
        raise ValueError(f"{key}: expected 'HH:MM', got {text!r}") from None


class WorkingCalendar:
    """Office hours on working days in one zone.

    A day works if it is a make-up day (``workdays``, 调休), or else if its weekday is in
    ``weekdays`` (Monday = 0) and it is not in ``holidays``. Working time on such a day
    is ``[day_start, day_end)`` local time.

    ``years`` are the years whose holiday schedule the calendar holds (default: every
    year of a holiday or make-up day); any other year counts as ordinary weeks, which
    :mod:`gridpulse.loop.calendar_years` warns about. ``provisional`` years are held but
    not yet confirmed. ``source`` names where the calendar came from, for messages.
    """

    working = True

    def __init__(self, tz: str = "Asia/Shanghai", day_start: str = "08:30", day_end: str = "17:30",
                 weekdays: Iterable[int] = (0, 1, 2, 3, 4),
                 holidays: Iterable[date] = frozenset(), workdays: Iterable[date] = frozenset(),
                 years: Iterable[int] | None = None, provisional: Iterable[int] = (),
                 source: str = ""):
        self.tz = tz
        self._zone = ZoneInfo(tz)
        self.day_start, self.day_end = _hhmm(day_start, "day_start"), _hhmm(day_end, "day_end")
        if self.day_end <= self.day_start:
            raise ValueError("day_end must be after day_start")
        self.weekdays = frozenset(weekdays)
        if not self.weekdays or not self.weekdays <= set(range(7)):
            raise ValueError(f"weekdays: need a non-empty subset of 0..6, got {sorted(self.weekdays)}")
        self.holidays, self.workdays = frozenset(holidays), frozenset(workdays)
        clash = self.holidays & self.workdays
        if clash:
            raise ValueError(f"days both off and make-up working days: {sorted(clash)}")
        self.years = frozenset({d.year for d in self.holidays | self.workdays} if years is None else years)
        self.provisional_years = frozenset(provisional)
        self.source = source
        # Day indices (days since 1970-01-01) keep the hot loops free of date objects.
        self._off = {(d - _EPOCH_DATE).days for d in self.holidays}
        self._on = {(d - _EPOCH_DATE).days for d in self.workdays}
        self._windows: dict[int, tuple[int, int] | None] = {}
        self.day_ms = (datetime.combine(_EPOCH_DATE, self.day_end)
                       - datetime.combine(_EPOCH_DATE, self.day_start)) // _MS

    def _window(self, day: int) -> tuple[int, int] | None:
        """Working interval [start, end) in epoch ms of local ``day``, None if off."""
        try:
            return self._windows[day]
        except KeyError:
            pass
        win = None
        # 1970-01-01 was a Thursday (weekday 3).
        if day in self._on or (day not in self._off and (day + 3) % 7 in self.weekdays):
            d = _EPOCH_DATE + timedelta(days=day)
            win = tuple((datetime.combine(d, t, tzinfo=self._zone) - _EPOCH) // _MS
                        for t in (self.day_start, self.day_end))
        self._windows[day] = win
        return win

    def is_working(self, ts_ms: int) -> bool:
        """True if ``ts_ms`` falls inside office hours of a working day."""
        win = self._window(local_day(ts_ms, self.tz))
        return win is not None and win[0] <= ts_ms < win[1]

    def add(self, start_ms: int, duration_ms: int) -> int:
        """Earliest instant by which ``duration_ms`` of working time has elapsed since ``start_ms``.

        Counting begins at the next working moment if ``start_ms`` is outside office
        hours. A duration that ends exactly at closing time returns the closing instant
        (not the next morning), and a zero duration returns ``start_ms``.
        Costs one cheap step per calendar day spanned.
        """
        if duration_ms < 0:
            raise ValueError("duration_ms must be >= 0")
        if duration_ms == 0:
            return start_ms
        left, day = duration_ms, local_day(start_ms, self.tz)
        while True:
            win = self._window(day)
            if win is not None:
                s = max(start_ms, win[0])
                if s < win[1]:
                    if left <= win[1] - s:
                        return s + left
                    left -= win[1] - s
            day += 1

    def between(self, a_ms: int, b_ms: int) -> int:
        """Working milliseconds in ``[a_ms, b_ms)``; 0 if ``b_ms <= a_ms``."""
        if b_ms <= a_ms:
            return 0
        total = 0
        for day in range(local_day(a_ms, self.tz), local_day(b_ms - 1, self.tz) + 1):
            win = self._window(day)
            if win is not None:
                total += max(0, min(b_ms, win[1]) - max(a_ms, win[0]))
        return total

    def next_working(self, ts_ms: int) -> int:
        """First working instant at or after ``ts_ms`` (e.g. when a paused clock resumes)."""
        day = local_day(ts_ms, self.tz)
        while True:
            win = self._window(day)
            if win is not None and ts_ms < win[1]:
                return max(ts_ms, win[0])
            day += 1


def check_keys(table: dict, allowed: Iterable[str], where: str) -> None:
    """Raise ValueError naming the first unknown key of a TOML table (typos must not pass)."""
    if not isinstance(table, dict):
        raise ValueError(f"{where.rstrip('.') or 'file'}: expected a table, got {table!r}")
    unknown = sorted(table.keys() - set(allowed))
    if unknown:
        raise ValueError(f"{where}{unknown[0]}: unknown key")


_CAL_KEYS = {"tz", "day_start", "day_end", "weekdays"}
_HOLIDAY_KEYS = {"name", "first", "last", "workdays", "provisional"}


def _date(value: object, key: str) -> date:
    # datetime subclasses date: reject it so "2026-01-01T00:00" is not half-read.
    if type(value) is not date:
        raise ValueError(f"{key}: expected a TOML date like 2026-01-01, got {value!r}")
    return value


def load_calendar(path: str | Path | None = None) -> WorkingCalendar:
    """Read a holidays file (``None``: the bundled ``holidays.toml``) into a calendar.

    Unknown keys raise ValueError naming the key, so a typo cannot silently drop a
    holiday. The calendar's ``years`` are those its entries fall in; an entry with
    ``provisional = true`` makes its years provisional.
    """
    source = f"{DEFAULT_HOLIDAYS.name} (bundled)" if path is None else str(path)
    with open(DEFAULT_HOLIDAYS if path is None else path, "rb") as f:
        doc = tomllib.load(f)
    check_keys(doc, {"calendar", "holidays"}, "")
    cal = doc.get("calendar", {})
    check_keys(cal, _CAL_KEYS, "calendar.")
    off: set[date] = set()
    on: set[date] = set()
    provisional: set[int] = set()
    for i, h in enumerate(doc.get("holidays", [])):
        where = f"holidays[{i}]" + (f" ({h['name']})" if "name" in h else "")
        check_keys(h, _HOLIDAY_KEYS, where + ".")
        if "first" not in h:
            raise ValueError(f"{where}.first: missing")
        first = _date(h["first"], f"{where}.first")
        last = _date(h.get("last", first), f"{where}.last")
        if last < first:
            raise ValueError(f"{where}.last: before first")
        days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
        extra = [_date(d, f"{where}.workdays") for d in h.get("workdays", [])]
        off.update(days)
        on.update(extra)
        flag = h.get("provisional", False)
        if not isinstance(flag, bool):
            raise ValueError(f"{where}.provisional: expected true or false, got {flag!r}")
        if flag:
            provisional.update(d.year for d in days + extra)
    return WorkingCalendar(**cal, holidays=off, workdays=on, provisional=provisional, source=source)

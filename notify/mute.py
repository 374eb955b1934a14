"""Mute windows on the working calendar: when a route's notifications wait.

A window mutes event time ``t`` if any of its conditions holds at ``t`` (local time in
the calendar's zone): ``outside_working_hours`` (nights, weekends, holidays: outside the
calendar's office hours), ``non_working_days`` (weekends and holidays, make-up working
days excepted), ``holidays`` (the statutory holidays only), or one of its ``times``
(``HH:MM-HH:MM``, may run over midnight) on one of its ``weekdays`` (Monday = 0; all
days if none are given). Pure: it takes ``t`` and a calendar.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from gridpulse.clock import local_day
from gridpulse.loop.calendar import WorkingCalendar

_HHMM = re.compile(r"([01]\d|2[0-4]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)")
_EPOCH_DAY = datetime(1970, 1, 1).date()


def parse_times(text: str) -> tuple[int, int]:
    """Minutes since midnight ``(start, end)`` of ``HH:MM-HH:MM``; ValueError otherwise."""
    m = _HHMM.fullmatch(text.strip())
    if m is None:
        raise ValueError(f"expected HH:MM-HH:MM (24-hour clock), got {text!r}")
    h0, m0, h1, m1 = (int(g) for g in m.groups())
    start, end = h0 * 60 + m0, h1 * 60 + m1
    if start > 1440 or end > 1440 or start == end:
        raise ValueError(f"start and end must differ and be at most 24:00, got {text!r}")
    return start, end


@dataclass(frozen=True)
class MuteWindow:
    """A named mute window."""

    name: str
    times: tuple[tuple[int, int], ...] = ()
    weekdays: frozenset[int] = frozenset()
    outside_working_hours: bool = False
    non_working_days: bool = False
    holidays: bool = False

    def mutes(self, t: int, cal: WorkingCalendar) -> bool:
        """Whether event time ``t`` (epoch ms) falls in this window."""
        if self.outside_working_hours and not cal.is_working(t):
            return True
        if self.non_working_days or self.holidays:
            day = local_day(t, cal.tz)
            date = _EPOCH_DAY.fromordinal(_EPOCH_DAY.toordinal() + day)
            if self.holidays and date in cal.holidays:
                return True
            if self.non_working_days and cal._window(day) is None:  # noqa: SLF001 - the calendar's own rule
                return True
        if self.times:
            local = datetime.fromtimestamp(t / 1000, tz=timezone.utc).astimezone(ZoneInfo(cal.tz))
            minute = local.hour * 60 + local.minute
            for start, end in self.times:
                inside = start <= minute < end if start < end else (minute >= start or minute < end)
                # Over midnight, the early hours belong to the window that began the day before.
                wd = local.weekday() if start < end or minute >= start else (local.weekday() - 1) % 7
                if inside and (not self.weekdays or wd in self.weekdays):
                    return True
        return False


def muted(names, windows: dict[str, MuteWindow], t: int, cal: WorkingCalendar) -> str | None:
    """The first of the windows ``names`` that mutes ``t``, or None."""
    for n in names:
        if windows[n].mutes(t, cal):
            return n
    return None

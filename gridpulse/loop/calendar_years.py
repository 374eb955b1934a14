"""Which years the working calendar lacks, and the warning that says so.

A year missing from the holidays file counts as ordinary weeks (Monday to Friday
working), so a deadline that runs over its New Year, Spring Festival or National Day
comes out days early, and a make-up Saturday counts as off. The State Council publishes
each year's schedule in November; until an operator adds it, every process that loads
the rules logs a warning, ``gridpulse settings`` prints it, and the wall shows a banner
(:func:`banner`). A year whose entries are marked ``provisional`` is warned about too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from gridpulse.clock import local_day, now_ms as wall_clock_ms

log = logging.getLogger("gridpulse.calendar")
HOW_TO_FIX = "add it to a holidays file and set GRIDPULSE_HOLIDAYS_FILE (docs/working-calendar.md)"


def _years(years: tuple[int, ...], sep: str) -> str:
    return sep.join(str(y) for y in years)


@dataclass(frozen=True)
class YearGap:
    """This year or the next missing from (or provisional in) the calendar from ``source``."""

    missing: tuple[int, ...]
    provisional: tuple[int, ...]
    source: str

    def message(self) -> str:
        """One line for logs and the command line, in English."""
        parts = []
        if self.missing:
            its = "its" if len(self.missing) == 1 else "their"
            parts.append(f"no holiday schedule for {_years(self.missing, ' and ')}: counted as ordinary "
                         f"Monday-Friday weeks, so SLA deadlines over {its} public holidays will be wrong")
        if self.provisional:
            parts.append(f"the {_years(self.provisional, ' and ')} schedule is marked provisional")
        return f"working calendar {self.source}: {'; '.join(parts)}; {HOW_TO_FIX}"


def year_gap(calendar, now_ms: int, tz: str) -> YearGap | None:
    """What the calendar lacks of the year of ``now_ms`` in zone ``tz`` and the next, or None.

    ``calendar`` needs ``years``, ``provisional_years`` and ``source``
    (:class:`~gridpulse.loop.calendar.WorkingCalendar`).
    """
    year = (date(1970, 1, 1) + timedelta(days=local_day(now_ms, tz))).year
    wanted = (year, year + 1)
    missing = tuple(y for y in wanted if y not in calendar.years)
    provisional = tuple(y for y in wanted if y in calendar.provisional_years and y not in missing)
    if not missing and not provisional:
        return None
    return YearGap(missing, provisional, calendar.source)


def banner(gap: YearGap | None) -> dict[str, str] | None:
    """The wall's warning in each language (``zh``, ``en``), or None if nothing is lacking."""
    if gap is None:
        return None
    zh, en = [], []
    if gap.missing:
        zh.append(f"工作日历缺少{_years(gap.missing, '、')}年节假日安排，涉及节假日的办理时限按普通工作周计算，可能有误")
        en.append(f"The working calendar has no holiday schedule for {_years(gap.missing, ' and ')}: "
                  f"deadlines running over public holidays count ordinary weeks and may be wrong")
    if gap.provisional:
        zh.append(f"{_years(gap.provisional, '、')}年节假日安排为暂定")
        en.append(f"the {_years(gap.provisional, ' and ')} schedule is provisional")
    return {"zh": "；".join(zh) + "。请补充（GRIDPULSE_HOLIDAYS_FILE）。",
            "en": "; ".join(en) + ". Add it (GRIDPULSE_HOLIDAYS_FILE)."}


def warn_year_gap(calendar, tz: str, now_ms: int | None = None) -> YearGap | None:
    """Log :func:`year_gap` at WARNING (now: the wall clock) and return it."""
    gap = year_gap(calendar, wall_clock_ms() if now_ms is None else now_ms, tz)
    if gap is not None:
        log.warning("%s", gap.message())
    return gap

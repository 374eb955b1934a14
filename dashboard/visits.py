"""Glue between the dashboard and the visit views: households per area, dates, formats.

:class:`gridpulse.visit_views.VisitView` needs the households of any area; they are
facts of the city model (``Grid.households``), summed once at app start for every area
code by ``area_households``, so a KPI read costs a dict lookup. Dates travel as ``YYYY-MM-DD`` (local calendar
days of ``GRIDPULSE_TZ``) and map to the day numbers the views key by (local days since
1970-01-01).
"""

from __future__ import annotations

import re
from datetime import date

from gridpulse.city import CityModel
from gridpulse.clock import local_day
from gridpulse.views import LiveView
from gridpulse.visit_views import VisitView, area_households

_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_EPOCH = date(1970, 1, 1).toordinal()


def visit_view(live: LiveView, city: CityModel) -> VisitView:
    """A VisitView whose household totals come from ``city`` (0 for an unknown code)."""
    hh = area_households(city)
    return VisitView(live, lambda code: hh.get(code, 0))


def parse_date(text: str | None) -> int | None:
    """The day number of a ``YYYY-MM-DD`` date; None if malformed or not a calendar date."""
    if not text or not _DATE.match(text):
        return None
    try:
        return date.fromisoformat(text).toordinal() - _EPOCH
    except ValueError:
        return None


def day_date(day: int) -> str:
    """``YYYY-MM-DD`` of a day number (the inverse of :func:`parse_date`)."""
    return date.fromordinal(day + _EPOCH).isoformat()


def gps_day(visits: VisitView, tz: str) -> int | None:
    """The local day of the GPS clock (the newest fix applied); None before any fix."""
    now = visits.now()
    return local_day(now, tz) if now else None


def km(dist_m: float) -> str:
    """A distance as the replay page shows it: kilometres with two decimals."""
    return f"{dist_m / 1000:.2f}"


def hmm(ms: int) -> str:
    """A duration as ``h:mm`` (whole minutes, rounded down)."""
    minutes = max(0, int(ms)) // 60_000
    return f"{minutes // 60}:{minutes % 60:02d}"

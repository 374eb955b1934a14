"""The drill-down's HTTP JSON API: ``GET /api/area/<code>`` (an area page's data).

``/api/area/<code>[?category=&dept=&stage=&overdue=true|false&limit=N]`` answers
:func:`dashboard.drill_data.area_page`: the area's breadcrumbs, case KPIs (at the event
watermark), visit KPIs (at the GPS clock), its children's headline figures and its open
cases filtered and sorted most late first (``total`` counts every match, ``rows`` the
first ``limit``). Same conventions as api.py: UTF-8 JSON, ``Cache-Control: no-store``,
``watermark``/``day``/``date``, ``freshness`` (figures of a stream with nothing whole to
read are ``null``); 400 naming a bad filter, 404 naming an unknown code, 503 naming
``redis`` while Redis does not answer.
"""

from __future__ import annotations

from flask import Flask, request

from gridpulse.city import CityModel
from gridpulse.clock import fmt_local, local_day
from gridpulse.views import LiveView
from gridpulse.visit_views import VisitView

from . import drill_data
from .api import RedisWatch, _json

PREFIX = "/api"


def area_doc(city: CityModel, view: LiveView, visits: VisitView, tz: str, code: str, args,
             watch: RedisWatch | None = None) -> tuple[dict, int]:
    """``(answer, status)`` of ``/api/area/<code>`` for query ``args`` (a mapping)."""
    try:
        city.area(code)
    except KeyError:
        return {"error": f"unknown area code {code!r}", "field": "code"}, 404
    try:
        filters, limit = drill_data.parse_filters(args)
    except drill_data.FilterError as err:
        return {"error": err.message, "field": err.field}, 400
    fresh = (watch or RedisWatch(view)).fresh()
    doc = drill_data.area_page(city, view, visits, code, filters, limit=limit, fresh=fresh)
    wm = doc["watermark"]
    doc["day"] = local_day(wm, tz) if wm else 0
    doc["date"] = fmt_local(wm, tz, "%Y-%m-%d") if wm else None
    doc["filters"] = {**filters, "limit": limit}
    doc["freshness"] = fresh.as_dict()
    return doc, 200


def register(server: Flask, view: LiveView, city: CityModel, tz: str,
             visits: VisitView, watch: RedisWatch | None = None) -> None:
    """Add ``/api/area/<code>`` to the wall's Flask ``server`` (before api.py's catch-all
    is irrelevant: Flask prefers the more specific rule)."""

    def area(code: str):
        doc, status = area_doc(city, view, visits, tz, code, request.args, watch)
        return _json(doc, status)

    server.add_url_rule(f"{PREFIX}/area/<code>", "gridpulse_drill_area", area, methods=["GET"])

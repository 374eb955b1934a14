"""The HTTP JSON API, served by the wall's Flask server beside the page.

Read-only endpoints over :class:`gridpulse.views.LiveView` and
:class:`gridpulse.visit_views.VisitView` (the same readers the wall uses, so an answer
and the wall agree at one watermark):

- ``GET /api/kpi/<level>/<code>[?minutes=N]``: an area's KPIs, stage times, score;
- ``GET /api/departments[?area=CODE]``: per department of the city or a district;
- ``GET /api/score/<kind>/<code>[?days=7&area=CODE]``: one performance score;
- ``GET /api/case/<case id>``: one case's full record;
- ``GET /api/visits/<level>/<code>``: an area's visit KPIs (workers out, coverage...);
- ``GET /api/track/<terminal>/<YYYY-MM-DD>``, ``GET /api/worker/<worker>/<YYYY-MM-DD>``:
  one terminal-day for replay (summary, route, stays);
- ``GET /api/workers/<grid>/<YYYY-MM-DD>``: the day summaries of a grid's terminals.

Every answer is UTF-8 JSON with ``ensure_ascii=False`` (names stay readable Chinese);
an error is ``{"error": message, "field": name}`` with 400 (a bad parameter) or 404
(an unknown area or route), so a client can point at the field it got wrong. Every
successful answer carries ``freshness`` (:mod:`gridpulse.freshness`: the state of the
views and the age of their data), and figures nobody has computed yet are ``null``,
never 0. While Redis cannot be read, every endpoint answers 503 ``{"error", "field":
"redis"}`` with ``Retry-After`` (:class:`RedisWatch`). The contract, with examples, is
docs/contract.md, section "HTTP JSON API".
"""

from __future__ import annotations

import json
import logging
import re
import threading

from flask import Blueprint, Flask, Response, request

from gridpulse.catalog import DEPARTMENTS
from gridpulse.city import CityModel
from gridpulse.city.model import LEVELS
from gridpulse.clock import fmt_local, local_day
from gridpulse.freshness import CASE, GPS, Freshness, Limits
from gridpulse.loop import scores
from gridpulse.views import UNREACHABLE, LiveView, unknown_kpis
from gridpulse.visit_views import VisitView, unknown_visit_kpis

from .visits import day_date, parse_date

PREFIX = "/api"
MINUTES = (1, 1440)  # per-minute series: a minute up to a day (archiving removes older newmin counters)
DAYS = (1, 31)  # score window: a day up to a month (the longest usual assessment period)
SCORED_LEVELS = ("city", "district", "town")  # levels whose KPI answer carries a score
SCORE_KINDS = ("department", "town", "worker")
# Worker ids have no registry to check against; only keep the key space clean.
_WORKER_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_CASE_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
# Seconds a client is asked to wait when the views cannot be read (Redis away, or the
# data a lookup needs not built yet): a few worker heartbeats.
RETRY_AFTER_S = 5
log = logging.getLogger(__name__)


class ApiError(Exception):
    """A request the API refuses: HTTP ``status`` and the ``field`` at fault; ``retry_after``
    (seconds) when asking again later may succeed, ``extra`` more fields of the body."""

    def __init__(self, status: int, field: str, message: str, retry_after: int | None = None,
                 extra: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.field, self.message = status, field, message
        self.retry_after, self.extra = retry_after, extra or {}

    def response(self) -> Response:
        """The error as the API answers it."""
        resp = _json({"error": self.message, "field": self.field, **self.extra}, self.status)
        if self.retry_after is not None:
            resp.headers["Retry-After"] = str(self.retry_after)
        return resp


def _json(doc: dict, status: int = 200) -> Response:
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
    resp = Response(body, status=status, content_type="application/json; charset=utf-8")
    # Live figures: a cache must never serve yesterday's (or the last second's) answer.
    resp.headers["Cache-Control"] = "no-store"
    return resp


class RedisWatch:
    """The API's view of Redis: the freshness of every answer, and one log line when
    Redis stops answering and one when it answers again (not one per request)."""

    def __init__(self, view: LiveView, limits: Limits = Limits()) -> None:
        self.view, self.limits = view, limits
        self._down = False
        self._lock = threading.Lock()

    def fresh(self) -> Freshness:
        """The views' freshness now; raises what redis-py raises when Redis is away."""
        try:
            got = self.view.freshness(self.limits)
        except UNREACHABLE as err:
            self.lost(err)
            raise
        self.back()
        return got

    def lost(self, err: Exception) -> None:
        """Redis did not answer (``err``): said once per outage."""
        with self._lock:
            if self._down:
                return
            self._down = True
        log.warning("Redis cannot be read (%s); the API answers 503 until it can", type(err).__name__)

    def back(self) -> None:
        """Redis answered."""
        with self._lock:
            if not self._down:
                return
            self._down = False
        log.info("Redis answers again; the API is back")

    def unavailable(self, err: Exception) -> Response:
        """The 503 answer to a request that met ``err`` (Redis unreachable)."""
        self.lost(err)
        return ApiError(503, "redis", "the live views cannot be read: Redis does not answer "
                                      f"({type(err).__name__}); try again later",
                        retry_after=RETRY_AFTER_S).response()

    def install(self, server: Flask) -> None:
        """Answer every request of ``server`` that meets an unreachable Redis (API or Dash
        callback) with the 503, instead of a 500 page and a traceback in the log."""
        for exc in UNREACHABLE:
            server.register_error_handler(exc, self.unavailable)


def no_data(kind: str, fresh: Freshness) -> ApiError:
    """The 503 of a lookup (a case, a track) whose data is not built yet: a 404 would
    say it does not exist, which nobody knows until the views are whole."""
    what = "case" if kind == CASE else "GPS"
    return ApiError(503, "data", f"no {what} data to look in yet (views {fresh.state}); try again later",
                    retry_after=RETRY_AFTER_S, extra={"freshness": fresh.as_dict()})


def _int_arg(name: str, default: int, bounds: tuple[int, int]) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    lo, hi = bounds
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, name, f"{name} must be an integer in {lo}..{hi}, got {raw!r}") from None
    if not lo <= value <= hi:
        raise ApiError(400, name, f"{name} must be an integer in {lo}..{hi}, got {value}")
    return value


class Api:
    """The endpoints, bound to one view, city model and time zone."""

    def __init__(self, view: LiveView, city: CityModel, tz: str, rules=None,
                 visits: VisitView | None = None, watch: RedisWatch | None = None) -> None:
        self.view, self.city, self.tz, self.rules = view, city, tz, rules
        self.visits = visits
        self.watch = watch or RedisWatch(view)

    def _fresh(self) -> tuple[Freshness, dict]:
        """The views' freshness (read before the figures, so they are at least this
        fresh) and the ``freshness`` field of the answer."""
        fresh = self.watch.fresh()
        return fresh, {"freshness": fresh.as_dict()}

    def _clock(self) -> tuple[int, int, dict]:
        """Watermark, its local day, and the time fields every answer carries."""
        wm = self.view.watermark()
        day = local_day(wm, self.tz) if wm else 0
        return wm, day, {"watermark": wm, "day": day,
                         "date": fmt_local(wm, self.tz, "%Y-%m-%d") if wm else None}

    def _area(self, code: str, field: str = "code", status: int = 404):
        try:
            return self.city.area(code)
        except KeyError:
            raise ApiError(status, field, f"unknown area code {code!r}") from None

    def _city_or_district(self, code: str, field: str = "area"):
        area = self._area(code, field, status=400)
        if area.level not in ("city", "district"):
            raise ApiError(400, field, f"{field} must be the city or a district, "
                                       f"{code!r} is a {area.level}")
        return area

    def _level_area(self, level: str, code: str):
        if level not in LEVELS:
            raise ApiError(400, "level", f"level must be one of {', '.join(LEVELS)}, got {level!r}")
        area = self._area(code)
        if area.level != level:
            raise ApiError(400, "level", f"{code} is a {area.level}, not a {level}")
        return area

    def kpi(self, level: str, code: str) -> dict:
        area = self._level_area(level, code)
        minutes = _int_arg("minutes", 60, MINUTES)
        fresh, f = self._fresh()
        # One watermark for every figure: kpis at it, the stage times and score of its day.
        wm, day, when = self._clock()
        head = {"level": level, "code": code, "name": area.name, **when}
        if not fresh.has(CASE):
            doc = {**unknown_kpis(code), **head, "minutes": minutes, "stage_times": None, **f}
            if level in SCORED_LEVELS:
                doc["score"] = None
            return doc
        # LiveView.kpis sums new_last_hour from the series it reads, so read at least an
        # hour and cut the series afterwards (else ?minutes=5 would shrink the hour).
        k = self.view.kpis(code, minutes=max(minutes, 60), now=wm)
        doc = {**head, **k.as_dict(),
               "per_minute": k.per_minute[-minutes:], "minutes": minutes,
               # Stage durations are counted for districts and the city only (facts.py):
               # below, every stage has count 0 - documented, not hidden.
               "stage_times": self.view.stage_times(code, day), **f}
        if level in SCORED_LEVELS:
            doc["score"] = self.view.score("town", code, day)
        return doc

    def departments(self) -> dict:
        code = request.args.get("area") or self.city.code
        area = self._city_or_district(code)
        fresh, f = self._fresh()
        _, day, when = self._clock()
        rows = None
        if fresh.has(CASE):
            rows = [{**row, "name": DEPARTMENTS[row["dept"]].name}
                    for row in self.view.departments(code, day)]
        return {"area": code, "area_name": area.name, **when, "departments": rows, **f}

    def score(self, kind: str, code: str) -> dict:
        if kind not in SCORE_KINDS:
            raise ApiError(400, "kind", f"kind must be one of {', '.join(SCORE_KINDS)}, got {kind!r}")
        days = _int_arg("days", 7, DAYS)
        area = request.args.get("area") or None
        if kind == "department":
            if code not in DEPARTMENTS:
                raise ApiError(404, "code", f"unknown department {code!r}")
            area = area or self.city.code
            self._city_or_district(area)
        else:
            # A town or worker score has no department scope; refusing beats ignoring.
            if area is not None:
                raise ApiError(400, "area", "area applies to department scores only")
            if kind == "town":
                self._area(code)
            elif not _WORKER_ID.match(code):
                raise ApiError(400, "code", f"not a worker id: {code!r}")
        fresh, f = self._fresh()
        _, day, when = self._clock()
        if fresh.has(CASE):
            got = self.view.score(kind, code, day, days=days, area=area)
        else:
            got = {"kind": kind, "code": code, "days": days, "score": None,
                   **{name: None for name in scores.Inputs.__dataclass_fields__}}
        doc = {**when, **got, **f}
        if kind == "department":
            doc["area"] = area
        return doc

    def case(self, case_id: str) -> dict:
        if not _CASE_ID.match(case_id):
            raise ApiError(400, "case", f"not a case id: {case_id!r}")
        fresh, f = self._fresh()
        if not fresh.has(CASE):
            raise no_data(CASE, fresh)
        doc = self.view.case(case_id, self.rules)
        if doc is None:
            raise ApiError(404, "case", f"unknown case {case_id!r} (or archived: closed, newest event more than GRIDPULSE_CASE_KEEP_DAYS ago)")
        g = self.city.grid(doc["grid"])
        doc["area"] = {lvl: {"code": c, "name": self.city.area(c).name}
                       for lvl, c in (("grid", g.code), ("community", g.community),
                                      ("town", g.town), ("district", g.district))}
        return {**doc, **f}

    # -- visits (the GPS stream) -----------------------------------------------------
    def _gps_clock(self, wm: int) -> dict:
        """The GPS clock ``wm`` (newest fix applied) as ``watermark``, its day and date."""
        day = local_day(wm, self.tz) if wm else 0
        return {"watermark": wm, "day": day,
                "date": fmt_local(wm, self.tz, "%Y-%m-%d") if wm else None}

    @staticmethod
    def _day(text: str) -> int:
        day = parse_date(text)
        if day is None:
            raise ApiError(400, "date", f"date must be a calendar date YYYY-MM-DD, got {text!r}")
        return day

    @staticmethod
    def _id(field: str, value: str) -> str:
        if not _WORKER_ID.match(value):
            raise ApiError(400, field, f"not a {field} id: {value!r}")
        return value

    def visit_kpis(self, level: str, code: str) -> dict:
        area = self._level_area(level, code)
        fresh, f = self._fresh()
        # One GPS clock for every figure (kpis would read it again otherwise).
        wm = self.visits.now()
        head = {"level": level, "code": code, "name": area.name, **self._gps_clock(wm)}
        if not fresh.has(GPS):
            return {**unknown_visit_kpis(code, self.visits.households_of(code)), **head, **f}
        return {**head, **self.visits.kpis(code, now=wm), **f}

    def _terminal_day(self, terminal: str, day: int, f: dict) -> dict | None:
        tr = self.visits.track(terminal, day)
        if tr is None:
            return None
        return {"terminal": terminal, "worker": tr["summary"]["worker"],
                "watermark": self.visits.now(), "day": day, "date": day_date(day), **tr, **f}

    def _gps_fresh(self) -> dict:
        """The ``freshness`` field of a GPS lookup; the 503 while there is no GPS data."""
        fresh, f = self._fresh()
        if not fresh.has(GPS):
            raise no_data(GPS, fresh)
        return f

    def track(self, terminal: str, date: str) -> dict:
        self._id("terminal", terminal)
        day = self._day(date)
        doc = self._terminal_day(terminal, day, self._gps_fresh())
        if doc is None:
            raise ApiError(404, "terminal", f"no track of terminal {terminal!r} on {date}")
        return doc

    def worker_track(self, worker: str, date: str) -> dict:
        self._id("worker", worker)
        day = self._day(date)
        f = self._gps_fresh()
        terminal = self.visits.terminal_of(worker, day)
        doc = self._terminal_day(terminal, day, f) if terminal else None
        if doc is None:
            raise ApiError(404, "worker", f"no track of worker {worker!r} on {date}")
        return doc

    def grid_workers(self, grid: str, date: str) -> dict:
        area = self._area(grid, "grid")
        if area.level != "grid":
            raise ApiError(400, "grid", f"{grid} is a {area.level}, not a grid")
        day = self._day(date)
        fresh, f = self._fresh()
        rows = None
        if fresh.has(GPS):
            rows = sorted((s for s in self.visits.days(day).values() if s["grid"] == grid),
                          key=lambda s: s["terminal"])
        return {"grid": grid, "name": area.name, "watermark": self.visits.now(), "day": day,
                "date": day_date(day), "terminals": rows, **f}


def register(server: Flask, view: LiveView, city: CityModel, tz: str, rules=None,
             visits: VisitView | None = None, watch: RedisWatch | None = None) -> None:
    """Add the ``/api`` routes to the wall's Flask ``server`` (and the 503 of an
    unreachable Redis to every request it serves)."""
    watch = watch or RedisWatch(view)
    watch.install(server)
    api = Api(view, city, tz, rules, visits, watch)
    bp = Blueprint("gridpulse_api", __name__, url_prefix=PREFIX)

    def route(rule: str, fn):
        def handler(**kw):
            return _json(fn(**kw))
        bp.add_url_rule(rule, fn.__name__, handler, methods=["GET"])

    route("/kpi/<level>/<code>", api.kpi)
    route("/departments", api.departments)
    route("/score/<kind>/<code>", api.score)
    route("/case/<case_id>", api.case)
    if visits is not None:
        route("/visits/<level>/<code>", api.visit_kpis)
        route("/track/<terminal>/<date>", api.track)
        route("/worker/<worker>/<date>", api.worker_track)
        route("/workers/<grid>/<date>", api.grid_workers)

    # Dash answers every unknown path with the page (for client-side routing); under
    # /api a typo must be a JSON 404, not 200 with HTML.
    @bp.route("/", defaults={"rest": ""})
    @bp.route("/<path:rest>")
    def _unknown(rest: str):
        raise ApiError(404, "path", f"no such endpoint: {request.path}")

    @bp.errorhandler(ApiError)
    def _refused(err: ApiError):
        return err.response()

    server.register_blueprint(bp)

    # A wrong method fails in routing, before any blueprint handler could run, so this
    # one sits on the app and answers JSON only under /api.
    @server.errorhandler(405)
    def _method(err):
        if not request.path.startswith(PREFIX + "/"):
            return err
        return _json({"error": f"{request.method} not allowed: the API is read-only (GET)",
                      "field": "method"}, 405)

"""The HTTP JSON API on the wall's server: every figure is LiveView's, at one watermark.

Same filled Redis as the wall test (one simulated working day through the real
processors, shared via :func:`tests.integration.test_dashboard.filled_day`), the Dash
app served in a thread, plain HTTP requests. Redis is left alone after the fill, so an
answer must equal LiveView's figures at the watermark the answer names.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from gridpulse.catalog import DEPARTMENTS
from gridpulse.city import load_city
from gridpulse.clock import local_day
from gridpulse.loop import record
from gridpulse.rkeys import CASE, GPS
from gridpulse.views import LiveView

from .test_dashboard import TZ, filled_day, serve_wall

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def city():
    return load_city("ningbo")


@pytest.fixture(scope="module")
def api(redis_url):
    url = filled_day(redis_url)
    with serve_wall(url) as (base, cfg):
        yield base, LiveView.from_url(url, cfg.redis_prefix, TZ)


def get(base: str, path: str, method: str = "GET") -> tuple[int, dict, bytes]:
    """``(status, headers, body)`` of one request (no exception for 4xx)."""
    req = urllib.request.Request(base + path, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def get_json(base: str, path: str, status: int = 200) -> dict:
    code, headers, body = get(base, path)
    assert code == status, (path, code, body[:300])
    assert headers["Content-Type"] == "application/json; charset=utf-8", headers
    return json.loads(body.decode("utf-8"))


def busiest(view: LiveView, codes: list[str]) -> str:
    """The area among ``codes`` that closed the most cases today (so figures are not all 0)."""
    day = local_day(view.watermark(), TZ)
    closed = view.counters([f"closed|{c}|{day}" for c in codes])
    return max(zip(closed, codes))[1]


@pytest.fixture(scope="module")
def areas(api, city):
    """One area per level, each with closures today: ``[(level, code), ...]``."""
    _, view = api
    district = busiest(view, [d.code for d in city.districts])
    town = busiest(view, city.children(district))
    grid = busiest(view, city.grids_of(town))
    community = city.grid(grid).community
    return [("city", city.code), ("district", district), ("town", town),
            ("community", community), ("grid", grid)]


def test_kpi_equals_liveview(api, areas, city):
    base, view = api
    for level, code in areas:
        doc = get_json(base, f"/api/kpi/{level}/{code}")
        wm = doc["watermark"]
        day = local_day(wm, TZ)
        assert wm == view.watermark() and doc["day"] == day and doc["date"] == "2026-11-27"
        assert (doc["level"], doc["code"], doc["name"]) == (level, code, city.area(code).name)
        k = view.kpis(code, now=wm)
        for key, value in k.as_dict().items():
            assert doc[key] == value, (level, key)
        assert doc["minutes"] == 60 and len(doc["per_minute"]) == 60
        assert doc["stage_times"] == view.stage_times(code, day)
        if level in ("city", "district", "town"):
            assert doc["score"] == view.score("town", code, day)
            assert doc["score"]["score"] is not None
        else:
            assert "score" not in doc
        assert k.closed_today > 0, (level, code)
    city_doc = get_json(base, f"/api/kpi/city/{city.code}")
    assert city_doc["overdue"] > 0 and city_doc["on_time_rate"] is not None
    assert city_doc["satisfaction_rate"] is not None
    assert city_doc["stage_times"]["handle"]["count"] > 0


def test_kpi_minutes(api, areas):
    base, view = api
    level, code = areas[1]  # the district: per-minute counts are kept for districts
    hour = view.kpis(code).new_last_hour
    assert hour > 0
    for n in (1, 15, 1440):
        doc = get_json(base, f"/api/kpi/{level}/{code}?minutes={n}")
        assert doc["minutes"] == n
        assert doc["per_minute"] == view.kpis(code, minutes=n, now=doc["watermark"]).per_minute
        assert doc["new_last_hour"] == hour  # the series length does not change the hour
    assert sum(doc["per_minute"]) == doc["new_today"]  # 1440 minutes cover the whole day


def test_departments_equal_liveview(api, areas, city):
    base, view = api
    district = areas[1][1]
    for query, area in (("", city.code), (f"?area={city.code}", city.code),
                        (f"?area={district}", district)):
        code, _, raw = get(base, "/api/departments" + query)
        assert code == 200
        doc = json.loads(raw)
        day = local_day(doc["watermark"], TZ)
        assert doc["area"] == area and doc["area_name"] == city.area(area).name
        rows = doc["departments"]
        assert [r.pop("name") for r in rows] == [DEPARTMENTS[r["dept"]].name for r in rows]
        assert rows == view.departments(area, day)
        assert any(r["score"] is not None for r in rows)
        # Chinese travels as UTF-8, not as \u escapes.
        assert DEPARTMENTS[rows[0]["dept"]].name.encode() in raw


def _busiest_worker(view: LiveView, day: int) -> str:
    fields = set()
    for p in view.partitions(CASE):
        fields |= {f.decode() for f in view.r.hkeys(view.k.kpi(p)) if f.startswith(b"w:closed|")}
    workers = sorted({f.split("|")[1] for f in fields if f.endswith(f"|{day}")})
    closed = view.counters([f"w:closed|{w}|{day}" for w in workers])
    return max(zip(closed, workers))[1]


def test_scores_equal_liveview(api, areas):
    base, view = api
    day = local_day(view.watermark(), TZ)
    district, town = areas[1][1], areas[2][1]
    worker = _busiest_worker(view, day)
    cases = [("department", "sanitation", "", {}),
             ("department", "urban", f"&area={district}", {"area": district}),
             ("town", town, "", {}), ("town", district, "", {}),
             ("worker", worker, "", {})]
    for kind, code, extra, kw in cases:
        for days in (7, 1):
            doc = get_json(base, f"/api/score/{kind}/{code}?days={days}{extra}")
            assert doc["watermark"] == view.watermark()
            expected = view.score(kind, code, day, days=days, **kw)
            assert {k: doc[k] for k in expected} == expected, (kind, code, days)
    # Default window is 7 days, default department area the city.
    doc = get_json(base, "/api/score/department/sanitation")
    assert doc["days"] == 7 and doc["area"] == "330200"
    assert doc["score"] is not None


@pytest.mark.parametrize("path, status, field", [
    ("/api/kpi/county/330203", 400, "level"),
    ("/api/kpi/town/330203", 400, "level"),  # a district's code under the wrong level
    ("/api/kpi/district/999999", 404, "code"),
    ("/api/kpi/city/330200?minutes=0", 400, "minutes"),
    ("/api/kpi/city/330200?minutes=1441", 400, "minutes"),
    ("/api/kpi/city/330200?minutes=ten", 400, "minutes"),
    ("/api/departments?area=330203001", 400, "area"),  # a town
    ("/api/departments?area=nowhere", 400, "area"),
    ("/api/score/team/330203", 400, "kind"),
    ("/api/score/town/330203?days=0", 400, "days"),
    ("/api/score/town/330203?days=32", 400, "days"),
    ("/api/score/town/330203?days=x", 400, "days"),
    ("/api/score/town/330203?area=330203", 400, "area"),
    ("/api/score/department/sanitation?area=330203001", 400, "area"),
    ("/api/score/department/nope", 404, "code"),
    ("/api/score/town/123", 404, "code"),
    ("/api/score/worker/W%20x", 400, "code"),
    ("/api/nope", 404, "path"),
    ("/api/kpi/city", 404, "path"),
    ("/api/", 404, "path"),
])
def test_errors_name_the_field(api, path, status, field):
    base, _ = api
    doc = get_json(base, path, status)
    assert doc["field"] == field and doc["error"], doc


def test_methods_and_unknown_routes(api):
    base, _ = api
    code, headers, body = get(base, "/api/kpi/city/330200", method="POST")
    assert code == 405 and json.loads(body)["field"] == "method"
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    # Outside /api the wall keeps Dash's behaviour; the static route still 404s.
    assert get(base, "/gp/static/nope/x.json")[0] == 404


def test_department_backlog_adds_up(api, city):
    """Every open case is with one department or none yet (``d:-``): the rows must add up."""
    base, view = api
    doc = get_json(base, "/api/departments")
    unassigned_open, unassigned_overdue = view.counters([f"open|{city.code}|d:-",
                                                        f"overdue|{city.code}|d:-"])
    k = view.kpis(city.code, now=doc["watermark"])
    assert sum(r["open"] for r in doc["departments"]) + unassigned_open == k.open
    assert sum(r["overdue"] for r in doc["departments"]) + unassigned_overdue == k.overdue


def test_case_history_with_who_when_where_what_and_its_clocks(api, city):
    base, view = api
    case = next(cid.decode() for p in view.partitions(CASE)
                for cid, raw in view.r.hscan_iter(view.k.cases(p))
                if record.DECODER.decode(raw).history[-1].type == "evaluated")
    doc = get_json(base, f"/api/case/{case}")
    assert doc == {**view.case(case, doc_rules()), "area": doc["area"], "freshness": doc["freshness"]}
    steps = [h["type"] for h in doc["history"]]
    assert steps[0] == "reported" and steps[-1] == "evaluated"
    assert [h["ts"] for h in doc["history"]] == sorted(h["ts"] for h in doc["history"])
    first = doc["history"][0]
    assert first["actor"] and first["terminal"] and first["lon"] and first["lat"]  # who, where
    assert doc["area"]["district"]["code"] == city.grid(doc["grid"]).district
    assert {c["name"] for c in doc["clocks"]} >= {"dispatch", "handle", "verify"}
    assert all(c["status"] in ("met", "missed") for c in doc["clocks"])  # all stopped
    assert doc["open"] is False and doc["satisfaction"] in (1, 2, 3, 4, 5)


def test_case_errors_name_the_field(api):
    base, _ = api
    assert get_json(base, "/api/case/NOPE-1", 404)["field"] == "case"
    assert get_json(base, "/api/case/bad%20id", 400)["field"] == "case"


def doc_rules():
    from gridpulse.loop.facts import Rules
    return Rules.load("", "", TZ)


# -- visits: /api/visits, /api/track, /api/worker, /api/workers ------------------------

@pytest.fixture(scope="module")
def visits(api, city):
    from dashboard.visits import visit_view
    _, view = api
    return visit_view(view, city)


def _gps_counters(view: LiveView, fields: list[str]) -> list[int]:
    """Visit counters summed over the GPS partitions, read from Redis here (not via VisitView)."""
    total = [0] * len(fields)
    for p in view.partitions(GPS):
        for i, v in enumerate(view.r.hmget(view.k.gkpi(p), fields)):
            total[i] += int(v or 0)
    return total


@pytest.fixture(scope="module")
def busy_terminal(visits):
    """The terminal-day with the most visits on the GPS clock's day: ``(day, summary)``."""
    day = local_day(visits.now(), TZ)
    days = visits.days(day)
    assert days, "no terminal-days: the fill made no tracks"
    return day, max(days.values(), key=lambda s: (s["visits"], s["terminal"]))


def test_visit_kpis_add_up(api, visits, city, busy_terminal):
    base, view = api
    day, busy = busy_terminal
    grid = busy["grid"]
    district = city.grid(grid).district
    areas = [("city", city.code), ("district", district), ("town", city.grid(grid).town),
             ("community", city.grid(grid).community), ("grid", grid)]
    summaries = visits.days(day).values()
    for level, code in areas:
        doc = get_json(base, f"/api/visits/{level}/{code}")
        wm = doc["watermark"]
        assert wm == visits.now() and doc["day"] == day == local_day(wm, TZ)
        assert doc["date"] == "2026-11-27" and (doc["level"], doc["code"]) == (level, code)
        assert doc["name"] == city.area(code).name
        assert {k: doc[k] for k in visits.kpis(code, now=wm)} == visits.kpis(code, now=wm)
        # Households are the city model's; coverage is households visited over them, and
        # both add up over the area's grids (counters read straight from Redis).
        gs = city.grids_of(code)
        assert doc["households"] == sum(city.grid(g).households for g in gs)
        for window, name in (("today", "cov1"), ("week", "cov7"), ("30d", "cov30")):
            visited = sum(_gps_counters(view, [f"{name}|{g}" for g in gs]))
            assert doc[f"visited_{window}"] == visited, (level, window)
            assert doc[f"coverage_{window}"] * doc["households"] == pytest.approx(visited)
        # Visits today: the matched stays of the terminal-days whose grid is in the area.
        inside = set(gs)
        assert doc["visits_today"] == sum(s["visits"] for s in summaries if s["grid"] in inside)
        assert doc["visits_today"] > 0 and doc["visited_30d"] > 0, (level, code)
    # Current counts add up over the districts to the city's.
    city_doc = get_json(base, f"/api/visits/city/{city.code}")
    per_district = [get_json(base, f"/api/visits/district/{d.code}") for d in city.districts]
    for key in ("active_workers", "silent_terminals", "off_grid_workers", "visits_today",
                "households", "visited_30d", "silent_grids"):
        assert city_doc[key] == sum(d[key] for d in per_district), key
    assert city_doc["active_workers"] > 0
    assert city_doc["households"] == sum(g.households for g in city.grids)


def test_track_is_time_ordered_with_stays_inside(api, visits, busy_terminal):
    base, _ = api
    day, s = busy_terminal
    doc = get_json(base, f"/api/track/{s['terminal']}/2026-11-27")
    assert (doc["terminal"], doc["worker"], doc["day"], doc["date"]) == (
        s["terminal"], s["worker"], day, "2026-11-27")
    assert doc["watermark"] == visits.now()
    assert doc["summary"] == s == visits.track(s["terminal"], day)["summary"]
    route, stays = doc["route"], doc["stays"]
    assert len(route) > 10 and all(len(p) == 3 for p in route)
    times = [p[0] for p in route]
    assert times == sorted(times)
    # The route spans the day's first to last kept fix (stored to the second).
    assert s["first"] // 1000 * 1000 <= times[0] and times[-1] <= s["last"]
    assert len(stays) == s["stays"] and sum(1 for st in stays if st["household"]) == s["visits"] > 0
    for st in stays:
        assert times[0] <= st["start"] <= st["end"] <= times[-1] + 1000, st
        assert st["household"] == "" or st["household"].startswith(s["grid"] + "-")
    starts = [st["start"] for st in stays]
    assert starts == sorted(starts)
    # The worker's endpoint answers the same terminal-day.
    # (The freshness block's age moves between two requests; the rest is the same answer.)
    other = get_json(base, f"/api/worker/{s['worker']}/2026-11-27")
    assert other.pop("freshness")["data_at"] == doc.pop("freshness")["data_at"]
    assert other == doc


def test_grid_workers(api, visits, busy_terminal):
    base, _ = api
    day, s = busy_terminal
    doc = get_json(base, f"/api/workers/{s['grid']}/2026-11-27")
    expected = sorted((x for x in visits.days(day).values() if x["grid"] == s["grid"]),
                      key=lambda x: x["terminal"])
    assert doc["terminals"] == expected and s in expected
    assert (doc["grid"], doc["day"], doc["date"]) == (s["grid"], day, "2026-11-27")
    # Another day, no terminal: an empty list, not an error.
    assert get_json(base, f"/api/workers/{s['grid']}/2026-11-20")["terminals"] == []


@pytest.mark.parametrize("path, status, field", [
    ("/api/visits/county/330203", 400, "level"),
    ("/api/visits/town/330203", 400, "level"),
    ("/api/visits/district/999999", 404, "code"),
    ("/api/track/T00001/2026-11-31", 400, "date"),  # not a calendar date
    ("/api/track/T00001/20261127", 400, "date"),
    ("/api/track/T00001/today", 400, "date"),
    ("/api/track/T%20x/2026-11-27", 400, "terminal"),
    ("/api/track/NOPE/2026-11-27", 404, "terminal"),
    ("/api/track/T00001/2026-10-01", 404, "terminal"),  # a day without data
    ("/api/worker/W00001/2026-02-30", 400, "date"),
    ("/api/worker/W%20x/2026-11-27", 400, "worker"),
    ("/api/worker/NOPE/2026-11-27", 404, "worker"),
    ("/api/workers/330203/2026-11-27", 400, "grid"),  # a district, not a grid
    ("/api/workers/999999999999999/2026-11-27", 404, "grid"),
    ("/api/workers/330203001001001/27-11-2026", 400, "date"),
    ("/api/track/T00001", 404, "path"),
])
def test_visit_errors_name_the_field(api, path, status, field):
    base, _ = api
    doc = get_json(base, path, status)
    assert doc["field"] == field and doc["error"], doc
    if status == 404 and field in ("terminal", "worker", "grid"):
        assert path.split("/")[3].replace("%20", " ") in doc["error"]  # names what is unknown


def test_prepared_counter_reader_equals_counters(api, city):
    """The wall's prepared per-grid read (views.CounterReader) answers what counters() does."""
    _, view = api
    grids = [code for code, _ in city.rings("grid")]
    for kind, name in (("case", "open"), ("gps", "cov30")):
        fields = [f"{name}|{g}" for g in grids]
        want = view.counters(fields, kind)
        assert sum(want) > 0, kind
        reader = view.reader(fields, kind)
        assert reader.read() == want and reader.read() == want  # packed once, read again

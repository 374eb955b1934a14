"""The drill-down's data and API: ``/api/area/<code>`` adds up, filters are validated.

Same filled Redis as the wall and API tests (:func:`tests.integration.test_dashboard.filled_day`:
a simulated working day through the real CaseProcessor / GpsProcessor), the Dash app
served in a thread, plain HTTP. Redis is left alone after the fill, so every answer must
equal independent sums of the counters (children add up to the parent, the case table's
total equals the ``open|<code>`` / ``overdue|<code>`` counters).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from gridpulse.catalog import CATEGORIES, DEPARTMENTS
from gridpulse.city import load_city
from gridpulse.clock import local_day
from gridpulse.loop.lifecycle import OPEN_STAGES
from gridpulse.views import LiveView

from dashboard import drill, drill_data
from dashboard.visits import visit_view

from .test_dashboard import TZ, filled_day, serve_wall

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def city():
    return load_city("ningbo")


@pytest.fixture(scope="module")
def served(redis_url, city):
    url = filled_day(redis_url)
    with serve_wall(url) as (base, cfg):
        view = LiveView.from_url(url, cfg.redis_prefix, TZ, city.code)
        yield base, view, visit_view(view, city)


def get(base: str, path: str) -> tuple[int, dict, dict]:
    req = urllib.request.Request(base + path)
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            status, headers, body = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        status, headers, body = err.code, dict(err.headers), err.read()
    assert headers["Content-Type"] == "application/json; charset=utf-8", (path, headers)
    assert headers["Cache-Control"] == "no-store"
    return status, headers, json.loads(body.decode("utf-8"))


def area(base: str, code: str, query: str = "") -> dict:
    status, _, doc = get(base, f"/api/area/{code}{query}")
    assert status == 200, (code, query, doc)
    return doc


def busiest(view: LiveView, codes: list[str]) -> str:
    return max(zip(view.counters([f"open|{c}" for c in codes]), codes))[1]


@pytest.fixture(scope="module")
def chain(served, city):
    """The busiest district, its busiest town, community and grid (by open cases)."""
    _, view, _ = served
    d = busiest(view, [x.code for x in city.districts])
    t = busiest(view, city.children(d))
    c = busiest(view, city.children(t))
    g = busiest(view, city.children(c))
    return [("district", d), ("town", t), ("community", c), ("grid", g)]


def test_area_adds_up(served, city, chain):
    base, view, visits = served
    for level, code in [("city", city.code)] + chain:
        doc = area(base, code)
        wm = doc["watermark"]
        assert wm == view.watermark() > 0 and doc["day"] == local_day(wm, TZ)
        assert doc["date"] == "2026-11-27"
        assert (doc["code"], doc["level"], doc["name"]) == (code, level, city.area(code).name)
        assert [b["code"] for b in doc["breadcrumbs"]] == \
            [city.lineage(code)[lv] for lv in drill_data.LEVELS if lv in city.lineage(code)]
        assert doc["breadcrumbs"][0]["code"] == city.code
        opn, od = view.counters([f"open|{code}", f"overdue|{code}"])
        k = doc["kpis"]
        assert (k["open"], k["overdue"]) == (opn, od) and opn > 0, (level, code)
        # the children add up to the parent (independent sums of the child counters)
        kids = doc["children"]
        assert [r["code"] for r in kids] == city.children(code)
        if kids:
            for key in ("open", "overdue", "new_today", "closed_today"):
                assert sum(r[key] for r in kids) == k[key], (level, key)
            assert sum(r["active_workers"] for r in kids) == doc["visits"]["active_workers"]
            assert sum(r["silent_grids"] for r in kids) == doc["visits"]["silent_grids"]
            for r in kids:
                assert r["open"] == view.counters([f"open|{r['code']}"])[0]
                assert r["level"] == city.area(r["code"]).level
        # the case table: total = the open counter unfiltered, the overdue counter filtered
        cases = doc["cases"]
        assert cases["total"] == opn
        assert len(cases["rows"]) == min(opn, 200)
        assert all(code in (r["grid"], r["community"], r["town"], r["district"]) or level == "city"
                   for r in cases["rows"])
        assert area(base, code, "?overdue=true")["cases"]["total"] == od
        assert area(base, code, "?overdue=false")["cases"]["total"] == opn - od
        # most late first: overdue before not overdue, overdue ones by lateness
        late = [r["late_ms"] for r in cases["rows"] if r["overdue"]]
        flags = [r["overdue"] for r in cases["rows"]]
        assert flags == sorted(flags, reverse=True) and late == sorted(late, reverse=True)
        assert doc["bbox"] == list(city.bbox(code))
        assert doc["visits"] == visits.kpis(code)


def test_area_filters(served, city, chain):
    base, view, _ = served
    d = chain[0][1]
    opn, od = view.counters([f"open|{d}", f"overdue|{d}"])
    # partitions of the open cases: by category, department, stage (top-level counters)
    by_cat = {c: area(base, d, f"?category={c}&limit=1")["cases"]["total"] for c in CATEGORIES}
    assert sum(by_cat.values()) == opn
    assert by_cat == dict(zip(CATEGORIES, view.counters([f"open|{d}|c:{c}" for c in CATEGORIES])))
    by_dept = {x: area(base, d, f"?dept={x}&limit=1")["cases"]["total"] for x in DEPARTMENTS}
    assert by_dept == dict(zip(DEPARTMENTS, view.counters([f"open|{d}|d:{x}" for x in DEPARTMENTS])))
    assert sum(by_dept.values()) + view.counters([f"open|{d}|d:-"])[0] == opn
    by_stage = {s: area(base, d, f"?stage={s}&limit=1")["cases"]["total"] for s in OPEN_STAGES}
    assert by_stage == dict(zip(OPEN_STAGES, view.counters([f"stage|{d}|{s}" for s in OPEN_STAGES])))
    assert sum(by_stage.values()) == opn
    # combined filters and the limit
    cat = max(by_cat, key=by_cat.get)
    doc = area(base, d, f"?category={cat}&overdue=true&limit=5")
    assert doc["filters"] == {"category": cat, "overdue": True, "limit": 5}
    assert len(doc["cases"]["rows"]) == min(5, doc["cases"]["total"])
    assert all(r["category"] == cat and r["overdue"] for r in doc["cases"]["rows"])
    assert doc["cases"]["total"] == view.counters([f"overdue|{d}|c:{cat}"])[0]
    assert od > 0


@pytest.mark.parametrize("query,field", [
    ("?category=nope", "category"), ("?dept=nope", "dept"), ("?stage=closed", "stage"),
    ("?overdue=yes", "overdue"), ("?limit=0", "limit"), ("?limit=1001", "limit"), ("?limit=x", "limit"),
])
def test_area_bad_filter(served, chain, query, field):
    base, _, _ = served
    status, _, doc = get(base, f"/api/area/{chain[0][1]}{query}")
    assert status == 400 and doc["field"] == field, doc
    assert query.split("=")[1] in doc["error"]


def test_area_unknown_code(served):
    base, _, _ = served
    status, _, doc = get(base, "/api/area/999999")
    assert status == 404 and doc == {"error": "unknown area code '999999'", "field": "code"}


def _texts(node) -> list[str]:
    """Every string in a Dash component tree."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, (list, tuple)):
        return [t for n in node for t in _texts(n)]
    kids = getattr(node, "children", None)
    return _texts(kids) if kids is not None else []


def test_area_page_checks_level(served, city, chain):
    _, _, visits = served
    d, t = chain[0][1], chain[1][1]
    page = drill.area_page(city, visits, TZ, "v", "town", d, {})
    assert f"{d} 是区县（市），不是街道（乡镇）" in _texts(page)
    page = drill.area_page(city, visits, TZ, "v", "district", "999999", {})
    assert "区域不存在：999999" in _texts(page)
    page = drill.area_page(city, visits, TZ, "v", "town", t, {"lang": ["en"]})
    assert "Open cases" in _texts(page)


def test_bottlenecks(served, city, chain):
    _, view, _ = served
    d = chain[0][1]
    for code in (city.code, d):
        doc = drill_data.bottlenecks(city, view, code)
        day = doc["day"]
        st = view.stage_times(code, day)
        assert {r["stage"]: {k: r[k] for k in ("count", "median_min", "p90_min")} for r in doc["stages"]} == st
        p90 = [r["p90_min"] or 0 for r in doc["stages"]]
        assert p90 == sorted(p90, reverse=True)
        assert sum(doc["waiting"].values()) == view.counters([f"open|{code}"])[0]
        rows = {r["dept"]: r for r in doc["departments"]}
        assert set(rows) == set(DEPARTMENTS)
        for x, r in rows.items():
            assert (r["open"], r["overdue"]) == tuple(view.counters([f"open|{code}|d:{x}", f"overdue|{code}|d:{x}"]))
            assert r["handled_today"] == view.counters([f"closed|{code}|d:{x}|{day}"])[0]
        od = [r["overdue"] for r in doc["departments"]]
        assert od == sorted(od, reverse=True)
    with pytest.raises(drill_data.FilterError):
        drill_data.bottlenecks(city, view, chain[1][1])

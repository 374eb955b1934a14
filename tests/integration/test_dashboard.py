"""The wall display end to end: real Redis, real processors, real Dash, real Chromium.

Redis is filled once and then left alone, so every tile must equal LiveView's (and for
the visit tiles VisitView's, i.e. the JSON API's) figure exactly. The page must not
request anything outside localhost (the product runs offline) and the static geometry must
arrive once, not with each tick (principle 10); the grid coverage colours travel as one
compact array in the geometry's grid order, only when they change.

:func:`filled_day` and :func:`serve_wall` are shared with test_api.py: one simulated
working day (cases report, close and get evaluated) is filled once per test process
and each module serves its own app on it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from urllib.parse import urlparse

import pytest
import redis
from werkzeug.serving import make_server

from gridpulse import settings as settings_mod
from gridpulse.city import load_city
from gridpulse.clock import now_ms, parse_local
from gridpulse.rkeys import Keys
from gridpulse.views import LiveView

from dashboard.gridfill import percent
from dashboard.visits import visit_view

from gridpulse.runtime.broker import free_port
from tests.browser import launch_chromium, non_local_requests

from .fill import fill
from .status import Heartbeat, stamp

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

OUT = Path(__file__).resolve().parents[2] / "test-output"
TZ = "Asia/Shanghai"


PREFIX = "day:"
# A working day long enough for the closed loop: cases reported from 08:00 are handled,
# closed and evaluated by 17:00 (a 90-minute morning closes none).
DAY_START, DAY_UNTIL, DAY_TERMINALS = "2026-11-27T08:00:00", "2026-11-27T17:00:00", 300
_filled: set[str] = set()
_fill_lock = threading.Lock()


def filled_day(redis_url: str) -> str:
    """Fill the session Redis at ``redis_url`` with the simulated day (once per process)."""
    with _fill_lock:
        if redis_url not in _filled:
            t0 = time.time()
            counts = fill(redis_url, PREFIX, load_city("ningbo"), start_ms=parse_local(DAY_START, TZ),
                          until_ms=parse_local(DAY_UNTIL, TZ), terminals=DAY_TERMINALS)
            print(f"\nfilled redis in {time.time() - t0:.1f}s: {counts}")
            _filled.add(redis_url)
    return redis_url


@contextlib.contextmanager
def serve_wall(redis_url: str, prefix: str = PREFIX, **overrides) -> Iterator[tuple[str, settings_mod.Settings]]:
    """The Dash app (wall and API) on a free port in a thread: ``(base URL, settings)``;
    ``overrides``: settings of this app."""
    from dashboard.app import create_app

    port = free_port()
    cfg = settings_mod.load({}, dash_host="127.0.0.1", dash_port=port, timezone=TZ,
                            redis_prefix=prefix, **overrides)
    app = create_app(cfg, redis_url)
    server = make_server("127.0.0.1", port, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}", cfg
    finally:
        server.shutdown()
        thread.join(timeout=10)


def rate_text(num: int, den: int) -> str:
    """A rate as the wall's tile shows it: percent, one decimal, half up; "—" if ``den`` is 0."""
    if not den:
        return "—"
    tenths = Fraction(1000 * num, den)
    shown = int(tenths + Fraction(1, 2))  # half up, from the exact fraction
    return f"{shown // 10}.{shown % 10}%"


@pytest.fixture(scope="module")
def filled_redis(redis_url):
    return filled_day(redis_url)


@pytest.fixture(scope="module")
def wall(filled_redis):
    # A worker is alive and nothing waits: the views are live (tests/integration/status.py).
    stamp(redis.Redis.from_url(filled_redis), Keys(PREFIX), now_ms())
    with Heartbeat(filled_redis, PREFIX), serve_wall(filled_redis) as served:
        yield served


def test_wall_display(filled_redis, wall):
    base, cfg = wall
    view = LiveView.from_url(filled_redis, cfg.redis_prefix, TZ)
    city = load_city("ningbo")
    k = view.kpis(city.code)
    visits = visit_view(view, city)
    v = visits.kpis(city.code)
    with urllib.request.urlopen(f"{base}/api/visits/city/{city.code}", timeout=30) as resp:
        api_v = json.loads(resp.read())
    # Two records refused today, one yesterday: the wall's small counter says 2.
    r = redis.Redis.from_url(filled_redis)
    now = now_ms()
    r.zadd(Keys(cfg.redis_prefix).deadletters(), {"gp.case-events|0|1": now, "gp.gps-fixes|1|7": now,
                                                   "gp.case-events|0|0": now - 86_400_000 * 2})
    assert view.dead_letters_today() == 2
    expected = {
        "dead-num": "2",
        "tile-new-today": str(k.new_today),
        "tile-last-hour": str(k.new_last_hour),
        "tile-open": str(k.open),
        "tile-overdue": str(k.overdue),
        "tile-on-time-rate": rate_text(k.on_time_today, k.closed_today),
        "tile-satisfaction-rate": rate_text(k.satisfied_today, k.evaluated_today),
        "tile-coverage": rate_text(v["visited_30d"], v["households"]),
        "tile-visits-today": str(v["visits_today"]),
        "tile-active-workers": str(v["active_workers"]),
    }
    # The visit tiles are what the API answers.
    assert expected["tile-coverage"] == rate_text(api_v["visited_30d"], api_v["households"])
    assert abs(float(expected["tile-coverage"].rstrip("%")) - 100 * api_v["coverage_30d"]) <= 0.05 + 1e-9
    assert (expected["tile-visits-today"], expected["tile-active-workers"]) == (
        str(api_v["visits_today"]), str(api_v["active_workers"]))
    assert k.new_today > 0 and k.open > 0 and v["active_workers"] > 0 and v["visits_today"] > 0
    # The day must exercise the closed loop, or the rate tiles would only show "—".
    assert k.closed_today > 0 and k.evaluated_today > 0 and k.overdue > 0
    # The tile's rounding is LiveView's rate, to one decimal of a percent.
    for rate, tile in ((k.on_time_rate, "tile-on-time-rate"),
                       (k.satisfaction_rate, "tile-satisfaction-rate")):
        assert abs(float(expected[tile].rstrip("%")) - 100 * rate) <= 0.05 + 1e-9

    requests: list[str] = []
    ticks: list[int] = []
    pos_sizes: list[int] = []
    coverage: list[bytes] = []
    heat: list[bytes] = []
    statics: list[str] = []
    errors: list[str] = []

    def on_response(resp):
        path = urlparse(resp.url).path
        if path.endswith("/_dash-update-component") and resp.status == 200:
            try:
                body = resp.body()
            except Exception:  # noqa: BLE001 - the page may be closing
                return
            if b'"page"' in body:  # the page itself (pages.py), once
                return
            if b'"live"' in body:
                ticks.append(len(body))
            elif b'"positions"' in body:
                pos_sizes.append(len(body))
            elif b'"coverage"' in body:
                coverage.append(body)
            elif b'"heat"' in body:
                heat.append(body)
        elif path.startswith("/gp/static/"):
            statics.append(path)

    OUT.mkdir(exist_ok=True)
    with launch_chromium() as browser:
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.on("request", lambda req: requests.append(req.url))
        page.on("response", on_response)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(base + "/")
        page.wait_for_function(
            "() => ['tile-new-today','tile-last-hour','tile-open','tile-overdue','tile-active-workers',"
            "'tile-visits-today']"
            ".every(id => /^[0-9]+$/.test((document.getElementById(id) || {}).textContent || ''))"
            " && ['tile-on-time-rate','tile-satisfaction-rate','tile-coverage']"
            ".every(id => /^([0-9]+[.][0-9]%|—)$/.test((document.getElementById(id) || {}).textContent || ''))",
            timeout=30_000)
        page.wait_for_selector("canvas#map", timeout=30_000)
        page.wait_for_function("() => document.querySelectorAll('#ticker .tick-row').length > 0")
        page.wait_for_timeout(6000)  # several ticks, a positions refresh, map drawn
        shown = {el: page.inner_text(f"#{el}").strip() for el in expected}
        canvas = page.evaluate("""() => { const c = document.querySelector('canvas#map');
            return c ? [c.width, c.height] : null; }""")
        live_class = page.get_attribute("#live-indicator", "class")
        assert page.get_attribute("#dead-count", "class") == "dead-count some"
        page.screenshot(path=str(OUT / "wall.png"))
        assert not coverage and "gridfill.json" not in " ".join(statics)  # off by default
        # Colour the grids by 30-day coverage: the fill geometry comes once, then one array.
        page.click("text=30日覆盖")
        page.wait_for_function("() => !document.getElementById('coverage-legend')"
                               ".classList.contains('hidden')", timeout=30_000)
        deadline = time.time() + 60
        while not coverage and time.time() < deadline:
            page.wait_for_timeout(500)
        page.wait_for_timeout(2000)  # a request already in flight may still answer
        sent = len(coverage)
        page.wait_for_timeout(11_000)  # two more position ticks: nothing changed, nothing sent
        resent = len(coverage) - sent
        # Colour them by open cases now: the same array, counts instead of percentages.
        page.click("#map-mode label:has(input[value='open'])")
        page.wait_for_function("() => document.getElementById('coverage-legend')"
                               ".classList.contains('cases')", timeout=30_000)
        deadline = time.time() + 60
        while not any(b'"w":"open"' in b for b in coverage) and time.time() < deadline:
            page.wait_for_timeout(500)
        page.wait_for_timeout(1500)  # the colours drawn, for the screenshot
        page.screenshot(path=str(OUT / "wall-open-by-grid.png"))
        # Today's cases as hexagons: outlines only, then the hexagons switched on. The
        # served data is still (no clock moves), so what changes on the map is the layer.
        page.click("#map-mode label:has(input[value='none'])")
        page.wait_for_timeout(2500)
        box = page.locator("canvas#map").bounding_box()
        clip = {k: box[k] for k in ("x", "y", "width", "height")}
        no_hex = page.screenshot(clip=clip)
        page.click("#map-heat label:has(input[value='hex'])")
        deadline = time.time() + 60
        while not heat and time.time() < deadline:
            page.wait_for_timeout(500)
        page.wait_for_timeout(2500)  # drawn (software GL)
        with_hex = page.screenshot(clip=clip)
        page.screenshot(path=str(OUT / "wall-hexagons.png"))
        hex_px = warm_pixels_added(page, no_hex, with_hex)

    assert coverage, "no coverage payload"
    assert resent == 0, [len(b) for b in coverage]
    # One integer per grid, in the order of the static geometry (city.rings("grid")).
    grids = [code for code, _ in city.rings("grid")]
    cov = json.loads(coverage[0])["response"]["coverage"]["data"]
    assert cov["full"] and cov["w"] == "30d" and cov["n"] == len(grids) == len(cov["v"])
    shares = visits.coverage_by_area(grids, "30d")
    assert cov["v"] == [percent(shares[g]) for g in grids]
    visited = {s["grid"] for s in visits.days(v["day"]).values() if s["visits"]}
    assert visited and all(cov["v"][i] > 0 for i, g in enumerate(grids) if g in visited)
    assert len(coverage[0]) < 60_000, len(coverage[0])
    by_open = [json.loads(b)["response"]["coverage"]["data"] for b in coverage if b'"w":"open"' in b]
    assert by_open and by_open[0]["full"], "no open-cases colours"
    opened = view.open_by_area(grids)
    assert by_open[0]["v"] == [opened[g] for g in grids] and sum(by_open[0]["v"]) > 0

    # The hexagons are drawn: warm pixels over a clearly larger area than case dots cover.
    # Their data: one point per grid with new cases today, weighted by its count.
    pts = json.loads(heat[-1])["response"]["heat"]["data"]["pts"]
    assert pts and sum(w for _, _, w in pts) == k.new_today, (len(pts), k.new_today)
    assert hex_px > 20_000, hex_px
    assert not errors, errors
    assert shown == expected
    assert not non_local_requests(requests), non_local_requests(requests)
    assert canvas and canvas[0] > 500 and canvas[1] > 500
    print(f"ticks={len(ticks)} indicator={live_class!r}")
    assert "live" in live_class.split()
    # The city's geometry comes once per layer, never with the ticks.
    assert sorted(p.rsplit("/", 1)[1] for p in statics) == ["districts.json", "gridfill.json",
                                                            "grids.json", "towns.json"]
    assert len(ticks) >= 4
    # Once the browser holds the hour's cases, a tick carries figures and new cases only:
    # a few KB. (The first tick or two carry the hour: a tick may leave before the first
    # answer set the cursor.)
    assert max(ticks[-3:]) < 8_000, ticks
    print(f"live tick responses (bytes): first {ticks[0]}, then {ticks[1:8]}; "
          f"positions responses: {pos_sizes}")


def test_grid_fill_feed_sends_changes_only():
    """The grid colours' feed: the whole array first, then only changed grids, else nothing."""
    from dashboard.gridfill import GridFillFeed

    class Fake:
        shares = {"g1": 0.0, "g2": 0.5, "g3": None, "g4": 0.001}
        counts = {"open|g1": 3, "open|g2": 0, "overdue|g4": 1}

        def __init__(self):
            self.live = self

        def coverage_reader(self, codes, window="30d"):
            return lambda: {c: self.shares[c] for c in codes}

        def reader(self, fields, kind="case"):
            assert kind == "case"
            return type("R", (), {"read": lambda _: [self.counts.get(f, 0) for f in fields]})()

    fake = Fake()
    feed = GridFillFeed(fake, ["g1", "g2", "g3", "g4"], min_age_s=0)
    first = feed.delta("30d", None)
    # Percent rounded up (one visit shows), -1 for a grid without households.
    assert first["full"] and first["v"] == [0, 50, -1, 1] and first["n"] == 4
    assert feed.delta("30d", first["cursor"]) is None  # nothing changed: nothing to send
    fake.shares = {**fake.shares, "g2": 0.61}
    d = feed.delta("30d", first["cursor"])
    assert not d["full"] and (d["i"], d["v"]) == ([1], [61])
    assert feed.delta("30d", d["cursor"]) is None
    # Another window, or a cursor of another server process: the whole array.
    assert feed.delta("today", d["cursor"])["full"]
    assert feed.delta("30d", "elsewhere:30d:1")["full"]
    # Most grids changed: the whole array is smaller than pairs.
    fake.shares = {"g1": 0.2, "g2": 0.3, "g3": 0.4, "g4": 0.5}
    assert feed.delta("30d", d["cursor"])["full"]
    # Cases per grid: the counters as they are, open and overdue each its own array.
    o = feed.delta("open", d["cursor"])
    assert o["full"] and o["w"] == "open" and o["v"] == [3, 0, 0, 0]
    assert feed.delta("overdue", o["cursor"])["v"] == [0, 0, 0, 1]
    fake.counts["open|g3"] = 2
    assert (lambda x: (x["full"], x["i"], x["v"]))(feed.delta("open", o["cursor"])) == (False, [2], [2])
    with pytest.raises(ValueError):
        feed.delta("closed", None)


TILE_LABELS_EN = {
    "tile-new-today": "New today", "tile-last-hour": "Last hour", "tile-open": "Open",
    "tile-overdue": "Overdue", "tile-on-time-rate": "Closed on time",
    "tile-satisfaction-rate": "Satisfaction", "tile-coverage": "Visit coverage",
    "tile-active-workers": "Workers online",
}
_TILES_JS = """() => Array.from(document.querySelectorAll('.tile')).map(t => [
    t.querySelector('.tile-num').id, t.querySelector('.tile-label-text').textContent,
    t.querySelector('.tile-num').textContent])"""


def _numbers(page) -> dict:
    """Tile id -> its figure as a number string (thousands separators dropped)."""
    return {i: n.replace(",", "") for i, _, n in page.evaluate(_TILES_JS)}


def test_wall_english_overdue_ranking_kiosk(filled_redis, wall):
    """``?lang=en``: English labels, the same figures; the overdue board is CaseList's
    order; ranking entries link to /district/<code>; ``?kiosk=1`` hides the cursor."""
    from gridpulse.case_list import CaseList

    from dashboard.live import OVERDUE_ROWS

    base, cfg = wall
    view = LiveView.from_url(filled_redis, cfg.redis_prefix, TZ)
    city = load_city("ningbo")
    board = CaseList(view).open(overdue=True, sort="late", limit=OVERDUE_ROWS)
    assert board["total"] > 0
    expected_cases = [r["case"] for r in board["rows"]]
    ready = ("() => /^[0-9,]+$/.test((document.getElementById('tile-open') || {}).textContent || '')"
             " && document.querySelectorAll('#overdue-board .od-row').length > 0"
             " && document.querySelectorAll('#district-rank a.d-row').length > 0")
    errors: list[str] = []
    requests: list[str] = []
    OUT.mkdir(exist_ok=True)
    with launch_chromium() as browser:
        zh = browser.new_page(viewport={"width": 1920, "height": 1080})
        en = browser.new_page(viewport={"width": 1920, "height": 1080})
        for p in (zh, en):
            p.on("pageerror", lambda exc: errors.append(str(exc)))
            p.on("request", lambda req: requests.append(req.url))
        zh.goto(base + "/")
        en.goto(base + "/wall?lang=en")
        for p in (zh, en):
            p.wait_for_function(ready, timeout=30_000)
        en.wait_for_timeout(3000)
        # Both pages show one watermark's figures (Redis is not written any more).
        zh_tiles, en_tiles = zh.evaluate(_TILES_JS), en.evaluate(_TILES_JS)
        assert _numbers(zh) == _numbers(en)
        assert {i: label for i, label, _ in en_tiles} == TILE_LABELS_EN
        assert all(not any("\u4e00" <= ch <= "\u9fff" for ch in label) for _, label, _ in en_tiles)
        assert {i: label for i, label, _ in zh_tiles}["tile-open"] == "在办"
        assert en.inner_text(".brand-title").startswith("Social Governance")
        assert "Ningbo" in en.inner_text(".brand-city")
        # The date in English: "Fri 27 Nov 2026".
        assert en.inner_text("#clock-date").strip().endswith("Nov 2026")
        assert zh.inner_text("#clock-date").strip().startswith("2026-11-")
        en.screenshot(path=str(OUT / "wall-en.png"))
        # The overdue board: CaseList.open(overdue=True), most late first.
        for p in (zh, en):
            shown = p.evaluate("() => Array.from(document.querySelectorAll('#overdue-board .od-case'))"
                               ".map(e => e.textContent)")
            assert shown == expected_cases
        # The district ranking links to each district's page.
        hrefs = zh.evaluate("() => Array.from(document.querySelectorAll('#district-rank a.d-row'))"
                            ".map(a => a.getAttribute('href'))")
        assert sorted(hrefs) == sorted(f"/district/{d.code}" for d in city.districts)
        en_hrefs = en.evaluate("() => Array.from(document.querySelectorAll('#district-rank a.d-row'))"
                               ".map(a => a.getAttribute('href'))")
        assert all(h.split("?")[0].startswith("/district/") for h in en_hrefs)
        # The alerts panel is there (the filled day raised no alerts: "0").
        assert zh.inner_text("#alerts-open").strip() in ("0", "0+")
        zh.close()
        en.close()
        # Kiosk: no cursor, no scrollbars, the wall fills the screen (any 16:9 size).
        kiosk = browser.new_page(viewport={"width": 1920, "height": 1080})
        kiosk.on("pageerror", lambda exc: errors.append(str(exc)))
        kiosk.goto(base + "/?kiosk=1&playlist=1&dwell=5")
        kiosk.wait_for_function(ready, timeout=30_000)
        state = kiosk.evaluate("""() => { const w = document.getElementById('wall');
            const r = w.getBoundingClientRect(); const el = document.elementFromPoint(900, 500);
            return {wall: getComputedStyle(w).cursor, body: getComputedStyle(document.body).cursor,
                    under: getComputedStyle(el).cursor, cls: w.className, w: r.width, h: r.height,
                    sw: document.documentElement.scrollWidth, sh: document.documentElement.scrollHeight}; }""")
        assert state["wall"] == state["under"] == state["body"] == "none", state
        assert "kiosk" in state["cls"] and (state["w"], state["h"]) == (1920, 1080), state
        assert state["sw"] <= 1920 and state["sh"] <= 1080, state
        # The playlist spotlights a district with its KPIs.
        kiosk.wait_for_function("() => !document.getElementById('spotlight').classList.contains('hidden')"
                                " && /^[0-9]+$/.test(document.getElementById('sp-open').textContent)",
                                timeout=30_000)
        first = kiosk.inner_text("#sp-name")
        assert first in {d.name for d in city.districts}
        kiosk.wait_for_function(f"() => document.getElementById('sp-name').textContent !== {json.dumps(first)}",
                                timeout=30_000)
        # 4K: the same wall at twice the size (CSS unit --u), not tiny.
        big = browser.new_page(viewport={"width": 3840, "height": 2160})
        big.goto(base + "/")
        big.wait_for_function(ready, timeout=30_000)
        size = big.evaluate("() => [document.getElementById('wall').getBoundingClientRect().width,"
                            " parseFloat(getComputedStyle(document.getElementById('tile-open')).fontSize)]")
        assert size[0] == 3840 and size[1] == 84, size
    assert not errors, errors
    assert not non_local_requests(requests), non_local_requests(requests)


def test_texts_tables_per_language():
    from dashboard.texts import EN, ZH, fmt_date, fmt_int, lang_of, texts

    assert lang_of("?lang=en") == "en" and lang_of({"lang": ["en"]}) == "en"
    assert lang_of("") == lang_of(None) == lang_of("?lang=fr") == "zh"
    zh, en = texts("zh"), texts("en")
    assert zh["ui"]["tile_open"] == "在办" and en["ui"]["tile_open"] == "Open"
    assert set(en["ui"]) == set(ZH)  # every key, English falling back to Chinese
    assert all(v for k, v in EN.items() if k not in ("a_action", "unit_visit"))
    assert en["severities"]["1"] == "Urgent" and en["stages"]["closed"] == "Closed"
    assert (fmt_int(12345, "en"), fmt_int(12345, "zh")) == ("12,345", "12345")
    assert fmt_date(2026, 11, 27, 4, "en") == "Fri 27 Nov 2026"
    assert fmt_date(2026, 11, 27, 4, "zh") == "2026-11-27 星期五"


def warm_pixels_added(page, before: bytes, after: bytes) -> int:
    """Pixels of ``after`` (a PNG) that are warm (red over blue) and clearly differ from
    ``before``: decoded by the browser itself (no imaging library needed)."""
    b64 = [base64.b64encode(x).decode() for x in (before, after)]
    return page.evaluate("""async ([a, b]) => {
        const pixels = async (s) => {
            const img = new Image(); img.src = 'data:image/png;base64,' + s; await img.decode();
            const c = document.createElement('canvas'); c.width = img.width; c.height = img.height;
            const g = c.getContext('2d'); g.drawImage(img, 0, 0);
            return g.getImageData(0, 0, c.width, c.height).data; };
        const A = await pixels(a), B = await pixels(b);
        let n = 0;
        for (let i = 0; i < A.length; i += 4) {
            const d = Math.abs(B[i] - A[i]) + Math.abs(B[i + 1] - A[i + 1]) + Math.abs(B[i + 2] - A[i + 2]);
            if (d > 60 && B[i] > 120 && B[i] > B[i + 2] + 40) { n++; }
        }
        return n; }""", b64)

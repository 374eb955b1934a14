"""A worker's day replay in a real browser: the figures are the API's, the slider moves time.

Same filled Redis as the wall and API tests (:func:`tests.integration.test_dashboard.filled_day`:
a simulated working day through the real processors), the Dash app served in a thread,
Debian's chromium. The page must work offline (no request leaves the machine), show
the summary the API answers for the terminal-day, move the TripsLayer's time with the
slider and the play button, and link the grid's workers list and the wall's worker dots
to it. The screenshot is ``test-output/worker-day.png`` (1920x1080).
"""

from __future__ import annotations

import json
import math
import re
import urllib.request
from urllib.parse import urlparse

import pytest

from gridpulse.city import load_city
from gridpulse.clock import day_start_ms, fmt_local, local_day
from gridpulse.views import LiveView
from tests.browser import launch_chromium, non_local_requests

from dashboard.visits import visit_view

from .test_dashboard import OUT, TZ, filled_day, serve_wall

pytestmark = [pytest.mark.integration, pytest.mark.e2e]
DATE = "2026-11-27"  # the filled day (test_dashboard.DAY_START)


@pytest.fixture(scope="module")
def served(redis_url):
    url = filled_day(redis_url)
    with serve_wall(url) as (base, cfg):
        city = load_city("ningbo")
        yield base, cfg, visit_view(LiveView.from_url(url, cfg.redis_prefix, TZ), city), city


def api(base: str, path: str) -> dict:
    with urllib.request.urlopen(base + path, timeout=30) as resp:
        return json.loads(resp.read())


def hms_to_s(text: str) -> int:
    h, m, s = (int(x) for x in text.split(":"))
    return 3600 * h + 60 * m + s


@pytest.fixture(scope="module")
def busy(served):
    """The worker with the most visits on the filled day, and its API answer."""
    base, _, visits, _ = served
    day = local_day(visits.now(), TZ)
    s = max(visits.days(day).values(), key=lambda x: (x["visits"], x["terminal"]))
    assert s["visits"] > 0
    return api(base, f"/api/worker/{s['worker']}/{DATE}")


def test_worker_day_replay(served, busy):
    base, _, _, city = served
    s = busy["summary"]
    start = day_start_ms(busy["day"], TZ)
    visits = [st for st in busy["stays"] if st["household"]]
    minutes = s["duty_ms"] // 60_000
    expected = {
        "replay-worker": s["worker"], "replay-terminal": s["terminal"], "replay-grid": s["grid"],
        "replay-grid-name": city.area(s["grid"]).name, "replay-date": DATE,
        "replay-dist": f"{s['dist_m'] / 1000:.2f}", "replay-duty": f"{minutes // 60}:{minutes % 60:02d}",
        "replay-visits": str(s["visits"]),
        "replay-unmatched": str(len(busy["stays"]) - len(visits)),
        "replay-first": fmt_local(s["first"], TZ, "%H:%M:%S"),
        "replay-last": fmt_local(s["last"], TZ, "%H:%M:%S"),
        "replay-visit-count": str(len(visits)),
    }
    requests: list[str] = []
    errors: list[str] = []
    statics: list[str] = []
    OUT.mkdir(exist_ok=True)
    with launch_chromium() as browser:
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.on("request", lambda req: requests.append(req.url))
        page.on("response", lambda r: statics.append(urlparse(r.url).path)
                if urlparse(r.url).path.startswith("/gp/static/") else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{base}/worker/{s['worker']}")  # no ?day: the GPS clock's day
        page.wait_for_selector("#replay-worker", timeout=30_000)
        page.wait_for_selector("canvas#replay-map", timeout=30_000)
        page.wait_for_function("() => /^[0-9]{2}:[0-9]{2}:[0-9]{2}$/.test("
                               "document.getElementById('replay-time').textContent)", timeout=30_000)
        shown = {el: page.inner_text(f"#{el}").strip() for el in expected}
        rows = page.locator("#replay-visit-list .visit-row")
        listed = [rows.nth(i).inner_text().split() for i in range(rows.count())]
        t_first = page.inner_text("#replay-time")
        page.wait_for_timeout(3000)  # the map draws (software GL)

        # Move the slider: click the track at 60% of the day; the time shown follows.
        track = page.locator("#replay-slider .dash-slider-track").bounding_box()
        page.mouse.click(track["x"] + 0.6 * track["width"], track["y"] + track["height"] / 2)
        page.wait_for_function(f"() => document.getElementById('replay-time').textContent !== '{t_first}'",
                               timeout=30_000)
        t_moved = page.inner_text("#replay-time")
        now_s = int(page.get_attribute("#replay-slider [role=slider]", "aria-valuenow"))
        page.wait_for_timeout(2500)  # the frame at the new time is drawn
        page.screenshot(path=str(OUT / "worker-day.png"))

        # Play steps time forward; pause stops it.
        page.click("#replay-play")
        page.wait_for_function(f"() => document.getElementById('replay-time').textContent > '{t_moved}'",
                               timeout=30_000)
        page.click("#replay-play")
        page.wait_for_timeout(1500)
        t_paused = page.inner_text("#replay-time")
        page.wait_for_timeout(2000)
        t_still = page.inner_text("#replay-time")
        size = page.viewport_size

        # The same terminal-day by terminal, with the day given.
        page.goto(f"{base}/terminal/{s['terminal']}?day={DATE}")
        page.wait_for_selector("#replay-terminal", timeout=30_000)
        by_terminal = {el: page.inner_text(f"#{el}").strip() for el in expected}

        # The grid's workers list links to the replay.
        page.goto(f"{base}/grid/{s['grid']}/workers?day={DATE}")
        page.wait_for_selector("#grid-workers", timeout=30_000)
        links = page.eval_on_selector_all("#grid-workers a", "els => els.map(e => e.getAttribute('href'))")

        # Bad inputs name what is wrong, on the page.
        page.goto(f"{base}/worker/{s['worker']}?day=2026-02-30")
        page.wait_for_selector("#page-message", timeout=30_000)
        bad_date = page.inner_text("#page-message")
        page.goto(f"{base}/worker/NOBODY?day={DATE}")
        page.wait_for_selector("#page-message", timeout=30_000)
        unknown = page.inner_text("#page-message")

    assert not errors, errors
    assert not non_local_requests(requests), non_local_requests(requests)
    assert shown == expected
    assert by_terminal == expected
    # The visits list: one row per visit, household and start-end in local time.
    assert [r[1] for r in listed] == [st["household"] for st in visits]
    assert [r[2] for r in listed] == [f"{fmt_local(st['start'], TZ, '%H:%M')}–{fmt_local(st['end'], TZ, '%H:%M')}"
                                      for st in visits]
    # Time starts at the first fix, and is where the slider is (seconds since the day start).
    first_s, last_s = (s["first"] - start) // 1000, (s["last"] - start) // 1000
    assert hms_to_s(t_first) == first_s
    assert hms_to_s(t_moved) == now_s and first_s < now_s < last_s
    assert abs(now_s - (first_s + 0.6 * (last_s - first_s))) < 0.05 * (last_s - first_s)
    assert t_paused == t_still and hms_to_s(t_paused) > now_s
    assert size == {"width": 1920, "height": 1080}
    assert (OUT / "worker-day.png").stat().st_size > 50_000
    # The base map is the city's own: district fills from the wall's cached geometry, the
    # grid outlines around the worker's grid inline in the page.
    assert {p.rsplit("/", 1)[1] for p in statics} == {"districts.json"}
    assert f"/worker/{s['worker']}?day={DATE}" in links
    assert "2026-02-30" in bad_date and "NOBODY" in unknown


def test_wall_worker_dot_opens_its_day(served):
    """Hovering a worker dot names its terminal; clicking it opens that terminal's day."""
    base, cfg, visits, city = served
    view = visits.live
    pos = view.positions(cfg.active_worker_minutes * 60_000)
    assert pos
    # A dot away from the others, so the click picks it and no neighbour.
    def alone(p):
        return min((math.hypot(p[1] - q[1], p[2] - q[2]) for q in pos if q is not p), default=1)
    term, lon, lat = max(pos, key=alone)[:3]
    from dashboard.deck import initial_view
    v = initial_view(city)
    errors: list[str] = []
    with launch_chromium() as browser:
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(base + "/")
        page.wait_for_selector("canvas#map", timeout=30_000)
        page.wait_for_function("() => /^[0-9]+$/.test(document.getElementById('tile-active-workers')"
                               ".textContent)", timeout=30_000)
        page.wait_for_timeout(8000)  # the first positions payload is drawn
        box = page.locator("canvas#map").bounding_box()
        merc = lambda la: math.log(math.tan(math.pi / 4 + math.radians(la) / 2))  # noqa: E731
        scale = 512 * 2 ** v.zoom
        x = box["x"] + box["width"] / 2 + (lon - v.longitude) / 360 * scale
        y = box["y"] + box["height"] / 2 - (merc(lat) - merc(v.latitude)) * scale / (2 * math.pi)
        page.mouse.move(x, y)
        # The live canvas's tooltip (the static canvas under it has one too, never shown).
        page.wait_for_function("() => { const t = document.querySelector('#map ~ .deck-tooltip');"
                               " return t && t.style.display !== 'none' && /T[0-9]+/.test(t.innerText); }",
                               timeout=30_000)
        tip = page.inner_text("#map ~ .deck-tooltip")
        with page.context.expect_page(timeout=30_000) as opened:
            page.mouse.click(x, y)
        replay = opened.value
        replay.wait_for_selector("#replay-terminal", timeout=30_000)
        shown = replay.inner_text("#replay-terminal")
        url = replay.url
    assert not errors, errors
    assert re.search(rf"\b{term}\b", tip), tip
    assert urlparse(url).path == f"/terminal/{term}" and shown == term


def test_trips_cut_at_track_gaps():
    """Route points become TripsLayer trips in seconds since the day start, cut at gaps."""
    from dashboard.replay import trips

    start = 1_000_000_000_000
    route = [[start + 30_000, 121.5, 29.8], [start + 40_000, 121.5001, 29.8001],
             [start + 40_000 + 11 * 60_000, 121.6, 29.9], [start + 50_000 + 11 * 60_000, 121.6001, 29.9]]
    out = trips(route, start, gap_ms=10 * 60_000)
    assert out == [{"p": [[121.5, 29.8], [121.5001, 29.8001]], "t": [30, 40]},
                   {"p": [[121.6, 29.9], [121.6001, 29.9]], "t": [700, 710]}]
    assert trips([], start, 600_000) == []


def test_worker_day_replay_in_english(served, busy):
    """``?lang=en`` labels the replay in English and its links keep the language."""
    base = served[0]
    s = busy["summary"]
    errors: list[str] = []
    with launch_chromium() as browser:
        page = browser.new_page(viewport={"width": 1920, "height": 1080})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{base}/worker/{s['worker']}?day={DATE}&lang=en")
        page.wait_for_selector("#replay-worker", timeout=30_000)
        play = page.inner_text("#replay-play").strip()
        title = page.inner_text(".brand-title")
        city_name = page.inner_text(".brand-city")
        grid_link = page.get_attribute("#replay-grid-link", "href")
        wall_link = page.get_attribute(".replay-nav a.nav-link:last-child", "href")
        page.click("#replay-play")
        page.wait_for_function("() => /Pause/.test(document.getElementById('replay-play').textContent)",
                               timeout=30_000)
        page.goto(f"{base}/grid/{s['grid']}/workers?day={DATE}&lang=en")
        page.wait_for_selector(".wk-table", timeout=30_000)
        head = page.inner_text(".wk-table thead")
        replay_href = page.get_attribute(".wk-table tbody a.nav-link", "href")
        page.goto(f"{base}/worker/NOBODY?day={DATE}&lang=en")
        page.wait_for_selector("#page-message", timeout=30_000)
        missing = page.inner_text("#page-message")
    assert not errors, errors
    assert play == "▶ Play" and title == "A grid worker's day" and city_name == "Ningbo"
    assert grid_link.endswith("&lang=en") and wall_link == "/wall?lang=en"
    assert "Worker" in head and "Distance (km)" in head
    assert replay_href.endswith("&lang=en")
    assert missing == f"Worker NOBODY has no track on {DATE}"

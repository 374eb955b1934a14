"""The wall display end to end: real Redis, real processors, real Dash, real Chromium.

Redis is filled once and then left alone, so every tile must equal LiveView's figure
exactly. The page must not request anything outside localhost (DESIGN.md principle 8)
and the static geometry must arrive once, not with each tick (principle 10).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from werkzeug.serving import make_server

from gridpulse import settings as settings_mod
from gridpulse.city import load_city
from gridpulse.clock import parse_local
from gridpulse.views import LiveView

from gridpulse.runtime.broker import free_port
from tests.browser import launch_chromium, non_local_requests

from .fill import fill

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

OUT = Path(__file__).resolve().parents[2] / "test-output"
TZ = "Asia/Shanghai"


PREFIX = "dash:"


@pytest.fixture(scope="module")
def filled_redis(redis_url):
    city = load_city("ningbo")
    start = parse_local("2026-11-27T09:00:00", TZ)
    t0 = time.time()
    counts = fill(redis_url, PREFIX, city, start_ms=start, until_ms=start + 90 * 60_000, terminals=300)
    print(f"\nfilled redis in {time.time() - t0:.1f}s: {counts}")
    return redis_url


@pytest.fixture(scope="module")
def wall(filled_redis):
    from dashboard.app import create_app

    port = free_port()
    cfg = settings_mod.load({}, dash_host="127.0.0.1", dash_port=port, timezone=TZ,
                            redis_prefix=PREFIX)
    app = create_app(cfg, filled_redis)
    server = make_server("127.0.0.1", port, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}", cfg
    server.shutdown()
    thread.join(timeout=10)


def test_wall_display(filled_redis, wall):
    base, cfg = wall
    view = LiveView.from_url(filled_redis, cfg.redis_prefix, TZ)
    city = load_city("ningbo")
    k = view.kpis(city.code)
    positions = view.positions(cfg.active_worker_minutes * 60_000)
    expected = {
        "tile-new-today": k.new_today,
        "tile-last-hour": k.new_last_hour,
        "tile-open": k.open,
        "tile-active-workers": len({p[5] for p in positions}),
    }
    assert k.new_today > 0 and k.open > 0 and expected["tile-active-workers"] > 0

    requests: list[str] = []
    ticks: list[int] = []
    pos_sizes: list[int] = []
    statics: list[str] = []
    errors: list[str] = []

    def on_response(resp):
        path = urlparse(resp.url).path
        if path.endswith("/_dash-update-component") and resp.status == 200:
            try:
                body = resp.body()
            except Exception:  # noqa: BLE001 - the page may be closing
                return
            if b'"live"' in body:
                ticks.append(len(body))
            elif b'"positions"' in body:
                pos_sizes.append(len(body))
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
            "() => ['tile-new-today','tile-last-hour','tile-open','tile-active-workers']"
            ".every(id => /^[0-9]+$/.test((document.getElementById(id) || {}).textContent || ''))",
            timeout=30_000)
        page.wait_for_selector("canvas#map", timeout=30_000)
        page.wait_for_function("() => document.querySelectorAll('#ticker .tick-row').length > 0")
        page.wait_for_timeout(6000)  # several ticks, a positions refresh, map drawn
        shown = {el: int(page.inner_text(f"#{el}")) for el in expected}
        canvas = page.evaluate("""() => { const c = document.querySelector('canvas#map');
            return c ? [c.width, c.height] : null; }""")
        live_class = page.get_attribute("#live-indicator", "class")
        page.screenshot(path=str(OUT / "wall.png"))

    assert not errors, errors
    assert shown == expected
    assert not non_local_requests(requests), non_local_requests(requests)
    assert canvas and canvas[0] > 500 and canvas[1] > 500
    print(f"ticks={len(ticks)} indicator={live_class!r}")
    assert "live" in live_class.split()
    # The city's geometry comes once per layer, never with the ticks.
    assert sorted(p.rsplit("/", 1)[1] for p in statics) == ["districts.json", "grids.json", "towns.json"]
    assert len(ticks) >= 4
    print(f"live tick responses (bytes): first {ticks[0]}, then {ticks[1:8]}; "
          f"positions responses: {pos_sizes}")

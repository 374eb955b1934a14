"""End to end: `gridpulse up` (embedded broker) -> headless Chromium loads the wall display.

The README's first command, as a user runs it: it starts the embedded Kafka broker,
the worker, the simulator and the dashboard. The test waits for live data in the
browser, freezes the simulator (SIGSTOP) so the figures settle, checks that the tiles
equal Redis, saves the screenshot the README shows, then stops everything with Ctrl-C.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gridpulse.city import load_city
from gridpulse.runtime.broker import free_port
from gridpulse.views import LiveView
from gridpulse.visit_views import VisitView, area_households
from tests.browser import launch_chromium, non_local_requests

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-output"
TZ = "Asia/Shanghai"


def _read_until(proc, pattern: str, lines: list[str], timeout: float) -> re.Match:
    deadline = time.monotonic() + timeout
    rx = re.compile(pattern)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        lines.append(line)
        m = rx.search(line)
        if m:
            return m
    raise AssertionError(f"never saw {pattern!r}:\n{''.join(lines)}")


def _tile(page, name: str) -> int:
    """The integer a KPI tile shows, -1 while it shows none."""
    el = page.query_selector(f"#tile-{name}")
    digits = re.sub(r"[^0-9]", "", el.inner_text()) if el else ""
    return int(digits) if digits else -1


def test_up_serves_a_live_wall_whose_tiles_equal_redis(redis_url, tmp_path):
    OUT.mkdir(exist_ok=True)
    port = free_port()
    prefix = f"e2e{os.getpid()}:"
    env = dict(os.environ, REDIS_URL=redis_url, GRIDPULSE_REDIS_PREFIX=prefix,
               GRIDPULSE_DASH_PORT=str(port), GRIDPULSE_WORKER_WEB_PORT=str(free_port()),
               GRIDPULSE_LOG_DIR=str(tmp_path / "logs"), GRIDPULSE_SIM_START="2026-11-27T09:30:00",
               PYTHONUNBUFFERED="1")
    env.pop("KAFKA_BOOTSTRAP", None)  # the embedded broker, as on a fresh machine
    t0 = time.monotonic()
    up = subprocess.Popen([sys.executable, "-m", "gridpulse.cli", "up"], env=env, cwd=tmp_path,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    sim_pid = None
    try:
        sim_pid = int(_read_until(up, r"simulator: started \(pid (\d+)", lines, 60).group(1))
        url = _read_until(up, r"dashboard: (http://\S+)", lines, 90).group(1)
        view = LiveView.from_url(redis_url, prefix, TZ)
        city = load_city("ningbo")
        with launch_chromium() as browser:
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url)
            # live: cases counted and workers on the map, as a user would wait for them
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if _tile(page, "new-today") > 0 and _tile(page, "active-workers") > 0:
                    break
                page.wait_for_timeout(500)
            first_live = time.monotonic() - t0
            print(f"\n`gridpulse up` to live figures in the browser: {first_live:.1f} s")
            assert _tile(page, "new-today") > 0, "no cases reached the wall"
            assert _tile(page, "active-workers") > 0, "no workers reached the wall"
            # freeze the simulator; once the worker has caught up, Redis stops moving
            os.kill(sim_pid, signal.SIGSTOP)
            last, stable_since = None, time.monotonic()
            # A worker busy with one large batch can look idle for seconds: wait for 10 s of
            # no change (a hang guard, not a speed bound).
            while time.monotonic() - stable_since < 10:
                k = view.kpis(city.code)
                cur = (k.watermark, k.open, k.new_today)
                if cur != last:
                    last, stable_since = cur, time.monotonic()
                time.sleep(0.3)
            hh = area_households(city)

            def expected() -> dict:
                # Read afresh each time: on a loaded machine the worker can pause longer than
                # the stability window above and still have a backlog to apply.
                k = view.kpis(city.code)
                active = VisitView(view, lambda c: hh.get(c, 0)).kpis(city.code)["active_workers"]
                return {"new-today": k.new_today, "open": k.open, "last-hour": k.new_last_hour,
                        "active-workers": active}

            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                expect = expected()
                shown = {name: _tile(page, name) for name in expect}
                if shown == expect and expected() == expect:
                    break
                page.wait_for_timeout(300)
            assert shown == expect
            page.wait_for_timeout(1500)  # let the map draw the last tick
            page.screenshot(path=str(OUT / "wall-up.png"))
            assert not non_local_requests(requests), non_local_requests(requests)
        os.kill(sim_pid, signal.SIGCONT)
        up.send_signal(signal.SIGINT)
        rest, _ = up.communicate(timeout=60)
        lines.append(rest)
        assert up.returncode == 0, "".join(lines)
        for name in ("worker", "dashboard", "simulator"):
            assert f"{name}: stopped" in rest
    finally:
        if sim_pid:
            try:
                os.kill(sim_pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            try:
                up.wait(30)
            except subprocess.TimeoutExpired:
                up.kill()
        (OUT / "up.log").write_text("".join(lines))

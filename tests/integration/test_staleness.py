"""Stale is visible, wrong is impossible (issue 11, item 3): the reading side.

A redis-server of this module's own (so it can be stopped, frozen with SIGSTOP and
restarted empty), filled with a simulated morning through the real processors, and the
wall's app served on it. The workers' status keys are written by the test
(tests/integration/status.py), one state at a time:

- every API answer carries the views' freshness; while Redis is away every endpoint
  answers 503 JSON naming ``redis`` with ``Retry-After`` (never another 5xx, never a
  traceback in the log), and the right answers once it is back, empty or not;
- each state shows in the wall's title bar in Chromium, in Chinese and English, with the
  figures kept and dimmed (never blanked or zeroed) while they are not current; the
  drill-down and alerts pages show it too;
- with no data, no page and no answer shows 0 for a figure.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis

from gridpulse.city import load_city
from gridpulse.clock import local_day, now_ms, parse_local
from gridpulse.freshness import clock_text
from gridpulse.rkeys import CASE, GPS, Keys
from gridpulse.runtime.redis_server import EmbeddedRedis
from gridpulse.views import LiveView
from tests.browser import launch_chromium

from dashboard.visits import day_date, visit_view

from .fill import PARTITIONS, fill
from .status import Heartbeat, stamp
from .test_dashboard import OUT, TZ, serve_wall
from .tracebacks import _no_traceback, tracebacks  # noqa: F401 - fixtures

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

PREFIX = "stale:"
EMPTY_PREFIX = "nothing:"  # a deployment before any worker wrote anything
TIMEOUT_S = 0.5  # GRIDPULSE_DASH_REDIS_TIMEOUT_S of the served app: a frozen Redis is noticed soon
HANG_GUARD_S = 60  # a request that takes this long has hung: a guard, not a speed bound
ROOT = Path(__file__).resolve().parents[2]


class PinnedRedis(EmbeddedRedis):
    """An embedded Redis that comes back on the port it first had, so the app's URL
    reaches it again after a restart (empty: persistence is off)."""

    pinned: int | None = None

    def _command(self, binary: str, port: int) -> list[str]:
        return super()._command(binary, self.pinned or port)

    def _answers(self, port: int) -> bool:
        return super()._answers(self.pinned or port)

    def start(self):
        super().start()
        self.pinned = self.pinned or self.port
        self.port = self.pinned
        return self

    def freeze(self) -> None:
        """Stop answering without closing a connection (SIGSTOP): every read times out."""
        os.kill(self._proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self._proc.pid, signal.SIGCONT)


@pytest.fixture(scope="module")
def city():
    return load_city("ningbo")


def _fill(url: str, city) -> None:
    fill(url, PREFIX, city, start_ms=parse_local("2026-11-27T08:00:00", TZ),
         until_ms=parse_local("2026-11-27T09:30:00", TZ), terminals=40)


@pytest.fixture(scope="module")
def own_redis(city):
    server = PinnedRedis().start()
    _fill(server.url, city)
    try:
        yield server
    finally:
        try:
            server.thaw()
        except (OSError, AttributeError, TypeError):
            pass
        server.stop()


@pytest.fixture(scope="module")
def served(own_redis):
    with serve_wall(own_redis.url, PREFIX, dash_redis_timeout_s=TIMEOUT_S) as (base, cfg):
        yield base, cfg


@pytest.fixture
def alive(own_redis):
    """A worker alive with nothing waiting, every partition written just now."""
    stamp(redis.Redis.from_url(own_redis.url), Keys(PREFIX), now_ms())
    with Heartbeat(own_redis.url, PREFIX, PARTITIONS) as beat:
        yield beat


def get(base: str, path: str) -> tuple[int, dict, bytes]:
    """``(status, headers, body)`` of one GET (no exception for 4xx/5xx)."""
    try:
        with urllib.request.urlopen(base + path, timeout=HANG_GUARD_S) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def post(base: str, path: str) -> tuple[int, dict, bytes]:
    """``(status, headers, body)`` of an acknowledgement's POST."""
    req = urllib.request.Request(base + path, data=json.dumps({"by": "值班员"}).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=HANG_GUARD_S) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def get_json(base: str, path: str, status: int = 200) -> dict:
    code, headers, body = get(base, path)
    assert code == status, (path, code, body[:300])
    assert headers["Content-Type"] == "application/json; charset=utf-8", (path, headers)
    return json.loads(body)


def endpoints(url: str, city) -> list[str]:
    """One request of every read endpoint, on real ids of the filled morning."""
    view = LiveView.from_url(url, PREFIX, TZ, city.code)
    case = next(k.decode() for p in range(PARTITIONS) for k in view.r.hkeys(view.k.open_cases(p)))
    visits = visit_view(view, city)
    day = local_day(visits.now(), TZ)
    s = sorted(visits.days(day).values(), key=lambda x: x["terminal"])[0]
    date = day_date(day)
    district = city.districts[0].code
    return [f"/api/kpi/city/{city.code}", f"/api/kpi/district/{district}?minutes=5",
            f"/api/departments?area={district}", f"/api/score/town/{district}",
            "/api/score/department/sanitation", "/api/score/worker/W00001", f"/api/case/{case}",
            f"/api/visits/city/{city.code}", f"/api/track/{s['terminal']}/{date}",
            f"/api/worker/{s['worker']}/{date}", f"/api/workers/{s['grid']}/{date}",
            f"/api/area/{district}", f"/api/area/{s['grid']}?overdue=true", "/api/alerts?limit=5"]


# -- the API ----------------------------------------------------------------------------------
def test_every_answer_carries_its_freshness(served, own_redis, alive, city):
    base, _ = served
    r = redis.Redis.from_url(own_redis.url)
    at = now_ms()
    stamp(r, Keys(PREFIX), at)
    for path in endpoints(own_redis.url, city):
        f = get_json(base, path)["freshness"]
        assert f["state"] == "live" and f["data_at"] == at and f["missing"] == [], (path, f)
        assert f["lag"] == {"case": 0, "gps": 0} and f["workers"] == 1 and f["age_s"] >= 0
    at = now_ms()
    stamp(r, Keys(PREFIX), at)  # written just now: records waiting are "behind", not "stale"
    alive.set(lag={"case": 9000, "gps": 0})
    assert get_json(base, f"/api/kpi/city/{city.code}")["freshness"]["lag"]["case"] == 9000
    assert get_json(base, "/api/alerts")["freshness"]["state"] == "behind"
    alive.set(lag={"case": 0, "gps": 0},
              rebuilding=[{"kind": "gps", "partition": 1, "done": 0.5, "since": now_ms()}])
    f = get_json(base, f"/api/visits/city/{city.code}")["freshness"]
    assert f["state"] == "rebuilding" and f["rebuilding"]["done"] == 0.5
    alive.set(rebuilding=[], waiting="kafka")
    f = get_json(base, f"/api/area/{city.code}")["freshness"]
    assert (f["state"], f["reason"], f["since"]) == ("stale", "waiting_kafka", at)


def test_an_outage_answers_503_json_with_retry_after_then_the_right_figures(served, own_redis, alive, city):
    base, _ = served
    paths = endpoints(own_redis.url, city)
    view = LiveView.from_url(own_redis.url, PREFIX, TZ, city.code)
    before = get_json(base, f"/api/kpi/city/{city.code}")
    assert before["open"] == view.kpis(city.code).open > 0

    def all_503(why: str) -> None:
        assert get(base, "/api/nope")[0] == 404  # routing needs no Redis: still a JSON 404
        for path in paths + ["POST /api/alerts/C1:handle:1:warning/ack"]:
            code, headers, body = post(base, path.split()[1]) if path.startswith("POST") else get(base, path)
            assert code == 503, (why, path, code, body[:200])
            assert headers["Content-Type"] == "application/json; charset=utf-8", (why, path, headers)
            assert int(headers["Retry-After"]) > 0, (why, path, headers)
            doc = json.loads(body)
            assert doc["field"] == "redis" and "Redis" in doc["error"], (why, path, doc)

    # Frozen: connections stay open, nothing answers (every read times out).
    own_redis.freeze()
    try:
        all_503("frozen")
    finally:
        own_redis.thaw()
    assert get_json(base, f"/api/kpi/city/{city.code}")["open"] == before["open"]

    # Gone: connections refused; the `gridpulse kpi` command says so in one line.
    own_redis.stop()
    try:
        all_503("stopped")
        cli = run_kpi(own_redis.pinned, password="s3cret-pw")
        assert cli.returncode == 3 and cli.stdout == "", cli
        said = [line for line in cli.stderr.splitlines() if line.startswith("gridpulse kpi")]
        assert len(said) == 1 and "Redis does not answer" in said[0], cli.stderr
        assert "Traceback" not in cli.stderr and "s3cret-pw" not in cli.stderr, cli.stderr
    finally:
        own_redis.start()  # back on its port, empty

    # Back but empty: answers again, and nothing is shown as 0.
    doc = get_json(base, f"/api/kpi/city/{city.code}")
    assert doc["freshness"]["state"] == "empty" and doc["open"] is None and doc["per_minute"] is None
    cli = run_kpi(own_redis.pinned)
    assert cli.returncode == 0, cli.stderr
    out = json.loads(cli.stdout)
    assert out["freshness"]["state"] == "empty" and out["open"] is None
    assert out["visits"]["active_workers"] is None and out["visits"]["households"] > 0
    # Filled again (a rebuild): the figures are the views' again.
    _fill(own_redis.url, city)
    stamp(redis.Redis.from_url(own_redis.url), Keys(PREFIX), now_ms())
    alive.beat()
    after = get_json(base, f"/api/kpi/city/{city.code}")
    assert after["freshness"]["state"] == "live"
    assert {k: after[k] for k in ("open", "overdue", "new_today", "closed_today")} == {
        k: before[k] for k in ("open", "overdue", "new_today", "closed_today")}
    cli = run_kpi(own_redis.pinned)
    assert json.loads(cli.stdout)["open"] == before["open"]


def run_kpi(port: int, password: str | None = None) -> subprocess.CompletedProcess:
    """``gridpulse kpi`` against the module's Redis, as an operator runs it."""
    auth = f":{password}@" if password else ""
    env = {**os.environ, "REDIS_URL": f"redis://{auth}127.0.0.1:{port}/0",
           "GRIDPULSE_REDIS_PREFIX": PREFIX, "GRIDPULSE_DASH_REDIS_TIMEOUT_S": "1",
           "GRIDPULSE_LOGLEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-m", "gridpulse.cli", "kpi"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=HANG_GUARD_S * 2)


# -- the screens ------------------------------------------------------------------------------
WAIT_MS = 30_000  # a hang guard: a state shows within a few ticks


def _shows(page, text_re: str, cls: str, dim: bool) -> None:
    """Wait until the wall's indicator reads ``text_re`` with class ``cls`` (and the body
    dimmed or not), the tiles still holding figures."""
    page.wait_for_function(
        """([re, cls, dim]) => {
            const ind = document.getElementById('live-indicator');
            const txt = document.getElementById('live-text');
            const body = document.getElementById('wall-body');
            return ind && txt && body && new RegExp(re).test(txt.textContent)
                && ind.className.split(' ').includes(cls)
                && body.className.split(' ').includes('dim') === dim; }""",
        arg=[text_re, cls, dim], timeout=WAIT_MS)


def _tile(page) -> str:
    return page.inner_text("#tile-open").strip()


def test_each_state_on_the_wall_in_both_languages(served, own_redis, alive, city):
    base, _ = served
    r = redis.Redis.from_url(own_redis.url)
    keys = Keys(PREFIX)
    opened = str(LiveView.from_url(own_redis.url, PREFIX, TZ, city.code).kpis(city.code).open)
    district = city.districts[0].code
    errors: list[str] = []
    OUT.mkdir(exist_ok=True)
    with launch_chromium() as browser:
        zh, en = browser.new_page(), browser.new_page()
        area = browser.new_page()
        alerts = browser.new_page()
        for p in (zh, en, area, alerts):
            p.on("pageerror", lambda exc: errors.append(str(exc)))
        zh.goto(base + "/")
        en.goto(base + "/?lang=en")
        area.goto(base + f"/district/{district}?lang=en")
        alerts.goto(base + "/alerts")

        def both(zh_re, en_re, cls, dim, shot=None):
            _shows(zh, zh_re, cls, dim)
            _shows(en, en_re, cls, dim)
            # Never blanked nor zeroed: the last whole figures stay on the tiles.
            assert _tile(zh) == opened and _tile(en).replace(",", "") == opened, (cls, _tile(zh), _tile(en))
            if shot:
                zh.screenshot(path=str(OUT / f"wall-{shot}.png"))
                en.screenshot(path=str(OUT / f"wall-{shot}-en.png"))

        def asof(page) -> str:
            return page.inner_text("#data-asof").strip()

        both("^实时$", "^LIVE$", "live", False)
        assert asof(zh) == "" and asof(en) == ""
        area.wait_for_function("() => document.getElementById('d-status-text').textContent === 'LIVE'",
                               timeout=WAIT_MS)
        alerts.wait_for_function("() => document.getElementById('al-status-text').textContent === '实时'",
                                 timeout=WAIT_MS)

        # Behind: more records waiting than GRIDPULSE_BEHIND_RECORDS (written just now, so
        # however long the pages took to load, the records have not waited a minute).
        stamp(r, keys, now_ms())
        alive.set(lag={"case": 12000, "gps": 345})
        both("^滞后 12345 条", "^Behind by 12,345 records", "behind", False, "behind")

        # Rebuilding: a worker replays partitions from Kafka.
        alive.set(lag={"case": 0, "gps": 0}, rebuilding=[
            {"kind": "case", "partition": 0, "done": 0.25, "since": now_ms()},
            {"kind": "gps", "partition": 1, "done": 0.75, "since": now_ms()}])
        both("^重建中 50%$", "^Rebuilding 50%$", "rebuilding", True, "rebuilding")
        assert asof(en).startswith("Figures as of ")

        # Stale: the last write was minutes ago and no worker is alive any more.
        alive.set(rebuilding=[])
        written = now_ms() - 7 * 60_000
        stamp(r, keys, written)
        alive.__exit__(None, None, None)
        since = clock_text(written, now_ms(), TZ)
        both(f"^数据停滞 · 自 {since}$", f"^Stale since {since}$", "stale", True, "stale")
        assert asof(zh) == f"数据截至 {since}" and asof(en) == f"Figures as of {since}"
        area.wait_for_function(
            f"() => document.getElementById('d-status-text').textContent === 'Stale since {since}'"
            " && document.getElementById('d-body').classList.contains('dim')", timeout=WAIT_MS)
        area.screenshot(path=str(OUT / "district-stale.png"))

        # Emptied (a flushed Redis, before any worker says it rebuilds): the last whole
        # figures stay, dimmed; the title bar says there is no data.
        saved = {kind: r.smembers(keys.parts(kind)) for kind in (CASE, GPS)}
        for kind in (CASE, GPS):
            r.delete(keys.parts(kind))
        try:
            both("^暂无数据$", "^No data yet$", "empty", True)
        finally:
            for kind, members in saved.items():
                r.sadd(keys.parts(kind), *members)

        # Redis frozen: unreachable; the wall answers from memory and keeps its figures.
        with Heartbeat(own_redis.url, PREFIX, PARTITIONS):
            stamp(r, keys, now_ms())
            both("^实时$", "^LIVE$", "live", False)
            own_redis.freeze()
            try:
                both("^Redis 无法连接$", "^Redis unreachable$", "unreachable", True, "unreachable")
                area.wait_for_function(
                    "() => document.getElementById('d-status-text').textContent === 'Redis unreachable'",
                    timeout=WAIT_MS)
                alerts.wait_for_function(
                    "() => document.getElementById('al-status-text').textContent === 'Redis 无法连接'"
                    " && document.querySelectorAll('#alerts-table table').length === 1", timeout=WAIT_MS)
                assert re.fullmatch(r"数据截至 \d\d:\d\d", asof(zh)), asof(zh)
            finally:
                own_redis.thaw()
            both("^实时$", "^LIVE$", "live", False)
    assert not errors, errors


ZERO = re.compile(r"^\s*0(?:[.,]0+)?\s*%?\s*$")
# Every figure of every page: tiles, rankings, counts, table cells holding numbers.
FIGURES = ("#tile-new-today, .tile-num, .tile-sub-num, .d-val, #alerts-open, #dead-num, .sp-num, "
           "[id^=d-kpi-], [id^=b-stage-], [id^=b-dept-], td.num, .panel-count, #alerts-count, .wk-count")


def test_no_page_and_no_answer_shows_zero_without_data(redis_url, city):
    """A Redis no worker wrote to yet: figures are null / "–", the state "no data yet";
    then a worker rebuilding from scratch: "rebuilding n%", still no zeros."""
    district = city.districts[0]
    town = city.children(district.code)[0]
    grid = city.children(city.children(town)[0])[0]
    date = "2026-11-27"
    pages = ["/", "/?lang=en", f"/district/{district.code}", f"/town/{town}?lang=en", f"/grid/{grid}",
             "/bottlenecks", f"/bottlenecks?area={district.code}&lang=en", "/alerts",
             f"/grid/{grid}/workers?day={date}", f"/worker/W00001?day={date}"]
    with serve_wall(redis_url, EMPTY_PREFIX) as (base, _):
        k = get_json(base, f"/api/kpi/city/{city.code}")
        assert k["freshness"]["state"] == "empty"
        assert all(k[f] is None for f in ("open", "overdue", "new_today", "new_last_hour", "closed_today",
                                          "on_time_rate", "per_minute", "stage_times", "score")), k
        v = get_json(base, f"/api/visits/district/{district.code}")
        assert v["active_workers"] is None and v["coverage_30d"] is None and v["visits_today"] is None
        a = get_json(base, f"/api/area/{district.code}")
        assert a["kpis"]["open"] is None and a["cases"]["total"] is None and a["visits"]["silent_grids"] is None
        assert all(row["open"] is None and row["active_workers"] is None for row in a["children"])
        assert get_json(base, "/api/departments")["departments"] is None
        assert get_json(base, f"/api/score/town/{district.code}")["closed"] is None
        assert get_json(base, "/api/alerts")["alerts"] is None
        assert get_json(base, f"/api/workers/{grid}/{date}")["terminals"] is None
        for path in ("/api/case/C20261127-0000001", f"/api/track/T00001/{date}", f"/api/worker/W00001/{date}"):
            code, headers, body = get(base, path)
            assert code == 503 and json.loads(body)["field"] == "data" and headers["Retry-After"], (path, body)

        errors: list[str] = []
        with launch_chromium() as browser:
            page = browser.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            status_js = """() => { const e = document.querySelector(
                    '#live-text, #d-status-text, #al-status-text, #page-message');
                    return e ? e.textContent : null; }"""
            for path in pages:
                page.goto(base + path)
                # The page's status says its data answered; a second more lets every other
                # callback of the same refresh land before the figures are read.
                page.wait_for_function(f"() => ({status_js})() === '暂无数据' || ({status_js})() === "
                                       f"'No data yet' || ({status_js})() === '暂无定位数据'", timeout=30_000)
                page.wait_for_timeout(1500)
                shown = page.evaluate(f"""() => Array.from(document.querySelectorAll({json.dumps(FIGURES)}))
                    .map(e => [e.id || e.className, e.textContent])""")
                zeros = [s for s in shown if ZERO.match(s[1])]
                assert not zeros, (path, zeros)
                status = page.evaluate(status_js)
                assert status in ("暂无数据", "No data yet", "暂无定位数据"), (path, status)
            page.screenshot(path=str(OUT / "worker-no-data.png"))
            with Heartbeat(redis_url, EMPTY_PREFIX) as beat:
                beat.set(rebuilding=[{"kind": k, "partition": p, "done": 0.1 * (p + 1), "since": now_ms()}
                                     for k in (CASE, GPS) for p in range(2)])
                page.goto(base + "/?lang=en")
                _shows(page, "^Rebuilding 15%$", "rebuilding", False)  # nothing shown to dim
                page.wait_for_timeout(3000)
                shown = page.evaluate(f"""() => Array.from(document.querySelectorAll({json.dumps(FIGURES)}))
                    .map(e => e.textContent)""")
                assert not [s for s in shown if ZERO.match(s)], shown
                page.screenshot(path=str(OUT / "wall-rebuilding-empty.png"))
        assert not errors, errors

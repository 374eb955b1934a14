"""The wall's speed (issue 5): first paint of ``/wall``, server time per callback and bytes
per update, on the full city with the simulator running, in headless Chromium.

Usage::

    .venv/bin/python bench/wall.py                       # defaults: 5 cold + 5 warm loads, 60 s live
    .venv/bin/python bench/wall.py --loads 3 --seconds 30 --warmup 60
    .venv/bin/python bench/wall.py --rate 3000 --pages 3  # a faster simulator, three walls open

What runs is what ``gridpulse up`` runs (it is started as a subprocess): the embedded
Tansu broker, a fresh embedded ``redis-server``, one worker, the simulator over the whole
fleet (13,800 terminals, Ningbo's 12,216 grids) at ``GRIDPULSE_SIM_MAX_EVENTS_PER_S``
(``--rate``; default: the setting's default) from a working morning, and the dashboard
on waitress. After ``--warmup`` seconds of live data, Debian's chromium (tests/browser.py)
measures:

* **first paint**, ``--loads`` times from an empty cache and ``--loads`` times warm
  (reload: the static geometry comes from the cache): the browser's first contentful
  paint (Dash's "Loading..." counts, so it is a floor, not the figure), the wall drawn
  (tiles laid out), live figures (every case tile shows a number), the map's geometry
  loaded (``grids.json`` received), and **wall ready** = the later of the last two: the
  figure the bar (< 3 s) is about. Times are from navigation start (Navigation Timing).
* **per callback**, for ``--seconds`` with ``--pages`` walls open, each coloured by open
  cases then by 30-day coverage with today's hexagons on (the heaviest feeds): every
  ``/_dash-update-component`` exchange, named by its first output, with the server time
  as the browser sees it on localhost (responseStart - requestStart: queueing in
  waitress, the callback, JSON; p50/p95/max) and the response body bytes (p50/p95/max,
  and bytes per second per wall: what one wall costs the network).

The server's own figures come from the dashboard itself (``/api/timing``,
dashboard/timing.py: time and CPU time per callback inside the server). A second live
window then runs with the simulator stopped (SIGSTOP) once the worker has caught up:
on this 2-core machine the simulator, worker, broker and the software-rendering
browser compete with the dashboard for the CPU, and the two windows tell that apart
(``--no-frozen`` skips it).

The **baseline** runs in the same process tree, after the wall, while the same system runs: a
bare Dash app (one ``dcc.Interval`` at the same period, one callback returning a number,
served by waitress with the same threads), loaded and measured the same way. Ratios wall
/ baseline say what gridpulse adds to what Dash itself costs.

Nothing asserts a time: machines are noisy; the figures go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gridpulse.runtime.local_server import free_port  # noqa: E402
from gridpulse.runtime.redis_server import EmbeddedRedis  # noqa: E402
from dashboard.timing import percentile  # noqa: E402
from tests.browser import launch_chromium, non_local_requests  # noqa: E402

CASE_TILES = ("tile-new-today", "tile-last-hour", "tile-open", "tile-overdue")
# Recorded in the page (performance.now(), ms from navigation start) the first time each
# holds; polled every animation frame by wait_for_function.
LIVE_JS = ("() => { const ok = " + json.dumps(list(CASE_TILES)) +
           ".every(id => /[0-9]/.test((document.getElementById(id) || {}).textContent || ''));"
           " if (ok && !window.__gpLive) { window.__gpLive = performance.now(); } return ok; }")
DRAWN_JS = ("() => { const ok = !!document.getElementById('tile-open') && !!document.querySelector('canvas#map');"
            " if (ok && !window.__gpDrawn) { window.__gpDrawn = performance.now(); } return ok; }")
GEOMETRY_JS = ("() => { const e = performance.getEntriesByType('resource')"
               ".filter(r => r.name.endsWith('/grids.json'))[0]; return e ? e.responseEnd : null; }")
BASE_LIVE_JS = ("() => { const ok = /[0-9]/.test((document.getElementById('n') || {}).textContent || '');"
                " if (ok && !window.__gpLive) { window.__gpLive = performance.now(); } return ok; }")


# The wall's admin token (GRIDPULSE_ADMIN_TOKEN): this run starts the dashboard, so it
# picks one and clears /api/timing with it between the measuring windows.
ADMIN_TOKEN = secrets.token_urlsafe(24)


def _pct(xs: list[float], q: float) -> float:
    return percentile(xs, q, empty=float("nan"))


# --- the baseline: a bare Dash app -------------------------------------------------

def baseline_server(port: int, interval_ms: int) -> None:
    """A bare Dash app: one Interval, one callback, waitress with the wall's 8 threads."""
    import dash
    import waitress
    from dash import Input, Output, dcc, html

    app = dash.Dash(__name__, serve_locally=True, update_title=None)
    app.layout = html.Div([dcc.Interval(id="tick", interval=interval_ms), html.Div(id="n")])

    @app.callback(Output("n", "children"), Input("tick", "n_intervals"))
    def _n(n):
        return str(n or 0)

    from dashboard import timing  # the same in-server timing as the wall's
    timing.install(app.server, timing.CallbackTimes(), app.callback_map)

    waitress.serve(app.server, host="127.0.0.1", port=port, threads=8, ident="baseline")


# --- measuring in the browser ------------------------------------------------------

def _load(page, url: str, cold: bool, live_js: str, geometry: bool) -> dict:
    if cold:
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.clearBrowserCache")
        cdp.detach()
    page.goto(url, wait_until="commit")
    page.wait_for_function(live_js, polling="raf", timeout=60_000)
    out = {"live": page.evaluate("() => window.__gpLive")}
    if geometry:
        page.wait_for_function(DRAWN_JS, polling="raf", timeout=60_000)
        out["drawn"] = page.evaluate("() => window.__gpDrawn")
        page.wait_for_function(GEOMETRY_JS, timeout=60_000)
        out["geometry"] = page.evaluate(GEOMETRY_JS)
        out["ready"] = max(out["live"], out["geometry"])
    else:
        out["ready"] = out["live"]
    out["fcp"] = page.evaluate(
        "() => (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null")
    return out


def first_paint(browser, url: str, loads: int, live_js: str, geometry: bool) -> dict[str, list[dict]]:
    """``loads`` cold then ``loads`` warm loads of ``url`` in one page."""
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    out: dict[str, list[dict]] = {"cold": [], "warm": []}
    try:
        for kind in ("cold", "warm"):
            for _ in range(loads):
                out[kind].append(_load(page, url, kind == "cold", live_js, geometry))
    finally:
        page.close()
    return out


def _output_name(req) -> str:
    try:
        body = req.post_data_json or {}
    except Exception:  # noqa: BLE001 - an unparsable body is named as such
        return "?"
    first = (body.get("output") or "?").strip(".").split("...")[0]
    return first.split(".")[0]


def callbacks(browser, url: str, seconds: float, pages: int, modes: bool) -> dict:
    """Every callback exchange of ``pages`` open pages of ``url`` during ``seconds``."""
    reqs: list = []
    errors: list[str] = []
    urls: list[str] = []
    opened = []
    for _ in range(pages):
        p = browser.new_page(viewport={"width": 1920, "height": 1080})
        p.on("pageerror", lambda exc: errors.append(str(exc)))
        p.on("request", lambda r: urls.append(r.url))
        p.goto(url)
        opened.append(p)
    for p in opened:
        p.wait_for_function(LIVE_JS if modes else BASE_LIVE_JS, timeout=60_000)
        if modes:
            p.click("#map-mode label:has(input[value='open'])")
            p.click("#map-heat label:has(input[value='hex'])")
    cdp = opened[0].context.new_cdp_session(opened[0])
    cdp.send("Performance.enable")

    def busy() -> dict:
        m = {x["name"]: x["value"] for x in cdp.send("Performance.getMetrics")["metrics"]}
        return {k: m.get(k, 0.0) for k in ("TaskDuration", "ScriptDuration", "LayoutDuration")}

    busy0 = busy()
    t0 = time.monotonic()

    def keep(r):
        if "/_dash-update-component" in r.url:
            reqs.append((time.monotonic(), r))

    for p in opened:
        p.on("requestfinished", keep)
    half = seconds / 2
    while time.monotonic() - t0 < seconds:
        opened[0].wait_for_timeout(500)
        if modes and half and time.monotonic() - t0 >= half:
            for p in opened:
                p.click("#map-mode label:has(input[value='30d'])")
            half = 0
    busy1 = busy()
    elapsed = time.monotonic() - t0
    main_thread = {k: (busy1[k] - busy0[k]) / elapsed for k in busy0}
    server = _get_json(url.rsplit("/", 1)[0] + "/api/timing")
    rows = []
    for at, r in reqs:
        t = r.timing
        if t["responseStart"] < 0 or t["requestStart"] < 0:
            continue
        rows.append({"out": _output_name(r), "server_ms": t["responseStart"] - t["requestStart"],
                     "bytes": r.sizes()["responseBodySize"], "at": at - t0})
    for p in opened:
        p.close()
    return {"rows": rows, "seconds": seconds, "pages": pages, "errors": errors,
            "offline": not non_local_requests(urls), "main_thread": main_thread, "server": server}


def _clear_timing(base: str) -> None:
    import urllib.request
    req = urllib.request.Request(base + "/api/timing", method="DELETE",
                                 headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    urllib.request.urlopen(req, timeout=30).read()


def _settle(redis_url: str, quiet_s: float = 10.0, limit_s: float = 300.0) -> None:
    """Wait until the city's figures stop moving for ``quiet_s`` (the worker caught up)."""
    last, since, t0 = None, time.monotonic(), time.monotonic()
    while time.monotonic() - since < quiet_s and time.monotonic() - t0 < limit_s:
        cur = _status(redis_url)
        if cur != last:
            last, since = cur, time.monotonic()
        time.sleep(0.5)


def _get_json(url: str) -> dict:
    import urllib.request
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.loads(resp.read())


# --- the system under test ---------------------------------------------------------

@contextlib.contextmanager
def running_up(redis_url: str, rate: float | None, start: str, logdir: Path):
    """``gridpulse up`` in a subprocess; yields the wall's base URL."""
    env = dict(os.environ, REDIS_URL=redis_url, GRIDPULSE_DASH_PORT=str(free_port()),
               GRIDPULSE_WORKER_WEB_PORT=str(free_port()), GRIDPULSE_LOG_DIR=str(logdir),
               GRIDPULSE_SIM_START=start, GRIDPULSE_ADMIN_TOKEN=ADMIN_TOKEN, PYTHONUNBUFFERED="1")
    env.pop("KAFKA_BOOTSTRAP", None)
    if rate is not None:
        env["GRIDPULSE_SIM_MAX_EVENTS_PER_S"] = str(rate)
    up = subprocess.Popen([sys.executable, "-m", "gridpulse.cli", "up"], env=env, cwd=logdir,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 180
        url = sim = None
        while url is None and time.monotonic() < deadline:
            line = up.stdout.readline()
            if not line and up.poll() is not None:
                raise SystemExit(f"gridpulse up exited with {up.returncode}")
            m = re.search(r"simulator: started \(pid (\d+)", line)
            sim = int(m.group(1)) if m else sim
            m = re.search(r"dashboard: (http://\S+)", line)
            url = m.group(1).rstrip("/") if m else None
        if url is None:
            raise SystemExit("the dashboard did not come up")
        yield url, sim
    finally:
        if sim:
            with contextlib.suppress(ProcessLookupError):
                os.kill(sim, signal.SIGCONT)
        up.send_signal(signal.SIGINT)
        try:
            up.wait(60)
        except subprocess.TimeoutExpired:
            up.kill()


def _status(redis_url: str) -> dict:
    from gridpulse.city import load_city
    from gridpulse.settings import load
    from gridpulse.views import LiveView

    s = load()
    view = LiveView.from_url(redis_url, s.redis_prefix, s.timezone)
    k = view.kpis(load_city(s.city).code)
    return {"open": k.open, "overdue": k.overdue, "new_today": k.new_today,
            "watermark": k.watermark}


# --- report ------------------------------------------------------------------------

def _loads_table(name: str, fp: dict[str, list[dict]], keys: tuple[str, ...]) -> list[str]:
    lines = []
    for kind, loads in fp.items():
        cells = []
        for k in keys:
            xs = [x[k] for x in loads if x.get(k) is not None]
            cells.append(f"{statistics.median(xs) / 1000:.2f} s (max {max(xs) / 1000:.2f})" if xs else "-")
        lines.append(f"| {name} | {kind} | " + " | ".join(cells) + " |")
    return lines


def _callbacks_table(name: str, cb: dict) -> tuple[list[str], dict]:
    by: dict[str, list[dict]] = {}
    for r in cb["rows"]:
        by.setdefault(r["out"], []).append(r)
    lines = []
    for out, rows in sorted(by.items(), key=lambda kv: -len(kv[1])):
        ms = [r["server_ms"] for r in rows]
        b = [r["bytes"] for r in rows]
        lines.append(f"| {name} | {out} | {len(rows)} | {_pct(ms, .5):.1f} | {_pct(ms, .95):.1f} | "
                     f"{max(ms):.1f} | {_pct(b, .5):,.0f} | {_pct(b, .95):,.0f} | {max(b):,} |")
    all_ms = [r["server_ms"] for r in cb["rows"]]
    total = sum(r["bytes"] for r in cb["rows"])
    per_s = total / cb["seconds"] / cb["pages"]
    summary = {"p95_ms": _pct(all_ms, .95), "p50_ms": _pct(all_ms, .5), "max_ms": max(all_ms, default=0),
               "bytes_per_s": per_s, "max_bytes": max((r["bytes"] for r in cb["rows"]), default=0),
               "n": len(all_ms)}
    lines.append(f"| {name} | **all** | {len(all_ms)} | {summary['p50_ms']:.1f} | {summary['p95_ms']:.1f} | "
                 f"{summary['max_ms']:.1f} | | | {summary['max_bytes']:,} |")
    return lines, summary


def _print_server_table(windows) -> None:
    """The /api/timing summaries of ``(page name, callbacks window)`` pairs as one table."""
    print("| page | callback | n | server p50 ms | p95 | max | CPU p50 ms | p95 | JSON bytes p95 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, c in windows:
        for out, st in list(c["server"]["callbacks"].items()) + [("**all**", c["server"]["all"])]:
            print(f"| {name} | {out} | {st['n']} | {st['server_ms']['p50']:.1f} | {st['server_ms']['p95']:.1f} | "
                  f"{st['server_ms']['max']:.1f} | {st['cpu_ms']['p50']:.1f} | {st['cpu_ms']['p95']:.1f} | "
                  f"{st['bytes']['p95']:,.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--loads", type=int, default=5, help="cold and warm loads each (default 5)")
    ap.add_argument("--seconds", type=float, default=60, help="live window measured (default 60)")
    ap.add_argument("--warmup", type=float, default=90, help="seconds of live data first (default 90)")
    ap.add_argument("--pages", type=int, default=1, help="walls open during the live window")
    ap.add_argument("--rate", type=float, default=None, help="simulator msg/s (default: the setting's)")
    ap.add_argument("--start", default="2026-11-27T08:30:00", help="simulated start, city time")
    ap.add_argument("--json", type=Path, help="also write the raw figures here")
    ap.add_argument("--no-frozen", dest="frozen", action="store_false",
                    help="skip the second window with the simulator stopped")
    ap.add_argument("--baseline-server", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--interval-ms", type=int, default=1000, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.baseline_server:
        baseline_server(args.baseline_server, args.interval_ms)
        return

    with tempfile.TemporaryDirectory(prefix="gp-bench-wall-") as tmp, EmbeddedRedis() as redis_srv:
        base_port = free_port()
        base = subprocess.Popen([sys.executable, __file__, "--baseline-server", str(base_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            with running_up(redis_srv.url, args.rate, args.start, Path(tmp)) as (url, sim):
                print(f"wall at {url}; {args.warmup:.0f} s of live data first...", flush=True)
                time.sleep(args.warmup)
                before = _status(redis_srv.url)
                with launch_chromium() as browser:
                    fp = first_paint(browser, url + "/wall", args.loads, LIVE_JS, True)
                    fp_base = first_paint(browser, f"http://127.0.0.1:{base_port}/", args.loads,
                                          BASE_LIVE_JS, False)
                    _clear_timing(url)
                    cb = callbacks(browser, url + "/wall", args.seconds, args.pages, True)
                    cb_base = callbacks(browser, f"http://127.0.0.1:{base_port}/", args.seconds,
                                        args.pages, False)
                    after = _status(redis_srv.url)
                    frozen = None
                    if args.frozen and sim:
                        # The same window with the simulator stopped and the worker caught up:
                        # what is left is the wall itself and the browser drawing it.
                        os.kill(sim, signal.SIGSTOP)
                        _settle(redis_srv.url)
                        _clear_timing(url)
                        frozen = callbacks(browser, url + "/wall", args.seconds, args.pages, True)
                        os.kill(sim, signal.SIGCONT)
        finally:
            base.terminate()
            base.wait(10)

    print(f"\nsimulator at {args.rate or 'the default'} msg/s; city KPIs before {before}, after {after}")
    print("\n| page | cache | first contentful paint | wall drawn | live figures | geometry | ready |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for line in _loads_table("/wall", fp, ("fcp", "drawn", "live", "geometry", "ready")):
        print(line)
    for line in _loads_table("bare Dash", fp_base, ("fcp", "live", "live", "live", "ready")):
        print(line.replace("(max", "(max", 1))
    print("\n| page | callback (first output) | n | server p50 ms | p95 | max | bytes p50 | p95 | max |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    lines, s_wall = _callbacks_table("/wall", cb)
    lines_b, s_base = _callbacks_table("bare Dash", cb_base)
    print("\n".join(lines + lines_b))
    ready = statistics.median(x["ready"] for x in fp["cold"])
    ready_b = statistics.median(x["ready"] for x in fp_base["cold"])
    print(f"\nwall ready (cold, median): {ready / 1000:.2f} s = {ready / ready_b:.1f}x the bare Dash app's "
          f"{ready_b / 1000:.2f} s")
    print(f"server time p95, all callbacks: {s_wall['p95_ms']:.1f} ms = "
          f"{s_wall['p95_ms'] / max(s_base['p95_ms'], 0.01):.1f}x the bare callback's {s_base['p95_ms']:.1f} ms")
    print(f"bytes per wall: {s_wall['bytes_per_s']:,.0f} B/s; largest single update {s_wall['max_bytes']:,} B "
          f"(bare Dash: {s_base['bytes_per_s']:,.0f} B/s)")
    print("\nin the server (dashboard/timing.py, /api/timing: from Flask to the answer, GIL waits included):")
    _print_server_table((("/wall", cb), ("bare Dash", cb_base)))
    if frozen:
        print("\nsimulator stopped, worker caught up (the wall alone with its browser):")
        _print_server_table((("/wall", frozen),))
        fticks = sum(1 for r in frozen["rows"] if r["out"] == "live") / frozen["seconds"] / frozen["pages"]
        print(f"browser: live updates {fticks:.2f}/s per wall; main thread busy "
              f"{frozen['main_thread']['TaskDuration'] * 100:.0f}%; bytes per wall "
              f"{sum(r['bytes'] for r in frozen['rows']) / frozen['seconds'] / frozen['pages']:,.0f} B/s")
    mt = cb["main_thread"]
    ticks = sum(1 for r in cb["rows"] if r["out"] == "live") / cb["seconds"] / cb["pages"]
    print(f"\nbrowser: live updates {ticks:.2f}/s per wall (the interval asks 1/s); main thread busy "
          f"{mt['TaskDuration'] * 100:.0f}% (script {mt['ScriptDuration'] * 100:.0f}%, layout "
          f"{mt['LayoutDuration'] * 100:.0f}%); bare Dash main thread {cb_base['main_thread']['TaskDuration'] * 100:.0f}%")
    print(f"page errors: {len(cb['errors'])}; offline: {cb['offline']}")
    if args.json:
        args.json.write_text(json.dumps({"first_paint": fp, "first_paint_base": fp_base,
                                         "callbacks": cb, "callbacks_base": cb_base, "frozen": frozen,
                                         "before": before, "after": after}, indent=1))


if __name__ == "__main__":
    main()

"""What each layer of the wall's map costs the browser: map redraws per second with
layers left out, on the full city with the simulator running.

Usage::

    .venv/bin/python bench/wall_layers.py                    # 25 s a variant (~5 min in all)
    .venv/bin/python bench/wall_layers.py --seconds 40

It starts ``gridpulse up`` as bench/wall.py does, waits ``--warmup`` seconds, then opens
one wall per variant in Debian's chromium (software WebGL), colours the grids by open
cases with today's hexagons on (the heaviest map), and serves ``assets/wall.js`` with
the named layers filtered out of the live canvas's document (the static canvas is
redrawn only when its colours or the view change). It prints, per variant, how many new
documents the live canvas received per second (each one a redraw; at most one a tick)
and how busy Chromium's main thread was (``Performance.getMetrics``). Nothing asserts a time; figures go to
docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gridpulse.runtime.redis_server import EmbeddedRedis  # noqa: E402
from tests.browser import launch_chromium  # noqa: E402
from wall import LIVE_JS, running_up  # noqa: E402

VARIANTS = [[], ["labels"], ["workers"], ["cases", "cases-new"], ["heat"],
            ["heat", "workers", "cases", "cases-new", "labels"]]


def patched_js() -> str:
    """wall.js with a layer filter (``window.__skip``) and a document counter in front of
    the live canvas's document."""
    js = (ROOT / "dashboard/assets/wall.js").read_text()
    line = "var doc = Object.assign({}, base.over, {layers: layers});"
    if line not in js:
        raise SystemExit(f"wall.js changed: no {line!r} to patch")
    return js.replace(line, "layers = layers.filter(function (l) { return (window.__skip || [])"
                      ".indexOf(l.id) < 0; }); window.__docs = (window.__docs || 0) + 1; " + line)


def measure(browser, url: str, js: str, skip: list[str], seconds: float) -> dict:
    """One wall with ``skip`` left out: documents per second and main-thread load."""
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    page.add_init_script(f"window.__skip = {json.dumps(skip)};")
    page.route("**/wall.js*", lambda route: route.fulfill(body=js, content_type="application/javascript"))
    page.goto(url)
    page.wait_for_function(LIVE_JS, timeout=60_000)
    page.click("#map-mode label:has(input[value='open'])")
    page.click("#map-heat label:has(input[value='hex'])")
    page.wait_for_timeout(3000)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")

    def metrics() -> dict:
        return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}

    d0, m0, t0 = page.evaluate("window.__docs || 0"), metrics(), time.monotonic()
    page.wait_for_timeout(seconds * 1000)
    d1, m1, elapsed = page.evaluate("window.__docs || 0"), metrics(), time.monotonic() - t0
    page.close()
    return {"left out": ", ".join(skip) or "nothing", "documents/s": (d1 - d0) / elapsed,
            "main thread busy": (m1["TaskDuration"] - m0["TaskDuration"]) / elapsed,
            "script": (m1["ScriptDuration"] - m0["ScriptDuration"]) / elapsed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=25)
    ap.add_argument("--warmup", type=float, default=60)
    ap.add_argument("--start", default="2026-11-27T08:30:00", help="simulated start, city time")
    args = ap.parse_args()
    js = patched_js()
    print("| live canvas: left out | documents/s | main thread busy | script |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="gp-bench-layers-") as tmp, EmbeddedRedis() as redis_srv:
        with running_up(redis_srv.url, None, args.start, Path(tmp)) as (url, _sim):
            time.sleep(args.warmup)
            with launch_chromium() as browser:
                for skip in VARIANTS:
                    r = measure(browser, url + "/wall", js, skip, args.seconds)
                    print(f"| {r['left out']} | {r['documents/s']:.2f} | {r['main thread busy']:.0%} "
                          f"| {r['script']:.0%} |", flush=True)


if __name__ == "__main__":
    main()

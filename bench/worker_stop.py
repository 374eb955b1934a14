"""How long a worker takes to exit after SIGTERM, with its dependencies up or stopped.

Usage::

    .venv/bin/python bench/worker_stop.py [--repeat 3] [--outage-wait 8]

Starts its own embedded broker and redis-server, then for each case starts a worker
with a simulator feeding it (50 terminals, 250 events/s), waits until it applied
records, and measures SIGTERM -> process exit:

- ``idle``: nothing sent for a few seconds before the SIGTERM;
- ``busy``: the simulator running;
- ``redis stopped``: redis-server SIGSTOP'd ``--outage-wait`` seconds before;
- ``broker stopped``: the broker SIGSTOP'd ``--outage-wait`` seconds before.

Also reports when the worker's log said the outage started (seconds after the stop).
Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gridpulse.runtime.broker import EmbeddedKafka  # noqa: E402
from gridpulse.runtime.redis_server import EmbeddedRedis  # noqa: E402
from tests.integration.pipeline import WorkerProcess, env_of, isolated_settings  # noqa: E402
from tests.integration.test_crash import applied  # noqa: E402

CASES = ("idle", "busy", "redis stopped", "broker stopped")
_LINE_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3})\]")


def _log_time(line: str) -> float | None:
    m = _LINE_TIME.match(line)
    if not m:
        return None
    return time.mktime(time.strptime(m.group(1)[:19], "%Y-%m-%d %H:%M:%S")) + int(m.group(1)[20:]) / 1000


def one(case: str, kafka: EmbeddedKafka, redis: EmbeddedRedis, outage_wait: float) -> tuple[float, float | None]:
    """(seconds from SIGTERM to exit, seconds from the stop to the outage line or None)."""
    s = isolated_settings(kafka.bootstrap, redis.url, f"ws{uuid.uuid4().hex[:6]}.", sim_terminals=50,
                          sim_cases_per_day=6000, sim_start="2026-11-27T08:00:00", sim_max_events_per_s=250)
    worker = WorkerProcess(s, "bench-stop")
    sim = subprocess.Popen([sys.executable, "-m", "gridpulse.cli", "simulate", "--max"], env=env_of(s),
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    victim = None
    noticed = None
    try:
        deadline = time.monotonic() + 120
        while applied(s) < 1000:
            assert worker.alive() and time.monotonic() < deadline, worker.log()[-2000:]
            time.sleep(0.2)
        if case == "idle":
            sim.terminate()
            sim.wait()
            time.sleep(5)
        elif case != "busy":
            victim = (redis if case == "redis stopped" else kafka)._proc.pid
            stopped_wall = time.time()
            os.kill(victim, signal.SIGSTOP)
            time.sleep(outage_wait)
            for line in worker.log().splitlines():
                if "] outage: " in line and (t := _log_time(line)) is not None:
                    noticed = t - stopped_wall
                    break
        t0 = time.monotonic()
        worker.proc.terminate()
        worker.proc.wait(300)
        took = time.monotonic() - t0
    finally:
        if victim is not None:
            os.kill(victim, signal.SIGCONT)
        if sim.poll() is None:
            sim.kill()
        worker.stop()
    return took, noticed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--outage-wait", type=float, default=8.0,
                    help="seconds between stopping Redis or the broker and the SIGTERM")
    args = ap.parse_args()
    rows = []
    with EmbeddedKafka() as kafka, EmbeddedRedis() as redis:
        for case in CASES:
            got = [one(case, kafka, redis, args.outage_wait) for _ in range(args.repeat)]
            took = [t for t, _ in got]
            noticed = [n for _, n in got if n is not None]
            rows.append((case, min(took), statistics.median(took), max(took),
                         f"{min(noticed):.1f}-{max(noticed):.1f}" if noticed else "-"))
            print(rows[-1], flush=True)
    print("\n| case | SIGTERM -> exit, min (s) | median | max | outage line after (s) |")
    print("|---|---:|---:|---:|---:|")
    for case, lo, med, hi, noticed in rows:
        print(f"| {case} | {lo:.1f} | {med:.1f} | {hi:.1f} | {noticed} |")


if __name__ == "__main__":
    main()

"""`gridpulse up`: the whole system on one machine, embedded where nothing is configured.

Starts (or connects to) Kafka and Redis, creates the topics, then runs the worker, the
notifier, the simulator and the dashboard as child processes, shows progress, prints the dashboard
URL and stops everything cleanly on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import redis

from ..city import load_city
from ..clock import fmt_local, now_ms
from ..loop.calendar import load_calendar
from ..loop.calendar_years import year_gap
from ..settings import Settings
from ..views import LiveView
from ..topics import names
from .broker import EmbeddedKafka, create_topics, kafka_reachable
from .redis_server import EmbeddedRedis, redis_reachable

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"


def _say(msg: str) -> None:
    print(f"[gridpulse] {msg}", flush=True)


def _clear_projections(url: str, prefix: str) -> int:
    """Delete the live views under ``prefix``: they belong to a broker that is gone."""
    r = redis.Redis.from_url(url)
    n = 0
    for batch in _chunks(r.scan_iter(match=f"{prefix}*", count=1000), 500):
        n += r.delete(*batch)
    return n


def _chunks(it, size):
    buf = []
    for x in it:
        buf.append(x)
        if len(buf) >= size:
            yield buf
            buf = []
    if buf:
        yield buf


def _wait_http(url: str, timeout: float, procs: list) -> bool:
    import urllib.request
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            return False
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return True
        time.sleep(0.2)
    return False


def _status(view: LiveView, settings: Settings) -> str:
    """One progress line: event time, cases and workers the views show."""
    try:
        k = view.kpis(load_city(settings.city).code)
        active = len(view.positions(settings.active_worker_minutes * 60_000))
    except redis.RedisError as exc:
        return f"status unavailable: {exc}"
    if not k.watermark:
        return "waiting for the first events..."
    return (f"event time {fmt_local(k.watermark, settings.timezone)} | cases today {k.new_today} "
            f"| open {k.open} | workers active {active}")


def _stop_on_signals() -> None:
    """SIGTERM (a service manager's stop) and SIGINT both stop everything cleanly.

    The children run in their own sessions (so a Ctrl-C reaches them only through this
    process); without this, SIGTERM would kill this process alone and leave the worker,
    simulator and dashboard running, and a shell that started ``gridpulse up`` in the
    background (SIGINT ignored) could not stop it with ``kill -INT``.
    """
    def _interrupt(signum, frame):
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)
        signal.signal(signal.SIGINT, signal.default_int_handler)


def run_up(settings: Settings, open_browser: bool = False, duration_s: float | None = None) -> int:
    """Run everything until Ctrl-C, SIGTERM (or ``duration_s``); returns an exit code."""
    _stop_on_signals()
    # The worker and the dashboard log this too, but into files nobody watches.
    gap = year_gap(load_calendar(settings.holidays_file or None), now_ms(), settings.timezone)
    if gap is not None:
        _say(f"warning: {gap.message()}")
    with contextlib.ExitStack() as stack:
        bootstrap = settings.kafka_bootstrap
        if bootstrap:
            if not kafka_reachable(bootstrap, timeout=10):
                _say(f"Kafka at {bootstrap} is not reachable")
                return 1
            _say(f"Kafka: {bootstrap} (KAFKA_BOOTSTRAP)")
            fresh_broker = False
        else:
            _say("Kafka: starting the embedded Tansu broker (memory storage)...")
            broker = stack.enter_context(EmbeddedKafka())
            bootstrap = broker.bootstrap
            fresh_broker = True
            _say(f"Kafka: embedded broker at {bootstrap}")
        redis_url = settings.redis_url
        if redis_url:
            if not redis_reachable(redis_url, timeout=5):
                _say(f"Redis at {redis_url} is not reachable")
                return 1
        elif redis_reachable(DEFAULT_REDIS, timeout=1):
            redis_url = DEFAULT_REDIS
        else:
            _say("Redis: none reachable, starting an embedded redis-server...")
            redis_url = stack.enter_context(EmbeddedRedis()).url
        _say(f"Redis: {redis_url}")
        if fresh_broker:
            n = _clear_projections(redis_url, settings.redis_prefix)
            if n:
                _say(f"Redis: cleared {n} keys of a previous run (the embedded broker starts empty)")
        create_topics(bootstrap, list(names(settings).values()), settings.partitions)
        _say(f"topics ready ({settings.partitions} partitions each)")

        env = dict(os.environ, KAFKA_BOOTSTRAP=bootstrap, REDIS_URL=redis_url)
        cmd = [sys.executable, "-m", "gridpulse.cli"]
        logdir = Path(settings.log_dir)
        logdir.mkdir(parents=True, exist_ok=True)
        procs: dict[str, subprocess.Popen] = {}
        for name, sub in (("worker", ["worker"]), ("notifier", ["notify"]), ("dashboard", ["dashboard"]),
                          ("simulator", ["simulate"])):
            log = open(logdir / f"{name}.log", "ab")
            procs[name] = subprocess.Popen(cmd + sub, env=env, stdout=log, stderr=subprocess.STDOUT,
                                           start_new_session=True)
            _say(f"{name}: started (pid {procs[name].pid}, log {logdir / (name + '.log')})")

        def stop_children() -> None:
            for name, p in procs.items():
                if p.poll() is None:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(p.pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            for name, p in procs.items():
                try:
                    p.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
                _say(f"{name}: stopped")

        stack.callback(stop_children)
        url = f"http://{settings.dash_host}:{settings.dash_port}/"
        if _wait_http(url, 60, list(procs.values())):
            _say(f"dashboard: {url}   (Ctrl-C stops everything)")
        else:
            _say("dashboard did not come up; see the logs above")
        started = last_status = time.monotonic()
        view = LiveView.from_url(redis_url, settings.redis_prefix, settings.timezone)
        try:
            while duration_s is None or time.monotonic() - started < duration_s:
                for name, p in procs.items():
                    if p.poll() is not None:
                        _say(f"{name} exited with code {p.returncode}; stopping (see {logdir / (name + '.log')})")
                        return 1
                if time.monotonic() - last_status >= 10:
                    last_status = time.monotonic()
                    _say(_status(view, settings))
                time.sleep(0.5)
        except KeyboardInterrupt:
            _say("Ctrl-C or SIGTERM: shutting down...")
        return 0

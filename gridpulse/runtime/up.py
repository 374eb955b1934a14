"""`gridpulse up`: the whole system on one machine, embedded where nothing is configured.

Starts (or connects to) Kafka and Redis, creates the topics, then runs the worker, the
notifier, the simulator and the dashboard as child processes, shows progress, prints the
dashboard URL and stops everything cleanly on Ctrl-C. A child that exits is started again
after a backoff (1 s, doubling up to :data:`RESTART_MAX_S`; back to 1 s once a child ran
for :data:`STEADY_S`), with a line saying which, how and where its log is: one process
failing neither stops the others nor stays down. The simulator never gives up on an
unavailable broker here, and a restarted one goes on where the last one stopped.
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
from ..outage import Backoff
from ..redact import mask
from ..clock import fmt_local, now_ms
from ..loop.calendar import load_calendar
from ..loop.calendar_years import year_gap
from ..settings import Settings
from ..views import LiveView
from ..topics import configs as topic_configs, names
from .broker import EmbeddedKafka, create_topics, kafka_reachable
from .redis_server import EmbeddedRedis, redis_reachable

DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
#: Longest wait before a child that keeps exiting is started again.
RESTART_MAX_S = 30.0
#: A child that ran this long before it exited is restarted after the shortest wait.
STEADY_S = 60.0


def _say(msg: str) -> None:
    print(f"[gridpulse] {mask(msg)}", flush=True)


def _last_line(path: Path, limit: int = 4096) -> str:
    """The last non-empty line of a log file (its end only is read)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - limit))
            lines = [ln for ln in fh.read().decode("utf-8", "replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1].strip()[:240] if lines else ""


def _how(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


class Child:
    """One process `gridpulse up` runs: started, watched, restarted with backoff, stopped."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name, self.argv, self.env, self.log_path = name, argv, env, log_path
        self.proc: subprocess.Popen | None = None
        self.started_at = 0.0
        self.restart_at: float | None = None
        self.restarts = 0
        self.backoff = Backoff(first=1.0, cap=RESTART_MAX_S)

    def start(self) -> None:
        """Start the process, its output appended to its log."""
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        self.started_at, self.restart_at = time.monotonic(), None
        verb = "restarted" if self.restarts else "started"
        _say(f"{self.name}: {verb} (pid {self.proc.pid}, log {self.log_path})")

    def watch(self) -> None:
        """Notice an exit (and schedule the restart), or restart when it is time."""
        now = time.monotonic()
        if self.proc is not None:
            code = self.proc.poll()
            if code is None:
                return
            ran = now - self.started_at
            if ran >= STEADY_S:
                self.backoff.reset()
            delay = self.backoff.next_delay()
            self.proc, self.restart_at = None, now + delay
            self.restarts += 1
            last = _last_line(self.log_path)
            _say(f"{self.name} {_how(code)} after {ran:.0f} s; restarting in {delay:.1f} s "
                 f"(restart {self.restarts}; log {self.log_path}" + (f", last line: {last})" if last else ")"))
        elif self.restart_at is not None and now >= self.restart_at:
            self.start()

    @property
    def running(self) -> bool:
        """Whether the process is alive now (not between an exit and its restart)."""
        return self.proc is not None and self.proc.poll() is None


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


def _answers_http(url: str) -> bool:
    import urllib.request
    with contextlib.suppress(OSError):
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status == 200
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
        for line in create_topics(bootstrap, list(names(settings).values()), settings.partitions,
                                  settings.topic_replication, configs=topic_configs(settings)):
            _say(f"warning: {line} (change it on the broker: docs/contract.md, What must stay in Kafka)")
        _say(f"topics ready ({settings.partitions} partitions each)")

        env = dict(os.environ, KAFKA_BOOTSTRAP=bootstrap, REDIS_URL=redis_url)
        cmd = [sys.executable, "-m", "gridpulse.cli"]
        logdir = Path(settings.log_dir)
        logdir.mkdir(parents=True, exist_ok=True)
        checkpoint = logdir / "simulator.checkpoint.json"
        checkpoint.unlink(missing_ok=True)  # each `up` runs a new simulation; restarts resume it
        # The simulator waits out any broker outage here: nobody would restart it
        # with the events it gave up on.
        sim_env = dict(env, GRIDPULSE_PRODUCER_MAX_OUTAGE_S="0")
        children = [Child(name, cmd + sub, e, logdir / f"{name}.log") for name, sub, e in (
            ("worker", ["worker"], env), ("notifier", ["notify"], env), ("dashboard", ["dashboard"], env),
            ("simulator", ["simulate", "--checkpoint", str(checkpoint)], sim_env))]
        for child in children:
            child.start()

        def stop_children() -> None:
            for c in children:
                if c.running:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(c.proc.pid, signal.SIGTERM)
            deadline = time.monotonic() + 15
            for c in children:
                if c.proc is not None:
                    try:
                        c.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        with contextlib.suppress(ProcessLookupError):
                            os.killpg(c.proc.pid, signal.SIGKILL)
                        c.proc.wait()
                _say(f"{c.name}: stopped")

        stack.callback(stop_children)
        url = f"http://{settings.dash_host}:{settings.dash_port}/"
        started = last_status = time.monotonic()
        announced = warned = False
        view = LiveView.from_url(redis_url, settings.redis_prefix, settings.timezone)
        try:
            while duration_s is None or time.monotonic() - started < duration_s:
                for c in children:
                    c.watch()
                if not announced and children[1].running and _answers_http(url):
                    announced = True
                    _say(f"dashboard: {url}   (Ctrl-C stops everything)")
                elif not announced and not warned and time.monotonic() - started > 60:
                    warned = True
                    _say(f"dashboard did not come up within 60 s; see {children[1].log_path}")
                if time.monotonic() - last_status >= 10:
                    last_status = time.monotonic()
                    _say(_status(view, settings))
                time.sleep(0.5)
        except KeyboardInterrupt:
            _say("Ctrl-C or SIGTERM: shutting down...")
        return 0

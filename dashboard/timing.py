"""Server time of every Dash callback, kept in memory and served at ``/api/timing``.

An operator (and bench/wall.py) can see how long the dashboard takes to answer each
live callback, by the callback's first output: wall-clock time inside the server (from
the request reaching Flask to the answer leaving the view, so waiting for the GIL is
in it but waiting in waitress's queue is not), the thread's CPU time, and the JSON
bytes before compression. The newest ``keep`` answers per callback are kept; the
summary gives count, p50, p95 and max. ``DELETE /api/timing`` starts a new window.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from flask import Flask, g, jsonify, request

DASH_UPDATE = "/_dash-update-component"


def percentile(xs: list[float], q: float, empty: float = 0.0) -> float:
    """The ``q`` quantile of ``xs`` (nearest rank), ``empty`` for no values."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else empty


class CallbackTimes:
    """A rolling window of ``(server ms, CPU ms, bytes)`` per callback name."""

    def __init__(self, keep: int = 2000) -> None:
        self.keep = keep
        self._lock = threading.Lock()
        self._by: dict[str, deque] = {}

    def record(self, name: str, server_ms: float, cpu_ms: float, size: int) -> None:
        """Add one answer of callback ``name``."""
        with self._lock:
            self._by.setdefault(name, deque(maxlen=self.keep)).append((server_ms, cpu_ms, size))

    def clear(self) -> None:
        """Forget every answer recorded so far."""
        with self._lock:
            self._by.clear()

    def summary(self) -> dict:
        """Per callback: n and p50/p95/max of server ms, CPU ms and bytes; and all together."""
        with self._lock:
            rows = {name: list(d) for name, d in self._by.items()}
        every = [r for rs in rows.values() for r in rs]

        def stats(rs: list[tuple]) -> dict:
            out = {"n": len(rs)}
            for i, what in enumerate(("server_ms", "cpu_ms", "bytes")):
                xs = [r[i] for r in rs]
                out[what] = {"p50": round(percentile(xs, .5), 2), "p95": round(percentile(xs, .95), 2),
                             "max": round(max(xs, default=0), 2)}
            return out

        return {"callbacks": {name: stats(rs) for name, rs in sorted(rows.items())},
                "all": stats(every)}


def callback_name(body: dict | None) -> str:
    """A callback's name: its first output's component id (``live`` for ``..live.data...``)."""
    out = (body or {}).get("output") or "?"
    return out.strip(".").split("...")[0].split(".")[0] or "?"


def install(server: Flask, times: CallbackTimes) -> None:
    """Time every Dash callback answer of ``server`` and serve the summary at ``/api/timing``."""

    @server.before_request
    def _start() -> None:
        if request.path.endswith(DASH_UPDATE):
            g.gp_t0, g.gp_c0 = time.perf_counter(), time.thread_time()

    @server.after_request
    def _stop(resp):
        t0 = g.pop("gp_t0", None)
        if t0 is not None:
            # Registered after flask-compress's hook, so this runs first: bytes are the JSON's.
            times.record(callback_name(request.get_json(silent=True)),
                         (time.perf_counter() - t0) * 1000, (time.thread_time() - g.pop("gp_c0")) * 1000,
                         resp.calculate_content_length() or 0)
        return resp

    @server.route("/api/timing", methods=["GET", "DELETE"])
    def _timing():
        if request.method == "DELETE":  # start a new window (bench/wall.py, between phases)
            times.clear()
        return jsonify(times.summary())

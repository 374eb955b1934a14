"""Server time of every Dash callback, kept in memory and served at ``/api/timing``.

An operator (and bench/wall.py) can see how long the dashboard takes to answer each
live callback, by the callback's first output: wall-clock time inside the server (from
the request reaching Flask to the answer leaving the view, so waiting for the GIL is
in it but waiting in waitress's queue is not), the thread's CPU time, and the JSON
bytes before compression. The newest ``keep`` answers per callback are kept; the
summary gives count, p50, p95 and max.

Only the callbacks the app defines are recorded, named from the app's callback map (a
client cannot add names), and only their answers (not the requests the edge refused).
``DELETE /api/timing`` starts a new window; it takes the admin token
(``GRIDPULSE_ADMIN_TOKEN``) as ``Authorization: Bearer <token>`` and is refused while
no token is set.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import deque
from typing import Mapping

from flask import Flask, g, request

from .api import _json

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


def callback_name(output: str) -> str:
    """A callback's name: its first output's component id (``live`` for ``..live.data...``)."""
    return output.strip(".").split("...")[0].split(".")[0] or "?"


def _admin_refusal(token: str) -> tuple[dict, int] | None:
    """Why this request may not change the timings (body and status), or None if it may."""
    if not token:
        return {"error": "DELETE /api/timing is off: GRIDPULSE_ADMIN_TOKEN is empty",
                "field": "GRIDPULSE_ADMIN_TOKEN"}, 403
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return {"error": "the admin token is required: Authorization: Bearer <token>",
                "field": "Authorization"}, 401
    # Constant time: the comparison must not tell how much of a guess was right.
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        return {"error": "wrong admin token", "field": "Authorization"}, 403
    return None


def install(server: Flask, times: CallbackTimes, callbacks: Mapping[str, dict],
            admin_token: str = "") -> None:
    """Time the answers of the server callbacks in ``callbacks`` (a Dash app's callback
    map) on ``server`` and serve the summary at ``/api/timing``; ``DELETE`` with
    ``admin_token`` clears it."""

    def known(body) -> str | None:
        output = body.get("output") if isinstance(body, dict) else None
        cb = callbacks.get(output) if isinstance(output, str) else None
        return callback_name(output) if cb is not None and "callback" in cb else None

    @server.before_request
    def _start() -> None:
        if request.path.endswith(DASH_UPDATE):
            g.gp_t0, g.gp_c0 = time.perf_counter(), time.thread_time()

    @server.after_request
    def _stop(resp):
        t0 = g.pop("gp_t0", None)
        c0 = g.pop("gp_c0", None)
        # A refused request is not an answer of the callback; its body may not even parse.
        if t0 is None or resp.status_code >= 400:
            return resp
        name = known(request.get_json(silent=True))
        if name is not None:
            # Registered after flask-compress's hook, so this runs first: bytes are the JSON's.
            times.record(name, (time.perf_counter() - t0) * 1000, (time.thread_time() - c0) * 1000,
                         resp.calculate_content_length() or 0)
        return resp

    @server.route("/api/timing", methods=["GET", "DELETE"])
    def _timing():
        if request.method == "DELETE":  # start a new window (bench/wall.py, between phases)
            refused = _admin_refusal(admin_token)
            if refused is not None:
                return _json(*refused)
            times.clear()
        return _json(times.summary())

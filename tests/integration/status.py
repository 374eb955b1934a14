"""The workers' status keys, written by a test as running workers write them
(docs/contract.md, "Redis views": each meta's ``at`` and the ``gp:workers`` hash), so
each freshness state of the views can be set up on demand."""

from __future__ import annotations

import json
import os
import socket
import threading
import time

import redis

from gridpulse.rkeys import CASE, GPS, Keys


def stamp(client: redis.Redis, keys: Keys, at_ms: int) -> None:
    """Set ``at`` (the last write, wall-clock ms) of every partition's meta to ``at_ms``."""
    for kind in (CASE, GPS):
        for p in client.smembers(keys.parts(kind)):
            client.hset(keys.meta(kind, int(p)), "at", at_ms)


class Heartbeat:
    """One worker entry in ``<prefix>workers``, rewritten every ``period_s`` (a running
    worker does it every 2 s) with what the test sets: :meth:`set` ``lag``,
    ``rebuilding``, ``waiting``. Outages of Redis are ridden out (the entry is written
    again once it answers); leaving the ``with`` block removes the entry."""

    def __init__(self, url: str, prefix: str, partitions: int = 4, period_s: float = 0.5) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
        self.keys = Keys(prefix)
        self.id = f"{socket.gethostname()}:{os.getpid()}-test"
        self.parts = list(range(partitions))
        self.period_s = period_s
        self.entry: dict = {"lag": {"case": 0, "gps": 0}, "rebuilding": [], "waiting": None}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def set(self, **entry) -> None:
        """Change what the entry says (``lag={"case": n, "gps": n}``, ``rebuilding=[...]``,
        ``waiting="kafka"``...) and write it now."""
        self.entry = {**self.entry, **entry}
        self.beat()

    def beat(self) -> None:
        """Write the entry with ``at`` = now (skipped while Redis does not answer)."""
        doc = {"at": int(time.time() * 1000), "case": self.parts, "gps": self.parts, **self.entry}
        try:
            self.client.hset(self.keys.workers(), self.id, json.dumps(doc))
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            pass

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.beat()

    def __enter__(self) -> "Heartbeat":
        self.beat()
        self._thread = threading.Thread(target=self._run, name="test-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        try:
            self.client.hdel(self.keys.workers(), self.id)
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            pass

"""Refreshing the wall's shared feeds off the request path.

The worker positions, the grid colours, the hexagons and the side panels are read from
Redis for the whole city (12,216 grids, ~13,800 terminals) and shared by every browser.
With a pump, a callback answers from what is in memory; one background thread re-reads
each feed (each at its own ``min_age_s``) for as long as some browser asked for it within
``idle_s``, so a quiet dashboard reads nothing. Only a feed's first request, before it
was ever read, waits for Redis.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Hashable, Protocol

from gridpulse.views import UNREACHABLE

log = logging.getLogger(__name__)


class Asked:
    """What a feed asks of its callers: record each ask; say whether to read now."""

    def __init__(self) -> None:
        self.background = False  # set by FeedPump.add
        self._asked: dict[Hashable, float] = {}

    def ask(self, key: Hashable, loaded: bool) -> bool:
        """Record that a browser asked for ``key``; True if the caller must read it now
        (no pump, or never read)."""
        self._asked[key] = time.monotonic()
        return not self.background or not loaded

    def asked_within(self, idle_s: float) -> list[Hashable]:
        """The keys some browser asked for within the last ``idle_s`` seconds."""
        now = time.monotonic()
        return [k for k, t in list(self._asked.items()) if now - t < idle_s]


class Throttle:
    """When a feed may read Redis again: one reader at a time (hold ``lock``), each key
    at most every ``min_age_s``.

    Usage: ``with t.lock: if not t.due(key): return; <read>; t.done(key)``. A read that
    raises is not stamped, so the next ask tries again.
    """

    def __init__(self, min_age_s: float) -> None:
        self.min_age_s = min_age_s
        self.lock = threading.Lock()
        self._at: dict[Hashable, float] = {}

    def due(self, key: Hashable = None) -> bool:
        """Whether ``key`` was last read ``min_age_s`` or more ago (or never)."""
        return time.monotonic() - self._at.get(key, -math.inf) >= self.min_age_s

    def done(self, key: Hashable = None) -> None:
        """Stamp ``key`` as read now."""
        self._at[key] = time.monotonic()

    def ever(self, key: Hashable = None) -> bool:
        """Whether ``key`` was ever read."""
        return key in self._at


class Feed(Protocol):
    asked: Asked

    def refresh_key(self, key: Hashable) -> None: ...


class FeedPump:
    """One daemon thread refreshing the asked-for keys of its feeds every ``period_s``."""

    def __init__(self, period_s: float = 0.5, idle_s: float = 30.0) -> None:
        self.period_s, self.idle_s = period_s, idle_s
        self.feeds: list[Feed] = []
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def add(self, feed: Feed) -> None:
        """Refresh ``feed`` in the background from now on."""
        feed.asked.background = True
        self.feeds.append(feed)

    def start(self) -> "FeedPump":
        """Start the thread (idempotent)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="gridpulse-feed-pump", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the thread at its next round."""
        self._stop.set()

    def _run(self) -> None:
        failing: set = set()  # (feed, key) whose last refresh failed: logged once, not every round
        # The (feed, key)s that last met an unreachable Redis: one line when the first
        # does, one when the last reads again (a feed not yet due to read proves nothing).
        away: set = set()
        while not self._stop.wait(self.period_s):
            for feed in self.feeds:
                for key in feed.asked.asked_within(self.idle_s):
                    what = (id(feed), key)
                    try:
                        feed.refresh_key(key)  # throttled by the feed's own min_age_s
                    except UNREACHABLE as err:
                        if not away:
                            log.warning("Redis cannot be read (%s): the wall keeps its last figures, "
                                        "marked stale, until it answers", type(err).__name__)
                        away.add(what)
                    except Exception as err:  # noqa: BLE001 - keep serving what is held
                        if what not in failing:
                            failing.add(what)
                            log.warning("refreshing %s %r failed (serving the last read until it "
                                        "works again): %s", type(feed).__name__, key, err)
                    else:
                        if what in away:
                            away.discard(what)
                            if not away:
                                log.info("Redis answers again: the wall is refreshed")
                        if what in failing:
                            failing.discard(what)
                            log.info("refreshing %s %r works again", type(feed).__name__, key)

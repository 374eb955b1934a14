"""Worker positions as versioned deltas: each refresh sends only the terminals that moved.

~13,800 terminals are ~300 KB as naive JSON. The server keeps the last snapshot it read
and stamps every terminal that changed (or vanished) with a version number; a browser
sends the version it holds and receives only what changed since, keyed by terminal id,
as compact integer arrays. A browser with no version, or with a version from another
server process, gets the full snapshot.
"""

from __future__ import annotations

import secrets
import threading
import time

from gridpulse.views import LiveView

# Integer coordinates in 1e-5 degree (~1 m) relative to a fixed origin: "12345" instead
# of "121.12345" per number.
SCALE = 100_000


class PositionFeed:
    """Shared, throttled reader of active positions with per-terminal change versions."""

    def __init__(self, view: LiveView, active_ms: int, origin: tuple[float, float],
                 min_age_s: float = 0.5) -> None:
        self.view = view
        self.active_ms = active_ms
        self.origin = origin
        self.min_age_s = min_age_s
        self.epoch = secrets.token_hex(4)  # a restarted server must not honour old versions
        self._lock = threading.Lock()
        self._read_at = 0.0
        self._version = 0
        self._pos: dict[str, tuple] = {}  # terminal -> (x, y, ts, worker)
        self._changed: dict[str, int] = {}  # terminal -> version it last changed in
        self._gone: dict[str, int] = {}  # terminal -> version it went inactive in
        self.watermark = 0

    def refresh(self) -> None:
        """Re-read Redis unless another caller did so within ``min_age_s``."""
        with self._lock:
            if time.monotonic() - self._read_at < self.min_age_s:
                return
            rows = self.view.positions(self.active_ms)
            self._read_at = time.monotonic()
            ox, oy = self.origin
            fresh = {t: (round((lon - ox) * SCALE), round((lat - oy) * SCALE), ts, worker)
                     for t, lon, lat, ts, _grid, worker in rows}
            v = self._version + 1
            bumped = False
            for t, val in fresh.items():
                if self._pos.get(t) != val:
                    self._changed[t] = v
                    self._gone.pop(t, None)
                    bumped = True
            for t in self._pos.keys() - fresh.keys():
                self._gone[t] = v
                self._changed.pop(t, None)
                bumped = True
            if bumped:
                self._version = v
            self._pos = fresh
            self.watermark = max((p[2] for p in fresh.values()), default=self.watermark)

    def delta(self, cursor: str | None) -> dict:
        """What a browser holding ``cursor`` (``epoch:version``) needs to be current."""
        self.refresh()
        with self._lock:
            since = -1
            if cursor and cursor.startswith(self.epoch + ":"):
                since = int(cursor.split(":", 1)[1])
            full = since < 0
            ids = [t for t in self._pos if full or self._changed.get(t, 0) > since]
            gone = [] if full else [t for t, v in self._gone.items() if v > since]
            return {
                "cursor": f"{self.epoch}:{self._version}",
                "full": full,
                "o": list(self.origin),
                "s": SCALE,
                "id": ids,
                "x": [self._pos[t][0] for t in ids],
                "y": [self._pos[t][1] for t in ids],
                "gone": gone,
            }

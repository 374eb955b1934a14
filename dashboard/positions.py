"""Worker positions as versioned deltas: each refresh sends only the terminals that moved.

~13,800 terminals are ~300 KB as naive JSON. The server keeps the last snapshot it read
and stamps every terminal that changed (or vanished) with a version number; a browser
sends the version it holds and receives only what changed since, as compact integer
arrays. A browser with no version, or with a version from another server process, gets
the full snapshot.

Compact: coordinates are integers in 1e-4 degree (~10 m, a tenth of a pixel at the
wall's city zoom) from a fixed origin, so a worker standing at a household is not sent
again; terminal ids of one pattern (``T00042``) travel as their numbers with the prefix
and width once (``p``, ``w``), the browser rebuilds them (assets/wall.js).
"""

from __future__ import annotations

import functools
import re
import secrets
import threading

from gridpulse.views import LiveView

from .pump import Asked, Throttle

SCALE = 10_000
_ID = re.compile(r"^([A-Za-z]*)(\d+)$")


@functools.lru_cache(maxsize=1 << 16)
def _split(t: str) -> tuple[str, int, int] | None:
    # Memoized: the same ~13,800 ids come back on every position tick.
    m = _ID.match(t)
    return (m.group(1), len(m.group(2)), int(m.group(2))) if m else None


def compact_ids(ids: list[str]) -> dict:
    """``{"p": prefix, "w": width, "id": [numbers]}`` when every id is the same prefix and
    a zero-padded number of one width, else ``{"id": ids}``."""
    if not ids:
        return {"id": []}
    first = _split(ids[0])
    if first:
        nums = []
        for t in ids:
            parts = _split(t)
            if not parts or parts[:2] != first[:2]:
                break
            nums.append(parts[2])
        else:
            return {"p": first[0], "w": first[1], "id": nums}
    return {"id": list(ids)}


class PositionFeed:
    """Shared, throttled reader of active positions with per-terminal change versions."""

    def __init__(self, view: LiveView, active_ms: int, origin: tuple[float, float],
                 min_age_s: float = 0.5) -> None:
        self.view = view
        self.active_ms = active_ms
        self.origin = origin
        self.epoch = secrets.token_hex(4)  # a restarted server must not honour old versions
        self._lock = threading.Lock()  # the snapshot and its versions
        self.throttle = Throttle(min_age_s)  # Redis: one read at a time
        self.asked = Asked()  # FeedPump: refreshed in the background while asked for
        self._version = 0
        self._pos: dict[str, tuple[int, int]] = {}  # terminal -> (x, y)
        self._changed: dict[str, int] = {}  # terminal -> version it last changed in
        self._gone: dict[str, int] = {}  # terminal -> version it went inactive in
        self.watermark = 0

    def refresh(self) -> None:
        """Re-read Redis unless another caller did so within ``min_age_s``."""
        with self.throttle.lock:
            if not self.throttle.due():
                return
            rows = self.view.positions(self.active_ms)
            ox, oy = self.origin
            fresh = {r[0]: (round((r[1] - ox) * SCALE), round((r[2] - oy) * SCALE)) for r in rows}
            with self._lock:
                old = self._pos
                v = self._version + 1
                moved = [t for t, xy in fresh.items() if old.get(t) != xy]
                gone = old.keys() - fresh.keys()
                for t in moved:
                    self._changed[t] = v
                    self._gone.pop(t, None)
                for t in gone:
                    self._gone[t] = v
                    self._changed.pop(t, None)
                if moved or gone:
                    self._version = v
                self._pos = fresh
                self.watermark = max((r[3] for r in rows), default=self.watermark)
            self.throttle.done()

    def refresh_key(self, _key) -> None:
        """FeedPump's entry: the one snapshot."""
        self.refresh()

    def delta(self, cursor: str | None) -> dict:
        """What a browser holding ``cursor`` (``epoch:version``) needs to be current."""
        if self.asked.ask("positions", self.throttle.ever()):
            self.refresh()
        with self._lock:
            since = -1
            if cursor and cursor.startswith(self.epoch + ":"):
                since = int(cursor.split(":", 1)[1])
            full = since < 0
            if full:
                ids = list(self._pos)
            elif since == self._version:
                ids = []
            else:
                ids = [t for t, v in self._changed.items() if v > since and t in self._pos]
            gone = [] if full else [t for t, v in self._gone.items() if v > since]
            pos = self._pos
            return {
                "cursor": f"{self.epoch}:{self._version}",
                "full": full,
                "o": list(self.origin),
                "s": SCALE,
                **compact_ids(ids),
                "x": [pos[t][0] for t in ids],
                "y": [pos[t][1] for t in ids],
                "gone": gone,
            }

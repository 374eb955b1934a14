"""Event-time helpers: minute and local-day buckets in the city's time zone."""

from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = 86_400_000


def minute(ts_ms: int) -> int:
    """Minute bucket (minutes since the epoch) of an event time."""
    return ts_ms // MINUTE_MS


@lru_cache(maxsize=64)
def _tz(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@lru_cache(maxsize=4096)
def _offset_ms(tz: str, hour: int) -> int:
    # Offsets change at most on the hour, so caching per UTC hour is exact and keeps
    # the hot path free of datetime objects.
    dt = datetime.fromtimestamp(hour * 3600, tz=timezone.utc).astimezone(_tz(tz))
    off = dt.utcoffset()
    return int(off.total_seconds() * 1000) if off else 0


def local_day(ts_ms: int, tz: str) -> int:
    """Local calendar day (days since 1970-01-01 in zone ``tz``) of an event time."""
    return (ts_ms + _offset_ms(tz, ts_ms // HOUR_MS)) // DAY_MS


def day_start_ms(day: int, tz: str) -> int:
    """Epoch ms of local midnight starting ``day`` (inverse of :func:`local_day`)."""
    guess = day * DAY_MS
    return guess - _offset_ms(tz, guess // HOUR_MS)


def now_ms() -> int:
    """Wall-clock time in epoch ms (only edges call this; the core takes ``now``)."""
    return int(datetime.now(tz=timezone.utc).timestamp() * 1000)


def fmt_local(ts_ms: int, tz: str, pattern: str = "%Y-%m-%d %H:%M:%S") -> str:
    """Format an event time in zone ``tz``."""
    return datetime.fromtimestamp(ts_ms / 1000, tz=_tz(tz)).strftime(pattern)


def parse_local(text: str, tz: str) -> int:
    """Epoch ms of an ISO 8601 time; a naive time is read in zone ``tz``."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=_tz(tz))
    return int(dt.timestamp() * 1000)

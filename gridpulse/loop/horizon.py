"""How long the per-day KPI counters are held: the day a counter key names, and which
keys a partition drops as its "now" moves on (docs/contract.md, "Counter horizon").

A counter whose key names a local day (``new|<area>|<day>``, ``dur|...|<day>|<bucket>``...)
is dropped once that day is ``GRIDPULSE_KPI_DAYS`` days or more behind the partition's
today, so that the counters stop growing by a day's worth of keys every day. The
screens and the API read 31 days back at most. The handling-time counters by department
and category (``h|``) are held :data:`~gridpulse.loop.facts.TYPICAL_DAYS` longer: the
typical handling time a partition learns for a day looks back that far. Pure: no I/O.
"""

from __future__ import annotations

from gridpulse.clock import local_day

from .facts import TYPICAL_DAYS

#: Key families whose last field is the local day.
DAY_LAST = frozenset({"new", "closed", "ontime", "eval", "sat", "disp", "ret", "visits",
                      "w:new", "w:closed", "w:ontime", "w:eval", "w:sat"})
#: Key families whose last field is a bucket and the one before it the local day.
DAY_BEFORE_LAST = frozenset({"dur", "h"})
#: The fewest days a deployment may hold: the longest window the screens read (31
#: days, the score's) and a day for partitions whose today runs ahead of the screen's.
MIN_DAYS = 32


def key_day(key: str) -> int | None:
    """The local day a counter key names, or None for a key without one."""
    family = key.split("|", 1)[0]
    if family in DAY_LAST:
        return int(key.rsplit("|", 1)[1])
    if family in DAY_BEFORE_LAST:
        return int(key.rsplit("|", 2)[1])
    return None


def first_day(now_ms: int, tz: str, days: int) -> int:
    """The first local day a partition whose "now" is ``now_ms`` holds (``days`` > 0)."""
    return local_day(now_ms, tz) - days + 1


def expired(key: str, first: int) -> bool:
    """Whether a partition holding the days from ``first`` on drops counter ``key``."""
    day = key_day(key)
    if day is None:
        return False
    return day < (first - TYPICAL_DAYS if key.startswith("h|") else first)

"""What the worker remembers of the dead letters it wrote: a count operators see.

The letters themselves are in the ``deadletter`` topic (``gridpulse deadletter ls``);
Redis keeps one member per letter, scored by when it was written, so the wall can say
how many there were today. Members are the letter's origin, so writing the same letter
again (a retry, a replay after a crash) does not count it twice.
"""

from __future__ import annotations

import redis.asyncio as aioredis

from gridpulse.clock import DAY_MS
from gridpulse.rkeys import Keys
from gridpulse.schemas import DeadLetter

#: Days of dead letters the count keeps.
KEEP_DAYS = 8


def member(d: DeadLetter) -> str:
    """The letter's identity: where it came from (or, for a letter without an offset,
    its content's hash)."""
    where = d.offset if d.offset >= 0 else d.sha256[:16]
    return f"{d.topic}|{d.partition}|{where}"


async def remember(r: aioredis.Redis, keys: Keys, letters: list[DeadLetter]) -> None:
    """Count ``letters`` (once each, at their first writing), keeping the last days."""
    if not letters:
        return
    pipe = r.pipeline(transaction=False)
    pipe.zadd(keys.deadletters(), {member(d): d.at for d in letters}, nx=True)
    pipe.zremrangebyscore(keys.deadletters(), "-inf", max(d.at for d in letters) - KEEP_DAYS * DAY_MS)
    await pipe.execute()

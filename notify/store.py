"""The notifier's Redis: leases that keep replicas from sending one notification twice,
the shared rate limiter, and the read side of the log and the silences.

Everything here is an adapter; the decisions are in the pure core.
"""

from __future__ import annotations

import msgspec
import redis.asyncio as aioredis

from gridpulse.rkeys import Keys
from gridpulse.schemas import Notification, Silence, encode

# Sliding window over Redis' own clock (the same for every replica): 0 if a slot was
# taken, else the milliseconds until the oldest request leaves the window.
_RATE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local window, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""
# Take a lease if free or already ours; 1 taken, 0 held by another, -1 done.
_CLAIM = """
local v = redis.call('GET', KEYS[1])
if v and string.sub(v, 1, 5) == 'done:' then return -1 end
if (not v) or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
"""
#: Margin added to a rate window: the limit holds at the receiver despite network jitter.
RATE_MARGIN_MS = 500
DONE_TTL_S = 8 * 86_400


class Store:
    """The notifier's Redis keys under one prefix."""

    def __init__(self, r: aioredis.Redis, keys: Keys) -> None:
        self.r, self.k = r, keys
        self._rate = r.register_script(_RATE)
        self._claim = r.register_script(_CLAIM)

    async def rate_slot(self, receiver: str, window_ms: int, limit: int, member: str) -> int:
        """Take a request slot (0) or learn how many ms to wait for one."""
        return int(await self._rate(keys=[self.k.notify_rate(receiver)],
                                    args=[window_ms + RATE_MARGIN_MS, limit, member]))

    async def claim(self, key: str, replica: str, lease_ms: int) -> int:
        """1: ours to send; 0: another replica's (leased); -1: done already."""
        return int(await self._claim(keys=[self.k.notify_claim(key)], args=[replica, lease_ms]))

    async def done(self, keys: list[str], status: str) -> None:
        """Mark notifications done: no replica claims them again."""
        pipe = self.r.pipeline(transaction=False)
        for key in keys:
            pipe.set(self.k.notify_claim(key), f"done:{status}", ex=DONE_TTL_S)
        await pipe.execute()

    async def mirror(self, notes: list[Notification], keep_ms: int) -> None:
        """Put log records where the dashboard and the CLI read them (bodies left out)."""
        if not notes:
            return
        pipe = self.r.pipeline(transaction=False)
        for n in notes:
            pipe.hset(self.k.notify_log(), n.key, encode(msgspec.structs.replace(n, body=b"")))
            pipe.zadd(self.k.notify_log_ts(), {n.key: n.decided or n.at})
            for a in n.alerts:
                pipe.sadd(self.k.notify_alert(a.id), n.key)
                pipe.expire(self.k.notify_alert(a.id), keep_ms // 1000 + 86_400)
        newest = max(n.decided or n.at for n in notes)
        pipe.zrangebyscore(self.k.notify_log_ts(), "-inf", newest - keep_ms)
        old = (await pipe.execute())[-1]
        if old:
            await self.r.zrem(self.k.notify_log_ts(), *old)
            await self.r.hdel(self.k.notify_log(), *old)

    async def mirror_silence(self, s: Silence) -> None:
        """Put a silence where the dashboard and the CLI read it."""
        await self.r.hset(self.k.notify_silences(), s.id, encode(s))

    async def state(self, **fields) -> None:
        """Publish the notifier's clock, config digest and counters."""
        await self.r.hset(self.k.notify_state(), mapping={k: str(v) for k, v in fields.items()})

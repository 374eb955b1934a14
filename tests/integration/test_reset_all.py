"""Deleting every view when the log was replaced (``PartitionStore.reset_all``) is one step
for every other writer: a fenced write that lands while the keys are being listed does not
survive it half-deleted (real redis-server)."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from gridpulse.rkeys import CASE, GPS, Keys
from streams.redis_store import PartitionStore


@pytest.mark.parametrize("after", [1, 2])
def test_a_write_landing_while_the_keys_are_listed_goes_too(redis_url, topic_prefix, after):
    """The other writer's batch lands after the ``after``-th listing reset_all makes."""
    k = Keys(topic_prefix)  # a prefix of this test's own

    async def main() -> tuple[int, list, int]:
        r = aioredis.Redis.from_url(redis_url)
        await r.hset(k.meta(CASE, 0), "offset", 5)
        await r.hset(k.meta(GPS, 1), "offset", 7)
        await r.append(k.route(20784, "T1"), b"old")
        listing, listings = r.scan_iter, []

        async def listing_then_a_write(*args, **kwargs):
            async for key in listing(*args, **kwargs):
                yield key
            listings.append(1)
            if len(listings) == after:
                # The other stream's processor writes its first batch of the new log
                # (a partition whose meta did not exist yet) just after the listing.
                other = aioredis.Redis.from_url(redis_url)
                async with other.pipeline(transaction=True) as tx:
                    tx.append(k.route(20784, "T2"), b"new")
                    tx.hset(k.meta(CASE, 1), "offset", 0)
                    await tx.execute()
                await other.aclose()

        r.scan_iter = listing_then_a_write
        n = await PartitionStore(r, k, new_case=lambda p: None).reset_all()
        left = [key async for key in listing(match=k.pattern())]
        await r.aclose()
        return n, left, len(listings)

    n, left, listings = asyncio.run(main())
    assert left == []
    assert n == 5
    assert listings >= after  # the write happened

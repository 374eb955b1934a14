"""``gridpulse rebuild``: every view recomputed from Kafka into fresh keys, then switched in.

The running workers keep the live views current meanwhile: the rebuild writes under a
staging prefix no reader looks at, from each partition's newest snapshot (or the log's
start) to the log's end, with the same processors the workers use, sending nothing
(the alerts and dead letters it meets again are already in their topics). Then one
MULTI replaces the live projection keys with the staged ones, so no screen ever reads a
half-built view. A worker whose partition the switch moved back (its offsets are the
rebuild's, older than its own) notices at its next write and reads what is missing from
the log (streams/recovery.py).
"""

from __future__ import annotations

import time
import uuid
from typing import Callable

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from gridpulse.rkeys import CASE, GPS, Keys
from gridpulse.settings import Settings
from gridpulse.topics import ALERT_ACKS, ALERTS, CASE_EVENTS, GPS_FIXES, SNAPSHOT_MANIFESTS, SNAPSHOTS

from . import snapshot_image
from .alert_view import AlertBoardWriter
from .log_reader import LogReader, fingerprint
from .snapshots import SnapshotStore
from .wiring import make_processors

#: Key families of the live views a rebuild replaces (under the deployment's prefix).
FAMILIES = ("case:", "gps:", "parts:", "route:", "visits:", "wday:", "alerts:")
STAGING = "rebuild:"


async def _nothing(_items) -> None:
    """A sink that sends nothing: what a rebuild meets again is already in Kafka."""


async def _partitions(reader: LogReader) -> list[int]:
    c = await reader._consumer()
    await c.topics()
    return sorted(c.partitions_for_topic(reader.topic) or ())


async def _replay(proc, reader: LogReader, p: int, start: int, say: Callable[[str], None],
                  at_least: int = 0) -> int:
    """Apply the partition's log from ``start`` to its end, and at least to ``at_least``
    (a broker may report an end offset that is behind)."""
    first, end = await reader.bounds(p)
    n, t0 = 0, time.monotonic()
    async for chunk in reader.read(p, max(start, first), max(end, at_least)):
        await proc.process(chunk)
        n += len(chunk)
    if say is not None:
        say(f"  {reader.topic}[{p}]: {n:,} records from offset {max(start, first):,} in "
            f"{time.monotonic() - t0:.1f} s")
    return n


class _Stage:
    """The staged projections and how to top them up to the live ones."""

    def __init__(self, s: Settings, bootstrap: str, r: aioredis.Redis, staging: Keys) -> None:
        self.cases, self.gps = make_processors(s.replace(redis_prefix=staging.prefix), r, _nothing, _nothing)
        self.readers = {CASE: LogReader(bootstrap, s.topic(CASE_EVENTS)),
                        GPS: LogReader(bootstrap, s.topic(GPS_FIXES))}
        self.r, self.staging, self.live = r, staging, Keys(s.redis_prefix)

    async def behind(self) -> list[tuple[str, int, int, int]]:
        """``(kind, partition, staged offset, live offset)`` where the live views are ahead."""
        out = []
        for kind in (CASE, GPS):
            for p in sorted(int(x) for x in await self.r.smembers(self.live.parts(kind))):
                live = await self.r.hget(self.live.meta(kind, p), "offset")
                staged = await self.r.hget(self.staging.meta(kind, p), "offset")
                live, staged = int(live or -1), int(staged or -1)
                if live > staged:
                    out.append((kind, p, staged, live))
        return out

    async def top_up(self) -> int:
        """Replay what the live views already reflect beyond the staged ones."""
        n = 0
        for kind, p, staged, live in await self.behind():
            proc = self.cases if kind == CASE else self.gps
            n += await _replay(proc, self.readers[kind], p, staged + 1, None, at_least=live + 1)
        return n

    async def stop(self) -> None:
        for reader in self.readers.values():
            await reader.stop()


async def _stage_projections(s: Settings, bootstrap: str, r: aioredis.Redis, staging: Keys,
                             use_snapshots: bool, say, stage: _Stage) -> None:
    cases, gps = stage.cases, stage.gps
    snaps = SnapshotStore(bootstrap, s.topic(SNAPSHOTS), s.topic(SNAPSHOT_MANIFESTS), s.partitions)
    try:
        for kind, topic, proc in ((CASE, CASE_EVENTS, cases), (GPS, GPS_FIXES, gps)):
            reader = LogReader(bootstrap, s.topic(topic))
            try:
                for p in await _partitions(reader):
                    start = 0
                    m = await snaps.latest(kind, p) if use_snapshots else None
                    if m is not None:
                        here = await reader.record_at(p, m.offset)
                        image = await snaps.load(m) if here is not None and fingerprint(here) == m.fp else None
                        if image is not None:
                            await snapshot_image.restore(r, staging, image)
                            start = m.offset + 1
                            say(f"  {kind} {p}: from the snapshot at offset {m.offset:,}")
                    await _replay(proc, reader, p, start, say)
            finally:
                await reader.stop()
    finally:
        await snaps.stop()


async def _stage_board(s: Settings, bootstrap: str, r: aioredis.Redis, staging: Keys, say) -> None:
    board = AlertBoardWriter(r, staging, _nothing, s.topic(ALERTS), s.topic(ALERT_ACKS), s.alert_days)
    for topic, process in ((ALERTS, board.process_alerts), (ALERT_ACKS, board.process_acks)):
        reader = LogReader(bootstrap, s.topic(topic))
        try:
            for p in await _partitions(reader):
                first, end = await reader.bounds(p)
                async for chunk in reader.read(p, first, end):
                    await process(chunk)
            say(f"  {s.topic(topic)}: the alerts board")
        finally:
            await reader.stop()


async def _keys(r: aioredis.Redis, prefix: str, skip: str | None = None) -> list[bytes]:
    out = []
    for family in FAMILIES:
        async for key in r.scan_iter(match=f"{prefix}{family}*", count=1000):
            if skip is None or not key.decode().startswith(skip):
                out.append(key)
    return out


async def switch(r: aioredis.Redis, live: Keys, staging: Keys, stage: _Stage | None = None,
                 attempts: int = 10) -> int:
    """Replace the live projection keys by the staged ones in one transaction, once the
    staged ones are no older than the live ones (else a screen would see figures go back
    until the workers caught up again). The live metas are watched: a worker's write
    between the check and the switch makes it top up and try again."""
    for attempt in range(attempts):
        if stage is not None:
            await stage.top_up()
        staged = await _keys(r, staging.prefix)
        old = await _keys(r, live.prefix, skip=staging.prefix)
        metas = [k for k in old if k.endswith(b":meta")]
        # A new generation in every staged meta: a worker whose state predates the switch
        # is fenced out at its next write and reloads the rebuilt views, even where the
        # offsets happen to be equal.
        gen = uuid.uuid4().hex[:12]
        for key in staged:
            if key.endswith(b":meta"):
                await r.hset(key, "gen", gen)
        async with r.pipeline(transaction=True) as tx:
            try:
                if metas and attempt < attempts - 1:
                    await tx.watch(*metas)
                    if stage is not None and await stage.behind():
                        continue
                tx.multi()
                if old:
                    tx.delete(*old)
                for key in staged:
                    tx.rename(key, live.prefix + key.decode()[len(staging.prefix):])
                await tx.execute()
                return len(staged)
            except WatchError:
                continue
    return 0


async def rebuild(s: Settings, bootstrap: str, redis_url: str, use_snapshots: bool = True,
                  say: Callable[[str], None] = print) -> dict:
    """Rebuild every view from Kafka into fresh keys and switch them in; a summary."""
    r = aioredis.Redis.from_url(redis_url)
    live, staging = Keys(s.redis_prefix), Keys(s.redis_prefix + STAGING)
    t0 = time.monotonic()
    try:
        for key in await _keys(r, staging.prefix):  # what an interrupted rebuild left
            await r.delete(key)
        say(f"rebuilding the views under {staging.prefix}* ...")
        stage = _Stage(s, bootstrap, r, staging)
        try:
            await _stage_projections(s, bootstrap, r, staging, use_snapshots, say, stage)
            await _stage_board(s, bootstrap, r, staging, say)
            built = time.monotonic() - t0
            t1 = time.monotonic()
            n = await switch(r, live, staging, stage)
        finally:
            await stage.stop()
        say(f"switched {n:,} keys in {time.monotonic() - t1:.2f} s; rebuilt in {built:.1f} s")
        return {"keys": n, "build_s": round(built, 2), "switch_s": round(time.monotonic() - t1, 3)}
    finally:
        await r.aclose()

"""The alerts board in Redis: every alert and every acknowledgement, idempotently.

Alerts (topic ``alerts``) and acknowledgements (topic ``alert-acks``, both keyed by alert
id) are facts with stable ids, so the board is a set of absolute writes: applying a
record twice, or an acknowledgement before its alert, gives the same board. No offset
fencing is needed; at-least-once delivery is enough.
"""

from __future__ import annotations

import logging
import time
from typing import Awaitable, Callable, Iterable

import redis.asyncio as aioredis

from gridpulse.clock import DAY_MS, now_ms
from gridpulse.rkeys import Keys
from gridpulse.schemas import DeadLetter, dead_key, dead_letter, decode_ack, decode_alert, encode

from .poison import Poison, check_key, decode
from .processor import Record
from .recovery import IDLE_S

log = logging.getLogger("gridpulse.recovery")

DeadSink = Callable[[list[tuple[bytes | None, DeadLetter]]], Awaitable[None]]


class AlertBoardWriter:
    """Applies alert and acknowledgement records to the board.

    The board remembers, per topic partition, the last offset it applied
    (``gp:alerts:meta``): when Redis lost the board (flushed, a new empty Redis), or holds
    less than the records the consumer delivers, the missing records are read straight
    from the log first (``readers``: streams/log_reader.py), and applied again; every
    write is absolute, so reading a record twice changes nothing.
    """

    def __init__(self, redis: aioredis.Redis, keys: Keys, dead_sink: DeadSink, alerts_topic: str,
                 acks_topic: str, keep_days: int = 7, readers: dict | None = None) -> None:
        self.r, self.k, self.dead_sink = redis, keys, dead_sink
        self.alerts_topic, self.acks_topic = alerts_topic, acks_topic
        self.keep_ms = keep_days * DAY_MS
        self.applied = 0
        self._newest = 0
        self.readers = readers or {}  # topic -> LogReader; none: trust Redis
        self._seen: dict[tuple[str, int], float] = {}  # (topic, partition) -> last delivery

    def drop(self, partitions: Iterable[int]) -> None:
        """Nothing is held per partition (the board is absolute writes)."""

    async def process_alerts(self, records: Iterable[Record]) -> None:
        """Put each alert on the board (a resolution marks its case's alerts resolved)."""
        await self._process(self.alerts_topic, list(records), self._alerts)

    async def process_acks(self, records: Iterable[Record]) -> None:
        """Record each acknowledgement under its alert (one hash field per ack id)."""
        await self._process(self.acks_topic, list(records), self._acks)

    async def mend(self, topic: str, p: int) -> None:
        """Bring the board's share of ``topic`` partition ``p`` to the log without waiting
        for a record: after Redis lost it, the consumer will not deliver again what its
        group committed, nor what it read since."""
        reader = self.readers.get(topic)
        if reader is None:
            return
        stored = await self._stored(topic, p)
        committed = await reader.committed(p)
        _, end = await reader.bounds(p)
        idle = time.monotonic() - self._seen.get((topic, p), 0.0) > IDLE_S
        if (committed is not None and committed > stored + 1) or (idle and end > stored + 1):
            await self._fill(topic, p, max(committed or 0, end))

    async def _process(self, topic: str, recs: list, apply) -> None:
        if topic in self.readers:
            firsts: dict[int, int] = {}
            for r in recs:
                firsts[r.partition] = min(firsts.get(r.partition, r.offset), r.offset)
                self._seen[(topic, r.partition)] = time.monotonic()
            for p, first in sorted(firsts.items()):
                await self._fill(topic, p, first)
        await apply(recs)

    async def _stored(self, topic: str, p: int) -> int:
        got = await self.r.hget(self.k.board_meta(), f"{topic}|{p}")
        return int(got) if got is not None else -1

    async def _fill(self, topic: str, p: int, upto: int) -> None:
        """Apply what the board lacks of partition ``p`` before offset ``upto``."""
        reader, stored = self.readers[topic], await self._stored(topic, p)
        first, _ = await reader.bounds(p)
        start = max(stored + 1, first)
        if start >= upto:
            return
        log.warning("%s partition %d: the alerts board holds offset %d, the consumer is at %d: "
                    "reading %d records from the log", topic, p, stored, upto, upto - start)
        apply = self._alerts if topic == self.alerts_topic else self._acks
        async for chunk in reader.read(p, start, upto):
            await apply(chunk)

    def _offsets(self, pipe, topic: str, recs: list) -> None:
        last: dict[int, int] = {}
        for r in recs:
            last[r.partition] = max(last.get(r.partition, -1), r.offset)
        if last:
            # Last in the pipeline: a board write cut short is read again, never skipped.
            pipe.hset(self.k.board_meta(), mapping={f"{topic}|{p}": o for p, o in last.items()})

    async def _alerts(self, records: list) -> None:
        k, pipe, dead = self.k, self.r.pipeline(transaction=False), []
        for rec in records:
            try:
                a = decode(decode_alert, rec.value)
                check_key(rec, a.id, "id")
            except Poison as exc:
                dead.append((dead_key(rec.key), self._letter(self.alerts_topic, rec, str(exc))))
                continue
            pipe.hset(k.alert_info(), a.id, encode(a))
            pipe.zadd(k.alert_ts(), {a.id: a.ts})
            if a.kind == "resolved" and a.case:
                pipe.zadd(k.alert_resolved(), {a.case: a.ts}, gt=True)
            self._newest = max(self._newest, a.ts)
            self.applied += 1
        if dead:
            await self.dead_sink(dead)
        # Keep the board to the last days of alerts (by alert time, so replays agree).
        pipe.zrangebyscore(k.alert_ts(), "-inf", self._newest - self.keep_ms)
        old = (await pipe.execute())[-1]
        pipe = self.r.pipeline(transaction=False)
        if old:
            pipe.zrem(k.alert_ts(), *old)
            pipe.hdel(k.alert_info(), *old)
            pipe.delete(*(k.alert_acks(a.decode()) for a in old))
        self._offsets(pipe, self.alerts_topic, records)
        await pipe.execute()

    async def _acks(self, records: list) -> None:
        k, pipe, dead = self.k, self.r.pipeline(transaction=False), []
        for rec in records:
            try:
                ack = decode(decode_ack, rec.value)
                check_key(rec, ack.alert, "alert")
            except Poison as exc:
                dead.append((dead_key(rec.key), self._letter(self.acks_topic, rec, str(exc))))
                continue
            pipe.hset(k.alert_acks(ack.alert), ack.id, encode(ack))
            pipe.expire(k.alert_acks(ack.alert), self.keep_ms // 1000 + 86_400)
            self.applied += 1
        if dead:
            await self.dead_sink(dead)
        self._offsets(pipe, self.acks_topic, records)
        await pipe.execute()

    def _letter(self, topic: str, rec: Record, reason: str) -> DeadLetter:
        return dead_letter(topic, rec.partition, rec.offset, reason, rec.value, now_ms())

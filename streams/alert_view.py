"""The alerts board in Redis: every alert and every acknowledgement, idempotently.

Alerts (topic ``alerts``) and acknowledgements (topic ``alert-acks``, both keyed by alert
id) are facts with stable ids, so the board is a set of absolute writes: applying a
record twice, or an acknowledgement before its alert, gives the same board. No offset
fencing is needed; at-least-once delivery is enough (DESIGN.md, principle 4).
"""

from __future__ import annotations

from typing import Awaitable, Callable, Iterable

import redis.asyncio as aioredis

from gridpulse.clock import DAY_MS, now_ms
from gridpulse.rkeys import Keys
from gridpulse.schemas import DeadLetter, dead_key, dead_letter, decode_ack, decode_alert, encode

from .poison import Poison, check_key, decode
from .processor import Record

DeadSink = Callable[[list[tuple[bytes | None, DeadLetter]]], Awaitable[None]]


class AlertBoardWriter:
    """Applies alert and acknowledgement records to the board."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, dead_sink: DeadSink, alerts_topic: str,
                 acks_topic: str, keep_days: int = 7) -> None:
        self.r, self.k, self.dead_sink = redis, keys, dead_sink
        self.alerts_topic, self.acks_topic = alerts_topic, acks_topic
        self.keep_ms = keep_days * DAY_MS
        self.applied = 0
        self._newest = 0

    def drop(self, partitions: Iterable[int]) -> None:
        """Nothing is held per partition (the board is absolute writes)."""

    async def process_alerts(self, records: Iterable[Record]) -> None:
        """Put each alert on the board (a resolution marks its case's alerts resolved)."""
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
        if old:
            pipe = self.r.pipeline(transaction=False)
            pipe.zrem(k.alert_ts(), *old)
            pipe.hdel(k.alert_info(), *old)
            pipe.delete(*(k.alert_acks(a.decode()) for a in old))
            await pipe.execute()

    async def process_acks(self, records: Iterable[Record]) -> None:
        """Record each acknowledgement under its alert (one hash field per ack id)."""
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
        await pipe.execute()

    def _letter(self, topic: str, rec: Record, reason: str) -> DeadLetter:
        return dead_letter(topic, rec.partition, rec.offset, reason, rec.value, now_ms())

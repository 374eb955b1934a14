"""The notifier's clock: an event time by which every alert up to it has been written.

The worker writes an alert once its case partition's watermark is the allowed lateness
past the alert's moment, and has it acknowledged by Kafka before it saves that watermark
(docs/contract.md, ``alerts``). So once every case partition's watermark is at ``W``,
every case alert dated up to ``W - lateness`` is on the topic: that is the notifier's
``now``, and a flush at an event time up to it can be decided for good (groups.py).

Two refinements. Without any case partition (no worker yet, or alerts written by
another system) the newest alert's time minus the lateness stands for it. And while the
city is live (that time within ``live_window`` of the wall clock), a quiet city's clock
follows the wall clock, minus the lateness: an alert is then told ``group_wait`` after
it was written even when no later event comes. A replayed past day is never live, so
its notifications are decided on event time alone.

Visit alerts (``off_grid``, ``silent_terminal``) have a clock of their own, the same
way from the GPS partitions: the worker writes one once its partition's horizon (the
newest fix minus ``GRIDPULSE_GPS_LATENESS_S``) is past it, before saving that
watermark, so every visit alert dated up to the lowest GPS watermark minus the GPS
lateness is on the topic. Only groups a visit alert can join wait for it (sources.py).

A partition counts once the worker has saved its projection. One whose log holds
records but that has none yet (a worker still busy with another partition's backlog, a
Redis being rebuilt) holds its stream's clock where it is (:class:`SourceLogs`): its
alerts may still come, dated anywhere after its last saved watermark.
"""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError

from gridpulse.rkeys import CASE, GPS, Keys

CHECK_S = 1.0  # how often partitions without a projection are looked up in Kafka


def event_clock(case_wms: list[int], newest_alert: int, lateness_ms: int, wall: int,
                live_window_ms: int, prev: int = 0, live_on_newest: bool = False) -> int:
    """The notifier's ``now`` (never going back from ``prev``).

    ``live_on_newest``: the stream counts as live when its newest partition is (not its
    oldest). For the GPS partitions, which take no clock ticks: one whose terminals have
    all gone home stands still, and must not stop the visit clock of a city still at work
    (an alert it writes late, after a terminal reconnects, joins its group's next flush).
    """
    base = (min(case_wms) if case_wms else newest_alert) - lateness_ms
    if not case_wms and not newest_alert:
        base = 0
    fresh = max(case_wms) - lateness_ms if live_on_newest and case_wms else base
    if base and fresh >= wall - lateness_ms - live_window_ms:
        base = max(base, wall - lateness_ms)
    return max(prev, base)


async def watermarks(r: aioredis.Redis, keys: Keys, kind: str = CASE) -> dict[int, int]:
    """Partition -> ``wm`` of every partition of ``kind`` (case or gps) with a projection."""
    parts = sorted(int(p) for p in await r.smembers(keys.parts(kind)))
    if not parts:
        return {}
    pipe = r.pipeline(transaction=False)
    for p in parts:
        pipe.hget(keys.meta(kind, p), "wm")
    return {p: int(v) for p, v in zip(parts, await pipe.execute()) if v is not None}


async def both(r: aioredis.Redis, keys: Keys) -> dict[str, dict[int, int]]:
    """The case partitions' watermarks and the GPS partitions', by kind."""
    return {CASE: await watermarks(r, keys, CASE), GPS: await watermarks(r, keys, GPS)}


class SourceLogs:
    """Which partitions of the case and GPS topics hold records but have no projection.

    ``consumer`` is any started aiokafka consumer (offsets are asked for, nothing is
    read); ``topics`` maps a kind (case, gps) to its topic. The partitions without a
    projection are looked up every ``CHECK_S`` in a task of its own (:meth:`poke`), so a
    slow broker or a missing topic never holds up the notifier's loop. Until the first
    look-up has answered, every clock waits; a projection that disappears (a Redis
    flushed or being rebuilt) makes its partition count as holding records until a
    look-up says otherwise, and starts one at once.
    """

    def __init__(self, consumer, topics: dict[str, str]) -> None:
        self.c, self.topics = consumer, topics
        self.filled: dict[str, set[int]] = {kind: set() for kind in topics}
        self.ready = False
        self._seen: dict[str, set[int]] = {kind: set() for kind in topics}
        self._checked = -CHECK_S
        self._task: asyncio.Task | None = None

    def poke(self, have: dict[str, dict]) -> None:
        """Note the partitions with a projection now (``have``); start a look-up of the
        others if none is running and the last began ``CHECK_S`` ago, or one was lost."""
        lost = False
        for kind in self.topics:
            now_have = set(have.get(kind, {}))
            gone = self._seen[kind] - now_have
            if gone:
                self.filled[kind] |= gone
                lost = True
            self._seen[kind] = now_have
        now = time.monotonic()
        if (self._task is None or self._task.done()) and (lost or now - self._checked >= CHECK_S):
            self._checked = now
            self._task = asyncio.create_task(self.refresh(have))

    def stop(self) -> None:
        """Cancel a look-up in flight."""
        if self._task is not None:
            self._task.cancel()

    async def refresh(self, have: dict[str, dict]) -> None:
        """Look up which partitions without a projection (not in ``have``) hold records.
        A topic that cannot be asked about keeps what was known of it."""
        for kind, topic in self.topics.items():
            try:
                parts = self.c.partitions_for_topic(topic)
                if not parts:  # asking for offsets makes the client learn the topic
                    await asyncio.wait_for(self.c.end_offsets([TopicPartition(topic, 0)]), 2)
                    parts = self.c.partitions_for_topic(topic) or set()
                todo = [TopicPartition(topic, p) for p in sorted(parts) if p not in have.get(kind, {})]
                filled: set[int] = set()
                if todo:
                    ends = await asyncio.wait_for(self.c.end_offsets(todo), 5)
                    starts = await asyncio.wait_for(self.c.beginning_offsets(todo), 5)
                    filled = {tp.partition for tp in todo if ends[tp] > starts[tp]}
                self.filled[kind] = filled
            except (asyncio.TimeoutError, KafkaError, OSError):
                continue  # no such topic yet, or the broker is away: asked again later
        self.ready = True

    def waiting(self, kind: str, have: dict[str, dict]) -> bool:
        """Whether a partition of ``kind`` holds records but has no projection (or no
        look-up has answered yet)."""
        return not self.ready or bool(self.filled.get(kind, set()) - set(have.get(kind, {})))

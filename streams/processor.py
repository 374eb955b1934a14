"""Batch processing of raw Kafka records into partition projections.

Independent of Faust so it can be driven by any consumer (the Faust agents, the
benchmark, tests): decode with msgspec, dead-letter what fails validation, apply the
rest to the partition's state, then write each partition once per batch.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from operator import attrgetter
from typing import Awaitable, Callable, Generic, Iterable, NamedTuple, TypeVar

import msgspec

from gridpulse.clock import now_ms
from gridpulse.schemas import Alert, CaseEvent, DeadLetter, GpsBatch, decode_case, decode_gps

from .case_state import CasePartition
from .gps_state import GpsPartition
from .redis_store import Conflict, PartitionStore

log = logging.getLogger(__name__)
MAX_RETRIES = 8


class Record(NamedTuple):
    """A raw Kafka record as the processors see it (anything with these four fields
    will do: the worker passes Faust's ConsumerMessage objects as they are)."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes


_offset = attrgetter("offset")


class Rejected(Exception):
    """A message that decoded but breaks a rule the schema cannot express."""


S = TypeVar("S", CasePartition, GpsPartition)
DeadSink = Callable[[list[tuple[bytes | None, DeadLetter]]], Awaitable[None]]
AlertSink = Callable[[list[Alert]], Awaitable[None]]


class _Processor(Generic[S]):
    topic = ""

    def __init__(self, store: PartitionStore, known_grid: Callable[[str], bool],
                 dead_sink: DeadSink, topic: str = "", alert_sink: AlertSink | None = None) -> None:
        self.store = store
        self.alert_sink = alert_sink
        self.alert_count = 0
        self.known_grid = known_grid
        self.dead_sink = dead_sink
        self.topic = topic or self.topic
        self.parts: dict[int, S] = {}
        self.applied = 0
        self.dead_count = 0

    async def _load(self, p: int) -> S:
        raise NotImplementedError

    async def _flush(self, st: S) -> None:
        raise NotImplementedError

    def _decode(self, raw: bytes):
        raise NotImplementedError

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget the state of partitions this worker no longer owns."""
        for p in partitions:
            self.parts.pop(p, None)

    async def process(self, records: Iterable[Record]) -> None:
        """Apply a batch: dead letters are acknowledged by Kafka before Redis moves on."""
        by_p: dict[int, list[Record]] = defaultdict(list)
        for r in records:
            by_p[r.partition].append(r)
        for p, recs in by_p.items():
            recs.sort(key=_offset)
            await self._process_partition(p, recs)

    async def _process_partition(self, p: int, recs: list[Record]) -> None:
        for _ in range(MAX_RETRIES):
            st = self.parts.get(p)
            if st is None:
                st = self.parts[p] = await self._load(p)
            dead = []
            for r in recs:
                if r.offset <= st.offset:
                    continue  # already reflected in Redis (a replay after a crash)
                try:
                    item = self._decode(r.value)
                except (msgspec.ValidationError, msgspec.DecodeError, Rejected) as exc:
                    dead.append((r.key, self._letter(p, r, str(exc))))
                    st.offset = r.offset  # the bad record is handled: it is in the dead-letter topic
                    continue
                self.applied += self._apply(st, item, r)
            dead += self._after_batch(st)
            if dead:
                # Before the flush: once Redis holds the offset the record is never seen
                # again, so its letter must already be safe in Kafka.
                await self.dead_sink(dead)
                self.dead_count += len(dead)
            await self._publish(st)
            try:
                await self._flush(st)
                return
            except Conflict as exc:
                log.info("reloading after fenced write: %s", exc)
                self.parts.pop(p, None)
        raise RuntimeError(f"partition {p}: gave up after {MAX_RETRIES} fenced-write conflicts")

    def _apply(self, st: S, item, r: Record) -> bool:
        return st.apply(item, r.offset)

    def _after_batch(self, st: S) -> list:
        """Dead letters the state itself produced (rule-breaking events), if any."""
        return []

    async def _publish(self, st: S) -> None:
        """Publish the alerts the batch produced, before the flush (as with dead letters)."""
        if st.alerts_out and self.alert_sink is not None:
            await self.alert_sink(st.alerts_out)
            self.alert_count += len(st.alerts_out)

    def _letter(self, p: int, r: Record, reason: str) -> DeadLetter:
        return DeadLetter(topic=self.topic, partition=p, offset=r.offset, reason=reason,
                          raw=r.value, at=now_ms())


class CaseProcessor(_Processor[CasePartition]):
    """Case events -> case projections."""

    topic = "case-events"

    def _apply(self, st: CasePartition, item: CaseEvent, r: Record) -> bool:
        return st.apply(item, r.offset, r.value)

    def _after_batch(self, st: CasePartition) -> list:
        st.advance()  # the watermark moved: wake the cases whose clocks it passed
        at = now_ms()
        for _, letter in st.dead_out:
            letter.at = at
        return list(st.dead_out)

    async def _load(self, p: int) -> CasePartition:
        return await self.store.load_case(p)

    async def _flush(self, st: CasePartition) -> None:
        await self.store.flush_case(st)

    def _decode(self, raw: bytes) -> CaseEvent:
        ev = decode_case(raw)
        if not self.known_grid(ev.grid):
            raise Rejected(f"unknown grid {ev.grid!r} - at `$.grid`")
        return ev


class GpsProcessor(_Processor[GpsPartition]):
    """GPS fix batches -> positions, terminal-days, visits, coverage and their alerts."""

    topic = "gps-fixes"

    def _after_batch(self, st: GpsPartition) -> list:
        st.advance()  # the horizon moved: finalize fixes, settle stays, count visits
        return []

    async def _load(self, p: int) -> GpsPartition:
        return await self.store.load_gps(p)

    async def _flush(self, st: GpsPartition) -> None:
        await self.store.flush_gps(st)

    def _decode(self, raw: bytes) -> GpsBatch:
        batch = decode_gps(raw)
        if not self.known_grid(batch.grid):
            raise Rejected(f"unknown grid {batch.grid!r} - at `$.grid`")
        return batch

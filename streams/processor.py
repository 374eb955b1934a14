"""Batch processing of raw Kafka records into partition projections.

Independent of Faust so it can be driven by any consumer (the Faust agents, the
benchmark, tests): decode with msgspec, dead-letter what cannot be used, apply the
rest to the partition's state, then write each partition once per batch.

A record is dead-lettered, and the partition goes on, whenever the fault is the
record's: its bytes do not decode or validate (:mod:`streams.poison`), or the pure core
raises while applying it. In the second case the half-changed state is thrown away and
the batch is re-applied one record at a time from the last saved state, so the one
record at fault is found, dead-lettered and skipped, and every figure stays what it
would be without it. Faults of Redis or Kafka are not the record's: they propagate to
the caller (:mod:`streams.retry`), which retries the batch.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from operator import attrgetter
from typing import Awaitable, Callable, Generic, Iterable, NamedTuple, TypeVar

from gridpulse.clock import now_ms
from gridpulse.schemas import (Alert, CaseEvent, DeadLetter, GpsBatch, Tick, dead_key, dead_letter,
                               decode_case, decode_gps, decode_tick)

from .case_state import CasePartition
from .gps_state import GpsPartition
from .poison import Poison, check_clock, decode
from .redis_store import Conflict, PartitionStore

log = logging.getLogger(__name__)
MAX_RETRIES = 8


class Record(NamedTuple):
    """A raw Kafka record as the processors see it (anything with these fields will do:
    the worker passes Faust's ConsumerMessage objects as they are)."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float | None = None  # the record's timestamp in seconds, as Faust gives it


_offset = attrgetter("offset")


def record_ms(r) -> int | None:
    """The record's timestamp in epoch ms (None if it has none)."""
    ts = r.timestamp
    return None if ts is None else round(ts * 1000)


S = TypeVar("S", CasePartition, GpsPartition)
DeadSink = Callable[[list[tuple[bytes | None, DeadLetter]]], Awaitable[None]]
AlertSink = Callable[[list[Alert]], Awaitable[None]]


class _Processor(Generic[S]):
    topic = ""

    def __init__(self, store: PartitionStore, known_grid: Callable[[str], bool],
                 dead_sink: DeadSink, topic: str = "", alert_sink: AlertSink | None = None,
                 clock_ahead_ms: int = 0) -> None:
        self.store = store
        self.alert_sink = alert_sink
        self.alert_count = 0
        self.known_grid = known_grid
        self.dead_sink = dead_sink
        self.topic = topic or self.topic
        self.clock_ahead_ms = clock_ahead_ms  # 0: event times are not checked
        self.parts: dict[int, S] = {}
        self.applied = 0
        self.dead_count = 0
        self.faults = 0  # records dead-lettered because the pure core raised on them

    async def _load(self, p: int) -> S:
        raise NotImplementedError

    async def _flush(self, st: S) -> None:
        raise NotImplementedError

    def _decode(self, r):
        raise NotImplementedError

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget the state of partitions this worker no longer owns (or must reload)."""
        for p in partitions:
            self.parts.pop(p, None)

    async def process(self, records: Iterable) -> None:
        """Apply a batch: dead letters are acknowledged by Kafka before Redis moves on.

        Raises only what is not a record's fault (Redis, Kafka, repeated write
        conflicts); the state of the partitions involved is then dropped, so a retry
        starts again from what Redis holds.
        """
        by_p: dict[int, list] = defaultdict(list)
        for r in records:
            by_p[r.partition].append(r)
        for p, recs in by_p.items():
            recs.sort(key=_offset)
            try:
                await self._process_partition(p, recs)
            except BaseException:
                self.parts.pop(p, None)  # it may hold changes Redis never got
                raise

    async def _process_partition(self, p: int, recs: list) -> None:
        for _ in range(MAX_RETRIES):
            st = await self._state(p)
            try:
                dead = self._apply_batch(st, recs)
            except Exception:  # noqa: BLE001 - the pure core failed on one of these records
                log.exception("partition %d: applying a batch of %d failed; finding the record "
                              "at fault one by one", p, len(recs))
                self.parts.pop(p, None)
                await self._one_by_one(p, recs)
                return
            if await self._commit(st, dead):
                return
        raise RuntimeError(f"partition {p}: gave up after {MAX_RETRIES} fenced-write conflicts")

    async def _one_by_one(self, p: int, recs: list) -> None:
        """Apply and save each record alone; dead-letter the ones the pure core fails on."""
        for r in recs:
            for _ in range(MAX_RETRIES):
                st = await self._state(p)
                if r.offset <= st.offset:
                    break
                try:
                    dead = self._apply_batch(st, [r])
                except Exception as exc:  # noqa: BLE001 - this record is at fault
                    self.parts.pop(p, None)
                    st = await self._state(p)
                    reason = f"processing failed: {type(exc).__name__}: {exc}"
                    log.error("partition %d offset %d: %s", p, r.offset, reason)
                    self.faults += 1
                    st.offset = r.offset  # skipped: its letter is in the dead-letter topic
                    dead = [(dead_key(r.key), self._letter(p, r, reason))]
                if await self._commit(st, dead):
                    break
            else:
                raise RuntimeError(f"partition {p}: gave up after {MAX_RETRIES} fenced-write conflicts")

    async def _state(self, p: int) -> S:
        st = self.parts.get(p)
        if st is None:
            st = self.parts[p] = await self._load(p)
        return st

    def _apply_batch(self, st: S, recs: list) -> list:
        """Apply ``recs`` to ``st`` (pure); returns the dead letters it produced."""
        dead = []
        for r in recs:
            if r.offset <= st.offset:
                continue  # already reflected in Redis (a replay after a crash)
            try:
                item = self._decode(r)
            except Poison as exc:
                dead.append((dead_key(r.key), self._letter(st.partition, r, str(exc))))
                st.offset = r.offset  # the bad record is handled: it is in the dead-letter topic
                continue
            self.applied += self._apply(st, item, r)
        return dead + self._after_batch(st)

    async def _commit(self, st: S, dead: list) -> bool:
        """Send the batch's dead letters and alerts, then save; False if fenced out."""
        if dead:
            # Before the flush: once Redis holds the offset the record is never seen
            # again, so its letter must already be safe in Kafka.
            await self.dead_sink(dead)
            self.dead_count += len(dead)
        await self._publish(st)
        try:
            await self._flush(st)
            return True
        except Conflict as exc:
            log.info("reloading after fenced write: %s", exc)
            self.parts.pop(st.partition, None)
            return False

    def _apply(self, st: S, item, r) -> bool:
        return st.apply(item, r.offset)

    def _after_batch(self, st: S) -> list:
        """Dead letters the state itself produced (rule-breaking events), if any."""
        return []

    async def _publish(self, st: S) -> None:
        """Publish the alerts the batch produced, before the flush (as with dead letters)."""
        if st.alerts_out and self.alert_sink is not None:
            await self.alert_sink(st.alerts_out)
            self.alert_count += len(st.alerts_out)

    def _letter(self, p: int, r, reason: str) -> DeadLetter:
        return dead_letter(self.topic, p, r.offset, reason, r.value, now_ms())

    def _known(self, grid: str) -> None:
        if not self.known_grid(grid):
            raise Poison(f"unknown grid {grid!r} - at `$.grid`")


def check_key(r, want: str, field: str) -> None:
    """Poison unless the record's key is ``want``: the value's ``field`` decides the
    partition, and a record under another key would split what must stay together."""
    if r.key != want.encode():
        raise Poison(f"key {r.key!r} is not the value's {field} {want!r} - the key must be "
                     f"the {field}, so that every record of it lands in one partition")


class CaseProcessor(_Processor[CasePartition]):
    """Case events (and clock ticks) -> case projections."""

    topic = "case-events"

    def _apply(self, st: CasePartition, item: CaseEvent | Tick, r) -> bool:
        if isinstance(item, Tick):
            return st.tick(item.ts, r.offset)
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

    def _decode(self, r) -> CaseEvent | Tick:
        try:
            item = decode(decode_case, r.value)
        except Poison:
            if r.value is None or b'"tick"' not in r.value:
                raise
            try:
                item = decode(decode_tick, r.value)
            except Poison:
                pass
            else:
                check_clock(item.ts, record_ms(r), self.clock_ahead_ms)
                return item
            raise
        self._known(item.grid)
        check_key(r, item.case, "case")
        check_clock(item.ts, record_ms(r), self.clock_ahead_ms)
        return item


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

    def _decode(self, r) -> GpsBatch:
        batch = decode(decode_gps, r.value)
        self._known(batch.grid)
        check_key(r, batch.grid, "grid")
        if self.clock_ahead_ms and r.timestamp is not None:
            check_clock(max([f.ts for f in batch.fixes]), record_ms(r), self.clock_ahead_ms)
        return batch

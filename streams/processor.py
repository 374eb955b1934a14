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

import asyncio
import logging
import time
from collections import defaultdict
from operator import attrgetter
from typing import Awaitable, Callable, Generic, Iterable, TypeVar

from gridpulse.clock import now_ms
from gridpulse.schemas import Alert, CaseEvent, DeadLetter, GpsBatch, Tick, dead_key, dead_letter

from .case_state import CasePartition
from .gps_state import GpsPartition
from . import recovery
from .log_reader import fingerprint
from .poison import Poison, case_item, gps_item, record_ms
from .record import Record  # noqa: F401 - where the consumers and tests take it from
from .redis_store import Conflict, PartitionStore

log = logging.getLogger(__name__)
MAX_RETRIES = 8


_offset = attrgetter("offset")


S = TypeVar("S", CasePartition, GpsPartition)
DeadSink = Callable[[list[tuple[bytes | None, DeadLetter]]], Awaitable[None]]
AlertSink = Callable[[list[Alert]], Awaitable[None]]


class _Processor(Generic[S]):
    topic = ""
    kind = ""  # the Redis key family of its projections (gridpulse.rkeys CASE / GPS)

    def __init__(self, store: PartitionStore, known_grid: Callable[[str], bool],
                 dead_sink: DeadSink, topic: str = "", alert_sink: AlertSink | None = None,
                 clock_ahead_ms: int = 0, reader=None) -> None:
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
        # Reads the topic's log directly (streams/log_reader.py) to rebuild what Redis
        # lacks; None: trust Redis (unit tests, benchmarks of the processors alone).
        self.reader = reader
        self.snapshots = None  # a SnapshotStore (streams/snapshots.py): restore before replaying
        self.rebuilding: dict[int, dict] = {}  # partition -> catch-up progress
        self._locks: dict[int, asyncio.Lock] = {}  # one writer of a partition at a time
        self._seen: dict[int, float] = {}  # partition -> when the consumer last delivered

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

    def _lock(self, p: int) -> asyncio.Lock:
        lock = self._locks.get(p)
        if lock is None:
            lock = self._locks[p] = asyncio.Lock()
        return lock

    async def _process_partition(self, p: int, recs: list) -> None:
        self._seen[p] = time.monotonic()
        async with self._lock(p):
            await self._apply_records(p, recs)

    async def mend(self, p: int) -> None:
        """Bring partition ``p``'s views to what the log holds without waiting for a
        record: Redis changed under the worker (flushed, rebuilt), or holds less than the
        consumer group committed (so the consumer will never deliver what is missing)."""
        if self.reader is None:
            return
        async with self._lock(p):
            st = self.parts.get(p)
            if st is not None and await self.store.saved_offset(self.kind, p) != st.persisted_offset:
                self.parts.pop(p, None)  # reloaded below: what Redis holds now
            st = await self._state(p)
            if time.monotonic() - st.verified_at > recovery.CHECK_EVERY_S:
                # A log replaced under a consumer that read on shows nowhere else.
                self.parts[p] = st = await recovery.check_log(self, st)
            committed = await self.reader.committed(p)
            _, end = await self.reader.bounds(p)
            idle = time.monotonic() - self._seen.get(p, 0.0) > recovery.IDLE_S
            if (committed is not None and committed > st.offset + 1) or (idle and end > st.offset + 1):
                # Up to the log's end: what the consumer read past its last commit before
                # Redis lost it will not come again either.
                await recovery.catch_up(self, p, max(committed or 0, end))

    async def _apply_records(self, p: int, recs: list) -> None:
        """Apply records of partition ``p`` in offset order and save them."""
        for _ in range(MAX_RETRIES):
            st = await self._state(p)
            if self.reader is not None:
                st = await self._mend(p, st, recs)
            try:
                dead, n = self._apply_batch(st, recs)
            except Exception:  # noqa: BLE001 - the pure core failed on one of these records
                log.exception("partition %d: applying a batch of %d failed; finding the record "
                              "at fault one by one", p, len(recs))
                self.parts.pop(p, None)
                await self._one_by_one(p, recs)
                return
            if await self._commit(st, dead, n):
                return
        raise RuntimeError(f"partition {p}: gave up after {MAX_RETRIES} fenced-write conflicts")

    async def _mend(self, p: int, st: S, recs: list) -> S:
        """``st`` made ready for ``recs``: the log's identity checked when they are all
        at or below what Redis reflects, and what Redis lacks before them read from the
        log (streams/recovery.py)."""
        if recovery.needs_check(st, recs):
            self.parts[p] = st = await recovery.check_log(self, st, recs)
        first = next((r.offset for r in recs if r.offset > st.offset), None)
        if first is not None and first > st.offset + 1:
            await recovery.catch_up(self, p, first)
            st = await self._state(p)
        return st

    async def _one_by_one(self, p: int, recs: list) -> None:
        """Apply and save each record alone; dead-letter the ones the pure core fails on."""
        for r in recs:
            for _ in range(MAX_RETRIES):
                st = await self._state(p)
                if r.offset <= st.offset:
                    break
                try:
                    dead, n = self._apply_batch(st, [r])
                except Exception as exc:  # noqa: BLE001 - applying this record raised
                    self.parts.pop(p, None)
                    st = await self._state(p)
                    reason = f"processing failed: {type(exc).__name__}: {exc}"
                    log.error("partition %d offset %d: %s", p, r.offset, reason)
                    self.faults += 1
                    st.offset, st.fp = r.offset, fingerprint(r)  # skipped: it is in the dead-letter topic
                    dead, n = [(dead_key(r.key), self._letter(p, r, reason))], 0
                    dead += self._after_batch(st)  # what the reload itself settled
                if await self._commit(st, dead, n):
                    break
            else:
                raise RuntimeError(f"partition {p}: gave up after {MAX_RETRIES} fenced-write conflicts")

    async def _state(self, p: int) -> S:
        st = self.parts.get(p)
        if st is None:
            st = await self._load(p)
            if self.reader is not None:
                st = await recovery.check_log(self, st)
            self.parts[p] = st
        return st

    def _apply_batch(self, st: S, recs: list) -> tuple[list, int]:
        """Apply ``recs`` to ``st`` (pure); the dead letters it produced and how many
        records it applied."""
        dead, n, last = [], 0, None
        for r in recs:
            if r.offset <= st.offset:
                continue  # already reflected in Redis (a replay after a crash)
            if st.anchor is None:
                st.anchor = (r.offset, fingerprint(r))  # the log's identity (recovery.py)
            last = r
            try:
                item = self._decode(r)
            except Poison as exc:
                dead.append((dead_key(r.key), self._letter(st.partition, r, str(exc))))
                st.offset = r.offset  # the bad record is handled: it is in the dead-letter topic
                continue
            n += self._apply(st, item, r)
        if last is not None:
            st.fp = fingerprint(last)  # what identifies the log at st.offset (recovery.py)
        return dead + self._after_batch(st), n

    async def _commit(self, st: S, dead: list, n: int = 0) -> bool:
        """Send the batch's dead letters and alerts, then save; False if fenced out."""
        if dead:
            # Before the flush: once Redis holds the offset the record is never seen
            # again, so its letter must already be safe in Kafka.
            await self.dead_sink(dead)
            self.dead_count += len(dead)
        await self._publish(st)
        try:
            await self._flush(st)
            self.applied += n
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


class CaseProcessor(_Processor[CasePartition]):
    """Case events (and clock ticks) -> case projections."""

    topic = "case-events"
    kind = "case"

    def _apply(self, st: CasePartition, item: CaseEvent | Tick, r) -> bool:
        before = st.watermark
        if isinstance(item, Tick):
            done = st.tick(item.ts, r.offset, record_ms(r))
        else:
            done = st.apply(item, r.offset, r.value, record_ms(r))
        if st.watermark > before:
            # Wake what this record's "now" passed before the next record is applied, so
            # the figures depend on the log alone, not on where batches happen to split.
            st.advance()
        return done

    def _after_batch(self, st: CasePartition) -> list:
        st.advance()  # the watermark moved: wake the cases whose clocks it passed
        st.archive()
        st.expire_days()
        at = now_ms()
        for _, letter in st.dead_out:
            letter.at = at
        return list(st.dead_out)

    async def _load(self, p: int) -> CasePartition:
        return await self.store.load_case(p)

    async def _flush(self, st: CasePartition) -> None:
        await self.store.flush_case(st)

    def _decode(self, r) -> CaseEvent | Tick:
        return case_item(r, self.known_grid, self.clock_ahead_ms)


class GpsProcessor(_Processor[GpsPartition]):
    """GPS fix batches -> positions, terminal-days, visits, coverage and their alerts."""

    topic = "gps-fixes"
    kind = "gps"

    def _after_batch(self, st: GpsPartition) -> list:
        st.advance()  # the horizon moved: finalize fixes, settle stays, count visits
        at = now_ms()
        for _, letter in st.dead_out:
            letter.topic, letter.at = self.topic, at
        return list(st.dead_out)

    async def _load(self, p: int) -> GpsPartition:
        return await self.store.load_gps(p)

    async def _flush(self, st: GpsPartition) -> None:
        await self.store.flush_gps(st)

    def _decode(self, r) -> GpsBatch:
        return gps_item(r, self.known_grid, self.clock_ahead_ms)

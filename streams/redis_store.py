"""Load and save partition projections in Redis, fenced by the offset they reflect.

A flush is one MULTI/EXEC guarded by WATCH on the partition's meta key: it only lands
if Redis still holds the offset this worker last read or wrote. Another worker that
took the partition over in a rebalance and wrote since makes the flush fail with
:class:`Conflict`; the caller then reloads and re-applies its batch, so two workers can
never interleave stale state (exactness from offsets and idempotent writes, not delivery).
"""

from __future__ import annotations

import asyncio
from array import array
from collections import Counter
from typing import Callable

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import WatchError

from gridpulse.rkeys import CASE, GPS, Keys, partition_keys

from gridpulse.clock import day_start_ms, local_day, now_ms
from gridpulse.loop import record
from gridpulse.visits.day import Terminal, pack_route, summary

from .case_state import CasePartition
from .gps_state import GpsPartition

_json = msgspec.json.Encoder()
_pos_dec = msgspec.json.Decoder(tuple[int, float, float, str, str])
_term_enc = msgspec.msgpack.Encoder()
_term_dec = msgspec.msgpack.Decoder(Terminal)


#: How many times deleting every view starts again after a write landed meanwhile.
RESET_TRIES = 50


class Conflict(Exception):
    """Another writer advanced the partition since we last read it."""


def _put_counter(tx, key: str, counter: Counter[str], dirty: set[str]) -> None:
    sets, dels = {}, []
    for k in dirty:
        v = counter.get(k, 0)
        if v:
            sets[k] = v
        else:
            counter.pop(k, None)
            dels.append(k)
    if sets:
        tx.hset(key, mapping=sets)
    if dels:
        tx.hdel(key, *dels)


class PartitionStore:
    """Reads and fenced writes of partition projections."""

    def __init__(self, redis: aioredis.Redis, keys: Keys, new_case: Callable[[int], CasePartition],
                 new_gps: Callable[[int], GpsPartition] = GpsPartition,
                 track_ttl_s: int = 8 * 86_400) -> None:
        self.r = redis
        self.k = keys
        self.new_case = new_case  # makes an empty case projection for a partition
        self.new_gps = new_gps  # ... and an empty GPS projection
        self.track_ttl_s = track_ttl_s  # how long routes, stays and day summaries are kept

    @staticmethod
    def _restore_meta(st, meta: dict) -> None:
        """The fields every projection's meta hash holds (docs/contract.md, Redis views)."""
        st.offset, st.watermark = int(meta.get(b"offset", -1)), int(meta.get(b"wm", 0))
        st.fp = meta.get(b"fp", b"").decode()
        st.saved_count = int(meta[b"n"]) if b"n" in meta else None
        st.incomplete = int(meta.get(b"inc", -1))
        st.gen = meta.get(b"gen", b"").decode()
        anchor = meta.get(b"anchor", b"").decode()
        st.anchor = (int(anchor.split(":")[0]), anchor.split(":")[1]) if anchor else None

    async def load_case(self, p: int) -> CasePartition:
        """The partition's projection as last saved (empty if none), rebuilt in memory."""
        st = self.new_case(p)
        pipe = self.r.pipeline(transaction=True)
        pipe.hgetall(self.k.meta(CASE, p))
        pipe.hgetall(self.k.cases(p))
        pipe.zrange(self.k.recent(p), 0, -1, withscores=True)
        pipe.hgetall(self.k.frozen(p))
        meta, cases, recent, frozen = await pipe.execute()
        self._restore_meta(st, meta)
        st.received = int(meta.get(b"rt", 0))
        st.cases = {k.decode(): record.DECODER.decode(v) for k, v in cases.items()}
        st.recent = {k.decode(): int(s) for k, s in recent}
        st.frozen = Counter({k.decode(): int(v) for k, v in frozen.items()})
        for _ in st.rebuild():
            await asyncio.sleep(0)  # a long load must not starve the event loop
        st.persisted_offset = st.offset
        return st

    async def flush_case(self, st: CasePartition) -> None:
        """Write what changed in ``st``; raises :class:`Conflict` if fenced out."""
        st.prune_recent()
        p, k = st.partition, self.k

        def ops(tx) -> None:
            if st.dirty_cases:
                tx.hset(k.cases(p), mapping={c: record.ENCODER.encode(st.cases[c]) for c in st.dirty_cases})
            if st.evicted:
                tx.hdel(k.cases(p), *st.evicted)
            _put_counter(tx, k.kpi(p), st.counters, st.dirty_keys)
            _put_counter(tx, k.frozen(p), st.frozen, st.dirty_frozen)
            if st.dirty_recent:
                tx.zadd(k.recent(p), {c: st.recent[c] for c in st.dirty_recent})
                tx.hset(k.recent_info(p), mapping={c: _json.encode(st.summary(c)) for c in st.dirty_recent})
            gone = [c for c in st.dirty_rows if c not in st.rows]
            if len(gone) < len(st.dirty_rows):
                tx.hset(k.open_cases(p), mapping={c: _json.encode(st.row(c)) for c in st.dirty_rows
                                                  if c in st.rows})
            if gone:
                tx.hdel(k.open_cases(p), *gone)
            if st.dirty_lastcase:
                tx.hset(k.lastcase(p), mapping={g: st.lastcase[g] for g in st.dirty_lastcase})
            if st.dropped_recent:
                tx.zrem(k.recent(p), *st.dropped_recent)
                tx.hdel(k.recent_info(p), *st.dropped_recent)

        await self._fenced(CASE, p, st, ops, force=bool(st.dirty_cases or st.evicted), extra={"rt": st.received})
        st.clear_dirty()

    async def load_gps(self, p: int) -> GpsPartition:
        """The GPS partition's projection as last saved (empty if none), rebuilt in memory."""
        st = self.new_gps(p)
        pipe = self.r.pipeline(transaction=True)
        for key in (k := self.k).meta(GPS, p), k.positions(p), k.terms(p), k.coverage(p), \
                k.lastvisit(p), k.gkpi(p):
            pipe.hgetall(key)
        meta, pos, terms, cov, last, kpi = await pipe.execute()
        self._restore_meta(st, meta)
        st.late, st.first = int(meta.get(b"late", 0)), int(meta.get(b"first", 0))
        st.positions = {t.decode(): _pos_dec.decode(v) for t, v in pos.items()}
        st.terms = {t.decode(): _term_dec.decode(v) for t, v in terms.items()}
        for g, raw in cov.items():
            arr = array("H")
            arr.frombytes(raw)
            st.cov[g.decode()] = arr
        st.lastvisit = {g.decode(): int(v) for g, v in last.items()}
        st.counters = Counter({key.decode(): int(v) for key, v in kpi.items()})
        st.rebuild()
        st.persisted_offset = st.offset
        return st

    async def flush_gps(self, st: GpsPartition) -> None:
        """Write what changed in ``st``; raises :class:`Conflict` if fenced out."""
        p, k, out, ttl = st.partition, self.k, st.out, self.track_ttl_s
        tz = st.rules.tz

        def ops(tx) -> None:
            if st.dirty:
                tx.hset(k.positions(p), mapping={t: _json.encode(st.positions[t]) for t in st.dirty})
            if st.dirty_terms:
                tx.hset(k.terms(p), mapping={t: _term_enc.encode(st.terms[t]) for t in st.dirty_terms})
            if st.dirty_grids:
                tx.hset(k.coverage(p), mapping={g: st.cov[g].tobytes() for g in st.dirty_grids})
                tx.hset(k.lastvisit(p), mapping={g: st.lastvisit[g] for g in st.dirty_grids})
            _put_counter(tx, k.gkpi(p), st.counters, st.dirty_keys)
            for (day, term), pts in out.route.items():
                tx.append(k.route(day, term), pack_route(day_start_ms(day, tz), pts))
                tx.expire(k.route(day, term), ttl)
            stays: dict[tuple[int, str], list[bytes]] = {}
            for v in out.visits:
                stays.setdefault((v.day, v.terminal), []).append(
                    _json.encode([v.household, v.start, v.end, round(v.lon, 6), round(v.lat, 6)]))
            for (day, term), rows in stays.items():
                tx.rpush(k.visits(day, term), *rows)
                tx.expire(k.visits(day, term), ttl)
            days: dict[int, dict[str, bytes]] = {}
            for (day, term), summ in out.closed.items():
                days.setdefault(day, {})[term] = _json.encode(summ)
            for day, term in out.days:
                t = st.terms[term]
                if t.day == day:
                    days.setdefault(day, {})[term] = _json.encode(summary(t))
            for day, rows in days.items():
                tx.hset(k.wday(day), mapping=rows)
                tx.expire(k.wday(day), ttl)

        await self._fenced(GPS, p, st, ops, extra={"late": st.late, "first": st.first})
        st.clear_dirty()

    async def saved_offset(self, kind: str, p: int) -> int:
        """The offset Redis says the partition's projection reflects (-1: none)."""
        stored = await self.r.hget(self.k.meta(kind, p), "offset")
        return int(stored) if stored is not None else -1

    async def reset_all(self) -> int:
        """Delete every view of the deployment (every key under the prefix): the log they
        came from is gone, and terminal-days are keyed across partitions, so no part of
        them can be kept. Returns how many keys went.

        One MULTI deletes them all, watching every partition's meta key: a fenced write
        that lands between listing the keys and deleting them (the other stream's
        processor, another worker) makes the deletion start again. Deleting in several
        steps instead let such a write survive half-deleted: a route appended to after its
        key went, then appended to again by the rebuild, held its points twice. Writes
        that keep landing make it give up for a while (an outage, retried with backoff)."""
        for _ in range(RESET_TRIES):
            metas = [key async for key in self.r.scan_iter(match=f"{self.k.prefix}*:*:meta")]
            parts = {int(key.split(b":")[-2]) for key in metas if key.split(b":")[-2].isdigit()}
            watched = {self.k.meta(kind, p) for kind in (CASE, GPS)
                       for p in range(max(parts, default=-1) + 1)}
            async with self.r.pipeline(transaction=True) as tx:
                try:
                    # Watched before the listing, so that nothing written after it escapes.
                    await tx.watch(self.k.board_meta(), *watched)
                    keys = [key async for key in self.r.scan_iter(match=self.k.pattern(), count=1000)]
                    tx.multi()
                    for i in range(0, len(keys), 1000):
                        tx.unlink(*keys[i:i + 1000])
                    return sum(await tx.execute())
                except WatchError:
                    continue  # a write landed meanwhile: list the keys again
        raise TimeoutError(f"writes kept landing while deleting the views ({RESET_TRIES} tries)")

    async def reset(self, st) -> None:
        """Delete a partition's projection (its log changed, or Redis lost part of it),
        with what it wrote per terminal-day; fenced like a write."""
        kind, p, k = ("case" if isinstance(st, CasePartition) else GPS), st.partition, self.k

        def ops(tx) -> None:
            tx.delete(*partition_keys(k, kind, p))
            if kind == GPS and st.watermark:
                today = local_day(st.watermark, st.rules.tz)
                for day in range(today - self.track_ttl_s // 86_400 - 1, today + 1):
                    for term in st.terms:
                        tx.delete(k.route(day, term), k.visits(day, term))
                    if st.terms:
                        tx.hdel(k.wday(day), *st.terms)

        await self._guarded(kind, p, st, ops)

    async def _guarded(self, kind: str, p: int, st, ops: Callable) -> None:
        """Run ``ops`` in one MULTI that lands only if Redis still holds the offset and the
        generation ``st`` last read or wrote; raises :class:`Conflict` otherwise."""
        meta_key = self.k.meta(kind, p)
        async with self.r.pipeline(transaction=True) as tx:
            try:
                await tx.watch(meta_key)
                stored, gen = await tx.hmget(meta_key, "offset", "gen")
                if int(stored if stored is not None else -1) != st.persisted_offset or \
                        (gen or b"").decode() != st.gen:
                    raise Conflict(f"{kind} partition {p}: Redis at {stored!r} ({gen!r}), "
                                   f"we expected {st.persisted_offset} ({st.gen!r})")
                tx.multi()
                ops(tx)
                await tx.execute()
            except WatchError as exc:
                raise Conflict(f"{kind} partition {p}: concurrent write") from exc

    async def _fenced(self, kind: str, p: int, st, ops: Callable, force: bool = False,
                      extra: dict | None = None) -> None:
        if st.offset == st.persisted_offset and not force:
            return  # nothing new since the last write
        meta_key = self.k.meta(kind, p)

        def write(tx) -> None:
            ops(tx)
            tx.hset(meta_key, mapping={
                "offset": st.offset, "wm": st.watermark, "fp": st.fp, "n": st.count(),
                "inc": st.incomplete, "at": now_ms(),
                "anchor": f"{st.anchor[0]}:{st.anchor[1]}" if st.anchor else "",
                "gen": st.gen,
                **(extra or {})})
            tx.sadd(self.k.parts(kind), p)

        await self._guarded(kind, p, st, write)
        st.persisted_offset = st.offset
        st.saved_count = st.count()  # what the lost-key check compares with (recovery.py)

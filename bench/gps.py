"""GPS and visits: fixes/s of the GPS processor against the raw ceiling, where the time
goes, worker memory at 40,000 terminals and Redis bytes per terminal-day.

Usage::

    /work/venv/bin/python bench/gps.py                  # throughput (a)/(b)/(b')/(c)/(b'')/(c'') + profile
    /work/venv/bin/python bench/gps.py --quick          # small smoke run of every section
    /work/venv/bin/python bench/gps.py --terminals 13800 --warmup 20 --minutes 5   # the whole fleet
    /work/venv/bin/python bench/gps.py --hotspots       # (c) again with proposed fixes patched in
    /work/venv/bin/python bench/gps.py --memory         # worker state, measured 5k/10k -> 40k
    /work/venv/bin/python bench/gps.py --redis-day      # Redis bytes per terminal and terminal-day

The log: the seeded simulator (``producers.simulator.Simulator``, the same seed as
``bench/pipeline.py``) for ``--terminals`` terminals from ``--start`` (city time, a Friday
on duty), GPS fix batches only, encoded to wire bytes. The first ``--warmup`` simulated
minutes bring the partitions to steady state (pending fixes within the lateness window,
open stays, terminal-days under way, households cache filled); the next ``--minutes`` are
measured. Generated logs are cached in ``bench/out/`` (keyed by their parameters and a
hash of the simulator's and city's source), because the simulator is the slowest part,
and so is the warm-up's Redis state (``DUMP``/``RESTORE``, keyed by the log and the
sources of streams/, gridpulse/visits/ and gridpulse/city/; ``--no-cache-warm``).

Throughput variants, all over the same measured records (Kafka partition and offset as
produced once, acks=all, to one ``gps-fixes`` topic of 4 partitions on an embedded Tansu):

(a) raw ceiling, as in ``bench/pipeline.py``: aiokafka ``getmany(max_records=10000)`` and a
    msgspec decode of every value, nothing else (partitions assigned and seeked to the
    first measured offset, so there is no group join to exclude);
(b) the worker's GPS path without Faust: aiokafka ``getmany(max_records=GRIDPULSE_BATCH_MAX)``
    feeding ``GpsProcessor.process`` (``streams.wiring.make_processors``), fenced flushes into
    a real ``redis-server`` (embedded, fresh, one per run);
(b') the same processor over the records held in memory, in batches of
    ``GRIDPULSE_BATCH_MAX`` in log order (no Kafka), with timers around decode, apply,
    advance and the flush;
(c) ``GpsPartition.apply`` (after ``decode_gps``) and ``advance`` per batch, no Redis;
(b''), (c'') as (b'), (c) with ``--live-batch`` records per call (the batch feed's size at
    the simulator's 3,000 msg/s and a 50 ms window);
then a cProfile of (b') over part of the window, and what each flush wrote. (b), (b') and (c) start from the same
warm state: the warm-up is processed once into Redis, copied per variant (``COPY``) and
loaded with ``PartitionStore.load_gps`` (the worker's restart path). The bench checks
that (b) and (b') wrote identical Redis views.

``--hotspots`` re-runs (c) with the proposed fixes of ``bench/hotfixes.py`` patched in
(round-robin, best and median of ``--repeat``, output hashed and compared) and times the
hot functions per call; ``--memory`` builds the state of N terminals in a subprocess
(RSS and deep sizes by component, extrapolated); ``--redis-day`` runs a full duty day
into Redis and sizes the keys per terminal-day. Results are in docs/performance.md.

Nothing asserts a time: machines are noisy, the script prints figures and ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import cProfile
import datetime as dt
import gc
import hashlib
import json
import math
import os
import pstats
import signal
import statistics
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import msgspec  # noqa: E402

from gridpulse import settings as settings_mod  # noqa: E402
from gridpulse.clock import parse_local  # noqa: E402
from gridpulse.schemas import decode_gps  # noqa: E402

TZ = "Asia/Shanghai"
DAY = "2026-11-27"  # a Friday, on duty (as bench/pipeline.py)
SEED = 20261127
OUT = ROOT / "bench" / "out"
PARTITIONS = 4
SRC_FOR_HASH = ("producers/simulator.py", "producers/walker.py", "producers/case_script.py",
                "gridpulse/city/model.py", "gridpulse/city/households.py", "gridpulse/city/spatial.py",
                "gridpulse/schemas.py")

Rec = tuple[int, bytes, bytes]  # (event time, key, value) of one GPS batch


def log(msg: str = "") -> None:
    print(msg, flush=True)


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# --------------------------------------------------------------------------- the log
def _src_hash() -> str:
    h = hashlib.sha1()
    for p in SRC_FOR_HASH:
        h.update((ROOT / p).read_bytes())
    h.update((ROOT / "gridpulse/city/data/ningbo/city.json.gz").read_bytes())
    return h.hexdigest()[:10]


def log_path(terminals: int, start: str, minutes: int) -> Path:
    return OUT / f"gps-log-{terminals}t-{start.replace(':', '')}-{minutes}m-{SEED}-{_src_hash()}.bin"


def ensure_log(terminals: int, start: str, minutes: int) -> Path:
    """Generate (once) the GPS batches of ``terminals`` terminals for ``minutes`` from ``start``.

    File: one length-prefixed msgpack chunk ``[[ts, key, value], ...]`` per simulated
    minute, so a reader can stream it.
    """
    path = log_path(terminals, start, minutes)
    if path.exists():
        return path
    for old in OUT.glob(path.name.rsplit("-", 1)[0] + "-*"):  # same parameters, older sources
        old.unlink()
    from gridpulse.city import load_city
    from gridpulse.schemas import encode
    from gridpulse.topics import GPS_FIXES
    from producers.simulator import Simulator

    OUT.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    city = load_city("ningbo")
    sim = Simulator(city, seed=SEED, start_ms=parse_local(f"{DAY}T{start}", TZ), tz=TZ,
                    terminals=terminals)
    enc = msgspec.msgpack.Encoder()
    tmp = path.with_suffix(".tmp")
    n = 0
    with open(tmp, "wb") as f:
        for m in range(minutes):
            chunk = [(x.ts, x.key.encode(), encode(x.value)) for x in sim.advance(sim.now + 60_000)
                     if x.topic == GPS_FIXES]
            n += len(chunk)
            raw = enc.encode(chunk)
            f.write(struct.pack("<I", len(raw)))
            f.write(raw)
            if (m + 1) % 10 == 0:
                log(f"  generating: {m + 1}/{minutes} simulated minutes, {n:,} batches, "
                    f"{time.perf_counter() - t0:.0f}s")
    tmp.rename(path)
    log(f"generated {n:,} GPS batches ({terminals:,} terminals, {minutes} min from {start}) in "
        f"{time.perf_counter() - t0:.0f}s -> {path.relative_to(ROOT)}")
    return path


def read_chunks(path: Path) -> Iterator[list[Rec]]:
    dec = msgspec.msgpack.Decoder(list[tuple[int, bytes, bytes]])
    with open(path, "rb") as f:
        while True:
            head = f.read(4)
            if not head:
                return
            (n,) = struct.unpack("<I", head)
            yield dec.decode(f.read(n))


def load_log(path: Path) -> list[Rec]:
    out: list[Rec] = []
    for c in read_chunks(path):
        out.extend(c)
    return out


def partition_of(key: bytes, parts: int = PARTITIONS) -> int:
    """Kafka's default partitioner (murmur2), as aiokafka's producer applies it."""
    from aiokafka.partitioner import DefaultPartitioner
    global _PARTITIONER
    try:
        p = _PARTITIONER
    except NameError:
        p = _PARTITIONER = DefaultPartitioner()
    all_ = list(range(parts))
    return p(key, all_, all_)


def offsets_in_memory(recs: list[Rec]) -> list:
    """Records with the partition and offset a fresh topic would give them."""
    from streams.processor import Record
    nxt = collections.Counter()
    out = []
    for ts, key, value in recs:
        p = partition_of(key)
        out.append(Record(p, nxt[p], key, value))
        nxt[p] += 1
    return out


def n_fixes(records) -> int:
    """Fixes in a list of records (counted from the wire: one ``[ts, lon, lat, acc]`` each)."""
    return sum(len(decode_gps(r.value).fixes) for r in records)


# --------------------------------------------------------------------------- processors
def make_settings(redis_url: str, prefix: str, bootstrap: str = "") -> settings_mod.Settings:
    return settings_mod.load({}, kafka_bootstrap=bootstrap, redis_url=redis_url,
                             topic_prefix=prefix.replace(":", "."), redis_prefix=prefix)


class Sinks:
    """Alert and dead-letter sinks that only count (the worker sends them to Kafka)."""

    def __init__(self) -> None:
        self.alerts = self.dead = 0

    async def alert(self, alerts) -> None:
        self.alerts += len(alerts)

    async def dead_sink(self, letters) -> None:
        self.dead += len(letters)


def gps_processor(s: settings_mod.Settings, r):
    from streams.wiring import make_processors
    sinks = Sinks()
    _, gps = make_processors(s, r, sinks.dead_sink, sinks.alert)
    gps.sinks = sinks
    return gps


async def preload(gps) -> None:
    """Load every partition's state now (the worker does it on the first batch)."""
    for p in range(PARTITIONS):
        gps.parts[p] = await gps.store.load_gps(p)


async def copy_prefix(r, src: str, dst: str) -> int:
    n = 0
    async for key in r.scan_iter(match=f"{src}*", count=1000):
        await r.copy(key, dst.encode() + key[len(src):], replace=True)
        n += 1
    return n


class FlushCount:
    """Counts what each GPS flush writes (wraps ``PartitionStore.flush_gps``)."""

    def __init__(self) -> None:
        from streams import redis_store as RS
        self.n = self.terms = self.term_bytes = self.positions = self.route_pts = self.stays = 0
        self.RS = RS
        self.orig = RS.PartitionStore.__dict__["flush_gps"]
        enc = msgspec.msgpack.Encoder()
        me = self

        async def flush_gps(store, st):
            if st.offset != st.persisted_offset:
                me.n += 1
                me.terms += len(st.dirty_terms)
                me.term_bytes += sum(len(enc.encode(st.terms[t])) for t in st.dirty_terms)
                me.positions += len(st.dirty)
                me.route_pts += sum(len(v) for v in st.out.route.values())
                me.stays += len(st.out.visits)
            return await me.orig(store, st)
        RS.PartitionStore.flush_gps = flush_gps

    def close(self) -> None:
        self.RS.PartitionStore.flush_gps = self.orig

    def line(self, records: int) -> str:
        n = max(1, self.n)
        return (f"{self.n:,} fenced flushes, {records / n:,.0f} records each; per flush "
                f"{self.terms / n:,.0f} terminal states rewritten ({self.term_bytes / n / 1024:,.0f} KiB "
                f"msgpack, {self.term_bytes / max(1, self.terms):,.0f} B each), {self.positions / n:,.0f} "
                f"positions, {self.route_pts / n:,.0f} route points, {self.stays / n:,.1f} stays; "
                f"{self.term_bytes / records:,.0f} B of terminal state written per record")


class Timer:
    """CPU (thread time) and wall timers around the processor's pieces (removed by ``close``).

    CPU is what the piece costs; wall also counts the time the process was not running
    (a busy machine) and, for the flush, the wait for Redis.
    """

    def __init__(self) -> None:
        from streams import processor as P
        from streams.gps_state import GpsPartition
        self.cpu: collections.Counter[str] = collections.Counter()
        self.wall: collections.Counter[str] = collections.Counter()
        self.undo = []
        self._wrap(P.GpsProcessor, "_decode", "decode + validate")
        self._wrap(GpsPartition, "apply", "apply: accept fixes, position, wake-ups")
        self._wrap(GpsPartition, "advance", "advance: finalize tracks, stays, visits")
        self._wrap_async(P.GpsProcessor, "_flush", "flush: encode + fenced MULTI to Redis")
        self.flushes = FlushCount()


    def _wrap(self, cls, name: str, label: str) -> None:
        orig = cls.__dict__[name]
        cpu, wall = self.cpu, self.wall

        def wrapper(*a, **kw):
            c, w = time.thread_time(), time.perf_counter()
            try:
                return orig(*a, **kw)
            finally:
                cpu[label] += time.thread_time() - c
                wall[label] += time.perf_counter() - w
        setattr(cls, name, wrapper)
        self.undo.append((cls, name, orig))

    def _wrap_async(self, cls, name: str, label: str) -> None:
        orig = cls.__dict__[name]
        cpu, wall = self.cpu, self.wall

        async def wrapper(*a, **kw):
            c, w = time.thread_time(), time.perf_counter()  # no other task runs meanwhile
            try:
                return await orig(*a, **kw)
            finally:
                cpu[label] += time.thread_time() - c
                wall[label] += time.perf_counter() - w
        setattr(cls, name, wrapper)
        self.undo.append((cls, name, orig))

    def close(self) -> None:
        self.flushes.close()
        for cls, name, orig in reversed(self.undo):
            setattr(cls, name, orig)


class Result(dict):
    """label, batches, fixes, secs, cpu."""

    def row(self) -> str:
        return (f"{self['label']:<58} {self['batches']:>9,} {self['fixes']:>10,} {self['secs']:>7.2f} "
                f"{self['fixes'] / self['secs']:>9,.0f} {self['batches'] / self['secs']:>9,.0f} "
                f"{self['fixes'] / self['cpu']:>10,.0f}")

    @property
    def rate(self) -> float:
        return self["fixes"] / self["secs"]

    @property
    def per_cpu(self) -> float:
        return self["fixes"] / self["cpu"]


HEADER = (f"{'variant':<58} {'batches':>9} {'fixes':>10} {'seconds':>7} {'fixes/s':>9} "
          f"{'batches/s':>9} {'fixes/CPU-s':>10}")


# --------------------------------------------------------------------------- variants
async def produce(bootstrap: str, topic: str, recs: list[Rec]) -> tuple[list, float]:
    """Send every record once (acks=all); returns Records with their partition and offset."""
    from aiokafka import AIOKafkaProducer
    from streams.processor import Record
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                         max_batch_size=1024 * 1024, request_timeout_ms=60_000)
    await p.start()
    t0 = time.perf_counter()
    out: list = []
    try:
        for i in range(0, len(recs), 20_000):
            part = recs[i:i + 20_000]
            futs = [await p.send(topic, value, key=key, timestamp_ms=ts) for ts, key, value in part]
            for (ts, key, value), md in zip(part, await asyncio.gather(*futs)):
                out.append(Record(md.partition, md.offset, key, value))
    finally:
        await p.stop()
    return out, time.perf_counter() - t0


def _consumer(bootstrap: str):
    from aiokafka import AIOKafkaConsumer
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                            auto_offset_reset="earliest", max_partition_fetch_bytes=4 * 1024 * 1024,
                            fetch_max_bytes=64 * 1024 * 1024)


async def _assign(c, topic: str, first: dict[int, int]) -> None:
    from aiokafka import TopicPartition
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    c.assign(tps)
    for tp in tps:
        c.seek(tp, first.get(tp.partition, 0))


async def raw_ceiling(bootstrap: str, topic: str, first: dict[int, int], n: int, fixes: int) -> Result:
    """(a): getmany + msgspec decode, nothing else (bench/pipeline.py's raw ceiling)."""
    c = _consumer(bootstrap)
    await c.start()
    await _assign(c, topic, first)
    got = 0
    t0, c0 = time.perf_counter(), time.process_time()  # assigned, no group join: from the first fetch
    try:
        while got < n:
            batches = await c.getmany(max_records=10_000, timeout_ms=1000)
            for recs in batches.values():
                for r in recs:
                    decode_gps(r.value)
                got += len(recs)
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        await c.stop()
    return Result(label="(a) raw ceiling: aiokafka getmany + msgspec decode", batches=got,
                  fixes=fixes, secs=secs, cpu=cpu)


async def kafka_processor(bootstrap: str, topic: str, first: dict[int, int], n: int, fixes: int,
                          gps, batch_max: int) -> Result:
    """(b): getmany(max_records=batch_max) -> GpsProcessor.process -> fenced Redis writes."""
    from streams.processor import Record
    c = _consumer(bootstrap)
    await c.start()
    await _assign(c, topic, first)
    got, calls = 0, 0
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        while got < n:
            batches = await c.getmany(max_records=batch_max, timeout_ms=200)
            if not batches:
                continue
            recs = [Record(m.partition, m.offset, m.key, m.value) for ms in batches.values() for m in ms]
            await gps.process(recs)
            got += len(recs)
            calls += 1
        secs, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        await c.stop()
    return Result(label="(b) getmany -> GpsProcessor.process -> Redis", batches=got, fixes=fixes,
                  secs=secs, cpu=cpu, calls=calls)


async def memory_processor(records: list, fixes: int, gps, batch: int, label: str) -> Result:
    """(b'): GpsProcessor.process over in-memory records, ``batch`` at a time."""
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(0, len(records), batch):
        await gps.process(records[i:i + batch])
    return Result(label=label, batches=len(records), fixes=fixes, secs=time.perf_counter() - t0,
                  cpu=time.process_time() - c0, calls=math.ceil(len(records) / batch))


def pure(parts: dict, records: list, fixes: int, batch: int, label: str,
         digest: bool = False) -> Result:
    """(c): decode + GpsPartition.apply per record, advance per partition per batch, no I/O.

    With ``digest`` also hashes what the batches produced (routes, visits, alerts, final
    counters), outside the timed part, so patched variants can be checked for equality.
    """
    secs = cpu = 0.0
    outs = Digest() if digest else None
    for i in range(0, len(records), batch):
        by_p: dict[int, list] = collections.defaultdict(list)
        for r in records[i:i + batch]:
            by_p[r.partition].append(r)
        t0, c0 = time.perf_counter(), time.thread_time()
        for p, recs in by_p.items():
            st = parts[p]
            for r in recs:
                st.apply(decode_gps(r.value), r.offset)
            st.advance()
            if outs is None:
                st.clear_dirty()
        secs += time.perf_counter() - t0
        cpu += time.thread_time() - c0
        if outs is not None:
            for p in by_p:
                outs.take(parts[p])
                parts[p].clear_dirty()
    res = Result(label=label, batches=len(records), fixes=fixes, secs=secs, cpu=cpu,
                 calls=math.ceil(len(records) / batch))
    if outs is not None:
        res["digest"] = outs.final(parts)
        res["outs"] = outs
    return res


class Digest:
    """What a run produced, order-insensitive across terminals (see :func:`pure`)."""

    def __init__(self) -> None:
        self.route: dict = collections.defaultdict(list)
        self.visits: dict = collections.defaultdict(list)
        self.alerts: set = set()
        self.closed: dict = {}

    def take(self, st) -> None:
        for k, pts in st.out.route.items():
            self.route[k].extend(pts)
        for v in st.out.visits:
            self.visits[(v.day, v.terminal)].append(tuple(v))
        self.alerts.update(a.id for a in st.alerts_out)
        self.closed.update(st.out.closed)

    def final(self, parts: dict) -> str:
        enc = msgspec.msgpack.Encoder()
        h = hashlib.sha1()
        for name, d in (("route", self.route), ("visits", self.visits), ("closed", self.closed)):
            h.update(name.encode())
            for k in sorted(d):
                h.update(repr((k, d[k])).encode())
        h.update(repr(sorted(self.alerts)).encode())
        for p in sorted(parts):
            st = parts[p]
            h.update(repr(sorted((k, v) for k, v in st.counters.items() if v)).encode())
            for term in sorted(st.terms):
                h.update(enc.encode(st.terms[term]))
            h.update(repr(sorted(st.positions.items())).encode())
            h.update(repr(sorted((g, a.tobytes()) for g, a in st.cov.items())).encode())
        return h.hexdigest()[:16]


# --------------------------------------------------------------------------- profile
def print_profile(pr: cProfile.Profile, top: int = 18) -> None:
    st = pstats.Stats(pr)
    total = sum(v[2] for v in st.stats.values())  # tottime over all functions

    def short(fn) -> str:
        path, line, name = fn
        for root in (str(ROOT) + "/", "/work/venv/lib/python3.11/site-packages/"):
            path = path.replace(root, "")
        return f"{path}:{line}({name})" if line else name

    rows = sorted(st.stats.items(), key=lambda kv: -kv[1][2])[:top]
    log(f"  {'tottime':>7} {'share':>6} {'cumtime':>7} {'calls':>10}  function   (profiled {total:.1f}s)")
    for fn, (cc, nc, tt, ct, _) in rows:
        log(f"  {tt:>7.2f} {tt / total:>6.1%} {ct:>7.2f} {nc:>10,}  {short(fn)}")
    log("  by cumulative time (own code):")
    rows = sorted(((fn, v) for fn, v in st.stats.items() if str(ROOT) in fn[0]), key=lambda kv: -kv[1][3])
    for fn, (cc, nc, tt, ct, _) in rows[:12]:
        log(f"  {ct:>7.2f} {ct / total:>6.1%} {nc:>10,}  {short(fn)}")


# --------------------------------------------------------------------------- throughput
def throughput(args) -> None:
    warm_path = ensure_log(args.terminals, args.start, args.warmup + args.minutes)
    recs = load_log(warm_path)
    cut = parse_local(f"{DAY}T{args.start}", TZ) + args.warmup * 60_000
    n_warm = sum(1 for r in recs if r[0] <= cut)
    log(f"log: {len(recs):,} GPS batches, {args.terminals:,} terminals, {args.start} + "
        f"{args.warmup} min warm-up ({n_warm:,} batches) + {args.minutes} min measured "
        f"({len(recs) - n_warm:,} batches); {sum(len(r[2]) for r in recs) / len(recs):.0f} B/value avg")
    asyncio.run(_throughput(args, recs, n_warm))


async def _throughput(args, recs: list[Rec], n_warm: int) -> None:
    import redis.asyncio as aioredis
    from gridpulse.runtime.broker import EmbeddedKafka, create_topics_async
    from gridpulse.runtime.redis_server import EmbeddedRedis
    from gridpulse.topics import GPS_FIXES

    batch_max = args.batch or settings_mod.load().batch_max
    with EmbeddedKafka() as kafka, EmbeddedRedis() as red:
        r = aioredis.Redis.from_url(red.url)
        red_pid = getattr(getattr(red, "_proc", None), "pid", None)
        run = uuid.uuid4().hex[:6]
        s_w = make_settings(red.url, f"gw{run}:", kafka.bootstrap)
        topic = s_w.topic(GPS_FIXES)
        await create_topics_async(kafka.bootstrap, [topic], PARTITIONS)
        records, secs = await produce(kafka.bootstrap, topic, recs)
        log(f"produced {len(records):,} once to {PARTITIONS} partitions, acks=all: {secs:.1f}s "
            f"(embedded Tansu {kafka.bootstrap}, redis-server {red.url})")
        for rec, (_, key, _) in zip(records, recs):
            assert rec.partition == partition_of(key), "producer and partition_of disagree"
        warm, meas = records[:n_warm], records[n_warm:]
        first = {}
        for rec in meas:
            first.setdefault(rec.partition, rec.offset)
        fixes = n_fixes(meas)
        del recs

        # warm-up, once, into Redis under prefix W (or restored from an earlier run's dump)
        cache = warm_cache_path(args, batch_max, (await r.info("server"))["redis_version"])
        t0, c0 = time.perf_counter(), time.process_time()
        if args.cache_warm and cache.exists():
            n = await restore_prefix(r, cache, s_w.redis_prefix)
            log(f"warm-up: restored {n:,} Redis keys of an earlier run's warm-up of the same log "
                f"and code from {cache.relative_to(ROOT)} ({time.perf_counter() - t0:.1f}s)")
        else:
            gps_w = gps_processor(s_w, r)
            for i in range(0, len(warm), batch_max):
                await gps_w.process(warm[i:i + batch_max])
            log(f"warm-up: {len(warm):,} batches through GpsProcessor in {time.perf_counter() - t0:.1f}s "
                f"({len(warm) / (time.process_time() - c0):,.0f} batches per CPU-s; a cold start: "
                f"nothing is final in the first 5 min)")
            del gps_w
            if args.cache_warm:
                await dump_prefix(r, s_w.redis_prefix, cache)
        parts = {p: await gps_processor(s_w, r).store.load_gps(p) for p in range(PARTITIONS)}
        terms = sum(len(st.terms) for st in parts.values())
        pending = sum(len(t.pending) for st in parts.values() for t in st.terms.values())
        log(f"  state after warm-up: {terms:,} terminals, {pending / max(1, terms):.1f} pending fixes "
            f"per terminal, {sum(len(st.cov) for st in parts.values()):,} grids with a visit; "
            f"{fixes / len(meas):.2f} fixes per batch in the measured window")
        grids = {t.grid for st in parts.values() for t in st.terms.values()}
        del parts
        _prewarm_households(grids)
        redis_state_per_terminal(await _redis_sizes(r, s_w.redis_prefix), terms, "after the warm-up")
        gc.collect()

        results = []
        log("(a) raw ceiling ...")
        results.append(await raw_ceiling(kafka.bootstrap, topic, first, len(meas), fixes))

        def red_cpu() -> float:
            if red_pid is None:
                return float("nan")
            f = Path(f"/proc/{red_pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")

        log(f"(b) getmany(max_records={batch_max}) -> GpsProcessor.process -> Redis ...")
        s_b = make_settings(red.url, f"gb{run}:", kafka.bootstrap)
        await copy_prefix(r, s_w.redis_prefix, s_b.redis_prefix)
        gps_b = gps_processor(s_b, r)
        await preload(gps_b)
        gc.collect()
        fl_b = FlushCount()
        rc = red_cpu()
        try:
            res_b = await kafka_processor(kafka.bootstrap, topic, first, len(meas), fixes, gps_b, batch_max)
        finally:
            fl_b.close()
        res_b["redis_cpu"] = red_cpu() - rc
        results.append(res_b)
        del gps_b

        log(f"(b') GpsProcessor.process over the records in memory, {batch_max} at a time, timers on ...")
        s_m = make_settings(red.url, f"gm{run}:")
        await copy_prefix(r, s_w.redis_prefix, s_m.redis_prefix)
        gps_m = gps_processor(s_m, r)
        await preload(gps_m)
        gc.collect()
        timer = Timer()
        rc = red_cpu()
        try:
            res_m = await memory_processor(meas, fixes, gps_m, batch_max,
                                           "(b') GpsProcessor.process, records in memory")
        finally:
            timer.close()
        res_m["redis_cpu"] = red_cpu() - rc
        results.append(res_m)
        alerts = gps_m.sinks.alerts
        del gps_m
        same, diff = await _compare(red.url, s_b.redis_prefix, s_m.redis_prefix)
        log(f"  (b) and (b') wrote the same Redis views: {same} keys identical, {len(diff)} different"
            + (f": {', '.join(diff[:5])}" if diff else ""))

        log("(c) decode + GpsPartition.apply/advance, no Redis ...")
        parts = {p: await gps_processor(s_w, r).store.load_gps(p) for p in range(PARTITIONS)}
        gc.collect()
        res_c = pure(parts, meas, fixes, batch_max, f"(c) decode + apply + advance, {batch_max}/batch")
        results.append(res_c)
        live = args.live_batch
        fl_l = None
        if live:
            sub = meas[:int(len(meas) * args.live_share)]
            sub_fixes = n_fixes(sub)
            log(f"(b'') and (c'') {live} records per batch (live-like) over the first "
                f"{args.live_share:.0%} of the window ...")
            s_l = make_settings(red.url, f"gl{run}:")
            await copy_prefix(r, s_w.redis_prefix, s_l.redis_prefix)
            gps_l = gps_processor(s_l, r)
            await preload(gps_l)
            gc.collect()
            fl_l = FlushCount()
            try:
                res_l = await memory_processor(sub, sub_fixes, gps_l, live,
                                               f"(b'') GpsProcessor.process, {live}/batch (live-like)")
            finally:
                fl_l.close()
            results.append(res_l)
            del gps_l
            parts = {p: await gps_processor(s_w, r).store.load_gps(p) for p in range(PARTITIONS)}
            gc.collect()
            results.append(pure(parts, sub, sub_fixes, live, f"(c'') decode + apply + advance, {live}/batch"))
        del parts

        log(f"\n{HEADER}")
        for res in results:
            log(res.row())
        a = results[0]
        log("\nratios against (a), fixes/s [per CPU second of this process]:")
        for res in results[1:]:
            tag, _, rest = res["label"].partition(" ")
            log(f"  {tag:<6} {res.rate / a.rate:7.1%}   [{res.per_cpu / a.per_cpu:7.1%}]   {rest}")
        log(f"  redis-server CPU on top (another process): (b) {res_b['redis_cpu']:.1f}s, "
            f"(b') {res_m['redis_cpu']:.1f}s; per CPU second of both processes (b) "
            f"{res_b['fixes'] / (res_b['cpu'] + res_b['redis_cpu']):,.0f} fixes")
        log(f"  (b) took {res_b['calls']:,} process() calls ({len(meas) / res_b['calls']:,.0f} records each); "
            f"{alerts} alerts in the window (counted, not sent to Kafka)")
        log(f"  (b)  {fl_b.line(len(meas))}")
        log(f"  (b') {timer.flushes.line(len(meas))}")
        if fl_l is not None:
            log(f"  (b'') {fl_l.line(len(sub))}")
        log("\n(b') split (timers, no profiler): CPU = thread time; wall includes waiting for Redis "
            "and for a CPU")
        cpu_all = res_m["cpu"]
        log(f"  {'piece':<46} {'CPU s':>7} {'us/batch':>9} {'of CPU':>7} {'wall s':>7}")
        for k, v in sorted(timer.cpu.items(), key=lambda kv: -kv[1]):
            log(f"  {k:<46} {v:>7.2f} {v / len(meas) * 1e6:>9.1f} {v / cpu_all:>7.1%} {timer.wall[k]:>7.2f}")
        rest = cpu_all - sum(timer.cpu.values())
        log(f"  {'rest (grouping, sorting, event loop, GC)':<46} {rest:>7.2f} {rest / len(meas) * 1e6:>9.1f} "
            f"{rest / cpu_all:>7.1%}")
        log(f"  {'whole run':<46} {cpu_all:>7.2f} {cpu_all / len(meas) * 1e6:>9.1f} {1:>7.0%} "
            f"{res_m['secs']:>7.2f}")

        if args.profile:
            share = args.profile_share
            sub = meas[:int(len(meas) * share)]
            log(f"\ncProfile of (b') over the first {share:.0%} of the window ({len(sub):,} batches; "
                f"cProfile roughly doubles the time) ...")
            s_p = make_settings(red.url, f"gp{run}:")
            await copy_prefix(r, s_w.redis_prefix, s_p.redis_prefix)
            gps_p = gps_processor(s_p, r)
            await preload(gps_p)
            pr = cProfile.Profile()
            pr.enable()
            await memory_processor(sub, 0, gps_p, batch_max, "")
            pr.disable()
            print_profile(pr)
            log(f"  households: {_households_cache_info()}")
        sizes = await _redis_sizes(r, s_b.redis_prefix)
        redis_state_per_terminal(sizes, terms, "after the measured window, (b)'s keys")
        await r.aclose()


def warm_cache_path(args, batch: int, redis_version: str) -> Path:
    h = hashlib.sha1()
    for d in ("streams", "gridpulse/visits", "gridpulse/city"):
        for f in sorted((ROOT / d).glob("*.py")):
            h.update(f.read_bytes())
    h.update(f"{batch} {redis_version} {sorted(os.environ.items())!r}".encode())
    name = log_path(args.terminals, args.start, args.warmup + args.minutes).stem
    return OUT / f"{name}-warm{args.warmup}-{h.hexdigest()[:10]}.rdb-dump"


async def dump_prefix(r, prefix: str, path: Path) -> None:
    rows = []
    async for key in r.scan_iter(match=f"{prefix}*", count=1000):
        rows.append((key[len(prefix):], await r.dump(key)))
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(msgspec.msgpack.encode(rows))
    tmp.rename(path)


async def restore_prefix(r, path: Path, prefix: str) -> int:
    rows = msgspec.msgpack.decode(path.read_bytes())
    for key, data in rows:
        await r.restore(prefix.encode() + key, 0, data, replace=True)
    return len(rows)


def hh_source(city):
    """The households lookup the worker uses (``streams.wiring.make_processors``): the
    compact, keep-all ``grid_households`` where the city model has it, else the LRU."""
    return getattr(city, "grid_households", None) or city.households


def households_store(city) -> dict:
    """What the city model holds for the worker's household lookups: kind, grids, bytes."""
    compact = city.__dict__.get("_compact") if hasattr(city, "grid_households") else None
    if compact is not None:
        n = len(compact)
        return {"kind": "compact grid_households (kept for every grid)", "grids": n,
                "bytes": deep_size(compact, set()), "max": None}
    info = city._households_cached.cache_info() if hasattr(city, "_households_cached") else None
    if info is None:
        return {"kind": "none", "grids": 0, "bytes": 0, "max": None}
    sample = [city.households(g.code) for g in city.grids[:50]]
    per = deep_size(sample, set()) / len(sample)
    return {"kind": f"households LRU ({info.maxsize:,} grids)", "grids": info.currsize,
            "bytes": per * info.currsize, "max": info.maxsize, "per_grid": per, "info": str(info)}


def _prewarm_households(grids: set[str]) -> None:
    """Build the households of the terminals' grids now, as a worker that has run for a
    while has them (the LRU keeps the last 4,096 when there are more), so no variant pays
    for first builds the others then reuse."""
    from gridpulse.city import load_city
    city = load_city("ningbo")
    t0 = time.perf_counter()
    get = hh_source(city)
    for g in sorted(grids):
        get(g)
    log(f"  households of {len(grids):,} grids built in {time.perf_counter() - t0:.1f}s "
        f"({_households_cache_info()})")


def _households_cache_info() -> str:
    from gridpulse.city import load_city
    st = households_store(load_city("ningbo"))
    return (f"{st['kind']}: {st['grids']:,} grids, {st['bytes'] / 2**20:.1f} MiB"
            + (f", {st['info']}" if "info" in st else ""))


async def _compare(url: str, pa: str, pb: str):
    import pipeline  # bench/pipeline.py
    return await asyncio.to_thread(pipeline.compare_views, url, pa, pb)


# --------------------------------------------------------------------------- Redis sizes
async def _redis_sizes(r, prefix: str) -> dict[str, list[int]]:
    """Key group -> [keys, MEMORY USAGE bytes (SAMPLES 0), payload bytes, elements]."""
    out: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0, 0])
    async for key in r.scan_iter(match=f"{prefix}*", count=1000):
        k = key.decode()[len(prefix):]
        parts = k.split(":")
        group = parts[0] if parts[0] in ("route", "visits", "wday", "parts") else ":".join(
            [parts[0], "*"] + parts[2:])
        mem = await r.memory_usage(key, samples=0) or 0
        t = (await r.type(key)).decode()
        if t == "string":
            payload, elems = await r.strlen(key), 1
        elif t == "list":
            vals = await r.lrange(key, 0, -1)
            payload, elems = sum(len(v) for v in vals), len(vals)
        elif t == "hash":
            h = await r.hgetall(key)
            payload, elems = sum(len(a) + len(b) for a, b in h.items()), len(h)
        else:
            payload, elems = 0, await r.scard(key) if t == "set" else 0
        row = out[group]
        row[0] += 1
        row[1] += mem
        row[2] += payload
        row[3] += elems
    return dict(out)


def redis_state_per_terminal(sizes: dict[str, list[int]], terms: int, when: str) -> None:
    log(f"Redis, {when} ({terms:,} terminals), MEMORY USAGE (SAMPLES 0) by key group:")
    log(f"  {'keys':<16} {'n':>6} {'bytes':>12} {'payload':>12} {'elements':>9} {'bytes/terminal':>15}")
    for g, (n, mem, payload, elems) in sorted(sizes.items(), key=lambda kv: -kv[1][1]):
        log(f"  {g:<16} {n:>6,} {mem:>12,} {payload:>12,} {elems:>9,} {mem / max(1, terms):>15,.0f}")


# --------------------------------------------------------------------------- hot spots
def hotspots(args) -> None:
    """(c) again with each proposed fix monkeypatched in; outputs must hash the same."""
    import hotfixes  # bench/hotfixes.py
    from gridpulse.city import load_city
    from streams.wiring import lineages, visit_rules

    path = ensure_log(args.terminals, args.start, args.warmup + args.minutes)
    recs = load_log(path)
    cut = parse_local(f"{DAY}T{args.start}", TZ) + args.warmup * 60_000
    n_warm = sum(1 for r in recs if r[0] <= cut)
    records = offsets_in_memory(recs)
    del recs
    warm, meas = records[:n_warm], records[n_warm:]
    fixes = n_fixes(meas)
    city = load_city("ningbo")
    s = settings_mod.load({})
    rules, lin = visit_rules(s), lineages(city)
    batch = args.batch or s.batch_max
    enc = msgspec.msgpack.Encoder()

    from streams.gps_state import GpsPartition
    t0 = time.perf_counter()
    parts = {p: GpsPartition(p, lin.__getitem__, rules, hh_source(city), city.contains)
             for p in range(PARTITIONS)}
    pure(parts, warm, 0, batch, "warm-up")
    # The warm state, saved the way the store saves it, restored per variant like load_gps.
    snap = {p: _snapshot(st, enc) for p, st in parts.items()}
    grids = {t.grid for st in parts.values() for t in st.terms.values()}
    del parts
    _prewarm_households(grids)
    log(f"hot spots: {args.terminals:,} terminals, warm-up {n_warm:,} batches in "
        f"{time.perf_counter() - t0:.0f}s; measured {len(meas):,} batches, {fixes:,} fixes")

    def fresh(fix_names: tuple[str, ...]):
        hotfixes.apply(fix_names)
        from streams.gps_state import GpsPartition as GP
        out = {}
        for p, sn in snap.items():
            st = GP(p, lin.__getitem__, rules, hh_source(city), city.contains)
            _restore(st, sn)
            out[p] = st
        gc.unfreeze()
        gc.collect()
        gc.freeze()  # the snapshot, records and city are long-lived: keep full GCs out of A/B noise
        return out

    if args.fixes:
        variants = [()] + [tuple(v.split("+")) for v in args.fixes.split(",")]
    else:
        variants = ([()] + [(n,) for n in hotfixes.FIXES + hotfixes.EXTRA] + [tuple(hotfixes.FIXES)]
                    + [tuple(hotfixes.FIXES + hotfixes.EXTRA)])
    variants = list(dict.fromkeys(variants))
    sizes = [batch] + ([args.live_batch] if args.live_batch else [])
    sub = meas[:int(len(meas) * args.hot_share)]
    sub_fixes = n_fixes(sub)
    runs = [(size, names) for size in sizes for names in variants
            if size == batch or names in ((), ("advance_heap",), tuple(hotfixes.FIXES))]
    log(f"{len(runs)} variants x {args.repeat} rounds, round-robin (so slow spells of the machine hit "
        f"all alike), each over the first {args.hot_share:.0%} of the window ({len(sub):,} batches, "
        f"{sub_fixes:,} fixes); best and median fixes per CPU second")
    got: dict = collections.defaultdict(list)
    digests: dict = {}
    try:
        for rnd in range(args.repeat):
            for size, names in runs:
                parts = fresh(names)
                res = pure(parts, sub, sub_fixes, size, "", digest=(rnd == 0))
                got[(size, names)].append(res.per_cpu)
                if rnd == 0:
                    digests[(size, names)] = res["digest"]
                    if (size, names) == (batch, ()):
                        base_outs = res["outs"]
                del parts, res
            log(f"  round {rnd + 1}/{args.repeat} done")
    finally:
        hotfixes.apply(())
    log(f"\n{'(c) decode + apply + advance, variant':<78} {'best':>8} {'median':>8} {'gain':>7} "
        f"{'median gain':>11}  same output")
    for size, names in runs:
        v = got[(size, names)]
        b = got[(size, ())]
        best, med = max(v), statistics.median(v)
        same = digests[(size, names)] == digests[(size, ())]
        label = f"{size}/batch, " + ("+".join(names) if names else "as is")
        log(f"{label:<78} {best:>8,.0f} {med:>8,.0f} {best / max(b) - 1:>+7.1%} "
            f"{med / statistics.median(b) - 1:>+11.1%}  {'yes' if same else 'NO'}")
    gc.unfreeze()
    log(f"households after all runs: {_households_cache_info()}")
    micro(base_outs, snap, sub, sub_fixes, batch, fresh, city)


def micro(outs, snap, sub, sub_fixes: int, batch: int, fresh, city) -> None:
    """Per-call costs of the hot functions (best of 5, tight loops on this run's own data),
    and how often the baseline calls them per fix: robust where whole-run A/B is noisy."""
    import timeit

    import hotfixes
    from gridpulse.visits import day as vday
    from gridpulse.visits import stays as vstays
    from gridpulse.visits import track as vtrack
    from streams import gps_state

    # 1. calls per fix in the baseline (counting wrappers, one more run)
    counts: collections.Counter[str] = collections.Counter()

    def counting(mod, name, key):
        orig = getattr(mod, name)

        def w(*a, **kw):
            counts[key] += 1
            return orig(*a, **kw)
        setattr(mod, name, w)
        return mod, name, orig

    parts = fresh(())  # restores the unpatched functions: count after it
    undo = [counting(vtrack, "distance_m", "distance_m"), counting(vstays, "distance_m", "distance_m"),
            counting(vday, "distance_m", "distance_m"), counting(vday, "nearest", "nearest"),
            counting(gps_state.GpsPartition, "_recount", "_recount"),
            counting(vday.Tracker, "finalize", "finalize"), counting(vday.Tracker, "expire", "expire")]
    info0 = city._households_cached.cache_info() if hasattr(city, "_households_cached") else None
    for p, st in parts.items():
        st.tracker.households = counting_hh(st.tracker.households, counts)
    res = pure(parts, sub, sub_fixes, batch, "")
    info1 = city._households_cached.cache_info() if info0 else None
    for mod, name, orig in reversed(undo):
        setattr(mod, name, orig)
    terms = sum(len(st.terms) for st in parts.values())
    del parts
    advances = res["calls"] * PARTITIONS
    log(f"\ncalls in the baseline run ({sub_fixes:,} fixes, {res['calls']:,} batches of {batch}, "
        f"~{advances:,} advance() calls over {terms:,} terminals):")
    for k in ("distance_m", "nearest", "households", "_recount", "finalize", "expire"):
        log(f"  {k:<12} {counts[k]:>10,}  {counts[k] / sub_fixes:>7.3f} per fix")
    if info0 and not hasattr(city, "grid_households"):
        log(f"  households LRU: {info1.misses - info0.misses:,} misses (builds) in the run, "
            f"{info1.hits - info0.hits:,} hits")
    us_fix = 1e6 / res.per_cpu
    log(f"  baseline: {us_fix:.1f} us of CPU per fix (this run)")

    # 2. per-call costs
    def best(fn, number: int) -> float:
        return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6  # us per call

    pts = [pt for route in list(outs.route.values())[:3000] for pt in route]
    pairs = list(zip(pts, pts[1:]))[:20000]
    d0 = vtrack.distance_m
    t_d0 = best(lambda: [d0(a[1], a[2], b[1], b[2]) for a, b in pairs], 3) / len(pairs)
    t_d1 = best(lambda: [hotfixes.distance_inline(a[1], a[2], b[1], b[2]) for a, b in pairs], 3) / len(pairs)
    same = all(d0(a[1], a[2], b[1], b[2]) == hotfixes.distance_inline(a[1], a[2], b[1], b[2]) for a, b in pairs)
    log("\nper call (best of 5 loops on this run's data):")
    log(f"  distance_m          {t_d0:6.3f} us -> distance_inline {t_d1:6.3f} us  (bit-identical on "
        f"{len(pairs):,} pairs: {same}); x {counts['distance_m'] / sub_fixes:.2f} per fix = "
        f"{(t_d0 - t_d1) * counts['distance_m'] / sub_fixes / us_fix:+.1%} of the CPU per fix")
    visits = [v for vs in outs.visits.values() for v in vs][:1500]
    grids = sorted({v[2] for v in visits})
    hh = {g: hh_source(city)(g) for g in grids}
    Stay = vstays.Stay
    stays = [(Stay(v[5], v[6], v[7], v[8], 1), hh[v[2]]) for v in visits]
    n0 = vstays.nearest
    t_n0 = best(lambda: [n0(st, h) for st, h in stays], 1) / len(stays)
    t_n1 = best(lambda: [hotfixes.nearest_prefilter(st, h) for st, h in stays], 1) / len(stays)
    same = all(n0(st, h) == hotfixes.nearest_prefilter(st, h) for st, h in stays)
    if hotfixes.BUILT_IN:
        log(f"  nearest (box test built in, a9c2fa7) {t_n0:6.1f} us; x {counts['nearest'] / sub_fixes:.4f} "
            f"per fix = {t_n0 * counts['nearest'] / sub_fixes / us_fix:.1%} of the CPU per fix")
    else:
        log(f"  nearest (250 hh)    {t_n0:6.1f} us -> nearest_prefilter {t_n1:6.1f} us  (same answers on "
            f"{len(stays):,} stays: {same}); x {counts['nearest'] / sub_fixes:.4f} per fix = "
            f"{(t_n0 - t_n1) * counts['nearest'] / sub_fixes / us_fix:+.1%}")
    build = getattr(getattr(city, "_households_cached", None), "__wrapped__", None)
    if hasattr(city, "grid_households"):
        from gridpulse.city import households as H
        t_b = best(lambda: [H.grid_households(city._shape(g), city.grid(g).households, city.seed, g)
                            for g in grids[:200]], 1) / min(200, len(grids))
        log(f"  grid_households     {t_b:6.1f} us per grid, built once per grid and process (kept)")
    elif build is not None:
        t_b = best(lambda: [build(g) for g in grids[:200]], 1) / min(200, len(grids))
        per_fix = counts["households"] / sub_fixes
        log(f"  households build    {t_b:6.1f} us per grid (an LRU miss); x {per_fix:.4f} lookups per fix: "
            f"{t_b * per_fix / us_fix:.1%} of the CPU per fix if every lookup missed")


def counting_hh(fn, counts):
    def w(g):
        counts["households"] += 1
        return fn(g)
    return w


def _snapshot(st, enc) -> dict:
    return {"offset": st.offset, "wm": st.watermark, "late": st.late, "first": st.first,
            "positions": dict(st.positions), "terms": {k: enc.encode(t) for k, t in st.terms.items()},
            "cov": {g: a.tobytes() for g, a in st.cov.items()}, "lastvisit": dict(st.lastvisit),
            "counters": dict(st.counters)}


def _restore(st, sn: dict) -> None:
    """As ``PartitionStore.load_gps`` does from Redis."""
    from array import array

    from gridpulse.visits.day import Terminal
    dec = msgspec.msgpack.Decoder(Terminal)
    st.offset, st.watermark, st.late, st.first = sn["offset"], sn["wm"], sn["late"], sn["first"]
    st.positions = dict(sn["positions"])
    st.terms = {k: dec.decode(v) for k, v in sn["terms"].items()}
    for g, raw in sn["cov"].items():
        a = array("H")
        a.frombytes(raw)
        st.cov[g] = a
    st.lastvisit = dict(sn["lastvisit"])
    st.counters = collections.Counter(sn["counters"])
    st.rebuild()
    st.persisted_offset = st.offset


# --------------------------------------------------------------------------- memory
def deep_size(root, seen: set[int]) -> int:
    """Bytes of ``root`` and everything it references that is not in ``seen`` yet."""
    size = 0
    stack = [root]
    getsizeof = sys.getsizeof
    while stack:
        o = stack.pop()
        i = id(o)
        if i in seen:
            continue
        seen.add(i)
        size += getsizeof(o)
        if isinstance(o, dict):
            stack.extend(o.keys())
            stack.extend(o.values())
        elif isinstance(o, (list, tuple, set, frozenset)):
            stack.extend(o)
        elif isinstance(o, msgspec.Struct):
            stack.extend(getattr(o, f) for f in o.__struct_fields__)
        elif hasattr(type(o), "__slots__") and not isinstance(o, (str, bytes, int, float)):
            for cls in type(o).__mro__:
                for name in getattr(cls, "__slots__", ()):
                    if hasattr(o, name):
                        stack.append(getattr(o, name))
    return size


def memory_child(terminals: int, path: Path, batch: int) -> dict:
    """Build the worker's GPS state for ``terminals`` from the log at ``path``; measure it."""
    from gridpulse.city import load_city
    from streams.gps_state import GpsPartition
    from streams.wiring import lineages, visit_rules

    city = load_city("ningbo")
    s = settings_mod.load({})
    rules, lin = visit_rules(s), lineages(city)
    parts = {p: GpsPartition(p, lin.__getitem__, rules, hh_source(city), city.contains)
             for p in range(PARTITIONS)}
    city.contains(city.grids[0].code, 0.0, 0.0)
    gc.collect()
    rss0 = rss_kb()
    nxt = collections.Counter()
    t0 = time.perf_counter()
    nb = 0
    from streams.processor import Record
    pend: list = []
    for chunk in read_chunks(path):
        for ts, key, value in chunk:
            p = partition_of(key)
            pend.append(Record(p, nxt[p], key, value))
            nxt[p] += 1
        while len(pend) >= batch:
            pure(parts, pend[:batch], 0, batch, "")
            nb += batch
            del pend[:batch]
    pure(parts, pend, 0, batch, "")
    nb += len(pend)
    del pend, chunk
    secs = time.perf_counter() - t0
    gc.collect()
    rss1 = rss_kb()
    seen: set[int] = set()
    for lst in lin.values():  # the lineage strings belong to the city model
        seen.update(id(x) for x in lst)
        seen.add(id(lst))
    comp: dict[str, int] = collections.Counter()
    pending = buf = 0
    n_pend = n_buf = 0
    for st in parts.values():
        for t in st.terms.values():
            pending += deep_size(t.pending, seen)
            buf += deep_size(t.buf, seen) + deep_size(t.lock, seen)
            n_pend += len(t.pending)
            n_buf += len(t.buf)
        comp["terms: Terminal structs without pending/buf"] += deep_size(st.terms, seen)
        comp["positions (latest fix per terminal)"] += deep_size(st.positions, seen)
        comp["t_contrib (counter keys per terminal)"] += deep_size(st.t_contrib, seen)
        comp["wake-up heap + _due"] += deep_size(st._heap, seen) + deep_size(st._due, seen)
        comp["cov + lastvisit + g_contrib (per grid)"] += (deep_size(st.cov, seen) + deep_size(st.lastvisit, seen)
                                                           + deep_size(st.g_contrib, seen))
        comp["counters"] += deep_size(st.counters, seen)
    comp["terms: pending fixes (within the lateness window)"] = pending
    comp["terms: stay-finder buffers (buf, lock)"] = buf
    grids = sum(len(st.cov) for st in parts.values())
    terms = sum(len(st.terms) for st in parts.values())
    hh = households_store(city)
    return {"terminals": terms, "batches": nb, "secs": secs, "rss0_kb": rss0, "rss1_kb": rss1,
            "components": dict(comp), "grids_with_visit": grids, "pending_per_term": n_pend / terms,
            "buf_per_term": n_buf / terms, "hh": {k: v for k, v in hh.items() if k != "info"},
            "grids_total": len(city.grids)}


def memory(args) -> None:
    sizes = [int(x) for x in args.memory_terminals.split(",")]
    start, minutes = args.memory_start, args.memory_minutes
    batch = args.batch or settings_mod.load().batch_max
    log(f"memory: GPS state of one worker process owning all {PARTITIONS} partitions, built from "
        f"{minutes} simulated minutes from {start} (every terminal mid-track at the end)")
    res = []
    for n in sizes:
        path = ensure_log(n, start, minutes)
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--_memory-child", str(n), str(path), str(batch)],
                             capture_output=True, text=True, cwd=ROOT)
        if out.returncode:
            raise RuntimeError(out.stderr[-3000:])
        r = json.loads(out.stdout.strip().splitlines()[-1])
        res.append(r)
        comp = r["components"]
        total = sum(comp.values())
        log(f"\n{r['terminals']:,} terminals: {r['batches']:,} batches applied in {r['secs']:.0f}s "
            f"(child {time.perf_counter() - t0:.0f}s); RSS {r['rss0_kb'] / 1024:.0f} -> "
            f"{r['rss1_kb'] / 1024:.0f} MiB (+{(r['rss1_kb'] - r['rss0_kb']) / 1024:.0f} MiB)")
        h = r["hh"]
        log(f"  {r['pending_per_term']:.1f} pending fixes and {r['buf_per_term']:.1f} stay-finder fixes "
            f"per terminal; {r['grids_with_visit']:,} grids with a visit; households: {h['kind']}, "
            f"{h['grids']:,} grids x {h['bytes'] / max(1, h['grids']) / 1024:.1f} KiB")
        log(f"  {'component (deep sys.getsizeof, shared objects once)':<54} {'MiB':>7} {'bytes/terminal':>15}")
        for k, v in sorted(comp.items(), key=lambda kv: -kv[1]):
            log(f"  {k:<54} {v / 2**20:>7.1f} {v / r['terminals']:>15,.0f}")
        hh = h["bytes"]
        log(f"  {'households for the stays (city model, shared)':<54} {hh / 2**20:>7.1f}")
        log(f"  {'sum':<54} {(total + hh) / 2**20:>7.1f}   vs RSS delta "
            f"{(r['rss1_kb'] - r['rss0_kb']) / 1024:.1f} MiB")
    # Extrapolation: per-terminal components x terminals, per-grid components x grids.
    r = res[-1]
    comp = r["components"]
    per_grid_key = "cov + lastvisit + g_contrib (per grid)"
    per_term = sum(v for k, v in comp.items() if k not in (per_grid_key, "counters")) / r["terminals"]
    per_grid = comp[per_grid_key] / max(1, r["grids_with_visit"])
    target = args.memory_target
    grids = min(r["grids_total"], target)
    h = r["hh"]
    hh_per_grid = h["bytes"] / max(1, h["grids"])
    hh_grids = h["max"] or grids  # an LRU at its maximum, or every grid with terminals
    hh = hh_per_grid * min(hh_grids, grids)
    est = per_term * target + per_grid * grids + comp["counters"] * grids / max(1, r["grids_with_visit"]) + hh
    log(f"\nextrapolated to {target:,} terminals (per-terminal components x {target:,}, per-grid x "
        f"{grids:,} grids, households x {min(hh_grids, grids):,} grids = {hh / 2**20:.0f} MiB), from the "
        f"{r['terminals']:,}-terminal run: {per_term:,.0f} B per terminal, {per_grid:,.0f} B per grid "
        f"-> state {est / 2**20:,.0f} MiB")
    if len(res) > 1:
        a, b = res[0], res[-1]
        slope = (b["rss1_kb"] - b["rss0_kb"] - (a["rss1_kb"] - a["rss0_kb"])) * 1024 / (b["terminals"] - a["terminals"])
        log(f"RSS slope between the {a['terminals']:,} and {b['terminals']:,} runs: {slope:,.0f} B per "
            f"terminal (includes one grid and its households per terminal below 12,216)")


# --------------------------------------------------------------------------- Redis per day
def redis_day(args) -> None:
    asyncio.run(_redis_day(args))


async def _redis_day(args) -> None:
    import redis.asyncio as aioredis
    from gridpulse.runtime.redis_server import EmbeddedRedis

    n, start, minutes = args.day_terminals, args.day_start, args.day_minutes
    path = ensure_log(n, start, minutes)
    records = offsets_in_memory(load_log(path))
    batch = args.batch or settings_mod.load().batch_max
    with EmbeddedRedis() as red:
        r = aioredis.Redis.from_url(red.url)
        used0 = (await r.info("memory"))["used_memory"]
        s = make_settings(red.url, "gday:")
        gps = gps_processor(s, r)
        res = await memory_processor(records, n_fixes(records), gps, batch, "full day")
        log(f"Redis per terminal-day: {n} terminals, {start} + {minutes} min: {len(records):,} batches "
            f"through GpsProcessor in {res['secs']:.0f}s ({res.per_cpu:,.0f} fixes per CPU-s)")
        used1 = (await r.info("memory"))["used_memory"]
        sizes = await _redis_sizes(r, s.redis_prefix)
        days = sizes.get("route", [0])[0]
        wday = sizes.get("wday", [0, 0, 0, 0])
        tdays = wday[3] or days
        log(f"  {tdays} terminal-days (wday fields), {days} route keys, "
            f"{sizes.get('visits', [0])[0]} stay lists; used_memory +{(used1 - used0) / 1024:,.0f} KiB")
        redis_state_per_terminal(sizes, sum(len(st.terms) for st in gps.parts.values()),
                                 "at the end of the duty day")
        log(f"\n  {'per terminal-day':<40} {'bytes':>9} {'payload':>9}")
        tot = totp = 0
        for g in ("route", "visits", "wday"):
            if g in sizes:
                _, mem, payload, elems = sizes[g]
                tot += mem
                totp += payload
                log(f"  {g:<40} {mem / tdays:>9,.0f} {payload / tdays:>9,.0f}")
        log(f"  {'total':<40} {tot / tdays:>9,.0f} {totp / tdays:>9,.0f}")
        route = sizes.get("route", [0, 0, 0, 0])
        log(f"  route points per terminal-day: {route[2] / 12 / max(1, route[0]):,.0f} (12 bytes each)")
        fleet = 13_800
        keep = settings_mod.load().track_days
        log(f"  fleet ({fleet:,} terminals) x {keep} days kept (GRIDPULSE_TRACK_DAYS): "
            f"{tot / tdays * fleet * keep / 2**30:.2f} GiB of routes/stays/summaries")
        await r.aclose()


# --------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--terminals", type=int, default=2000)
    ap.add_argument("--start", default="09:00", help="local start time of the log (HH:MM)")
    ap.add_argument("--warmup", type=int, default=15, help="simulated minutes before the measured window")
    ap.add_argument("--minutes", type=int, default=30, help="measured simulated minutes")
    ap.add_argument("--batch", type=int, default=0, help="records per batch (default GRIDPULSE_BATCH_MAX)")
    ap.add_argument("--live-batch", type=int, default=200,
                    help="also (c) with this many records per batch, as at the simulator's 3,000 msg/s "
                         "with a 50 ms batch window (0: skip)")
    ap.add_argument("--live-share", type=float, default=0.34,
                    help="share of the measured window the live-like variants run over")
    ap.add_argument("--no-profile", dest="profile", action="store_false")
    ap.add_argument("--no-cache-warm", dest="cache_warm", action="store_false",
                    help="always process the warm-up (default: reuse a dump of the same log and code)")
    ap.add_argument("--profile-share", type=float, default=0.34, help="share of the window profiled")
    ap.add_argument("--hotspots", action="store_true", help="only: (c) with the proposed fixes patched in")
    ap.add_argument("--fixes", default="",
                    help="hot spots: variants to run, e.g. 'advance_heap,nearest_prefilter+distance_inline' "
                         "(default: each fix alone, then all together)")
    ap.add_argument("--repeat", type=int, default=5, help="hot spots: rounds per variant")
    ap.add_argument("--hot-share", type=float, default=0.15, help="hot spots: share of the window per run")
    ap.add_argument("--memory", action="store_true", help="only: worker memory per terminal")
    ap.add_argument("--memory-terminals", default="5000,10000")
    ap.add_argument("--memory-start", default="09:30")
    ap.add_argument("--memory-minutes", type=int, default=30)
    ap.add_argument("--memory-target", type=int, default=40_000)
    ap.add_argument("--redis-day", action="store_true", help="only: Redis bytes per terminal-day")
    ap.add_argument("--day-terminals", type=int, default=200)
    ap.add_argument("--day-start", default="08:00")
    ap.add_argument("--day-minutes", type=int, default=600)
    ap.add_argument("--quick", action="store_true", help="small smoke run of every section")
    ap.add_argument("--_memory-child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    # A SIGTERM must still run the ``with`` blocks that stop the embedded Tansu and Redis.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args._memory_child:
        n, path, batch = args._memory_child
        print(json.dumps(memory_child(int(n), Path(path), int(batch))))
        return
    log(f"gridpulse bench/gps.py  {dt.datetime.now().isoformat(timespec='seconds')}  "
        f"nproc={os.cpu_count()}  python {sys.version.split()[0]}  load {os.getloadavg()[0]:.1f}")
    if args.quick:
        args.terminals, args.warmup, args.minutes = 300, 10, 5
        args.memory_terminals, args.memory_minutes = "300,600", 10
        args.day_terminals, args.day_minutes = 20, 120
        args.hotspots = args.memory = args.redis_day = True
        throughput(args)
    only = args.hotspots or args.memory or args.redis_day
    if not only:
        throughput(args)
    if args.hotspots:
        hotspots(args)
    if args.memory:
        memory(args)
    if args.redis_day:
        redis_day(args)


if __name__ == "__main__":
    main()

"""bench/gps.py's throughput section: variants (a) (b) (b') (c) (b'') (c'') over one
log, the warm-up cache, the (b') split and profile (Redis sizes: gps_common.py)."""

from __future__ import annotations

import asyncio
import collections
import cProfile
import gc
import hashlib
import math
import os
import pstats
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import msgspec  # noqa: E402

from gridpulse import settings as settings_mod  # noqa: E402
from gridpulse.clock import parse_local  # noqa: E402
from gridpulse.schemas import decode_gps  # noqa: E402
from gps_common import (DAY, OUT, PARTITIONS, TZ, FlushCount, HEADER, Rec, Result, Timer,  # noqa: E402
                        _households_cache_info, _prewarm_households, ensure_log,
                        gps_processor, load_log, log, log_path, make_settings, n_fixes,
                        partition_of, redis_sizes, redis_state_per_terminal, warm_copy)


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
        redis_state_per_terminal(await redis_sizes(r, s_w.redis_prefix), terms, "after the warm-up")
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
        s_b, gps_b = await warm_copy(r, red.url, s_w.redis_prefix, f"gb{run}:", kafka.bootstrap)
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
        s_m, gps_m = await warm_copy(r, red.url, s_w.redis_prefix, f"gm{run}:")
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
            _, gps_l = await warm_copy(r, red.url, s_w.redis_prefix, f"gl{run}:")
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
            _, gps_p = await warm_copy(r, red.url, s_w.redis_prefix, f"gp{run}:")
            pr = cProfile.Profile()
            pr.enable()
            await memory_processor(sub, 0, gps_p, batch_max, "")
            pr.disable()
            print_profile(pr)
            log(f"  households: {_households_cache_info()}")
        sizes = await redis_sizes(r, s_b.redis_prefix)
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


async def _compare(url: str, pa: str, pb: str):
    import pipeline_common  # bench/pipeline_common.py
    return await asyncio.to_thread(pipeline_common.compare_views, url, pa, pb)

"""bench/pipeline.py's throughput section: the (a)/(b)/(c) table, and where (c)'s CPU
goes (--parts: timers, and the processors behind a plain aiokafka consumer; --profile)."""

from __future__ import annotations

import asyncio
import collections
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402

from gridpulse import settings as settings_mod  # noqa: E402
from gridpulse.runtime.broker import create_topics_async, free_port  # noqa: E402
from gridpulse.runtime.kafka_tuning import aiokafka_consumer_kwargs  # noqa: E402
from gridpulse.schemas import encode  # noqa: E402
from gridpulse.topics import CASE_EVENTS, GPS_FIXES, names  # noqa: E402
from pipeline_common import (OUT, Result, Worker, compare_views, cpu_s, faust_idiomatic,  # noqa: E402
                             gridpulse_worker, log, make_settings, mix, produce, raw_ceiling,
                             simulated, targets_of, wait_worker)


# --------------------------------------------------------------------------- sections
def print_table(results: list[Result]) -> None:
    log(f"\n{'variant':<36} {'events':>9} {'seconds':>8} {'join s':>7} {'events/s':>9} "
        f"{'ev/s excl. join':>15} {'CPU s*':>6} {'ev/CPU-s':>9}")
    for r in results:
        log(f"{r['variant']:<36} {r['events']:>9,} {r['total_s']:>8.2f} {r['join_s']:>7.2f} "
            f"{r.rate:>9,.0f} {r.rate_ex_join:>15,.0f} {r.get('cpu_s', float('nan')):>6.1f} "
            f"{r.per_cpu_s:>9,.0f}")


async def _setup_topics(bootstrap: str, s: settings_mod.Settings) -> None:
    await create_topics_async(bootstrap, list(names(s).values()), s.partitions)


def throughput(bootstrap: str, redis_url: str, n: int, n_base: int, timeout: float,
               profile: bool, with_parts: bool = False, batch_loop: bool = False,
               with_stream: bool = True) -> None:
    s = make_settings(bootstrap, redis_url, f"tp{uuid.uuid4().hex[:6]}.")
    asyncio.run(_setup_topics(bootstrap, s))
    t = time.perf_counter()
    msgs = simulated(n)
    log(f"generated {len(msgs):,} messages in {time.perf_counter() - t:.1f}s ({mix(msgs)}; "
        f"{sum(len(m[2]) for m in msgs) / len(msgs):.0f} B/value avg)")
    secs = asyncio.run(produce(bootstrap, s, msgs))
    log(f"produced once, acks=all: {secs:.1f}s ({len(msgs) / secs:,.0f} msg/s)")
    del msgs
    results: list[Result] = []
    log("(a) raw ceiling ...")
    results.append(asyncio.run(raw_ceiling(bootstrap, s, n)))
    if n_base:
        log(f"(b) idiomatic Faust on the first {n_base:,} events of the same topics ...")
        results.append(faust_idiomatic(bootstrap, redis_url, s, n_base, timeout))
    log("(c) gridpulse worker (GRIDPULSE_WORKER_FEED=batch, the default) ...")
    res_c, hwm = gridpulse_worker(bootstrap, s, n, timeout)
    results.append(res_c)
    res_s = None
    if with_stream:
        log("(c') the same worker with GRIDPULSE_WORKER_FEED=stream (take_events agents) ...")
        s_s = s.replace(worker_id=f"{s.topic_prefix}s-{uuid.uuid4().hex[:4]}",
                        redis_prefix=f"s{uuid.uuid4().hex[:4]}:", worker_web_port=free_port(),
                        worker_feed="stream")
        res_s, _ = gridpulse_worker(bootstrap, s_s, n, timeout)
        results.append(res_s)
        same, diff = compare_views(redis_url, s.redis_prefix, s_s.redis_prefix)
        log(f"(c') wrote the same Redis views as (c): {same} keys identical, "
            f"{len(diff)} different{': ' + ', '.join(diff[:8]) if diff else ''}")
    res_d = None
    if batch_loop:
        log("(d) experiment: the worker's processors behind a plain aiokafka getmany loop ...")
        s_d = s.replace(worker_id=f"{s.topic_prefix}d-{uuid.uuid4().hex[:4]}",
                        redis_prefix=f"d{uuid.uuid4().hex[:4]}:", worker_web_port=free_port())
        res_d, _ = gridpulse_worker(bootstrap, s_d, n, timeout, batch_loop=True)
        results.append(res_d)
        same, diff = compare_views(redis_url, s.redis_prefix, s_d.redis_prefix)
        log(f"(d) wrote the same Redis views as (c): {same} keys identical, "
            f"{len(diff)} different{': ' + ', '.join(diff[:8]) if diff else ''}")
    print_table(results)
    a = results[0]
    b = results[1] if n_base else None
    log(f"\nworker peak RSS in this run: {hwm / 1024:.0f} MiB")
    log(f"c/a = {res_c.rate_ex_join / a.rate_ex_join:.1%} excluding join "
        f"({res_c.rate / a.rate:.1%} including)   bar: >= 25%")
    if b is not None:
        log(f"c/b = {res_c.rate_ex_join / b.rate_ex_join:.1f}x excluding join "
            f"({res_c.rate / b.rate:.1f}x including)   bar: >= 20x")
    log("* CPU seconds of the consuming process after its first sign of consumption "
        "(a: the bench process from start)")
    if res_d is not None:
        log(f"(d) would give: d/a = {res_d.rate_ex_join / a.rate_ex_join:.1%} excluding join"
            + (f", d/b = {res_d.rate_ex_join / b.rate_ex_join:.1f}x" if b is not None else "")
            + f"; per CPU second d/a = {res_d.per_cpu_s / a.per_cpu_s:.1%}"
            + (f", d/b = {res_d.per_cpu_s / b.per_cpu_s:.1f}x" if b is not None else ""))
    log(f"per CPU second (less sensitive to a busy machine): c/a = {res_c.per_cpu_s / a.per_cpu_s:.1%}"
        + (f", c/b = {res_c.per_cpu_s / b.per_cpu_s:.1f}x" if b is not None else ""))
    if res_s is not None:
        log(f"c/c' = {res_c.rate_ex_join / res_s.rate_ex_join:.1f}x excluding join: what Faust's "
            f"per-event stream machinery costs")
    if profile:
        prof(bootstrap, s, n, timeout)
    if with_parts:
        parts(bootstrap, redis_url, s, n, timeout)


def prof(bootstrap: str, s: settings_mod.Settings, n: int, timeout: float) -> None:
    """Re-run (c) on the same topics (new group, fresh Redis keys) under py-spy."""
    s2 = s.replace(worker_id=f"{s.topic_prefix}prof-{uuid.uuid4().hex[:4]}",
                   redis_prefix=f"prof{uuid.uuid4().hex[:4]}:", worker_web_port=free_port())
    OUT.mkdir(exist_ok=True)
    raw = OUT / "worker-profile.txt"
    log("(c) under py-spy (raw collapsed stacks to bench/out/worker-profile.txt) ...")
    res, _ = gridpulse_worker(bootstrap, s2, n, timeout, profile_to=raw)
    print_table([res])
    time.sleep(1.0)
    if raw.exists():
        summarize_profile(raw)


def parts(bootstrap: str, redis_url: str, s: settings_mod.Settings, n: int, timeout: float) -> None:
    """Split the worker's CPU: gridpulse code vs Faust/aiokafka; then the same processors
    fed by a plain aiokafka batch consumer (the proposed hot path), in this process."""
    import json
    # 1. The real worker, with timers (bench/worker_probe.py), on the same topics.
    s2 = s.replace(worker_id=f"{s.topic_prefix}probe-{uuid.uuid4().hex[:4]}",
                   redis_prefix=f"probe{uuid.uuid4().hex[:4]}:", worker_web_port=free_port())
    targets = asyncio.run(targets_of(bootstrap, s2))
    w = Worker(s2, "gridpulse-worker-probe", probe=True)
    try:
        first, done = wait_worker(s2, w, targets, timeout)
        cpu_end = cpu_s(w.pid())
        time.sleep(1.3)  # the probe reports once a second
        snap = json.loads(redis.Redis.from_url(redis_url).get(f"{s2.redis_prefix}probe"))
    finally:
        w.stop()
    cpu = cpu_end - w.cpu_at_first
    log(f"\n(c) with timers: {n:,} events in {done - first:.1f}s after the first flush "
        f"({n / (done - first):,.0f}/s), worker CPU in that span {cpu:.1f}s "
        f"({cpu / n * 1e6:.0f} us/event)")
    _print_probe(snap, n, cpu)
    # 2. The same processors behind a plain aiokafka batch consumer.
    log("\nsame processors, fed by a plain aiokafka getmany loop in this process "
        "(no Faust; commit after the flush):")
    res, snap2 = asyncio.run(_batch_consumer(bootstrap, s, n))
    print_table([res])
    _print_probe(snap2, n, res["cpu_s"])


def _print_probe(snap: dict, n: int, cpu: float) -> None:
    """The timers: [cpu] pieces are thread CPU time, [wall] pieces include waiting (and, in
    the Faust worker, whatever other tasks ran during the await)."""
    times, counts = snap["times"], snap["counts"]
    batches = {k: v for k, v in counts.items() if k.startswith("batch.")}
    recs = {k: v for k, v in counts.items() if k.startswith("records.")}
    for k, b in sorted(batches.items()):
        t = k.split(".", 1)[1]
        log(f"  {t}: {b:,} process() calls, {recs.get('records.' + t, 0) / max(1, b):,.0f} records per call")
    log(f"  {'piece':<42} {'seconds':>8} {'us/event':>9} {'/ CPU':>7}")
    for k, v in sorted(times.items(), key=lambda kv: -kv[1]):
        log(f"  {k:<42} {v:>8.2f} {v / n * 1e6:>9.1f} {v / cpu:>7.1%}")
    sync_cpu = sum(v for k, v in times.items() if k.endswith("[cpu]"))
    rest = cpu - sync_cpu
    log(f"  {'process CPU, total':<42} {cpu:>8.2f} {cpu / n * 1e6:>9.1f} {1:>7.0%}")
    log(f"  {'CPU outside decode/apply/SLA (Redis client,':<42} {rest:>8.2f} {rest / n * 1e6:>9.1f} "
        f"{rest / cpu:>7.1%}")
    log("   Faust/aiokafka machinery, logging, GC)")


async def _batch_consumer(bootstrap: str, s: settings_mod.Settings, n: int, max_records: int = 2000):
    import redis.asyncio as aioredis
    sys.path.insert(0, str(ROOT / "bench"))
    import worker_probe
    from streams.processor import Record
    from streams.wiring import make_processors

    worker_probe.instrument()
    worker_probe.TIMES.clear()
    worker_probe.COUNTS.clear()
    s3 = s.replace(redis_prefix=f"batch{uuid.uuid4().hex[:4]}:")
    r = aioredis.Redis.from_url(s3.redis_url)
    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await prod.start()

    async def dead_sink(letters) -> None:
        await asyncio.gather(*[await prod.send(s.topic("deadletter"), encode(d), key=k) for k, d in letters])

    async def alert_sink(alerts) -> None:
        await asyncio.gather(*[await prod.send(s.topic("alerts"), encode(a), key=a.id.encode())
                               for a in alerts])

    cases, gps = make_processors(s3, r, dead_sink, alert_sink)
    procs = {s.topic(CASE_EVENTS): cases, s.topic(GPS_FIXES): gps}
    c = AIOKafkaConsumer(*procs, bootstrap_servers=bootstrap, enable_auto_commit=False,
                         group_id=f"{s.topic_prefix}batch-{uuid.uuid4().hex[:6]}",
                         max_partition_fetch_bytes=4 * 1024 * 1024,
                         **aiokafka_consumer_kwargs(embedded=True))
    t0 = time.perf_counter()
    await c.start()
    got, first, c0 = 0, 0.0, 0.0
    try:
        while got < n:
            batches = await c.getmany(max_records=max_records, timeout_ms=200)
            if batches and not first:
                first, c0 = time.perf_counter(), time.process_time()
            by_topic: dict[str, list] = collections.defaultdict(list)
            for tp, recs in batches.items():
                by_topic[tp.topic].extend(Record(m.partition, m.offset, m.key, m.value) for m in recs)
                got += len(recs)
            for topic, recs in by_topic.items():
                await procs[topic].process(recs)
            if batches:
                await c.commit()
        t1, c1 = time.perf_counter(), time.process_time()
    finally:
        await c.stop()
        await prod.stop()
        await r.aclose()
    res = Result(variant="plain aiokafka + processors", events=got, total_s=t1 - t0,
                 join_s=first - t0, cpu_s=c1 - c0)
    return res, worker_probe.snapshot()


_ROOTS = ("gridpulse/cli.py", "mode/worker.py")  # the event loop's callers, not owners
_OWNERS = ("streams/", "gridpulse/", "faust/", "mode/", "aiokafka/", "redis/", "msgspec", "logging/")


def summarize_profile(path: Path, top: int = 25) -> None:
    """Attribute py-spy's raw (collapsed) samples, startup and idle excluded.

    Each sample goes to the innermost frame from one of the interesting packages (so
    asyncio's scheduler work lands on the Faust/redis/aiokafka code that caused it);
    samples with no such frame are "asyncio/stdlib".
    """
    by_pkg: collections.Counter[str] = collections.Counter()
    by_fn: collections.Counter[str] = collections.Counter()
    startup = idle = total = 0
    for line in path.read_text().splitlines():
        stack, _, cnt = line.rpartition(" ")
        if not stack or not cnt.isdigit():
            continue
        c = int(cnt)
        total += c
        frames = [f.strip() for f in stack.split(";")]
        if any(f.startswith(("build_app (", "_find_and_load (")) for f in frames):
            startup += c
            continue
        if frames and frames[-1].startswith("EpollSelector.select"):
            idle += c
            continue
        owner = None
        for f in reversed(frames):
            src = f[f.find("(") + 1:]
            if any(src.startswith(o) for o in _OWNERS) and not src.startswith(_ROOTS):
                owner = f
                break
        if owner is None:
            by_pkg["asyncio event loop itself (tasks, callbacks, futures)"] += c
            by_fn[frames[-1].rsplit(":", 1)[0] if frames else "?"] += c
            continue
        src = owner[owner.find("(") + 1:]
        by_pkg[src.split("/", 1)[0]] += c
        by_fn[owner.rsplit(":", 1)[0] + ")"] += c
    busy = total - startup - idle
    log(f"\nprofile: {total} samples; startup (imports, build_app) {startup / total:.0%}, "
        f"idle in select {idle / total:.0%}; shares below are of the {busy} busy samples")
    log("by package (innermost frame of streams/gridpulse/faust/mode/aiokafka/redis):")
    for k, v in by_pkg.most_common():
        log(f"  {v / busy:6.1%}  {k}")
    log("by function:")
    for k, v in by_fn.most_common(top):
        log(f"  {v / busy:6.1%}  {k}")

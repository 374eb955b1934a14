"""bench/pipeline.py --latency: event-to-Redis latency under a steady produce rate."""

from __future__ import annotations

import asyncio
import bisect
import collections
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiokafka import AIOKafkaProducer  # noqa: E402

from gridpulse import settings as settings_mod  # noqa: E402
from gridpulse.rkeys import Keys  # noqa: E402
from gridpulse.topics import CASE_EVENTS, GPS_FIXES  # noqa: E402
from pipeline_common import (Msg, Worker, log, make_settings, produce, simulated, targets_of,  # noqa: E402
                             vm_hwm_kb, wait_worker)
from pipeline_throughput import _setup_topics  # noqa: E402


def latency(bootstrap: str, redis_url: str, rate: float, duration: float, timeout: float,
            batch_loop: bool = False) -> None:
    """Event -> Redis latency at a steady rate with the worker running."""
    s = make_settings(bootstrap, redis_url, f"lat{uuid.uuid4().hex[:6]}.")
    asyncio.run(_setup_topics(bootstrap, s))
    n = int(rate * duration)
    msgs = simulated(n + 200)
    warm, msgs = msgs[:200], msgs[200:]
    w = Worker(s, "batch-loop-latency" if batch_loop else "gridpulse-worker-latency",
               batch_loop=batch_loop)
    try:
        # Warm up: wait until the worker has joined and reflected a first few messages.
        asyncio.run(produce(bootstrap, s, warm))
        wait_worker(s, w, asyncio.run(targets_of(bootstrap, s)), timeout)
        log(f"\nlatency{' (plain aiokafka batch loop, bench/worker_probe.py --batch-loop)' if batch_loop else ''}: worker joined and caught up with {len(warm)} warm-up messages "
            f"after {time.time() - w.t0:.1f}s; producing {n:,} messages at {rate:,.0f}/s")
        sent, seen = asyncio.run(_steady(bootstrap, s, msgs, rate))
        hwm, _ = vm_hwm_kb(w.pid())
    finally:
        w.stop()
    lats = []
    missing = 0
    for (kind, p), offs in sent.items():
        obs = seen.get((kind, p), [])
        obs_off = [o for o, _ in obs]
        for off, t_send in offs:
            i = bisect.bisect_left(obs_off, off)
            if i == len(obs):
                missing += 1
                continue
            lats.append(obs[i][1] - t_send)
    lats.sort()
    q = statistics.quantiles(lats, n=100, method="inclusive")
    log(f"latency over {len(lats):,} events ({missing} not seen): p50 {q[49] * 1000:.0f} ms, "
        f"p95 {q[94] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, max {lats[-1] * 1000:.0f} ms "
        f"(mean {statistics.fmean(lats) * 1000:.0f} ms); worker peak RSS {hwm / 1024:.0f} MiB")


async def _steady(bootstrap: str, s: settings_mod.Settings, msgs: list[Msg], rate: float):
    import redis.asyncio as aioredis
    kind = {s.topic(CASE_EVENTS): "case", s.topic(GPS_FIXES): "gps"}
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                         request_timeout_ms=60_000)
    await p.start()
    r = aioredis.Redis.from_url(s.redis_url)
    keys = Keys(s.redis_prefix)
    sent: dict[tuple[str, int], list[tuple[int, float]]] = collections.defaultdict(list)
    seen: dict[tuple[str, int], list[tuple[int, float]]] = collections.defaultdict(list)
    stop = asyncio.Event()
    last = {}

    async def poller() -> None:
        slots = [(k, q) for k in ("case", "gps") for q in range(s.partitions)]
        while True:
            pipe = r.pipeline(transaction=False)
            for k, q in slots:
                pipe.hget(keys.meta(k, q), "offset")
            vals = await pipe.execute()
            now = time.perf_counter()
            for slot, v in zip(slots, vals):
                if v is not None and int(v) != last.get(slot):
                    last[slot] = int(v)
                    seen[slot].append((int(v), now))
            if stop.is_set() and all(last.get(k, -1) >= max((o for o, _ in sent[k]), default=-1)
                                     for k in list(sent)):
                return
            await asyncio.sleep(0.005)

    def on_sent(t_send: float):
        def cb(fut) -> None:
            md = fut.result()
            sent[(kind[md.topic], md.partition)].append((md.offset, t_send))
        return cb

    poll_task = asyncio.create_task(poller())
    t0 = time.perf_counter()
    futs = []
    tick = 0.01
    per_tick = rate * tick
    i, k = 0, 0
    while i < len(msgs):
        k += 1
        due = t0 + k * tick
        upto = min(len(msgs), int(k * per_tick))
        while i < upto:
            topic, key, value, ts = msgs[i]
            t_send = time.perf_counter()
            fut = await p.send(s.topic(topic), value, key=key, timestamp_ms=ts)
            fut.add_done_callback(on_sent(t_send))
            futs.append(fut)
            i += 1
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
    await asyncio.gather(*futs)
    elapsed = time.perf_counter() - t0
    stop.set()
    try:
        await asyncio.wait_for(poll_task, 120)
    finally:
        await p.stop()
        await r.aclose()
    log(f"produced {len(msgs):,} in {elapsed:.1f}s ({len(msgs) / elapsed:,.0f}/s)")
    for v in sent.values():
        v.sort()
    return sent, seen

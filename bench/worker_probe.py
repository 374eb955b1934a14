"""Where the gridpulse worker's time goes: timers monkeypatched onto streams/ (no edits there).

Two uses, both driven by ``bench/pipeline.py --parts``:

* ``python bench/worker_probe.py`` runs ``gridpulse worker`` exactly as the CLI does, with
  timers wrapped around the processors' pieces (decode, apply, after-batch/publish, Redis
  flush, the whole ``process`` call). Every second it writes the totals and the process's
  CPU time to the Redis hash ``<redis prefix>probe``, so the benchmark can read how much of
  the worker's CPU the gridpulse code used and how much was left to Faust (``take_events``,
  the per-message conductor/stream machinery, acks, sensors) and aiokafka.
* :func:`instrument` is also imported in-process by the benchmark's batch-consumer
  experiment (the same processors fed by a plain aiokafka ``getmany`` loop).
"""

from __future__ import annotations

import collections
import functools
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TIMES: collections.Counter[str] = collections.Counter()  # seconds per piece
COUNTS: collections.Counter[str] = collections.Counter()  # calls / batches / records


def _timed_sync(name: str, fn):
    # Pure CPU work: thread CPU time, so other processes on a busy machine do not count.
    @functools.wraps(fn)
    def wrapper(*a, **kw):
        t = time.thread_time()
        try:
            return fn(*a, **kw)
        finally:
            TIMES[name] += time.thread_time() - t
            COUNTS[name] += 1
    return wrapper


def _timed_async(name: str, fn):
    # Wall time: includes waiting for Redis/Kafka and whatever other tasks the event loop
    # ran meanwhile (in the Faust worker: its per-message machinery), so it over-states.
    @functools.wraps(fn)
    async def wrapper(*a, **kw):
        t = time.perf_counter()
        try:
            return await fn(*a, **kw)
        finally:
            TIMES[name] += time.perf_counter() - t
            COUNTS[name] += 1
    return wrapper


def instrument() -> None:
    """Wrap timers around the processors' pieces (class attributes, so every instance)."""
    from streams import processor as P
    from streams import redis_store as RS

    base = P._Processor
    # process(): the whole batch call, as the agent awaits it (includes Redis round trips).
    orig_process = base.process

    @functools.wraps(orig_process)
    async def process(self, records):
        recs = list(records)
        COUNTS[f"batch.{self.topic.rsplit('.', 1)[-1]}"] += 1
        COUNTS[f"records.{self.topic.rsplit('.', 1)[-1]}"] += len(recs)
        t = time.perf_counter()
        try:
            return await orig_process(self, recs)
        finally:
            TIMES["process() wall (all gridpulse work)"] += time.perf_counter() - t

    base.process = process
    for cls in (P.CaseProcessor, P.GpsProcessor):
        short = "case" if cls is P.CaseProcessor else "gps"
        cls._decode = _timed_sync(f"{short}.decode+validate [cpu]", cls._decode)
        if "_apply" in cls.__dict__:
            cls._apply = _timed_sync(f"{short}.apply [cpu]", cls._apply)
        if "_after_batch" in cls.__dict__:
            cls._after_batch = _timed_sync(f"{short}.after_batch SLA clocks [cpu]", cls._after_batch)
        if "_publish" in cls.__dict__:
            cls._publish = _timed_async(f"{short}.publish alerts [wall]", cls._publish)
        cls._flush = _timed_async(f"{short}.flush fenced Redis write [wall]", cls._flush)
        cls._load = _timed_async(f"{short}.load [wall]", cls._load)
    if "_apply" not in P.GpsProcessor.__dict__ and "_apply" in base.__dict__:
        base._apply = _timed_sync("gps.apply (base) [cpu]", base._apply)
    RS.PartitionStore._fenced = _timed_async("_fenced, both kinds [wall]", RS.PartitionStore._fenced)


def cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def snapshot() -> dict:
    return {"times": dict(TIMES), "counts": dict(COUNTS), "cpu": cpu_s(), "wall": time.time()}


def run_worker() -> None:
    """``gridpulse worker`` with the timers on; totals go to Redis every second."""
    import faust
    import redis

    from gridpulse import settings as settings_mod
    from streams.app import build_app

    instrument()
    s = settings_mod.load()
    app = build_app(s, s.kafka_bootstrap, s.redis_url)
    r = redis.Redis.from_url(s.redis_url)

    @app.timer(1.0)
    async def report() -> None:
        r.set(f"{s.redis_prefix}probe", json.dumps(snapshot()))  # sync, tiny: fine once a second

    worker = faust.Worker(app, loglevel="warning", quiet=True)
    worker.execute_from_commandline()


async def batch_loop() -> None:
    """Fix 1 of docs/performance.md as an experiment: the worker's processors behind a
    plain aiokafka group consumer (``getmany``, commit after the flush), no Faust."""
    import asyncio

    import redis.asyncio as aioredis
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener

    from gridpulse import settings as settings_mod
    from gridpulse.runtime.kafka_tuning import aiokafka_consumer_kwargs
    from gridpulse.schemas import encode
    from gridpulse.topics import ALERTS, CASE_EVENTS, DEADLETTER, GPS_FIXES
    from streams.processor import Record
    from streams.wiring import make_processors

    s = settings_mod.load()
    r = aioredis.Redis.from_url(s.redis_url)
    prod = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all", linger_ms=5)
    await prod.start()

    async def dead_sink(letters) -> None:
        await asyncio.gather(*[await prod.send(s.topic(DEADLETTER), encode(d), key=k) for k, d in letters])

    async def alert_sink(alerts) -> None:
        await asyncio.gather(*[await prod.send(s.topic(ALERTS), encode(a), key=a.id.encode())
                               for a in alerts])

    cases, gps = make_processors(s, r, dead_sink, alert_sink)
    procs = {s.topic(CASE_EVENTS): cases, s.topic(GPS_FIXES): gps}

    class Revoke(ConsumerRebalanceListener):
        async def on_partitions_revoked(self, revoked) -> None:
            for topic, proc in procs.items():
                proc.drop(tp.partition for tp in revoked if tp.topic == topic)

        async def on_partitions_assigned(self, assigned) -> None:
            pass

    c = AIOKafkaConsumer(bootstrap_servers=s.kafka_bootstrap, group_id=s.worker_id + ".batch",
                         enable_auto_commit=False, max_partition_fetch_bytes=4 * 1024 * 1024,
                         **aiokafka_consumer_kwargs(embedded=True))
    c.subscribe(list(procs), listener=Revoke())
    await c.start()
    try:
        while True:
            batches = await c.getmany(max_records=s.batch_max, timeout_ms=int(s.batch_within * 1000))
            by_topic: dict[str, list] = collections.defaultdict(list)
            for tp, recs in batches.items():
                by_topic[tp.topic].extend(Record(m.partition, m.offset, m.key, m.value) for m in recs)
            for topic, recs in by_topic.items():
                await procs[topic].process(recs)
            if batches:
                await c.commit()
    finally:
        await c.stop()
        await prod.stop()


if __name__ == "__main__":
    if sys.argv[1:] == ["--batch-loop"]:
        import asyncio
        asyncio.run(batch_loop())
    else:
        run_worker()

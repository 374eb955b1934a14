"""Time from consumer/worker start to first message processed, default vs tuned client settings.

Usage::

    /work/venv/bin/python bench/broker_join.py                 # everything, embedded Tansu
    /work/venv/bin/python bench/broker_join.py --only aiokafka --repeat 3
    /work/venv/bin/python bench/broker_join.py --bootstrap host:9092 --real-cluster

Cases: (a) a plain aiokafka consumer joining a fresh group, (b) a minimal Faust worker
(one agent, ``store="memory://"``) in a subprocess, and (c) the same with one table (so a
changelog topic is created and recovered). Each runs with the library defaults and with
:mod:`gridpulse.runtime.kafka_tuning`. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gridpulse.runtime.broker import EmbeddedKafka, create_topics_async  # noqa: E402
from gridpulse.runtime.kafka_tuning import (  # noqa: E402
    aiokafka_consumer_kwargs, aiokafka_producer_kwargs, faust_app_settings)


async def _produce_one(bootstrap: str, topic: str) -> None:
    from aiokafka import AIOKafkaProducer
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **aiokafka_producer_kwargs(False))
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"ping")
    finally:
        await producer.stop()


async def bench_aiokafka(bootstrap: str, tuned: bool, embedded: bool) -> dict[str, float]:
    """(a) aiokafka consumer in a fresh group: start() -> first record."""
    from aiokafka import AIOKafkaConsumer
    topic = f"bench.{uuid.uuid4().hex[:8]}"
    await create_topics_async(bootstrap, [topic], 4)
    await _produce_one(bootstrap, topic)
    kwargs = aiokafka_consumer_kwargs(embedded=embedded) if tuned else {"auto_offset_reset": "earliest"}
    t0 = time.monotonic()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"g-{topic}", **kwargs)
    await consumer.start()
    try:
        await consumer.getone()
        return {"first_message_s": time.monotonic() - t0}
    finally:
        await consumer.stop()


def bench_faust(bootstrap: str, tuned: bool, embedded: bool, table: bool,
                timeout: float) -> dict[str, float]:
    """(b)/(c) Faust worker subprocess: process start -> first event in the agent."""
    topic = f"bench.{uuid.uuid4().hex[:8]}"
    asyncio.run(create_topics_async(bootstrap, [topic], 4))
    asyncio.run(_produce_one(bootstrap, topic))
    env = dict(os.environ, BENCH_BOOTSTRAP=bootstrap, BENCH_TOPIC=topic,
               BENCH_TUNED="1" if tuned else "", BENCH_EMBEDDED="1" if embedded else "",
               BENCH_TABLE="1" if table else "", PYTHONPATH=str(ROOT))
    t0 = time.time()
    proc = subprocess.Popen([sys.executable, __file__, "--faust-child", "worker", "-l", "warn"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    marks: dict[str, float] = {}
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    for line in out.splitlines():
        if line.startswith("BENCH "):
            _, name, ts = line.split()
            marks[name] = float(ts)
    if "first" not in marks:
        return {"error": float("nan")}
    return {"first_message_s": marks["first"] - t0,
            "after_imports_s": marks["first"] - marks.get("imported", t0)}


def _faust_child() -> None:
    """Runs inside the worker subprocess: a one-agent Faust app that exits on its first event."""
    import tempfile
    import faust
    print(f"BENCH imported {time.time()}", flush=True)
    tuned = bool(os.environ["BENCH_TUNED"])
    extra = faust_app_settings(embedded=bool(os.environ["BENCH_EMBEDDED"])) if tuned else {}
    app = faust.App(f"bench-{uuid.uuid4().hex[:8]}", broker=f"kafka://{os.environ['BENCH_BOOTSTRAP']}",
                    store="memory://", web_enabled=False, datadir=tempfile.mkdtemp(), **extra)
    topic = app.topic(os.environ["BENCH_TOPIC"], value_serializer="raw")
    counts = app.Table("counts", default=int, partitions=4) if os.environ["BENCH_TABLE"] else None

    @app.agent(topic)
    async def first(stream):
        async for _value in stream:
            if counts is not None:
                counts["n"] += 1
            # fd 1 directly: the Faust worker redirects sys.stdout into its logger.
            os.write(1, f"BENCH first {time.time()}\n".encode())
            os._exit(0)  # the measurement is done; a clean shutdown would only add noise

    sys.argv = [sys.argv[0]] + sys.argv[2:]
    app.main()


def main() -> None:
    """Command line entry point."""
    if len(sys.argv) > 1 and sys.argv[1] == "--faust-child":
        _faust_child()
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bootstrap", default="", help="use this broker instead of an embedded Tansu")
    ap.add_argument("--real-cluster", action="store_true",
                    help="with --bootstrap: use the production (not dev-only) tuned values")
    ap.add_argument("--only", choices=["aiokafka", "faust", "faust-table"], action="append")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--skip-default", action="store_true", help="run the tuned settings only")
    ap.add_argument("--timeout", type=float, default=120.0, help="per Faust run, seconds")
    args = ap.parse_args()
    cases = args.only or ["aiokafka", "faust", "faust-table"]
    profiles = [True] if args.skip_default else [False, True]
    embedded = not args.real_cluster

    broker = None
    bootstrap = args.bootstrap
    if not bootstrap:
        t0 = time.monotonic()
        broker = EmbeddedKafka().start()
        bootstrap = broker.bootstrap
        print(f"embedded Tansu at {bootstrap}, ready in {time.monotonic() - t0:.3f}s")
    try:
        print(f"{'case':<12} {'settings':<8} {'run':>3}  {'start->first msg':>16}  {'(after imports)':>15}")
        for case in cases:
            for tuned in profiles:
                for run in range(args.repeat):
                    if case == "aiokafka":
                        res = asyncio.run(bench_aiokafka(bootstrap, tuned, embedded))
                    else:
                        res = bench_faust(bootstrap, tuned, embedded, case == "faust-table", args.timeout)
                    after = res.get("after_imports_s")
                    print(f"{case:<12} {'tuned' if tuned else 'default':<8} {run + 1:>3}  "
                          f"{res.get('first_message_s', float('nan')):>15.2f}s  "
                          f"{'' if after is None else f'{after:.2f}s':>15}", flush=True)
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()

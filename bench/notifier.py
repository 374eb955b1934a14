"""What the notifier costs: alerts per CPU second through routing and grouping, memory
with 100,000 active alerts, and alert-to-receiver latency with group_wait 0.

Usage::

    .venv/bin/python bench/notifier.py [--alerts 100000] [--latency-alerts 2000] [--skip-latency]

Each figure is printed with its ratio to a baseline measured in the same process tree:
decoding the same alert records (what any consumer of ``alerts`` pays) for the CPU and
the memory figures, and a plain Kafka consumer reading the same records (the broker hop
alone) for the latency. Asserts nothing; docs/performance.md has the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gridpulse.loop.calendar import load_calendar  # noqa: E402
from gridpulse.schemas import Alert, decode_alert, encode  # noqa: E402
from notify.config import load_document  # noqa: E402
from notify.groups import Dispatcher  # noqa: E402

T0 = 1_795_750_200_000
DISTRICTS = ["330203", "330205", "330206", "330211", "330212", "330213", "330225", "330226", "330281", "330282"]
KINDS = ["warning", "overdue", "escalation", "likely_breach"]
CONFIG = {
    "receivers": [{"name": n} for n in ("district", "dt", "wc", "am")],
    "route": {"receiver": "district", "group_by": ["district", "kind"], "group_wait": "30s",
              "routes": [{"matchers": ['kind="escalation"', 'level=~"2|3"'], "receiver": "dt", "group_by": ["case"],
                          "group_wait": "0s", "continue": True},
                         {"matchers": ['severity=~"3|4"'], "receiver": "wc", "mute_windows": ["nights"]},
                         {"matchers": ['kind="overdue"'], "receiver": "am"}]},
    "inhibit_rules": [{"source_matchers": ['kind="escalation"', 'level="2"'],
                       "target_matchers": ['kind=~"overdue|escalation"', 'level=~"|1"'], "equal": ["clock_id"]}],
    "mute_windows": [{"name": "nights", "outside_working_hours": True}]}


def alerts(n: int) -> list[bytes]:
    """``n`` alert records over a working day: cases across the districts, every kind."""
    out = []
    for i in range(n):
        d = DISTRICTS[i % len(DISTRICTS)]
        kind = KINDS[i % 4]
        ts = T0 + i * (8 * 3_600_000 // n)
        level = f":{1 + i % 3}" if kind == "escalation" else ""
        a = Alert(id=f"C{i:07d}:handle:{T0 - 3_600_000}:{kind}{level}", kind=kind, ts=ts, case=f"C{i:07d}",
                  stage="dispatched", deadline=ts, grid=f"{d}001001003", community=f"{d}001001", town=f"{d}001",
                  district=d, city="330200", dept="sanitation", severity=1 + i % 4, category="sanitation")
        out.append(encode(a))
    return out


def cpu(fn) -> float:
    gc.collect()
    t0 = time.process_time()
    fn()
    return time.process_time() - t0


def throughput(recs: list[bytes]) -> None:
    cfg, cal = load_document(CONFIG, env={}), load_calendar()
    base = min(cpu(lambda: [decode_alert(r) for r in recs]) for _ in range(3))

    def full() -> None:
        d = Dispatcher(cfg, cal)
        last = 0
        for i, r in enumerate(recs):
            a = decode_alert(r)
            d.ingest(a)
            if i % 1000 == 999:  # the clock moves as the alerts come
                last = a.ts
                d.advance(last - 60_000, last)
        d.advance(last + 3_600_000, last)

    def ingest() -> None:
        d = Dispatcher(cfg, cal)
        for r in recs:
            d.ingest(decode_alert(r))

    route = min(cpu(ingest) for _ in range(3))
    work = min(cpu(full) for _ in range(3))
    n = len(recs)
    print(f"throughput: decode only {n / base:,.0f} alerts/CPU s; decode + route + group {n / route:,.0f} "
          f"alerts/CPU s ({route / base:.1f}x the decode's CPU); the same plus every flush decision over the "
          f"day (alerts never resolve here, so every group flushes every group_interval for 9 h) "
          f"{n / work:,.0f} alerts/CPU s ({work / base:.1f}x)")


def memory(recs: list[bytes]) -> None:
    cfg, cal = load_document({**CONFIG, "route": {**CONFIG["route"], "group_by": ["case"]}}, env={}), load_calendar()
    gc.collect()
    tracemalloc.start()
    structs = [decode_alert(r) for r in recs]
    base = tracemalloc.get_traced_memory()[0]
    d = Dispatcher(cfg, cal)
    for a in structs:
        d.ingest(a)
    total = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    n = len(recs)
    print(f"memory: {n:,} active alerts in {len(d.groups):,} groups: {total / 2**20:.0f} MiB "
          f"({total / n:.0f} B an alert; the decoded alerts alone {base / 2**20:.0f} MiB, ratio {total / base:.1f}x)")


async def _kafka_hop(bootstrap: str, topic: str, n: int) -> list[float]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="latest", enable_auto_commit=False)
    await c.start()
    await c.getmany(timeout_ms=500)
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await p.start()
    sent: dict[bytes, float] = {}
    got: list[float] = []
    for i in range(n):
        k = f"hop{i}".encode()
        sent[k] = time.time()
        await p.send_and_wait(topic, b"{}", key=k)
        for recs in (await c.getmany(timeout_ms=0)).values():
            got += [time.time() - sent[r.key] for r in recs if r.key in sent]
        await asyncio.sleep(0.01)
    while len(got) < n:
        for recs in (await c.getmany(timeout_ms=1000)).values():
            got += [time.time() - sent[r.key] for r in recs if r.key in sent]
    await p.stop()
    await c.stop()
    return got


def latency(n: int) -> None:
    from gridpulse import settings as settings_mod
    from gridpulse.clock import now_ms
    from gridpulse.runtime.broker import EmbeddedKafka, create_topics, free_port
    from gridpulse.runtime.redis_server import EmbeddedRedis
    from gridpulse.topics import names
    from tests.integration import receiver as rec

    tmp = Path(tempfile.mkdtemp())
    with EmbeddedKafka() as kafka, EmbeddedRedis() as redis_server:
        s = settings_mod.load({}, kafka_bootstrap=kafka.bootstrap, redis_url=redis_server.url,
                              topic_prefix="bench.", redis_prefix="bench:")
        create_topics(kafka.bootstrap, list(names(s).values()) + ["bench.hop"], s.partitions)
        hop = asyncio.run(_kafka_hop(kafka.bootstrap, "bench.hop", 200))
        port = free_port()
        rcv = subprocess.Popen([sys.executable, "-m", "tests.integration.receiver", str(port), str(tmp / "got.jsonl")],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True)
        rcv.stdout.readline()
        cfg = tmp / "notify.yaml"
        cfg.write_text(json.dumps({"global": {"allowlist": [f"http://127.0.0.1:{port}/"]},
                                   "receivers": [{"name": "hook", "webhook": {"url": f"http://127.0.0.1:{port}/hook",
                                                                              "concurrency": 8}}],
                                   "route": {"receiver": "hook", "group_by": ["case"], "group_wait": "0s"}}))
        env = {f.metadata["env"]: str(getattr(s, f.name)) for f in settings_mod.FIELDS}
        env.update(GRIDPULSE_NOTIFY_CONFIG=str(cfg), KAFKA_IDEMPOTENT="0", PATH="/usr/bin:/bin")
        notifier = subprocess.Popen([sys.executable, "-m", "gridpulse.cli", "notify"], cwd=ROOT, env=env,
                                    stdout=open(tmp / "notifier.log", "wb"), stderr=subprocess.STDOUT)
        try:
            time.sleep(5)  # started and caught up

            async def send() -> dict[str, float]:
                from aiokafka import AIOKafkaProducer
                p = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
                await p.start()
                sent = {}
                for i in range(n):
                    t = now_ms() - 61_000  # due at once: group_wait 0, past the lateness
                    a = Alert(id=f"B{i:06d}:handle:{t - 3_600_000}:overdue", kind="overdue", ts=t, case=f"B{i:06d}",
                              district="330203", severity=3)
                    sent[a.id] = time.time()
                    await p.send_and_wait("bench.alerts", encode(a), key=a.id.encode())
                    await asyncio.sleep(0.01)  # ~100 alerts a second
                await p.stop()
                return sent

            sent = asyncio.run(send())
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                got = {a["labels"]["id"]: r["t"] for r in rec.read(tmp / "got.jsonl") for a in r["json"]["alerts"]}
                if len(got) >= n:
                    break
                time.sleep(0.5)
            lat = sorted(got[k] - sent[k] for k in sent if k in got)
        finally:
            notifier.terminate()
            notifier.wait(20)
            rcv.kill()
    q = statistics.quantiles(lat, n=100)
    hq = statistics.quantiles(hop, n=100)
    print(f"latency (group_wait 0, {len(lat)}/{n} alerts at ~100/s): p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms; "
          f"the Kafka hop alone p50 {hq[49] * 1000:.0f} ms, p99 {hq[98] * 1000:.0f} ms "
          f"(ratio p50 {q[49] / hq[49]:.1f}x, p99 {q[98] / hq[98]:.1f}x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--alerts", type=int, default=100_000)
    ap.add_argument("--latency-alerts", type=int, default=2000)
    ap.add_argument("--skip-latency", action="store_true")
    args = ap.parse_args()
    recs = alerts(args.alerts)
    throughput(recs)
    memory(recs)
    if not args.skip_latency:
        latency(args.latency_alerts)


if __name__ == "__main__":
    main()

"""End-to-end throughput, memory and latency of the stream worker, on one embedded broker.

Usage::

    /work/venv/bin/python bench/pipeline.py                   # throughput table (a)/(b)/(c)
    /work/venv/bin/python bench/pipeline.py --quick           # small smoke run of everything
    /work/venv/bin/python bench/pipeline.py --events 300000 --baseline-events 40000
    /work/venv/bin/python bench/pipeline.py --memory          # only the memory section
    /work/venv/bin/python bench/pipeline.py --latency         # only the latency section
    /work/venv/bin/python bench/pipeline.py --parts           # + where (c)'s CPU goes (timers)
    /work/venv/bin/python bench/pipeline.py --all             # throughput + parts + memory + latency
    /work/venv/bin/python bench/pipeline.py --profile         # (c) under py-spy, top functions

It starts its own EmbeddedKafka (Tansu, memory storage) and EmbeddedRedis, generates a
realistic message mix with the seeded simulator (13,800 terminals from 09:00 city time:
GPS fix batches and case events), produces it ONCE (acks=all) to topics with 4 partitions
and measures, each variant on the same topics with its own consumer group:

(a) raw ceiling: one aiokafka consumer, ``getmany(max_records=...)``, msgspec-decodes
    every value into the wire structs and does nothing else;
(b) ``bench/faust_idiomatic.py``: an idiomatic per-event Faust agent with Tables doing the
    same KPI work as the worker, as a worker subprocess (it may consume only a prefix of
    the topics, ``--baseline-events``: at ~1-2k events/s the full run would take minutes);
(c) ``python -m gridpulse.cli worker``, measured from process start until the Redis meta
    offsets equal the topics' end offsets (what ``tests/integration/pipeline.py`` waits for).

"join" is the time from start to the first sign of consumption (a, b: first record;
c: first partition offset in Redis, which also includes the first batch's processing);
events/s is given with and without it, and per CPU second of the consuming process (less
sensitive to other load on the machine). ``--parts`` re-runs (c) with timers around the
processors' pieces (``bench/worker_probe.py``) and then feeds the same processors from a
plain aiokafka ``getmany`` loop, which splits the worker's cost into gridpulse's own code
and the Faust machinery around it. Times are wall clock on a possibly noisy machine:
this script prints figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import collections
import datetime as dt
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402

from gridpulse import settings as settings_mod  # noqa: E402
from gridpulse.city import load_city  # noqa: E402
from gridpulse.clock import parse_local  # noqa: E402
from gridpulse.rkeys import Keys  # noqa: E402
from gridpulse.runtime.broker import EmbeddedKafka, create_topics_async, free_port  # noqa: E402
from gridpulse.runtime.kafka_tuning import aiokafka_consumer_kwargs  # noqa: E402
from gridpulse.runtime.redis_server import EmbeddedRedis  # noqa: E402
from gridpulse.schemas import CaseEvent, Fix, GpsBatch, decode_case, decode_gps, encode  # noqa: E402
from gridpulse.topics import CASE_EVENTS, GPS_FIXES, names  # noqa: E402

TZ = "Asia/Shanghai"
START = "2026-11-27T09:00"  # a Friday, on duty
SEED = 20261127
OUT = ROOT / "bench" / "out"

Msg = tuple[str, bytes, bytes, int]  # logical topic, key, value, event time


# --------------------------------------------------------------------------- helpers
def log(msg: str) -> None:
    print(msg, flush=True)


def make_settings(bootstrap: str, redis_url: str, prefix: str) -> settings_mod.Settings:
    """Settings isolating one run: own topics, consumer group and Redis keys."""
    return settings_mod.load({}, kafka_bootstrap=bootstrap, redis_url=redis_url,
                             topic_prefix=prefix, redis_prefix=prefix.replace(".", ":"),
                             worker_id=f"{prefix}worker", worker_web_port=free_port())


def env_of(s: settings_mod.Settings, **extra: str) -> dict[str, str]:
    """Environment variables that give a child process settings ``s``."""
    env = dict(os.environ)
    for f in settings_mod.FIELDS:
        v = getattr(s, f.name)
        env[f.metadata["env"]] = str(int(v) if isinstance(v, bool) else v)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def simulated(n: int, terminals: int = 13800) -> list[Msg]:
    """The first ``n`` messages of the seeded simulator, encoded."""
    from producers.simulator import Simulator
    city = load_city("ningbo")
    sim = Simulator(city, seed=SEED, start_ms=parse_local(START, TZ), tz=TZ, terminals=terminals)
    out: list[Msg] = []
    for m in sim.run(sim.now + 10 * 86_400_000):
        out.append((m.topic, m.key.encode(), encode(m.value), m.ts))
        if len(out) >= n:
            break
    return out


def mix(msgs: list[Msg]) -> str:
    c = collections.Counter(m[0] for m in msgs)
    return ", ".join(f"{k} {v:,}" for k, v in sorted(c.items()))


# Last offset written per (kind, partition), from the producer's RecordMetadata. Not from
# ListOffsets: Tansu 0.6.0 (memory storage) answers ListOffsets(latest) with a stale value
# when a partition holds multi-record batches (e.g. 1 for a partition with 2,500 records
# in one batch), so "end offset - 1" would declare a worker caught up far too early.
PRODUCED: dict[str, dict[tuple[str, int], int]] = collections.defaultdict(dict)


async def produce(bootstrap: str, s: settings_mod.Settings, msgs: list[Msg]) -> float:
    """Send ``msgs`` as fast as possible with acks=all; returns seconds.

    Records the last offset of every partition in ``PRODUCED[s.topic_prefix]``.
    """
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                         max_batch_size=1024 * 1024, request_timeout_ms=60_000)
    kind = {s.topic(CASE_EVENTS): "case", s.topic(GPS_FIXES): "gps"}
    last = PRODUCED[s.topic_prefix]

    def note(results) -> None:
        for md in results:
            k = (kind[md.topic], md.partition)
            if md.offset > last.get(k, -1):
                last[k] = md.offset

    await p.start()
    t0 = time.perf_counter()
    try:
        futs = []
        for topic, key, value, ts in msgs:
            futs.append(await p.send(s.topic(topic), value, key=key, timestamp_ms=ts))
            if len(futs) >= 20_000:
                note(await asyncio.gather(*futs))
                futs.clear()
        note(await asyncio.gather(*futs))
    finally:
        await p.stop()
    return time.perf_counter() - t0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def vm_hwm_kb(pid: int) -> tuple[int, int]:
    """(VmHWM, VmRSS) of ``pid`` in kB."""
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmHWM:", "VmRSS:")):
                k, v = line.split(":")
                vals[k] = int(v.split()[0])
    return vals.get("VmHWM", 0), vals.get("VmRSS", 0)


class Result(dict):
    """variant, events, total_s, join_s (all floats/ints)."""

    @property
    def per_cpu_s(self) -> float:
        return self["events"] / self["cpu_s"] if self.get("cpu_s") else float("nan")

    @property
    def rate(self) -> float:
        return self["events"] / self["total_s"]

    @property
    def rate_ex_join(self) -> float:
        return self["events"] / max(1e-9, self["total_s"] - self["join_s"])


# --------------------------------------------------------------------------- (a)
async def raw_ceiling(bootstrap: str, s: settings_mod.Settings, n: int, max_records: int = 10_000) -> Result:
    """A plain aiokafka group consumer that only msgspec-decodes every value."""
    case_t, gps_t = s.topic(CASE_EVENTS), s.topic(GPS_FIXES)
    c = AIOKafkaConsumer(case_t, gps_t, bootstrap_servers=bootstrap,
                         group_id=f"{s.topic_prefix}raw-{uuid.uuid4().hex[:6]}",
                         max_partition_fetch_bytes=4 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024,
                         **aiokafka_consumer_kwargs(embedded=True))
    t0 = time.perf_counter()
    c0 = time.process_time()
    await c.start()
    got = 0
    first = 0.0
    try:
        while got < n:
            batches = await c.getmany(max_records=max_records, timeout_ms=1000)
            for tp, recs in batches.items():
                if not first and recs:
                    first = time.perf_counter()
                dec = decode_case if tp.topic == case_t else decode_gps
                for r in recs:
                    dec(r.value)
                got += len(recs)
        t1 = time.perf_counter()
        c1 = time.process_time()
    finally:
        await c.stop()
    return Result(variant="(a) raw aiokafka+msgspec", events=got, total_s=t1 - t0, join_s=first - t0,
                  cpu_s=c1 - c0)


# --------------------------------------------------------------------------- (b)
def faust_idiomatic(bootstrap: str, redis_url: str, s: settings_mod.Settings, n: int,
                    timeout: float) -> Result:
    """``bench/faust_idiomatic.py`` as a worker subprocess, until it consumed ``n`` events."""
    app_id = f"{s.topic_prefix}idiom-{uuid.uuid4().hex[:6]}"
    OUT.mkdir(exist_ok=True)
    env = dict(os.environ, BENCH_BOOTSTRAP=bootstrap, BENCH_REDIS=redis_url,
               BENCH_CASE_TOPIC=s.topic(CASE_EVENTS), BENCH_GPS_TOPIC=s.topic(GPS_FIXES),
               BENCH_APP_ID=app_id, BENCH_TARGET=str(n), BENCH_PARTITIONS=str(s.partitions),
               PYTHONPATH=str(ROOT))
    r = redis.Redis.from_url(redis_url)
    logf = open(OUT / "faust_idiomatic.log", "wb")
    t0 = time.time()
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "faust_idiomatic.py"), "worker",
                             "-l", "warn", "--without-web"],
                            env=env, stdout=logf, stderr=subprocess.STDOUT)
    last, last_change = -1, time.time()
    cpu0 = None
    try:
        while True:
            prog = r.hgetall(f"{app_id}:progress")
            if prog and float(prog.get(b"done", 0)):
                cpu = cpu_s(proc.pid)
                break
            consumed = int(prog.get(b"consumed", 0)) if prog else 0
            if consumed and cpu0 is None:
                cpu0 = cpu_s(proc.pid)
            if consumed != last:
                last, last_change = consumed, time.time()
            elif consumed and time.time() - last_change > 60:
                raise RuntimeError(f"faust_idiomatic stalled at {consumed}; see {OUT / 'faust_idiomatic.log'}")
            if proc.poll() is not None:
                raise RuntimeError(f"faust_idiomatic exited {proc.returncode}; see {OUT / 'faust_idiomatic.log'}")
            if time.time() - t0 > timeout:
                raise RuntimeError(f"faust_idiomatic: not done after {timeout:.0f}s: {prog}")
            time.sleep(0.2)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        logf.close()
    first, done = float(prog[b"first"]), float(prog[b"done"])
    return Result(variant="(b) idiomatic Faust+Tables", events=n, total_s=done - t0, join_s=first - t0,
                  cpu_s=cpu - (cpu0 or 0.0))


# --------------------------------------------------------------------------- (c)
class Worker:
    """``python -m gridpulse.cli worker`` (optionally under py-spy) as a child process."""

    def __init__(self, s: settings_mod.Settings, name: str, profile_to: Path | None = None,
                 probe: bool = False, batch_loop: bool = False) -> None:
        OUT.mkdir(exist_ok=True)
        self.log_path = OUT / f"{name}.log"
        cmd = [sys.executable, "-m", "gridpulse.cli", "worker", "--loglevel", "warning"]
        if probe:
            cmd = [sys.executable, str(ROOT / "bench" / "worker_probe.py")]
        if batch_loop:
            cmd = [sys.executable, str(ROOT / "bench" / "worker_probe.py"), "--batch-loop"]
        if profile_to is not None:
            pyspy = Path(sys.executable).with_name("py-spy")
            cmd = [str(pyspy), "record", "--format", "raw", "--rate", "200", "--nonblocking",
                   "-o", str(profile_to), "--"] + cmd
        self.t0 = time.time()
        self.proc = subprocess.Popen(cmd, env=env_of(s), stdout=open(self.log_path, "wb"),
                                     stderr=subprocess.STDOUT, cwd=ROOT)

    def pid(self) -> int:
        """The Python worker's pid (the child of py-spy when profiling)."""
        try:
            kids = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        except OSError:
            kids = []
        return int(kids[0]) if kids else self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            if self.pid() != self.proc.pid:  # py-spy: stop the worker, py-spy writes its file
                os.kill(self.pid(), 15)
            else:
                self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def tail(self) -> str:
        return self.log_path.read_text(errors="replace")[-3000:]


def meta_offsets(r: redis.Redis, keys: Keys, parts: int) -> dict[tuple[str, int], int]:
    pipe = r.pipeline(transaction=False)
    for kind in ("case", "gps"):
        for p in range(parts):
            pipe.hget(keys.meta(kind, p), "offset")
    vals = pipe.execute()
    out, i = {}, 0
    for kind in ("case", "gps"):
        for p in range(parts):
            out[(kind, p)] = -1 if vals[i] is None else int(vals[i])
            i += 1
    return out


def wait_worker(s: settings_mod.Settings, w: Worker, targets: dict[tuple[str, int], int],
                timeout: float, poll: float = 0.02) -> tuple[float, float]:
    """Wait until Redis reflects ``targets`` (kind, partition) -> last offset.

    Returns (first offset seen in Redis, all caught up), both ``time.time()``; the
    worker's CPU seconds when the first offset was seen are left in ``w.cpu_at_first``.
    """
    r = redis.Redis.from_url(s.redis_url)
    keys = Keys(s.redis_prefix)
    first = 0.0
    w.cpu_at_first = 0.0
    while True:
        got = meta_offsets(r, keys, s.partitions)
        now = time.time()
        if not first and any(v >= 0 for v in got.values()):
            first = now
            w.cpu_at_first = cpu_s(w.pid())
        if all(got[k] >= off for k, off in targets.items()):
            return first, now
        if not w.alive():
            raise RuntimeError(f"worker died:\n{w.tail()}")
        if now - w.t0 > timeout:
            raise RuntimeError(f"worker not caught up after {timeout:.0f}s: {got} vs {targets}\n{w.tail()}")
        time.sleep(poll)


async def targets_of(bootstrap: str, s: settings_mod.Settings) -> dict[tuple[str, int], int]:
    """(kind, partition) -> last offset produced (see :data:`PRODUCED`)."""
    return dict(PRODUCED[s.topic_prefix])


def gridpulse_worker(bootstrap: str, s: settings_mod.Settings, n: int, timeout: float,
                     profile_to: Path | None = None, batch_loop: bool = False) -> tuple[Result, int]:
    targets = asyncio.run(targets_of(bootstrap, s))
    name = "batch-loop" if batch_loop else "gridpulse-worker" + ("-profiled" if profile_to else "")
    w = Worker(s, name, profile_to, batch_loop=batch_loop)
    try:
        first, done = wait_worker(s, w, targets, timeout)
        hwm, _ = vm_hwm_kb(w.pid())
        cpu = cpu_s(w.pid())
    finally:
        w.stop()
    label = ("(c) gridpulse worker" if s.worker_feed == "batch"
             else "(c') worker, FEED=stream") + (" [py-spy]" if profile_to else "")
    if batch_loop:
        label = "(d) same processors, aiokafka loop"
    return Result(variant=label, events=n, total_s=done - w.t0, join_s=first - w.t0,
                  cpu_s=cpu - w.cpu_at_first), hwm


def compare_views(redis_url: str, prefix_a: str, prefix_b: str) -> tuple[int, list[str]]:
    """Compare every key under two Redis prefixes (hashes, sets, sorted sets, strings)."""
    r = redis.Redis.from_url(redis_url)

    def dump(prefix: str) -> dict[str, object]:
        out = {}
        for key in r.scan_iter(match=f"{prefix}*", count=1000):
            k = key.decode()[len(prefix):]
            t = r.type(key).decode()
            if t == "hash":
                out[k] = r.hgetall(key)
            elif t == "zset":
                out[k] = r.zrange(key, 0, -1, withscores=True)
            elif t == "set":
                out[k] = r.smembers(key)
            elif t == "string":
                out[k] = r.get(key)
            elif t == "list":
                out[k] = r.lrange(key, 0, -1)
        return out

    a, b = dump(prefix_a), dump(prefix_b)
    diff = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
    for k in diff[:2]:
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            fields = [f for f in va.keys() | vb.keys() if va.get(f) != vb.get(f)]
            log(f"  {k}: {len(va)} vs {len(vb)} fields, {len(fields)} differ, e.g. "
                + "; ".join(f"{f!r}: {va.get(f)!r} vs {vb.get(f)!r}" for f in fields[:2]))
    return len(a.keys() & b.keys()) - len([k for k in diff if k in a and k in b]), diff


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


def memory(bootstrap: str, redis_url: str, cases: int, terminals: int, timeout: float) -> None:
    """Peak RSS of the worker after 100k open cases and 40k terminal positions."""
    s = make_settings(bootstrap, redis_url, f"mem{uuid.uuid4().hex[:6]}.")
    asyncio.run(_setup_topics(bootstrap, s))
    city = load_city("ningbo")
    grids = [g.code for g in city.grids]
    rng = random.Random(SEED)
    t0 = parse_local(START, TZ)
    msgs: list[Msg] = []
    for i in range(cases):
        g = grids[i % len(grids)]
        lon, lat = city.random_point(g, rng)
        ts = t0 + i * 300  # 100k reports spread over ~8 hours
        case = f"C20261127-{i:07d}"
        ev = CaseEvent(id=f"{case}.0", case=case, type="reported", ts=ts, grid=g,
                       category="sanitation", severity=rng.randint(1, 4), lon=round(lon, 6),
                       lat=round(lat, 6), terminal=f"T{i % 13800:05d}", actor=f"W{i % 40000:05d}")
        msgs.append((CASE_EVENTS, case.encode(), encode(ev), ts))
    for i in range(terminals):
        g = grids[i % len(grids)]
        fixes = []
        for j in range(6):
            lon, lat = city.random_point(g, rng)
            fixes.append(Fix(t0 + j * 10_000, round(lon, 6), round(lat, 6), 8.0))
        tid = f"T{i:05d}"
        b = GpsBatch(id=f"{tid}-{t0}", terminal=tid, worker=f"W{i:05d}", grid=g, fixes=fixes)
        msgs.append((GPS_FIXES, tid.encode(), encode(b), t0))
    log(f"\nmemory: {cases:,} 'reported' case events over {len(grids):,} grids + "
        f"GPS batches of {terminals:,} terminals")
    secs = asyncio.run(produce(bootstrap, s, msgs))
    log(f"produced in {secs:.1f}s")
    targets = asyncio.run(targets_of(bootstrap, s))
    w = Worker(s, "gridpulse-worker-memory")
    try:
        first, done = wait_worker(s, w, targets, timeout)
        hwm, rss = vm_hwm_kb(w.pid())
    finally:
        w.stop()
    n = len(msgs)
    log(f"worker caught up in {done - w.t0:.1f}s (join {first - w.t0:.1f}s; "
        f"{n / (done - first):,.0f} events/s excl. join, case-heavy mix)")
    log(f"worker peak RSS (VmHWM): {hwm / 1024:.0f} MiB; RSS at the end {rss / 1024:.0f} MiB")
    r = redis.Redis.from_url(redis_url)
    log(f"Redis used_memory after the run (all runs' keys so far): "
        f"{r.info('memory')['used_memory'] / 2**20:.0f} MiB")


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


# --------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=300_000, help="messages for (a) and (c)")
    ap.add_argument("--baseline-events", type=int, default=20_000,
                    help="prefix of the same topics that (b) consumes (0: skip (b))")
    ap.add_argument("--quick", action="store_true", help="small smoke run of every section")
    ap.add_argument("--memory", action="store_true", help="only the memory section")
    ap.add_argument("--latency", action="store_true", help="only the latency section")
    ap.add_argument("--profile", action="store_true", help="throughput, then (c) again under py-spy")
    ap.add_argument("--parts", action="store_true",
                    help="throughput, then where (c)'s CPU goes (timers) and the same processors "
                         "behind a plain aiokafka batch consumer")
    ap.add_argument("--batch-loop", action="store_true",
                    help="also measure (d): the worker's processors behind a plain aiokafka getmany "
                         "loop in a subprocess (fix 1 of docs/performance.md), in the "
                         "throughput table and the latency section")
    ap.add_argument("--all", action="store_true", help="throughput (+ --parts), memory and latency")
    ap.add_argument("--no-stream", dest="stream", action="store_false",
                    help="skip (c'), the worker with GRIDPULSE_WORKER_FEED=stream")
    ap.add_argument("--cases", type=int, default=100_000, help="memory: open cases")
    ap.add_argument("--terminals", type=int, default=40_000, help="memory: terminals with a position")
    ap.add_argument("--rate", type=float, default=3000.0, help="latency: messages per second")
    ap.add_argument("--duration", type=float, default=30.0, help="latency: seconds of steady load")
    ap.add_argument("--timeout", type=float, default=900.0, help="guard per variant, seconds (not a bound)")
    args = ap.parse_args()
    if args.quick:
        args.events, args.baseline_events = 20_000, 3_000
        args.cases, args.terminals, args.duration = 5_000, 2_000, 5.0
        args.all = True
    only = args.memory or args.latency
    log(f"gridpulse bench/pipeline.py  {dt.datetime.now().isoformat(timespec='seconds')}  "
        f"nproc={os.cpu_count()}  python {sys.version.split()[0]}")
    with EmbeddedKafka() as kafka, EmbeddedRedis() as red:
        log(f"embedded Tansu at {kafka.bootstrap}, redis at {red.url}")
        if not only:
            throughput(kafka.bootstrap, red.url, args.events, args.baseline_events, args.timeout,
                       args.profile, args.parts or args.all, args.batch_loop, args.stream)
        if args.memory or args.all:
            memory(kafka.bootstrap, red.url, args.cases, args.terminals, args.timeout)
        if args.latency or args.all:
            latency(kafka.bootstrap, red.url, args.rate, args.duration, args.timeout)
            if args.batch_loop:
                latency(kafka.bootstrap, red.url, args.rate, args.duration, args.timeout, batch_loop=True)


if __name__ == "__main__":
    main()

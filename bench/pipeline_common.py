"""bench/pipeline.py's shared parts: settings, the simulated message mix, producing it,
the three variants (a) raw ceiling, (b) idiomatic Faust, (c) the gridpulse worker, and
comparing two runs' Redis views."""

from __future__ import annotations

import asyncio
import collections
import os
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
from gridpulse.runtime.broker import free_port  # noqa: E402
from gridpulse.runtime.kafka_tuning import aiokafka_consumer_kwargs  # noqa: E402
from gridpulse.schemas import decode_case, decode_gps, encode  # noqa: E402
from gridpulse.topics import CASE_EVENTS, GPS_FIXES  # noqa: E402



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

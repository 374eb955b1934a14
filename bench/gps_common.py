"""bench/gps.py's shared parts: the seeded GPS log (built once, cached in bench/out),
the processors and their Redis, timers, result rows, the households store, Redis sizes."""

from __future__ import annotations

import collections
import hashlib
import struct
import sys
import time
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


async def warm_copy(r, redis_url: str, warm_prefix: str, prefix: str, bootstrap: str = ""):
    """``(settings, processor)`` under ``prefix``, starting from a copy of the warm-up state
    under ``warm_prefix``, every partition loaded (each variant starts from the same state)."""
    s = make_settings(redis_url, prefix, bootstrap)
    await copy_prefix(r, warm_prefix, s.redis_prefix)
    gps = gps_processor(s, r)
    await preload(gps)
    return s, gps


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


# --------------------------------------------------------------------------- Redis sizes
async def redis_sizes(r, prefix: str) -> dict[str, list[int]]:
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

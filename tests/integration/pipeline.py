"""Helpers for pipeline tests: settings per test, a worker subprocess, waiting for catch-up."""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from gridpulse import settings as settings_mod
from gridpulse.clock import parse_local
from gridpulse.loop.facts import Rules
from gridpulse.schemas import decode_alert
from gridpulse.rkeys import Keys
from gridpulse.runtime.broker import create_topics, free_port
from gridpulse.topics import configs as topic_configs, names
from gridpulse.views import LiveView
from producers.kafka_out import KafkaSink
from producers.simulator import Simulator
from streams.poison import Poison, gps_item
from streams.processor import Record
from tests import oracle

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-output"
TZ = "Asia/Shanghai"


def isolated_settings(bootstrap: str, redis_url: str, prefix: str, **kw) -> settings_mod.Settings:
    """Settings isolating one test: own topics, consumer group and Redis keys."""
    # Clock ticks every second, not every five: the tests wait for them to settle.
    kw = {"clock_tick_s": 1.0, **kw}
    s = settings_mod.load({}, kafka_bootstrap=bootstrap, redis_url=redis_url,
                          topic_prefix=prefix, redis_prefix=prefix.replace(".", ":"),
                          worker_id=f"{prefix}worker", worker_web_port=free_port(), **kw)
    create_topics(bootstrap, list(names(s).values()), s.partitions, configs=topic_configs(s))
    return s


def env_of(s: settings_mod.Settings, **extra: str) -> dict[str, str]:
    """Environment variables that give a child process settings ``s``."""
    env = dict(os.environ)
    for f in settings_mod.FIELDS:
        v = getattr(s, f.name)
        env[f.metadata["env"]] = str(int(v) if isinstance(v, bool) else v)
    env.update(extra)
    return env


class ChildProcess:
    """A ``gridpulse`` command as a child process, its output in test-output/."""

    def __init__(self, s: settings_mod.Settings, name: str, args: list[str], mode: str = "wb",
                 **env: str) -> None:
        OUT.mkdir(exist_ok=True)
        self.log_path = OUT / f"{s.topic_prefix}{name}.log"
        self.proc = subprocess.Popen([sys.executable, "-m", "gridpulse.cli", *args], env=env_of(s, **env),
                                     stdout=open(self.log_path, mode), stderr=subprocess.STDOUT)

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        """SIGKILL: no chance to flush or commit anything."""
        self.proc.kill()
        self.proc.wait()

    def log(self) -> str:
        """What the process printed so far."""
        return self.log_path.read_text(errors="replace")


class WorkerProcess(ChildProcess):
    """``gridpulse worker`` as a child process."""

    def __init__(self, s: settings_mod.Settings, name: str = "worker") -> None:
        super().__init__(s, name, ["worker", "--loglevel", "info"])


async def _last_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    # Tansu 0.6 can answer ListOffsets with a stale end offset (seen: 1 for a partition
    # holding ~2,500 records written in large batches), so read the records themselves.
    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                         enable_auto_commit=False, max_partition_fetch_bytes=8 << 20)
    await c.start()
    last: dict[int, int] = {}
    try:
        while True:
            batch = await c.getmany(timeout_ms=1500, max_records=50_000)
            if not batch:
                return last
            for tp, recs in batch.items():
                last[tp.partition] = max(last.get(tp.partition, -1), recs[-1].offset)
    finally:
        await c.stop()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """Next offset to be written, per partition of ``topic`` (read off the records)."""
    return {p: off + 1 for p, off in asyncio.run(_last_offsets(bootstrap, topic)).items()}


def wait_caught_up(s: settings_mod.Settings, worker: WorkerProcess | None = None,
                   timeout: float = 180.0) -> None:
    """Block until Redis reflects every record now in the case and GPS topics, and the
    clock ticks have brought every case partition to the city clock (after which the
    worker writes no more ticks, so the case log read next is the one Redis reflects).

    The timeout only guards against a hang; it is not a performance bound.
    """
    deadline = time.monotonic() + timeout
    _wait_offsets(s, worker, deadline, ("case", "gps"))
    if s.clock_tick_s > 0:
        _wait_clock(s, worker, deadline)
        _wait_offsets(s, worker, deadline, ("case",))  # the ticks themselves are applied


def _wait_clock(s: settings_mod.Settings, worker: WorkerProcess | None, deadline: float) -> None:
    r = redis.Redis.from_url(s.redis_url)
    keys = Keys(s.redis_prefix)
    while True:
        wms = {int(p): r.hget(keys.meta("case", int(p)), "wm") for p in r.smembers(keys.parts("case"))}
        if len(set(wms.values())) <= 1:
            return
        if worker is not None and not worker.alive():
            raise AssertionError(f"worker died:\n{worker.log()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"case partitions' clocks did not meet: {wms}")
        time.sleep(0.2)


def _wait_reflects(s: settings_mod.Settings, kind: str, log: list, timeout: float = 60.0) -> None:
    """Wait until Redis has applied every record of ``log`` (records read back from Kafka).

    ``wait_caught_up`` learns the topics' ends by reading them, and a loaded broker can
    answer a fetch empty before the end: the oracle's own read may then see records
    Redis has not applied yet. This closes that gap for the records compared.
    """
    r = redis.Redis.from_url(s.redis_url)
    keys = Keys(s.redis_prefix)
    last: dict[int, int] = {}
    for rec in log:
        last[rec.partition] = max(last.get(rec.partition, -1), rec.offset)
    deadline = time.monotonic() + timeout  # a hang guard, not a performance bound
    while True:
        behind = {p: (r.hget(keys.meta(kind, p), "offset"), off) for p, off in last.items()}
        behind = {p: v for p, v in behind.items() if v[0] is None or int(v[0]) < v[1]}
        if not behind:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"Redis does not reflect the log read: {behind}")
        time.sleep(0.2)


def _wait_offsets(s: settings_mod.Settings, worker: WorkerProcess | None, deadline: float,
                  kinds: tuple[str, ...]) -> None:
    r = redis.Redis.from_url(s.redis_url)
    keys = Keys(s.redis_prefix)
    topics = {"case": "case-events", "gps": "gps-fixes"}
    targets = {kind: end_offsets(s.kafka_bootstrap, s.topic(topics[kind])) for kind in kinds}
    while True:
        behind, ahead = [], []
        for kind, ends in targets.items():
            # Redis may also be ahead of the log, views of a log that is gone: a worker
            # deletes them when it notices (streams/recovery.py). Or the log grew since
            # it was read (ticks): read it again then.
            stored = {int(p) for p in r.smembers(keys.parts(kind))} | set(ends)
            for p in stored:
                end = ends.get(p, 0)
                got = r.hget(keys.meta(kind, p), "offset")
                if end == 0 and got is None:
                    continue
                if got is None or int(got) < end - 1:
                    behind.append((kind, p, got, end))
                elif int(got) > end - 1:
                    ahead.append((kind, p, got, end))
        if not behind and not ahead:
            return
        if ahead and not behind:
            time.sleep(1.0)
            targets = {kind: end_offsets(s.kafka_bootstrap, s.topic(topics[kind])) for kind in kinds}
        if worker is not None and not worker.alive():
            raise AssertionError(f"worker died:\n{worker.log()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"worker did not catch up: {behind or ahead}\n"
                                 f"{worker.log()[-3000:] if worker else ''}")
        time.sleep(0.2)


# -- event logs and the oracle comparison (shared by the pipeline, crash and replay tests) --

def _messages(city, minutes: int, terminals: int = 50, seed: int = 11, cases_per_day: int = 6000,
              start: str = "2026-11-27T08:00:00"):
    sim = Simulator(city, seed=seed, start_ms=parse_local(start, TZ), tz=TZ,
                    terminals=terminals, cases_per_day=cases_per_day)
    return sim.advance(sim.now + minutes * 60_000)


def _with_duplicates_and_disorder(msgs, seed=5, max_late_ms: int = 30_000):
    """Re-send 10% of the messages, and deliver 5% of all messages late.

    A late message is moved behind messages up to ``max_late_ms`` of event time newer
    than it: within the worker's allowed lateness (60 s by default), so it must be
    applied as if it had come in order.
    """
    rng = random.Random(seed)
    out = list(msgs) + [m for m in msgs if rng.random() < 0.1]
    out.sort(key=lambda m: m.ts)
    for i in range(len(out) - 1, -1, -1):
        if rng.random() >= 0.05:
            continue
        j = i
        while j + 1 < len(out) and out[j + 1].ts - out[i].ts <= max_late_ms and j - i < 200:
            j += 1
        out.insert(j, out.pop(i))
    return out


async def _send(s, msgs):
    sink = KafkaSink(s.replace(sim_max_events_per_s=0), s.kafka_bootstrap)
    await sink.start()
    try:
        await sink.send(msgs)
    finally:
        await sink.stop()


async def _send_raw(s, items):
    """Send ``(logical topic, key, raw value)`` items one by one, each acknowledged."""
    p = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all")
    await p.start()
    try:
        for topic, key, value in items:
            await p.send_and_wait(s.topic(topic), value, key=key)
    finally:
        await p.stop()


def redis_counters(s, kind: str = "case") -> Counter:
    """Every KPI counter in Redis, summed over the partitions of ``kind`` (case or gps)."""
    r = redis.Redis.from_url(s.redis_url)
    keys = Keys(s.redis_prefix)
    key = keys.kpi if kind == "case" else keys.gkpi
    total: Counter = Counter()
    for p in r.smembers(keys.parts(kind)):
        for k, v in r.hgetall(key(int(p))).items():
            total[k.decode()] += int(v)
    return +total


def redis_gps_counters(s) -> Counter:
    """Every visit counter in Redis, summed over the GPS partitions."""
    return redis_counters(s, "gps")


def case_oracle(s, city):
    """The oracle's counters, alerts and partition clocks of the case log as Kafka holds it
    (once Redis reflects every record of the log read)."""
    log = asyncio.run(_read_topic(s, "case-events"))
    _wait_reflects(s, "case", log)
    rules = Rules.load(s.sla_file, s.holidays_file, s.timezone)
    lateness, ahead = int(s.allowed_lateness_s * 1000), int(s.clock_ahead_s * 1000)
    want, want_alerts = oracle.case_views(city, log, rules, s.partitions, lateness, ahead,
                                          s.case_keep_days * 86_400_000, s.kpi_days)
    return want, want_alerts, oracle.case_watermarks(city, log, s.partitions, ahead)


def _assert_views_equal_oracle(s, city, msgs, alerts: dict | None = None):
    """Every counter, the watermark, the positions (and the alerts, if given) equal the
    oracle's, recomputed from the topics' records (``msgs``: the GPS messages sent)."""
    want, want_alerts, wms = case_oracle(s, city)
    got = redis_counters(s)
    diff = {k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)}
    assert not diff, sorted(diff.items())[:20]
    assert got == want
    view = LiveView.from_url(s.redis_url, s.redis_prefix, TZ)
    assert view.watermarks()["case"] == max(wms.values(), default=0)
    gps = [m.value for m in msgs if m.topic == "gps-fixes"]
    assert view.watermarks()["gps"] == max([f.ts for b in gps for f in b.fixes], default=0)
    k = view.kpis(city.code)
    assert k.open == want[f"open|{city.code}"]  # and the reader adds them up the same way
    from gridpulse.case_list import CaseList
    rows = CaseList(view).rows()  # the case lists agree with the oracle's counters
    for d in city.districts:
        mine = [r for r in rows if r["district"] == d.code]
        assert len(mine) == want.get(f"open|{d.code}", 0), d.code
        assert sum(r["overdue"] for r in mine) == want.get(f"overdue|{d.code}", 0), d.code
    want_pos = oracle.positions(gps)
    got_pos = {p[0]: (p[3], p[1], p[2], p[4], p[5]) for p in view.positions(active_ms=10**12)}
    assert got_pos == want_pos
    if alerts is not None:
        case_alerts = {k: a for k, a in alerts.items() if a.case is not None}
        assert set(case_alerts) == set(want_alerts)
        assert case_alerts == want_alerts
    assert_gps_equal_oracle(s, city, alerts)
    return want, want_alerts


def assert_gps_equal_oracle(s, city, alerts: dict | None = None) -> dict:
    """The visit views in Redis equal the GPS oracle's, recomputed from the topic's records."""
    from gridpulse.visits.day import pack_route
    from gridpulse.clock import day_start_ms
    from streams.wiring import lineages, visit_rules

    rules = visit_rules(s)
    lin = lineages(city)
    recs = []
    ahead = int(s.clock_ahead_s * 1000)
    log = asyncio.run(_read_topic(s, "gps-fixes"))
    _wait_reflects(s, "gps", log)
    for r in log:
        # The worker's checks of the wire decide what is a dead letter (not in the views).
        rec = Record(r.partition, r.offset, r.key, r.value, r.timestamp / 1000)
        try:
            recs.append((r.partition, r.offset, gps_item(rec, lin.__contains__, ahead)))
        except Poison:
            continue
    want = oracle.gps_views(recs, rules, city.households, city.contains, lin.__getitem__,
                            s.kpi_days)
    r = redis.Redis.from_url(s.redis_url)
    keys = Keys(s.redis_prefix)
    got = redis_gps_counters(s)
    diff = {k: (got.get(k), want["counters"].get(k)) for k in set(got) | set(want["counters"])
            if got.get(k) != want["counters"].get(k)}
    assert not diff, sorted(diff.items())[:20]
    for (day, term), route in want["routes"].items():
        assert r.get(keys.route(day, term)) == pack_route(day_start_ms(day, s.timezone), route), (day, term)
    for (day, term), stays in want["stays"].items():
        got_stays = [list(json.loads(x)) for x in r.lrange(keys.visits(day, term), 0, -1)]
        assert got_stays == stays, (day, term)
    for (day, term), summ in want["days"].items():
        assert json.loads(r.hget(keys.wday(day), term)) == summ, (day, term)
    n_routes = sum(1 for _ in r.scan_iter(keys.prefix + "route:*"))
    assert n_routes == len(want["routes"])
    if alerts is not None:
        gps_alerts = {k: a for k, a in alerts.items() if a.case is None and a.kind != "silent_grid"}
        assert gps_alerts == want["alerts"]
    return want


async def _read_topic(s, logical: str, timeout_ms: int = 3000) -> list:
    """Every record now in a topic (reads until a poll comes back empty)."""
    c = AIOKafkaConsumer(s.topic(logical), bootstrap_servers=s.kafka_bootstrap,
                         auto_offset_reset="earliest", enable_auto_commit=False)
    await c.start()
    out = []
    try:
        while True:
            batch = await c.getmany(timeout_ms=timeout_ms)
            if not batch:
                break
            for recs in batch.values():
                out.extend(recs)
    finally:
        await c.stop()
    return out


def read_alerts(s) -> dict:
    """Alerts on the alerts topic, by id (a re-sent alert is the same alert)."""
    out = {}
    for rec in asyncio.run(_read_topic(s, "alerts")):
        a = decode_alert(rec.value)
        assert out.get(a.id, a) == a, f"alert {a.id} sent twice with different content"
        out[a.id] = a
    return out

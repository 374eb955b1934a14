"""Images of the projections: exact round trips through Redis and Kafka, and a rebuild
after a Redis loss that restores the newest image and replays only the log since."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
import redis
import redis.asyncio as aioredis

from gridpulse.city import load_city
from gridpulse.rkeys import Keys
from streams import snapshot_image
from streams.snapshots import SnapshotStore

from .pipeline import (WorkerProcess, _assert_views_equal_oracle, _messages, _send, _with_duplicates_and_disorder,
                       isolated_settings, wait_caught_up)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def city():
    return load_city("ningbo")


def _dump(r: redis.Redis, prefix: str) -> dict:
    """Every key under ``prefix`` (without it) with its content, for comparison."""
    out = {}
    for key in r.scan_iter(match=f"{prefix}*"):
        name, t = key.decode()[len(prefix):], r.type(key).decode()
        if name.startswith(("workers", "deadletters")) or ":meta" in name:
            continue  # the worker's own status, and write times, are not the projection
        out[name] = (r.hgetall(key) if t == "hash" else r.zrange(key, 0, -1, withscores=True)
                     if t == "zset" else r.get(key) if t == "string" else r.smembers(key)
                     if t == "set" else r.lrange(key, 0, -1))
    return out


def _manifests(s) -> dict:
    store = SnapshotStore(s.kafka_bootstrap, s.topic("snapshots"), s.topic("snapshot-manifests"), s.partitions)
    return asyncio.run(store._read_manifests())


def test_an_image_round_trips_through_redis_and_kafka(kafka_bootstrap, redis_url, topic_prefix, city):
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix, snapshot_s=0)
    worker = WorkerProcess(s)
    try:
        asyncio.run(_send(s, _messages(city, minutes=90, terminals=20, cases_per_day=4000)))
        wait_caught_up(s, worker)
    finally:
        worker.stop()
    other = Keys(s.redis_prefix + "copy:")

    async def go():
        r = aioredis.Redis.from_url(redis_url)
        store = SnapshotStore(kafka_bootstrap, s.topic("snapshots"), s.topic("snapshot-manifests"),
                              s.partitions)
        store.manifests = {}
        try:
            for kind in ("case", "gps"):
                for p in range(s.partitions):
                    image = await snapshot_image.take(r, Keys(s.redis_prefix), kind, p, s.timezone, days=2)
                    if image is None:
                        continue
                    m = await store.save(image)
                    back = await store.load(m)
                    assert back == image
                    await snapshot_image.restore(r, other, back)
        finally:
            await store.stop()
            await r.aclose()

    asyncio.run(go())
    r = redis.Redis.from_url(redis_url)
    live = {n: v for n, v in _dump(r, s.redis_prefix).items() if not n.startswith("copy:")}
    live = {n: v for n, v in live.items() if not n.startswith(("alerts:", "silent", "notify"))}
    assert live and _dump(r, other.prefix) == live


def test_after_a_redis_loss_the_newest_snapshot_is_restored_and_only_the_log_since_replayed(
        kafka_bootstrap, redis_url, topic_prefix, city):
    msgs = _messages(city, minutes=4 * 60, terminals=40, cases_per_day=5000, seed=31)
    sent = _with_duplicates_and_disorder(msgs)
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix, snapshot_s=2.0)
    half = len(sent) // 2
    worker = WorkerProcess(s)
    try:
        asyncio.run(_send(s, sent[:half]))
        wait_caught_up(s, worker)
        r = redis.Redis.from_url(redis_url)
        saved = {(kind, p): int(r.hget(Keys(s.redis_prefix).meta(kind, p), "offset"))
                 for kind in ("case", "gps") for p in range(s.partitions)
                 if r.hget(Keys(s.redis_prefix).meta(kind, p), "offset") is not None}
        deadline = time.monotonic() + 120  # a hang guard, not a performance bound
        while True:  # every partition's image is at least as new as the first half
            got = {(m.kind, m.partition): m.offset for m in _manifests(s).values()}
            if all(got.get(k, -1) >= v for k, v in saved.items()):
                break
            assert time.monotonic() < deadline, (got, saved)
            time.sleep(1.0)
        for key in r.scan_iter(match=f"{s.redis_prefix}*"):
            r.delete(key)
        asyncio.run(_send(s, sent[half:]))
        wait_caught_up(s, worker)
        _assert_views_equal_oracle(s, city, msgs)
        log = worker.log()
        assert "restored the snapshot at offset" in log
        # What was read from the log after each restore: at most what came after the image.
        for m in re.finditer(r"(case-events|gps-fixes) partition (\d+): Redis reflects offset (-?\d+)", log):
            assert int(m.group(3)) >= 0, m.group(0)  # never from the log's start
    finally:
        worker.stop()


@pytest.mark.parametrize("scratch", [False, True])
def test_gridpulse_rebuild_switches_in_fresh_views_that_no_screen_sees_half_built(
        kafka_bootstrap, redis_url, topic_prefix, city, scratch):
    import subprocess
    import sys
    import threading

    from gridpulse.views import LiveView

    from .pipeline import TZ, env_of

    msgs = _messages(city, minutes=3 * 60, terminals=30, cases_per_day=5000, seed=41)
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix, snapshot_s=2.0)
    worker = WorkerProcess(s)
    try:
        asyncio.run(_send(s, msgs[: len(msgs) // 2]))
        wait_caught_up(s, worker)
        time.sleep(3)  # a snapshot round, so the rebuild starts from images (unless scratch)
        asyncio.run(_send(s, msgs[len(msgs) // 2:]))
        wait_caught_up(s, worker)
        view = LiveView.from_url(s.redis_url, s.redis_prefix, TZ)
        before = view.kpis(city.code)
        seen, done = [], threading.Event()

        def watch():  # what a screen reads all through the rebuild
            while not done.is_set():
                k = view.kpis(city.code)
                seen.append((k.open, k.new_today, k.closed_today))
                time.sleep(0.02)

        t = threading.Thread(target=watch)
        t.start()
        out = subprocess.run([sys.executable, "-m", "gridpulse.cli", "rebuild",
                              *(["--from-scratch"] if scratch else [])],
                             env=env_of(s), capture_output=True, text=True, timeout=600)
        done.set()
        t.join()
        assert out.returncode == 0, out.stderr[-3000:]
        assert ("from the snapshot at offset" in out.stdout) is not scratch, out.stdout
        assert seen and set(seen) == {(before.open, before.new_today, before.closed_today)}
        wait_caught_up(s, worker)
        _assert_views_equal_oracle(s, city, msgs)
        assert worker.alive()
    finally:
        worker.stop()

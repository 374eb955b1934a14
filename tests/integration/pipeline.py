"""Helpers for pipeline tests: settings per test, a worker subprocess, waiting for catch-up."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import redis
from aiokafka import AIOKafkaConsumer, TopicPartition

from gridpulse import settings as settings_mod
from gridpulse.rkeys import Keys
from gridpulse.runtime.broker import create_topics, free_port
from gridpulse.topics import names

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-output"


def isolated_settings(bootstrap: str, redis_url: str, prefix: str, **kw) -> settings_mod.Settings:
    """Settings isolating one test: own topics, consumer group and Redis keys."""
    s = settings_mod.load({}, kafka_bootstrap=bootstrap, redis_url=redis_url,
                          topic_prefix=prefix, redis_prefix=prefix.replace(".", ":"),
                          worker_id=f"{prefix}worker", worker_web_port=free_port(), **kw)
    create_topics(bootstrap, list(names(s).values()), s.partitions)
    return s


def env_of(s: settings_mod.Settings, **extra: str) -> dict[str, str]:
    """Environment variables that give a child process settings ``s``."""
    env = dict(os.environ)
    for f in settings_mod.FIELDS:
        v = getattr(s, f.name)
        env[f.metadata["env"]] = str(int(v) if isinstance(v, bool) else v)
    env.update(extra)
    return env


class WorkerProcess:
    """``gridpulse worker`` as a child process, its output in test-output/."""

    def __init__(self, s: settings_mod.Settings, name: str = "worker") -> None:
        OUT.mkdir(exist_ok=True)
        self.log_path = OUT / f"{s.topic_prefix}{name}.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gridpulse.cli", "worker", "--loglevel", "info"],
            env=env_of(s), stdout=open(self.log_path, "wb"), stderr=subprocess.STDOUT)

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
        """What the worker printed so far."""
        return self.log_path.read_text(errors="replace")


async def _end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await c.start()
    try:
        parts = c.partitions_for_topic(topic) or set()
        ends = await c.end_offsets([TopicPartition(topic, p) for p in parts])
        return {tp.partition: off for tp, off in ends.items()}
    finally:
        await c.stop()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """Next offset to be written, per partition of ``topic``."""
    return asyncio.run(_end_offsets(bootstrap, topic))


def wait_caught_up(s: settings_mod.Settings, worker: WorkerProcess | None = None,
                   timeout: float = 180.0) -> None:
    """Block until Redis reflects every record now in the case and GPS topics.

    The timeout only guards against a hang; it is not a performance bound.
    """
    r = redis.Redis.from_url(s.redis_url)
    keys = Keys(s.redis_prefix)
    targets = {kind: end_offsets(s.kafka_bootstrap, s.topic(t))
               for kind, t in (("case", "case-events"), ("gps", "gps-fixes"))}
    deadline = time.monotonic() + timeout
    while True:
        behind = []
        for kind, ends in targets.items():
            for p, end in ends.items():
                if end == 0:
                    continue
                got = r.hget(keys.meta(kind, p), "offset")
                if got is None or int(got) < end - 1:
                    behind.append((kind, p, got, end))
        if not behind:
            return
        if worker is not None and not worker.alive():
            raise AssertionError(f"worker died:\n{worker.log()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"worker did not catch up: {behind}\n"
                                 f"{worker.log()[-3000:] if worker else ''}")
        time.sleep(0.2)

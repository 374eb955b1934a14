"""The embedded runtime against real processes: Tansu broker, redis-server, tuned client settings."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time

import pytest
import redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from gridpulse.runtime.broker import (EmbeddedKafka, create_topics, is_embedded_broker,
                                      kafka_reachable)
from gridpulse.runtime.kafka_tuning import (aiokafka_consumer_kwargs, aiokafka_producer_kwargs,
                                            faust_app_settings)
from gridpulse.runtime.redis_server import EmbeddedRedis, redis_reachable


def test_embedded_kafka_starts_and_stops() -> None:
    broker = EmbeddedKafka()
    with broker:
        bootstrap = broker.bootstrap
        assert bootstrap.startswith("127.0.0.1:")
        assert kafka_reachable(bootstrap, timeout=2)
        assert is_embedded_broker(bootstrap)
    assert not broker.running
    assert not kafka_reachable(bootstrap, timeout=0.5)
    broker.stop()  # idempotent


def test_embedded_redis_starts_and_stops() -> None:
    server = EmbeddedRedis()
    with server:
        url = server.url
        assert redis_reachable(url, timeout=2)
        client = redis.Redis.from_url(url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        assert client.config_get("appendonly")["appendonly"] == "no"
        client.close()
    assert not redis_reachable(url, timeout=0.5)


def test_session_fixtures_are_reachable(kafka_bootstrap: str, redis_url: str) -> None:
    assert kafka_reachable(kafka_bootstrap)
    assert redis_reachable(redis_url)


def test_create_topics_with_partitions_is_idempotent(kafka_bootstrap: str, topic_prefix: str) -> None:
    names = [f"{topic_prefix}a", f"{topic_prefix}b"]
    create_topics(kafka_bootstrap, names, 4)
    create_topics(kafka_bootstrap, names, 4)  # existing topics are fine

    async def partitions() -> dict[str, int]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            described = await admin.describe_topics(names)
        finally:
            await admin.close()
        return {d["topic"]: len(d["partitions"]) for d in described}

    assert asyncio.run(partitions()) == {n: 4 for n in names}


async def _join_and_read(bootstrap: str, topic: str, group: str, n: int,
                         consumer_kwargs: dict) -> tuple[list[bytes], float, AIOKafkaConsumer]:
    t0 = time.monotonic()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False, **consumer_kwargs)
    await consumer.start()
    got: list[bytes] = []
    first_at = None
    deadline = time.monotonic() + 60
    while len(got) < n and time.monotonic() < deadline:
        batch = await consumer.getmany(timeout_ms=500)
        for records in batch.values():
            if first_at is None and records:
                first_at = time.monotonic() - t0
            got.extend(r.value for r in records)
    return got, first_at or float("nan"), consumer


def test_produce_acks_all_and_consume_in_group(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}roundtrip"
    create_topics(kafka_bootstrap, [topic], 4)
    values = [f"m{i}".encode() for i in range(20)]

    async def scenario() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap,
                                    **aiokafka_producer_kwargs(idempotent=False))
        await producer.start()
        try:
            for i, v in enumerate(values):
                md = await producer.send_and_wait(topic, v, key=str(i % 7).encode())
                assert md.offset >= 0
        finally:
            await producer.stop()

        group = f"{topic_prefix}group"
        got, first_at, consumer = await _join_and_read(
            kafka_bootstrap, topic, group, len(values), aiokafka_consumer_kwargs(embedded=True))
        try:
            assert sorted(got) == sorted(values)
            assert len(consumer.assignment()) == 4
            await consumer.commit()
        finally:
            await consumer.stop()
        print(f"\ntuned group join -> first message: {first_at:.2f}s")

        # A committed group resumes where it left: nothing new to read.
        again = AIOKafkaConsumer(topic, bootstrap_servers=kafka_bootstrap, group_id=group,
                                 enable_auto_commit=False, **aiokafka_consumer_kwargs(embedded=True))
        await again.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(4)]
            committed = {tp.partition: await again.committed(tp) for tp in tps}
            ends = await again.end_offsets(tps)
            assert committed == {tp.partition: ends[tp] for tp in tps}
        finally:
            await again.stop()

    asyncio.run(scenario())


def test_idempotent_producer_is_refused_by_tansu(kafka_bootstrap: str, topic_prefix: str) -> None:
    """Documents the quirk behind KAFKA_IDEMPOTENT defaulting to off."""
    async def scenario() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, request_timeout_ms=5000,
                                    **aiokafka_producer_kwargs(idempotent=True))
        try:
            await asyncio.wait_for(producer.start(), 20)
            await asyncio.wait_for(producer.send_and_wait(f"{topic_prefix}idem", b"x"), 20)
        finally:
            await producer.stop()

    with pytest.raises(Exception):
        asyncio.run(scenario())


def test_join_latency_default_vs_tuned(kafka_bootstrap: str, topic_prefix: str) -> None:
    """Prints join latency; asserts only that both settings deliver the message."""
    topic = f"{topic_prefix}join"
    create_topics(kafka_bootstrap, [topic], 4)

    async def scenario() -> dict[str, float]:
        producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, **aiokafka_producer_kwargs())
        await producer.start()
        await producer.send_and_wait(topic, b"ping")
        await producer.stop()
        out = {}
        for label, kwargs in (("aiokafka default", {"auto_offset_reset": "earliest"}),
                              ("tuned", aiokafka_consumer_kwargs(embedded=True))):
            got, first_at, consumer = await _join_and_read(
                kafka_bootstrap, topic, f"{topic_prefix}{label.replace(' ', '-')}", 1, kwargs)
            await consumer.stop()
            assert got == [b"ping"]
            out[label] = first_at
        return out

    for label, seconds in asyncio.run(scenario()).items():
        print(f"\njoin -> first message, {label}: {seconds:.2f}s")


def test_faust_settings_are_consistent() -> None:
    for embedded in (True, False):
        conf = faust_app_settings(embedded=embedded, partitions=4)
        assert conf["broker_heartbeat_interval"] * 3 <= conf["broker_session_timeout"]
        assert conf["producer_acks"] == -1
        assert conf["topic_partitions"] == 4
    # A real broker refuses session timeouts below group.min.session.timeout.ms (6 s).
    assert faust_app_settings(embedded=False)["broker_session_timeout"] >= 6


def test_redis_reachable_takes_an_acl_user() -> None:
    """An ACL user and password in the URL, as redis-py takes it (the probe spoke raw RESP
    with the password alone, and refused a working user)."""
    with EmbeddedRedis() as server:
        admin = redis.Redis.from_url(server.url)
        admin.acl_setuser("gridpulse", enabled=True, passwords=["+s3cret"], keys=["*"], commands=["+@all"])
        admin.close()
        port = server.url.rsplit(":", 1)[1].split("/")[0]
        assert redis_reachable(f"redis://gridpulse:s3cret@127.0.0.1:{port}/0", timeout=2)
        assert not redis_reachable(f"redis://gridpulse:wrong@127.0.0.1:{port}/0", timeout=2)
        assert not redis_reachable(f"rediss://127.0.0.1:{port}/0", timeout=2)  # TLS to a plain server: no answer
        assert not redis_reachable("http://127.0.0.1/", timeout=2)


def test_topics_are_created_with_the_configs_the_contract_states(kafka_bootstrap: str, topic_prefix: str) -> None:
    """The compacted topics compact and the alerts are kept their days, on the broker
    itself (described back); an existing topic without them is reported, not changed."""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    from gridpulse import settings as settings_mod
    from gridpulse.topics import configs, names as topic_names

    s = settings_mod.load({}, topic_prefix=f"{topic_prefix}cfg.", alert_days=10)
    want = configs(s)
    assert want[s.topic("silences")] == {"cleanup.policy": "compact"}
    assert want[s.topic("alerts")] == {"retention.ms": str(11 * 86_400_000)}
    legacy = s.topic("notify-log")
    create_topics(kafka_bootstrap, [legacy], 2)  # as gridpulse created it before
    (told,) = create_topics(kafka_bootstrap, list(topic_names(s).values()), 2, configs=want)
    # a real Kafka says 'delete', the development broker leaves it unset
    assert told in (f"topic {legacy}: cleanup.policy is 'delete', gridpulse expects 'compact'",
                    f"topic {legacy}: cleanup.policy is not set (the broker's default), gridpulse expects 'compact'")

    async def described() -> dict[str, dict[str, str]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
        await admin.start()
        try:
            got = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in want])
        finally:
            await admin.close()
        return {res[3]: {e[0]: e[1] for e in res[4]} for r in got for res in r.resources}

    found = asyncio.run(described())
    for topic, cfg in want.items():
        if topic != legacy:
            assert {k: found[topic].get(k) for k in cfg} == cfg, topic


def test_gridpulse_topics_creates_then_checks(kafka_bootstrap: str, topic_prefix: str) -> None:
    env = dict(os.environ, KAFKA_BOOTSTRAP=kafka_bootstrap, GRIDPULSE_TOPIC_PREFIX=f"{topic_prefix}tp.",
               GRIDPULSE_PARTITIONS="3")

    def run(*args: str, **extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "gridpulse.cli", "topics", *args], env={**env, **extra},
                              capture_output=True, text=True, timeout=120)

    made = run()
    assert made.returncode == 0 and "9 topics as expected: 3 partitions" in made.stdout, made.stdout + made.stderr
    assert run("--check").returncode == 0
    other = run("--check", GRIDPULSE_PARTITIONS="4", GRIDPULSE_ALERT_DAYS="30")
    assert other.returncode == 1
    assert f"topic {topic_prefix}tp.alerts: 3 partitions, gridpulse expects 4 (GRIDPULSE_PARTITIONS)" in other.stdout
    assert f"topic {topic_prefix}tp.alerts: retention.ms is '691200000', gridpulse expects '2678400000'" in other.stdout

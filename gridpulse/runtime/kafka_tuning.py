"""Kafka client settings every gridpulse process uses (Faust workers, producers, tests).

Why this module exists: against the embedded Tansu broker a consumer-group join is held
by the broker for about ``ceil(session_timeout_ms / 2000)`` seconds (measured: 60 s session
-> 30 s join, Faust's default; 10 s -> 5 s, aiokafka's default; 2 s -> 1 s). So the session
timeout is the one knob that makes a worker start fast there. A real Kafka broker rejects
session timeouts below its ``group.min.session.timeout.ms`` (6 s by default), so the short
values are dev-only and chosen only for the embedded broker. Details and numbers:
``docs/kafka-dev-broker.md``; measure with ``bench/broker_join.py``.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DEV_SESSION_TIMEOUT_S", "DEV_HEARTBEAT_INTERVAL_S", "DEV_REBALANCE_TIMEOUT_S",
    "PROD_SESSION_TIMEOUT_S", "PROD_HEARTBEAT_INTERVAL_S", "PROD_REBALANCE_TIMEOUT_S",
    "faust_app_settings", "aiokafka_consumer_kwargs", "aiokafka_producer_kwargs",
]

# Dev-only (embedded Tansu). Join wait ~1 s. A member whose event loop stalls longer than
# the session timeout is evicted once another member heartbeats, which triggers a
# rebalance: fine for tests and the demo, too tight for a loaded production worker.
DEV_SESSION_TIMEOUT_S = 2.0
# The heartbeat is also how a member learns that a rebalance started (another worker
# joined or left), so a short interval makes rebalances finish in ~2 s instead of ~8 s.
DEV_HEARTBEAT_INTERVAL_S = 0.5
DEV_REBALANCE_TIMEOUT_S = 10.0

# Real cluster: above the broker's 6 s minimum session timeout, and the usual
# heartbeat = session / 3. Faust's own default session timeout (60 s) makes a crashed
# worker's partitions sit idle for a minute, which a live dashboard cannot afford.
PROD_SESSION_TIMEOUT_S = 10.0
PROD_HEARTBEAT_INTERVAL_S = 3.0
PROD_REBALANCE_TIMEOUT_S = 60.0


def _timeouts(embedded: bool) -> tuple[float, float, float]:
    if embedded:
        return DEV_SESSION_TIMEOUT_S, DEV_HEARTBEAT_INTERVAL_S, DEV_REBALANCE_TIMEOUT_S
    return PROD_SESSION_TIMEOUT_S, PROD_HEARTBEAT_INTERVAL_S, PROD_REBALANCE_TIMEOUT_S


def faust_app_settings(*, embedded: bool, partitions: int = 4,
                       replication_factor: int = 1, stall_s: float = 300.0) -> dict[str, Any]:
    """Keyword arguments for ``faust.App(...)`` (broker, id, store and web settings excluded).

    ``embedded``: True against the embedded Tansu broker (dev-only short group timeouts),
    False against a real cluster. ``partitions`` must equal the partition count of the
    source topics: Faust creates table changelogs and repartition topics with it, and a
    table's changelog must be co-partitioned with the stream that fills it. ``stall_s``:
    after how long Faust's stall detector reports a partition that is not moving
    (``GRIDPULSE_STALL_S``).
    """
    session, heartbeat, rebalance = _timeouts(embedded)
    return {
        "broker_session_timeout": session,
        "broker_heartbeat_interval": heartbeat,
        "broker_rebalance_timeout": rebalance,
        # acks=all: no write is acknowledged before every in-sync replica has it.
        "producer_acks": -1,
        # Transactions (exactly_once) need InitProducerId, which Tansu refuses.
        "processing_guarantee": "at_least_once",
        # Faust < 0.11 waited 3 s here before resuming streams after recovery; pin the
        # current default so an upgrade cannot bring the wait back silently.
        "stream_recovery_delay": 0.0,
        "consumer_auto_offset_reset": "earliest",
        # On stop, commit what is applied and go: do not first wait for the records
        # already fetched to be applied (with Redis away, that wait never ended). The
        # next owner re-reads them from the committed offset; Redis fences repeats.
        "stream_wait_empty": False,
        "stream_processing_timeout": stall_s,
        "broker_commit_livelock_soft_timeout": stall_s,
        "topic_partitions": partitions,
        "topic_replication_factor": replication_factor,
    }


def aiokafka_consumer_kwargs(*, embedded: bool) -> dict[str, Any]:
    """Group-membership keyword arguments for ``aiokafka.AIOKafkaConsumer`` in a consumer group.

    Add ``bootstrap_servers``, ``group_id`` and the topics yourself.
    """
    session, heartbeat, rebalance = _timeouts(embedded)
    return {
        "session_timeout_ms": int(session * 1000),
        "heartbeat_interval_ms": int(heartbeat * 1000),
        "rebalance_timeout_ms": int(rebalance * 1000),
        "auto_offset_reset": "earliest",
    }


def aiokafka_producer_kwargs(idempotent: bool = False) -> dict[str, Any]:
    """Keyword arguments for ``aiokafka.AIOKafkaProducer``: acks=all, idempotence only if asked.

    Pass ``settings.kafka_idempotent`` (env ``KAFKA_IDEMPOTENT``): turn it on for a real
    cluster; the embedded Tansu broker refuses InitProducerId, and an idempotent
    producer then fails in ``start()``.
    """
    return {"acks": "all", "enable_idempotence": bool(idempotent)}

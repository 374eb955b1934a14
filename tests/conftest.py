"""Shared fixtures: one real Kafka (embedded Tansu) and one real redis-server per test session.

Unit tests use neither; the services start only when an integration or end-to-end test
asks for them.

Tests share the broker and Redis, and keep apart by names: each test gets its own
``topic_prefix`` (use it for topics, consumer groups / Faust app ids and Redis keys).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gridpulse.runtime.broker import EmbeddedKafka
from gridpulse.runtime.redis_server import EmbeddedRedis

_HERE = Path(__file__).resolve().parent
_MARKS = {"integration": pytest.mark.integration, "e2e": pytest.mark.e2e}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark tests by folder: ``integration`` and ``e2e`` (select with ``-m``)."""
    for item in items:
        parts = Path(str(item.fspath)).resolve().relative_to(_HERE).parts
        if parts and parts[0] in _MARKS:
            item.add_marker(_MARKS[parts[0]])


@pytest.fixture(scope="session")
def kafka() -> Iterator[EmbeddedKafka]:
    """The session's embedded Kafka broker (``kafka.bootstrap`` is ``"127.0.0.1:PORT"``)."""
    broker = EmbeddedKafka(keep_logs=True)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
def kafka_bootstrap(kafka: EmbeddedKafka) -> str:
    """Bootstrap servers string of the session's broker."""
    return kafka.bootstrap


@pytest.fixture(scope="session")
def embedded_redis() -> Iterator[EmbeddedRedis]:
    """The session's embedded redis-server."""
    server = EmbeddedRedis()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url(embedded_redis: EmbeddedRedis) -> str:
    """URL of the session's redis-server, ``redis://127.0.0.1:PORT/0``."""
    return embedded_redis.url


@pytest.fixture
def topic_prefix() -> str:
    """A prefix unique to this test, e.g. ``"t1a2b3c4d."``."""
    return f"t{uuid.uuid4().hex[:8]}."

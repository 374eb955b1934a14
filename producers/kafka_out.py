"""Send simulator (or replay) messages to Kafka: acks=all, batched, rate-limited."""

from __future__ import annotations

import asyncio
import time
from typing import Iterable

from aiokafka import AIOKafkaProducer

from gridpulse.runtime.kafka_tuning import aiokafka_producer_kwargs
from gridpulse.schemas import encode
from gridpulse.settings import Settings

from .simulator import Message


class RateLimiter:
    """Token bucket: at most ``rate`` messages per second (0: unlimited)."""

    def __init__(self, rate: float, burst_s: float = 0.25) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate * burst_s)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    async def take(self, n: int) -> None:
        """Wait until ``n`` messages may be sent."""
        if self.rate <= 0:
            return
        while True:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= min(n, self.capacity):
                self.tokens -= n
                return
            await asyncio.sleep((min(n, self.capacity) - self.tokens) / self.rate)


def producer_kwargs(settings: Settings) -> dict:
    """aiokafka producer settings: durable writes (acks=all), batched."""
    return dict(aiokafka_producer_kwargs(settings.kafka_idempotent), linger_ms=10,
                max_batch_size=512 * 1024, request_timeout_ms=30_000)


class KafkaSink:
    """Publishes :class:`Message` objects to their topics and waits for the acks."""

    def __init__(self, settings: Settings, bootstrap: str) -> None:
        self.settings = settings
        self.producer = AIOKafkaProducer(bootstrap_servers=bootstrap, **producer_kwargs(settings))
        self.limiter = RateLimiter(settings.sim_max_events_per_s)
        self.sent = 0

    async def start(self) -> None:
        """Connect."""
        await self.producer.start()

    async def stop(self) -> None:
        """Flush and disconnect."""
        await self.producer.stop()

    async def send(self, messages: Iterable[Message], chunk: int = 500) -> None:
        """Send ``messages`` in order (per key) and return once Kafka acknowledged them all."""
        batch: list = []
        topic = self.settings.topic
        for m in messages:
            if len(batch) >= chunk:
                await self._drain(batch)
            await self.limiter.take(1)
            batch.append(await self.producer.send(topic(m.topic), encode(m.value),
                                                  key=m.key.encode(), timestamp_ms=m.ts))
        await self._drain(batch)

    async def _drain(self, futures: list) -> None:
        if futures:
            await asyncio.gather(*futures)
            self.sent += len(futures)
            futures.clear()

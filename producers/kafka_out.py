"""Send simulator (or replay) messages to Kafka: acks=all, in order, through broker outages.

:class:`KafkaSink` sends what it is given in order of partition, one record batch at a
time per partition, and moves on only once the broker acknowledged it. A batch the
broker did not acknowledge (an outage: unreachable, timed out, not the leader) is sent
again, whole, after a backoff with jitter, before anything that came after it in its
partition: so no acknowledged send is lost or overtaken, and the only trace an outage
can leave on a topic is a batch written twice in a row (the broker may have written the
one whose answer was lost), which readers drop as duplicates. The sink gives up only
after ``GRIDPULSE_PRODUCER_MAX_OUTAGE_S`` seconds without an acknowledgement (0: never),
with :class:`ProducerGaveUp` saying how many events it could not send.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, defaultdict
from typing import Iterable

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from gridpulse.outage import KAFKA, Backoff, Outages, Watch, configure, describe, is_outage, outages
from gridpulse.runtime.kafka_tuning import aiokafka_producer_kwargs
from gridpulse.schemas import encode
from gridpulse.settings import Settings

from .simulator import Message

log = logging.getLogger("gridpulse.producer")

#: Longest a request may wait for the broker's answer before it counts as failed (and is
#: retried): an outage is noticed after this long.
REQUEST_TIMEOUT_MS = 30_000
#: Longest a message waits for others to share its request (with a rate limit, messages
#: trickle in; without, ``chunk`` of them fill a request first).
LINGER_S = 0.05


class RateLimiter:
    """Token bucket: at most ``rate`` messages per second (0: unlimited)."""

    def __init__(self, rate: float, burst_s: float = 0.25) -> None:
        self.rate = rate
        self.capacity = max(1.0, rate * burst_s)
        self.tokens = self.capacity
        self.stamp = time.monotonic()

    def _refill(self) -> None:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def would_wait(self, n: int = 1) -> bool:
        """Whether :meth:`take` of ``n`` would have to wait now."""
        if self.rate <= 0:
            return False
        self._refill()
        return self.tokens < min(n, self.capacity)

    async def take(self, n: int) -> None:
        """Wait until ``n`` messages may be sent."""
        if self.rate <= 0:
            return
        while True:
            self._refill()
            if self.tokens >= min(n, self.capacity):
                self.tokens -= n
                return
            await asyncio.sleep((min(n, self.capacity) - self.tokens) / self.rate)


def producer_kwargs(settings: Settings) -> dict:
    """aiokafka producer settings: durable writes (acks=all), batched."""
    return dict(aiokafka_producer_kwargs(settings.kafka_idempotent), linger_ms=10,
                max_batch_size=512 * 1024, request_timeout_ms=REQUEST_TIMEOUT_MS)


class ProducerGaveUp(RuntimeError):
    """The broker acknowledged nothing for longer than the producer's patience.

    ``unsent``: the events this producer had been given and could not send.
    """

    def __init__(self, unsent: int, outage_s: float, cause: BaseException) -> None:
        super().__init__()
        self.unsent, self.outage_s, self.cause = unsent, outage_s, cause

    def __str__(self) -> str:
        return (f"gave up after {self.outage_s:.0f} s without an acknowledgement from Kafka "
                f"({describe(self.cause)}): {self.unsent} events not sent")


#: One record to send: full topic name, key, value, timestamp (ms, None: now).
Item = tuple[str, bytes | None, bytes, int | None]


class KafkaSink:
    """Publishes messages to their topics in order and waits for the acks, through outages.

    ``send`` takes :class:`Message` objects (encoded here); ``add`` + ``flush`` take raw
    records. ``max_outage_s`` overrides ``settings.producer_max_outage_s``.
    """

    def __init__(self, settings: Settings, bootstrap: str, *, max_outage_s: float | None = None,
                 registry: Outages | None = None, name: str = "producer") -> None:
        self.settings = settings
        self.bootstrap = bootstrap
        self.limiter = RateLimiter(settings.sim_max_events_per_s)
        self.max_outage_s = settings.producer_max_outage_s if max_outage_s is None else max_outage_s
        self.registry = registry or outages
        self.registry.describe(KAFKA, bootstrap)
        configure(settings.retry_max_s)
        self.watch = Watch(name, self.registry)
        self.producer: AIOKafkaProducer | None = None
        self.pending: list[Item] = []
        self._oldest = 0.0  # when the oldest pending message was queued (monotonic)
        self.sent = 0
        self.sent_by_topic: Counter[str] = Counter()
        self.batches = 0  # record batches acknowledged
        self.failed_batches = 0  # batches not acknowledged (sent again)
        self._partitioner = DefaultPartitioner()
        self._partitions: dict[str, list[int]] = {}

    # -- connecting -----------------------------------------------------------------
    async def start(self) -> None:
        """Connect, waiting out an outage like a send does (:class:`ProducerGaveUp` if too long)."""
        await self._until_acked(self._connect, lambda: len(self.pending))

    async def _connect(self) -> None:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, **producer_kwargs(self.settings))
        try:
            await producer.start()
        except BaseException:
            await self._close(producer)  # a producer whose start failed cannot be started again
            raise
        self.producer = producer

    @staticmethod
    async def _close(producer: AIOKafkaProducer) -> None:
        try:
            await asyncio.wait_for(producer.stop(), timeout=5)
        except Exception:  # noqa: BLE001 - it is being thrown away
            pass

    async def stop(self) -> None:
        """Disconnect. Call :meth:`flush` first: what is still pending is not sent."""
        if self.producer is not None:
            producer, self.producer = self.producer, None
            await self._close(producer)

    # -- sending --------------------------------------------------------------------
    async def send(self, messages: Iterable[Message], chunk: int = 500) -> None:
        """Send ``messages`` in order (per key) and return once Kafka acknowledged them all.

        What waits is sent when ``chunk`` messages are waiting or the oldest has waited
        :data:`LINGER_S` (the rate limit may be spacing them out).
        """
        msgs = messages if isinstance(messages, list) else list(messages)
        topic = self.settings.topic
        limiter = self.limiter
        for i, m in enumerate(msgs):
            if self.pending and (len(self.pending) >= chunk or time.monotonic() - self._oldest >= LINGER_S):
                try:
                    await self.flush()
                except ProducerGaveUp as gave_up:
                    gave_up.unsent += len(msgs) - i  # never handed to Kafka at all
                    raise
            await limiter.take(1)
            if not self.pending:
                self._oldest = time.monotonic()
            self.pending.append((topic(m.topic), m.key.encode(), encode(m.value), m.ts))
        await self.flush()

    def add(self, topic: str, key: bytes | None, value: bytes, ts_ms: int | None = None) -> None:
        """Queue one record for the next :meth:`flush` (``topic``: the full name)."""
        if not self.pending:
            self._oldest = time.monotonic()
        self.pending.append((topic, key, value, ts_ms))

    async def flush(self) -> None:
        """Send everything queued; return once Kafka acknowledged it all.

        Raises :class:`ProducerGaveUp` after ``max_outage_s`` of outage (nothing was
        lost or reordered up to there: what it counts as unsent was never acknowledged),
        and what is not an outage (a message too large, say) at once.
        """
        if not self.pending:
            return
        items, self.pending = self.pending, []
        queues: dict[tuple[str, int], list[Item]] | None = None

        async def attempt() -> None:
            nonlocal queues
            if self.producer is None:
                await self._connect()
            if queues is None:
                queues = await self._by_partition(items)
            sent = await asyncio.gather(*(self._send_partition(tp, q) for tp, q in queues.items()),
                                        return_exceptions=True)
            errors = [e for e in sent if isinstance(e, BaseException)]
            for tp in [tp for tp, q in queues.items() if not q]:
                del queues[tp]
            if errors:
                bugs = [e for e in errors if not is_outage(e)]
                raise bugs[0] if bugs else errors[0]

        def unsent() -> int:
            left = len(items) if queues is None else sum(len(q) for q in queues.values())
            return left + len(self.pending)

        await self._until_acked(attempt, unsent)

    async def _until_acked(self, attempt, unsent) -> None:
        """Run ``attempt`` until it succeeds; outages are waited out up to ``max_outage_s``."""
        backoff = Backoff()
        first_failure: float | None = None
        while True:
            began = time.monotonic()
            try:
                await attempt()
            except Exception as exc:
                if not is_outage(exc):
                    raise
                first_failure = began if first_failure is None else first_failure
                waited = time.monotonic() - first_failure
                if self.max_outage_s and waited >= self.max_outage_s:
                    raise ProducerGaveUp(unsent(), waited, exc) from exc
                self.watch.failed(exc, at=began)
                delay = backoff.next_delay()
                if self.max_outage_s:
                    delay = min(delay, max(0.0, first_failure + self.max_outage_s - time.monotonic()))
                log.debug("send failed (%s); %d events waiting; retrying in %.1f s",
                          describe(exc), unsent(), delay)
                await asyncio.sleep(delay)
                continue
            self.watch.succeeded()
            return

    async def _by_partition(self, items: list[Item]) -> dict[tuple[str, int], list[Item]]:
        """``items`` grouped by the partition the default partitioner gives their key, in order."""
        out: dict[tuple[str, int], list[Item]] = defaultdict(list)
        for item in items:
            topic, key = item[0], item[1]
            parts = self._partitions.get(topic)
            if parts is None:
                assert self.producer is not None
                parts = self._partitions[topic] = sorted(await self.producer.partitions_for(topic))
            out[(topic, self._partitioner(key, parts, parts))].append(item)
        return out

    async def _send_partition(self, tp: tuple[str, int], queue: list[Item]) -> None:
        """Send ``queue`` to one partition, a batch at a time, removing what was acknowledged."""
        assert self.producer is not None
        topic, partition = tp
        while queue:
            batch = self.producer.create_batch()
            n = 0
            for _, key, value, ts in queue:
                if batch.append(key=key, value=value, timestamp=ts) is None:
                    break  # full; the rest goes in the next batch
                n += 1
            batch.close()
            try:
                await (await self.producer.send_batch(batch, topic, partition=partition))
            except BaseException:
                self.failed_batches += 1
                raise
            del queue[:n]
            self.sent += n
            self.sent_by_topic[topic] += n
            self.batches += 1

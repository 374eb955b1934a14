"""Retrying a batch while Redis or Kafka is away: the one place that tells faults apart.

A record's own fault never reaches here (the processors dead-letter it). What does is
either an outage (Redis or the broker unreachable, slow, loading, read-only, out of
memory) or a bug. An outage is waited out with capped exponential backoff, the batch
re-applied from what Redis holds once it is back; a bug stops the worker, because a
process that looks alive and does nothing is worse than one that is restarted.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

import socket

from aiokafka import errors as kafka
from redis import exceptions as redis

log = logging.getLogger(__name__)

#: Exceptions that say a dependency is away or busy, not that the batch or the code is
#: wrong. Narrow on purpose: a Redis WRONGTYPE or a Kafka "message too large" is a bug
#: or a misconfiguration, and retrying it forever would hide it.
OUTAGES: tuple[type[BaseException], ...] = (
    redis.ConnectionError, redis.TimeoutError, redis.ReadOnlyError, redis.OutOfMemoryError,
    redis.MasterDownError, redis.TryAgainError, redis.ClusterDownError,
    kafka.KafkaConnectionError, kafka.KafkaTimeoutError, kafka.RequestTimedOutError,
    ConnectionError, TimeoutError, socket.gaierror)
#: Redis replies that mean "not now" rather than "never".
_BUSY_REPLIES = ("LOADING", "OOM", "MASTERDOWN", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "READONLY",
                 "NOREPLICAS")


def is_outage(exc: BaseException | None) -> bool:
    """Whether ``exc``, or the error it was raised from, is a dependency's fault."""
    for _ in range(5):
        if exc is None:
            return False
        if isinstance(exc, OUTAGES):
            return True
        if isinstance(exc, kafka.KafkaError) and exc.retriable:
            return True
        if isinstance(exc, redis.ResponseError) and str(exc).startswith(_BUSY_REPLIES):
            return True
        exc = exc.__cause__  # what a wrapper (Faust's ProducerSendError) was raised from
    return False


class Backoff:
    """Capped exponential delays: ``first``, twice that, ... up to ``cap`` seconds."""

    def __init__(self, first: float = 0.5, cap: float = 30.0) -> None:
        self.first, self.cap = first, cap
        self.failures = 0

    def next_delay(self) -> float:
        """The delay before the next attempt (and count one more failure)."""
        delay = min(self.cap, self.first * 2 ** self.failures)
        self.failures += 1
        return delay

    def reset(self) -> None:
        """A success: start from ``first`` again."""
        self.failures = 0


async def until_done(name: str, attempt: Callable[[], Awaitable[None]], backoff: Backoff,
                     on_outage: Callable[[], None] | None = None) -> None:
    """Run ``attempt`` until it succeeds, waiting out outages; re-raise anything else.

    ``on_outage`` runs after each failed attempt (the worker drops the processors'
    in-memory state there, so the next attempt starts from Redis).
    """
    while True:
        try:
            await attempt()
        except Exception as exc:
            if not is_outage(exc):
                raise
            if on_outage is not None:
                on_outage()
            delay = backoff.next_delay()
            # One line per attempt, not a stack dump: an outage is expected, and its
            # cause is in the message.
            log.warning("%s: %s: %s; retrying in %.1f s (attempt %d)", name,
                        type(exc).__name__, exc, delay, backoff.failures)
            await asyncio.sleep(delay)
            continue
        if backoff.failures:
            log.warning("%s: recovered after %d failed attempts", name, backoff.failures)
            backoff.reset()
        return

"""Retrying a batch while Redis or Kafka is away: the worker's side of :mod:`gridpulse.outage`.

A record's own fault never reaches here (the processors dead-letter it). What does is
either an outage (Redis or the broker unreachable, slow, loading, read-only, out of
memory) or a bug. An outage is waited out with capped exponential backoff and jitter,
the batch re-applied from what Redis holds once it is back; a bug stops the worker,
because a process that looks alive and does nothing is worse than one that is restarted.

Each retrying loop is an observer of :data:`gridpulse.outage.outages`: the outage is
logged once when it starts and once when it ends, whichever loops see it; the attempts
in between are DEBUG lines.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Awaitable, Callable

from gridpulse.outage import OUTAGES, Backoff, Watch, describe, is_outage

__all__ = ["OUTAGES", "Backoff", "is_outage", "until_done", "skip_outage", "worker_stopping"]

log = logging.getLogger(__name__)

_stopping = False


def worker_stopping() -> None:
    """The worker began to stop: what fails from now on is the stop's doing (Faust stops
    its producer while the loops still run), not a bug. A loop then ends quietly; its
    records are read again by the partitions' next owner."""
    global _stopping
    _stopping = True


async def until_done(name: str, attempt: Callable[[], Awaitable[None]], backoff: Backoff,
                     on_outage: Callable[[], None] | None = None) -> None:
    """Run ``attempt`` until it succeeds, waiting out outages; re-raise anything else.

    ``on_outage`` runs after each failed attempt (to drop in-memory state, so that the
    next attempt starts from Redis).
    """
    watch = Watch(name)
    while True:
        began = time.monotonic()
        try:
            await attempt()
        except Exception as exc:
            if _stopping:
                log.info("%s: left unfinished, the worker is stopping (%s)", name, describe(exc))
                raise asyncio.CancelledError() from exc
            if not is_outage(exc):
                raise
            if on_outage is not None:
                on_outage()
            watch.failed(exc, at=began)
            delay = backoff.next_delay()
            log.debug("%s: %s; retrying in %.1f s (attempt %d)", name, describe(exc), delay,
                      backoff.failures)
            await asyncio.sleep(delay)
            continue
        backoff.reset()
        watch.succeeded()
        return


_periodic: dict[str, Watch] = {}


async def skip_outage(name: str, job: Callable[[], Awaitable[None]]) -> None:
    """Run a periodic ``job``; an outage skips this round (the next one retries)."""
    watch = _periodic.setdefault(name, Watch(name))
    try:
        await job()
    except Exception as exc:
        if _stopping:
            return
        if not is_outage(exc):
            raise
        watch.failed(exc)
        log.debug("%s skipped: %s", name, describe(exc))
        return
    watch.succeeded()

"""Outages of Redis and Kafka: told apart from bugs, waited out with backoff, logged once.

A dependency that is unreachable, slow, loading or read-only is having an outage. Every
gridpulse process waits it out (capped exponential backoff with jitter) instead of
exiting, and keeps its place. Anything else (a Redis WRONGTYPE, a Kafka "message too
large") is a bug or a misconfiguration and is raised: retrying it forever would hide it.

What an outage logs: one ERROR line when it starts (what is unreachable, since when, the
first error seen) and one ERROR line when it ends (how long it lasted), so that every
outage shows up, with its length, to an operator who reads only the ERROR lines. Each
retry in between is a DEBUG line; a WARNING says once a minute that it is still going on.

Several loops of one process may see the same outage (the worker's batch pumps, its
timers, a health probe). Each is an *observer*: :meth:`Dependency.failed` when an
attempt of its own failed, :meth:`Dependency.ok` when one succeeded. The outage starts
when the first observer fails and ends when none is failing any more, so the lines come
once per outage, not once per loop.
"""

from __future__ import annotations

import logging
import random
import socket
import threading
import time
from typing import Callable

log = logging.getLogger("gridpulse.outage")

REDIS, KAFKA = "Redis", "Kafka"
#: Name of an outage whose exception does not say which dependency it came from.
UNKNOWN = "a dependency"


def _outage_types() -> tuple[tuple[type[BaseException], ...], tuple[type[BaseException], ...]]:
    """(exceptions that are outages, Kafka error base classes whose ``retriable`` decides)."""
    from aiokafka import errors as aiokafka_errors
    from redis import exceptions as redis_errors

    types: list[type[BaseException]] = [
        redis_errors.ConnectionError, redis_errors.TimeoutError, redis_errors.ReadOnlyError,
        redis_errors.OutOfMemoryError, redis_errors.MasterDownError, redis_errors.TryAgainError,
        redis_errors.ClusterDownError, redis_errors.BusyLoadingError,
        aiokafka_errors.KafkaConnectionError, aiokafka_errors.KafkaTimeoutError,
        aiokafka_errors.RequestTimedOutError, aiokafka_errors.NodeNotReadyError,
        ConnectionError, TimeoutError, socket.gaierror]
    kafka_bases: list[type[BaseException]] = [aiokafka_errors.KafkaError]
    try:  # kafka-python: only the dashboard's acknowledgement producer uses it
        from kafka import errors as kafka_errors
    except ImportError:  # pragma: no cover - a declared dependency
        pass
    else:
        names = ("KafkaConnectionError", "KafkaTimeoutError", "NoBrokersAvailable", "NodeNotReadyError",
                 "RequestTimedOutError")  # NoBrokersAvailable: kafka-python < 3 only
        types += [getattr(kafka_errors, n) for n in names if hasattr(kafka_errors, n)]
        kafka_bases.append(kafka_errors.KafkaError)
    return tuple(types), tuple(kafka_bases)


#: Exceptions that say a dependency is away or busy, not that the data or the code is
#: wrong. Narrow on purpose (see the module's docstring).
OUTAGES, _KAFKA_ERRORS = _outage_types()
#: Redis replies that mean "not now" rather than "never".
_BUSY_REPLIES = ("LOADING", "OOM", "MASTERDOWN", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "READONLY",
                 "NOREPLICAS")


def _chain(exc: BaseException | None, depth: int = 5):
    """``exc`` and the errors it was raised from (``__cause__``), at most ``depth``."""
    for _ in range(depth):
        if exc is None:
            return
        yield exc
        exc = exc.__cause__  # what a wrapper (Faust's ProducerSendError) was raised from


def is_outage(exc: BaseException | None) -> bool:
    """Whether ``exc``, or the error it was raised from, is a dependency's fault."""
    from redis.exceptions import ResponseError

    for e in _chain(exc):
        if isinstance(e, OUTAGES):
            return True
        if isinstance(e, _KAFKA_ERRORS) and getattr(e, "retriable", False):
            return True
        if isinstance(e, ResponseError) and str(e).startswith(_BUSY_REPLIES):
            return True
    return False


def dependency_of(exc: BaseException | None) -> str:
    """Which dependency an outage error comes from: :data:`REDIS`, :data:`KAFKA` or :data:`UNKNOWN`.

    Told by the library that raised it (or what it was raised from / during).
    """
    seen = 0
    while exc is not None and seen < 8:
        module = type(exc).__module__
        if module.startswith("redis"):
            return REDIS
        if module.startswith(("aiokafka", "kafka", "faust")):
            return KAFKA
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return UNKNOWN


def describe(exc: BaseException | str) -> str:
    """One line naming an error: ``TimeoutError: Timeout reading from 127.0.0.1:6379``."""
    if isinstance(exc, str):
        return exc
    text = str(exc).strip().replace("\n", " ")
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Backoff:
    """Capped exponential delays with jitter: about ``first``, twice that, ... up to ``cap`` s.

    Each delay is drawn from ``[d * (1 - jitter), d]`` for the exponential ``d``, so that
    many clients cut off by the same outage do not all retry in the same instant.
    """

    #: The cap of a Backoff made without one: the process's ``GRIDPULSE_RETRY_MAX_S``
    #: (set once at start, :func:`configure`).
    default_cap = 10.0

    def __init__(self, first: float = 0.5, cap: float | None = None, jitter: float = 0.5,
                 rng: Callable[[], float] = random.random) -> None:
        if not 0 <= jitter <= 1:
            raise ValueError("jitter must be within [0, 1]")
        cap = self.default_cap if cap is None else cap
        self.first, self.cap, self.jitter, self.rng = first, max(cap, first), jitter, rng
        self.failures = 0

    def next_delay(self) -> float:
        """The delay before the next attempt (and count one more failure)."""
        full = min(self.cap, self.first * 2 ** min(self.failures, 62))
        self.failures += 1
        return full * (1 - self.jitter * self.rng())

    def reset(self) -> None:
        """A success: start from ``first`` again."""
        self.failures = 0


def configure(retry_max_s: float) -> None:
    """Set this process's longest wait between two retries (``GRIDPULSE_RETRY_MAX_S``)."""
    Backoff.default_cap = retry_max_s


def _clock_text(wall: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(wall))


class Dependency:
    """One dependency's outage state in this process, shared by every loop that uses it.

    Thread-safe: the worker's health probe runs in a thread of its own.
    """

    def __init__(self, name: str, registry: "Outages") -> None:
        self.name = name
        self.label = name  # "Redis at redis://127.0.0.1:6379/0" once described
        self._reg = registry
        self._lock = threading.Lock()
        self._failing: dict[str, str] = {}  # observer -> the first error it saw
        self.since: float | None = None  # monotonic start of the current outage
        self.since_wall: float | None = None
        self.first_error = ""
        self.ended_at: float | None = None  # monotonic end of the last outage
        self.count = 0  # outages so far
        self._reminded = 0.0
        # Failed attempts a client library reported on its own (its internal retries):
        # counted for the health probe, which decides whether they are an outage.
        self.hints = 0
        self.first_hint = ""
        self.first_hint_at: float | None = None

    @property
    def down(self) -> bool:
        """Whether an outage is going on."""
        return self.since is not None

    def failed(self, observer: str, error: BaseException | str, at: float | None = None) -> None:
        """``observer``'s attempt failed with ``error`` (an outage); ``at``: when (monotonic)
        the failure began, if earlier than now (a probe that waited for its answer)."""
        now = self._reg.clock()
        detail = describe(error)
        start = remind = False
        with self._lock:
            self._failing.setdefault(observer, detail)
            if self.since is None:
                at = now if at is None else min(at, now)
                self.since, self.since_wall = at, self._reg.wall() - (now - at)
                self.first_error, self.count, self._reminded = f"{observer}: {detail}", self.count + 1, now
                start = True
            elif now - self._reminded >= self._reg.remind_s:
                self._reminded, remind = now, True
            since, since_wall = self.since, self.since_wall
        if start:
            self._reg.log.error("outage: %s unavailable since %s (%s); waiting it out, retrying with backoff",
                                self.label, _clock_text(since_wall), self.first_error)
        elif remind:
            self._reg.log.warning("outage: %s still unavailable after %.0f s (since %s; %s: %s)",
                                  self.label, now - since, _clock_text(since_wall), observer, detail)
        else:
            self._reg.log.debug("%s: %s unavailable: %s", observer, self.label, detail)

    def ok(self, observer: str) -> None:
        """``observer``'s attempt succeeded: it no longer sees an outage."""
        with self._lock:
            if self._failing.pop(observer, None) is None or self._failing or self.since is None:
                return
            now = self._reg.clock()
            since, since_wall = self.since, self.since_wall
            self.since = self.since_wall = None
            self.ended_at = now
        self._reg.log.error("outage over: %s available again after %.1f s (unavailable since %s)",
                            self.label, now - since, _clock_text(since_wall))

    def hint(self, detail: str) -> None:
        """A client library reported a failed attempt of its own (see :mod:`gridpulse.logtriage`)."""
        with self._lock:
            if not self.hints:
                self.first_hint, self.first_hint_at = detail, self._reg.clock()
            self.hints += 1

    def take_hints(self) -> tuple[int, str, float | None]:
        """The hints since the last call: (count, the first one, when it came)."""
        with self._lock:
            got = self.hints, self.first_hint, self.first_hint_at
            self.hints, self.first_hint, self.first_hint_at = 0, "", None
        return got

    def recently(self, within_s: float) -> bool:
        """Down now, or an outage ended less than ``within_s`` seconds ago."""
        return self.down or (self.ended_at is not None and self._reg.clock() - self.ended_at < within_s)


#: Observer name of the worker's health probe (streams/supervision.py).
PROBE = "health probe"
#: Observer name of failures only a client library reported (see Dependency.hint).
CLIENT = "client library"


class Outages:
    """The outage state of every dependency of one process."""

    def __init__(self, logger: logging.Logger | None = None, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, remind_s: float = 60.0) -> None:
        self.log = logger or log
        self.clock, self.wall, self.remind_s = clock, wall, remind_s
        self._deps: dict[str, Dependency] = {}
        self._lock = threading.Lock()

    def dependency(self, name: str) -> Dependency:
        """The state of dependency ``name`` (created on first use)."""
        with self._lock:
            dep = self._deps.get(name)
            if dep is None:
                dep = self._deps[name] = Dependency(name, self)
            return dep

    def describe(self, name: str, where: str) -> None:
        """Name where ``name`` is, for the log lines: ``describe(REDIS, masked_url)``."""
        self.dependency(name).label = f"{name} at {where}"

    def failed(self, observer: str, exc: BaseException, at: float | None = None) -> Dependency:
        """Record an outage error ``exc`` seen by ``observer`` (in an attempt begun at ``at``,
        monotonic); returns its dependency."""
        dep = self.dependency(dependency_of(exc))
        dep.failed(observer, exc, at)
        return dep

    def any_down(self, within_s: float = 0.0) -> bool:
        """Whether some dependency is down (or was, less than ``within_s`` seconds ago)."""
        with self._lock:
            deps = list(self._deps.values())
        return any(d.recently(within_s) for d in deps)


#: This process's outages.
outages = Outages()


class Watch:
    """One retrying loop as an observer: the dependencies it saw failing since its last success."""

    def __init__(self, name: str, registry: Outages | None = None) -> None:
        self.name = name
        self.registry = registry or outages
        self.seen: set[str] = set()

    def failed(self, exc: BaseException, at: float | None = None) -> Dependency:
        """An attempt (begun at ``at``, monotonic, if known) failed with outage error ``exc``."""
        dep = self.registry.failed(self.name, exc, at)
        self.seen.add(dep.name)
        return dep

    def succeeded(self) -> None:
        """An attempt succeeded: the dependencies it had seen failing work for it again."""
        for name in self.seen:
            self.registry.dependency(name).ok(self.name)
        self.seen.clear()

"""The worker process around the Faust app: stops in seconds, reports outages honestly.

- :class:`StopDeadline`: once SIGTERM or Ctrl-C asked the worker to stop (or it is
  shutting down after a crash), the process ends within ``GRIDPULSE_STOP_GRACE_S``
  seconds even if the clean stop hangs on an unreachable broker (Faust waits for its
  last commit) or Redis. Ending there loses nothing: Kafka's committed offsets lag
  behind what Redis reflects, the next owner of the partitions re-reads from them and
  the fenced writes skip what Redis already holds, exactly as after a SIGKILL.
- :class:`DependencyProbe`: a thread asking Redis (PING) and the broker (Metadata) every
  few seconds whether they answer. A stopped or partitioned broker makes no client
  raise anything for a minute or more (requests just wait), so without it a Kafka
  outage went unreported; its answers start and end outages in
  :data:`gridpulse.outage.outages` like the retrying loops' failures do.
- :func:`note_taken`: tells Faust's stall detector that records were taken. The batch
  feed hands records to the processors without Faust's streams, so the detector saw
  none and logged every partition with a backlog as "Stream has not started
  processing" (an ERROR with a page of explanation, every few seconds). With it, the
  detector reports what it should: a partition the worker stopped taking records from.
- :func:`prepare`: wires these and :mod:`gridpulse.logtriage` into a ``faust.Worker``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Callable

from gridpulse import logtriage
from gridpulse.outage import CLIENT, KAFKA, PROBE, REDIS, Outages, configure, outages
from gridpulse.redact import mask_url
from gridpulse.runtime.broker import kafka_reachable

from .retry import worker_stopping

log = logging.getLogger("gridpulse.worker")

__all__ = ["StopDeadline", "DependencyProbe", "note_taken", "prepare"]


def note_taken(app: Any, messages: list) -> None:
    """Record, for Faust's stall detector, that ``messages`` were taken from their partitions."""
    if not messages:
        return
    inbound = app.monitor.stream_inbound_time
    now = time.monotonic()
    for tp in {m.tp for m in messages}:
        inbound[tp] = now


class StopDeadline:
    """Ends the process ``grace_s`` seconds after a stop began, if the clean stop has not.

    A second SIGTERM or Ctrl-C ends it at once.
    """

    def __init__(self, grace_s: float, exit_code: Callable[[], int] = lambda: 0,
                 exit: Callable[[int], None] = os._exit) -> None:
        self.grace_s = grace_s
        self.exit_code = exit_code
        self._exit = exit
        self._lock = threading.Lock()
        self.armed_at: float | None = None

    def arm(self, why: str, signalled: bool = False) -> None:
        """A stop began (``signalled``: by a signal); start counting (again: exit now)."""
        with self._lock:
            first = self.armed_at is None
            if first:
                self.armed_at = time.monotonic()
        if first:
            threading.Thread(target=self._wait, args=(why,), name="stop-deadline", daemon=True).start()
        elif signalled:
            self._end(f"{why} again")

    def _wait(self, why: str) -> None:
        time.sleep(self.grace_s)
        self._end(f"{why}; not stopped cleanly within {self.grace_s:g} s "
                  "(GRIDPULSE_STOP_GRACE_S)")

    def _end(self, why: str) -> None:
        log.warning("exiting now: %s. Nothing is lost: the partitions are re-read from the last "
                    "committed offsets and Redis skips what it already reflects", why)
        for h in logging.getLogger().handlers:
            try:
                h.flush()
            except Exception:  # noqa: BLE001 - exiting regardless
                pass
        self._exit(self.exit_code())


def _redis_check(url: str) -> Callable[[float], bool]:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    clients: dict[float, Any] = {}

    def check(timeout: float) -> bool:
        client = clients.get(timeout)
        if client is None:
            # Our own retries (the probe's next round), not the client's: one try per round.
            client = clients[timeout] = redis.Redis.from_url(
                url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))
        return bool(client.ping())

    return check


def _kafka_check(bootstrap: str) -> Callable[[float], bool]:
    return lambda timeout: kafka_reachable(bootstrap, timeout=timeout)


class DependencyProbe(threading.Thread):
    """Asks each dependency every ``interval`` seconds whether it answers (a daemon thread).

    ``misses`` unanswered probes in a row start an outage (dated from the first of them);
    one answer ends the probe's part of it. Client-library hints (see
    :mod:`gridpulse.logtriage`) that go on for ``hint_rounds`` rounds while the
    dependency answers are reported as an outage too: the clients cannot use what the
    probe reaches (an advertised listener they cannot connect to, say).
    """

    def __init__(self, checks: dict[str, Callable[[float], bool]], registry: Outages | None = None,
                 interval: float = 2.0, timeout: float = 3.0, misses: int = 2, hint_rounds: int = 3) -> None:
        super().__init__(name="dependency-probe", daemon=True)
        self.checks = checks
        self.registry = registry or outages
        self.interval, self.timeout, self.misses, self.hint_rounds = interval, timeout, misses, hint_rounds
        self._missed: dict[str, list[float]] = {name: [] for name in checks}
        self._hinted: dict[str, list[tuple[float, str]]] = {name: [] for name in checks}
        self._stop = threading.Event()

    def run(self) -> None:
        """Probe every ``interval`` seconds until stopped."""
        while not self._stop.wait(self.interval):
            self.check_once()

    def stop(self) -> None:
        """Stop after the current round."""
        self._stop.set()

    def check_once(self) -> None:
        """One round: probe every dependency, then judge the hints of its clients."""
        for name, check in self.checks.items():
            dep = self.registry.dependency(name)
            began = self.registry.clock()
            try:
                answered = check(self.timeout)
                problem = ""
            except Exception as exc:  # noqa: BLE001 - any failure to answer is an answer
                answered, problem = False, f": {type(exc).__name__}: {exc}"
            missed = self._missed[name]
            if answered:
                missed.clear()
                dep.ok(PROBE)
            else:
                missed.append(began)
                if len(missed) >= self.misses:
                    dep.failed(PROBE, f"no answer to a probe within {self.timeout:g} s{problem}",
                               at=missed[0])
            count, first, first_at = dep.take_hints()
            hinted = self._hinted[name]
            if count and answered:
                hinted.append((first_at if first_at is not None else began, first))
                if len(hinted) >= self.hint_rounds:
                    dep.failed(CLIENT, f"its clients keep failing although it answers probes; "
                                       f"first: {hinted[0][1]}", at=hinted[0][0])
            else:
                hinted.clear()
                if not count:
                    dep.ok(CLIENT)


def prepare(worker: Any, app: Any, settings: Any, bootstrap: str, redis_url: str,
            registry: Outages | None = None) -> DependencyProbe:
    """Give ``worker`` (a ``faust.Worker`` about to run ``app``) a stop deadline, the
    dependency probe and the log triage; returns the probe (started with the worker)."""
    registry = registry or outages
    configure(settings.retry_max_s)
    registry.describe(REDIS, mask_url(redis_url))
    registry.describe(KAFKA, bootstrap)

    def exit_code() -> int:
        crashed = getattr(worker, "crash_reason", None) or getattr(app, "crash_reason", None)
        return 1 if crashed else 0

    deadline = StopDeadline(settings.stop_grace_s, exit_code)

    # mode.Worker installs these as the loop's signal handlers when it starts, so
    # wrapping them on the instance puts the deadline in front of Faust's own stop.
    for attr, what in (("_on_sigterm", "SIGTERM"), ("_on_sigint", "SIGINT")):
        handler = getattr(worker, attr, None)
        if handler is not None:
            def on_signal(handler=handler, what=what) -> None:
                deadline.arm(f"{what} received", signalled=True)
                worker_stopping()
                handler()
            setattr(worker, attr, on_signal)
    shutdown = getattr(worker, "on_worker_shutdown", None)
    if shutdown is not None:
        def on_shutdown() -> None:  # every way out (a crash too) passes here
            deadline.arm("shutting down")
            worker_stopping()
            shutdown()
        worker.on_worker_shutdown = on_shutdown
    probe = DependencyProbe({REDIS: _redis_check(redis_url), KAFKA: _kafka_check(bootstrap)}, registry)
    setup_logger = getattr(worker, "on_setup_root_logger", None)
    if setup_logger is not None:
        def on_setup_root_logger(logger, level) -> None:
            # Called as the worker starts, once Faust made its log handlers: the
            # triage goes on them, and the probe's lines go through them.
            setup_logger(logger, level)
            logtriage.install(registry)
            if not probe.is_alive():
                probe.start()
        worker.on_setup_root_logger = on_setup_root_logger
    logtriage.install(registry)
    return probe

"""`gridpulse notify`: the notifier process.

Reads ``alerts``, ``alert-acks``, ``silences`` and ``notify-log`` whole, every partition
(every replica decides every notification, deterministically; the leases in Redis decide
which replica sends each). On start it reads the log and the silences to their end and
rebuilds the groups from the alerts, so a notification logged sent is never sent again,
and one logged pending (in flight when a process died) is sent again with its key. Then
it follows the topics, moves its clock (clock.py) and hands due notifications to one
sender per receiver. SIGHUP, or a change of the file, reloads the configuration; a file
that does not load keeps the old one and the log says why. A record that does not decode
is dead-lettered (once per record) and skipped.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import time
from collections import defaultdict
from pathlib import Path

import msgspec
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from gridpulse.city import load_city
from gridpulse.clock import DAY_MS, now_ms
from gridpulse.loop.calendar import load_calendar
from gridpulse.rkeys import CASE, GPS, Keys
from gridpulse.schemas import (Notification, dead_key, dead_letter, decode_ack, decode_alert,
                               decode_notification, decode_silence, encode)
from gridpulse.settings import Settings
from gridpulse.topics import ALERT_ACKS, ALERTS, CASE_EVENTS, DEADLETTER, GPS_FIXES, NOTIFY_LOG, SILENCES
from streams.poison import Poison, decode

from . import clock as clk, http
from .config import Config, ConfigError, load_config
from .groups import Decision, Dispatcher
from .payload import Render
from .sender import ReceiverSender
from .silences import Silences
from .store import Store
from .text import Namer

log = logging.getLogger("gridpulse.notify")
#: Longest a fetch waits on the broker for data. The notifier reads four topics whose
#: partitions are mostly idle (acknowledgements, silences, its own log), and a fetch
#: that has nothing new in them waits this long on the development broker even when an
#: alert has come meanwhile: at aiokafka's default (500 ms) that was most of an alert's
#: way to its receiver (p50 ~190 ms; at 50 ms: ~50 ms, docs/performance.md). A real
#: broker answers as soon as any partition has data; idle, this is 20 fetches a second.
FETCH_MAX_WAIT_MS = 50
TICK_S = 0.05  # how often the clock is read and due flushes run (latency: docs/performance.md)
RELOAD_CHECK_S = 2.0
_KEY_FIELD = {ALERTS: "id", ALERT_ACKS: "alert", SILENCES: "id", NOTIFY_LOG: "key"}
_DECODE = {ALERTS: decode_alert, ALERT_ACKS: decode_ack, SILENCES: decode_silence, NOTIFY_LOG: decode_notification}


def replica_name(settings: Settings) -> str:
    """This process's name in leases: the setting, else host and pid."""
    return settings.notify_replica or f"{socket.gethostname()}-{os.getpid()}"


def namer(city_name: str) -> Namer:
    """Area names from the city model (Chinese, or English where the model has them)."""
    city = load_city(city_name)

    def area(code: str, lang: str) -> str:
        try:
            a = city.area(code)
        except KeyError:
            return code
        return (getattr(a, "name_en", "") or a.name) if lang == "en" else a.name
    return Namer(area=area)


class Notifier:
    """The process's state and loops."""

    def __init__(self, settings: Settings, cfg: Config) -> None:
        self.s, self.cfg = settings, cfg
        self.keys = Keys(settings.redis_prefix)
        self.redis = aioredis.Redis.from_url(settings.redis_url)
        self.store = Store(self.redis, self.keys)
        self.replica = replica_name(settings)
        self.calendar = load_calendar(settings.holidays_file or None)
        self.lateness = int(settings.allowed_lateness_s * 1000)
        self.gps_lateness = int(settings.gps_lateness_s * 1000)
        self.keep_ms = settings.alert_days * DAY_MS
        self.silences = Silences()
        self.disp = Dispatcher(cfg, self.calendar, self.silences, self.keep_ms)
        self.render = Render(settings.timezone, cfg.external_url, namer(settings.city))
        self.logged: dict[str, str] = {}
        self.pending: dict[str, list[Notification]] = defaultdict(list)  # message -> notes
        self.replayed: dict[str, Notification] | None = {}  # the log as read before catching up
        self.alerts_raw: dict[str, object] = {}
        self.acks: list = []
        self.senders: dict[str, ReceiverSender] = {}
        self.now = 0
        self.visit_now: int | None = None  # the visit alerts' clock (None: no GPS partition seen)
        self.newest_alert = 0
        self.dead = 0
        self.reload_wanted = False
        self._mtime = self._file_mtime()
        self.producer: AIOKafkaProducer | None = None

    def _file_mtime(self) -> float:
        try:
            return Path(self.s.notify_config).stat().st_mtime if self.s.notify_config else 0.0
        except OSError:
            return 0.0

    # -- records ------------------------------------------------------------------------
    async def _dead(self, topic: str, rec, reason: str) -> None:
        from streams.deadletters import member, remember
        d = dead_letter(topic, rec.partition, rec.offset, reason, rec.value, now_ms())
        if await self.redis.zscore(self.keys.deadletters(), member(d)) is not None:
            return  # the worker (which reads alerts and acks too) lettered it already
        await self.producer.send_and_wait(self.s.topic(DEADLETTER), encode(d), key=dead_key(rec.key))
        await remember(self.redis, self.keys, [d])
        self.dead += 1
        log.warning("dead-lettered %s[%d]@%d: %s", topic, rec.partition, rec.offset, reason)

    async def take(self, logical: str, rec) -> None:
        """Apply one record of one of the four topics."""
        try:
            value = decode(_DECODE[logical], rec.value)
            want = getattr(value, _KEY_FIELD[logical])
            if rec.key is not None and rec.key != want.encode():
                raise Poison(f"key {rec.key[:80]!r} is not the value's {_KEY_FIELD[logical]} {want!r}")
        except Poison as exc:
            await self._dead(self.s.topic(logical), rec, str(exc))
            return
        if logical == ALERTS:
            self.alerts_raw[value.id] = value
            self.newest_alert = max(self.newest_alert, value.ts)
            self.disp.ingest(value, arrived=now_ms())
        elif logical == ALERT_ACKS:
            self.acks.append(value)
            self.disp.ack(value)
        elif logical == SILENCES:
            self.disp.silence(value)
            await self.store.mirror_silence(value)
        else:
            self._log_record(value)

    def _log_record(self, n: Notification) -> None:
        prev = self.logged.get(n.key)
        if prev in ("sent", "failed") and n.status == "pending":
            return  # an old pending record read after the final one (compaction keeps the last)
        self.logged[n.key] = n.status
        if self.replayed is not None:
            self.replayed[n.key] = n
        if n.status == "pending":
            self.pending[n.message or n.key].append(n)
        else:
            self.pending.pop(n.message or n.key, None)

    # -- the log ------------------------------------------------------------------------
    async def write_log(self, notes: list[Notification]) -> None:
        """Log records, acknowledged by Kafka before anything goes on, then mirrored."""
        futs = [await self.producer.send(self.s.topic(NOTIFY_LOG), encode(n), key=n.key.encode()) for n in notes]
        await asyncio.gather(*futs)
        for n in notes:
            self.logged[n.key] = n.status
        await self.store.mirror(notes, self.keep_ms)

    def _on_done(self, d: Decision, ok: bool) -> None:
        self.disp.delivered(d, ok)

    def _sender(self, name: str) -> ReceiverSender | None:
        r = self.cfg.receivers.get(name)
        if r is None or r.kind == "none":
            return None
        s = self.senders.get(name)
        if s is None or s.r != r:
            s = ReceiverSender(r, self.render, self.store, self.replica, self.write_log, self._on_done)
            if name in self.senders:
                s.queue, s.resend = self.senders[name].queue, self.senders[name].resend
                self._tasks[name].cancel()
            self.senders[name] = s
            self._tasks[name] = asyncio.create_task(s.run(self._session))
        return s

    def dispatch(self, decisions: list[Decision]) -> None:
        """Hand decisions to their receivers' senders (a ``none`` receiver is logged only)."""
        for d in decisions:
            s = self._sender(d.note.receiver)
            if s is not None:
                s.add(d)

    # -- configuration ------------------------------------------------------------------
    def reload(self) -> bool:
        """Load the file again; keep the old configuration if the new one is refused."""
        try:
            cfg = load_config(self.s.notify_config or None, dict(os.environ))
        except ConfigError as exc:
            log.error("configuration not reloaded, the old one stays: %s", exc)
            return False
        if cfg.digest == self.cfg.digest:
            return True
        self.cfg = cfg
        self.render = Render(self.s.timezone, cfg.external_url, self.render.names)
        disp = Dispatcher(cfg, self.calendar, self.silences, self.keep_ms)
        disp._epoch = self.disp._epoch + 1  # noqa: SLF001 - every group decides afresh
        for a in self.alerts_raw.values():
            disp.ingest(a)
        for ack in self.acks:
            disp.ack(ack)
        # Already decided history is not notified again under the new routes: the groups
        # it changed notify at their next change or repeat.
        disp.advance(self.now, now_ms(), lambda k: self.logged.get(k, "sent"), self.visit_now)
        self.disp = disp
        log.info("configuration reloaded from %s (%s)", cfg.source, cfg.digest[:12])
        return True

    # -- the loop -----------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set."""
        s = self.s
        topics = {s.topic(t): t for t in (ALERTS, ALERT_ACKS, SILENCES, NOTIFY_LOG)}
        self.producer = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all",
                                         enable_idempotence=s.kafka_idempotent, linger_ms=5)
        consumer = AIOKafkaConsumer(bootstrap_servers=s.kafka_bootstrap, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    max_partition_fetch_bytes=8 << 20, fetch_max_wait_ms=FETCH_MAX_WAIT_MS)
        await self.producer.start()
        await consumer.start()
        self._session = http.session(lambda: self.cfg.allowlist)
        self.sources = clk.SourceLogs(consumer, {CASE: s.topic(CASE_EVENTS), GPS: s.topic(GPS_FIXES)})
        self._tasks: dict[str, asyncio.Task] = {}
        try:
            tps = []
            for name in topics:
                parts = consumer.partitions_for_topic(name) or await self._partitions(consumer, name)
                tps += [TopicPartition(name, p) for p in sorted(parts)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            caught_up = False
            last_tick = last_reload = 0.0
            while not stop.is_set():
                batch = await consumer.getmany(timeout_ms=20, max_records=10_000)
                for tp, recs in batch.items():
                    logical = topics[tp.topic]
                    for rec in recs:
                        await self.take(logical, rec)
                if not caught_up:
                    caught_up = not batch and await self._at_end(consumer, ends)
                    if caught_up:
                        await self._remirror()
                        log.info("notifier %s caught up: %d alerts, %d log records, %d silences",
                                 self.replica, len(self.alerts_raw), len(self.logged), len(self.silences.by_id))
                        self._resend_pending()
                    continue
                mono = time.monotonic()
                if mono - last_tick >= TICK_S:
                    last_tick = mono
                    await self._tick(consumer, [tp for tp in tps if topics[tp.topic] == ALERTS])
                if self.reload_wanted or mono - last_reload >= RELOAD_CHECK_S:
                    last_reload = mono
                    mtime = self._file_mtime()
                    if self.reload_wanted or mtime != self._mtime:
                        self.reload_wanted, self._mtime = False, mtime
                        self.reload()
        finally:
            self.sources.stop()
            for t in self._tasks.values():
                t.cancel()
            await consumer.stop()
            await self.producer.stop()
            await self._session.close()
            await self.redis.aclose()

    async def _partitions(self, consumer, name: str) -> set[int]:
        for _ in range(50):
            await consumer._client.force_metadata_update()  # noqa: SLF001 - a fresh topic's metadata
            parts = consumer.partitions_for_topic(name)
            if parts:
                return parts
            await asyncio.sleep(0.2)
        raise RuntimeError(f"topic {name} has no partitions (create it first: gridpulse up does)")

    async def _at_end(self, consumer, ends: dict) -> bool:
        for tp, end in ends.items():
            if await consumer.position(tp) < end:
                return False
        return True

    async def _remirror(self) -> None:
        """Mirror what the log as read ends final (sent, failed) into Redis, and mark it done.

        A notifier killed between logging a final record in Kafka and mirroring it would
        otherwise leave the Redis copy (what the CLI, the dashboard and the tests read)
        saying "pending" for a notification that was sent. What the log ends pending is
        left alone: another replica may be sending it and mirror its "sent" first, which
        a copy of the older record would overwrite (seen: the two-replica test waited for
        good); a pending one of a dead process is sent again here, and mirrored then.
        """
        notes = [n for n in (self.replayed or {}).values() if n.status != "pending"]
        self.replayed = None
        for i in range(0, len(notes), 2000):
            chunk = notes[i:i + 2000]
            await self.store.mirror(chunk, self.keep_ms)
            for status in ("sent", "failed"):
                done = [n.key for n in chunk if n.status == status]
                if done:
                    await self.store.done(done, status)

    def _resend_pending(self) -> None:
        for msg, notes in list(self.pending.items()):
            if all(self.logged.get(n.key) == "pending" for n in notes):
                s = self._sender(notes[0].receiver)
                if s is not None:
                    log.info("resending %s (%d notification(s)) left in flight", msg, len(notes))
                    s.add_pending(notes)
        self.pending.clear()

    async def _tick(self, consumer, alert_tps) -> None:
        # The watermarks first, then the alerts topic read to where it ends now: every
        # alert the worker wrote before saving those watermarks is then taken (it writes
        # them first), so no flush up to the clock can miss one (clock.py).
        have = await clk.both(self.redis, self.keys)
        self.sources.poke(have)
        wall = now_ms()
        window = self.s.notify_live_window_s * 1000
        target = self.now
        if not self.sources.waiting(CASE, have):
            target = clk.event_clock(list(have[CASE].values()), self.newest_alert, self.lateness, wall, window,
                                     self.now)
        # No GPS partition with records: no visit alert can come before one, the case
        # clock stands in. One not saved (yet, or again: a Redis being rebuilt): the clock
        # waits where it was.
        visit_target = self.visit_now
        if self.sources.waiting(GPS, have):
            visit_target = self.visit_now or 0
        elif have[GPS]:
            visit_target = clk.event_clock(list(have[GPS].values()), 0, self.gps_lateness, wall, window,
                                           self.visit_now or 0, live_on_newest=True)
        ends = await consumer.end_offsets(alert_tps)
        for tp, end in ends.items():
            while await consumer.position(tp) < end:
                for part, recs in (await consumer.getmany(tp, timeout_ms=200, max_records=10_000)).items():
                    for rec in recs:
                        await self.take(ALERTS, rec)
        self.now, self.visit_now = target, visit_target
        decisions = self.disp.advance(self.now, wall, self.logged.get, self.visit_now)
        self.dispatch(decisions)
        if self.now:
            self.disp.forget_before(self.now - self.keep_ms)
        await self.store.state(clock=self.now, visit_clock=self.visit_now or 0, config=self.cfg.digest[:12], replica=self.replica,
                               alerts=len(self.disp.alerts), groups=len(self.disp.groups),
                               late=self.disp.late, dead=self.dead, at=wall,
                               sent=sum(x.sent for x in self.senders.values()),
                               failed=sum(x.failed for x in self.senders.values()))


def run(settings: Settings) -> int:
    """Run the notifier until SIGTERM or SIGINT; 2 if the configuration is refused."""
    try:
        cfg = load_config(settings.notify_config or None, dict(os.environ))
    except ConfigError as exc:
        log.error("configuration refused: %s", exc)
        print(f"gridpulse notify: {exc}", flush=True)
        return 2
    log.info("notifier starting: config %s (%s), %d receivers", cfg.source, cfg.digest[:12], len(cfg.receivers))
    n = Notifier(settings, cfg)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        loop.add_signal_handler(signal.SIGINT, stop.set)
        loop.add_signal_handler(signal.SIGHUP, lambda: setattr(n, "reload_wanted", True))
        await n.run(stop)

    asyncio.run(main())
    return 0

"""The Faust worker: thin agents that hand record batches to the processors.

Agents take batches with ``take_events`` (so each record's partition and offset are
known) and the processors keep their state per partition in Redis, fenced by offset,
instead of in Faust tables: a table cannot be written from inside a ``take`` batch
(state must change in the same step as the batch that changes it). Faust still provides the consumer group, rebalancing and
offset commits.
"""

from __future__ import annotations

import asyncio
import logging
from types import SimpleNamespace

from pathlib import Path

import faust
import mode
import redis.asyncio as aioredis

from gridpulse.runtime.broker import is_embedded_broker
from gridpulse.runtime.kafka_tuning import faust_app_settings
from gridpulse.schemas import Alert, DeadLetter, Tick, encode
from gridpulse.settings import Settings
from gridpulse.rkeys import Keys
from gridpulse.topics import ALERT_ACKS, ALERTS, CASE_EVENTS, DEADLETTER, GPS_FIXES

from gridpulse.clock import now_ms

from . import clock, deadletters, fast_consumer, snapshots, status
from .alert_view import AlertBoardWriter
from .batch_feed import BatchQueue
from .log_reader import LogReader
from .processor import Record
from gridpulse.outage import KAFKA, REDIS, outages

from .retry import Backoff, skip_outage, until_done
from .supervision import note_taken
from .wiring import make_processors, silent_scanner

log = logging.getLogger("gridpulse.worker")
#: How often the worker checks, unasked, that Redis holds what the log says (recovery.py).
MEND_EVERY_S = 5.0


def build_app(settings: Settings, bootstrap: str, redis_url: str) -> faust.App:
    """The worker's Faust app, wired to ``bootstrap`` and ``redis_url``."""
    datadir = Path(settings.log_dir).parent / "faust-data"
    datadir.mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    feed_kw = {}
    if settings.worker_feed == "batch":
        feed_kw["broker_consumer"] = f"{fast_consumer.SCHEME}://{bootstrap}"
    app = faust.App(
        settings.worker_id,
        broker=f"kafka://{bootstrap}",
        **feed_kw,
        store="memory://",
        web_port=settings.worker_web_port,
        datadir=str(datadir / "{conf.name}"),
        web_host="127.0.0.1",
        producer_enable_idempotence=settings.kafka_idempotent,
        # Stated, not left to the default: dead letters are capped to fit it (schemas.py).
        producer_max_request_size=1024**2,
        # Larger fetches: GPS batches are ~350 B, and Faust's 1 MiB per partition caps a
        # poll at a few thousand records, leaving the processors waiting on the fetcher.
        consumer_max_fetch_size=8 * 1024**2,
        **faust_app_settings(embedded=is_embedded_broker(bootstrap), partitions=settings.partitions,
                             replication_factor=settings.topic_replication, stall_s=settings.stall_s),
    )

    def raw_topic(name: str) -> faust.TopicT:
        return app.topic(settings.topic(name), key_type=bytes, value_type=bytes,
                         key_serializer="raw", value_serializer="raw",
                         partitions=settings.partitions)

    case_topic, gps_topic = raw_topic(CASE_EVENTS), raw_topic(GPS_FIXES)
    dead_topic, alert_topic = raw_topic(DEADLETTER), raw_topic(ALERTS)
    redis = aioredis.Redis.from_url(redis_url)
    keys = Keys(settings.redis_prefix)

    async def dead_sink(letters: list[tuple[bytes | None, DeadLetter]]) -> None:
        futs = [await dead_topic.send(key=k, value=encode(d)) for k, d in letters]
        await asyncio.gather(*futs)  # acknowledged by Kafka before the offset moves on
        await deadletters.remember(redis, keys, [d for _, d in letters])  # the wall's count
        for _, d in letters:
            log.warning("dead-lettered %s[%d]@%d: %s", d.topic, d.partition, d.offset, d.reason)

    async def alert_sink(alerts: list[Alert]) -> None:
        futs = [await alert_topic.send(key=a.id.encode(), value=encode(a)) for a in alerts]
        await asyncio.gather(*futs)  # acknowledged before the state that records them is saved

    cases, gps = make_processors(settings, redis, dead_sink, alert_sink, bootstrap)
    ack_topic = raw_topic(ALERT_ACKS)
    board_readers = {t.get_topic_name(): LogReader(bootstrap, t.get_topic_name(), group=settings.worker_id)
                     for t in (alert_topic, ack_topic)}
    board = AlertBoardWriter(redis, keys, dead_sink,
                             alert_topic.get_topic_name(), ack_topic.get_topic_name(),
                             settings.alert_days, readers=board_readers)
    procs = {case_topic.get_topic_name(): cases, gps_topic.get_topic_name(): gps,
             alert_topic.get_topic_name(): SimpleNamespace(process=board.process_alerts, drop=board.drop),
             ack_topic.get_topic_name(): SimpleNamespace(process=board.process_acks, drop=board.drop)}


    def records(events) -> list[Record]:
        return [Record(e.message.partition, e.message.offset, e.message.key, e.message.value,
                       e.message.timestamp) for e in events]

    async def apply_owned(name: str, proc, msgs: list, backoff: Backoff) -> list:
        """Apply the batch's messages of partitions we own, waiting out Redis and broker
        outages (streams/retry.py); returns the messages applied."""
        applied = msgs

        async def attempt() -> None:
            nonlocal applied
            # Messages of partitions revoked by a rebalance (while queued, or during an
            # outage) belong to the new owner now: it re-reads them from the committed
            # offset. Applying them would still be safe, the Redis writes are fenced, but
            # it is wasted work, and acking offsets of a partition we do not own confuses
            # commits.
            assigned = app.consumer.assignment()
            applied = [m for m in msgs if m.tp in assigned]
            if applied:
                await proc.process(applied)

        await until_done(f"{name} batch", attempt, backoff)
        return applied

    def agent_for(topic: faust.TopicT, name: str):
        """``GRIDPULSE_WORKER_FEED=stream``: an idiomatic agent taking batches of events."""
        proc = procs[topic.get_topic_name()]
        backoff = Backoff()

        async def agent(stream) -> None:
            async for events in stream.take_events(settings.batch_max, settings.batch_within):
                batch = records(events)
                await until_done(f"{name} batch", lambda: proc.process(batch), backoff)

        agent.__name__ = agent.__qualname__ = name
        # A processor that raises something other than an outage has lost track of its
        # state: crash the worker (the process exits and is restarted) rather than let
        # Faust restart the agent into a process that looks alive and does nothing.
        return app.agent(topic, name=f"gridpulse.{name}",
                         supervisor_strategy=mode.CrashingSupervisor)(agent)

    def feed_for(topic: faust.TopicT, name: str):
        """``GRIDPULSE_WORKER_FEED=batch``: Faust's consumer delivers into a batch queue."""
        proc = procs[topic.get_topic_name()]
        queue = BatchQueue(maxsize=settings.batch_max * 4)
        # The consumer puts every message of this topic straight into the queue
        # (fast_consumer.Consumer); the topic is still added so Faust subscribes to it.
        fast_consumer.Consumer.batch_queues[topic.get_topic_name()] = queue
        app.topics.add(topic)

        backoff = Backoff()

        async def pump() -> None:
            while True:
                msgs = await queue.take(settings.batch_max, settings.batch_within)
                note_taken(app, msgs)  # Faust's stall detector sees the feed (supervision.py)
                try:
                    # A ConsumerMessage has the fields of a Record (partition, offset,
                    # key, value, timestamp): no copy per message.
                    msgs = await apply_owned(name, proc, msgs, backoff)
                except Exception as exc:  # not an outage: state is unknown, stop the worker
                    log.exception("%s processor failed; stopping the worker", name)
                    await app.crash(exc)
                    return
                ack = app.consumer.ack
                for m in msgs:
                    ack(m)  # Faust may now commit these offsets

        pump.__name__ = pump.__qualname__ = f"feed_{name}"
        app.task(pump)

    attach = feed_for if settings.worker_feed == "batch" else agent_for
    attach(case_topic, "cases")
    attach(gps_topic, "gps")
    attach(alert_topic, "alerts_board")  # the alerts the workers send come back to the board
    attach(ack_topic, "alert_acks")

    scan_silent = silent_scanner(settings, redis, alert_sink)

    @app.timer(interval=30.0)
    async def silent_grid_view() -> None:
        # Derived from both streams' per-grid maxima; absolute, so every worker may run it.
        await skip_outage("silent-grid scan", scan_silent)

    instance = status.instance_id()

    async def write_status() -> None:
        owned: dict[str, list[int]] = {}
        behind: dict[str, int | None] = {}
        rebuilding: list[dict] = []
        for kind, topic, proc in (("case", case_topic, cases), ("gps", gps_topic, gps)):
            name = topic.get_topic_name()
            tps = [tp for tp in app.consumer.assignment() if tp.topic == name]
            owned[kind] = [tp.partition for tp in tps]
            total = 0
            for tp in tps:
                st = proc.parts.get(tp.partition)
                total += status.lag(app.consumer.highwater(tp), st.offset if st else None)
            behind[kind] = total
            rebuilding += [{"kind": kind, "partition": p, "done": round(r["done"], 4), "since": r["since"]}
                           for p, r in sorted(proc.rebuilding.items())]
        waiting = next((w for name, w in ((REDIS, "redis"), (KAFKA, "kafka"))
                        if outages.dependency(name).down), None)
        await status.write(redis, keys, status.doc(now_ms(), owned, behind, rebuilding, waiting, instance))

    @app.timer(interval=status.EVERY_S)
    async def worker_status() -> None:
        # What every screen judges the views' freshness by (gridpulse/freshness.py).
        await skip_outage("writing the worker status", write_status)

    async def snapshot_all() -> None:
        for kind, topic, proc in (("case", case_topic, cases), ("gps", gps_topic, gps)):
            name = topic.get_topic_name()
            for tp in sorted(tp for tp in app.consumer.assignment() if tp.topic == name):
                if tp.partition not in proc.rebuilding:
                    await snapshots.snapshot(proc.snapshots, redis, keys, kind, tp.partition,
                                             settings.timezone, settings.snapshot_days)

    if settings.snapshot_s > 0:
        @app.timer(interval=settings.snapshot_s)
        async def take_snapshots() -> None:
            # What bounds a rebuild after a Redis loss (streams/snapshots.py).
            await skip_outage("snapshots", snapshot_all)

    async def mend_all() -> None:
        for topic, proc in ((case_topic, cases), (gps_topic, gps)):
            name = topic.get_topic_name()
            for tp in sorted(tp for tp in app.consumer.assignment() if tp.topic == name):
                await proc.mend(tp.partition)
        for topic in (alert_topic, ack_topic):
            name = topic.get_topic_name()
            for tp in sorted(tp for tp in app.consumer.assignment() if tp.topic == name):
                await board.mend(name, tp.partition)

    @app.timer(interval=MEND_EVERY_S)
    async def mend_views() -> None:
        # What no record will trigger: Redis emptied while the worker idles, or holding
        # less than the group committed (streams/recovery.py).
        await skip_outage("mending the views", mend_all)

    if settings.clock_tick_s > 0:
        case_name = case_topic.get_topic_name()

        async def send_ticks() -> None:
            owned = {tp.partition for tp in app.consumer.assignment() if tp.topic == case_name}
            city, late = clock.behind(await clock.watermarks(redis, keys), owned)
            futs = [await case_topic.send(key=b"tick", value=encode(Tick(type="tick", ts=city)),
                                          partition=p, timestamp=city / 1000) for p in late]
            await asyncio.gather(*futs)

        @app.timer(interval=settings.clock_tick_s)
        async def city_clock() -> None:
            # A quiet partition's deadlines advance with the rest of the city (clock.py).
            await skip_outage("clock tick", send_ticks)

    @app.task
    async def declare_topics() -> None:
        # Consumed topics are declared on subscription; this one only receives.
        await dead_topic.maybe_declare()

    @app.on_partitions_revoked.connect
    async def on_revoked(sender, revoked, **kwargs) -> None:
        for topic_name, proc in procs.items():
            proc.drop(tp.partition for tp in revoked if tp.topic == topic_name)

    return app

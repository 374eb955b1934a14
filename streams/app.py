"""The Faust worker: thin agents that hand record batches to the processors.

Agents take batches with ``take_events`` (so each record's partition and offset are
known) and the processors keep their state per partition in Redis, fenced by offset,
instead of in Faust tables: a table cannot be written from inside a ``take`` batch
(DESIGN.md, principle 6). Faust still provides the consumer group, rebalancing and
offset commits.
"""

from __future__ import annotations

import asyncio
import logging

import faust
import redis.asyncio as aioredis

from gridpulse.city import load_city
from gridpulse.rkeys import Keys
from gridpulse.runtime.broker import is_embedded_broker
from gridpulse.runtime.kafka_tuning import faust_app_settings
from gridpulse.schemas import DeadLetter, encode
from gridpulse.settings import Settings
from gridpulse.topics import CASE_EVENTS, DEADLETTER, GPS_FIXES

from .processor import CaseProcessor, GpsProcessor, Record
from .redis_store import PartitionStore

log = logging.getLogger("gridpulse.worker")


def build_app(settings: Settings, bootstrap: str, redis_url: str) -> faust.App:
    """The worker's Faust app, wired to ``bootstrap`` and ``redis_url``."""
    city = load_city(settings.city)
    lineages = {g.code: (g.code, g.community, g.town, g.district, city.code) for g in city.grids}
    app = faust.App(
        settings.worker_id,
        broker=f"kafka://{bootstrap}",
        store="memory://",
        web_port=settings.worker_web_port,
        web_host="127.0.0.1",
        producer_enable_idempotence=settings.kafka_idempotent,
        **faust_app_settings(embedded=is_embedded_broker(bootstrap), partitions=settings.partitions),
    )

    def raw_topic(name: str) -> faust.TopicT:
        return app.topic(settings.topic(name), key_type=bytes, value_type=bytes,
                         key_serializer="raw", value_serializer="raw",
                         partitions=settings.partitions)

    case_topic, gps_topic, dead_topic = raw_topic(CASE_EVENTS), raw_topic(GPS_FIXES), raw_topic(DEADLETTER)
    redis = aioredis.Redis.from_url(redis_url)
    store = PartitionStore(redis, Keys(settings.redis_prefix), lineages.__getitem__, settings.timezone)

    async def dead_sink(letters: list[tuple[bytes | None, DeadLetter]]) -> None:
        futs = [await dead_topic.send(key=k, value=encode(d)) for k, d in letters]
        await asyncio.gather(*futs)  # acknowledged by Kafka before the offset moves on
        for _, d in letters:
            log.warning("dead-lettered %s[%d]@%d: %s", d.topic, d.partition, d.offset, d.reason)

    procs = {
        case_topic.get_topic_name(): CaseProcessor(store, lineages.__contains__, dead_sink,
                                                   settings.topic(CASE_EVENTS)),
        gps_topic.get_topic_name(): GpsProcessor(store, lineages.__contains__, dead_sink,
                                                 settings.topic(GPS_FIXES)),
    }
    app.gridpulse_processors = procs  # for status pages and tests

    def agent_for(topic: faust.TopicT, name: str):
        proc = procs[topic.get_topic_name()]

        async def agent(stream) -> None:
            async for events in stream.take_events(settings.batch_max, settings.batch_within):
                await proc.process(Record(e.message.partition, e.message.offset,
                                          e.message.key, e.message.value) for e in events)

        agent.__name__ = agent.__qualname__ = name
        return app.agent(topic, name=f"gridpulse.{name}")(agent)

    agent_for(case_topic, "cases")
    agent_for(gps_topic, "gps")

    @app.task
    async def declare_topics() -> None:
        # Agents' topics are declared by Faust; the dead-letter topic only receives.
        await dead_topic.maybe_declare()

    @app.on_partitions_revoked.connect
    async def on_revoked(sender, revoked, **kwargs) -> None:
        for topic_name, proc in procs.items():
            proc.drop(tp.partition for tp in revoked if tp.topic == topic_name)

    return app

"""Build the processors from the settings: one place, used by the worker, tests and benchmarks."""

from __future__ import annotations

import redis.asyncio as aioredis

from gridpulse.city import load_city
from gridpulse.loop.facts import Rules
from gridpulse.rkeys import Keys
from gridpulse.settings import Settings
from gridpulse.topics import CASE_EVENTS, GPS_FIXES

from .case_state import CasePartition
from .processor import AlertSink, CaseProcessor, DeadSink, GpsProcessor
from .redis_store import PartitionStore


def lineages(city) -> dict[str, tuple[str, ...]]:
    """Grid code -> (grid, community, town, district, city) codes."""
    return {g.code: (g.code, g.community, g.town, g.district, city.code) for g in city.grids}


def make_processors(settings: Settings, redis: aioredis.Redis, dead_sink: DeadSink,
                    alert_sink: AlertSink | None) -> tuple[CaseProcessor, GpsProcessor]:
    """The case and GPS processors of one worker, sharing one Redis store."""
    city = load_city(settings.city)
    lin = lineages(city)
    rules = Rules.load(settings.sla_file, settings.holidays_file, settings.timezone)
    lateness = int(settings.allowed_lateness_s * 1000)
    case_topic = settings.topic(CASE_EVENTS)

    def new_case(p: int) -> CasePartition:
        return CasePartition(p, lin.__getitem__, rules, lateness, case_topic)

    store = PartitionStore(redis, Keys(settings.redis_prefix), new_case)
    cases = CaseProcessor(store, lin.__contains__, dead_sink, case_topic, alert_sink=alert_sink)
    gps = GpsProcessor(store, lin.__contains__, dead_sink, settings.topic(GPS_FIXES))
    return cases, gps

"""Build the processors from the settings: one place, used by the worker, tests and benchmarks."""

from __future__ import annotations

import redis.asyncio as aioredis

from gridpulse.city import load_city
from gridpulse.loop.facts import Rules
from gridpulse.rkeys import Keys
from gridpulse.settings import Settings
from gridpulse.topics import CASE_EVENTS, GPS_FIXES, SNAPSHOT_MANIFESTS, SNAPSHOTS

from gridpulse.visits.rules import VisitRules
from gridpulse.visits.stays import StayRules
from gridpulse.visits.track import TrackRules

from . import silent_grids
from .case_state import CasePartition
from .gps_state import GpsPartition
from .log_reader import LogReader
from .snapshots import SnapshotStore
from .processor import AlertSink, CaseProcessor, DeadSink, GpsProcessor
from .redis_store import PartitionStore


def lineages(city) -> dict[str, tuple[str, ...]]:
    """Grid code -> (grid, community, town, district, city) codes."""
    return {g.code: (g.code, g.community, g.town, g.district, city.code) for g in city.grids}


def _minutes(hhmm: str) -> int:
    h, m = hhmm.strip().split(":")
    return int(h) * 60 + int(m)


def visit_rules(s: Settings) -> VisitRules:
    """The visit pipeline's rules from the settings."""
    start, end = s.duty_hours.split("-")
    return VisitRules(
        track=TrackRules(s.fix_max_accuracy_m, s.max_speed_mps),
        stay=StayRules(s.stay_radius_m, s.stay_min_minutes, s.visit_match_m),
        lateness_ms=int(s.gps_lateness_s * 1000), gap_ms=int(s.track_gap_minutes * 60_000),
        active_ms=s.active_worker_minutes * 60_000, silent_ms=int(s.silent_terminal_minutes * 60_000),
        offgrid_ms=int(s.off_grid_minutes * 60_000), duty_start_min=_minutes(start),
        duty_end_min=_minutes(end), silent_grid_days=s.silent_grid_days, tz=s.timezone)


def make_processors(settings: Settings, redis: aioredis.Redis, dead_sink: DeadSink,
                    alert_sink: AlertSink | None, bootstrap: str | None = None
                    ) -> tuple[CaseProcessor, GpsProcessor]:
    """The case and GPS processors of one worker, sharing one Redis store.

    With ``bootstrap`` they read the log directly when Redis lacks what it should hold
    (streams/recovery.py); without, they trust Redis (benchmarks of the processors alone).
    """
    city = load_city(settings.city)
    lin = lineages(city)
    rules = Rules.load(settings.sla_file, settings.holidays_file, settings.timezone)
    lateness = int(settings.allowed_lateness_s * 1000)
    case_topic = settings.topic(CASE_EVENTS)
    keep_ms = settings.case_keep_days * 86_400_000

    def new_case(p: int) -> CasePartition:
        return CasePartition(p, lin.__getitem__, rules, lateness, case_topic, keep_ms,
                             settings.kpi_days)

    vrules = visit_rules(settings)

    def new_gps(p: int) -> GpsPartition:
        return GpsPartition(p, lin.__getitem__, vrules, city.grid_households, city.contains,
                            settings.kpi_days)

    store = PartitionStore(redis, Keys(settings.redis_prefix), new_case, new_gps,
                           settings.track_days * 86_400)
    ahead = int(settings.clock_ahead_s * 1000)
    gps_topic = settings.topic(GPS_FIXES)

    def reader(topic: str) -> LogReader | None:
        return LogReader(bootstrap, topic, group=settings.worker_id) if bootstrap else None

    cases = CaseProcessor(store, lin.__contains__, dead_sink, case_topic, alert_sink=alert_sink,
                          clock_ahead_ms=ahead, reader=reader(case_topic))
    gps = GpsProcessor(store, lin.__contains__, dead_sink, gps_topic, alert_sink=alert_sink,
                       clock_ahead_ms=ahead, reader=reader(gps_topic))
    if bootstrap:
        cases.snapshots = gps.snapshots = SnapshotStore(
            bootstrap, settings.topic(SNAPSHOTS), settings.topic(SNAPSHOT_MANIFESTS), settings.partitions)
    return cases, gps


def silent_scanner(settings: Settings, redis: aioredis.Redis, alert_sink: AlertSink | None):
    """A coroutine function that rescans the silent-grid view (run it on a timer)."""
    city = load_city(settings.city)
    lin = lineages(city)
    grids = sorted(lin)
    keys = Keys(settings.redis_prefix)

    async def run() -> dict[str, int]:
        return await silent_grids.scan(redis, keys, grids, lin.__getitem__,
                                       settings.silent_grid_days, alert_sink)

    return run

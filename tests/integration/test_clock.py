"""A quiet partition's clocks still run: the workers' ticks bring it to the city clock.

Case A is the only case of its partition; case B, in another partition, moves time on
two hours. Without ticks A's partition would stay at A's last event, and A's urgent
dispatch deadline (30 minutes) would never pass there: no overdue count, no alert.
"""

from __future__ import annotations

import asyncio

import pytest
import redis

from gridpulse.city import load_city
from gridpulse.clock import parse_local
from gridpulse.rkeys import Keys
from gridpulse.schemas import CaseEvent
from producers.simulator import Message
from tests.oracle import partition_of

from .pipeline import (TZ, WorkerProcess, _assert_views_equal_oracle, _send, isolated_settings, read_alerts,
                       redis_counters, wait_caught_up)

pytestmark = pytest.mark.integration
MIN = 60_000


def _two_partitions(parts: int) -> tuple[str, str]:
    """Two case ids whose records land in different partitions."""
    a = "QUIET-A"
    b = next(f"BUSY-{i}" for i in range(100) if partition_of(f"BUSY-{i}", parts) != partition_of(a, parts))
    return a, b


def test_a_quiet_partition_follows_the_city_clock(kafka_bootstrap, redis_url, topic_prefix):
    city = load_city("ningbo")
    s = isolated_settings(kafka_bootstrap, redis_url, topic_prefix)
    a, b = _two_partitions(s.partitions)
    grid = city.grids[0].code
    t0 = parse_local("2026-11-27T10:00:00", TZ)

    def ev(case, n, kind, t, sev):
        return Message(t, "case-events", case, CaseEvent(
            id=f"{case}.{n}", case=case, type=kind, ts=t, grid=grid, category="fire", severity=sev))

    quiet = [ev(a, 0, "reported", t0, 1), ev(a, 1, "registered", t0 + MIN, 1)]
    busy = [ev(b, 0, "reported", t0 + 5 * MIN, 3), ev(b, 1, "registered", t0 + 120 * MIN, 3)]
    worker = WorkerProcess(s)
    try:
        asyncio.run(_send(s, quiet + busy))
        wait_caught_up(s, worker)  # waits, too, for every case partition to meet the city clock
        r, keys = redis.Redis.from_url(s.redis_url), Keys(s.redis_prefix)
        wms = {p: int(r.hget(keys.meta("case", p), "wm")) for p in
               (partition_of(a, s.partitions), partition_of(b, s.partitions))}
        assert set(wms.values()) == {t0 + 120 * MIN}, wms
        # A's dispatch clock (urgent: 30 minutes from registration) ran out in its quiet
        # partition, counted and alerted as in any other.
        district = city.grid(grid).district
        assert redis_counters(s)[f"overdue|{district}"] == 1
        alerts = read_alerts(s)
        assert f"{a}:dispatch:{t0 + MIN}:overdue" in alerts
        assert f"{a}:dispatch:{t0 + MIN}:escalation:3" in alerts  # 3 x 30 min, still before now
        _assert_views_equal_oracle(s, city, [], alerts=alerts)  # the ticks are part of the log
        assert worker.alive()
    finally:
        worker.stop()

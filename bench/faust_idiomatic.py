"""The baseline for ``bench/pipeline.py`` (b): an idiomatic per-event Faust app with Tables.

Run as a worker subprocess by the benchmark::

    BENCH_BOOTSTRAP=... BENCH_REDIS=... BENCH_CASE_TOPIC=... BENCH_GPS_TOPIC=... \
    BENCH_APP_ID=... BENCH_TARGET=N python bench/faust_idiomatic.py worker -l warn

It does the same KPI work per event as gridpulse's worker, the way the Faust docs teach
it: ``async for event in stream`` and ``table[key] += 1``, with Faust Tables (memory
store; every write still goes to a changelog topic) for

* open cases per area (grid, community, town, district, city), via a case -> stage table,
* cases reported per area per local day, per-minute new cases for districts and the city,
* the latest position per terminal,

and a timer that writes the figures (and its progress) to Redis every second. It is
deliberately *not* repartitioned by area (``group_by``), which an idiomatic multi-worker
app would need for correct area totals and which would make it slower still.

Progress for the benchmark: ``<app id>:progress`` in Redis holds ``consumed`` (events
seen by the agents), ``first`` (wall time of the first event) and ``done`` (wall time
when ``consumed`` reached ``BENCH_TARGET``).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import faust  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402

from gridpulse.city import load_city  # noqa: E402
from gridpulse.clock import local_day, minute  # noqa: E402
from gridpulse.runtime.kafka_tuning import faust_app_settings  # noqa: E402
from gridpulse.schemas import TERMINAL_STAGES, decode_case, decode_gps  # noqa: E402

TZ = os.environ.get("BENCH_TZ", "Asia/Shanghai")
APP_ID = os.environ.get("BENCH_APP_ID", "bench-idiomatic")
TARGET = int(os.environ.get("BENCH_TARGET", "0"))
PARTITIONS = int(os.environ.get("BENCH_PARTITIONS", "4"))

city = load_city(os.environ.get("BENCH_CITY", "ningbo"))
LINEAGE = {g.code: (g.code, g.community, g.town, g.district, city.code) for g in city.grids}

app = faust.App(APP_ID, broker=f"kafka://{os.environ.get('BENCH_BOOTSTRAP', '127.0.0.1:9092')}",
                store="memory://", web_enabled=False, datadir=tempfile.mkdtemp(prefix="bench-faust-"),
                **faust_app_settings(embedded=True, partitions=PARTITIONS))
case_topic = app.topic(os.environ.get("BENCH_CASE_TOPIC", "case-events"), value_serializer="raw",
                       key_serializer="raw")
gps_topic = app.topic(os.environ.get("BENCH_GPS_TOPIC", "gps-fixes"), value_serializer="raw",
                      key_serializer="raw")

case_stage = app.Table("case_stage", default=None, partitions=PARTITIONS)  # case -> [grid, stage, reported]
open_cases = app.Table("open_cases", default=int, partitions=PARTITIONS)  # area -> n
new_day = app.Table("new_day", default=int, partitions=PARTITIONS)  # "area|day" -> n
new_min = app.Table("new_min", default=int, partitions=PARTITIONS)  # "area|minute" -> n
positions = app.Table("positions", default=None, partitions=PARTITIONS)  # terminal -> [ts, lon, lat, grid, worker]

progress = {"consumed": 0, "first": 0.0, "done": 0.0}
redis = aioredis.Redis.from_url(os.environ.get("BENCH_REDIS", "redis://127.0.0.1:6379/0"))


def _seen() -> None:
    if not progress["first"]:
        progress["first"] = time.time()
    progress["consumed"] += 1
    if progress["consumed"] == TARGET:
        progress["done"] = time.time()


@app.agent(case_topic)
async def cases(stream):
    async for raw in stream:
        ev = decode_case(raw)
        lin = LINEAGE[ev.grid]
        prev = case_stage[ev.case] if ev.case in case_stage else None
        was_open = prev is not None and prev[1] not in TERMINAL_STAGES
        now_open = ev.type not in TERMINAL_STAGES
        if was_open != now_open:
            for area in lin:
                open_cases[area] += 1 if now_open else -1
        if ev.type == "reported":
            day = local_day(ev.ts, TZ)
            for area in lin:
                new_day[f"{area}|{day}"] += 1
            m = minute(ev.ts)
            for area in lin[3:]:
                new_min[f"{area}|{m}"] += 1
        case_stage[ev.case] = [ev.grid, ev.type, ev.ts]
        _seen()


@app.agent(gps_topic)
async def gps(stream):
    async for raw in stream:
        batch = decode_gps(raw)
        last = max(batch.fixes, key=lambda f: f.ts)
        cur = positions[batch.terminal] if batch.terminal in positions else None
        if cur is None or cur[0] < last.ts:
            positions[batch.terminal] = [last.ts, last.lon, last.lat, batch.grid, batch.worker]
        _seen()


@app.timer(1.0)
async def write_redis() -> None:
    """Every second: the figures (whole tables, as an idiomatic app would) and progress."""
    pipe = redis.pipeline(transaction=False)
    for name, table in (("open", open_cases), ("newday", new_day), ("newmin", new_min)):
        items = {k: v for k, v in table.items()}
        if items:
            pipe.hset(f"{APP_ID}:{name}", mapping=items)
    pos = {k: ",".join(map(str, v)) for k, v in positions.items()}
    if pos:
        pipe.hset(f"{APP_ID}:pos", mapping=pos)
    pipe.hset(f"{APP_ID}:progress", mapping=progress)
    await pipe.execute()


if __name__ == "__main__":
    app.main()

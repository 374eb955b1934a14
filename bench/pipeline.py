"""End-to-end throughput, memory and latency of the stream worker, on one embedded broker.

Usage::

    .venv/bin/python bench/pipeline.py                   # throughput table (a)/(b)/(c)
    .venv/bin/python bench/pipeline.py --quick           # small smoke run of everything
    .venv/bin/python bench/pipeline.py --events 300000 --baseline-events 40000
    .venv/bin/python bench/pipeline.py --memory          # only the memory section
    .venv/bin/python bench/pipeline.py --latency         # only the latency section
    .venv/bin/python bench/pipeline.py --parts           # + where (c)'s CPU goes (timers)
    .venv/bin/python bench/pipeline.py --all             # throughput + parts + memory + latency
    .venv/bin/python bench/pipeline.py --profile         # (c) under py-spy, top functions

It starts its own EmbeddedKafka (Tansu, memory storage) and EmbeddedRedis, generates a
realistic message mix with the seeded simulator (13,800 terminals from 09:00 city time:
GPS fix batches and case events), produces it ONCE (acks=all) to topics with 4 partitions
and measures, each variant on the same topics with its own consumer group:

(a) raw ceiling: one aiokafka consumer, ``getmany(max_records=...)``, msgspec-decodes
    every value into the wire structs and does nothing else;
(b) ``bench/faust_idiomatic.py``: an idiomatic per-event Faust agent with Tables doing the
    same KPI work as the worker, as a worker subprocess (it may consume only a prefix of
    the topics, ``--baseline-events``: at ~1-2k events/s the full run would take minutes);
(c) ``python -m gridpulse.cli worker``, measured from process start until the Redis meta
    offsets equal the topics' end offsets (what ``tests/integration/pipeline.py`` waits for).

"join" is the time from start to the first sign of consumption (a, b: first record;
c: first partition offset in Redis, which also includes the first batch's processing);
events/s is given with and without it, and per CPU second of the consuming process (less
sensitive to other load on the machine). ``--parts`` re-runs (c) with timers around the
processors' pieces (``bench/worker_probe.py``) and then feeds the same processors from a
plain aiokafka ``getmany`` loop, which splits the worker's cost into gridpulse's own code
and the Faust machinery around it. Times are wall clock on a possibly noisy machine:
this script prints figures and asserts nothing.

This file is the command line; the sections are ``pipeline_throughput.py``,
``pipeline_memory.py`` and ``pipeline_latency.py``, over ``pipeline_common.py`` (the
message mix, producing it, the variants and the worker subprocess).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


from gridpulse.runtime.broker import EmbeddedKafka  # noqa: E402
from gridpulse.runtime.redis_server import EmbeddedRedis  # noqa: E402
from pipeline_common import log  # noqa: E402
from pipeline_throughput import throughput  # noqa: E402
from pipeline_memory import memory  # noqa: E402
from pipeline_latency import latency  # noqa: E402


# --------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=300_000, help="messages for (a) and (c)")
    ap.add_argument("--baseline-events", type=int, default=20_000,
                    help="prefix of the same topics that (b) consumes (0: skip (b))")
    ap.add_argument("--quick", action="store_true", help="small smoke run of every section")
    ap.add_argument("--memory", action="store_true", help="only the memory section")
    ap.add_argument("--latency", action="store_true", help="only the latency section")
    ap.add_argument("--profile", action="store_true", help="throughput, then (c) again under py-spy")
    ap.add_argument("--parts", action="store_true",
                    help="throughput, then where (c)'s CPU goes (timers) and the same processors "
                         "behind a plain aiokafka batch consumer")
    ap.add_argument("--batch-loop", action="store_true",
                    help="also measure (d): the worker's processors behind a plain aiokafka getmany "
                         "loop in a subprocess (fix 1 of docs/performance.md), in the "
                         "throughput table and the latency section")
    ap.add_argument("--all", action="store_true", help="throughput (+ --parts), memory and latency")
    ap.add_argument("--no-stream", dest="stream", action="store_false",
                    help="skip (c'), the worker with GRIDPULSE_WORKER_FEED=stream")
    ap.add_argument("--cases", type=int, default=100_000, help="memory: open cases")
    ap.add_argument("--terminals", type=int, default=40_000, help="memory: terminals with a position")
    ap.add_argument("--rate", type=float, default=3000.0, help="latency: messages per second")
    ap.add_argument("--duration", type=float, default=30.0, help="latency: seconds of steady load")
    ap.add_argument("--timeout", type=float, default=900.0, help="guard per variant, seconds (not a bound)")
    args = ap.parse_args()
    if args.quick:
        args.events, args.baseline_events = 20_000, 3_000
        args.cases, args.terminals, args.duration = 5_000, 2_000, 5.0
        args.all = True
    only = args.memory or args.latency
    log(f"gridpulse bench/pipeline.py  {dt.datetime.now().isoformat(timespec='seconds')}  "
        f"nproc={os.cpu_count()}  python {sys.version.split()[0]}")
    with EmbeddedKafka() as kafka, EmbeddedRedis() as red:
        log(f"embedded Tansu at {kafka.bootstrap}, redis at {red.url}")
        if not only:
            throughput(kafka.bootstrap, red.url, args.events, args.baseline_events, args.timeout,
                       args.profile, args.parts or args.all, args.batch_loop, args.stream)
        if args.memory or args.all:
            memory(kafka.bootstrap, red.url, args.cases, args.terminals, args.timeout)
        if args.latency or args.all:
            latency(kafka.bootstrap, red.url, args.rate, args.duration, args.timeout)
            if args.batch_loop:
                latency(kafka.bootstrap, red.url, args.rate, args.duration, args.timeout, batch_loop=True)


if __name__ == "__main__":
    main()

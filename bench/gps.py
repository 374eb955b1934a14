"""GPS and visits: fixes/s of the GPS processor against the raw ceiling, where the time
goes, worker memory at 40,000 terminals and Redis bytes per terminal-day.

Usage::

    /work/venv/bin/python bench/gps.py                  # throughput (a)/(b)/(b')/(c)/(b'')/(c'') + profile
    /work/venv/bin/python bench/gps.py --quick          # small smoke run of every section
    /work/venv/bin/python bench/gps.py --terminals 13800 --warmup 20 --minutes 5   # the whole fleet
    /work/venv/bin/python bench/gps.py --hotspots       # (c) again with proposed fixes patched in
    /work/venv/bin/python bench/gps.py --memory         # worker state, measured 5k/10k -> 40k
    /work/venv/bin/python bench/gps.py --redis-day      # Redis bytes per terminal and terminal-day

The log: the seeded simulator (``producers.simulator.Simulator``, the same seed as
``bench/pipeline.py``) for ``--terminals`` terminals from ``--start`` (city time, a Friday
on duty), GPS fix batches only, encoded to wire bytes. The first ``--warmup`` simulated
minutes bring the partitions to steady state (pending fixes within the lateness window,
open stays, terminal-days under way, households cache filled); the next ``--minutes`` are
measured. Generated logs are cached in ``bench/out/`` (keyed by their parameters and a
hash of the simulator's and city's source), because the simulator is the slowest part,
and so is the warm-up's Redis state (``DUMP``/``RESTORE``, keyed by the log and the
sources of streams/, gridpulse/visits/ and gridpulse/city/; ``--no-cache-warm``).

Throughput variants, all over the same measured records (Kafka partition and offset as
produced once, acks=all, to one ``gps-fixes`` topic of 4 partitions on an embedded Tansu):

(a) raw ceiling, as in ``bench/pipeline.py``: aiokafka ``getmany(max_records=10000)`` and a
    msgspec decode of every value, nothing else (partitions assigned and seeked to the
    first measured offset, so there is no group join to exclude);
(b) the worker's GPS path without Faust: aiokafka ``getmany(max_records=GRIDPULSE_BATCH_MAX)``
    feeding ``GpsProcessor.process`` (``streams.wiring.make_processors``), fenced flushes into
    a real ``redis-server`` (embedded, fresh, one per run);
(b') the same processor over the records held in memory, in batches of
    ``GRIDPULSE_BATCH_MAX`` in log order (no Kafka), with timers around decode, apply,
    advance and the flush;
(c) ``GpsPartition.apply`` (after ``decode_gps``) and ``advance`` per batch, no Redis;
(b''), (c'') as (b'), (c) with ``--live-batch`` records per call (the batch feed's size at
    the simulator's 3,000 msg/s and a 50 ms window);
then a cProfile of (b') over part of the window, and what each flush wrote. (b), (b') and (c) start from the same
warm state: the warm-up is processed once into Redis, copied per variant (``COPY``) and
loaded with ``PartitionStore.load_gps`` (the worker's restart path). The bench checks
that (b) and (b') wrote identical Redis views.

``--hotspots`` re-runs (c) with the proposed fixes of ``bench/hotfixes.py`` patched in
(round-robin, best and median of ``--repeat``, output hashed and compared) and times the
hot functions per call; ``--memory`` builds the state of N terminals in a subprocess
(RSS and deep sizes by component, extrapolated); ``--redis-day`` runs a full duty day
into Redis and sizes the keys per terminal-day. Results are in docs/performance.md.

Nothing asserts a time: machines are noisy, the script prints figures and ratios.

This file is the command line; the sections are ``gps_throughput.py``, ``gps_hotspots.py``
and ``gps_memory.py`` (memory and Redis per day), over ``gps_common.py`` (the log, the
processors, timers and results).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gps_common import log  # noqa: E402
from gps_throughput import throughput  # noqa: E402
from gps_hotspots import hotspots  # noqa: E402
from gps_memory import memory, memory_child, redis_day  # noqa: E402


# --------------------------------------------------------------------------- main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--terminals", type=int, default=2000)
    ap.add_argument("--start", default="09:00", help="local start time of the log (HH:MM)")
    ap.add_argument("--warmup", type=int, default=15, help="simulated minutes before the measured window")
    ap.add_argument("--minutes", type=int, default=30, help="measured simulated minutes")
    ap.add_argument("--batch", type=int, default=0, help="records per batch (default GRIDPULSE_BATCH_MAX)")
    ap.add_argument("--live-batch", type=int, default=200,
                    help="also (c) with this many records per batch, as at the simulator's 3,000 msg/s "
                         "with a 50 ms batch window (0: skip)")
    ap.add_argument("--live-share", type=float, default=0.34,
                    help="share of the measured window the live-like variants run over")
    ap.add_argument("--no-profile", dest="profile", action="store_false")
    ap.add_argument("--no-cache-warm", dest="cache_warm", action="store_false",
                    help="always process the warm-up (default: reuse a dump of the same log and code)")
    ap.add_argument("--profile-share", type=float, default=0.34, help="share of the window profiled")
    ap.add_argument("--hotspots", action="store_true", help="only: (c) with the proposed fixes patched in")
    ap.add_argument("--fixes", default="",
                    help="hot spots: variants to run, e.g. 'advance_heap,nearest_prefilter+distance_inline' "
                         "(default: each fix alone, then all together)")
    ap.add_argument("--repeat", type=int, default=5, help="hot spots: rounds per variant")
    ap.add_argument("--hot-share", type=float, default=0.15, help="hot spots: share of the window per run")
    ap.add_argument("--memory", action="store_true", help="only: worker memory per terminal")
    ap.add_argument("--memory-terminals", default="5000,10000")
    ap.add_argument("--memory-start", default="09:30")
    ap.add_argument("--memory-minutes", type=int, default=30)
    ap.add_argument("--memory-target", type=int, default=40_000)
    ap.add_argument("--redis-day", action="store_true", help="only: Redis bytes per terminal-day")
    ap.add_argument("--day-terminals", type=int, default=200)
    ap.add_argument("--day-start", default="08:00")
    ap.add_argument("--day-minutes", type=int, default=600)
    ap.add_argument("--quick", action="store_true", help="small smoke run of every section")
    ap.add_argument("--_memory-child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    # A SIGTERM must still run the ``with`` blocks that stop the embedded Tansu and Redis.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args._memory_child:
        n, path, batch = args._memory_child
        print(json.dumps(memory_child(int(n), Path(path), int(batch))))
        return
    log(f"gridpulse bench/gps.py  {dt.datetime.now().isoformat(timespec='seconds')}  "
        f"nproc={os.cpu_count()}  python {sys.version.split()[0]}  load {os.getloadavg()[0]:.1f}")
    if args.quick:
        args.terminals, args.warmup, args.minutes = 300, 10, 5
        args.memory_terminals, args.memory_minutes = "300,600", 10
        args.day_terminals, args.day_minutes = 20, 120
        args.hotspots = args.memory = args.redis_day = True
        throughput(args)
    only = args.hotspots or args.memory or args.redis_day
    if not only:
        throughput(args)
    if args.hotspots:
        hotspots(args)
    if args.memory:
        memory(args)
    if args.redis_day:
        redis_day(args)


if __name__ == "__main__":
    main()

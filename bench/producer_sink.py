"""The producers' Kafka sink: throughput, and what a broker outage in the middle leaves.

Usage::

    .venv/bin/python bench/producer_sink.py                 # throughput, no rate limit
    .venv/bin/python bench/producer_sink.py --outage 40     # broker SIGSTOP'd 40 s mid-send

Sends the seeded simulator's messages (``--terminals`` terminals from 08:00 for
``--minutes``) through :class:`producers.kafka_out.KafkaSink` to an embedded broker of its
own, reads the topics back and checks that every key's messages are there in order
(counting the duplicates an outage can leave). With ``--outage`` the send is rate-limited
(``--rate``) so that it is still going when the broker is stopped, 5 s in.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gridpulse.city import load_city  # noqa: E402
from gridpulse.runtime.broker import EmbeddedKafka  # noqa: E402
from gridpulse.schemas import encode  # noqa: E402
from producers.kafka_out import KafkaSink  # noqa: E402
from tests.integration.pipeline import _messages, _read_topic, isolated_settings  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--terminals", type=int, default=200)
    ap.add_argument("--minutes", type=int, default=240)
    ap.add_argument("--outage", type=float, default=0.0, help="seconds the broker is stopped (0: none)")
    ap.add_argument("--rate", type=float, default=2000.0, help="messages/s with --outage")
    args = ap.parse_args()
    msgs = _messages(load_city("ningbo"), minutes=args.minutes, terminals=args.terminals)
    with EmbeddedKafka() as broker:
        s = isolated_settings(broker.bootstrap, "redis://127.0.0.1:1/0", "bench-sink.",
                              sim_max_events_per_s=args.rate if args.outage else 0)

        def stop_the_broker() -> None:
            time.sleep(5)
            os.kill(broker._proc.pid, signal.SIGSTOP)
            time.sleep(args.outage)
            os.kill(broker._proc.pid, signal.SIGCONT)

        if args.outage:
            threading.Thread(target=stop_the_broker, daemon=True).start()

        async def send() -> KafkaSink:
            sink = KafkaSink(s, s.kafka_bootstrap)
            await sink.start()
            try:
                await sink.send(msgs)
            finally:
                await sink.stop()
            return sink

        t0 = time.monotonic()
        sink = asyncio.run(send())
        took = time.monotonic() - t0
        got = asyncio.run(_read_topic(s, "case-events")) + asyncio.run(_read_topic(s, "gps-fixes"))
    want: dict = {}
    for m in msgs:
        want.setdefault(m.key, []).append(encode(m.value))
    have: dict = {}
    for r in sorted(got, key=lambda r: (r.topic, r.partition, r.offset)):
        seq = have.setdefault(r.key.decode(), [])
        if r.value not in seq:
            seq.append(r.value)
    print(f"{len(msgs)} messages in {took:.2f} s ({len(msgs) / took:,.0f}/s); "
          f"{sink.batches} batches, {sink.failed_batches} not acknowledged and sent again")
    print(f"read back {len(got)}: every key's messages there and in order: {want == have}; "
          f"duplicates {len(got) - len(msgs)}")


if __name__ == "__main__":
    main()

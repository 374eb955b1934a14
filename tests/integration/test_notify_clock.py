"""The notifier's clocks wait for a partition whose log holds records but whose
projection the worker has not saved yet (notify/clock.py, SourceLogs), on the real broker.

Without that, a worker busy with one partition's backlog let the clocks run on the other
partitions' watermarks, and a replayed day notified an off-grid alert of the lagging
partition a flush late (tests/integration/test_notify_replay.py, before this).
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from gridpulse.rkeys import CASE, GPS
from gridpulse.runtime.broker import create_topics
from notify.clock import SourceLogs


def test_a_partition_with_records_and_no_projection_holds_its_clock(kafka_bootstrap, topic_prefix):
    case, gps = f"{topic_prefix}case-events", f"{topic_prefix}gps-fixes"
    create_topics(kafka_bootstrap, [case, gps], 3)

    async def main() -> None:
        p = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await p.start()
        await p.send_and_wait(gps, b"fix", key=b"g", partition=2)
        await p.stop()
        c = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=None)
        await c.start()
        try:
            logs = SourceLogs(c, {CASE: case, GPS: gps, "none": f"{topic_prefix}no-such-topic"})
            have = {CASE: {}, GPS: {0: 1_000}}
            assert logs.waiting(CASE, have) and logs.waiting(GPS, have)  # nothing known yet
            await logs.refresh(have)
            assert logs.filled == {CASE: set(), GPS: {2}, "none": set()}
            assert logs.waiting(GPS, have) and not logs.waiting(CASE, have)
            assert not logs.waiting(GPS, {GPS: {0: 1_000, 2: 900}})  # its projection is saved
            # A projection lost (Redis flushed): waiting at once, before any look-up...
            logs.poke({CASE: {}, GPS: {0: 1_000, 2: 900}})
            await asyncio.sleep(0.5)  # (the poke's own look-up)
            gone = {CASE: {}, GPS: {2: 900}}
            logs.poke(gone)
            assert logs.waiting(GPS, gone)
            # ... and after one, which finds partition 0 empty: it holds no alert back
            await logs.refresh(gone)
            assert not logs.waiting(GPS, gone) and logs.filled[GPS] == set()
        finally:
            await c.stop()

    asyncio.run(asyncio.wait_for(main(), 120))  # a hang guard, not a speed bound

"""The worker's direct log reader (streams/log_reader.py) against the real broker: calls
on one partition at once, as the catch-ups and the alerts board make them, each get the
right answer and none breaks another."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer

from gridpulse.runtime.broker import create_topics
from streams.log_reader import LogReader


def test_bounds_and_reads_of_one_partition_at_once(kafka_bootstrap, topic_prefix):
    topic = f"{topic_prefix}log"
    create_topics(kafka_bootstrap, [topic], 1)

    async def main() -> None:
        p = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
        await p.start()
        for i in range(300):
            await p.send(topic, f"v{i}".encode(), key=f"k{i}".encode(), partition=0)
        await p.flush()
        await p.stop()
        reader = LogReader(kafka_bootstrap, topic)

        async def read_all() -> list[int]:
            return [r.offset async for chunk in reader.read(0, 0, 300) for r in chunk]

        try:
            for _ in range(3):
                # Before: a bounds call that finished unassigned the partition under one
                # still polling ("Partition is not assigned", which stopped the worker).
                got = await asyncio.wait_for(  # a hang guard, not a speed bound
                    asyncio.gather(*[reader.bounds(0) for _ in range(6)], read_all()), 120)
                assert got[:6] == [(0, 300)] * 6
                assert got[6] == list(range(300))
        finally:
            await reader.stop()

    asyncio.run(main())

"""The batch queue the worker's Faust consumer delivers into."""

import asyncio

from streams.batch_feed import BatchQueue


def test_batches_wait_for_a_full_batch_or_the_window():
    async def go():
        q = BatchQueue(maxsize=100)
        for i in range(25):
            q.put_nowait_enhanced(i)
        first = await q.take(10, 0.5)
        rest = await q.take(100, 0.01)  # fewer than wanted: the window closes it
        return first, rest
    first, rest = asyncio.run(go())
    assert first == list(range(10)) and rest == list(range(10, 25))


def test_never_full_but_pauses_and_resumes_the_partition():
    paused, resumed = [], []

    async def go():
        q = BatchQueue(maxsize=4)
        assert not q.full()
        for i in range(6):
            q.put_nowait_enhanced(i, on_pressure_high=lambda: paused.append(1),
                                  on_pressure_drop=lambda: resumed.append(1))
        assert not q.full() and q.qsize() == 6
        await q.take(5, 0)
        return q

    asyncio.run(go())
    assert len(paused) >= 1 and len(resumed) == len(paused)

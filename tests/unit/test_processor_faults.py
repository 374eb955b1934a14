"""A record the pure core fails on is dead-lettered alone; the rest count as if it never came.

The processor is driven as the worker drives it, over an in-memory stand-in for its
Redis store (saved state is a deep copy, so a reload really starts from what was saved),
with a core that raises on one chosen event: while it is applied, or in the clock
advance after its batch. Outages (the store failing) are not the record's fault: they
propagate, and the partition's state is dropped so a retry starts from what was saved.
"""

from __future__ import annotations

import asyncio
import copy
from collections import Counter

import pytest

from gridpulse.city import load_city
from gridpulse.clock import parse_local
from gridpulse.loop.facts import Rules
from gridpulse.schemas import encode
from producers.simulator import Simulator
from streams.case_state import CasePartition
from streams.processor import CaseProcessor, Record
from streams.redis_store import Conflict
from streams.retry import is_outage
from streams.wiring import lineages
from tests import oracle

TZ = "Asia/Shanghai"
RULES = Rules.load("", "", TZ)
LATE = 60_000


class MemoryStore:
    """What the processor needs of PartitionStore, in memory, fenced by offset."""

    def __init__(self, new_case) -> None:
        self.new_case, self.saved = new_case, {}
        self.fail_next_flush = False

    async def load_case(self, p: int) -> CasePartition:
        st = self.saved.get(p)
        if st is None:
            st = self.new_case(p)
            st.persisted_offset = -1
            return st
        return copy.deepcopy(st, {id(RULES): RULES, id(st.lineage): st.lineage})

    async def flush_case(self, st: CasePartition) -> None:
        if self.fail_next_flush:
            self.fail_next_flush = False
            raise ConnectionError("Redis went away")
        saved = self.saved.get(st.partition)
        if (saved.offset if saved else -1) != st.persisted_offset:
            raise Conflict("fenced")
        st.prune_recent()
        st.persisted_offset = st.offset
        st.clear_dirty()
        self.saved[st.partition] = copy.deepcopy(st, {id(RULES): RULES, id(st.lineage): st.lineage})


class Faulty(CaseProcessor):
    """A core with a bug that one event triggers (``where``: in apply or in advance)."""

    def __init__(self, *a, bad_id: str, where: str, **kw) -> None:
        super().__init__(*a, **kw)
        self.bad_id, self.where = bad_id, where

    def _apply(self, st, item, r):
        if self.where == "apply" and getattr(item, "id", None) == self.bad_id:
            raise ZeroDivisionError("a bug this event triggers")
        return super()._apply(st, item, r)

    def _after_batch(self, st):
        bad_case = self.bad_id.rsplit(".", 1)[0]
        rec = st.cases.get(bad_case)
        if self.where == "advance" and rec is not None and rec.has(self.bad_id):
            raise KeyError("a bug the clock advance trips on")
        return super()._after_batch(st)


@pytest.fixture(scope="module")
def city():
    return load_city("ningbo")


@pytest.fixture(scope="module")
def log(city):
    sim = Simulator(city, seed=3, start_ms=parse_local("2026-11-27T08:00:00", TZ), tz=TZ,
                    terminals=5, cases_per_day=2000)
    return [m.value for m in sim.advance(sim.now + 4 * 3_600_000) if m.topic == "case-events"]


def _run(city, events, bad_id, where, parts=2, batch=100, outage_at=None):
    lin = lineages(city)
    letters = []

    async def dead_sink(items):
        letters.extend(d for _, d in items)

    store = MemoryStore(lambda p: CasePartition(p, lin.__getitem__, RULES, LATE))
    proc = Faulty(store, lin.__contains__, dead_sink, "case-events", bad_id=bad_id, where=where)
    offsets = Counter()
    recs = []
    for ev in events:
        p = oracle.partition_of(ev.case, parts)
        recs.append(Record(p, offsets[p], ev.case.encode(), encode(ev)))
        offsets[p] += 1

    async def go():
        for i in range(0, len(recs), batch):
            chunk = recs[i:i + batch]
            if outage_at is not None and i == outage_at:
                store.fail_next_flush = True
                with pytest.raises(ConnectionError) as err:
                    await proc.process(chunk)
                assert is_outage(err.value)
                # What the failed flush held is dropped: the retry starts from what was saved.
                assert all(st.offset == store.saved[p].offset for p, st in proc.parts.items())
            await proc.process(chunk)

    asyncio.run(go())
    got = Counter()
    for st in store.saved.values():
        got.update(st.counters)
    return +got, letters, proc


@pytest.mark.parametrize("where", ["apply", "advance"])
def test_the_record_at_fault_is_dead_lettered_and_the_rest_count(city, log, where):
    bad = log[len(log) // 2]
    got, letters, proc = _run(city, log, bad.id, where)
    assert [(d.offset >= 0, d.reason.split(":")[0]) for d in letters
            if d.reason.startswith("processing failed")] == [(True, "processing failed")]
    assert proc.faults == 1
    want, _ = oracle.case_views(city, [e for e in log if e.id != bad.id], RULES, 2, LATE)
    assert got == want


def test_an_outage_is_not_the_records_fault(city, log):
    got, letters, _ = _run(city, log, bad_id="none", where="apply", outage_at=300)
    assert not [d for d in letters if d.reason.startswith("processing failed")]
    want, _ = oracle.case_views(city, log, RULES, 2, LATE)
    assert got == want


class Buggy(CasePartition):
    """Rules with a bug that one saved case trips on once time has moved past it."""

    bad_case, after = "", 0

    def refresh(self, case):
        if case == self.bad_case and self.watermark > self.after:
            raise KeyError("a bug this case trips on as time passes")
        return super().refresh(case)


def test_a_case_that_fails_as_time_passes_blames_no_record(city, log):
    """The fault is not in any record that moves "now": the case is set aside, one letter
    names it, every other record applies, and the partition's clock goes on."""
    lin = lineages(city)
    bad = log[len(log) // 3]
    Buggy.bad_case, Buggy.after = bad.case, bad.ts + 30 * 60_000
    letters = []

    async def dead_sink(items):
        letters.extend(d for _, d in items)

    store = MemoryStore(lambda p: Buggy(p, lin.__getitem__, RULES, LATE))
    proc = CaseProcessor(store, lin.__contains__, dead_sink, "case-events")
    recs = [Record(0, i, ev.case.encode(), encode(ev)) for i, ev in enumerate(log)]

    async def go():
        for i in range(0, len(recs), 100):
            await proc.process(recs[i:i + 100])

    asyncio.run(go())
    blamed = [d for d in letters if d.offset >= 0 and d.reason.startswith("processing failed")]
    assert {log[d.offset].case for d in blamed} <= {bad.case}  # only its own later events
    named = {d.reason for d in letters if d.offset == -1 and bad.case in d.reason}
    assert named and all("as time passed" in why for why in named)
    saved = store.saved[0]
    assert saved.watermark == max(e.ts for e in log if e.case != bad.case or e.ts <= Buggy.after)
    assert saved.offset == len(recs) - 1

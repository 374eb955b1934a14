"""The producers' sink: through failed sends nothing acknowledged is lost or overtaken."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

import pytest
from aiokafka import errors as kafka_errors

from gridpulse import settings as settings_mod
from producers import kafka_out
from producers.kafka_out import KafkaSink, ProducerGaveUp


class FakeBatch:
    def __init__(self, size: int) -> None:
        self.size, self.records = size, []

    def append(self, *, key, value, timestamp):
        if self.records and len(self.records) >= self.size:
            return None
        self.records.append((key, value, timestamp))
        return object()

    def close(self) -> None:
        pass


class FakeProducer:
    """A broker that fails some batches (an outage) and sometimes writes a failed one anyway
    (its answer was lost): what a real one may do."""

    def __init__(self, fails, ghost_share: float = 0.0, seed: int = 3, error=kafka_errors.KafkaTimeoutError) -> None:
        self.fails = fails  # () -> bool: whether this batch fails
        self.log: dict[tuple[str, int], list] = defaultdict(list)
        self.rng = random.Random(seed)
        self.ghost_share = ghost_share
        self.error = error

    async def partitions_for(self, topic):
        return {0, 1, 2, 3}

    def create_batch(self):
        return FakeBatch(7)

    async def send_batch(self, batch, topic, *, partition):
        fut = asyncio.get_running_loop().create_future()
        if self.fails():
            if self.rng.random() < self.ghost_share:
                self.log[(topic, partition)].extend(batch.records)
            fut.set_exception(self.error())
        else:
            self.log[(topic, partition)].extend(batch.records)
            fut.set_result(None)
        return fut

    async def stop(self):
        pass


@pytest.fixture
def fast_time(monkeypatch):
    """asyncio.sleep advances a fake monotonic clock instead of waiting."""
    now = [100.0]

    async def sleep(delay):
        now[0] += delay

    monkeypatch.setattr(kafka_out.asyncio, "sleep", sleep)
    monkeypatch.setattr(kafka_out.time, "monotonic", lambda: now[0])
    return now


def sink_with(producer, **settings) -> KafkaSink:
    s = settings_mod.load({}, sim_max_events_per_s=0, **settings)
    sink = KafkaSink(s, "127.0.0.1:9")
    sink.producer = producer
    return sink


def items(n: int, keys: int = 13):
    return [("gp.case-events", f"k{i % keys}".encode(), f"v{i}".encode(), 1000 + i) for i in range(n)]


def per_key_first(log) -> dict:
    out: dict = defaultdict(list)
    for records in log.values():
        for key, value, _ in records:
            if value not in out[key]:
                out[key].append(value)
    return dict(out)


def test_failed_batches_are_sent_again_before_anything_after_them(fast_time):
    rng = random.Random(1)
    producer = FakeProducer(lambda: rng.random() < 0.3, ghost_share=0.5)
    sink = sink_with(producer)
    sent = items(2000)
    for it in sent:
        sink.add(*it)
    asyncio.run(sink.flush())
    want: dict = defaultdict(list)
    for _, key, value, _ in sent:
        want[key].append(value)
    assert per_key_first(producer.log) == dict(want)  # none lost, none overtaken
    assert sink.sent == 2000 and sink.failed_batches > 0
    dupes = sum(len(v) for v in producer.log.values()) - 2000
    assert dupes > 0  # the ghosts: whole batches, written twice in a row


def test_a_key_always_goes_to_the_same_partition(fast_time):
    producer = FakeProducer(lambda: False)
    sink = sink_with(producer)
    for it in items(500):
        sink.add(*it)
    asyncio.run(sink.flush())
    where: dict = {}
    for tp, records in producer.log.items():
        for key, _, _ in records:
            assert where.setdefault(key, tp) == tp


def test_gives_up_after_the_longest_outage_and_counts_what_it_did_not_send(fast_time):
    producer = FakeProducer(lambda: True)
    sink = sink_with(producer, producer_max_outage_s=120.0)
    for it in items(50):
        sink.add(*it)
    with pytest.raises(ProducerGaveUp) as err:
        asyncio.run(sink.flush())
    assert err.value.unsent == 50 and err.value.outage_s >= 120
    assert "50 events not sent" in str(err.value)


def test_send_counts_what_it_was_given_and_never_handed_over(fast_time):
    from producers.simulator import Message
    from gridpulse.schemas import Tick

    producer = FakeProducer(lambda: True)
    sink = sink_with(producer, producer_max_outage_s=60.0)
    msgs = [Message(1000 + i, "case-events", f"k{i}", Tick(type="tick", ts=1000 + i)) for i in range(1200)]
    with pytest.raises(ProducerGaveUp) as err:
        asyncio.run(sink.send(msgs, chunk=500))
    assert err.value.unsent == 1200  # 500 in the failed flush, 700 never queued


def test_never_gives_up_when_told_so(fast_time):
    calls = [0]

    def fails() -> bool:
        calls[0] += 1
        return calls[0] < 1000  # hours of failures at the 10 s cap

    producer = FakeProducer(fails)
    sink = sink_with(producer, producer_max_outage_s=0.0)
    for it in items(3):
        sink.add(*it)
    asyncio.run(sink.flush())
    assert sink.sent == 3 and fast_time[0] > 3600


def test_a_bug_is_raised_at_once(fast_time):
    producer = FakeProducer(lambda: True, error=kafka_errors.MessageSizeTooLargeError)
    sink = sink_with(producer)
    for it in items(3):
        sink.add(*it)
    with pytest.raises(kafka_errors.MessageSizeTooLargeError):
        asyncio.run(sink.flush())
    assert fast_time[0] == 100.0  # no retry


# -- the dashboard's acknowledgement sink (kafka-python, synchronous) ------------------------

class FakeFuture:
    def __init__(self, outcomes):
        self.outcomes = outcomes  # what each get() does: an exception to raise, or a result
        self.is_done = False

    def get(self, timeout):
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            self.is_done = not isinstance(outcome, __import__("kafka").errors.KafkaTimeoutError)
            raise outcome
        self.is_done = True
        return outcome


def ack_sink(monkeypatch, futures):
    from types import SimpleNamespace

    from dashboard import ack_sink as mod

    sent = []

    class Producer:
        def send(self, topic, key, value):
            sent.append(key)
            return futures.pop(0)

    monkeypatch.setattr(mod.time, "sleep", lambda s: None)
    sink = mod.AckSink(settings_mod.load({}, kafka_bootstrap="127.0.0.1:9"))
    monkeypatch.setattr(sink, "_get", lambda: Producer())
    meta = SimpleNamespace(topic="gp.alert-acks", partition=0, offset=7)
    return sink, sent, meta


def _ack():
    from gridpulse.schemas import AlertAck
    return AlertAck(id="ack-1", alert="a-1", by="desk 3", at=1, comment="")


def test_an_acknowledgement_that_failed_is_sent_again(monkeypatch):
    from kafka import errors
    futures = [FakeFuture([errors.NodeNotReadyError("down")]), FakeFuture([None])]
    sink, sent, meta = ack_sink(monkeypatch, futures)
    futures[1].outcomes = [meta]
    sink.send(_ack())
    assert len(sent) == 2


def test_an_acknowledgement_still_waiting_is_not_sent_twice(monkeypatch):
    from kafka import errors
    futures = [FakeFuture([errors.KafkaTimeoutError("slow"), None])]
    sink, sent, meta = ack_sink(monkeypatch, futures)
    futures[0].outcomes[1] = meta
    sink.send(_ack())
    assert len(sent) == 1


def test_an_acknowledgement_gives_up_when_the_request_cannot_wait_longer(monkeypatch):
    from kafka import errors
    futures = [FakeFuture([errors.NodeNotReadyError("down")]) for _ in range(1000)]
    sink, sent, _ = ack_sink(monkeypatch, futures)
    with pytest.raises(errors.NodeNotReadyError):
        sink.send(_ack(), timeout_s=0.0)
    assert len(sent) == 1

"""A Faust Kafka transport whose consumer hands messages over without a task per message.

Faust's ``Consumer._drain_messages`` awaits ``wait_first(callback(message),
suspend_flow.wait())`` for every message: two tasks and a wait on each, so that a
rebalance can interrupt a delivery blocked on a full queue. Profiling the worker showed
this (with the event-loop work it causes) as the largest single cost per message after
the stream machinery (docs/performance.md). Here the delivery is awaited directly while
the flow runs, and Faust's own ``wait_first`` path is kept while it is suspended (a
rebalance), so the semantics are unchanged: the same getmany, gap tracking, read
offsets, commits and rebalancing, one fewer pair of tasks per message. The worker's
own topics go one step further (see :class:`Consumer`).

The loop below is faust-streaming 0.15's ``Consumer._drain_messages`` (BSD licence) with
that one change; it is registered as the transport ``gridpulse-kafka://``.
"""

from __future__ import annotations

import asyncio

from faust.transport.consumer import CONSUMER_FETCHING
from faust.types import TP
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers import aiokafka as faust_aiokafka

SCHEME = "gridpulse-kafka"


#: Longest a fetch may wait for data on the broker. Faust hard-codes 1.5 s; a partition
#: with little traffic (case events) then holds up a whole fetch, which measured as
#: 0.4-0.9 s of event-to-Redis latency at 3,000 events/s. aiokafka's default is 0.5 s.
FETCH_MAX_WAIT_MS = 100


class ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's consumer thread with a shorter broker-side fetch wait."""

    def _create_worker_consumer(self, transport):
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read when the consumer starts
        return consumer


class Consumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, minus two tasks per delivered message.

    For topics in :attr:`batch_queues` it also skips the conductor: the message itself
    goes to that topic's batch queue (no Event, no codec pass, no channel fan-out) and
    the worker acks it with ``consumer.ack`` once its batch is in Redis.
    """

    #: topic name -> BatchQueue, filled by the worker app before it starts
    batch_queues: dict = {}

    def _new_consumer_thread(self) -> ConsumerThread:
        return ConsumerThread(self, loop=self.loop, beacon=self.beacon)

    def _pressure(self, tp) -> tuple:
        """The pause / resume callbacks of one partition (made once per partition)."""
        ftp = TP(tp.topic, tp.partition)  # Faust's bookkeeping wants its own TP type
        return (lambda: self.on_buffer_full(ftp), lambda: self.on_buffer_drop(ftp))

    async def _drain_messages(self, fetcher) -> None:  # pragma: no cover - Faust's loop
        queues = self.batch_queues
        pressure: dict = {}
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        set_flag, unset_flag = self.diag.set_flag, self.diag.unset_flag
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        suspended = self.suspend_flow.is_set
        yield_every, num_since_yield = 100, 0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(CONSUMER_FETCHING)
                ait = getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in ait:
                        num_since_yield += 1
                        if num_since_yield > yield_every:
                            await asyncio.sleep(0)
                            num_since_yield = 0
                        offset = message.offset
                        r_offset = get_read_offset(tp)
                        if r_offset is None or offset >= r_offset:
                            gap = offset - (r_offset or 0)
                            if gap > 1 and r_offset and acks_enabled_for(message.topic):
                                await self._add_gap(tp, r_offset + 1, offset)
                            if commit_every is not None and self._n_acked >= commit_every:
                                self._n_acked = 0
                                await self.commit()
                            queue = queues.get(tp.topic)
                            if queue is not None:
                                hd = pressure.get(tp)
                                if hd is None:
                                    hd = pressure[tp] = self._pressure(tp)
                                queue.put_nowait_enhanced(message, on_pressure_high=hd[0],
                                                          on_pressure_drop=hd[1])
                            elif suspended():
                                await self.wait_first(callback(message), self.suspend_flow.wait())
                            else:
                                await callback(message)
                            set_read_offset(tp, offset)
                unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(CONSUMER_FETCHING)


class Transport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with :class:`Consumer`."""

    Consumer = Consumer


TRANSPORTS.aliases.setdefault(SCHEME, f"{__name__}:Transport")

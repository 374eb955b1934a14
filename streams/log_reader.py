"""Reading a partition's log directly, outside the consumer group: the worker's catch-up.

The Faust consumer delivers records from the group's committed offset on. When Redis
holds less than that (it was flushed, a new empty Redis, a lost key, a rebuild switched
to an older image) or the log itself changed, the worker reads what it is missing
straight from Kafka with this reader, so it never has to move the group's position.
"""

from __future__ import annotations

import asyncio
import hashlib
import functools
from typing import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import ConsumerStoppedError, KafkaError

from .record import Record


def fingerprint(r) -> str:
    """What identifies a record of a log, beyond its offset: its key and value."""
    h = hashlib.blake2b(digest_size=8)
    h.update(r.key or b"\x00")
    h.update(b"\x01")
    h.update(r.value if r.value is not None else b"\x02null")
    return h.hexdigest()


def _reconnecting(fn):
    """A Kafka error drops the client of that partition (made again on the next call)
    and surfaces as a ConnectionError: the broker is away or was replaced, an outage
    the caller retries (streams/retry.py), not a bug. Other partitions' reads go on."""
    @functools.wraps(fn)
    async def wrapper(self, partition, *args, **kwargs):
        try:
            return await fn(self, partition, *args, **kwargs)
        except (KafkaError, ConsumerStoppedError) as exc:
            await self._drop(partition)
            raise ConnectionError(f"reading {self.topic}: {exc!r}") from exc
    return wrapper


class LogReader:
    """Reads ranges of one topic's partitions: a consumer without a group (no coordinator
    to go wrong) per partition and use, and an admin client for the group's committed
    offsets; all lazy. One consumer per partition because catch-ups of several partitions
    run at once, and a read is a generator: a shared consumer assigned to another
    partition between two of its chunks would end it early. :meth:`bounds` has a consumer
    of its own, one call at a time per partition: sharing the read's, a bounds call that
    finished unassigned the partition under another that was between its fetch and its
    high watermark, and the assertion that raised stopped the worker."""

    def __init__(self, bootstrap: str, topic: str, *, group: str | None = None,
                 fetch_bytes: int = 8 * 1024**2, idle_ms: int = 1500) -> None:
        self.bootstrap, self.topic, self.group = bootstrap, topic, group
        self.fetch_bytes, self.idle_ms = fetch_bytes, idle_ms
        self._cs: dict[tuple[str, int | None], AIOKafkaConsumer] = {}
        self._bounds_locks: dict[int, asyncio.Lock] = {}
        self._admin: AIOKafkaAdminClient | None = None

    async def _consumer(self, partition: int | None = None, use: str = "read") -> AIOKafkaConsumer:
        """The consumer that reads ``partition`` (None: one for metadata only) for ``use``
        (``read`` or ``bounds``)."""
        c = self._cs.get((use, partition))
        if c is None:
            c = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                 group_id=None, max_partition_fetch_bytes=self.fetch_bytes)
            await c.start()
            if (use, partition) in self._cs:  # another call made one meanwhile
                await c.stop()
                return self._cs[(use, partition)]
            self._cs[(use, partition)] = c
        return c

    async def _drop(self, partition: int) -> None:
        for use in ("read", "bounds"):
            await self._drop_one(partition, use)

    async def _drop_one(self, partition: int, use: str) -> None:
        c = self._cs.pop((use, partition), None)
        if partition is not None and self._admin is not None:
            admin, self._admin = self._admin, None
            try:
                await admin.close()
            except Exception:  # noqa: BLE001 - closing what already failed
                pass
        if c is not None:
            try:
                await c.stop()
            except Exception:  # noqa: BLE001 - closing what already failed
                pass

    async def stop(self) -> None:
        """Close the clients (they are opened again when needed)."""
        cs, self._cs = list(self._cs.values()), {}
        admin, self._admin = self._admin, None
        for client, close in [*((c, "stop") for c in cs), (admin, "close")]:
            if client is not None:
                try:
                    await getattr(client, close)()
                except Exception:  # noqa: BLE001 - closing what already failed
                    pass

    @_reconnecting
    async def bounds(self, partition: int) -> tuple[int, int]:
        """The partition's first retained offset and its end (the next offset to be written).

        The end is what the broker reports, checked by fetching from there: Tansu (memory
        storage) can report an end far behind a partition written in large batches, while
        a fetch's answer carries the true high watermark. The first fetch after an
        assignment may take longer than one poll, so polls go on until one is answered.
        """
        async with self._bounds_locks.setdefault(partition, asyncio.Lock()):
            c = await self._consumer(partition, "bounds")
            tp = TopicPartition(self.topic, partition)
            first = (await c.beginning_offsets([tp]))[tp]
            end = (await c.end_offsets([tp]))[tp]
            c.assign([tp])
            c.seek(tp, max(first, end - 1))
            try:
                for _ in range(40):  # a hang guard: a live broker answers within a few polls
                    got = (await c.getmany(tp, timeout_ms=300, max_records=5000)).get(tp, [])
                    if got:
                        end = max(end, got[-1].offset + 1)
                    hw = c.highwater(tp)
                    if hw is not None:
                        return first, max(end, hw)
                return first, end
            finally:
                c.unsubscribe()  # no fetching in the background until the next call

    @_reconnecting
    async def committed(self, partition: int) -> int | None:
        """The consumer group's committed offset of the partition (None if none)."""
        if self.group is None:
            return None
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            await admin.start()
            self._admin = admin
        tp = TopicPartition(self.topic, partition)
        got = (await self._admin.list_consumer_group_offsets(self.group, partitions=[tp])).get(tp)
        return None if got is None or got.offset < 0 else got.offset

    async def read(self, partition: int, start: int, end: int) -> AsyncIterator[list[Record]]:
        """The records of offsets ``start`` .. ``end - 1`` in chunks, in offset order.

        Stops early when the log has nothing more: a fetch answered empty at or past the
        high watermark, or, should the broker keep answering empty below it, after
        ``idle_ms`` five times over (what exists is what it delivers).
        """
        if start >= end:
            return
        try:
            c = await self._consumer(partition)
            tp = TopicPartition(self.topic, partition)
            c.assign([tp])
            c.seek(tp, start)
        except (KafkaError, ConsumerStoppedError) as exc:
            await self._drop(partition)
            raise ConnectionError(f"reading {self.topic}: {exc!r}") from exc
        pos, empty = start, 0
        try:
            while pos < end:
                try:
                    got = (await c.getmany(tp, timeout_ms=self.idle_ms, max_records=5000)).get(tp, [])
                except (KafkaError, ConsumerStoppedError) as exc:
                    await self._drop(partition)
                    raise ConnectionError(f"reading {self.topic}: {exc!r}") from exc
                if not got:
                    if tp not in c.assignment():
                        return  # reassigned by another call on this partition: read again later
                    hw = c.highwater(tp)
                    empty += 1
                    if (hw is not None and pos >= hw) or empty >= 5:
                        return
                    continue
                empty = 0
                chunk = [Record(m.partition, m.offset, m.key, m.value,
                                None if m.timestamp is None else m.timestamp / 1000)
                         for m in got if m.offset < end]
                if chunk:
                    yield chunk
                pos = got[-1].offset + 1
        finally:
            if self._cs.get(("read", partition)) is c and tp in c.assignment():
                c.unsubscribe()  # no fetching in the background until the next call

    async def record_at(self, partition: int, offset: int, patience: int = 4) -> Record | None:
        """The record at ``offset`` (None if there is none: deleted, or the log is shorter).

        A loaded broker may answer a fetch empty although the record exists; it is asked
        ``patience`` times before None is believed.
        """
        for _ in range(patience):
            async for chunk in self.read(partition, offset, offset + 1):
                for r in chunk:
                    if r.offset == offset:
                        return r
            first, end = await self.bounds(partition)
            if not first <= offset < end:
                return None
        return None

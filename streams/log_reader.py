"""Reading a partition's log directly, outside the consumer group: the worker's catch-up.

The Faust consumer delivers records from the group's committed offset on. When Redis
holds less than that (it was flushed, a new empty Redis, a lost key, a rebuild switched
to an older image) or the log itself changed, the worker reads what it is missing
straight from Kafka with this reader, so it never has to move the group's position.
"""

from __future__ import annotations

import hashlib
import functools
from typing import AsyncIterator

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from .record import Record


def fingerprint(r) -> str:
    """What identifies a record of a log, beyond its offset: its key and value."""
    h = hashlib.blake2b(digest_size=8)
    h.update(r.key or b"\x00")
    h.update(b"\x01")
    h.update(r.value if r.value is not None else b"\x02null")
    return h.hexdigest()


def _reconnecting(fn):
    """A Kafka error drops the reader's clients (they are made again on the next call)
    and surfaces as a ConnectionError: the broker is away or was replaced, an outage
    the caller retries (streams/retry.py), not a bug."""
    @functools.wraps(fn)
    async def wrapper(self, *args, **kwargs):
        try:
            return await fn(self, *args, **kwargs)
        except KafkaError as exc:
            await self.stop()
            raise ConnectionError(f"reading {self.topic}: {exc!r}") from exc
    return wrapper


class LogReader:
    """Reads ranges of one topic's partitions: a consumer without a group (no coordinator
    to go wrong), and an admin client for the group's committed offsets; both lazy."""

    def __init__(self, bootstrap: str, topic: str, *, group: str | None = None,
                 fetch_bytes: int = 8 * 1024**2, idle_ms: int = 1500) -> None:
        self.bootstrap, self.topic, self.group = bootstrap, topic, group
        self.fetch_bytes, self.idle_ms = fetch_bytes, idle_ms
        self._c: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None

    async def _consumer(self) -> AIOKafkaConsumer:
        if self._c is None:
            c = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                 group_id=None, max_partition_fetch_bytes=self.fetch_bytes)
            await c.start()
            self._c = c
        return self._c

    async def stop(self) -> None:
        """Close the clients (they are opened again when needed)."""
        c, self._c = self._c, None
        admin, self._admin = self._admin, None
        for client, close in ((c, "stop"), (admin, "close")):
            if client is not None:
                try:
                    await getattr(client, close)()
                except Exception:  # noqa: BLE001 - closing what already failed
                    pass

    @_reconnecting
    async def bounds(self, partition: int) -> tuple[int, int]:
        """The partition's first retained offset and its end (the next offset to be written).

        The end is what the broker reports, checked by reading from there: Tansu (memory
        storage) can report an end far behind a partition written in large batches.
        """
        c = await self._consumer()
        tp = TopicPartition(self.topic, partition)
        first = (await c.beginning_offsets([tp]))[tp]
        end = (await c.end_offsets([tp]))[tp]
        c.assign([tp])
        c.seek(tp, max(first, end - 1))
        for _ in range(20):  # a partition written to all the while has no last record
            got = (await c.getmany(tp, timeout_ms=300, max_records=5000)).get(tp, [])
            if not got:
                break
            end = max(end, got[-1].offset + 1)
        return first, end

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

        Stops early when the log has nothing more for ``idle_ms`` (the end offset a
        broker reports can be stale; what exists is what it delivers).
        """
        if start >= end:
            return
        try:
            c = await self._consumer()
            tp = TopicPartition(self.topic, partition)
            c.assign([tp])
            c.seek(tp, start)
        except KafkaError as exc:
            await self.stop()
            raise ConnectionError(f"reading {self.topic}: {exc!r}") from exc
        pos = start
        while pos < end:
            try:
                got = (await c.getmany(tp, timeout_ms=self.idle_ms, max_records=5000)).get(tp, [])
            except KafkaError as exc:
                await self.stop()
                raise ConnectionError(f"reading {self.topic}: {exc!r}") from exc
            if not got:
                return
            chunk = [Record(m.partition, m.offset, m.key, m.value,
                            None if m.timestamp is None else m.timestamp / 1000)
                     for m in got if m.offset < end]
            if chunk:
                yield chunk
            pos = got[-1].offset + 1

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

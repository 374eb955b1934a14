"""Snapshots of the projections in Kafka, so a rebuild replays minutes of log, not months.

Every ``GRIDPULSE_SNAPSHOT_S`` a worker writes an image of each partition it owns
(:mod:`streams.snapshot_image`) to the compacted topic ``snapshots``, in chunks keyed
``<kind>|<p>|<offset>|<i>`` (all in one partition of the topic, one after the other),
then a manifest keyed ``<kind>|<p>`` to the compacted topic ``snapshot-manifests``
saying where the chunks are, their SHA-256 and the offset (with the fingerprint of the
record there) the image reflects; then tombstones for the previous image's chunks.
A worker that finds a partition empty in Redis restores the newest image whose record
is still in the log, unchanged, and reads the log only from there
(:mod:`streams.recovery`).
"""

from __future__ import annotations

import hashlib
import logging
import time

import msgspec
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from gridpulse.clock import now_ms

from . import snapshot_image
from .log_reader import fingerprint
from .snapshot_image import Image

log = logging.getLogger("gridpulse.snapshots")

#: Bytes of an image a chunk carries: a record stays well under the 1 MiB request limit.
CHUNK = 768 * 1024


class Manifest(msgspec.Struct, kw_only=True):
    """Where one partition's newest image is, and what it reflects."""

    v: int = 1
    kind: str
    partition: int
    offset: int  # the source partition's offset the image reflects
    fp: str  # fingerprint of the record at ``offset`` (streams/log_reader.py)
    topic_partition: int  # of the snapshots topic, holding the chunks
    first: int  # offset of chunk 0 there
    last: int  # offset of the last chunk
    chunks: int
    bytes: int
    sha256: str
    at: int  # wall clock, when it was written

    @property
    def key(self) -> str:
        """The manifest's key: one per partition of the projections."""
        return f"{self.kind}|{self.partition}"

    def chunk_key(self, i: int) -> bytes:
        """Key of chunk ``i``."""
        return f"{self.kind}|{self.partition}|{self.offset}|{i}".encode()


_menc = msgspec.json.Encoder()
_mdec = msgspec.json.Decoder(Manifest)


class SnapshotStore:
    """Writes and reads images in the two topics; manifests are cached once read."""

    def __init__(self, bootstrap: str, topic: str, manifest_topic: str, partitions: int) -> None:
        self.bootstrap, self.topic, self.manifest_topic = bootstrap, topic, manifest_topic
        self.partitions = partitions
        self.manifests: dict[str, Manifest] | None = None
        self._producer: AIOKafkaProducer | None = None

    async def stop(self) -> None:
        """Close the producer (opened again when needed)."""
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                await producer.stop()
            except Exception:  # noqa: BLE001 - closing what already failed
                pass

    async def _send(self, topic: str, value: bytes | None, key: bytes, partition: int):
        if self._producer is None:
            p = AIOKafkaProducer(bootstrap_servers=self.bootstrap, acks="all",
                                 max_request_size=2 * CHUNK, linger_ms=5)
            await p.start()
            self._producer = p
        try:
            return await (await self._producer.send(topic, value, key=key, partition=partition))
        except KafkaError as exc:
            await self.stop()
            raise ConnectionError(f"writing {topic}: {exc!r}") from exc

    async def latest(self, kind: str, p: int) -> Manifest | None:
        """The newest manifest of the partition (read from the topic the first time)."""
        if self.manifests is None:
            self.manifests = await self._read_manifests()
        return self.manifests.get(f"{kind}|{p}")

    async def _read_manifests(self) -> dict[str, Manifest]:
        out: dict[str, Manifest] = {}
        c = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None)
        try:
            await c.start()
            await c.topics()
            parts = c.partitions_for_topic(self.manifest_topic) or set()
            tps = [TopicPartition(self.manifest_topic, q) for q in sorted(parts)]
            if not tps:
                return out
            c.assign(tps)
            await c.seek_to_beginning(*tps)
            while True:
                batch = await c.getmany(timeout_ms=1500, max_records=10_000)
                if not batch:
                    return out
                for recs in batch.values():
                    for r in recs:
                        if r.value is None:
                            out.pop(r.key.decode(), None)
                            continue
                        try:
                            m = _mdec.decode(r.value)
                        except msgspec.DecodeError:
                            continue  # not ours; nothing to restore from it
                        out[m.key] = m
        except KafkaError as exc:
            raise ConnectionError(f"reading {self.manifest_topic}: {exc!r}") from exc
        finally:
            await c.stop()

    async def save(self, image: Image) -> Manifest:
        """Write ``image`` and its manifest, then drop the previous image's chunks."""
        previous = await self.latest(image.kind, image.partition)
        raw = snapshot_image.encode(image)
        q = image.partition % self.partitions
        pieces = [raw[i:i + CHUNK] for i in range(0, len(raw), CHUNK)] or [b""]
        m = Manifest(kind=image.kind, partition=image.partition, offset=image.offset, fp=image.fp,
                     topic_partition=q, first=-1, last=-1, chunks=len(pieces), bytes=len(raw),
                     sha256=hashlib.sha256(raw).hexdigest(), at=now_ms())
        for i, piece in enumerate(pieces):
            md = await self._send(self.topic, piece, m.chunk_key(i), q)
            m.first = md.offset if i == 0 else m.first
            m.last = md.offset
        await self._send(self.manifest_topic, _menc.encode(m), m.key.encode(), 0)
        self.manifests[m.key] = m
        if previous is not None and previous.offset != m.offset:
            for i in range(previous.chunks):  # compaction then forgets them
                await self._send(self.topic, None, previous.chunk_key(i), previous.topic_partition)
        return m

    async def load(self, m: Manifest, idle_ms: int = 3000) -> Image | None:
        """The image a manifest points to (None if its chunks are gone or do not add up)."""
        c = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None,
                             max_partition_fetch_bytes=4 * CHUNK)
        pieces: dict[int, bytes] = {}
        try:
            await c.start()
            tp = TopicPartition(self.topic, m.topic_partition)
            c.assign([tp])
            c.seek(tp, m.first)
            pos = m.first
            while pos <= m.last:
                got = (await c.getmany(tp, timeout_ms=idle_ms, max_records=64)).get(tp, [])
                if not got:
                    break
                for r in got:
                    key = (r.key or b"").decode()
                    head, _, i = key.rpartition("|")
                    if head == f"{m.kind}|{m.partition}|{m.offset}" and r.value is not None:
                        pieces[int(i)] = r.value
                pos = got[-1].offset + 1
        except KafkaError as exc:
            raise ConnectionError(f"reading {self.topic}: {exc!r}") from exc
        finally:
            await c.stop()
        if len(pieces) != m.chunks:
            return None
        raw = b"".join(pieces[i] for i in range(m.chunks))
        if hashlib.sha256(raw).hexdigest() != m.sha256:
            return None
        return snapshot_image.decode(raw)


async def snapshot(store: SnapshotStore, r, keys, kind: str, p: int, tz: str, days: int) -> Manifest | None:
    """Write an image of the partition if it moved since its newest one."""
    latest = await store.latest(kind, p)
    saved = await r.hget(keys.meta(kind, p), "offset")
    if saved is None or (latest is not None and latest.offset >= int(saved)):
        return None
    t0 = time.monotonic()
    image = await snapshot_image.take(r, keys, kind, p, tz, days)
    if image is None:
        return None
    m = await store.save(image)
    log.info("%s partition %d: snapshot at offset %d, %d bytes in %d chunks, %.2f s", kind, p,
             m.offset, m.bytes, m.chunks, time.monotonic() - t0)
    return m


async def restore_latest(store: SnapshotStore, reader, r, keys, kind: str, p: int) -> Manifest | None:
    """Put the partition's newest image in Redis if the log still holds, unchanged, the
    record it reflects; returns its manifest (None if nothing was restored)."""
    m = await store.latest(kind, p)
    if m is None:
        return None
    here = await reader.record_at(p, m.offset)
    if here is None or fingerprint(here) != m.fp:
        log.warning("%s partition %d: the snapshot at offset %d is not of this log; not used",
                    kind, p, m.offset)
        return None
    image = await store.load(m)
    if image is None:
        log.warning("%s partition %d: the snapshot at offset %d is incomplete; not used", kind, p, m.offset)
        return None
    await snapshot_image.restore(r, keys, image)
    return m


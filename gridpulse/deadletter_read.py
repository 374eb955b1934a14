"""Reading the dead-letter topic for operators: ``gridpulse deadletter ls|show``.

A dead letter names where the record came from (topic, partition, offset), why it was
refused, when, and carries the record's bytes (or, past the size limit, their first
part, the whole size and a SHA-256). Letters are addressed by their own place in the
``deadletter`` topic, ``<partition>:<offset>``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from aiokafka import AIOKafkaConsumer, TopicPartition

from gridpulse.schemas import DeadLetter, decode_deadletter


@dataclass(frozen=True)
class Entry:
    """One dead letter and where it sits in the ``deadletter`` topic."""

    partition: int
    offset: int
    key: bytes | None
    letter: DeadLetter | None  # None: the record is not a dead letter at all
    problem: str = ""  # why ``letter`` is None

    @property
    def ref(self) -> str:
        """Its address for ``gridpulse deadletter show``."""
        return f"{self.partition}:{self.offset}"


def parse_ref(ref: str) -> tuple[int, int]:
    """``"<partition>:<offset>"`` -> (partition, offset); ValueError if malformed."""
    part, _, off = ref.partition(":")
    if not (part.isdigit() and off.isdigit()):
        raise ValueError(f"{ref!r} is not <partition>:<offset> (see `gridpulse deadletter ls`)")
    return int(part), int(off)


def _entry(rec) -> Entry:
    try:
        return Entry(rec.partition, rec.offset, rec.key, decode_deadletter(rec.value))
    except Exception as exc:  # noqa: BLE001 - someone else wrote to the topic: show it as such
        return Entry(rec.partition, rec.offset, rec.key, None, f"not a dead letter: {exc}")


async def read(bootstrap: str, topic: str, since_ms: int | None = None,
               idle_ms: int = 1500) -> list[Entry]:
    """Every letter in ``topic`` (written at or after ``since_ms`` if given), oldest first.

    Reads until the topic has nothing more for ``idle_ms``: no consumer group, nothing
    committed, so reading never disturbs anything.
    """
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                         auto_offset_reset="earliest", max_partition_fetch_bytes=8 << 20)
    await c.start()
    out: list[Entry] = []
    try:
        await c.topics()  # a consumer without a subscription learns topics lazily
        parts = c.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        c.assign(tps)
        if since_ms is None:
            await c.seek_to_beginning(*tps)
        else:
            found = await c.offsets_for_times({tp: since_ms for tp in tps})
            for tp in tps:
                if found.get(tp) is None:
                    await c.seek_to_end(tp)
                else:
                    c.seek(tp, found[tp].offset)
        while True:
            batch = await c.getmany(timeout_ms=idle_ms)
            if not batch:
                break
            for recs in batch.values():
                out.extend(_entry(r) for r in recs)
    finally:
        await c.stop()
    out.sort(key=lambda e: (e.letter.at if e.letter else 0, e.partition, e.offset))
    return out


async def read_one(bootstrap: str, topic: str, partition: int, offset: int,
                   wait_ms: int = 3000) -> Entry | None:
    """The letter at ``partition:offset`` of ``topic`` (None if there is none)."""
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                         max_partition_fetch_bytes=8 << 20)
    await c.start()
    try:
        tp = TopicPartition(topic, partition)
        await c.topics()
        if partition not in (c.partitions_for_topic(topic) or set()):
            return None
        c.assign([tp])
        c.seek(tp, offset)
        batch = await c.getmany(tp, timeout_ms=wait_ms, max_records=1)
        recs = [r for r in batch.get(tp, []) if r.offset == offset]
        return _entry(recs[0]) if recs else None
    finally:
        await c.stop()


def table(entries: list[Entry], tz: str, width: int = 100) -> str:
    """A table for people: address, when, where the record came from, size, reason."""
    zone = ZoneInfo(tz)
    rows = [("letter", "at (local)", "from", "bytes", "reason")]
    for e in entries:
        d = e.letter
        if d is None:
            rows.append((e.ref, "-", "-", "-", e.problem))
            continue
        at = datetime.fromtimestamp(d.at / 1000, zone).strftime("%Y-%m-%d %H:%M:%S")
        src = f"{d.topic}[{d.partition}]@{d.offset}" if d.offset >= 0 else f"{d.topic}[{d.partition}] (rule)"
        rows.append((e.ref, at, src, f"{d.size:,}", d.reason))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for r in rows:
        head = "  ".join(c.ljust(w) for c, w in zip(r[:4], widths))
        room = max(20, width - len(head) - 2)
        reason = r[4] if len(r[4]) <= room else r[4][:room - 1] + "…"
        lines.append(f"{head}  {reason}")
    return "\n".join(lines)


def document(e: Entry) -> dict:
    """One letter as JSON for people: the value shown as text where it is UTF-8."""
    d = e.letter
    if d is None:
        return {"letter": e.ref, "problem": e.problem}
    try:
        text, encoding = d.raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = d.raw.hex(), "hex"
    return {"letter": e.ref, "key": _show_key(e.key), "topic": d.topic, "partition": d.partition,
            "offset": d.offset, "reason": d.reason, "at": d.at, "size": d.size,
            "sha256": d.sha256, "truncated": d.truncated, "value": text, "value_encoding": encoding}


def _show_key(key: bytes | None) -> str | None:
    if key is None:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError:
        return "hex:" + key.hex()


def dumps(doc: dict) -> str:
    """JSON text of :func:`document`, readable Chinese included."""
    return json.dumps(doc, ensure_ascii=False, indent=1)

"""`gridpulse replay`: publish a recorded event log to Kafka again, unchanged.

The log is the JSONL file ``gridpulse simulate --out`` writes (:class:`producers.run.JsonlLog`):
one ``{"topic", "key", "value"}`` object a line, ``topic`` a logical topic name. Each value
is published as the exact JSON bytes it has in the file (a :class:`msgspec.Raw` slice, no
re-encoding), with the line's key, to ``settings.topic(topic)``, acks=all: a worker fed a
replay sees byte for byte what the live run's worker saw, so the same log gives the same
KPIs (every rule runs on event time, docs/contract.md "Now") and a batch recomputation of the file checks them.

Pacing is by event time (a case event's ``ts``, a GPS batch's last fix): ``speed`` event
seconds per real second, or as fast as possible. Lines that are not JSON, not a log
object, or name an unknown topic are reported with their line number and skipped.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from pathlib import Path
from typing import IO, Any, Iterator, NamedTuple

import msgspec

from gridpulse.clock import fmt_local
from gridpulse.settings import Settings
from gridpulse.topics import CASE_EVENTS, GPS_FIXES

from .kafka_out import KafkaSink, ProducerGaveUp

log = logging.getLogger("gridpulse.replay")

#: Logical topics an event log may carry (what producers publish; alerts and dead
#: letters are outputs of the workers, not facts to replay).
REPLAYABLE = (CASE_EVENTS, GPS_FIXES)
MAX_REPORTED = 20  # bad lines named one by one on stderr; the rest are only counted
CHUNK = 1000  # sends in flight before waiting for their acks (order per key is kept)


class LogLine(msgspec.Struct):
    """One line of an event log; ``value`` keeps its original bytes."""

    topic: str
    key: str | None
    value: msgspec.Raw


class _CaseTime(msgspec.Struct):
    ts: int


class _GpsTime(msgspec.Struct):
    fixes: list[tuple[int, Any, Any, Any]]


_line_dec = msgspec.json.Decoder(LogLine)
_time_dec = {CASE_EVENTS: msgspec.json.Decoder(_CaseTime), GPS_FIXES: msgspec.json.Decoder(_GpsTime)}


class Item(NamedTuple):
    """A line ready to send."""

    line: int
    topic: str  # logical
    key: bytes | None
    value: bytes  # the original JSON bytes
    ts: int | None  # event time, None if the value has none we can read


class BadLine(NamedTuple):
    """A line that was skipped, and why."""

    line: int
    reason: str


def event_time(topic: str, value: bytes) -> int | None:
    """Event time of a value: a case event's ``ts``, a GPS batch's last fix's ``ts``.

    None if the value does not carry one (it is still sent: the worker dead-letters what
    fails validation, as it did live).
    """
    try:
        v = _time_dec[topic].decode(value)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    if isinstance(v, _CaseTime):
        return v.ts
    return v.fixes[-1][0] if v.fixes else None


def parse_line(n: int, raw: bytes) -> Item | BadLine | None:
    """Line ``n`` of a log (1-based) as an :class:`Item`, a :class:`BadLine`, or None if blank."""
    if not raw.strip():
        return None
    try:
        ln = _line_dec.decode(raw)
    except msgspec.ValidationError as exc:
        return BadLine(n, f"not an event-log object: {exc}")
    except msgspec.DecodeError as exc:
        return BadLine(n, f"not JSON: {exc}")
    if ln.topic not in REPLAYABLE:
        return BadLine(n, f"unknown topic {ln.topic!r} (expected one of {', '.join(REPLAYABLE)})")
    value = bytes(ln.value)
    return Item(n, ln.topic, None if ln.key is None else ln.key.encode(), value,
                event_time(ln.topic, value))


def read_log(fh: IO[bytes]) -> Iterator[Item | BadLine]:
    """Items and bad lines of an open log file, in file order (streamed, not loaded whole)."""
    for n, raw in enumerate(fh, start=1):
        got = parse_line(n, raw)
        if got is not None:
            yield got


async def replay(settings: Settings, bootstrap: str, path: Path, *, speed: float | None = None,
                 create_topics: bool = True, err: IO[str] | None = None) -> dict:
    """Publish the log at ``path``; ``speed`` event seconds per real second, None: as fast as possible.

    Returns the summary ``gridpulse replay`` prints. Sends are acknowledged (acks=all)
    before this returns; a broker outage is waited out (kafka_out.py), and after one
    longer than ``producer_max_outage_s`` the summary says how many lines were not sent
    (``unsent``, ``gave_up``).
    """
    err = err if err is not None else sys.stderr
    if speed is not None and speed <= 0:
        raise ValueError("speed must be positive")
    if create_topics:
        await _ensure_topics(settings, bootstrap)
    sink = KafkaSink(settings.replace(sim_max_events_per_s=0), bootstrap, name="replay")
    per_topic = dict.fromkeys(REPLAYABLE, 0)
    bad: list[BadLine] = []
    no_time = 0
    first = last = None  # earliest and latest event time sent
    pace_event0 = pace_real0 = None
    gave_up: ProducerGaveUp | None = None
    t0 = time.monotonic()
    with open(path, "rb") as fh:
        lines = read_log(fh)
        try:
            await sink.start()
            for got in lines:
                if isinstance(got, BadLine):
                    bad.append(got)
                    if len(bad) <= MAX_REPORTED:
                        print(f"{path}:{got.line}: skipped: {got.reason}", file=err)
                    continue
                ts = got.ts
                if ts is None:
                    no_time += 1
                else:
                    first = ts if first is None else min(first, ts)
                    last = ts if last is None else max(last, ts)
                    if speed is not None:
                        if pace_event0 is None:
                            pace_event0, pace_real0 = ts, time.monotonic()
                        wait = pace_real0 + (ts - pace_event0) / 1000 / speed - time.monotonic()
                        if wait > 0:
                            await sink.flush()  # what is due now is in Kafka before we idle
                            await asyncio.sleep(wait)
                sink.add(settings.topic(got.topic), got.key, got.value, ts)
                per_topic[got.topic] += 1
                if len(sink.pending) >= CHUNK:
                    await sink.flush()
            await sink.flush()
        except ProducerGaveUp as exc:
            gave_up = exc
            exc.unsent += sum(1 for got in lines if not isinstance(got, BadLine))  # never handed over
            log.error("%s: %s", path, exc)
        finally:
            await sink.stop()
    if len(bad) > MAX_REPORTED:
        print(f"{path}: ... and {len(bad) - MAX_REPORTED} more bad lines", file=err)
    tz = settings.timezone
    summary = {
        "file": str(path),
        "messages": sink.sent,
        "topics": {settings.topic(t): sink.sent_by_topic.get(settings.topic(t), 0) for t in per_topic},
        "first_event": first,
        "last_event": last,
        "first_event_local": fmt_local(first, tz) if first is not None else None,
        "last_event_local": fmt_local(last, tz) if last is not None else None,
        "without_event_time": no_time,
        "bad_lines": len(bad),
        "bad_line_numbers": [b.line for b in bad[:MAX_REPORTED]],
        "speed": speed if speed is not None else "max",
        "elapsed_s": round(time.monotonic() - t0, 3),
    }
    if gave_up is not None:
        summary.update(unsent=gave_up.unsent, gave_up=str(gave_up))
    return summary


async def _ensure_topics(settings: Settings, bootstrap: str) -> None:
    """Create the target topics with the deployment's partition count if they are missing."""
    from gridpulse.runtime.broker import create_topics_async
    try:
        await create_topics_async(bootstrap, [settings.topic(t) for t in REPLAYABLE], settings.partitions)
    except Exception as exc:  # e.g. no CreateTopics permission on a managed cluster
        log.warning("could not make sure the topics exist (%s); publishing anyway", exc)

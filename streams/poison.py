"""Records the worker cannot use, and the reason a person reads in the dead-letter topic.

Whatever is wrong with a record's bytes (not JSON, invalid UTF-8, nested too deeply, a
null value, a field out of range, a value the catalog or the city does not know, a
terminal clock far ahead of the broker's) becomes a :class:`Poison` with a reason, and
the record is dead-lettered: no decoder error ever leaves this module as anything else.
"""

from __future__ import annotations

from typing import Callable, TypeVar

import msgspec

from gridpulse.schemas import CaseEvent, GpsBatch, Tick, decode_case, decode_gps, decode_tick

T = TypeVar("T")


class Poison(Exception):
    """A record that cannot be applied; ``str(exc)`` is the reason for people."""


def reason_of(exc: BaseException) -> str:
    """A reason for people from a decoder's exception (msgspec's names the field)."""
    if isinstance(exc, msgspec.ValidationError):
        return str(exc)
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8: byte 0x{exc.object[exc.start]:02x} at offset {exc.start}"
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply"
    if isinstance(exc, msgspec.DecodeError):
        return f"not JSON: {exc}"
    return f"undecodable: {type(exc).__name__}: {exc}"


def decode(decoder: Callable[[bytes], T], value: bytes | None) -> T:
    """``decoder(value)``, or :class:`Poison` naming what is wrong with the bytes."""
    if value is None:
        raise Poison("null value (a tombstone): every gridpulse message has a value")
    if not value:
        raise Poison("empty value")
    try:
        if not value.isascii():
            # msgspec checks UTF-8 only in the strings it keeps; the contract says every
            # value is UTF-8, so a broken byte anywhere (an ignored field too) is refused.
            value.decode("utf-8")
        return decoder(value)
    except Exception as exc:  # noqa: BLE001 - any decoder failure is the record's fault
        raise Poison(reason_of(exc)) from None


def check_clock(ts: int, record_ts: int | None, ahead_ms: int) -> None:
    """Poison if event time ``ts`` is more than ``ahead_ms`` after the record's timestamp.

    The record's timestamp is when the broker (or the gateway that wrote it) received
    it; an event dated further ahead comes from a terminal with a wrong clock, and
    applying it would move the partition's "now" into the future.
    """
    if record_ts is not None and record_ts >= 0 and ahead_ms > 0 and ts - record_ts > ahead_ms:
        raise Poison(f"clock ahead: event time {ts} is {(ts - record_ts) / 1000:.0f} s after "
                     f"the record's timestamp {record_ts} (more than {ahead_ms / 1000:.0f} s) - at `$.ts`")


def check_key(r, want: str, field: str) -> None:
    """Poison unless the record's key is ``want``: the value's ``field`` decides the
    partition, and a record under another key would split what must stay together."""
    if r.key != want.encode():
        raise Poison(f"key {r.key!r} is not the value's {field} {want!r} - the key must be "
                     f"the {field}, so that every record of it lands in one partition")


def record_ms(r) -> int | None:
    """The record's timestamp in epoch ms (None if it has none); ``r.timestamp`` is in
    seconds, as Faust's ConsumerMessage gives it."""
    ts = r.timestamp
    return None if ts is None else round(ts * 1000)


#: The key of a clock tick on ``case-events``.
TICK_KEY = b"tick"


def case_item(r, known_grid: Callable[[str], bool], ahead_ms: int) -> CaseEvent | Tick:
    """What a ``case-events`` record is to the worker: a case event or a clock tick, every
    check of the contract passed; else :class:`Poison` with the reason."""
    try:
        item = decode(decode_case, r.value)
    except Poison as not_case:
        try:
            tick = decode(decode_tick, r.value)
        except Poison:
            raise not_case from None  # the case event's reason is the one people need
        if r.key != TICK_KEY:
            raise Poison(f"key {r.key!r} is not {TICK_KEY!r}: a tick is keyed so") from None
        check_clock(tick.ts, record_ms(r), ahead_ms)
        return tick
    if not known_grid(item.grid):
        raise Poison(f"unknown grid {item.grid!r} - at `$.grid`")
    check_key(r, item.case, "case")
    check_clock(item.ts, record_ms(r), ahead_ms)
    return item


def gps_item(r, known_grid: Callable[[str], bool], ahead_ms: int) -> GpsBatch:
    """What a ``gps-fixes`` record is to the worker: a batch of fixes, every check of the
    contract passed (its newest fix judged on time); else :class:`Poison`."""
    batch = decode(decode_gps, r.value)
    if not known_grid(batch.grid):
        raise Poison(f"unknown grid {batch.grid!r} - at `$.grid`")
    check_key(r, batch.grid, "grid")
    if ahead_ms and r.timestamp is not None:
        check_clock(max([f.ts for f in batch.fixes]), record_ms(r), ahead_ms)
    return batch

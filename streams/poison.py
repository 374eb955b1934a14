"""Records the worker cannot use, and the reason a person reads in the dead-letter topic.

Whatever is wrong with a record's bytes (not JSON, invalid UTF-8, nested too deeply, a
null value, a field out of range, a value the catalog or the city does not know, a
terminal clock far ahead of the broker's) becomes a :class:`Poison` with a reason, and
the record is dead-lettered: no decoder error ever leaves this module as anything else.
"""

from __future__ import annotations

from typing import Callable, TypeVar

import msgspec

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

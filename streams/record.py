"""A raw Kafka record as the processors see it."""

from __future__ import annotations

from typing import NamedTuple


class Record(NamedTuple):
    """A raw Kafka record as the processors see it (anything with these fields will do:
    the worker passes Faust's ConsumerMessage objects as they are)."""

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: float | None = None  # the record's timestamp in seconds, as Faust gives it

"""Log lines of the Kafka clients and of Faust, at the level of what they mean for gridpulse.

Each rule below changes the level of a kind of line that would otherwise be logged as an
ERROR while nothing is wrong, or once per retry while an outage is already reported, and
says why. Nothing else is touched: an error of these libraries that no rule names keeps
its level.

1. **A client's own retries during a Kafka outage** (aiokafka: "Unable connect to node",
   "Failed fetch messages", "OffsetCommit failed ... RequestTimedOutError", "Group
   Coordinator Request failed", "Unable to update metadata", "Heartbeat session expired";
   kafka-python alike): the client retries by itself, several times a second. The outage
   is reported once by whoever waits for the broker (:mod:`gridpulse.outage`), so these
   become DEBUG lines; they are counted as *hints* for the worker's health probe, which
   reports them as an outage if they go on while the broker answers its probes (a client
   that cannot reach the address the broker advertises, for instance).
2. **A consumer group rejoining** ("OffsetCommit failed ... due to group error
   (UnknownMemberIdError), will rejoin", "OffsetCommit failed before join"): the group
   rebalanced (a worker joined or left, or this one paused longer than the session
   timeout). The consumer rejoins by itself, the records since the last commit are read
   again and Redis skips those it already reflects: a WARNING, not an ERROR.
3. **Faust's stall detector** ("Stream has not started processing", "Stream stopped
   processing, or is slow", "Has not committed ... at all since worker start", "Aiokafka
   stopped fetching", "No active partitions") and **mode's overlapping timers** while a
   Redis or Kafka outage is going on, or ended less than :data:`AFTER_OUTAGE_S` ago: the
   outage explains the stall and is reported already, so DEBUG. Otherwise they are real
   and stay ERRORs. (In normal running the worker keeps the detector informed, see
   streams/supervision.py; it used to report every batch-fed topic as never started.)
"""

from __future__ import annotations

import logging

from .outage import KAFKA, Outages, is_outage, outages

__all__ = ["TriageFilter", "install", "classify", "AFTER_OUTAGE_S"]

#: How long after an outage the stalls it caused are still put down to it.
AFTER_OUTAGE_S = 60.0

_LIBRARIES = ("aiokafka", "kafka", "faust", "mode")

# Lines of a client's retries that carry no error naming the cause (the others do).
_SYMPTOMS = ("Unable connect to", "Unable to update metadata from", "Heartbeat session expired",
             "Marking the coordinator dead")
_REJOIN = (
    "OffsetCommit failed for group %s due to group error", "OffsetCommit failed before join",
    "Heartbeat failed: local member_id was not recognized", "Heartbeat failed for group",
)
_STALLS = (
    "Stream has not started processing", "Stream stopped processing", "Has not committed",
    "Aiokafka has not sent fetch", "Aiokafka stopped fetching", "Aiokafka has not received",
    "Broker stopped responding", "Highwater not yet available", "No active partitions for",
    "Timer ",
)


def _retriable_kafka_names() -> frozenset[str]:
    names = {"KafkaConnectionError", "KafkaTimeoutError", "NodeNotReadyError", "RequestTimedOutError",
             "NoBrokersAvailable", "ConnectionError", "TimeoutError"}
    from aiokafka import errors
    for value in vars(errors).values():
        if isinstance(value, type) and issubclass(value, errors.KafkaError) and value.retriable:
            names.add(value.__name__)
    return frozenset(names)


_RETRIABLE = _retriable_kafka_names()


def _template(record: logging.LogRecord) -> str:
    return record.msg if isinstance(record.msg, str) else str(record.msg)


def _names_an_outage(record: logging.LogRecord) -> bool:
    """Whether the record's arguments carry an outage error (an instance, a class or its name)."""
    args = record.args if isinstance(record.args, tuple) else (record.args,)
    for a in args:
        if isinstance(a, BaseException):
            if is_outage(a):
                return True
        elif isinstance(a, type) and issubclass(a, BaseException):
            if a.__name__ in _RETRIABLE:
                return True
        elif isinstance(a, str) and a in _RETRIABLE:
            return True
    text = record.getMessage()
    return any(name in text for name in _RETRIABLE) or "Connect call failed" in text


def classify(record: logging.LogRecord) -> str | None:
    """Which rule a WARNING or ERROR of a Kafka client, Faust or mode falls under:
    "symptom", "rejoin", "stall", or None (left alone)."""
    if not record.name.startswith(_LIBRARIES) or record.levelno < logging.WARNING:
        return None
    msg = _template(record)
    if msg.startswith(_REJOIN):
        return "rejoin"
    if msg.startswith(_STALLS):
        return "stall"
    if record.name.startswith(("aiokafka", "kafka")) and (msg.startswith(_SYMPTOMS) or _names_an_outage(record)):
        return "symptom"
    return None


def _set_level(record: logging.LogRecord, level: int) -> None:
    record.levelno, record.levelname = level, logging.getLevelName(level)


class TriageFilter(logging.Filter):
    """Applies the module's rules to the records a handler is about to write."""

    def __init__(self, registry: Outages | None = None) -> None:
        super().__init__()
        self.registry = registry or outages

    def filter(self, record: logging.LogRecord) -> bool:
        """Re-level ``record`` by the rules; whether it is still to be written."""
        if not getattr(record, "_gp_triaged", False):
            record._gp_triaged = True  # several handlers: judge (and count) once
            kind = classify(record)
            if kind == "symptom":
                self.registry.dependency(KAFKA).hint(f"{record.name}: {record.getMessage()}")
                _set_level(record, logging.DEBUG)
            elif kind == "rejoin" and record.levelno > logging.WARNING:
                _set_level(record, logging.WARNING)
            elif kind == "stall" and self.registry.any_down(AFTER_OUTAGE_S):
                _set_level(record, logging.DEBUG)
        # The logger judged the original level; handlers often have none of their own.
        return logging.getLogger(record.name).isEnabledFor(record.levelno)


def install(registry: Outages | None = None, handlers: list[logging.Handler] | None = None) -> None:
    """Put a :class:`TriageFilter` on ``handlers`` (default: the root logger's), once each."""
    for h in logging.getLogger().handlers if handlers is None else handlers:
        if not any(isinstance(f, TriageFilter) for f in h.filters):
            h.addFilter(TriageFilter(registry))

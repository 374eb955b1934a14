"""Logical Kafka topic names, their keys and how many partitions gridpulse gives them."""

from __future__ import annotations

from .settings import Settings

CASE_EVENTS = "case-events"  # key: case id
GPS_FIXES = "gps-fixes"  # key: terminal id
ALERTS = "alerts"  # key: alert id
DEADLETTER = "deadletter"  # key: the original message's key

ALL = (CASE_EVENTS, GPS_FIXES, ALERTS, DEADLETTER)


def names(settings: Settings) -> dict[str, str]:
    """Logical name -> full topic name (with the deployment's prefix)."""
    return {name: settings.topic(name) for name in ALL}

"""Logical Kafka topic names, their keys and how many partitions gridpulse gives them."""

from __future__ import annotations

from .settings import Settings

CASE_EVENTS = "case-events"  # key: case id
GPS_FIXES = "gps-fixes"  # key: the terminal's assigned grid code
ALERTS = "alerts"  # key: alert id
ALERT_ACKS = "alert-acks"  # key: the acknowledged alert's id
DEADLETTER = "deadletter"  # key: the original message's key
SILENCES = "silences"  # key: silence id (compacted: the newest version of each silence)
NOTIFY_LOG = "notify-log"  # key: notification key (compacted: where each delivery stands)
SNAPSHOTS = "snapshots"  # key: <kind>|<partition>|<offset>|<chunk> (compacted: images of projections)
SNAPSHOT_MANIFESTS = "snapshot-manifests"  # key: <kind>|<partition> (compacted: the newest image)

ALL = (CASE_EVENTS, GPS_FIXES, ALERTS, ALERT_ACKS, DEADLETTER, SILENCES, NOTIFY_LOG, SNAPSHOTS,
       SNAPSHOT_MANIFESTS)
#: Topics whose readers want only the newest value of each key.
COMPACTED = (SILENCES, NOTIFY_LOG, SNAPSHOTS, SNAPSHOT_MANIFESTS)


#: Kafka's default retention: what gridpulse's other topics are left with.
DEFAULT_RETENTION_MS = 7 * 86_400_000


def names(settings: Settings) -> dict[str, str]:
    """Logical name -> full topic name (with the deployment's prefix)."""
    return {name: settings.topic(name) for name in ALL}


def configs(settings: Settings) -> dict[str, dict[str, str]]:
    """Full topic name -> the topic configs gridpulse creates it with, as docs/contract.md
    says what must stay in Kafka: the compacted topics compact, and ``alerts`` and
    ``alert-acks`` hold at least ``GRIDPULSE_ALERT_DAYS`` and a day (the alerts board and
    the notifier read them back that far after a restart). The source topics keep the
    broker's default (7 days: ample with snapshots, docs/contract.md)."""
    out = {settings.topic(n): {"cleanup.policy": "compact"} for n in COMPACTED}
    keep = max(DEFAULT_RETENTION_MS, (settings.alert_days + 1) * 86_400_000)
    for n in (ALERTS, ALERT_ACKS):
        out[settings.topic(n)] = {"retention.ms": str(keep)}
    return out

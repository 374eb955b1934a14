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
    out: dict[str, dict[str, str]] = {settings.topic(n): {} for n in ALL}
    for n in COMPACTED:
        out[settings.topic(n)]["cleanup.policy"] = "compact"
    keep = max(DEFAULT_RETENTION_MS, (settings.alert_days + 1) * 86_400_000)
    for n in (ALERTS, ALERT_ACKS):
        out[settings.topic(n)]["retention.ms"] = str(keep)
    if settings.topic_replication > 1:
        isr = str(min(settings.topic_min_isr, settings.topic_replication))
        for cfg in out.values():
            cfg["min.insync.replicas"] = isr
    return out


def differences(settings: Settings, found: dict[str, dict | None]) -> list[str]:
    """What the broker's topics (``found``: full name -> ``{"partitions", "replication",
    "configs"}``, None if missing) lack of what gridpulse expects, a line each. Pure."""
    out = []
    want = configs(settings)
    for topic in names(settings).values():
        t = found.get(topic)
        if t is None:
            out.append(f"topic {topic}: missing")
            continue
        if t["partitions"] != settings.partitions:
            out.append(f"topic {topic}: {t['partitions']} partitions, gridpulse expects {settings.partitions} "
                       f"(GRIDPULSE_PARTITIONS)")
        if t["replication"] < settings.topic_replication:
            out.append(f"topic {topic}: {t['replication']} replicas, gridpulse expects "
                       f"{settings.topic_replication} (GRIDPULSE_TOPIC_REPLICATION)")
        for k, v in want[topic].items():
            got = t["configs"].get(k)
            if got != v:
                shown = "not set (the broker's default)" if got is None else repr(got)
                out.append(f"topic {topic}: {k} is {shown}, gridpulse expects {v!r}")
    return out

"""Redis key layout of the live views, shared by the writers (streams/) and readers.

Each Kafka partition's projection lives under its own keys and carries the offset it
reflects, so writes are absolute and idempotent; readers merge across partitions.
"""

from __future__ import annotations

CASE = "case"
GPS = "gps"


class Keys:
    """Key names under one prefix (``GRIDPULSE_REDIS_PREFIX``)."""

    def __init__(self, prefix: str = "gp:") -> None:
        self.prefix = prefix

    def parts(self, kind: str) -> str:
        """Set of partition numbers that have a projection of ``kind``."""
        return f"{self.prefix}parts:{kind}"

    def meta(self, kind: str, p: int) -> str:
        """Hash: ``offset`` (last applied), ``wm`` (max event time) and ``at`` (wall-clock ms
        of the last write) of a partition."""
        return f"{self.prefix}{kind}:{p}:meta"

    def cases(self, p: int) -> str:
        """Hash: case id -> msgpack case record (the worker's recoverable state)."""
        return f"{self.prefix}case:{p}:cases"

    def kpi(self, p: int) -> str:
        """Hash: counter key (see ``gridpulse.loop.facts``) -> value in this partition."""
        return f"{self.prefix}case:{p}:kpi"

    def recent(self, p: int) -> str:
        """Sorted set: case id scored by report time, the last hours' cases."""
        return f"{self.prefix}case:{p}:recent"

    def recent_info(self, p: int) -> str:
        """Hash: case id -> JSON summary for the ticker and the map."""
        return f"{self.prefix}case:{p}:recentinfo"

    def open_cases(self, p: int) -> str:
        """Hash: open case id -> JSON row for the case lists (area, stage, overdue, deadline)."""
        return f"{self.prefix}case:{p}:open"

    def positions(self, p: int) -> str:
        """Hash: terminal id -> JSON ``[ts, lon, lat, grid, worker]`` latest fix."""
        return f"{self.prefix}gps:{p}:pos"

    def terms(self, p: int) -> str:
        """Hash: terminal id -> msgpack terminal state (the worker's recoverable GPS state)."""
        return f"{self.prefix}gps:{p}:terms"

    def gkpi(self, p: int) -> str:
        """Hash: visit counter key (see ``gridpulse.visits.facts``) -> value in this partition."""
        return f"{self.prefix}gps:{p}:kpi"

    def coverage(self, p: int) -> str:
        """Hash: grid -> last visit day per household (uint16 array, little-endian)."""
        return f"{self.prefix}gps:{p}:cov"

    def lastvisit(self, p: int) -> str:
        """Hash: grid -> end time (epoch ms) of its newest visit."""
        return f"{self.prefix}gps:{p}:lastvisit"

    def frozen(self, p: int) -> str:
        """Hash: counter key -> the share of archived cases in it (what a load starts from)."""
        return f"{self.prefix}case:{p}:frozen"

    def lastcase(self, p: int) -> str:
        """Hash: grid -> report time (epoch ms) of its newest case."""
        return f"{self.prefix}case:{p}:lastcase"

    def route(self, day: int, terminal: str) -> str:
        """String: a terminal-day's route, 12-byte points (``visits.day.pack_route``)."""
        return f"{self.prefix}route:{day}:{terminal}"

    def visits(self, day: int, terminal: str) -> str:
        """List: a terminal-day's stays as JSON ``[household, start, end, lon, lat]``."""
        return f"{self.prefix}visits:{day}:{terminal}"

    def wday(self, day: int) -> str:
        """Hash: terminal id -> JSON summary of its day (worker, distance, visits...)."""
        return f"{self.prefix}wday:{day}"

    def silent(self) -> str:
        """Hash: derived silent-grid view: ``sgrid|area`` counters and ``at`` (its now)."""
        return f"{self.prefix}silent"

    def silent_alerted(self) -> str:
        """Set: ids of the silent-grid alerts already sent."""
        return f"{self.prefix}silent:alerted"

    def alert_info(self) -> str:
        """Hash: alert id -> the alert's JSON (the alerts board, last days)."""
        return f"{self.prefix}alerts:info"

    def alert_ts(self) -> str:
        """Sorted set: alert id scored by alert time."""
        return f"{self.prefix}alerts:ts"

    def board_meta(self) -> str:
        """Hash: ``<topic>|<partition>`` -> the last offset of ``alerts`` / ``alert-acks``
        the alerts board applied (what it lacks after a Redis loss is read again)."""
        return f"{self.prefix}alerts:meta"

    def alert_resolved(self) -> str:
        """Sorted set: case id scored by the time of its newest ``resolved`` alert."""
        return f"{self.prefix}alerts:resolved"

    def alert_acks(self, alert: str) -> str:
        """Hash: acknowledgement id -> JSON ``AlertAck`` of one alert."""
        return f"{self.prefix}alerts:ack:{alert}"

    def deadletters(self) -> str:
        """Sorted set: dead letters of the last days, by when they were written."""
        return f"{self.prefix}deadletters"

    def workers(self) -> str:
        """Hash: worker instance id (``<host>:<pid>``) -> JSON status it rewrites every 2 s
        (partitions owned, records behind, rebuilds, what it waits for; see
        ``gridpulse.freshness``)."""
        return f"{self.prefix}workers"

    def notify_log(self) -> str:
        """Hash: notification key -> JSON ``Notification`` (the notifier's log, as read from
        the ``notify-log`` topic, without request bodies)."""
        return f"{self.prefix}notify:log"

    def notify_log_ts(self) -> str:
        """Sorted set: notification key scored by when it was decided (wall ms)."""
        return f"{self.prefix}notify:log:ts"

    def notify_alert(self, alert: str) -> str:
        """Set: keys of the notifications that carried one alert."""
        return f"{self.prefix}notify:alert:{alert}"

    def notify_claim(self, key: str) -> str:
        """String: the replica sending notification ``key`` (leased), then ``done:<status>``."""
        return f"{self.prefix}notify:claim:{key}"

    def notify_rate(self, receiver: str) -> str:
        """Sorted set: a receiver's requests of the last rate window (shared by replicas)."""
        return f"{self.prefix}notify:rate:{receiver}"

    def notify_silences(self) -> str:
        """Hash: silence id -> JSON ``Silence`` (newest version, from the ``silences`` topic)."""
        return f"{self.prefix}notify:silences"

    def notify_state(self) -> str:
        """Hash: the notifier's ``clock``, ``config`` digest, counters and replicas' heartbeats."""
        return f"{self.prefix}notify:state"

    def pattern(self) -> str:
        """Glob matching every key under this prefix."""
        return f"{self.prefix}*"


def partition_keys(k: Keys, kind: str, p: int) -> list[str]:
    """Every key of a partition's projection (a reset deletes them, a snapshot copies
    them); per-terminal-day keys are not among them."""
    if kind == GPS:
        return [k.meta(GPS, p), k.positions(p), k.terms(p), k.gkpi(p), k.coverage(p), k.lastvisit(p)]
    return [k.meta(CASE, p), k.cases(p), k.kpi(p), k.recent(p), k.recent_info(p), k.open_cases(p),
            k.lastcase(p), k.frozen(p)]

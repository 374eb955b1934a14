"""An alert as Alertmanager sees it: labels, annotations, times, fingerprint.

Labels are what routes, inhibition rules and silences match on; annotations are for
people. The mapping is the contract of every receiver (docs/contract.md, "Notifications").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

from gridpulse.schemas import Alert

#: Alertmanager's zero time: ``endsAt`` of an alert still firing.
ZERO_TIME = "0001-01-01T00:00:00Z"
_FNV_OFFSET, _FNV_PRIME, _MASK = 14695981039346656037, 1099511628211, (1 << 64) - 1
_SEP = 0xFF  # Prometheus' label separator byte

#: Labels an alert may carry (matchers on any other name match the empty value).
LABEL_NAMES = ("alertname", "id", "kind", "case", "clock", "clock_id", "stage", "level", "grid",
               "community", "town", "district", "city", "dept", "category", "severity",
               "terminal", "worker")
CLOCKS = ("dispatch", "handle", "verify")


def clock_of(alert_id: str) -> tuple[str, str] | None:
    """``(clock, clock_id)`` of a case alert id ``<case>:<clock>:<start>:<kind>[:<level>]``."""
    parts = alert_id.split(":")
    if len(parts) >= 4 and parts[1] in CLOCKS:
        return parts[1], ":".join(parts[:3])
    return None


def labels_of(a: Alert) -> dict[str, str]:
    """The alert's labels: every field people route on, as strings (absent ones left out)."""
    out = {"alertname": f"gridpulse_{a.kind}", "id": a.id, "kind": a.kind}
    for name in ("case", "stage", "grid", "community", "town", "district", "city", "dept",
                 "category", "terminal", "worker"):
        v = getattr(a, name)
        if v:
            out[name] = v
    if a.severity is not None:
        out["severity"] = str(a.severity)
    clk = clock_of(a.id)
    if clk:
        out["clock"], out["clock_id"] = clk
    if a.kind == "escalation":
        level = a.id.rsplit(":", 1)[-1]
        if level.isdigit():
            out["level"] = level
    return out


def fingerprint(labels: dict[str, str]) -> str:
    """Alertmanager's fingerprint of a label set (FNV-1a 64 over the sorted pairs), 16 hex."""
    h = _FNV_OFFSET
    for name in sorted(labels):
        for part in (name, labels[name]):
            for b in part.encode():
                h = ((h ^ b) * _FNV_PRIME) & _MASK
            h = ((h ^ _SEP) * _FNV_PRIME) & _MASK
    return f"{h:016x}"


def am_time(ms: int) -> str:
    """RFC 3339 UTC with milliseconds, as Alertmanager writes times."""
    t = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


@dataclass(slots=True)
class Tracked:
    """An alert as the notifier tracks it: its labels, when it fired and when it ended.

    ``resolved_at`` is the event time of its clock's ``resolved`` alert (case alerts) or
    None while it fires. ``arrived`` is the wall clock when the notifier first read it
    (for latency figures only, never for a decision).
    """

    alert: Alert
    labels: dict[str, str]
    fp: str
    ts: int
    resolved_at: int | None = None
    arrived: int = 0
    acked_at: int | None = None
    late: bool = False
    groups: list = field(default_factory=list)
    targets: list = field(default_factory=list)  # (inhibit rule, equal-label values) that may mute it
    sources: list = field(default_factory=list)  # (inhibit rule, equal-label values) it mutes in

    @classmethod
    def of(cls, a: Alert, arrived: int = 0) -> "Tracked":
        """Track alert ``a``."""
        labels = labels_of(a)
        return cls(a, labels, fingerprint(labels), a.ts, arrived=arrived)

    def firing_at(self, now: int) -> bool:
        """Whether it fires at event time ``now`` (started, not yet resolved)."""
        return self.ts <= now and (self.resolved_at is None or self.resolved_at > now)

    def status_at(self, now: int) -> str:
        """``firing`` or ``resolved`` at ``now`` (an alert not started yet is neither: ``""``)."""
        if self.ts > now:
            return ""
        return "firing" if self.resolved_at is None or self.resolved_at > now else "resolved"

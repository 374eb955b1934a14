"""Whether a group's flush must notify, given what its last notification said.

Alertmanager's DedupStage (notify/dedup_stage.go), on sets of alert fingerprints, plus
one rule of gridpulse's: an acknowledged alert is never the reason for a repeat.
"""

from __future__ import annotations

from dataclasses import dataclass

FIRST = "first_notification"
NEW_ALERTS = "new_alerts_in_group"
NEW_RESOLVED = "new_resolved_alerts"
ALL_RESOLVED = "all_alerts_resolved"
REPEAT = "repeat_interval_elapsed"


@dataclass(frozen=True)
class Sent:
    """What a group's last notification carried, and the event time it was decided at."""

    firing: frozenset[str]
    resolved: frozenset[str]
    at: int


def needs_update(last: Sent | None, firing: set[str], resolved: set[str], unacked: set[str],
                 now: int, repeat_ms: int, send_resolved: bool) -> str | None:
    """The reason to notify now, or None. ``unacked``: the firing alerts nobody acknowledged."""
    if last is None:
        return FIRST if firing else None
    if not firing <= last.firing:
        return FIRST if not last.firing else NEW_ALERTS
    if not firing:
        # Sent even without send_resolved in Alertmanager's log (it clears the firing set);
        # the sender then sends nothing unless the route sends resolved notifications.
        return ALL_RESOLVED if last.firing else None
    if send_resolved and not resolved <= last.resolved:
        return NEW_RESOLVED
    if unacked and last.at <= now - repeat_ms:
        return REPEAT
    return None

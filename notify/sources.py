"""Which alert sources a group can hear from, so that it waits for their clocks. Pure.

Alerts come from two streams with clocks of their own (notify/clock.py): case alerts
from the case partitions (final once their watermark is ``GRIDPULSE_ALLOWED_LATENESS_S``
past them), and visit alerts (``off_grid``, ``silent_terminal``, ``silent_grid``) from
the GPS partitions (final ``GRIDPULSE_GPS_LATENESS_S`` past them, five minutes by
default). A flush at event time F must see every alert dated up to F that can join its
group; waiting for the GPS clock in every group would delay every case alert by the GPS
lateness, so a group waits for it only if a visit alert can join it: its route (the
matchers from the root down) and its group labels admit some visit kind. Or if a visit
alert can mute something (an inhibition rule whose source admits a visit kind): then
every group waits, as its alerts' inhibition is judged at F too.

The judgement is conservative: a label a visit alert carries but whose value is unknown
here (a grid code, a terminal) is taken as matching.
"""

from __future__ import annotations

from typing import Iterable

from .matchers import Matcher

VISIT_KINDS = ("off_grid", "silent_terminal", "silent_grid")
#: The labels a visit alert may carry (labels.labels_of); any other is empty on one.
VISIT_LABELS = frozenset({"alertname", "id", "kind", "grid", "community", "town", "district", "city",
                          "terminal", "worker"})


def is_visit(kind: str) -> bool:
    """Whether an alert of ``kind`` comes from the GPS partitions."""
    return kind in VISIT_KINDS


def _admits(matchers: Iterable[Matcher], known: dict[str, str]) -> bool:
    for m in matchers:
        if m.name in known:
            if not m.matches(known):
                return False
        elif m.name not in VISIT_LABELS and not m.matches({}):
            return False  # a label no visit alert has is empty, and the matcher wants more
    return True


def admits_visits(matchers: Iterable[Matcher], group_by: tuple[str, ...] | None = None,
                  group_labels: dict[str, str] | None = None) -> bool:
    """Whether some visit alert can satisfy ``matchers`` (and, with ``group_by``, carry
    exactly ``group_labels`` on those names: the labels of the group it would join)."""
    matchers = tuple(matchers)
    for kind in VISIT_KINDS:
        known = {"kind": kind, "alertname": f"gridpulse_{kind}"}
        ok = True
        for n in group_by or ():
            v = (group_labels or {}).get(n)
            if n in known:
                ok = v == known[n]
            elif v is not None:
                ok = n in VISIT_LABELS
                known[n] = v
            if not ok:
                break
        if ok and _admits(matchers, known):
            return True
    return False

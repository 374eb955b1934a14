"""What a track, a visit and each derived fact mean: one frozen, configurable object."""

from __future__ import annotations

from dataclasses import dataclass

from .stays import StayRules
from .track import TrackRules


@dataclass(frozen=True)
class VisitRules:
    """Thresholds of the visit pipeline (defaults for grid work on foot or e-bike).

    Times are event-time milliseconds. ``lateness_ms`` is how far behind the newest fix of
    a partition a fix may arrive and still be used; older ones are dropped as too late.
    """

    track: TrackRules = TrackRules()
    stay: StayRules = StayRules()
    lateness_ms: int = 300_000  # terminals upload every minute or so; allow a few retries
    gap_ms: int = 600_000  # no fix this long ends a track segment (and the stay in it)
    active_ms: int = 600_000  # a terminal with a fix this recent is "out now"
    silent_ms: int = 900_000  # no fix this long during duty hours: silent terminal
    offgrid_ms: int = 900_000  # outside the assigned grid this long: off grid
    duty_start_min: int = 8 * 60 + 30  # duty hours, local minutes after midnight
    duty_end_min: int = 17 * 60 + 30
    route_step_m: float = 10.0  # a moving fix closer than this to the route's last point is left out
    silent_grid_days: int = 3  # no visit and no case for this many days: silent grid
    tz: str = "Asia/Shanghai"

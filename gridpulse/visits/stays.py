"""Stay points: where a worker stayed long enough, close enough, to be a visit.

A stay is a maximal run of consecutive cleaned fixes that all lie within ``radius_m`` of
the run's first fix and span at least ``min_minutes`` (the classic stay-point rule of
Li et al., 2008). Its position is the mean of its fixes. A visit is a stay matched to the
nearest household within ``match_m``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, NamedTuple

from .track import Point, distance_m


@dataclass(frozen=True)
class StayRules:
    """When a stay counts as a visit (configurable)."""

    radius_m: float = 30.0
    min_minutes: float = 3.0
    match_m: float = 40.0


class Stay(NamedTuple):
    """A stay: from the first to the last fix of the run, at their mean position."""

    start: int
    end: int
    lon: float
    lat: float
    fixes: int


def stays(track: list[Point], rules: StayRules = StayRules()) -> list[Stay]:
    """The stays in a cleaned, time-ordered track."""
    out: list[Stay] = []
    i, n = 0, len(track)
    min_ms = rules.min_minutes * 60_000
    while i < n:
        j = i + 1
        a = track[i]
        while j < n and distance_m(a.lon, a.lat, track[j].lon, track[j].lat) <= rules.radius_m:
            j += 1
        run = track[i:j]
        if run[-1].ts - run[0].ts >= min_ms:
            out.append(Stay(run[0].ts, run[-1].ts, sum(p.lon for p in run) / len(run),
                            sum(p.lat for p in run) / len(run), len(run)))
            i = j
        else:
            i += 1
    return out


def nearest(stay: Stay, households: Iterable[tuple[str, float, float]],
            rules: StayRules = StayRules()) -> str | None:
    """The household (id, lon, lat) nearest to ``stay`` within ``match_m``, if any."""
    best: tuple[float, str] | None = None
    for hid, lon, lat in households:
        d = distance_m(stay.lon, stay.lat, lon, lat)
        if d <= rules.match_m and (best is None or (d, hid) < best):
            best = (d, hid)  # ties go to the smaller id: the answer never depends on order
    return best[1] if best else None

"""Cleaning a terminal's track: drop what a real walk or ride cannot be.

A fix is dropped, with a reason, when its accuracy is worse than allowed, when it
repeats the time of a fix already kept, or when reaching it from the previous kept fix
would need a speed no grid worker on foot or on an e-bike reaches. Fixes are taken in
time order, so the result does not depend on the order they were uploaded in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

EARTH_M = 6_371_008.8
_sin, _cos, _asin, _sqrt = math.sin, math.cos, math.asin, math.sqrt


class Point(NamedTuple):
    """One fix: time (epoch ms), WGS84 position, accuracy radius (m)."""

    ts: int
    lon: float
    lat: float
    acc: float


_RAD = math.pi / 180.0  # what math.radians multiplies by: the results are bit-identical
_2R = 2 * EARTH_M


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine).

    Called ~3.4 times a fix (speed check, stay finder, route step), so written without
    attribute lookups or ``min()`` (bench/gps.py --hotspots: -0.5 µs a call, same bits).
    """
    p1, p2 = lat1 * _RAD, lat2 * _RAD
    dp, dl = p2 - p1, (lon2 - lon1) * _RAD
    a = _sin(dp / 2) ** 2 + _cos(p1) * _cos(p2) * _sin(dl / 2) ** 2
    r = _sqrt(a)
    return _2R * _asin(r if r < 1.0 else 1.0)


@dataclass(frozen=True)
class TrackRules:
    """What a plausible track is (configurable; defaults for grid work on foot or e-bike)."""

    max_accuracy_m: float = 50.0
    max_speed_mps: float = 9.0  # ~32 km/h: an e-bike, not a car


def check(prev: Point | None, f: Point, rules: TrackRules = TrackRules()) -> str | None:
    """Why ``f`` cannot follow the kept fix ``prev`` (None: keep it)."""
    if f.acc > rules.max_accuracy_m:
        return f"accuracy {f.acc:.0f} m > {rules.max_accuracy_m:.0f} m"
    if prev is None:
        return None
    if f.ts <= prev.ts:
        return "duplicate or older than a kept fix"
    if distance_m(prev.lon, prev.lat, f.lon, f.lat) > rules.max_speed_mps * (f.ts - prev.ts) / 1000:
        return "jump faster than walking or riding"
    return None


def clean(fixes: list[Point], rules: TrackRules = TrackRules(),
          last: Point | None = None) -> tuple[list[Point], list[tuple[Point, str]]]:
    """``(kept, dropped)`` for ``fixes``; ``last`` is the last fix kept before them."""
    kept: list[Point] = []
    dropped: list[tuple[Point, str]] = []
    prev = last
    for f in sorted(fixes):
        why = check(prev, f, rules)
        if why:
            dropped.append((f, why))
        else:
            kept.append(f)
            prev = f
    return kept, dropped

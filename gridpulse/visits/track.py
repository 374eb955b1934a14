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


class Point(NamedTuple):
    """One fix: time (epoch ms), WGS84 position, accuracy radius (m)."""

    ts: int
    lon: float
    lat: float
    acc: float


def distance_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_M * math.asin(min(1.0, math.sqrt(a)))


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

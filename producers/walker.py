"""A grid worker walking a visit route inside the grid: pure, seeded, stepped by fix.

A worker walks to a household, stays a few minutes (a visit), walks to the next. Each
call to :meth:`Walker.fix` advances the walk to the next fix time, so the track depends
only on the seed and the fix times, never on how a caller slices time.
"""

from __future__ import annotations

import math
import random
from typing import Callable

M_PER_DEG_LAT = 111_320.0

PointSampler = Callable[[random.Random], tuple[float, float]]


class Walker:
    """Position model of one terminal."""

    __slots__ = ("rng", "sample", "lon", "lat", "tlon", "tlat", "speed", "stay_until", "m_lon")

    def __init__(self, rng: random.Random, sample: PointSampler) -> None:
        self.rng = rng
        self.sample = sample
        self.lon, self.lat = sample(rng)
        self.m_lon = M_PER_DEG_LAT * math.cos(math.radians(self.lat))
        self.tlon, self.tlat = self.lon, self.lat
        self.speed = rng.uniform(0.9, 1.4)  # m/s, walking
        self.stay_until = 0

    def _next_target(self) -> None:
        self.tlon, self.tlat = self.sample(self.rng)

    def step(self, ts: int, dt_s: float) -> None:
        """Move for ``dt_s`` seconds ending at event time ``ts`` (ms)."""
        if ts < self.stay_until:
            return
        dx = (self.tlon - self.lon) * self.m_lon
        dy = (self.tlat - self.lat) * M_PER_DEG_LAT
        dist = math.hypot(dx, dy)
        reach = self.speed * dt_s
        if dist <= reach:
            self.lon, self.lat = self.tlon, self.tlat
            # a visit: 3-12 minutes at the household, then on to the next one
            self.stay_until = ts + int(self.rng.uniform(180, 720) * 1000)
            self._next_target()
            return
        f = reach / dist
        self.lon += (self.tlon - self.lon) * f
        self.lat += (self.tlat - self.lat) * f

    def fix(self, ts: int, dt_s: float) -> tuple[float, float, float]:
        """Step, then report a noisy fix ``(lon, lat, accuracy_m)``."""
        self.step(ts, dt_s)
        rng = self.rng
        acc = rng.uniform(4.0, 20.0) if rng.random() > 0.03 else rng.uniform(50.0, 150.0)
        n = acc / 3.0
        return (self.lon + rng.gauss(0, n) / self.m_lon,
                self.lat + rng.gauss(0, n) / M_PER_DEG_LAT, round(acc, 1))

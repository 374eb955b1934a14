"""A grid worker walking a visit route in the grid: pure, seeded, stepped by fix.

A worker walks to a household of the grid, stays 4-12 minutes (a visit), walks to the
next. Now and then (``excursion_p`` per target, 1/40 by default) the next target is
instead a place outside the grid (an off-grid excursion, where the worker stays 15-40
minutes) before going back to visiting households. Each call to :meth:`Walker.fix`
advances the walk to the next fix time, so the track depends only on the seed and the fix
times, never on how a caller slices time.
"""

from __future__ import annotations

import math
import random
from typing import Callable, Sequence

M_PER_DEG_LAT = 111_320.0
#: Share of targets that are an off-grid excursion rather than a household.
EXCURSION_P = 1 / 40
#: How long a visit lasts, and a stay on an excursion (seconds).
VISIT_S = (240.0, 720.0)
EXCURSION_S = (900.0, 2400.0)

PointSampler = Callable[[random.Random], tuple[float, float]]
#: Returns the grid's household positions as a flat sequence lon0, lat0, lon1, lat1, ...
HomeLoader = Callable[[], Sequence[float]]


class Walker:
    """Position model of one terminal.

    ``homes`` is called once, on the first fix, for the household positions of the grid
    (empty: ``anywhere`` stands in for them); ``away`` draws the target of an excursion.
    ``off_grid`` is True from the moment an excursion is chosen until the stay there ends;
    ``excursions`` counts the excursions chosen so far.
    """

    __slots__ = ("rng", "homes", "_load", "anywhere", "away", "excursion_p", "off_grid",
                 "excursions", "staying", "lon", "lat", "tlon", "tlat", "speed", "stay_until", "m_lon")

    def __init__(self, rng: random.Random, homes: HomeLoader, away: PointSampler, *,
                 anywhere: PointSampler | None = None, excursion_p: float = EXCURSION_P) -> None:
        self.rng = rng
        self._load = homes
        self.homes: Sequence[float] | None = None
        self.anywhere = anywhere
        self.away = away
        self.excursion_p = excursion_p
        self.off_grid = False
        self.excursions = 0
        self.speed = rng.uniform(0.9, 1.4)  # m/s, walking
        self.lon = self.lat = self.tlon = self.tlat = math.nan
        self.m_lon = M_PER_DEG_LAT
        self.stay_until = 0
        self.staying = True  # the first step ends this "stay": it places the worker and sets off

    def _start(self) -> None:
        """Place the worker at a household (first fix): the household list is loaded now."""
        homes = self.homes = self._load()
        if not homes and self.anywhere is None:
            raise ValueError("a walker needs households or an 'anywhere' sampler")
        self.lon, self.lat = self._household()
        self.m_lon = M_PER_DEG_LAT * math.cos(math.radians(self.lat))

    def _household(self) -> tuple[float, float]:
        homes = self.homes
        if not homes:
            return self.anywhere(self.rng)
        i = 2 * self.rng.randrange(len(homes) // 2)
        return homes[i], homes[i + 1]

    def _next_target(self) -> None:
        if not self.off_grid and self.rng.random() < self.excursion_p:
            self.off_grid = True
            self.excursions += 1
            self.tlon, self.tlat = self.away(self.rng)
        else:
            self.off_grid = False
            self.tlon, self.tlat = self._household()

    def step(self, ts: int, dt_s: float) -> None:
        """Move for ``dt_s`` seconds ending at event time ``ts`` (ms)."""
        if ts < self.stay_until:
            return
        if self.staying:  # the stay is over (or this is the first step): choose where to go
            self.staying = False
            if self.homes is None:
                self._start()
            self._next_target()
        dx = (self.tlon - self.lon) * self.m_lon
        dy = (self.tlat - self.lat) * M_PER_DEG_LAT
        dist = math.hypot(dx, dy)
        reach = self.speed * dt_s
        if dist <= reach:
            self.lon, self.lat = self.tlon, self.tlat
            # a visit at the household (or a longer stay off the grid), then on to the next
            lo, hi = EXCURSION_S if self.off_grid else VISIT_S
            self.stay_until = ts + int(self.rng.uniform(lo, hi) * 1000)
            self.staying = True
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

"""Stay points: where a worker stayed long enough, close enough, to be a visit.

A stay is a maximal run of consecutive cleaned fixes that all lie within ``radius_m`` of
the run's first fix and span at least ``min_minutes`` (the classic stay-point rule of
Li et al., 2008). Its position is the mean of its fixes. A visit is a stay matched to the
nearest household within ``match_m``.

:func:`events` is the batch form (the oracle's); :class:`StayFinder` gives the same
events one fix at a time, keeping only the fixes whose fate is still open.
"""

from __future__ import annotations

import math
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


def _stay(run: list[Point]) -> Stay:
    slon = slat = 0.0
    for p in run:  # summed in time order, as StayFinder does, so the floats agree bit for bit
        slon += p.lon
        slat += p.lat
    return Stay(run[0].ts, run[-1].ts, slon / len(run), slat / len(run), len(run))


def events(track: list[Point], rules: StayRules = StayRules(),
           final: bool = True) -> list[Point | Stay]:
    """The track as a sequence of moving fixes and stays, in time order (batch form).

    ``final=False``: the track may still grow, so the run reaching its end is left open.
    """
    out: list[Point | Stay] = []
    i, n = 0, len(track)
    min_ms = rules.min_minutes * 60_000
    while i < n:
        j = i + 1
        a = track[i]
        while j < n and distance_m(a.lon, a.lat, track[j].lon, track[j].lat) <= rules.radius_m:
            j += 1
        if j == n and not final:
            break
        if track[j - 1].ts - a.ts >= min_ms:
            out.append(_stay(track[i:j]))
            i = j
        else:
            out.append(a)
            i += 1
    return out


def stays(track: list[Point], rules: StayRules = StayRules()) -> list[Stay]:
    """The stays in a cleaned, time-ordered track."""
    return [e for e in events(track, rules) if isinstance(e, Stay)]


class StayFinder:
    """:func:`events` fed one fix at a time: ``push`` returns the events that became final.

    State is plain data (``buf``, ``j``, ``lock``) so a worker can persist and restore it.
    Once the open run spans ``min_minutes`` its fate is sealed (it will be a stay, whatever
    comes), so it is folded into ``lock`` = [start, end, sum lon, sum lat, n, anchor lon,
    anchor lat] and its fixes are let go: a long stay costs constant memory.
    """

    __slots__ = ("rules", "buf", "j", "lock", "_min")

    def __init__(self, rules: StayRules, buf: list[Point] | None = None, j: int = 0,
                 lock: list | None = None) -> None:
        self.rules = rules
        self.buf: list[Point] = buf if buf is not None else []
        self.j = j  # buf[:j] are known to lie within the radius of buf[0]
        self.lock = lock
        self._min = rules.min_minutes * 60_000

    def push(self, p: Point) -> list[Point | Stay]:
        """Add the next cleaned fix (in time order)."""
        lk = self.lock
        if lk is not None:
            if distance_m(lk[5], lk[6], p.lon, p.lat) <= self.rules.radius_m:
                lk[1] = p.ts
                lk[2] += p.lon
                lk[3] += p.lat
                lk[4] += 1
                return []
            out: list[Point | Stay] = [self._unlock()]
            self.buf, self.j = [p], 1
            return out
        self.buf.append(p)
        return self._drain(final=False)

    def finish(self) -> list[Point | Stay]:
        """The track segment ended: settle every open fix."""
        out: list[Point | Stay] = [self._unlock()] if self.lock is not None else []
        return out + self._drain(final=True)

    def _unlock(self) -> Stay:
        s, e, slon, slat, n, _, _ = self.lock
        self.lock = None
        return Stay(s, e, slon / n, slat / n, n)

    def _drain(self, final: bool) -> list[Point | Stay]:
        out: list[Point | Stay] = []
        buf, r = self.buf, self.rules.radius_m
        while buf:
            a = buf[0]
            j = max(self.j, 1)
            while j < len(buf) and distance_m(a.lon, a.lat, buf[j].lon, buf[j].lat) <= r:
                j += 1
            self.j = j
            if j == len(buf) and not final:
                if buf[-1].ts - a.ts >= self._min:  # sealed: fold it
                    slon = slat = 0.0
                    for q in buf:
                        slon += q.lon
                        slat += q.lat
                    self.lock = [a.ts, buf[-1].ts, slon, slat, len(buf), a.lon, a.lat]
                    buf.clear()
                    self.j = 0
                break
            if buf[j - 1].ts - a.ts >= self._min:
                out.append(_stay(buf[:j]))
                del buf[:j]
            else:
                out.append(a)
                del buf[0]
            self.j = 0
        return out


def nearest(stay: Stay, households: Iterable[tuple[str, float, float]],
            rules: StayRules = StayRules()) -> str | None:
    """The household (id, lon, lat) nearest to ``stay`` within ``match_m``, if any.

    ``households`` may offer ``near(lon, lat, dlon, dlat)`` (``GridHouseholds``): then only
    those in a box that surely holds every household within ``match_m`` are measured.
    """
    best: tuple[float, str] | None = None
    near = getattr(households, "near", None)
    if near is not None:
        # A degree of latitude is >= 110.5 km anywhere; widen longitude by 5% for the
        # cosine's change across the box. Both only make the box larger than needed.
        dlat = rules.match_m / 110_500
        households = near(stay.lon, stay.lat, dlat / math.cos(math.radians(abs(stay.lat) + dlat)) * 1.05, dlat)
    for hid, lon, lat in households:
        d = distance_m(stay.lon, stay.lat, lon, lat)
        if d <= rules.match_m and (best is None or (d, hid) < best):
            best = (d, hid)  # ties go to the smaller id: the answer never depends on order
    return best[1] if best else None

"""Proposed fixes for the GPS hot spots, as monkeypatches (no edit to streams/ or gridpulse/).

``bench/gps.py --hotspots`` runs variant (c) with each of these patched in and checks that
the output (routes, stays, visits, alerts, counters, terminal states, coverage) hashes the
same as without. Each is written as the change would look in the named function:

* ``nearest_prefilter`` (gridpulse/visits/stays.py ``nearest``; done differently in a9c2fa7,
  so only offered on older trees): skip a household whose
  latitude or longitude difference alone puts it farther than ``match_m`` (+1 m for
  rounding) before the haversine. Exact: the haversine distance is at least R·|Δφ| and
  at least R·cos(φmax)·|Δλ|, so no household within ``match_m`` is skipped.
* ``distance_inline`` (gridpulse/visits/track.py ``distance_m``): the same formula with the
  math functions bound at import, ``x * (pi / 180)`` (what ``math.radians`` computes) and
  no ``min()`` call: bit-for-bit the same floats.
* ``recount_if_moved`` (streams/gps_state.py ``GpsPartition.advance``): recount a
  terminal after ``finalize`` only if its off-grid run (``off_since``, ``off_last``)
  changed; nothing else ``term_keys``/``silent_alert``/``term_next_change`` read is
  touched by finalizing, and ``apply`` already recounted for the new ``seen``.
* ``advance_heap`` (streams/gps_state.py ``apply``/``advance``/``rebuild``): instead of
  visiting every terminal of the partition on every batch, keep two lazy heaps: (earliest
  pending fix time, terminal), pushed by ``apply`` when a terminal's earliest pending fix
  gets earlier, and (last kept fix + gap, terminal) for open segments, pushed after a
  finalize; ``advance`` pops what the horizon passed. Per terminal the order stays
  finalize-then-expire; across terminals only the order of alerts in ``alerts_out`` may
  differ (outputs are keyed per terminal-day, counts are sums).
* ``households_unbounded`` (not a proposal, a measurement; older trees only, see
  ``BUILT_IN``): ``CityModel.households``
  with an unbounded cache instead of its LRU (2,048 grids when measured), to show what
  the LRU's misses cost once a worker sees more grids than that (the city has 12,216).
"""

from __future__ import annotations

import heapq
import math
from math import asin, cos, sin, sqrt

from gridpulse.city import model as city_model
from gridpulse.visits import day as vday
from gridpulse.visits import stays as vstays
from gridpulse.visits import track as vtrack
from gridpulse.visits.day import Outbox
from gridpulse.clock import local_day
from streams import gps_state

ORIG = {
    "stays.nearest": vstays.nearest,
    "day.nearest": vday.nearest,
    "track.distance_m": vtrack.distance_m,
    "stays.distance_m": vstays.distance_m,
    "day.distance_m": vday.distance_m,
    "GpsPartition.apply": gps_state.GpsPartition.apply,
    "GpsPartition.advance": gps_state.GpsPartition.advance,
    "GpsPartition.rebuild": gps_state.GpsPartition.rebuild,
    "CityModel.households": city_model.CityModel.households,
}

#: Since a9c2fa7 the worker looks households up with ``CityModel.grid_households`` (every
#: grid kept compact, ~4 KB) and ``stays.nearest`` measures only those in a box around
#: the stay (``GridHouseholds.near``): the first and last fix below are then in place.
BUILT_IN = hasattr(city_model.CityModel, "grid_households")
#: Since 2026-11-28 09:30 ``distance_inline`` and ``recount_if_moved`` are in the code too
#: (``track._RAD`` marks it): patching them in would compare the code with itself.
ADOPTED = hasattr(vtrack, "_RAD")
FIXES = (["advance_heap"] if ADOPTED
         else ["distance_inline", "recount_if_moved", "advance_heap"] if BUILT_IN
         else ["nearest_prefilter", "distance_inline", "recount_if_moved", "advance_heap"])
EXTRA = [] if BUILT_IN else ["households_unbounded"]
ON: set[str] = set()

# --------------------------------------------------------------------------- distance
_RAD = math.pi / 180.0
_2R = 2 * vtrack.EARTH_M


def distance_inline(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """``track.distance_m``, bit for bit, without the attribute lookups and ``min()``."""
    p1, p2 = lat1 * _RAD, lat2 * _RAD
    dp, dl = p2 - p1, (lon2 - lon1) * _RAD
    a = sin(dp / 2) ** 2 + cos(p1) * cos(p2) * sin(dl / 2) ** 2
    r = sqrt(a)
    return _2R * asin(r if r < 1.0 else 1.0)


# --------------------------------------------------------------------------- nearest
def nearest_prefilter(stay, households, rules=vstays.StayRules()):
    """``stays.nearest`` with an exact latitude/longitude band test before the haversine."""
    if hasattr(households, "near"):  # the box test is built in (a9c2fa7)
        return ORIG["stays.nearest"](stay, households, rules)
    dist = vstays.distance_m
    m = rules.match_m
    slon, slat = stay.lon, stay.lat
    dlat = (m + 1.0) / vtrack.EARTH_M / _RAD  # degrees
    dlon = dlat / math.cos(math.radians(min(89.0, abs(slat) + 1.0)))
    best = None
    for hid, lon, lat in households:
        if abs(lat - slat) > dlat or abs(lon - slon) > dlon:
            continue
        d = dist(slon, slat, lon, lat)
        if d <= m and (best is None or (d, hid) < best):
            best = (d, hid)
    return best[1] if best else None


# --------------------------------------------------------------------------- advance
def _push_fin(st, t) -> None:
    ts0 = t.pending[0].ts
    cur = st._fin_due.get(t.terminal)
    if cur is None or ts0 < cur:
        st._fin_due[t.terminal] = ts0
        heapq.heappush(st._fin_heap, (ts0, t.terminal))


def _push_exp(st, t) -> None:
    at = t.last.ts + st.rules.gap_ms
    if st._exp_due.get(t.terminal) != at:
        st._exp_due[t.terminal] = at
        heapq.heappush(st._exp_heap, (at, t.terminal))


def _heaps(st) -> None:
    if "_fin_heap" not in st.__dict__:
        st._fin_heap, st._fin_due, st._exp_heap, st._exp_due = [], {}, [], {}
        for t in st.terms.values():
            if t.pending:
                _push_fin(st, t)
            if not t.closed and t.last is not None:
                _push_exp(st, t)


def apply_heap(self, batch, offset: int) -> bool:
    _heaps(self)
    ok = ORIG["GpsPartition.apply"](self, batch, offset)
    t = self.terms.get(batch.terminal)
    if t is not None and t.pending:
        _push_fin(self, t)
    return ok


def rebuild_heap(self) -> None:
    ORIG["GpsPartition.rebuild"](self)
    self.__dict__.pop("_fin_heap", None)
    _heaps(self)


def _finalize_one(self, term: str, t, h: int, fresh) -> None:
    if "recount_if_moved" in ON:
        off = (t.off_since, t.off_last)
        self.tracker.finalize(t, h, fresh)
        self.dirty_terms.add(term)
        if (t.off_since, t.off_last) != off:
            self._recount(t)
    else:
        self.tracker.finalize(t, h, fresh)
        self.dirty_terms.add(term)
        self._recount(t)  # its off-grid record may have moved


def advance_patched(self) -> None:
    """``GpsPartition.advance`` with ``advance_heap`` and/or ``recount_if_moved``."""
    h, tracker, fresh = self.horizon, self.tracker, Outbox()
    if "advance_heap" in ON:
        _heaps(self)
        fh, fd, xh, xd = self._fin_heap, self._fin_due, self._exp_heap, self._exp_due
        while fh and fh[0][0] < h:
            ts0, term = heapq.heappop(fh)
            if fd.get(term) != ts0:
                continue  # superseded
            del fd[term]
            t = self.terms[term]
            if t.pending and t.pending[0].ts < h:
                _finalize_one(self, term, t, h, fresh)
            if t.pending:
                _push_fin(self, t)
            if not t.closed and t.last is not None:
                _push_exp(self, t)
        while xh and xh[0][0] < h:
            at, term = heapq.heappop(xh)
            if xd.get(term) != at:
                continue
            del xd[term]
            t = self.terms[term]
            if not t.closed:
                tracker.expire(t, h, fresh)
                if t.closed:
                    self.dirty_terms.add(term)
                elif t.last is not None:
                    _push_exp(self, t)
    else:
        for term, t in self.terms.items():
            if t.pending and t.pending[0].ts < h:
                _finalize_one(self, term, t, h, fresh)
            if not t.closed:
                tracker.expire(t, h, fresh)
                if t.closed:
                    self.dirty_terms.add(term)
    # from here on as GpsPartition.advance
    for v in fresh.visits:
        if v.household:
            self._visited(v)
    out = self.out
    for k, pts in fresh.route.items():
        out.route.setdefault(k, []).extend(pts)
    out.visits += fresh.visits
    out.days |= fresh.days
    out.closed.update(fresh.closed)
    self.alerts_out += fresh.alerts
    day = local_day(self.watermark, self.rules.tz) if self.watermark else 0
    grids = list(self.cov) if day != self.cov_day else list(self.dirty_grids)
    self.cov_day = day
    for g in grids:
        self._recount_grid(g)


# --------------------------------------------------------------------------- households
_HH: dict = {}


def households_unbounded(self, grid_code: str):
    got = _HH.get((id(self), grid_code))
    if got is None:
        got = _HH[(id(self), grid_code)] = ORIG["CityModel.households"](self, grid_code)
    return got


# --------------------------------------------------------------------------- switch
def apply(names) -> None:
    """Patch in exactly ``names`` (empty: restore everything)."""
    names = set(names)
    unknown = names - set(FIXES) - set(EXTRA)
    if unknown:
        raise ValueError(f"unknown fixes: {sorted(unknown)}")
    ON.clear()
    ON.update(names)
    near = nearest_prefilter if "nearest_prefilter" in names else ORIG["stays.nearest"]
    vstays.nearest = vday.nearest = near
    dist = distance_inline if "distance_inline" in names else ORIG["track.distance_m"]
    vtrack.distance_m = vstays.distance_m = vday.distance_m = dist
    GP = gps_state.GpsPartition
    heap = "advance_heap" in names
    GP.apply = apply_heap if heap else ORIG["GpsPartition.apply"]
    GP.rebuild = rebuild_heap if heap else ORIG["GpsPartition.rebuild"]
    GP.advance = advance_patched if names & {"advance_heap", "recount_if_moved"} else ORIG["GpsPartition.advance"]
    city_model.CityModel.households = (households_unbounded if "households_unbounded" in names
                                       else ORIG["CityModel.households"])
    if "households_unbounded" not in names:
        _HH.clear()

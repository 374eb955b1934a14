"""One terminal's day: its final fixes turned into a route, visits and an off-grid record.

:class:`Terminal` is the whole recoverable state of one terminal (a msgspec struct, so a
worker saves and restores it as it is). :func:`accept` takes an uploaded fix, or refuses
it as too late; :func:`finalize` feeds the fixes whose time is past the horizon into the
day's track in time order; :func:`expire` ends a track segment nobody will extend. Each
writes what it produced to an :class:`Outbox`. No I/O: households and the grid test
come in as functions.

A terminal-day is keyed by (terminal, local day); its worker and grid are those of its
first final fix (a terminal handed to another worker mid-day stays one day track).
"""

from __future__ import annotations

import struct
from bisect import insort
from dataclasses import dataclass, field
from typing import Callable, NamedTuple, Sequence

import msgspec

from gridpulse.clock import local_day
from gridpulse.schemas import Alert

from .duty import silence_window
from .rules import VisitRules
from .stays import Stay, StayFinder, nearest
from .track import Point, check, distance_m

Households = Callable[[str], Sequence[tuple[str, float, float]]]
Contains = Callable[[str, float, float], bool]
Lineage = Callable[[str], tuple[str, ...]]


class Pending(NamedTuple):
    """An accepted fix not yet final, with the batch's worker and grid."""

    ts: int
    lon: float
    lat: float
    acc: float
    worker: str
    grid: str


class Visit(NamedTuple):
    """A stay of a terminal-day; ``household`` is "" when no household was near enough."""

    terminal: str
    worker: str
    grid: str
    day: int
    household: str
    start: int
    end: int
    lon: float
    lat: float


class Terminal(msgspec.Struct, array_like=True):
    """Everything a worker keeps about one terminal (see the module docstring)."""

    terminal: str
    seen: int = 0  # newest accepted fix time
    grid: str = ""  # assigned grid of the newest upload
    worker: str = ""
    pending: list[Pending] = []
    day: int = -1  # the open terminal-day
    dworker: str = ""
    dgrid: str = ""
    first: int = 0
    last: Point | None = None  # last kept fix of the day
    duty_ms: int = 0
    dist_m: float = 0.0
    visits: int = 0
    stays: int = 0
    kept: int = 0
    dropped: int = 0
    buf: list[Point] = []  # the StayFinder's state
    j: int = 0
    lock: list | None = None
    rlast: tuple[int, float, float] | None = None  # last route point
    closed: bool = True  # the current segment's stays are settled
    off_since: int = 0  # first kept fix of the current run outside the grid (0: inside)
    off_last: int = 0
    off_alerted: bool = False
    silent_alerted: int = 0  # the final fix time whose silence was alerted
    fseen: int = 0  # the newest final fix time (any accepted fix, kept or dropped)
    fsilent: int = 0  # when the terminal turns silent after ``fseen`` if no fix comes (0: never)


@dataclass
class Outbox:
    """What finalizing produced, for the partition to count and the store to write."""

    route: dict[tuple[int, str], list[tuple[int, float, float]]] = field(default_factory=dict)
    visits: list[Visit] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    days: set[tuple[int, str]] = field(default_factory=set)  # (day, terminal) summaries touched
    closed: dict[tuple[int, str], dict] = field(default_factory=dict)  # summaries of ended days

    def clear(self) -> None:
        """Forget everything (after a successful write)."""
        self.route, self.visits, self.alerts, self.days, self.closed = {}, [], [], set(), {}


def accept(t: Terminal, ts: int, lon: float, lat: float, acc: float, worker: str, grid: str,
           horizon: int) -> bool:
    """Take an uploaded fix unless it is older than ``horizon`` (too late to use)."""
    if ts < horizon:
        return False
    p = Pending(ts, lon, lat, acc, worker, grid)
    if t.pending and p < t.pending[-1]:
        insort(t.pending, p)  # kept sorted: the earliest pending fix is pending[0]
    else:
        t.pending.append(p)
    if ts > t.seen:
        t.seen = ts
    t.grid, t.worker = grid, worker
    return True


class Tracker:
    """Applies the visit rules to terminals; holds the city lookups, not state."""

    def __init__(self, rules: VisitRules, households: Households, contains: Contains,
                 lineage: Lineage) -> None:
        self.rules, self.households, self.contains, self.lineage = rules, households, contains, lineage

    def finalize(self, t: Terminal, horizon: int, out: Outbox) -> None:
        """Feed every pending fix older than ``horizon`` into the day's track, in time order."""
        k = 0
        while k < len(t.pending) and t.pending[k].ts < horizon:
            self._fix(t, t.pending[k], out)
            k += 1
        del t.pending[:k]

    # -- silences --------------------------------------------------------------------
    # Judged on final fixes only, so the alert is the same whatever the order and the
    # batching of the uploads: the terminal fell silent after final fix a if its silence
    # instant (duty.silence_window) comes before the next final fix, or before the
    # horizon while there is none (no fix older than the horizon can come any more).
    def silence(self, t: Terminal, horizon: int, out: Outbox) -> bool:
        """Alert the silence that began before ``horizon``, if any; whether one was."""
        if t.fsilent and t.fsilent < horizon:
            return self._silent(t, out)
        return False

    def _heard(self, t: Terminal, ts: int, out: Outbox) -> None:
        if t.fsilent and t.fsilent < ts:
            self._silent(t, out)
        if ts > t.fseen:
            t.fseen = ts
            w = silence_window(ts, self.rules)
            t.fsilent = w[0] if w else 0

    def _silent(self, t: Terminal, out: Outbox) -> bool:
        at, t.fsilent = t.fsilent, 0
        if t.silent_alerted == t.fseen:
            return False
        t.silent_alerted = t.fseen
        who = t.dworker or t.worker
        out.alerts.append(self._alert(t, "silent_terminal", f"silent:{t.terminal}:{t.fseen}", at,
                                      f"terminal {t.terminal} ({who}) silent since {t.fseen}"))
        return True

    def expire(self, t: Terminal, horizon: int, out: Outbox) -> None:
        """End the open segment if no fix can extend it any more (a gap past the horizon)."""
        if not t.closed and t.last is not None and horizon - t.last.ts > self.rules.gap_ms:
            self._settle(t, self._stays(t, None), out)
            t.closed = True
            out.days.add((t.day, t.terminal))  # its stays, visits and distance may have moved

    # -- the day track ---------------------------------------------------------------
    def _stays(self, t: Terminal, p: Point | None) -> list:
        """Push ``p`` into the terminal's stay finder (None: finish the segment)."""
        f = StayFinder(self.rules.stay, t.buf, t.j, t.lock)
        evs = f.push(p) if p is not None else f.finish()
        t.buf, t.j, t.lock = f.buf, f.j, f.lock
        return evs

    def _fix(self, t: Terminal, f: Pending, out: Outbox) -> None:
        rules = self.rules
        self._heard(t, f.ts, out)  # before a new day replaces the day's grid and worker
        day = local_day(f.ts, rules.tz)
        if day != t.day:
            if not t.closed:
                self._settle(t, self._stays(t, None), out)
            self._new_day(t, day, f, out)
        out.days.add((t.day, t.terminal))
        p = Point(f.ts, f.lon, f.lat, f.acc)
        if check(t.last, p, rules.track):
            t.dropped += 1
            return
        if t.last is not None:
            if p.ts - t.last.ts > rules.gap_ms:
                if not t.closed:
                    self._settle(t, self._stays(t, None), out)
            else:
                t.duty_ms += p.ts - t.last.ts
        t.closed = False
        t.last = p
        t.kept += 1
        self._settle(t, self._stays(t, p), out)
        self._off_grid(t, p, out)

    def _new_day(self, t: Terminal, day: int, f: Pending, out: Outbox) -> None:
        if t.day >= 0:
            out.closed[(t.day, t.terminal)] = summary(t)
        t.day, t.dworker, t.dgrid, t.first = day, f.worker, f.grid, f.ts
        t.last, t.rlast, t.lock = None, None, None
        t.duty_ms = t.visits = t.stays = t.kept = t.dropped = t.j = 0
        t.dist_m = 0.0
        t.buf = []
        t.closed = True
        t.off_since = t.off_last = 0
        t.off_alerted = False

    def _settle(self, t: Terminal, evs: list, out: Outbox) -> None:
        for e in evs:
            if isinstance(e, Stay):
                c = (e.start, e.lon, e.lat)
                self._route(t, c, out)
                self._route(t, (e.end, e.lon, e.lat), out)
                t.stays += 1
                hh = nearest(e, self.households(t.dgrid), self.rules.stay) or ""
                if hh:
                    t.visits += 1
                out.visits.append(Visit(t.terminal, t.dworker, t.dgrid, t.day, hh,
                                        e.start, e.end, e.lon, e.lat))
            else:
                r = t.rlast
                if r is None or distance_m(r[1], r[2], e.lon, e.lat) >= self.rules.route_step_m:
                    self._route(t, (e.ts, e.lon, e.lat), out)

    def _route(self, t: Terminal, pt: tuple[int, float, float], out: Outbox) -> None:
        r = t.rlast
        if r is not None:
            t.dist_m += distance_m(r[1], r[2], pt[1], pt[2])
        t.rlast = pt
        out.route.setdefault((t.day, t.terminal), []).append(pt)

    def _off_grid(self, t: Terminal, p: Point, out: Outbox) -> None:
        if self.contains(t.dgrid, p.lon, p.lat):
            t.off_since = t.off_last = 0
            t.off_alerted = False
            return
        if not t.off_since:
            t.off_since = p.ts
        t.off_last = p.ts
        if not t.off_alerted and t.off_last - t.off_since >= self.rules.offgrid_ms:
            t.off_alerted = True
            out.alerts.append(self._alert(t, "off_grid", f"offgrid:{t.terminal}:{t.off_since}", p.ts,
                                          f"{t.dworker} outside grid {t.dgrid} since {t.off_since}"))

    def _alert(self, t: Terminal, kind: str, aid: str, ts: int, msg: str) -> Alert:
        lin = self.lineage(t.dgrid or t.grid)
        return Alert(id=aid, kind=kind, ts=ts, grid=lin[0], community=lin[1], town=lin[2],
                     district=lin[3], city=lin[4], terminal=t.terminal,
                     worker=t.dworker or t.worker, message=msg)


def summary(t: Terminal) -> dict:
    """The open terminal-day of ``t`` as the JSON the views serve."""
    return {"terminal": t.terminal, "worker": t.dworker, "grid": t.dgrid, "day": t.day,
            "first": t.first, "last": t.last.ts if t.last is not None else t.first,
            "duty_ms": t.duty_ms, "dist_m": round(t.dist_m, 1), "visits": t.visits,
            "stays": t.stays, "kept": t.kept, "dropped": t.dropped}


_ROUTE = struct.Struct("<iii")


def pack_route(day_start: int, pts: list[tuple[int, float, float]]) -> bytes:
    """Route points as 12 bytes each: seconds into the day, lon and lat in micro-degrees."""
    return b"".join(_ROUTE.pack((ts - day_start) // 1000, round(lon * 1e6), round(lat * 1e6))
                    for ts, lon, lat in pts)


def unpack_route(day_start: int, data: bytes) -> list[tuple[int, float, float]]:
    """The inverse of :func:`pack_route` (to the second and the micro-degree)."""
    return [(day_start + s * 1000, x / 1e6, y / 1e6) for s, x, y in _ROUTE.iter_unpack(data)]

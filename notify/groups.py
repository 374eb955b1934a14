"""Aggregation groups on event time: when a group flushes, and what each flush notifies.

An alert joins one group per route that takes it (route.py), keyed by the route and its
group labels. A group's first flush is at the event time of its earliest alert plus
``group_wait``; the next ones every ``group_interval`` after. A flush at event time ``F``
sees exactly the alerts with ``ts <= F``, judged at ``F``: resolved or firing, inhibited
(inhibit.py), silenced (silences.py), muted by a window (mute.py). So a flush decided
late, or again after a restart, or in a replay of the day, decides the same, and its
notification gets the same key. :meth:`Dispatcher.advance` runs every flush due by
the notifier's clocks (notify/clock.py) in event-time order: ``now``, up to which every
case alert is known, and ``visit_now``, up to which every visit alert is, for the groups
a visit alert can join (sources.py).
"""

from __future__ import annotations

import hashlib
import heapq
from dataclasses import dataclass, field
from typing import Callable

from gridpulse.loop.calendar import WorkingCalendar
from gridpulse.schemas import Alert, AlertAck, NotifiedAlert, Notification

from . import dedup
from .config import Config
from .inhibit import Inhibitor
from .labels import Tracked
from .mute import muted
from .route import GROUP_BY_ALL, Route, group_key
from .silences import Silences
from .sources import admits_visits, is_visit


#: Most alerts one notification carries (a larger flush is sent in parts).
MAX_PART = 500


@dataclass
class Group:
    """One aggregation group of one route."""

    route: Route
    key: str
    labels: dict[str, str]
    alerts: dict[str, Tracked] = field(default_factory=dict)
    next_flush: int | None = None
    first_ts: int | None = None  # earliest alert's time (the first flush waits from it)
    flushed: bool = False
    # Until when a flush would decide as the last one did: nothing new in the group
    # (``dirty``), no global change (``epoch``: silences, inhibition sources), and no
    # alert of it starting, resolving or timing out, no repeat falling due, before it.
    dirty: bool = True
    visits: bool = False  # a visit alert can join it: it waits for the GPS clock too
    epoch: int = -1
    stable_until: int = 0
    last: dedup.Sent | None = None
    confirmed: dedup.Sent | None = None  # the last one delivered (a failure rolls back to it)


@dataclass
class Decision:
    """A notification to send: the log record and what its text is made of."""

    note: Notification
    group: Group
    alerts: list[Tracked]


def notification_key(receiver: str, gkey: str, at: int, alerts: list[NotifiedAlert]) -> str:
    """The idempotency key: the same receiver, group, flush time and alerts, the same key."""
    h = hashlib.sha256(f"{receiver}\n{gkey}\n{at}\n".encode())
    for a in alerts:
        h.update(f"{a.fingerprint}:{a.status},".encode())
    return h.hexdigest()[:32]


class Dispatcher:
    """Every group of one configuration, and the alerts, acknowledgements and silences."""

    def __init__(self, cfg: Config, calendar: WorkingCalendar, silences: Silences | None = None,
                 keep_ms: int = 7 * 86_400_000) -> None:
        self.cfg, self.calendar = cfg, calendar
        self.silences = silences or Silences()
        self.keep_ms = keep_ms
        self.alerts: dict[str, Tracked] = {}
        self.groups: dict[str, Group] = {}
        self.inhibitor = Inhibitor(cfg.inhibit_rules)
        self._resolutions: dict[str, int] = {}  # clock id -> event time its clock stopped
        self._by_clock: dict[str, list[Tracked]] = {}  # clock id -> its alerts
        self._acks: dict[str, int] = {}  # alert id -> earliest acknowledgement (wall ms)
        # flushes due, apart for the groups that wait for the visit clock too (key: visits)
        self._heaps: dict[bool, list[tuple[int, int, str]]] = {False: [], True: []}
        self._chain = {}  # id(route) -> its matchers and its ancestors'
        for_all = [(cfg.route, ())]
        while for_all:
            r, above = for_all.pop()
            self._chain[id(r)] = above + tuple(r.matchers)
            for_all += [(c, self._chain[id(r)]) for c in r.routes]
        # A visit alert that can mute others makes every group wait for the visit clock.
        self._visit_mutes = any(admits_visits(rule.source) for rule in cfg.inhibit_rules)
        self._epoch = 0
        self._changes: list[tuple] = []  # (event time, seq, inhibition buckets or None for all)
        self._seq = 0
        self._changed_to = 0  # the latest event time of a change applied
        self.now = self.visit_now = 0
        self.ingested = self.late = 0

    # -- input ---------------------------------------------------------------------------
    def ingest(self, a: Alert, arrived: int = 0) -> None:
        """Take alert ``a`` (again: a duplicate id is ignored)."""
        if a.id in self.alerts:
            return
        if a.kind == "resolved":
            self._resolve(a)
            return
        t = Tracked.of(a, arrived)
        t.late = a.ts <= (self.visit_now if is_visit(a.kind) else self.now)
        self.late += t.late
        t.acked_at = self._acks.get(a.id)
        if t.labels.get("clock_id") in self._resolutions:
            stop = self._resolutions[t.labels["clock_id"]]
            if stop >= t.ts:
                t.resolved_at = stop
        self.alerts[a.id] = t
        if "clock_id" in t.labels:
            self._by_clock.setdefault(t.labels["clock_id"], []).append(t)
        self.ingested += 1
        t.sources = self.inhibitor.add(t)
        if t.sources:
            self._change_at(t.ts, t.sources)
            if t.resolved_at is not None:
                self._change_at(t.resolved_at, t.sources)
        for route in self.cfg.route.match(t.labels):
            glabels = route.group_labels(t.labels)
            gk = group_key(route, glabels)
            g = self.groups.get(gk)
            if g is None:
                g = self.groups[gk] = Group(route, gk, glabels, visits=self._waits_for_visits(route, glabels))
            g.alerts[t.fp] = t
            g.dirty = True
            t.groups.append(gk)
            if not g.flushed and (g.first_ts is None or t.ts < g.first_ts):
                g.first_ts = t.ts
                self._schedule(g, t.ts + route.opts.group_wait)

    def _waits_for_visits(self, route: Route, glabels: dict[str, str]) -> bool:
        if self._visit_mutes:
            return True
        by = tuple(glabels) if route.opts.group_by == GROUP_BY_ALL else route.opts.group_by
        return admits_visits(self._chain[id(route)], by, glabels)

    def _resolve(self, a: Alert) -> None:
        # A clock's resolution ends every alert of that clock that fired before it.
        cid = ":".join(a.id.split(":")[:3])
        self._resolutions[cid] = min(a.ts, self._resolutions.get(cid, a.ts))
        self.alerts[a.id] = Tracked.of(a)  # remembered only to ignore duplicates
        for t in self._by_clock.get(cid, ()):
            if t.ts <= a.ts and t.resolved_at is None:
                t.resolved_at = a.ts
                self._touch(t)
                if t.sources:
                    self._change_at(a.ts, t.sources)

    def _touch(self, t: Tracked) -> None:
        for gk in t.groups:
            g = self.groups.get(gk)
            if g is not None:
                g.dirty = True

    def _change_at(self, at: int, buckets: list | None = None) -> None:
        """Something changes at event time ``at``: for the targets of inhibition ``buckets``
        (a source starts or ends), or for everyone (None: a silence starts or ends)."""
        if at <= self.now:
            self._apply_change(buckets, at)
        else:
            self._seq += 1
            heapq.heappush(self._changes, (at, self._seq, buckets))

    def _apply_change(self, buckets: list | None, at: int) -> None:
        self._changed_to = max(self._changed_to, at)
        if buckets is None:
            self._epoch += 1
            return
        for b in buckets:
            for t in self.inhibitor.targets_of(b):
                self._touch(t)

    def silence(self, s) -> None:
        """Add or replace a silence (its start and end change what flushes decide)."""
        self.silences.put(s)
        self._epoch += 1
        for at in (s.start, s.end):
            self._change_at(at)

    def ack(self, ack: AlertAck) -> None:
        """Someone acknowledged an alert: it is never repeated again."""
        prev = self._acks.get(ack.alert)
        self._acks[ack.alert] = ack.at if prev is None else min(prev, ack.at)
        t = self.alerts.get(ack.alert)
        if t is not None:
            t.acked_at = self._acks[ack.alert]
            self._touch(t)

    def _schedule(self, g: Group, at: int) -> None:
        g.next_flush = at
        self._seq += 1
        heapq.heappush(self._heaps[g.visits], (at, self._seq, g.key))

    # -- flushing ------------------------------------------------------------------------
    def _head(self, visits: bool) -> int | None:
        heap = self._heaps[visits]
        while heap:
            at, _, gk = heap[0]
            g = self.groups.get(gk)
            if g is not None and g.next_flush == at:
                return at
            heapq.heappop(heap)
        return None

    def due(self) -> int | None:
        """Event time of the next flush, or None."""
        heads = [at for at in (self._head(False), self._head(True)) if at is not None]
        return min(heads) if heads else None

    def advance(self, now: int, wall: int, logged: Callable[[str], str | None] = lambda k: None,
                visit_now: int | None = None) -> list[Decision]:
        """Run every flush due by the clocks; the notifications to send.

        ``now``: every case alert dated up to it is known; ``visit_now``: every visit
        alert is (None: no visit alerts come, ``now`` stands for it). A group a visit
        alert can join flushes up to the lower of the two, any other up to ``now``; the
        flushes run in event-time order. ``logged(key)`` says what the notification log
        holds for a key (``sent``, ``pending``, ``failed`` or None): a notification
        already in the log is not sent again, and one logged as sent counts as the
        group's last notification whatever the acknowledgements known now say. ``wall``
        (the wall clock) only decides whether a silence has started and whether an
        acknowledgement is known.
        """
        self.now = max(self.now, now)
        self.visit_now = max(self.visit_now, min(self.now, self.now if visit_now is None else visit_now))
        limits = {False: self.now, True: self.visit_now}
        out: list[Decision] = []
        while True:
            ready = [(at, v) for v in (False, True)
                     if (at := self._head(v)) is not None and at <= limits[v]]
            if not ready:
                break
            at, v = min(ready)
            _, _, gk = heapq.heappop(self._heaps[v])
            # Changes (inhibition sources, silences) only make a group decide afresh: a
            # flush judges them at its own time, so applying later ones early (a case
            # group ran ahead of a group waiting for the visit clock) changes no decision
            # (and a flush before such a change leaves its group to decide afresh: _flush).
            while self._changes and self._changes[0][0] <= at:
                when, _, buckets = heapq.heappop(self._changes)
                self._apply_change(buckets, when)
            g = self.groups[gk]
            out.extend(self._flush(g, at, wall, logged))
        return out

    def _flush(self, g: Group, at: int, wall: int, logged) -> list[Decision]:
        opts = g.route.opts
        g.flushed = True
        if not g.dirty and g.epoch == self._epoch and at < g.stable_until:
            self._schedule(g, at + opts.group_interval)  # nothing could decide otherwise
            return []
        seen = [t for t in g.alerts.values() if t.ts <= at]
        # Alerts that fired longer ago than resolve_timeout and never resolved leave quietly.
        for t in seen:
            if t.resolved_at is None and t.ts + self.cfg.resolve_timeout_ms <= at:
                del g.alerts[t.fp]
        seen = [t for t in seen if t.fp in g.alerts]
        decisions: list[Decision] = []
        if seen and muted(opts.mute_windows, self.cfg.mute_windows, at, self.calendar) is None:
            decisions = self._decide(g, at, wall, seen, logged)
            # Clean, unless a change dated after this flush is already applied: the next
            # flush must not take it as seen.
            g.dirty, g.epoch = self._changed_to > at, self._epoch
            g.stable_until = self._stable_until(g, at)
        # Resolved alerts leave the group once a flush has seen them (told or not).
        for t in seen:
            if t.resolved_at is not None and t.resolved_at <= at and (decisions or g.last is None
                                                                       or t.fp not in g.last.firing):
                del g.alerts[t.fp]
        if g.alerts:
            self._schedule(g, at + opts.group_interval)
        else:
            g.next_flush = None
            del self.groups[g.key]
        return decisions

    def _stable_until(self, g: Group, at: int) -> int:
        """The first event time after ``at`` at which this group's flush may decide otherwise."""
        nxt = (g.last.at + g.route.opts.repeat_interval) if g.last else 1 << 62
        for t in g.alerts.values():
            for x in (t.ts, t.resolved_at, t.ts + self.cfg.resolve_timeout_ms if t.resolved_at is None else None):
                if x is not None and at < x < nxt:
                    nxt = x
        return nxt

    def _decide(self, g: Group, at: int, wall: int, seen: list[Tracked], logged) -> list[Decision]:
        opts = g.route.opts
        shown: list[Tracked] = []
        for t in seen:
            if self.silences.silenced_by(t.labels, at, wall) is not None:
                continue
            if t.firing_at(at) and self.inhibitor.muted_by(t, at) is not None:
                continue
            shown.append(t)
        firing = {t.fp for t in shown if t.firing_at(at)}
        resolved = {t.fp for t in shown if not t.firing_at(at)}
        shown.sort(key=lambda t: (t.ts, t.alert.id))
        # A flush of a very large group goes out in parts (each its own notification and
        # key), so no request and no log record grows without bound.
        parts = [shown[i:i + MAX_PART] for i in range(0, len(shown), MAX_PART)] or [[]]
        notes = []
        for part in parts:
            alerts = [NotifiedAlert(id=t.alert.id, fingerprint=t.fp, status=t.status_at(at)) for t in part]
            key = notification_key(opts.receiver, g.key, at, alerts)
            notes.append((key, alerts, part, logged(key)))
        states = {st for *_, st in notes}
        if states == {None}:
            unacked = {t.fp for t in shown if t.firing_at(at) and (t.acked_at is None or t.acked_at > wall)}
            reason = dedup.needs_update(g.last, firing, resolved, unacked, at, opts.repeat_interval,
                                        opts.send_resolved)
            if reason is None:
                return []
            if reason == dedup.ALL_RESOLVED and not opts.send_resolved:
                g.last = dedup.Sent(frozenset(), frozenset(resolved), at)
                return []
        elif states == {"failed"}:
            return []  # failed for good: the next flush notifies afresh (g.last unchanged)
        else:
            reason = "logged"
        g.last = dedup.Sent(frozenset(firing), frozenset(resolved), at)
        if states == {"sent"}:
            g.confirmed = g.last
        out = []
        for key, alerts, part, state in notes:
            if state is not None or not alerts:
                continue  # in the log already: sent, failed for good, or in flight (resent from the log)
            if not opts.send_resolved:
                keep = [i for i, a in enumerate(alerts) if a.status == "firing"]
                alerts, part = [alerts[i] for i in keep], [part[i] for i in keep]
            if not alerts:
                continue
            note = Notification(key=key, receiver=opts.receiver, group_key=g.key, group_labels=g.labels,
                                at=at, reason=reason if reason != "logged" else dedup.FIRST, alerts=alerts,
                                decided=wall)
            out.append(Decision(note, g, part))
        return out

    def delivered(self, d: Decision, ok: bool) -> None:
        """A decision's delivery ended: a failure makes the next flush notify afresh."""
        g = self.groups.get(d.group.key)
        if g is None:
            return
        if ok:
            g.confirmed = dedup.Sent(frozenset(a.fingerprint for a in d.note.alerts if a.status == "firing"),
                                     frozenset(a.fingerprint for a in d.note.alerts if a.status == "resolved"),
                                     d.note.at)
        elif g.last is not None and g.last.at == d.note.at:
            g.last = g.confirmed

    def forget_before(self, cutoff: int) -> int:
        """Drop alerts that fired before event time ``cutoff`` (the board's days); how many."""
        old = [t for t in self.alerts.values() if t.ts < cutoff]
        for t in old:
            del self.alerts[t.alert.id]
            self.inhibitor.remove(t)
            cid = t.labels.get("clock_id")
            if cid in self._by_clock:
                self._by_clock[cid] = [x for x in self._by_clock[cid] if x is not t]
                if not self._by_clock[cid]:
                    del self._by_clock[cid]
                    self._resolutions.pop(cid, None)
            for gk in t.groups:
                g = self.groups.get(gk)
                if g is not None and g.alerts.get(t.fp) is t:
                    del g.alerts[t.fp]
        return len(old)

    def active(self) -> int:
        """Alerts held in some group."""
        return sum(len(g.alerts) for g in self.groups.values())

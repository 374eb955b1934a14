"""How fresh the live views are: one judgement from the partitions' last writes and the
workers' own status, for every reader (the API, the wall, the drill-down pages,
``gridpulse kpi``).

Pure: :func:`judge` takes the wall-clock ``now`` and what Redis held (read by
:meth:`gridpulse.views.LiveView.status`), so every state is a table test. The inputs are
the workers' contract (docs/contract.md, "Redis views"): each partition's meta hash
carries ``at``, the wall-clock ms of its last write, and the hash ``gp:workers`` holds one
JSON entry per running worker, rewritten every 2 s.

The states, most telling first:

- ``rebuilding``: a worker is rebuilding projections from Kafka (``done``: the mean
  fraction over the partitions being rebuilt);
- ``empty``: no projection at all, nothing computed yet (never to be shown as zeros);
- ``stale``: no live worker, a worker waiting for Redis or Kafka, or records waiting
  while nothing was written for ``stale_after_s`` ("stale since" the newest write);
- ``behind``: more than ``behind_records`` records waiting, or some waiting while
  nothing was written for ``behind_after_s``;
- ``live``: otherwise.

``unreachable`` (Redis cannot be read) is not judged here but by the reader that failed
(:func:`unreachable`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from .clock import fmt_local, local_day

CASE, GPS = "case", "gps"
KINDS = (CASE, GPS)
LIVE, BEHIND, REBUILDING, STALE, EMPTY, UNREACHABLE = (
    "live", "behind", "rebuilding", "stale", "empty", "unreachable")
STATES = (LIVE, BEHIND, REBUILDING, STALE, EMPTY, UNREACHABLE)
# The contract: a worker rewrites its entry every 2 s; one not rewritten for 60 s is dead.
WORKER_DEAD_MS = 60_000


@dataclass(frozen=True)
class Written:
    """One partition's projection as its meta hash states it."""

    kind: str
    partition: int
    at: int | None  # wall-clock ms of its last write; None from a writer before ``at``
    wm: int = 0  # its watermark (event time)


class Rebuild(msgspec.Struct, frozen=True):
    """A partition a worker is rebuilding from Kafka."""

    kind: str
    partition: int
    done: float  # 0..1
    since: int = 0  # wall-clock ms the rebuild began


class _Lag(msgspec.Struct, frozen=True):
    case: int | None = 0  # None: the worker cannot tell (its broker is away)
    gps: int | None = 0


class WorkerStatus(msgspec.Struct, frozen=True):
    """One entry of ``gp:workers``: what a running worker said about itself at ``at``."""

    at: int
    case: list[int] = []
    gps: list[int] = []
    lag: _Lag = _Lag()
    rebuilding: list[Rebuild] = []
    waiting: str | None = None  # "redis", "kafka" or None
    id: str = ""

    def lag_of(self, kind: str) -> int:
        """Records of ``kind`` behind (negative counts as none)."""
        return max(0, (self.lag.case if kind == CASE else self.lag.gps) or 0)

    def owns(self, kind: str) -> list[int]:
        """The partitions of ``kind`` this worker owns."""
        return self.case if kind == CASE else self.gps


_worker = msgspec.json.Decoder(WorkerStatus)


def parse_worker(worker_id: str, raw: bytes | str) -> WorkerStatus | None:
    """The entry ``raw`` of worker ``worker_id``; None when it is not one (an entry that
    cannot be read says nothing about the views, so it is left out, not guessed at)."""
    try:
        w = _worker.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
        return None
    return msgspec.structs.replace(w, id=worker_id)


@dataclass(frozen=True)
class Limits:
    """The thresholds of the judgement (settings ``GRIDPULSE_BEHIND_RECORDS``,
    ``GRIDPULSE_BEHIND_AFTER_S``, ``GRIDPULSE_STALE_AFTER_S``)."""

    behind_records: int = 5000
    behind_after_s: float = 10.0
    stale_after_s: float = 60.0

    @classmethod
    def of(cls, settings) -> "Limits":
        """The limits a :class:`gridpulse.settings.Settings` declares."""
        return cls(settings.behind_records, settings.behind_after_s, settings.stale_after_s)


@dataclass(frozen=True)
class Freshness:
    """The judgement: the ``state`` of the views and what it rests on."""

    state: str
    data_at: int | None = None  # wall-clock ms of the newest write of any projection
    age_s: float | None = None  # now - data_at, in seconds
    lag: dict[str, int] | None = None  # records waiting per kind (None: no live worker)
    behind_s: float | None = None  # how long records have waited with nothing written
    rebuilding: dict | None = None  # {"done": 0..1, "partitions": [...]}
    since: int | None = None  # stale: the newest write before the views stopped moving
    reason: str | None = None  # stale: no_worker | waiting_redis | waiting_kafka | no_write
    missing: tuple[str, ...] = field(default_factory=tuple)  # kinds with nothing whole to read
    workers: int = 0  # live workers

    def has(self, kind: str) -> bool:
        """Whether the figures of ``kind`` can be read (a whole projection is there)."""
        return kind not in self.missing

    @property
    def records(self) -> int | None:
        """Records waiting, all kinds together (None: no live worker says)."""
        return None if self.lag is None else sum(self.lag.values())

    def as_dict(self) -> dict:
        """The API's ``freshness`` object."""
        return {"state": self.state, "data_at": self.data_at, "age_s": self.age_s,
                "lag": self.lag, "behind_s": self.behind_s, "rebuilding": self.rebuilding,
                "since": self.since, "reason": self.reason, "missing": list(self.missing),
                "workers": self.workers}


def unreachable() -> Freshness:
    """The state of views whose store cannot be read: nothing is known about them."""
    return Freshness(UNREACHABLE, missing=KINDS)


def _seconds(ms: int) -> float:
    return round(max(0, ms) / 1000, 1)


def _newest(written: list[Written], kind: str | None = None,
            parts: list[int] | None = None) -> int | None:
    ats = [w.at for w in written if w.at is not None and (kind is None or w.kind == kind)
           and (parts is None or w.partition in parts)]
    return max(ats, default=None)


def _rebuilds(workers: list[WorkerStatus]) -> dict[tuple[str, int], Rebuild]:
    """Partitions being rebuilt; one reported by two workers (mid-rebalance) counts once,
    at the furthest it got."""
    out: dict[tuple[str, int], Rebuild] = {}
    for w in workers:
        for r in w.rebuilding:
            key = (r.kind, r.partition)
            if key not in out or r.done > out[key].done:
                out[key] = r
    return out


def _missing(written: list[Written], rebuilds: dict[tuple[str, int], Rebuild]) -> tuple[str, ...]:
    """Kinds whose merged figures would be wrong: no projection, or a partition being
    rebuilt that has none yet (the others' sum would lack it)."""
    out = []
    for kind in KINDS:
        mine = {w.partition for w in written if w.kind == kind}
        unbuilt = any(k == kind and p not in mine for k, p in rebuilds)
        if not mine or unbuilt:
            out.append(kind)
    return tuple(out)


def _waited(w: WorkerStatus, written: list[Written]) -> list[tuple[int, int, int | None]]:
    """Per kind with records waiting at the worker's ``at``: ``(records, ms nothing was
    written for by then, newest write of its partitions)``. Measured at the worker's own
    ``at``, not at ``now``: a write just after the entry (the records it counted, applied)
    makes the gap negative instead of a false alarm."""
    out = []
    for kind in KINDS:
        records = w.lag_of(kind)
        if not records:
            continue
        newest = _newest(written, kind, w.owns(kind) or None)
        if newest is None:
            newest = _newest(written, kind)
        out.append((records, w.at - newest if newest is not None else 0, newest))
    return out


def judge(now: int, written: list[Written], workers: list[WorkerStatus],
          limits: Limits = Limits()) -> Freshness:
    """The state of the views at wall-clock ``now`` (epoch ms), from every partition's
    last write and every worker entry (dead ones included: they are left out here)."""
    live = [w for w in workers if now - w.at < WORKER_DEAD_MS]
    data_at = _newest(written)
    age = None if data_at is None else _seconds(now - data_at)
    rebuilds = _rebuilds(live)
    lag = {k: sum(w.lag_of(k) for w in live) for k in KINDS} if live else None
    base = dict(data_at=data_at, age_s=age, lag=lag, missing=_missing(written, rebuilds),
                workers=len(live))
    if rebuilds:
        parts = [{"kind": r.kind, "partition": r.partition, "done": min(1.0, max(0.0, r.done)),
                  "since": r.since} for r in sorted(rebuilds.values(), key=lambda r: (r.kind, r.partition))]
        done = sum(p["done"] for p in parts) / len(parts)
        return Freshness(REBUILDING, rebuilding={"done": round(done, 3), "partitions": parts}, **base)
    if not written:
        return Freshness(EMPTY, **base)
    if not live:
        return Freshness(STALE, since=data_at, reason="no_worker", **base)
    waiting = sorted({w.waiting for w in live if w.waiting})
    if waiting:
        return Freshness(STALE, since=data_at, reason=f"waiting_{waiting[0]}", **base)
    waits = [x for w in live for x in _waited(w, written)]
    gap_ms = max((g for _, g, _ in waits), default=0)
    if gap_ms > limits.stale_after_s * 1000:
        since = min(n for _, g, n in waits if g > limits.stale_after_s * 1000 and n is not None)
        return Freshness(STALE, since=since, reason="no_write", behind_s=_seconds(gap_ms), **base)
    records = sum(lag.values())
    if records > limits.behind_records or gap_ms > limits.behind_after_s * 1000:
        return Freshness(BEHIND, behind_s=_seconds(gap_ms), **base)
    return Freshness(LIVE, **base)


def clock_text(ts: int | None, now: int, tz: str) -> str | None:
    """A wall-clock time as the screens show it: ``HH:MM`` on the day of ``now``, with
    the date before it (``MM-DD HH:MM``) on another day; None for none."""
    if ts is None:
        return None
    if local_day(ts, tz) == local_day(now, tz):
        return fmt_local(ts, tz, "%H:%M")
    return fmt_local(ts, tz, "%m-%d %H:%M")

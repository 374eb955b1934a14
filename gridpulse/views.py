"""Read the live views from Redis, merging the per-partition projections.

Used by the dashboard, the CLI, the HTTP API and the tests: the one place that knows how
partition counters add up to citywide figures (docs/contract.md, Redis views). Counter keys
are documented in :mod:`gridpulse.loop.facts`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import msgspec
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .catalog import DEPARTMENTS
from .clock import day_start_ms, local_day, minute, now_ms
from .freshness import Freshness, Limits, WorkerStatus, Written, judge, parse_worker
from .loop import record, scores
from .loop.facts import CaseInfo
from .loop.lifecycle import fold
from .loop.facts import DURATION_EDGES_MIN, DURATIONS
from .rkeys import CASE, GPS, Keys

_json = msgspec.json.Decoder()
# What "Redis cannot be read" is, for every reader that must say so instead of failing:
# refused, reset, loading its data set, a wrong password, or no answer in time.
UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def _int(raw) -> int | None:
    try:
        return int(raw)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Kpis:
    """Case KPIs of one area at the event-time watermark (``day``: its local day)."""

    code: str
    watermark: int  # event time the figures reflect (epoch ms), 0 if no data yet
    open: int
    overdue: int
    new_today: int
    new_last_hour: int
    closed_today: int
    on_time_today: int
    evaluated_today: int
    satisfied_today: int
    per_minute: list[int]  # last ``minutes`` minutes, oldest first (districts and city)

    @property
    def on_time_rate(self) -> float | None:
        """Share of today's closed cases that met every deadline (None: none closed)."""
        return self.on_time_today / self.closed_today if self.closed_today else None

    @property
    def satisfaction_rate(self) -> float | None:
        """Share of today's evaluations that were satisfied (4 or 5 of 5)."""
        return self.satisfied_today / self.evaluated_today if self.evaluated_today else None

    def as_dict(self) -> dict:
        """JSON-ready, with the rates."""
        return {**asdict(self), "on_time_rate": self.on_time_rate,
                "satisfaction_rate": self.satisfaction_rate}


def unknown_kpis(code: str) -> dict:
    """:meth:`Kpis.as_dict` of an area whose figures nobody has computed yet (no whole
    case projection to read): every figure ``null``, never 0."""
    doc = {name: None for name in Kpis.__dataclass_fields__}
    return {**doc, "code": code, "watermark": 0, "on_time_rate": None, "satisfaction_rate": None}


def quantile_edge(hist: dict[int, int], q: float) -> int | None:
    """The upper edge (minutes) of the first bucket whose running total reaches ``q`` of
    the total: the bucket of the ceil(q x n)-th smallest value; None if none or the last,
    open-ended bucket."""
    total = sum(hist.values())
    if not total:
        return None
    rank, seen = q * total, 0
    for b in sorted(hist):
        seen += hist[b]
        if seen >= rank:
            return DURATION_EDGES_MIN[b] if b < len(DURATION_EDGES_MIN) else None
    return None


class LiveView:
    """Merged, read-only access to the live projections."""

    def __init__(self, client: redis.Redis, keys: Keys, tz: str, city_code: str = "330200") -> None:
        self.r = client
        self.k = keys
        self.tz = tz
        self._city_code = city_code

    @classmethod
    def from_url(cls, url: str, prefix: str, tz: str, city_code: str = "330200",
                 timeout_s: float = 5.0) -> "LiveView":
        """A view on the Redis at ``url`` that waits at most ``timeout_s`` to connect and
        for each answer.

        One immediate retry on a broken connection (a pooled socket to a Redis that
        restarted), none on a timeout: redis-py's default of ten retries with backoff
        would hold a request for a minute while Redis is away.
        """
        client = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
                                      retry=Retry(NoBackoff(), 1, (redis.exceptions.ConnectionError,)))
        return cls(client, Keys(prefix), tz, city_code)

    def status(self) -> tuple[list[Written], list[WorkerStatus]]:
        """Every partition's last write (``at`` and ``wm`` of its meta hash) and every
        worker entry of ``gp:workers`` (unreadable ones left out)."""
        pipe = self.r.pipeline(transaction=False)
        for kind in (CASE, GPS):
            pipe.smembers(self.k.parts(kind))
        pipe.hgetall(self.k.workers())
        case_parts, gps_parts, entries = pipe.execute()
        parts = [(kind, int(p)) for kind, got in ((CASE, case_parts), (GPS, gps_parts))
                 for p in sorted(int(x) for x in got)]
        pipe = self.r.pipeline(transaction=False)
        for kind, p in parts:
            pipe.hmget(self.k.meta(kind, p), ["at", "wm"])
        written = [Written(kind, p, _int(at), _int(wm) or 0)
                   for (kind, p), (at, wm) in zip(parts, pipe.execute())]
        workers = [w for wid, raw in entries.items()
                   if (w := parse_worker(wid.decode(errors="replace"), raw)) is not None]
        return written, workers

    def freshness(self, limits: Limits = Limits(), now: int | None = None) -> Freshness:
        """How fresh the views are at wall-clock ``now`` (default: the clock)
        (:func:`gridpulse.freshness.judge`)."""
        written, workers = self.status()
        return judge(now_ms() if now is None else now, written, workers, limits)

    def partitions(self, kind: str) -> list[int]:
        """Partitions of ``kind`` (``case`` or ``gps``) that have a projection."""
        return sorted(int(p) for p in self.r.smembers(self.k.parts(kind)))

    def watermarks(self) -> dict[str, int]:
        """Max event time per stream kind; ``now`` for the views is their max."""
        out = {}
        for kind in (CASE, GPS):
            parts = self.partitions(kind)
            pipe = self.r.pipeline(transaction=False)
            for p in parts:
                pipe.hget(self.k.meta(kind, p), "wm")
            out[kind] = max((int(w) for w in pipe.execute() if w is not None), default=0)
        return out

    def dead_letters_today(self, now: int | None = None) -> int:
        """Dead letters written today: records the workers refused (local day of the wall
        clock, since a letter's time is when it was written, not an event time)."""
        now = now_ms() if now is None else now
        start = day_start_ms(local_day(now, self.tz), self.tz)
        return self.r.zcount(self.k.deadletters(), start, now)

    def watermark(self) -> int:
        """The event-time clock of the views: the newest event time applied."""
        return max(self.watermarks().values())

    def counters(self, fields: list[str], kind: str = CASE) -> list[int]:
        """Sum of each counter field over the partitions of ``kind`` (case or GPS KPIs)."""
        key = self.kpi_key(kind)
        pipe = self.r.pipeline(transaction=False)
        for p in self.partitions(kind):
            pipe.hmget(key(p), fields)
        return sum_replies(pipe.execute(), len(fields))

    def kpi_key(self, kind: str):
        """The key function of the counter hash per partition of ``kind``."""
        return self.k.kpi if kind == CASE else self.k.gkpi

    def reader(self, fields: list[str], kind: str = CASE) -> "CounterReader":
        """A prepared :meth:`counters` for a fixed, long list of fields (CounterReader)."""
        return CounterReader(self, fields, kind)

    def kpis(self, code: str, minutes: int = 60, now: int | None = None) -> Kpis:
        """KPIs of area ``code`` at event time ``now`` (default: the watermark)."""
        wm = self.watermark() if now is None else now
        day = local_day(wm, self.tz) if wm else 0
        m_now = minute(wm)
        head = [f"open|{code}", f"overdue|{code}", f"new|{code}|{day}", f"closed|{code}|{day}",
                f"ontime|{code}|{day}", f"eval|{code}|{day}", f"sat|{code}|{day}"]
        span = max(minutes, 60)  # the last hour is always read, whatever series is asked for
        mins = [f"newmin|{code}|{m}" for m in range(m_now - span + 1, m_now + 1)]
        vals = self.counters(head + mins)
        series = vals[len(head):]
        o, od, new, closed, ontime, ev, sat = vals[:len(head)]
        return Kpis(code, wm, o, od, new, sum(series[-60:]), closed, ontime, ev, sat, series[-minutes:])

    def open_by_area(self, codes: list[str]) -> dict[str, int]:
        """Open cases of many areas at once (e.g. every district, or every grid)."""
        return dict(zip(codes, self.counters([f"open|{c}" for c in codes])))

    def by_area(self, what: str, codes: list[str]) -> dict[str, int]:
        """A current-state counter (``open``/``overdue``) of many areas at once."""
        return dict(zip(codes, self.counters([f"{what}|{c}" for c in codes])))

    def stage_times(self, code: str, day: int, dept: str | None = None) -> dict[str, dict]:
        """Median and p90 minutes per stage of cases whose stage ended on local ``day``
        (``handle``: of the handlings that ended that day, a department's per ``dept``).

        Quantiles are histogram edges (``gridpulse.loop.facts.DURATION_EDGES_MIN``).
        """
        stages = ["handle"] if dept else list(DURATIONS)
        nb = len(DURATION_EDGES_MIN) + 1
        fields, index = [], []
        for st in stages:
            for b in range(nb):
                mid = f"d:{dept}|{st}" if dept else st
                fields.append(f"dur|{code}|{mid}|{day}|{b}")
                index.append((st, b))
        hist: dict[str, dict[int, int]] = {st: {} for st in stages}
        for (st, b), v in zip(index, self.counters(fields)):
            if v:
                hist[st][b] = v
        return {st: {"count": sum(h.values()), "median_min": quantile_edge(h, 0.5),
                     "p90_min": quantile_edge(h, 0.9)} for st, h in hist.items()}

    def _window(self, fmt: list[str], code: str, day: int, days: int) -> list[int]:
        """Sum each counter pattern (``{c}``: code, ``{d}``: day) over ``days`` days to ``day``."""
        fields = [f.format(c=code, d=d) for f in fmt for d in range(day - days + 1, day + 1)]
        vals = self.counters(fields)
        return [sum(vals[i * days:(i + 1) * days]) for i in range(len(fmt))]

    def score_inputs(self, kind: str, code: str, day: int, days: int = 7,
                     area: str | None = None) -> scores.Inputs:
        """Window totals for a score: ``kind`` is ``department`` (``code`` a department,
        within ``area``, default the city), ``town`` (any area code) or ``worker``."""
        if kind == "department":
            a = area or self._city()
            fmt = [f"closed|{a}|d:{{c}}|{{d}}", f"ontime|{a}|d:{{c}}|{{d}}", f"eval|{a}|d:{{c}}|{{d}}",
                   f"sat|{a}|d:{{c}}|{{d}}", f"disp|{a}|d:{{c}}|{{d}}", f"ret|{a}|d:{{c}}|{{d}}"]
            c, o, e, s_, dp, rt = self._window(fmt, code, day, days)
            return scores.Inputs(c, o, e, s_, dp, rt)
        if kind == "worker":
            c, o, e, s_ = self._window(["w:closed|{c}|{d}", "w:ontime|{c}|{d}", "w:eval|{c}|{d}",
                                        "w:sat|{c}|{d}"], code, day, days)
            return scores.Inputs(c, o, e, s_)
        c, o, e, s_ = self._window(["closed|{c}|{d}", "ontime|{c}|{d}", "eval|{c}|{d}", "sat|{c}|{d}"],
                                   code, day, days)
        opn, od = self.counters([f"open|{code}", f"overdue|{code}"])
        return scores.Inputs(c, o, e, s_, open=opn, overdue=od)

    def score(self, kind: str, code: str, day: int, days: int = 7, area: str | None = None) -> dict:
        """A performance score with its inputs (formulas: ``gridpulse.loop.scores``)."""
        x = self.score_inputs(kind, code, day, days, area)
        fn = {"department": scores.department, "town": scores.town, "worker": scores.worker}[kind]
        return {"kind": kind, "code": code, "days": days, "score": fn(x), **asdict(x)}

    def departments(self, area: str, day: int) -> list[dict]:
        """Per department in ``area`` (a district or the city): open, overdue, today's
        closures, and its 7-day score."""
        depts = sorted(DEPARTMENTS)
        cur = self.counters([f"{w}|{area}|d:{d}" for w in ("open", "overdue") for d in depts])
        n = len(depts)
        out = []
        for i, d in enumerate(depts):
            sc = self.score("department", d, day, area=area)
            # the score's own inputs carry no backlog (open=0): the live counts go last
            out.append({"dept": d, **sc, "open": cur[i], "overdue": cur[n + i]})
        return out

    def _city(self) -> str:
        return self._city_code

    def case(self, case_id: str, rules=None) -> dict | None:
        """One case's full record (全程留痕): every step with who, when, where and what,
        its SLA clocks at the watermark and the alerts it raised; None if unknown.

        ``rules`` (``gridpulse.loop.facts.Rules``) gives the clocks; without, none.
        """
        parts = self.partitions(CASE)
        pipe = self.r.pipeline(transaction=False)
        for p in parts:
            pipe.hget(self.k.cases(p), case_id)
        found = [(p, raw) for p, raw in zip(parts, pipe.execute()) if raw is not None]
        if not found:
            return None
        p, raw = found[0]
        rec = record.DECODER.decode(raw)
        view = fold(rec.history, presorted=True)
        wm = int(self.r.hget(self.k.meta(CASE, p), "wm") or 0)
        out = {"case": case_id, "partition": p, "watermark": wm, "grid": rec.grid,
               "category": rec.category, "severity": rec.severity, "reported": rec.reported,
               "lon": rec.lon, "lat": rec.lat, "reporter": rec.reporter, "stage": view.stage,
               "dept": view.dept, "level": view.level, "open": view.is_open,
               "satisfaction": view.satisfaction,
               "history": [{f: getattr(h, f) for f in h._fields if f != "rank"} for h in rec.history],
               "rejected_pending": [{"id": e, "reason": w} for e, w in view.rejected],
               "dead_lettered": list(rec.dead), "alerts": list(rec.emitted), "clocks": []}
        if rules is not None and view.stage is not None:
            lin = (rec.grid, "", "", "", "")
            info = CaseInfo(case_id, lin, rec.category, rec.severity, rec.reported, rec.reporter)
            for c, stop in rules.clocks(view, info):
                if stop is None:
                    status = rules.policy.status(c, wm)
                else:
                    status = "met" if stop < c.deadline else "missed"
                out["clocks"].append({"name": c.name, "start": c.start, "warn_at": c.warn_at,
                                      "deadline": c.deadline, "stop": stop, "status": status,
                                      "working_time": c.working})
        return out

    def recent_cases(self, limit: int = 20, since: int | None = None) -> list[dict]:
        """Newest reported cases first (``since``: report time lower bound, epoch ms)."""
        parts = self.partitions(CASE)
        pipe = self.r.pipeline(transaction=False)
        lo = since if since is not None else "-inf"
        for p in parts:
            if since is None:
                pipe.zrevrange(self.k.recent(p), 0, limit - 1, withscores=True)
            else:
                pipe.zrevrangebyscore(self.k.recent(p), "+inf", lo, withscores=True)
        ranked = []
        for p, items in zip(parts, pipe.execute()):
            ranked.extend((score, case.decode(), p) for case, score in items)
        ranked.sort(reverse=True)
        if since is None:
            ranked = ranked[:limit]
        pipe = self.r.pipeline(transaction=False)
        for _, case, p in ranked:
            pipe.hget(self.k.recent_info(p), case)
        return [_json.decode(raw) for raw in pipe.execute() if raw is not None]

    def positions(self, active_ms: int, now: int | None = None) -> list[list]:
        """Latest ``[terminal, lon, lat, ts, grid, worker]`` of terminals active within ``active_ms``."""
        wm = self.watermarks()[GPS] if now is None else now
        parts = self.partitions(GPS)
        pipe = self.r.pipeline(transaction=False)
        for p in parts:
            pipe.hgetall(self.k.positions(p))
        out = []
        for raw in pipe.execute():
            if not raw:
                continue
            # One decode of all the partition's values as one JSON array: ~13,800 small
            # decodes cost 5x more than the parsing itself.
            vals = _json.decode(b"[" + b",".join(raw.values()) + b"]")
            for term, (ts, lon, lat, grid, worker) in zip(raw, vals):
                if ts >= wm - active_ms:
                    out.append([term.decode(), lon, lat, ts, grid, worker])
        return out


def sum_replies(replies, n: int) -> list[int]:
    """Per field, the sum of the HMGET replies of every partition (missing counts 0)."""
    total = [0] * n
    for vals in replies:
        for i, v in enumerate(vals):
            if v:
                total[i] += int(v)
    return total


class CounterReader:
    """:meth:`LiveView.counters` of one fixed list of fields, read again and again.

    The wall reads the same 12,216 per-grid fields every few seconds (grid colours,
    hexagons). redis-py spends more time packing 12,216 field names per partition than
    Redis spends answering, so the HMGET commands are packed once per set of partitions
    and sent as bytes on a pooled connection.
    """

    def __init__(self, view: LiveView, fields: list[str], kind: str = CASE) -> None:
        self.view, self.fields, self.kind = view, list(fields), kind
        self._parts: list[int] | None = None
        self._packed: list = []

    def read(self) -> list[int]:
        """The sum of each field over the partitions of the kind, in field order."""
        parts = self.view.partitions(self.kind)
        pool = self.view.r.connection_pool
        conn = pool.get_connection()
        try:
            if parts != self._parts:
                key = self.view.kpi_key(self.kind)
                self._packed = [conn.pack_command("HMGET", key(p), *self.fields) for p in parts]
                self._parts = parts
            for packed in self._packed:
                conn.send_packed_command(packed)
            replies = [conn.read_response() for _ in self._packed]
        except BaseException:
            conn.disconnect()  # a half-read reply must not reach the next user
            raise
        finally:
            pool.release(conn)
        return sum_replies(replies, len(self.fields))


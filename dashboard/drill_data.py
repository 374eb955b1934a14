"""What a drill-down page shows, assembled from the live views: no Dash, no HTML.

One function per page kind (area, case, bottlenecks), each returning plain JSON-able data, so the pages, the API
(``/api/area/<code>``) and the tests all read the same figures the same way.
"""

from __future__ import annotations

from gridpulse.case_list import CaseList
from gridpulse.catalog import CATEGORIES, DEPARTMENTS
from gridpulse.city import CityModel
from gridpulse.clock import local_day
from gridpulse.freshness import GPS, Freshness
from gridpulse.loop import record
from gridpulse.loop.lifecycle import OPEN_STAGES
from gridpulse.rkeys import CASE
from gridpulse.visit_views import VisitView, unknown_visit_kpis
from gridpulse.views import LiveView, unknown_kpis

LEVELS = ("city", "district", "town", "community", "grid")
CHILD_COLUMNS = ("open", "overdue", "new_today", "closed_today", "on_time_rate",
                 "active_workers", "coverage_30d", "silent_grids")


def breadcrumbs(city: CityModel, code: str) -> list[dict]:
    """The area and its ancestors, city first: ``[{"code", "name", "level"}]``."""
    lin = city.lineage(code)
    return [{"code": lin[lv], "name": city.area(lin[lv]).name, "level": lv}
            for lv in LEVELS if lv in lin]


def children_table(city: CityModel, live: LiveView, visits: VisitView, code: str, now: int,
                   cases: bool = True, gps: bool = True) -> list[dict]:
    """One row per child area with its headline figures (the sortable table); the
    figures of a stream without a whole projection (``cases``/``gps`` False) are None."""
    kids = city.children(code)
    if not kids:
        return []
    day = local_day(now, live.tz) if now else 0
    fields = []
    for c in kids:
        fields += [f"open|{c}", f"overdue|{c}", f"new|{c}|{day}", f"closed|{c}|{day}", f"ontime|{c}|{day}"]
    vals = live.counters(fields) if cases else [None] * len(fields)
    nothing = dict.fromkeys(kids)
    act = visits.by_area("wact", kids) if gps else nothing
    cov = visits.coverage_by_area(kids) if gps else nothing
    silent = visits.silent_grids(kids) if gps else nothing
    rows = []
    for i, c in enumerate(kids):
        o, od, new, closed, ontime = vals[5 * i:5 * i + 5]
        a = city.area(c)
        rows.append({"code": c, "name": a.name, "level": a.level, "open": o, "overdue": od,
                     "new_today": new, "closed_today": closed,
                     "on_time_rate": ontime / closed if closed else None,
                     "active_workers": act[c], "coverage_30d": cov[c], "silent_grids": silent[c]})
    return rows


def area_page(city: CityModel, live: LiveView, visits: VisitView, code: str,
              filters: dict | None = None, limit: int = 200, fresh: Freshness | None = None) -> dict:
    """Everything an area page shows: its KPIs (cases and visits), its children, its open
    cases filtered by ``filters`` (category, dept, stage, overdue) and its map extent.

    ``fresh`` (the views' freshness, read before) says which streams have a whole
    projection: the figures of the others are None (``cases``: ``total`` and ``rows``).
    """
    area = city.area(code)  # KeyError: unknown area
    cases_ok = fresh is None or fresh.has(CASE)
    gps_ok = fresh is None or fresh.has(GPS)
    now = live.watermark()
    # CaseList filters by grid..district: the city is every case (area None).
    cases = (CaseList(live).open(None if area.level == "city" else code, now=now, limit=limit,
                                 **(filters or {}))
             if cases_ok else {"total": None, "watermark": now, "rows": None})
    return {"code": code, "name": area.name, "level": area.level, "watermark": now,
            "breadcrumbs": breadcrumbs(city, code),
            "kpis": live.kpis(code, now=now).as_dict() if cases_ok else unknown_kpis(code),
            "visits": visits.kpis(code) if gps_ok else unknown_visit_kpis(code, visits.households_of(code)),
            "children": children_table(city, live, visits, code, now, cases_ok, gps_ok),
            "cases": cases, "bbox": list(city.bbox(code))}


# -- filters of the case table (the pages' dropdowns and /api/area's query) ---------------
LIMIT = (1, 1000)  # rows of the case table: one up to a thousand (the total is always exact)


class FilterError(ValueError):
    """A filter value that is not allowed: ``field`` names the query parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def parse_filters(args) -> tuple[dict, int]:
    """``(filters, limit)`` from query arguments (a mapping of strings; empty = not given).

    ``category`` a category code, ``dept`` a department code, ``stage``
    an open stage, ``overdue`` ``true``/``false``, ``limit`` 1..1000 (default 200).
    Raises :class:`FilterError` naming the first bad one.
    """
    out: dict = {}
    cat = args.get("category") or None
    if cat is not None:
        if cat not in CATEGORIES:
            raise FilterError("category", f"unknown category {cat!r}; one of {', '.join(CATEGORIES)}")
        out["category"] = cat
    dept = args.get("dept") or None
    if dept is not None:
        if dept not in DEPARTMENTS:
            raise FilterError("dept", f"unknown department {dept!r}; one of {', '.join(DEPARTMENTS)}")
        out["dept"] = dept
    stage = args.get("stage") or None
    if stage is not None:
        if stage not in OPEN_STAGES:
            raise FilterError("stage", f"stage must be an open stage ({', '.join(OPEN_STAGES)}), got {stage!r}")
        out["stage"] = stage
    od = args.get("overdue") or None
    if od is not None:
        if od not in ("true", "false"):
            raise FilterError("overdue", f"overdue must be true or false, got {od!r}")
        out["overdue"] = od == "true"
    raw = args.get("limit") or None
    limit = 200
    if raw is not None:
        lo, hi = LIMIT
        try:
            limit = int(raw)
        except ValueError:
            raise FilterError("limit", f"limit must be an integer in {lo}..{hi}, got {raw!r}") from None
        if not lo <= limit <= hi:
            raise FilterError("limit", f"limit must be an integer in {lo}..{hi}, got {limit}")
    return out, limit


# -- positions of open cases (the map's points) -----------------------------------------
def case_points(live: LiveView, ids: list[str]) -> dict[str, list[float]]:
    """Case id -> ``[lon, lat]`` of its report, read from the partitions' case records
    (open-case rows carry no position). Cases without a position are left out."""
    if not ids:
        return {}
    parts = live.partitions(CASE)
    pipe = live.r.pipeline(transaction=False)
    for p in parts:
        pipe.hmget(live.k.cases(p), ids)
    out: dict[str, list[float]] = {}
    for vals in pipe.execute():
        for cid, raw in zip(ids, vals):
            if raw is None or cid in out:
                continue
            rec = record.DECODER.decode(raw)
            if rec.lon is not None and rec.lat is not None:
                out[cid] = [round(rec.lon, 6), round(rec.lat, 6)]
    return out


# -- the bottleneck page ----------------------------------------------------------------
STAGE_WAIT = {  # duration stage -> the open stages a case waits in before it ends
    "register": ("reported",), "dispatch": ("registered", "returned", "reopened"),
    "accept": ("dispatched",), "handle": ("dispatched", "accepted"), "verify": ("handled",),
    "close": ("verified",), "evaluate": (),
}


def unknown_bottlenecks(city: CityModel, code: str, now: int, day: int) -> dict:
    """:func:`bottlenecks` with no whole case views to read: every stage and department
    listed, every figure None."""
    area = city.area(code)
    stage = dict.fromkeys(("count", "median_min", "p90_min", "waiting"))
    dept = dict.fromkeys(("open", "overdue", "handled_today", "handle_median_min", "handle_p90_min",
                          "handle_count", "closed_7d", "on_time_7d", "on_time_rate", "score"))
    return {"code": code, "name": area.name, "level": area.level, "watermark": now, "day": day,
            "stages": [{"stage": s, **stage} for s in STAGE_WAIT], "waiting": None,
            "departments": [{"dept": d, "name": DEPARTMENTS[d].name, **dept} for d in sorted(DEPARTMENTS)]}


def bottlenecks(city: CityModel, live: LiveView, code: str, fresh: Freshness | None = None) -> dict:
    """Where time is lost in ``code`` (the city or a district) today: per stage the
    median / p90 minutes and count of the stages that ended today with the open cases
    waiting in it now; per department open, overdue, handled (closed) today, handling
    time today and its 7-day score with on-time rate. Sorted worst first. Without
    whole case views (``fresh``), :func:`unknown_bottlenecks`."""
    area = city.area(code)
    if area.level not in ("city", "district"):
        raise FilterError("area", f"area must be the city or a district, {code!r} is a {area.level}")
    now = live.watermark()
    day = local_day(now, live.tz) if now else 0
    if fresh is not None and not fresh.has(CASE):
        return unknown_bottlenecks(city, code, now, day)
    st = live.stage_times(code, day)
    waiting = dict(zip(OPEN_STAGES, live.counters([f"stage|{code}|{s}" for s in OPEN_STAGES])))
    stages = [{"stage": s, **v, "waiting": sum(waiting[w] for w in STAGE_WAIT.get(s, ()))}
              for s, v in st.items()]
    stages.sort(key=lambda r: (-(r["p90_min"] or 0), -(r["median_min"] or 0), -r["count"]))
    depts = []
    rows = live.departments(code, day)
    handled = live.counters([f"closed|{code}|d:{r['dept']}|{day}" for r in rows])
    for r, h in zip(rows, handled):
        ht = live.stage_times(code, day, r["dept"])["handle"]
        depts.append({"dept": r["dept"], "name": DEPARTMENTS[r["dept"]].name, "open": r["open"],
                      "overdue": r["overdue"], "handled_today": h,
                      "handle_median_min": ht["median_min"], "handle_p90_min": ht["p90_min"],
                      "handle_count": ht["count"], "closed_7d": r["closed"], "on_time_7d": r["on_time"],
                      "on_time_rate": r["on_time"] / r["closed"] if r["closed"] else None,
                      "score": r["score"]})
    depts.sort(key=lambda r: (-r["overdue"], -r["open"], r["score"] if r["score"] is not None else 101,
                              r["dept"]))
    return {"code": code, "name": area.name, "level": area.level, "watermark": now, "day": day,
            "stages": stages, "waiting": waiting, "departments": depts}


# -- the case page ----------------------------------------------------------------------
def case_page(city: CityModel, live: LiveView, rules, case_id: str, board=None) -> dict | None:
    """One case as /api/case/<id> answers it (LiveView.case with its areas), plus the
    alerts it raised as rows ``{id, clock, start, kind, alert}`` (``alert``: the board's
    copy if it is still on the board); None if unknown."""
    doc = live.case(case_id, rules)
    if doc is None:
        return None
    lin = city.lineage(doc["grid"])
    doc["area"] = {lv: {"code": lin[lv], "name": city.area(lin[lv]).name}
                   for lv in ("grid", "community", "town", "district") if lv in lin}
    rows = []
    for aid in doc["alerts"]:
        rest = aid[len(case_id) + 1:] if aid.startswith(case_id + ":") else aid
        parts = rest.split(":")
        rows.append({"id": aid, "clock": parts[0] if parts else "",
                     "start": int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None,
                     "kind": ":".join(parts[2:]) if len(parts) > 2 else "",
                     "alert": board.get(aid) if board is not None else None})
    doc["alert_rows"] = rows
    return doc

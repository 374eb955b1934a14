"""The drill-down pages: ``/district/<code>``, ``/town/<code>``, ``/community/<code>``,
``/grid/<code>`` (issue 5), and the registration of the case and bottleneck pages.

An area page is built once by the URL router (pages.py, :meth:`Pages.add_route`): the
header with breadcrumbs (city -> the wall), empty KPI tiles, the map document (the
area's outline and its children's polygons, inline: a few dozen rings) and empty tables.
A ``dcc.Interval`` then refreshes the figures only (one server callback reading
:func:`dashboard.drill_data.area_page`, the same function ``/api/area/<code>`` answers):
the tiles' numbers, the children table (sorted by the clicked header), the open-case
table (filtered server side through ``CaseList`` by the dropdowns, most late first) and
a small map payload (values per child and case points) that a clientside callback
(assets/drill.js) turns into the deck document. The page itself is never re-rendered.

The grid page lists the grid's workers of the GPS clock's day with links to their day
replay, so wall -> district -> town -> (community ->) grid -> case / worker day are
clicks. Texts are Chinese (texts.ZH, ``d_`` keys); ``?lang=en`` gives English labels.
"""

from __future__ import annotations

import dash_deck
import pydeck as pdk
from dash import Dash, Input, Output, State, ClientsideFunction, ctx, dcc, html, no_update

from gridpulse.catalog import CATEGORIES, DEPARTMENTS, SEVERITIES
from gridpulse.city import CityModel
from gridpulse.clock import fmt_local, local_day
from gridpulse.loop.lifecycle import OPEN_STAGES
from gridpulse.views import LiveView
from gridpulse.visit_views import VisitView

from . import deck, drill_data
from . import texts as _texts
from .texts import STAGES_ZH, ZH
from .visits import day_date, hmm, km

_TEXT_EN: dict = getattr(_texts, "EN", {})
_STAGES_EN: dict = getattr(_texts, "STAGES_EN", {})
_texts_lang_of = getattr(_texts, "lang_of", None)
REFRESH_MS = 5000  # figures of a drill-down page: every few seconds
MAP_PX = (760, 640)  # the map panel of the area page (assets/drill.css)
LEVEL_PATH = {"district": "district", "town": "town", "community": "community", "grid": "grid"}
CHILD_LEVEL = {"city": "district", "district": "town", "town": "community", "community": "grid"}
TILES = (  # (key in the figures, text key, accent, is a rate)
    ("open", "tile_open", "accent-amber", False),
    ("overdue", "tile_overdue", "accent-red", False),
    ("new_today", "tile_new_today", "accent-blue", False),
    ("closed_today", "d_closed_today", "accent-cyan", False),
    ("on_time_rate", "tile_on_time_rate", "accent-green", True),
    ("satisfaction_rate", "tile_satisfaction_rate", "accent-indigo", True),
    ("active_workers", "tile_active_workers", "accent-slate", False),
    ("coverage_30d", "d_coverage_30d", "accent-teal", True),
    ("silent_grids", "d_silent_grids", "accent-slate", False),
)
CHILD_COLS = ("name",) + drill_data.CHILD_COLUMNS
CASE_LIMIT = 200
COLOR_BY = ("open", "overdue", "coverage_30d")

# The drill-down's own labels (``d_`` keys). They live here, not in texts.py, so that this
# module never rewrites a file another change is editing; texts.ZH / texts.EN win when
# they carry a key (the shared labels: tiles, stages, nav...).
D_ZH = {
    "d_title": "区域下钻", "d_closed_today": "今日办结", "d_coverage_30d": "30日走访覆盖",
    "d_silent_grids": "静默网格", "d_children": "下级区域", "d_cases": "在办事件",
    "d_name": "名称", "d_open": "在办", "d_overdue": "超期", "d_new_today": "今日新增",
    "d_closed": "今日办结", "d_on_time": "按期率", "d_workers": "在线网格员", "d_coverage": "覆盖率",
    "d_silent": "静默网格", "d_case": "事件", "d_category": "类别", "d_severity": "等级",
    "d_stage": "阶段", "d_dept": "承办部门", "d_grid": "网格", "d_reported": "上报时间",
    "d_late": "超期/剩余", "d_due": "剩余", "d_all_categories": "全部类别", "d_all_depts": "全部部门",
    "d_all_stages": "全部阶段", "d_all_overdue": "是否超期", "d_only_overdue": "仅超期",
    "d_not_overdue": "未超期", "d_total": "共 {n} 件", "d_shown": "显示前 {n} 件",
    "d_color_by": "着色", "d_no_cases": "暂无在办事件", "d_unknown": "区域不存在：{code}",
    "d_wrong_level": "{code} 是{actual}，不是{level}", "d_bottlenecks": "堵点分析",
    "d_workers_day": "{date} 本网格网格员", "d_no_workers": "当日该网格无定位记录",
    "d_level_city": "市", "d_level_district": "区县（市）", "d_level_town": "街道（乡镇）",
    "d_level_community": "社区（村）", "d_level_grid": "网格", "d_updated": "数据时间", "d_none": "—",
    # the case page
    "d_bad_case": "事件编号无效：{case}", "d_unknown_case": "事件不存在：{case}",
    "d_to_grid": "所属网格", "d_to_district": "所属区县", "d_case_facts": "事件概况",
    "d_position": "事发位置", "d_timeline": "全程留痕", "d_clocks": "时限（SLA）",
    "d_alerts": "触发预警", "d_no_alerts": "未触发预警", "d_no_clocks": "暂无计时",
    "d_clock": "环节", "d_start": "起算", "d_deadline": "时限", "d_stop": "完成", "d_elapsed": "用时",
    "d_status": "状态", "d_clock_dispatch": "派遣", "d_clock_handle": "处置", "d_clock_verify": "核查",
    "d_status_ok": "计时中", "d_status_warning": "临期", "d_status_overdue": "已超期",
    "d_status_met": "按期完成", "d_status_missed": "超期完成",
    "d_alert_warning": "临期预警", "d_alert_overdue": "超期", "d_alert_escalation": "督办升级",
    "d_alert_likely_breach": "可能超期", "d_alert_resolved": "已解除",
    "d_state": "状态", "d_open_yes": "在办", "d_open_no": "已办结", "d_level": "督办级别",
    "d_reporter": "上报人", "d_events": "环节数", "d_satisfaction": "满意度", "d_who": "经办",
    "d_where": "位置",
    # the bottleneck page
    "d_by_stage": "各环节用时（今日完成，分钟）", "d_by_dept": "各部门办理情况", "d_median": "中位数",
    "d_p90": "P90", "d_count": "完成数", "d_waiting": "当前滞留", "d_handled_today": "今日办结",
    "d_on_time_7d": "7日按期率", "d_score": "7日评分", "d_st_register": "立案", "d_st_dispatch": "派遣",
    "d_st_accept": "受理", "d_st_handle": "处置", "d_st_verify": "核查", "d_st_close": "结案",
    "d_st_evaluate": "评价",
}
D_EN = {
    "d_title": "Drill-down", "d_closed_today": "Closed today", "d_coverage_30d": "Coverage 30d",
    "d_silent_grids": "Silent grids", "d_children": "Areas below", "d_cases": "Open cases",
    "d_name": "Name", "d_open": "Open", "d_overdue": "Overdue", "d_new_today": "New",
    "d_closed": "Closed", "d_on_time": "On time", "d_workers": "Workers", "d_coverage": "Coverage",
    "d_silent": "Silent", "d_case": "Case", "d_category": "Category", "d_severity": "Severity",
    "d_stage": "Stage", "d_dept": "Department", "d_grid": "Grid", "d_reported": "Reported",
    "d_late": "Late / due", "d_due": "Due in", "d_all_categories": "All categories",
    "d_all_depts": "All departments", "d_all_stages": "All stages", "d_all_overdue": "Overdue or not",
    "d_only_overdue": "Overdue", "d_not_overdue": "Not overdue", "d_total": "{n} cases",
    "d_shown": "first {n} shown", "d_color_by": "Colour by", "d_no_cases": "No open case",
    "d_unknown": "No such area: {code}", "d_wrong_level": "{code} is a {actual}, not a {level}",
    "d_bottlenecks": "Bottlenecks", "d_workers_day": "Workers of {date}",
    "d_no_workers": "No worker seen in this grid that day", "d_level_city": "city",
    "d_level_district": "district", "d_level_town": "town", "d_level_community": "community",
    "d_level_grid": "grid", "d_updated": "as of",
    "d_bad_case": "Not a case id: {case}", "d_unknown_case": "No such case: {case}",
    "d_to_grid": "Grid", "d_to_district": "District", "d_case_facts": "Case",
    "d_position": "Position", "d_timeline": "Timeline", "d_clocks": "SLA clocks",
    "d_alerts": "Alerts raised", "d_no_alerts": "No alert", "d_no_clocks": "No clock yet",
    "d_clock": "Clock", "d_start": "Start", "d_deadline": "Deadline", "d_stop": "Stopped",
    "d_elapsed": "Elapsed", "d_status": "Status", "d_clock_dispatch": "Dispatch",
    "d_clock_handle": "Handle", "d_clock_verify": "Verify", "d_status_ok": "running",
    "d_status_warning": "warning", "d_status_overdue": "overdue", "d_status_met": "met",
    "d_status_missed": "missed", "d_alert_warning": "Deadline near", "d_alert_overdue": "Overdue",
    "d_alert_escalation": "Escalation", "d_alert_likely_breach": "Likely breach",
    "d_alert_resolved": "Resolved", "d_state": "State", "d_open_yes": "open",
    "d_open_no": "closed", "d_level": "Escalation level", "d_reporter": "Reporter",
    "d_events": "Steps", "d_satisfaction": "Satisfaction", "d_who": "By", "d_where": "At",
    "d_by_stage": "Stage times (ended today, minutes)", "d_by_dept": "Departments",
    "d_median": "Median", "d_p90": "P90", "d_count": "Count", "d_waiting": "Waiting now",
    "d_handled_today": "Closed today", "d_on_time_7d": "On time 7d", "d_score": "Score 7d",
    "d_st_register": "Register", "d_st_dispatch": "Dispatch", "d_st_accept": "Accept",
    "d_st_handle": "Handle", "d_st_verify": "Verify", "d_st_close": "Close",
    "d_st_evaluate": "Evaluate",
    # shared labels, in case texts.EN lacks them
    "r_worker": "Worker", "r_terminal": "Terminal", "r_first": "First fix", "r_last": "Last fix",
    "r_dist_km": "Distance (km)", "r_duty": "On duty", "r_visits": "Visits", "replay_link": "Replay",
    "tile_open": "Open", "tile_overdue": "Overdue", "tile_new_today": "New today",
    "tile_on_time_rate": "On-time rate", "tile_satisfaction_rate": "Satisfaction",
    "tile_active_workers": "Workers out", "nav_wall": "Wall",
}


def lang_of(query) -> str:
    """``en`` when the page was asked with ``?lang=en``, else ``zh`` (texts.lang_of)."""
    if _texts_lang_of is not None:
        return _texts_lang_of(query)
    return "en" if (query.get("lang") or [""])[0] == "en" else "zh"


def T(key: str, lang: str = "zh") -> str:
    """The label ``key`` in ``lang``: texts.py's tables first, then the drill-down's own;
    English falls back to Chinese."""
    if lang == "en":
        for table in (_TEXT_EN, D_EN):
            if key in table:
                return table[key]
    for table in (ZH, D_ZH):
        if key in table:
            return table[key]
    return D_EN.get(key, key)


def stage_name(stage: str | None, lang: str) -> str:
    if not stage:
        return "—"
    if lang == "en":
        return _STAGES_EN.get(stage, stage)
    return STAGES_ZH.get(stage, stage)


def category_name(code: str, lang: str) -> str:
    c = CATEGORIES.get(code)
    return code if c is None else ((c.name_en or c.name) if lang == "en" else c.name)


def dept_name(code: str | None, lang: str) -> str:
    if not code:
        return "—"
    d = DEPARTMENTS.get(code)
    return code if d is None else ((d.name_en or d.name) if lang == "en" else d.name)


def severity_name(sev: int, lang: str) -> str:
    s = SEVERITIES.get(sev)
    return str(sev) if s is None else s[1 if lang == "en" else 0]


def fmt_rate(x: float | None) -> str:
    """A share as the drill-down shows it: percent with one decimal; "—" for none."""
    return "—" if x is None else f"{x * 100:.1f}%"


def fmt_value(key: str, x) -> str:
    """A figure of the tiles or the children table as text."""
    if key in ("on_time_rate", "satisfaction_rate", "coverage_30d"):
        return fmt_rate(x)
    return "—" if x is None else str(x)


def fmt_dur(ms: int) -> str:
    """A duration as ``h:mm`` (``d天h:mm`` past a day)."""
    minutes = max(0, int(ms)) // 60_000
    days, minutes = divmod(minutes, 1440)
    text = f"{minutes // 60}:{minutes % 60:02d}"
    return f"{days}d {text}" if days else text


def area_href(level: str, code: str, lang: str = "zh") -> str:
    """The page of an area: the wall for the city, ``/<level>/<code>`` below."""
    base = "/wall" if level == "city" else f"/{LEVEL_PATH[level]}/{code}"
    return base + ("?lang=en" if lang == "en" else "")


def with_lang(href: str, lang: str) -> str:
    if lang != "en":
        return href
    return href + ("&" if "?" in href else "?") + "lang=en"


# -- the page frame -----------------------------------------------------------------------
def crumbs(items: list[dict], lang: str, last_link: bool = False) -> html.Nav:
    """Breadcrumbs ``[{"code", "name", "level"}]``, city first; every item but the last a link."""
    out = []
    for i, b in enumerate(items):
        if i:
            out.append(html.Span("›", className="d-crumb-sep"))
        if i < len(items) - 1 or last_link:
            out.append(html.A(b["name"], href=area_href(b["level"], b["code"], lang),
                              id=f"d-crumb-{b['level']}", className="d-crumb"))
        else:
            out.append(html.Span(b["name"], id=f"d-crumb-{b['level']}", className="d-crumb here"))
    return html.Nav(out, id="d-crumbs", className="d-crumbs")


def frame(city: CityModel, title: str, crumb_nav, children: list, lang: str, extra_nav=(),
          cls: str = "") -> html.Div:
    """The drill-down pages' common frame: brand, breadcrumbs, nav, body."""
    return html.Div(className=f"plain drill {cls}".strip(), children=[
        html.Header(className="topbar", children=[
            html.Div(className="brand", children=[
                html.Span(className="brand-mark"),
                html.Span(city.name, className="brand-city"),
                html.Span(title, className="brand-title"),
            ]),
            crumb_nav,
            html.Nav(className="replay-nav", children=[
                *extra_nav,
                html.A(T("nav_wall", lang), href=with_lang("/wall", lang), className="nav-link")]),
        ]),
        html.Main(className="d-body", children=children),
    ])


def message(city: CityModel, text: str, lang: str = "zh") -> html.Div:
    return frame(city, T("d_title", lang), html.Nav(className="d-crumbs"),
                 [html.Div(text, id="page-message", className="page-message")], lang)


def level_name(level: str, lang: str) -> str:
    return T(f"d_level_{level}", lang)


def _panel(title, body, cls: str = "", count=None) -> html.Div:
    head = [html.Span(className="panel-mark"), title]
    if count is not None:
        head.append(count)
    return html.Div(className=f"panel {cls}", children=[html.Div(className="panel-title", children=head), body])


# -- the map ------------------------------------------------------------------------------
def _rings(city: CityModel, code: str, digits: int = 5) -> list[list[list[list[float]]]]:
    """The area's polygons (each ``[outer, holes...]``), rounded."""
    try:
        polys = city.polygons(code)
    except KeyError:
        return []
    return [[[[round(x, digits), round(y, digits)] for x, y in ring] for ring in poly] for poly in polys]


def map_geo(city: CityModel, version: str, code: str) -> dict:
    """What the browser needs once to draw the area (assets/drill.js ``deck``): the base
    document (district fills by URL, the view fitted to the area), the area's outline and
    its children's polygons (the area itself for a grid)."""
    lon0, lat0, lon1, lat1 = city.bbox(code)
    px, py = (lon1 - lon0) * 0.06 + 0.0005, (lat1 - lat0) * 0.06 + 0.0005
    view = deck.fit_view((lon0 - px, lat0 - py, lon1 + px, lat1 + py), MAP_PX)
    base = deck.to_doc(pdk.Deck(layers=deck.static_layers(version)[:1], initial_view_state=view,
                                views=[pdk.View("MapView", controller=True)],
                                map_provider=None, map_style=None))
    kids = city.children(code) or [code]
    children = [{"c": k, "n": city.area(k).name, "p": poly} for k in kids for poly in _rings(city, k)]
    outline = [ring for poly in _rings(city, code) for ring in poly[:1]] if code != city.code else []
    for ring in outline:
        if ring and ring[0] != ring[-1]:
            ring.append(ring[0])
    return {"doc": base, "children": children, "outline": outline}


# -- the figures (server callback) --------------------------------------------------------
def _sort_rows(rows: list[dict], sort: dict | None) -> list[dict]:
    col = (sort or {}).get("col") or "open"
    desc = (sort or {}).get("desc", True)
    if col not in CHILD_COLS:
        col = "open"
    if col == "name":
        return sorted(rows, key=lambda r: r["code"], reverse=desc)
    have = [r for r in rows if r.get(col) is not None]
    none = [r for r in rows if r.get(col) is None]
    have.sort(key=lambda r: (r[col], r["code"]), reverse=desc)
    return have + sorted(none, key=lambda r: r["code"])  # no figure: always last


def children_data(rows: list[dict], lang: str) -> list[dict]:
    """The children table's rows as the browser writes them (assets/drill.js ``tables``):
    code, name, link and the text of each figure column."""
    return [{"c": r["code"], "n": r["name"], "h": area_href(r["level"], r["code"], lang),
             "v": [fmt_value(c, r[c]) for c in drill_data.CHILD_COLUMNS]} for r in rows]


def cases_data(city: CityModel, rows: list[dict], tz: str, now: int, lang: str) -> list[dict]:
    """The open-case table's rows: id, link, cell texts, and the row's look."""
    out = []
    for r in rows:
        if r["overdue"]:
            late_txt, cls = fmt_dur(r.get("late_ms", 0)), "late"
        elif r["deadline"]:
            late_txt, cls = "-" + fmt_dur(r["deadline"] - now), "due"
        else:
            late_txt, cls = "—", ""
        try:
            gname = city.area(r["grid"]).name
        except KeyError:
            gname = r["grid"]
        out.append({"id": r["case"], "h": with_lang(f"/case/{r['case']}", lang), "o": bool(r["overdue"]),
                    "s": r["severity"], "l": cls,
                    "v": [category_name(r["category"], lang), severity_name(r["severity"], lang),
                          stage_name(r["stage"], lang), dept_name(r["dept"], lang), gname,
                          fmt_local(r["ts"], tz, "%m-%d %H:%M"), late_txt]})
    return out


def figures(city: CityModel, view: LiveView, visits: VisitView, tz: str, code: str,
            filters: dict, sort: dict | None, lang: str) -> dict:
    """Everything the refresh callback sends: tile texts, the case total, and ``fig`` (the
    tables' rows and the map's values and points, which the browser draws: a table of
    200 rows as Dash components would cost the renderer seconds on every refresh)."""
    doc = drill_data.area_page(city, view, visits, code, filters, limit=CASE_LIMIT)
    k, v = doc["kpis"], doc["visits"]
    vals = {**k, "active_workers": v["active_workers"], "coverage_30d": v["coverage_30d"],
            "silent_grids": v["silent_grids"]}
    tiles = [fmt_value(key, vals[key]) for key, *_ in TILES]
    rows = doc["children"]
    kid_vals = {r["code"]: {c: r[c] for c in COLOR_BY} for r in rows}
    if not rows:  # a grid: colour the grid itself
        kid_vals = {code: {"open": k["open"], "overdue": k["overdue"], "coverage_30d": v["coverage_30d"]}}
    cases = doc["cases"]
    pts = drill_data.case_points(view, [r["case"] for r in cases["rows"]])
    points = [{"p": pts[r["case"]], "o": 1 if r["overdue"] else 0, "s": r["severity"], "id": r["case"]}
              for r in cases["rows"] if r["case"] in pts]
    now = doc["watermark"]
    total = T("d_total", lang).format(n=cases["total"])
    if cases["total"] > len(cases["rows"]):
        total += " · " + T("d_shown", lang).format(n=len(cases["rows"]))
    return {"tiles": tiles, "total": total,
            "fig": {"values": kid_vals, "points": points, "wm": now,
                    "children": children_data(_sort_rows(rows, sort), lang),
                    "cols": list(drill_data.CHILD_COLUMNS),
                    "cases": cases_data(city, cases["rows"], tz, now, lang),
                    "no_cases": T("d_no_cases", lang)}}


# -- the page -----------------------------------------------------------------------------
def _tile(key: str, label: str, accent: str, lang: str) -> html.Div:
    return html.Div(className=f"tile d-tile {accent}", children=[
        html.Div(html.Span(T(label, lang)), className="tile-label"),
        html.Div(html.Span("–", id=f"d-kpi-{key}", className="tile-num"), className="tile-value"),
    ])


def _dropdown(el_id: str, pairs, all_label: str) -> dcc.Dropdown:
    """A filter: nothing chosen (the placeholder, "all") or one value; clearable."""
    return dcc.Dropdown(id=el_id, value=None, placeholder=all_label, clearable=True, searchable=False,
                        className="d-dd", options=[{"label": lab, "value": val} for val, lab in pairs])


def _filters(lang: str) -> html.Div:
    return html.Div(className="d-filters", children=[
        _dropdown("d-f-category", [(c, category_name(c, lang)) for c in CATEGORIES],
                  T("d_all_categories", lang)),
        _dropdown("d-f-dept", [(d, dept_name(d, lang)) for d in DEPARTMENTS], T("d_all_depts", lang)),
        _dropdown("d-f-stage", [(s, stage_name(s, lang)) for s in OPEN_STAGES], T("d_all_stages", lang)),
        _dropdown("d-f-overdue", [("true", T("d_only_overdue", lang)), ("false", T("d_not_overdue", lang))],
                  T("d_all_overdue", lang)),
    ])


CHILD_HEAD = {"name": "d_name", "open": "d_open", "overdue": "d_overdue", "new_today": "d_new_today",
              "closed_today": "d_closed", "on_time_rate": "d_on_time", "active_workers": "d_workers",
              "coverage_30d": "d_coverage", "silent_grids": "d_silent"}


def _children_table(lang: str, level: str) -> html.Table:
    head = [html.Th(html.Button(T(CHILD_HEAD[c], lang), id=f"d-sort-{c}", n_clicks=0,
                                className="d-sort"), className="num" if c != "name" else "")
            for c in CHILD_COLS]
    return html.Table(className="d-table d-children", children=[
        html.Thead(html.Tr(head)), html.Tbody(id="d-children")])


def _cases_table(lang: str) -> html.Table:
    head = ["d_case", "d_category", "d_severity", "d_stage", "d_dept", "d_grid", "d_reported", "d_late"]
    return html.Table(className="d-table d-cases", children=[
        html.Thead(html.Tr([html.Th(T(h, lang)) for h in head])), html.Tbody(id="d-cases")])


def grid_workers(city: CityModel, visits: VisitView, tz: str, grid: str, lang: str) -> html.Div:
    """The grid's terminal-days of the GPS clock's day, each with a link to its replay."""
    now = visits.now()
    if not now:
        return html.Div(T("d_no_workers", lang), className="empty")
    day = local_day(now, tz)
    date = day_date(day)
    rows = sorted((s for s in visits.days(day).values() if s["grid"] == grid), key=lambda s: s["terminal"])
    head = ["r_worker", "r_terminal", "r_first", "r_last", "r_dist_km", "r_duty", "r_visits", ""]
    body = [html.Tr(className="d-worker", children=[
        html.Td(html.A(s["worker"], href=f"/worker/{s['worker']}?day={date}",
                       id=f"d-worker-{s['worker']}", className="d-link d-worker-link")),
        html.Td(s["terminal"]),
        html.Td(fmt_local(s["first"], tz, "%H:%M")), html.Td(fmt_local(s["last"], tz, "%H:%M")),
        html.Td(km(s["dist_m"]), className="num"), html.Td(hmm(s["duty_ms"]), className="num"),
        html.Td(str(s["visits"]), className="num"),
        html.Td(html.A(T("replay_link", lang), href=f"/worker/{s['worker']}?day={date}",
                       className="nav-link small")),
    ]) for s in rows]
    table = html.Table(className="d-table d-workers", children=[
        html.Thead(html.Tr([html.Th(T(h, lang) if h else "") for h in head])), html.Tbody(body)])
    return _panel(T("d_workers_day", lang).format(date=date),
                  html.Div(table if rows else html.Div(T("d_no_workers", lang), className="empty"),
                           className="d-scroll"), "d-panel-children",
                  html.Span(str(len(rows)), id="d-worker-count", className="panel-count"))


def area_page(city: CityModel, visits: VisitView, tz: str, version: str, level: str, code: str,
              query: dict) -> html.Div:
    """The page of one area (``level`` from the URL, checked against the city model)."""
    lang = lang_of(query)
    try:
        area = city.area(code)
    except KeyError:
        return message(city, T("d_unknown", lang).format(code=code), lang)
    if area.level != level:
        return message(city, T("d_wrong_level", lang).format(
            code=code, actual=level_name(area.level, lang), level=level_name(level, lang)), lang)
    bc = drill_data.breadcrumbs(city, code)
    tiles = html.Div(className="d-tiles", children=[_tile(k, lab, acc, lang) for k, lab, acc, _ in TILES])
    color = dcc.RadioItems(id="d-color", value="open", className="mode-radio d-color",
                           inputClassName="mode-input", labelClassName="mode-label",
                           options=[{"label": T(lab, lang), "value": v} for v, lab in
                                    (("open", "tile_open"), ("overdue", "tile_overdue"),
                                     ("coverage_30d", "d_coverage_30d"))])
    map_panel = html.Div(className="d-map", children=[
        dash_deck.DeckGL(id="d-map", data={}, style={"background": "#050b16"},
                         tooltip={"html": "<b>{n}</b> {t}", "style": {
                             "background": "rgba(6, 16, 32, 0.92)", "color": "#d7e6f7",
                             "fontSize": "15px", "border": "1px solid #2a5a8a"}}),
        html.Div(className="d-map-mode", children=[html.Span(T("d_color_by", lang), className="d-lab"), color]),
        html.Div(id="d-legend", className="d-legend"),
    ])
    if level == "grid":
        below = grid_workers(city, visits, tz, code, lang)
    else:
        below = _panel(T("d_children", lang) + f" · {level_name(CHILD_LEVEL[level], lang)}",
                       html.Div(_children_table(lang, level), className="d-scroll"), "d-panel-children")
    cases = _panel(T("d_cases", lang), html.Div(className="d-cases-box", children=[
        _filters(lang), html.Div(_cases_table(lang), className="d-scroll")]), "d-panel-cases",
        html.Span("", id="d-case-total", className="panel-count"))
    extra = [html.A(T("d_bottlenecks", lang), className="nav-link",
                    href=with_lang(f"/bottlenecks?area={bc[1]['code'] if len(bc) > 1 else city.code}", lang))]
    body = [
        tiles,
        html.Div(className="d-main", children=[
            map_panel,
            html.Div(className="d-right", children=[below, cases]),
        ]),
        dcc.Store(id="d-code", data={"code": code, "lang": lang, "level": level}),
        dcc.Store(id="d-sort", data={"col": "open", "desc": True}),
        dcc.Store(id="d-geo", data=map_geo(city, version, code)),
        dcc.Store(id="d-fig"),
        dcc.Store(id="d-drawn"),
        dcc.Interval(id="d-tick", interval=REFRESH_MS),
    ]
    title = f"{area.name}"
    return frame(city, title, crumbs(bc, lang), body, lang, extra,
                 cls=f"drill-area level-{level}")


# -- registration -------------------------------------------------------------------------
def register(app: Dash, pages, view: LiveView, visits: VisitView, city: CityModel, rules,
             settings, version: str | None = None) -> None:
    """Add the drill-down routes to ``pages`` and their callbacks to ``app`` (area pages,
    ``/case/<id>``, ``/bottlenecks``)."""
    from . import bottlenecks, case_page

    tz = settings.timezone
    version = version or pages.version
    for level in ("district", "town", "community", "grid"):
        pages.add_route(rf"^/{level}/([^/]+)/?$",
                        lambda m, q, lv=level: area_page(city, visits, tz, version, lv, m.group(1), q))

    @app.callback(*[Output(f"d-kpi-{k}", "children") for k, *_ in TILES],
                  Output("d-case-total", "children"), Output("d-fig", "data"),
                  Input("d-tick", "n_intervals"), Input("d-f-category", "value"),
                  Input("d-f-dept", "value"), Input("d-f-stage", "value"),
                  Input("d-f-overdue", "value"), Input("d-sort", "data"), State("d-code", "data"))
    def _refresh(_n, category, dept, stage, overdue, sort, page):
        if not page:
            return (no_update,) * (len(TILES) + 2)
        try:
            filters, _ = drill_data.parse_filters({"category": category, "dept": dept, "stage": stage,
                                                   "overdue": overdue})
        except drill_data.FilterError:
            filters = {}
        f = figures(city, view, visits, tz, page["code"], filters, sort, page.get("lang", "zh"))
        return (*f["tiles"], f["total"], f["fig"])

    @app.callback(Output("d-sort", "data"),
                  *[Input(f"d-sort-{c}", "n_clicks") for c in CHILD_COLS],
                  State("d-sort", "data"), prevent_initial_call=True)
    def _sort(*args):
        cur = args[-1] or {"col": "open", "desc": True}
        trig = ctx.triggered_id
        if not trig or not any(args[:-1]):
            return no_update
        col = trig.removeprefix("d-sort-")
        if col == cur.get("col"):
            return {"col": col, "desc": not cur.get("desc", True)}
        return {"col": col, "desc": col != "name"}

    app.clientside_callback(
        ClientsideFunction("drill", "tables"), Output("d-drawn", "data"), Input("d-fig", "data"))
    app.clientside_callback(
        ClientsideFunction("drill", "deck"),
        Output("d-map", "data"), Output("d-legend", "children"),
        Input("d-fig", "data"), Input("d-color", "value"), State("d-geo", "data"))

    case_page.register(app, pages, view, city, rules, settings)
    bottlenecks.register(app, pages, view, city, settings)

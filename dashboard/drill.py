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

from gridpulse.catalog import CATEGORIES, DEPARTMENTS
from gridpulse.city import CityModel
from gridpulse.clock import fmt_local, local_day, now_ms
from gridpulse.freshness import Limits
from gridpulse.loop.lifecycle import OPEN_STAGES
from gridpulse.views import UNREACHABLE, LiveView
from gridpulse.visit_views import VisitView

from . import deck, drill_data
from .checks import Invalid, accepts, area_code, choice, count, flag, lang, record
from .freshness_ui import holds, page_status, read_fresh, status_outputs
from .drill_common import (BODY, REFRESH_MS, T, _panel, area_href, category_name, crumbs, dept_name, fmt_dur,
                           fmt_value, frame, lang_of, level_name, message, severity_name, stage_name,
                           with_lang)
from .visits import day_date, hmm, km
MAP_PX = (760, 640)  # the map panel of the area page (assets/drill.css)
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
            filters: dict, sort: dict | None, lang: str, fresh=None) -> dict:
    """Everything the refresh callback sends: tile texts, the case total, and ``fig`` (the
    tables' rows and the map's values and points, which the browser draws: a table of
    200 rows as Dash components would cost the renderer seconds on every refresh).
    ``fresh``: the views' freshness (figures of a stream with nothing whole are "—")."""
    doc = drill_data.area_page(city, view, visits, code, filters, limit=CASE_LIMIT, fresh=fresh)
    k, v = doc["kpis"], doc["visits"]
    vals = {**k, "active_workers": v["active_workers"], "coverage_30d": v["coverage_30d"],
            "silent_grids": v["silent_grids"]}
    tiles = [fmt_value(key, vals[key]) for key, *_ in TILES]
    rows = doc["children"]
    kid_vals = {r["code"]: {c: r[c] for c in COLOR_BY} for r in rows}
    if not rows:  # a grid: colour the grid itself
        kid_vals = {code: {"open": k["open"], "overdue": k["overdue"], "coverage_30d": v["coverage_30d"]}}
    cases = doc["cases"]
    shown = cases["rows"] or []  # None: no whole case projection to read
    pts = drill_data.case_points(view, [r["case"] for r in shown])
    points = [{"p": pts[r["case"]], "o": 1 if r["overdue"] else 0, "s": r["severity"], "id": r["case"]}
              for r in shown if r["case"] in pts]
    now = doc["watermark"]
    if cases["total"] is None:
        total = T("no_data", lang)
    else:
        total = T("d_total", lang).format(n=cases["total"])
        if cases["total"] > len(shown):
            total += " · " + T("d_shown", lang).format(n=len(shown))
    return {"tiles": tiles, "total": total,
            "fig": {"values": kid_vals, "points": points, "wm": now,
                    "children": children_data(_sort_rows(rows, sort), lang),
                    "cols": list(drill_data.CHILD_COLUMNS),
                    "cases": cases_data(city, shown, tz, now, lang),
                    "no_cases": T("d_no_cases" if cases["total"] is not None else "no_data", lang)}}


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
    if not now:  # no GPS data at all: not "nobody was here"
        return html.Div(T("nf_no_data", lang), className="empty")
    day = local_day(now, tz)
    date = day_date(day)
    rows = sorted((s for s in visits.days(day).values() if s["grid"] == grid), key=lambda s: s["terminal"])
    head = ["r_worker", "r_terminal", "r_first", "r_last", "r_dist_km", "r_duty", "r_visits", ""]
    body = [html.Tr(className="d-worker", children=[
        html.Td(html.A(s["worker"], href=with_lang(f"/worker/{s['worker']}?day={date}", lang),
                       id=f"d-worker-{s['worker']}", className="d-link d-worker-link")),
        html.Td(s["terminal"]),
        html.Td(fmt_local(s["first"], tz, "%H:%M")), html.Td(fmt_local(s["last"], tz, "%H:%M")),
        html.Td(km(s["dist_m"]), className="num"), html.Td(hmm(s["duty_ms"]), className="num"),
        html.Td(str(s["visits"]), className="num"),
        html.Td(html.A(T("replay_link", lang), href=with_lang(f"/worker/{s['worker']}?day={date}", lang),
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
                 cls=f"drill-area level-{level}", status=True)


# -- what the callbacks accept -----------------------------------------------------------
def page_store(city: CityModel):
    """The check of the ``d-code`` store as :func:`area_page` writes it: an area of the
    city below it, at the level its URL named."""
    shape = record(("code", "level"), code=area_code(city, CHILD_LEVEL.values()), lang=lang,
                   level=choice(CHILD_LEVEL.values()))

    def check(value) -> None:
        shape(value)
        if value is not None and city.area(value["code"]).level != value["level"]:
            raise Invalid(f"{value['code']} is not a {value['level']}")
    return check


SORT = record(("col", "desc"), col=choice(CHILD_COLS), desc=flag)  # the d-sort store


# -- registration -------------------------------------------------------------------------
def register(app: Dash, pages, view: LiveView, visits: VisitView, city: CityModel, rules,
             settings, version: str | None = None, watch=None) -> None:
    """Add the drill-down routes to ``pages`` and their callbacks to ``app`` (area pages,
    ``/case/<id>``, ``/bottlenecks``); ``watch`` (api.RedisWatch) judges the views'
    freshness for their title bars."""
    from . import bottlenecks, case_page
    from .api import RedisWatch

    watch = watch or RedisWatch(view, Limits.of(settings))
    tz = settings.timezone
    version = version or pages.version
    for level in ("district", "town", "community", "grid"):
        pages.add_route(rf"^/{level}/([^/]+)/?$",
                        lambda m, q, lv=level: area_page(city, visits, tz, version, lv, m.group(1), q))

    @app.callback(*[Output(f"d-kpi-{k}", "children") for k, *_ in TILES],
                  Output("d-case-total", "children"), Output("d-fig", "data"), *status_outputs("d"),
                  Input("d-tick", "n_intervals"), Input("d-f-category", "value"),
                  Input("d-f-dept", "value"), Input("d-f-stage", "value"),
                  Input("d-f-overdue", "value"), Input("d-sort", "data"), State("d-code", "data"))
    # The filters are the dropdowns' options, so a value parse_filters refuses is forged.
    @accepts(count, choice(CATEGORIES), choice(DEPARTMENTS), choice(OPEN_STAGES),
             choice(("true", "false")), SORT, page_store(city))
    def _refresh(_n, category, dept, stage, overdue, sort, page):
        kept = (no_update,) * (len(TILES) + 2)
        if not page:
            return kept + (no_update,) * 4
        lang = page.get("lang", "zh")
        filters, _ = drill_data.parse_filters({"category": category, "dept": dept, "stage": stage,
                                               "overdue": overdue})
        fresh = read_fresh(watch)
        if holds(fresh):
            return kept + page_status(fresh, now_ms(), tz, lang, BODY)
        try:
            f = figures(city, view, visits, tz, page["code"], filters, sort, lang, fresh)
        except UNREACHABLE:
            return kept + page_status(None, now_ms(), tz, lang, BODY)
        return (*f["tiles"], f["total"], f["fig"], *page_status(fresh, now_ms(), tz, lang, BODY))

    @app.callback(Output("d-sort", "data"),
                  *[Input(f"d-sort-{c}", "n_clicks") for c in CHILD_COLS],
                  State("d-sort", "data"), prevent_initial_call=True)
    @accepts(*[count] * len(CHILD_COLS), SORT)
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

    case_page.register(app, pages, view, city, rules, settings, watch)
    bottlenecks.register(app, pages, view, city, settings, watch)

"""One case's page, ``/case/<id>`` (全程留痕): timeline, SLA clocks, alerts, position.

Built once by the URL router from :func:`dashboard.drill_data.case_page` (the same
document ``/api/case/<id>`` answers, plus the alerts as rows); a ``dcc.Interval`` then
refreshes the figures only (stage, clocks with their status colours, timeline, alerts),
never the page. The small map (its grid's outline and the report's position) is drawn by
assets/drill.js. Links lead up to the case's grid, town and district pages.
"""

from __future__ import annotations

import re

import dash_deck
import pydeck as pdk
from dash import ClientsideFunction, Dash, Input, Output, State, dcc, html, no_update

from gridpulse.alert_views import AlertBoard
from gridpulse.city import CityModel
from gridpulse.clock import fmt_local, now_ms
from gridpulse.freshness import CASE
from gridpulse.views import UNREACHABLE, LiveView

from . import deck, drill_data
from .checks import accepts, count, lang, matches, record
from .freshness_ui import holds, label, page_status, read_fresh, signal, status_outputs
from .drill_common import (BODY, REFRESH_MS, T, area_href, category_name, dept_name, fmt_dur, frame,
                           lang_of, message, severity_name, stage_name, with_lang)

CASE_ID = r"[A-Za-z0-9_.:\-]{1,64}"  # as the API's
_CASE_ID = re.compile(CASE_ID)
MAP_PX = (520, 360)
# SLA clock status -> colour class: green met / on time, amber warning, red missed / overdue.
STATUS_CLASS = {"ok": "ok", "met": "ok", "warning": "warn", "overdue": "bad", "missed": "bad"}
CLOCK_NAMES = {"dispatch": "d_clock_dispatch", "handle": "d_clock_handle", "verify": "d_clock_verify"}


def _kv(label: str, value, el_id: str) -> html.Div:
    return html.Div(className="kv", children=[html.Span(label, className="kv-label"),
                                              html.Span(value, id=el_id, className="kv-num")])


def _crumbs(doc: dict, city: CityModel, lang: str) -> html.Nav:
    items = [{"code": city.code, "name": city.name, "level": "city"}]
    items += [{"code": doc["area"][lv]["code"], "name": doc["area"][lv]["name"], "level": lv}
              for lv in ("district", "town", "community", "grid") if lv in doc["area"]]
    out = []
    for i, b in enumerate(items):
        if i:
            out.append(html.Span("›", className="d-crumb-sep"))
        out.append(html.A(b["name"], href=area_href(b["level"], b["code"], lang),
                          id=f"d-crumb-{b['level']}", className="d-crumb"))
    out += [html.Span("›", className="d-crumb-sep"), html.Span(doc["case"], className="d-crumb here")]
    return html.Nav(out, id="d-crumbs", className="d-crumbs")


def status_text(status: str, lang: str) -> str:
    return T(f"d_status_{status}", lang)


def clock_rows(doc: dict, tz: str, lang: str) -> list:
    if not doc["clocks"]:
        return [html.Tr(html.Td(T("d_no_clocks", lang), colSpan=6, className="empty"))]
    out = []
    wm = doc["watermark"]
    for c in doc["clocks"]:
        cls = STATUS_CLASS.get(c["status"], "")
        end = c["stop"] if c["stop"] is not None else wm
        out.append(html.Tr(className=f"c-clock {cls}", children=[
            html.Td(T(CLOCK_NAMES.get(c["name"], c["name"]), lang) if c["name"] in CLOCK_NAMES else c["name"]),
            html.Td(fmt_local(c["start"], tz, "%m-%d %H:%M"), className="num"),
            html.Td(fmt_local(c["deadline"], tz, "%m-%d %H:%M"), className="num"),
            html.Td(fmt_local(c["stop"], tz, "%m-%d %H:%M") if c["stop"] is not None else "—", className="num"),
            html.Td(fmt_dur(end - c["start"]), className="num"),
            html.Td(html.Span(status_text(c["status"], lang), className=f"c-status {cls}",
                              **{"data-status": c["status"]})),
        ]))
    return out


def timeline(doc: dict, tz: str, lang: str) -> list:
    out = []
    for i, h in enumerate(doc["history"]):
        what = [html.Span(stage_name(h["type"], lang), className="c-type")]
        if h.get("dept"):
            what.append(html.Span(dept_name(h["dept"], lang), className="c-dept"))
        if h.get("satisfaction") is not None:
            what.append(html.Span(f"{T('d_satisfaction', lang)} {h['satisfaction']}/5", className="c-sat"))
        note = " · ".join(x for x in (h.get("reason"), h.get("note")) if x)
        where = (f"{h['lon']:.5f}, {h['lat']:.5f}" if h.get("lon") is not None and h.get("lat") is not None
                 else "—")
        who = h.get("actor") or "—"
        if h.get("terminal"):
            who += f" ({h['terminal']})"
        out.append(html.Li(className=f"c-event t-{h['type']}", children=[
            html.Span(className="c-dot"),
            html.Div(className="c-ev-body", children=[
                html.Div(className="c-ev-head", children=[
                    html.Span(fmt_local(h["ts"], tz, "%m-%d %H:%M:%S"), className="c-ts num"), *what]),
                html.Div(className="c-ev-meta", children=[
                    html.Span(f"{T('d_who', lang)}：{who}", className="c-who"),
                    html.Span(f"{T('d_where', lang)}：{where}", className="c-where")]),
                html.Div(note, className="c-note") if note else None,
            ]),
        ]))
    return out


def alert_rows(doc: dict, tz: str, lang: str) -> list:
    if not doc["alert_rows"]:
        return [html.Li(T("d_no_alerts", lang), className="empty")]
    out = []
    for a in doc["alert_rows"]:
        kind = a["kind"].split(":")[0]
        board = a.get("alert") or {}
        when = fmt_local(board["ts"], tz, "%m-%d %H:%M") if board.get("ts") else ""
        status = board.get("status", "")
        out.append(html.Li(className=f"c-alert k-{kind}", children=[
            html.Span(T(f"d_alert_{kind}", lang) if f"d_alert_{kind}" in _ALERT_KEYS else a["kind"],
                      className="c-alert-kind"),
            html.Span(T(CLOCK_NAMES[a["clock"]], lang) if a["clock"] in CLOCK_NAMES else a["clock"],
                      className="c-alert-clock"),
            html.Span(when, className="c-alert-ts num"),
            html.Span(status, className="c-alert-status"),
            html.Span(a["id"], className="c-alert-id"),
        ]))
    return out


_ALERT_KEYS = {"d_alert_warning", "d_alert_overdue", "d_alert_escalation", "d_alert_likely_breach",
               "d_alert_resolved"}


def facts(doc: dict, tz: str, lang: str) -> list:
    open_txt = T("d_open_yes", lang) if doc["open"] else T("d_open_no", lang)
    return [
        _kv(T("d_category", lang), category_name(doc["category"], lang), "c-category"),
        _kv(T("d_severity", lang), severity_name(doc["severity"], lang), "c-severity"),
        _kv(T("d_stage", lang), stage_name(doc["stage"], lang), "c-stage"),
        _kv(T("d_dept", lang), dept_name(doc["dept"], lang), "c-dept"),
        _kv(T("d_state", lang), open_txt, "c-open"),
        _kv(T("d_level", lang), str(doc["level"]), "c-level"),
        _kv(T("d_reporter", lang), doc["reporter"] or "—", "c-reporter"),
        _kv(T("d_reported", lang), fmt_local(doc["reported"], tz, "%Y-%m-%d %H:%M:%S") if doc["reported"] else "—",
            "c-reported"),
        _kv(T("d_events", lang), str(len(doc["history"])), "c-events"),
    ]


def map_geo(city: CityModel, version: str, doc: dict) -> dict:
    lon0, lat0, lon1, lat1 = city.bbox(doc["grid"])
    px, py = (lon1 - lon0) * 0.3 + 0.001, (lat1 - lat0) * 0.3 + 0.001
    view = deck.fit_view((lon0 - px, lat0 - py, lon1 + px, lat1 + py), MAP_PX)
    base = deck.to_doc(pdk.Deck(layers=deck.static_layers(version)[:1], initial_view_state=view,
                                views=[pdk.View("MapView", controller=True)],
                                map_provider=None, map_style=None))
    outline = []
    for poly in city.polygons(doc["grid"]):
        ring = [[round(x, 6), round(y, 6)] for x, y in poly[0]]
        if ring and ring[0] != ring[-1]:
            ring.append(ring[0])
        outline.append(ring)
    pts = []
    if doc["lon"] is not None and doc["lat"] is not None:
        pts.append({"p": [doc["lon"], doc["lat"]], "c": [255, 69, 58, 255] if doc["open"] else [45, 217, 160, 255]})
    return {"doc": base, "outline": outline, "points": pts}


def page(city: CityModel, view: LiveView, rules, board: AlertBoard, tz: str, version: str,
         case_id: str, query: dict, watch=None) -> html.Div:
    lang = lang_of(query)
    if not _CASE_ID.fullmatch(case_id):
        return message(city, T("d_bad_case", lang).format(case=case_id), lang)
    fresh = watch.fresh() if watch is not None else None
    if fresh is not None and not fresh.has(CASE):
        # "No such case" would be a guess until the case views are whole again.
        return message(city, label(signal(fresh, now_ms(), tz), lang), lang)
    doc = drill_data.case_page(city, view, rules, case_id, board)
    if doc is None:
        return message(city, T("d_unknown_case", lang).format(case=case_id), lang)
    a = doc["area"]
    links = [html.A(f"{T('d_to_grid', lang)} · {a['grid']['name']}", id="c-grid-link", className="nav-link",
                    href=area_href("grid", a["grid"]["code"], lang)),
             html.A(f"{T('d_to_district', lang)} · {a['district']['name']}", id="c-district-link",
                    className="nav-link", href=area_href("district", a["district"]["code"], lang))]
    if doc["reporter"] and doc["reported"]:
        # The reporting worker's day (track, visits) on the day of the report: the case
        # and the worker's day are then three clicks from the wall (wall, district, case).
        day = fmt_local(doc["reported"], tz, "%Y-%m-%d")
        links.insert(0, html.A(f"{T('d_to_worker_day', lang)} · {doc['reporter']}", id="c-worker-link",
                               className="nav-link", href=with_lang(f"/worker/{doc['reporter']}?day={day}", lang)))
    side = html.Aside(className="c-side", children=[
        html.Div(className="panel", children=[
            html.Div(className="panel-title", children=[html.Span(className="panel-mark"), T("d_case_facts", lang)]),
            html.Div(facts(doc, tz, lang), id="c-facts", className="kv-list")]),
        html.Div(className="panel c-map-panel", children=[
            html.Div(className="panel-title", children=[html.Span(className="panel-mark"), T("d_position", lang)]),
            html.Div(className="c-map", children=[
                dash_deck.DeckGL(id="c-map", data={}, style={"background": "#050b16"})])]),
    ])
    centre = html.Section(className="c-centre panel", children=[
        html.Div(className="panel-title", children=[html.Span(className="panel-mark"), T("d_timeline", lang),
                                                    html.Span(str(len(doc["history"])), className="panel-count")]),
        html.Ol(timeline(doc, tz, lang), id="c-timeline", className="c-timeline"),
    ])
    right = html.Aside(className="c-right", children=[
        html.Div(className="panel", children=[
            html.Div(className="panel-title", children=[html.Span(className="panel-mark"), T("d_clocks", lang)]),
            html.Table(className="d-table c-clocks", children=[
                html.Thead(html.Tr([html.Th(T(h, lang)) for h in
                                    ("d_clock", "d_start", "d_deadline", "d_stop", "d_elapsed", "d_status")])),
                html.Tbody(clock_rows(doc, tz, lang), id="c-clocks")])]),
        html.Div(className="panel c-alerts-panel", children=[
            html.Div(className="panel-title", children=[html.Span(className="panel-mark"), T("d_alerts", lang),
                                                        html.Span(str(len(doc["alert_rows"])), id="c-alert-count",
                                                                  className="panel-count")]),
            html.Ul(alert_rows(doc, tz, lang), id="c-alerts", className="c-alerts")]),
    ])
    body = [html.Div(className="c-body", children=[side, centre, right]),
            dcc.Store(id="c-case", data={"case": case_id, "lang": lang}),
            dcc.Store(id="c-geo", data=map_geo(city, version, doc)),
            dcc.Interval(id="c-tick", interval=REFRESH_MS)]
    return frame(city, f"{T('d_case', lang)} {case_id}", _crumbs(doc, city, lang), body, lang, links,
                 cls="drill-case", status=True)


def register(app: Dash, pages, view: LiveView, city: CityModel, rules, settings, watch) -> None:
    """The ``/case/<id>`` route and its refresh; ``watch`` (api.RedisWatch) judges the
    views' freshness for its title bar."""
    tz = settings.timezone
    board = AlertBoard(view.r, view.k)
    pages.add_route(r"^/case/([^/]+)/?$",
                    lambda m, q: page(city, view, rules, board, tz, pages.version, m.group(1), q, watch))

    @app.callback(Output("c-facts", "children"), Output("c-timeline", "children"),
                  Output("c-clocks", "children"), Output("c-alerts", "children"),
                  Output("c-alert-count", "children"), *status_outputs("d"),
                  Input("c-tick", "n_intervals"), State("c-case", "data"), prevent_initial_call=True)
    @accepts(count, record(("case",), case=matches(CASE_ID, "a case id"), lang=lang))
    def _refresh(_n, data):
        kept = (no_update,) * 5
        if not data:
            return kept + (no_update,) * 4
        lang = data.get("lang", "zh")
        fresh = read_fresh(watch)
        if holds(fresh) or not fresh.has(CASE):
            return kept + page_status(fresh, now_ms(), tz, lang, BODY)
        try:
            doc = drill_data.case_page(city, view, rules, data["case"], board)
        except UNREACHABLE:
            return kept + page_status(None, now_ms(), tz, lang, BODY)
        status = page_status(fresh, now_ms(), tz, lang, BODY)
        if doc is None:
            return kept + status
        return (facts(doc, tz, lang), timeline(doc, tz, lang), clock_rows(doc, tz, lang),
                alert_rows(doc, tz, lang), str(len(doc["alert_rows"])), *status)

    app.clientside_callback(ClientsideFunction("drill", "caseDeck"), Output("c-map", "data"),
                            Input("c-geo", "data"))


__all__ = ["page", "register", "with_lang"]

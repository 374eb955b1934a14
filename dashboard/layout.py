"""The wall's component tree (1920x1080): title bar, KPI tiles, trend, ranking, map, ticker.

Everything that changes is filled by clientside callbacks (assets/wall.js) from the live
stores; the layout itself, with the static deck spec and the text tables, is sent once.
"""

from __future__ import annotations

from typing import NamedTuple

import dash_deck
from dash import dcc, html

from .texts import ZH


class Sub(NamedTuple):
    """A tile's small second figure (e.g. today's visits under the coverage rate)."""

    el_id: str
    key: str  # its figure in the live payload's ``tiles``
    label: str  # text key
    unit: str  # text key


class Tile(NamedTuple):
    """One KPI tile; ``unit`` None for a rate (its "%" is part of the number).

    ``key`` names its figure in the live payload's ``tiles`` (live.py); the clientside
    callback fills the tiles in this order, then the sub-figures in the same order
    (callbacks.py, :func:`tile_spec`).
    """

    el_id: str
    key: str
    label: str  # text key
    unit: str | None  # text key
    accent: str  # colour class
    scope: str | None = None  # text key of a small "today"/"now" tag
    wide: bool = False  # spans both columns, label and number on one line
    sub: Sub | None = None


# Read in pairs, top to bottom: inflow, backlog, quality of the closed loop, and the
# grid workers' own work: households visited (30-day coverage, visits today) and who is out.
TILES = (
    Tile("tile-new-today", "new_today", "tile_new_today", "unit_case", "accent-blue"),
    Tile("tile-last-hour", "last_hour", "tile_last_hour", "unit_case", "accent-cyan"),
    Tile("tile-open", "open", "tile_open", "unit_case", "accent-amber"),
    Tile("tile-overdue", "overdue", "tile_overdue", "unit_case", "accent-red", "scope_now"),
    Tile("tile-on-time-rate", "on_time", "tile_on_time_rate", None, "accent-green", "scope_today"),
    Tile("tile-satisfaction-rate", "satisfied", "tile_satisfaction_rate", None, "accent-indigo",
         "scope_today"),
    Tile("tile-coverage", "coverage", "tile_coverage", None, "accent-teal", "scope_30d",
         sub=Sub("tile-visits-today", "visits_today", "sub_visits_today", "unit_visit")),
    Tile("tile-active-workers", "workers", "tile_active_workers", "unit_person", "accent-slate",
         "scope_now"),
)
SUBS = tuple(t.sub for t in TILES if t.sub)
TREND_HEIGHT_PX = 146  # also in assets/wall.js (trendFigure): the figure's own height
# Grid colours on the map: off (outlines only) or a coverage window of VisitView.
MAP_MODES = (("none", "mode_none"), ("today", "mode_today"), ("week", "mode_week"),
             ("30d", "mode_30d"))


def tile_spec() -> dict:
    """Tile order for the browser (texts store): ``tiles`` ``[[payload key, is a rate], ...]``
    and ``subs`` ``[payload key, ...]``, each in output order."""
    return {"tiles": [[t.key, t.unit is None] for t in TILES], "subs": [s.key for s in SUBS]}


SEVERITY_LEGEND = (("sev-1", "紧急"), ("sev-2", "重要"), ("sev-3", "一般"), ("sev-4", "轻微"))


def _tile(t: Tile) -> html.Div:
    label = [html.Span(ZH[t.label])]
    if t.scope:
        label.append(html.Span(ZH[t.scope], className="tile-scope"))
    value = [html.Span("–", id=t.el_id, className="tile-num")]
    if t.unit:
        value.append(html.Span(ZH[t.unit], className="tile-unit"))
    if t.sub:
        value.append(html.Span(className="tile-sub", children=[
            html.Span(ZH[t.sub.label], className="tile-sub-label"),
            html.Span(className="tile-sub-line", children=[
                html.Span("–", id=t.sub.el_id, className="tile-sub-num"),
                html.Span(ZH[t.sub.unit], className="tile-sub-unit")])]))
    return html.Div(className=f"tile {t.accent}" + (" tile-wide" if t.wide else ""), children=[
        html.Div(label, className="tile-label"),
        html.Div(value, className="tile-value"),
    ])


def _panel(title: str, body, cls: str = "") -> html.Div:
    return html.Div(className=f"panel {cls}", children=[
        html.Div(className="panel-title", children=[html.Span(className="panel-mark"), title]),
        body,
    ])


def _legend() -> html.Div:
    items = [html.Div(className="lg-row", children=[html.Span(className=f"lg-dot {cls}"), name])
             for cls, name in SEVERITY_LEGEND]
    items += [html.Div(className="lg-row", children=[html.Span(className="lg-dot worker"),
                                                     ZH["legend_workers"]]),
              html.Div(className="lg-row", children=[html.Span(className="lg-line"), ZH["legend_grids"]])]
    return html.Div(className="map-legend", children=[
        html.Div(ZH["legend_severity"], className="lg-title"), *items])


COVERAGE_STEPS = ("0", "<10", "10", "20", "30", "40", "50", "60", "70", "≥80")


def _map_mode() -> html.Div:
    """The grid-colour selector and the coverage legend (shown while a window is on)."""
    ramp = [html.Span(className=f"cov-step cov-{i}", title=label)
            for i, label in enumerate(COVERAGE_STEPS)]
    return html.Div(className="map-mode", children=[
        dcc.RadioItems(id="map-mode", value="none", className="mode-radio",
                       inputClassName="mode-input", labelClassName="mode-label",
                       options=[{"label": ZH[key], "value": v} for v, key in MAP_MODES],
                       persistence=True, persistence_type="local"),
        html.Div(id="coverage-legend", className="cov-legend hidden", children=[
            html.Span("0%", className="cov-end"), *ramp, html.Span("100%", className="cov-end")]),
    ])


TOOLTIP_STYLE = {"background": "rgba(6, 16, 32, 0.92)", "color": "#d7e6f7", "fontSize": "15px",
                 "border": "1px solid #2a5a8a", "borderRadius": "4px", "padding": "6px 10px",
                 "fontFamily": '"Noto Sans CJK SC", "Noto Sans SC", sans-serif'}


def root() -> html.Div:
    """The app's layout: the URL and the page it selects (pages.py fills ``page``)."""
    return html.Div(className="root", children=[dcc.Location(id="url"), html.Div(id="page")])


def build(city_name: str, spec: dict, texts: dict, interval_ms: int, positions_ms: int) -> html.Div:
    """The whole page; ``spec`` is the map's base document (deck.py) plus district labels."""
    header = html.Header(className="topbar", children=[
        html.Div(className="brand", children=[
            html.Span(className="brand-mark"),
            html.Span(city_name, className="brand-city"),
            html.Span(ZH["title"], className="brand-title"),
        ]),
        html.Div(className="clock", children=[
            html.Span(ZH["event_time"], className="clock-label"),
            html.Span("--:--:--", id="clock-time", className="clock-time"),
            html.Span("", id="clock-date", className="clock-date"),
        ]),
        html.Div(id="live-indicator", className="live-ind waiting", children=[
            html.Span(className="live-dot"),
            html.Span(ZH["waiting"], id="live-text", className="live-text"),
        ]),
    ])
    left = html.Aside(className="col col-left", children=[
        html.Div(className="tiles", children=[_tile(t) for t in TILES]),
        _panel(ZH["trend"], dcc.Graph(
            id="trend", className="trend",
            config={"displayModeBar": False, "staticPlot": True, "responsive": False},
            style={"height": f"{TREND_HEIGHT_PX}px"}), "panel-trend"),
        _panel(ZH["districts"], html.Div(id="district-rank", className="district-rank"), "panel-rank"),
    ])
    centre = html.Section(className="col col-map", children=[
        dash_deck.DeckGL(id="map", data={"initialViewState": spec["spec"]["initialViewState"]},
                         style={"background": "#050b16"}, enableEvents=["click"],
                         tooltip={"html": ZH["worker_tooltip"], "style": TOOLTIP_STYLE}),
        _legend(),
        _map_mode(),
        html.Div(ZH["map_note"], className="map-note"),
    ])
    right = html.Aside(className="col col-right", children=[
        _panel(ZH["ticker"], html.Div(id="ticker", className="ticker"), "panel-ticker"),
    ])
    return html.Div(id="wall", className="wall", children=[
        header,
        html.Main(className="body", children=[left, centre, right]),
        dcc.Interval(id="tick", interval=interval_ms),
        dcc.Interval(id="tick-positions", interval=positions_ms),
        dcc.Store(id="live"),
        dcc.Store(id="case-cursor"),
        dcc.Store(id="positions"),
        dcc.Store(id="positions-cursor"),
        dcc.Store(id="coverage"),
        dcc.Store(id="coverage-cursor"),
        dcc.Store(id="nav"),
        dcc.Store(id="deck-base", data=spec),
        dcc.Store(id="texts", data=texts),
        dcc.Store(id="interval-ms", data=interval_ms),
    ])

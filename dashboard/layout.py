"""The wall's component tree (16:9, designed at 1920x1080 and scaled by the CSS unit
``--u``, so 4K is the same wall at twice the size): title bar, KPI tiles, trend, district
ranking (links to ``/district/<code>``), map with the coverage and hexagon toggles,
alerts, the overdue board and the ticker; ``?kiosk=1`` and ``?playlist=1&dwell=N``
variants (district spotlight) are built per request.

Everything that changes is filled by clientside callbacks (assets/wall.js) from the live
stores; the layout itself, with the static deck spec and the text tables, is sent once.
Every label comes from the language's table (texts.py, ``?lang=en``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import dash_deck
from dash import dcc, html

from .texts import texts as text_tables


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
MAP_MODES = (("none", "mode_none"), ("open", "mode_open"), ("overdue", "mode_overdue"),
             ("today", "mode_today"), ("week", "mode_week"), ("30d", "mode_30d"))


def tile_spec() -> dict:
    """Tile order for the browser (texts store): ``tiles`` ``[[payload key, is a rate], ...]``
    and ``subs`` ``[payload key, ...]``, each in output order."""
    return {"tiles": [[t.key, t.unit is None] for t in TILES], "subs": [s.key for s in SUBS]}


SEVERITY_LEGEND = ("sev-1", "sev-2", "sev-3", "sev-4")
OVERDUE_ROWS = 8  # the overdue board's rows (live.py sends as many)
ALERT_ROWS = 3  # the wall's alerts panel: newest few


def _tile(t: Tile, T: dict) -> html.Div:
    label = [html.Span(T[t.label], className="tile-label-text")]
    if t.scope:
        label.append(html.Span(T[t.scope], className="tile-scope"))
    value = [html.Span("–", id=t.el_id, className="tile-num")]
    if t.unit:
        value.append(html.Span(T[t.unit], className="tile-unit"))
    if t.sub:
        value.append(html.Span(className="tile-sub", children=[
            html.Span(T[t.sub.label], className="tile-sub-label"),
            html.Span(className="tile-sub-line", children=[
                html.Span("–", id=t.sub.el_id, className="tile-sub-num"),
                html.Span(T[t.sub.unit], className="tile-sub-unit")])]))
    return html.Div(className=f"tile {t.accent}" + (" tile-wide" if t.wide else ""), children=[
        html.Div(label, className="tile-label"),
        html.Div(value, className="tile-value"),
    ])


def _panel(title, body, cls: str = "", extra=None) -> html.Div:
    head = [html.Span(className="panel-mark"), html.Span(title, className="panel-title-text")]
    if extra is not None:
        head.append(extra)
    return html.Div(className=f"panel {cls}", children=[
        html.Div(className="panel-title", children=head),
        body,
    ])


def _legend(T: dict, severities: dict) -> html.Div:
    items = [html.Div(className="lg-row", children=[html.Span(className=f"lg-dot {cls}"),
                                                    severities[cls[-1]]])
             for cls in SEVERITY_LEGEND]
    items += [html.Div(className="lg-row", children=[html.Span(className="lg-dot worker"),
                                                     T["legend_workers"]]),
              html.Div(className="lg-row", children=[html.Span(className="lg-line"), T["legend_grids"]])]
    return html.Div(className="map-legend", children=[
        html.Div(T["legend_severity"], className="lg-title"), *items])


COVERAGE_STEPS = ("0", "<10", "10", "20", "30", "40", "50", "60", "70", "≥80")
# Cases per grid, in the buckets of assets/wall.js (caseBucket): 1, 2, 3-4, 5-9, 10+.
CASE_STEPS = ("1", "2", "3", "5", "10+")


def _map_mode(T: dict) -> html.Div:
    """The grid-colour selector, the hexagon toggle of today's new cases, and the
    legend of the chosen colours (cases or coverage, shown while a mode is on)."""
    ramp = [html.Span(className=f"cov-step cov-{i}", title=label)
            for i, label in enumerate(COVERAGE_STEPS)]
    case_ramp = [html.Span(label, className=f"cov-step case-step case-{i + 1}")
                 for i, label in enumerate(CASE_STEPS)]
    return html.Div(className="map-mode", children=[
        dcc.RadioItems(id="map-mode", value="none", className="mode-radio",
                       inputClassName="mode-input", labelClassName="mode-label",
                       options=[{"label": T[key], "value": v} for v, key in MAP_MODES],
                       persistence=True, persistence_type="local"),
        dcc.Checklist(id="map-heat", value=[], className="mode-radio heat-toggle",
                      inputClassName="mode-input", labelClassName="mode-label",
                      options=[{"label": T["heat_today"], "value": "hex"}],
                      persistence=True, persistence_type="local"),
        html.Div(id="coverage-legend", className="cov-legend hidden", children=[
            html.Div(className="ramp-cov", children=[
                html.Span("0%", className="cov-end"), *ramp, html.Span("100%", className="cov-end")]),
            html.Div(className="ramp-case", children=[
                html.Span(T["legend_cases_per_grid"], className="cov-end"), *case_ramp])]),
    ])


TOOLTIP_STYLE = {"background": "rgba(6, 16, 32, 0.92)", "color": "#d7e6f7", "fontSize": "15px",
                 "border": "1px solid #2a5a8a", "borderRadius": "4px", "padding": "6px 10px",
                 "fontFamily": '"Noto Sans CJK SC", "Noto Sans SC", sans-serif'}


def root() -> html.Div:
    """The app's layout: the URL and the page it selects (pages.py fills ``page``)."""
    return html.Div(className="root", children=[dcc.Location(id="url"), html.Div(id="page")])


def _spotlight(T: dict) -> html.Div:
    """The playlist's card: the spotlit district's name and KPIs (wall.js fills it)."""
    figs = [html.Div(className="sp-fig", children=[
        html.Span(T[label], className="sp-label"),
        html.Span("–", id=f"sp-{key}", className="sp-num")])
        for key, label in (("open", "sp_open"), ("overdue", "sp_overdue"), ("new", "sp_new"),
                           ("hour", "sp_hour"))]
    return html.Div(id="spotlight", className="spotlight hidden", children=[
        html.Div(T["spotlight"], className="sp-title"),
        html.Div("", id="sp-name", className="sp-name"),
        html.Div(figs, className="sp-figs"),
    ])


def build(city_name: str, spec: dict, texts: dict, interval_ms: int, positions_ms: int,
          *, kiosk: bool = False, playlist: bool = False, dwell_s: int = 20,
          notice: str | None = None) -> html.Div:
    """The whole page; ``spec`` is the map's two base documents (deck.base_spec: ``under``
    and ``over``) plus district labels, ``texts`` the language's tables (texts.py, with
    ``districts`` and ``tiles`` added); ``notice`` a warning shown over the map (e.g. the
    working calendar lacks next year)."""
    T = texts["ui"]
    header = html.Header(className="topbar", children=[
        html.Div(className="brand", children=[
            html.Span(className="brand-mark"),
            html.Span(city_name, className="brand-city"),
            html.Span(T["title"], className="brand-title"),
        ]),
        html.Div(className="clock", children=[
            html.Span(T["event_time"], className="clock-label"),
            html.Span("--:--:--", id="clock-time", className="clock-time"),
            html.Span("", id="clock-date", className="clock-date"),
        ]),
        # Records the worker refused today (dead letters): a small count, loud only when
        # there are some.
        html.Div(id="dead-count", className="dead-count none", title=T["dead_hint"], children=[
            html.Span(T["dead_today"], className="dead-label"),
            html.Span("–", id="dead-num", className="dead-num"),
        ]),
        # The views' freshness (freshness_ui.signal, worded by wall.js): live, behind,
        # rebuilding, stale, no data, Redis unreachable; and while the figures are dimmed,
        # the time they are from.
        html.Span("", id="data-asof", className="data-asof"),
        html.Div(id="live-indicator", className="live-ind waiting", children=[
            html.Span(className="live-dot"),
            html.Span(T["waiting"], id="live-text", className="live-text"),
        ]),
    ])
    left = html.Aside(className="col col-left", children=[
        html.Div(className="tiles", children=[_tile(t, T) for t in TILES]),
        _panel(T["trend"], dcc.Graph(
            id="trend", className="trend",
            config={"displayModeBar": False, "staticPlot": True, "responsive": False},
            style={"height": f"calc({TREND_HEIGHT_PX} * var(--u))"}), "panel-trend"),
        _panel(T["districts"], html.Div(id="district-rank", className="district-rank"), "panel-rank"),
    ])
    centre = html.Section(className="col col-map", children=[
        # Two canvases (deck.base_spec): the static outlines under, the live layers over
        # (transparent; it alone takes the clicks and shows the tooltips).
        html.Div(className="map-stack", children=[
            dash_deck.DeckGL(id="map-base", data={"initialViewState": spec["under"]["initialViewState"]},
                             style={"background": "#050b16", "pointerEvents": "none"}),
            dash_deck.DeckGL(id="map", data={"initialViewState": spec["over"]["initialViewState"]},
                             enableEvents=["click"],
                             tooltip={"html": T["worker_tooltip"], "style": TOOLTIP_STYLE}),
        ]),
        _legend(T, texts["severities"]),
        _map_mode(T),
        _spotlight(T),
        html.Div(T["map_note"], className="map-note"),
        # Over the map's empty lower edge, so the panels keep their sizes.
        *([html.Div(notice, id="wall-notice", className="wall-notice", role="alert")] if notice else []),
    ])
    lang_q = "?lang=en" if texts.get("lang") == "en" else ""
    alerts_more = html.A(T["alerts_more"], href=f"/alerts{lang_q}", className="panel-link")
    right = html.Aside(className="col col-right", children=[
        _panel([T["alerts"], html.Span("–", id="alerts-open", className="alerts-open"),
                html.Span(T["alerts_open"], className="alerts-open-label")],
               html.Div(id="alerts-list", className="alerts-list"), "panel-alerts", alerts_more),
        _panel(T["overdue_board"], html.Div(id="overdue-board", className="overdue-board"),
               "panel-overdue"),
        _panel(T["ticker"], html.Div(id="ticker", className="ticker"), "panel-ticker"),
    ])
    cls = "wall" + (" kiosk" if kiosk else "") + (" playlist" if playlist else "")
    return html.Div(id="wall", className=cls, lang="en" if texts.get("lang") == "en" else "zh-CN",
                    children=[
        header,
        html.Main(id="wall-body", className="body", children=[left, centre, right]),
        dcc.Interval(id="tick", interval=interval_ms),
        dcc.Interval(id="tick-positions", interval=positions_ms),
        dcc.Interval(id="tick-spotlight", interval=max(3, dwell_s) * 1000, disabled=not playlist),
        dcc.Store(id="live"),
        dcc.Store(id="case-cursor"),
        dcc.Store(id="positions"),
        dcc.Store(id="positions-cursor"),
        dcc.Store(id="coverage"),
        dcc.Store(id="coverage-cursor"),
        dcc.Store(id="side"),
        dcc.Store(id="heat"),
        dcc.Store(id="heat-cursor"),
        dcc.Store(id="spot"),
        dcc.Store(id="nav"),
        dcc.Store(id="deck-base", data=spec),
        dcc.Store(id="texts", data=texts),
        dcc.Store(id="interval-ms", data=interval_ms),
    ])


def wall_texts(city, lang: str) -> dict:
    """The browser's text tables of the wall in ``lang``: texts.py's plus the district
    names and the tile order."""
    txt = text_tables(lang)
    txt["districts"] = {d.code: (d.name_en or d.name) if lang == "en" else d.name
                        for d in city.districts}
    txt["tiles"] = tile_spec()
    return txt


def _flag(query: dict, name: str) -> bool:
    return (query.get(name) or ["0"])[0].lower() in ("1", "true", "yes", "on")


class Walls:
    """The wall in each language and mode, built per request from the shared spec:
    ``/`` and ``/wall`` with ``?lang=en``, ``?kiosk=1``, ``?playlist=1[&dwell=20]``.

    ``notices()``, asked at each build, gives the warning to show in each language
    (``{"zh": ..., "en": ...}``) or None (calendar_years.banner)."""

    PATH = r"^/?(wall/?)?$"

    def __init__(self, city, spec: dict, interval_ms: int, positions_ms: int,
                 notices: Callable[[], dict[str, str] | None] = lambda: None) -> None:
        self.city, self.spec = city, spec
        self.interval_ms, self.positions_ms = interval_ms, positions_ms
        self.notices = notices
        self._texts = {lang: wall_texts(city, lang) for lang in ("zh", "en")}

    def build(self, lang: str = "zh", *, kiosk: bool = False, playlist: bool = False,
              dwell_s: int = 20) -> html.Div:
        name = (self.city.name_en or self.city.name) if lang == "en" else self.city.name
        notice = (self.notices() or {}).get(lang)
        return build(name, self.spec, self._texts[lang], self.interval_ms, self.positions_ms,
                     kiosk=kiosk, playlist=playlist, dwell_s=dwell_s, notice=notice)

    def page(self, _match, query: dict) -> html.Div:
        from .texts import lang_of
        try:
            dwell = max(3, min(600, int((query.get("dwell") or ["20"])[0])))
        except ValueError:
            dwell = 20
        return self.build(lang_of(query), kiosk=_flag(query, "kiosk"),
                          playlist=_flag(query, "playlist"), dwell_s=dwell)

    def register(self, pages) -> None:
        """Serve the wall's variants through the page router (pages.py)."""
        pages.add_route(self.PATH, self.page)

"""A worker's day replay (``/worker/<worker>``, ``/terminal/<terminal>``): route, stays, summary.

The server reads one terminal-day (:meth:`VisitView.track`) and builds the page once:
the side panel (summary and visits, plain text) and the map document with everything
inline except the district fills, which come by URL from the same static route as the
wall's (cached, offline); the grid outlines around the worker's grid are inline (a few
dozen, so that each frame stays cheap even without a GPU). The route becomes deck.gl ``TripsLayer`` trips with timestamps
in **seconds since the local day start**; a slider over the day sets ``currentTime``
(a ~10-minute trail) and a play/pause button steps it with a ``dcc.Interval``, all in
the browser (assets/replay.js): moving through the day costs no request.
"""

from __future__ import annotations

import dash_deck
import pydeck as pdk
from dash import dcc, html

from gridpulse.city import CityModel
from gridpulse.clock import day_start_ms, fmt_local

from . import deck
from .texts import ui, with_lang
from .visits import day_date, hmm, km

TRAIL_S = 600  # the TripsLayer trail: ten minutes behind the current time
MAP_PANEL_PX = (1380, 820)  # the replay map's size in the 1920x1080 layout (assets/replay.css)
PLAY_TICK_MS = 200
SPEEDS = (60, 300, 900)  # simulated seconds per real second
DEFAULT_SPEED = 300
VISIT_RGB = [45, 217, 160]
STAY_RGB = [255, 176, 32]


def trips(route: list[list], start_ms: int, gap_ms: int) -> list[dict]:
    """Route ``[[t_ms, lon, lat], ...]`` as trips ``{"p": [[lon, lat]...], "t": [s...]}``,
    cut where no point came for ``gap_ms`` (a track gap: no line across it)."""
    out: list[dict] = []
    prev = None
    for t, lon, lat in route:
        if prev is None or t - prev > gap_ms:
            out.append({"p": [], "t": []})
        out[-1]["p"].append([round(lon, 6), round(lat, 6)])
        out[-1]["t"].append((t - start_ms) // 1000)
        prev = t
    return out


def _grid_rings(city: CityModel, grid: str) -> list[list[list[float]]]:
    """The outer ring of each part of the grid's polygon, closed, as paths."""
    try:
        polys = city.polygons(grid)
    except KeyError:
        return []
    rings = []
    for poly in polys:
        ring = [[round(x, 6), round(y, 6)] for x, y in poly[0]]
        if ring and ring[0] != ring[-1]:
            ring.append(ring[0])
        rings.append(ring)
    return rings


def _bbox(points: list[list[float]]) -> tuple[float, float, float, float]:
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def _near_grids(city: CityModel, box: tuple[float, float, float, float]) -> list[list[list[float]]]:
    """Outer rings of the grids whose bounding box meets ``box``: the base map around the
    worker's grid (a few dozen outlines, not the city's 12,216, which a software-rendered
    replay would redraw at every frame)."""
    x0, y0, x1, y1 = box
    out = []
    for g in city.grids:
        a0, b0, a1, b1 = city.bbox(g.code)
        if a0 <= x1 and x0 <= a1 and b0 <= y1 and y0 <= b1:
            out.extend(_grid_rings(city, g.code))
    return out


def map_doc(city: CityModel, version: str, track: dict, tz: str, gap_ms: int,
            T: dict) -> tuple[dict, dict]:
    """``(deck document, replay data)``: the map with ``currentTime`` at the first fix,
    and what assets/replay.js needs to move it (trips, stays, day span; the play/pause
    labels from the page's table ``T``)."""
    s = track["summary"]
    start = day_start_ms(s["day"], tz)
    tr = trips(track["route"], start, gap_ms)
    stays = [{"p": [round(st["lon"], 6), round(st["lat"], 6)], "s": (st["start"] - start) // 1000,
              "e": (st["end"] - start) // 1000, "v": 1 if st["household"] else 0}
             for st in track["stays"]]
    rings = _grid_rings(city, s["grid"])
    pts = [p for t in tr for p in t["p"]] + [p for r in rings for p in r]
    if pts:
        lon0, lat0, lon1, lat1 = _bbox(pts)
        pad_x, pad_y = (lon1 - lon0) * 0.06 + 0.0005, (lat1 - lat0) * 0.06 + 0.0005
        view = deck.fit_view((lon0 - pad_x, lat0 - pad_y, lon1 + pad_x, lat1 + pad_y), MAP_PANEL_PX)
        w, h = lon1 - lon0 + 2 * pad_x, lat1 - lat0 + 2 * pad_y
        # The panel is wider than the fitted box, and one may pan: a generous margin.
        near = _near_grids(city, (lon0 - 1.5 * w, lat0 - h, lon1 + 1.5 * w, lat1 + h))
    else:
        view = deck.initial_view(city, MAP_PANEL_PX)
        near = []
    t0 = (s["first"] - start) // 1000
    t1 = max(t0, (s["last"] - start) // 1000)
    districts = deck.static_layers(version)[:1]  # the district fills, by URL (cached)
    base = deck.to_doc(pdk.Deck(layers=districts, initial_view_state=view,
                                views=[pdk.View("MapView", controller=True)],
                                map_provider=None, map_style=None))
    layers = base["layers"] + [
        {"@@type": "PathLayer", "id": "grids", "data": near, "getPath": "@@=-",
         "getColor": [90, 160, 230, 110], "widthMinPixels": 1, "widthUnits": "pixels", "getWidth": 1},
        {"@@type": "PathLayer", "id": "grid", "data": rings, "getPath": "@@=-",
         "getColor": [255, 196, 64, 230], "widthMinPixels": 3, "widthUnits": "pixels", "getWidth": 3},
        {"@@type": "PathLayer", "id": "route", "data": tr, "getPath": "@@=p",
         "getColor": [64, 200, 255, 70], "widthMinPixels": 2, "widthUnits": "pixels", "getWidth": 2},
        {"@@type": "TripsLayer", "id": "trips", "data": tr, "getPath": "@@=p", "getTimestamps": "@@=t",
         "getColor": [0, 240, 190], "widthMinPixels": 5, "widthUnits": "pixels", "getWidth": 5,
         "rounded": True, "trailLength": TRAIL_S, "currentTime": t0},
        {"@@type": "ScatterplotLayer", "id": "stays", "data": [], "getPosition": "@@=p",
         "getFillColor": "@@=c", "getRadius": "@@=r", "radiusUnits": "pixels", "stroked": True,
         "getLineColor": [255, 255, 255, 160], "lineWidthMinPixels": 1},
        {"@@type": "ScatterplotLayer", "id": "now", "data": [], "getPosition": "@@=p",
         "getFillColor": [255, 255, 255, 255], "getLineColor": [0, 240, 190, 255], "getRadius": 8,
         "radiusUnits": "pixels", "stroked": True, "lineWidthMinPixels": 3},
    ]
    doc = {**base, "layers": layers}
    data = {"trips": tr, "stays": stays, "t0": t0, "t1": t1, "trail": TRAIL_S,
            "colors": {"visit": VISIT_RGB, "stay": STAY_RGB}, "tick_ms": PLAY_TICK_MS,
            "texts": {"play": T["replay_play"], "pause": T["replay_pause"]}}
    return doc, data


def _hms(ts: int, tz: str) -> str:
    return fmt_local(ts, tz, "%H:%M:%S")


def _row(label: str, value, el_id: str, unit: str = "") -> html.Div:
    children = [html.Span(value, id=el_id, className="kv-num")]
    if unit:
        children.append(html.Span(unit, className="kv-unit"))
    return html.Div(className="kv", children=[html.Span(label, className="kv-label"),
                                              html.Span(children, className="kv-value")])


def _hour_marks(t0: int, t1: int) -> dict:
    first = -(-t0 // 3600) * 3600
    return {h: {"label": f"{h // 3600:02d}:00"} for h in range(first, t1 + 1, 3600)}


def page(city: CityModel, version: str, track: dict, tz: str, gap_ms: int, city_name: str,
         lang: str = "zh") -> html.Div:
    """The replay page of one terminal-day (``track`` as :meth:`VisitView.track` returns it),
    labelled in ``lang``."""
    T = ui(lang)
    s = track["summary"]
    doc, data = map_doc(city, version, track, tz, gap_ms, T)
    date = day_date(s["day"])
    try:
        grid_name = city.area(s["grid"]).name
    except KeyError:
        grid_name = s["grid"]
    visits = [st for st in track["stays"] if st["household"]]
    unmatched = len(track["stays"]) - len(visits)
    summary = html.Div(className="kv-list", children=[
        _row(T["r_worker"], s["worker"], "replay-worker"),
        _row(T["r_terminal"], s["terminal"], "replay-terminal"),
        _row(T["r_grid"], grid_name, "replay-grid-name"),
        _row(T["r_grid_code"], s["grid"], "replay-grid"),
        _row(T["r_date"], date, "replay-date"),
        _row(T["r_dist"], km(s["dist_m"]), "replay-dist", "km"),
        _row(T["r_duty"], hmm(s["duty_ms"]), "replay-duty"),
        _row(T["r_visits"], str(s["visits"]), "replay-visits", T["unit_visit"]),
        _row(T["r_stays"], str(unmatched), "replay-unmatched", T["unit_visit"]),
        _row(T["r_first"], _hms(s["first"], tz), "replay-first"),
        _row(T["r_last"], _hms(s["last"], tz), "replay-last"),
    ])
    rows = [html.Div(className="visit-row", children=[
        html.Span(str(i), className="v-idx"),
        html.Span(st["household"], className="v-hh"),
        html.Span(f"{fmt_local(st['start'], tz, '%H:%M')}–{fmt_local(st['end'], tz, '%H:%M')}",
                  className="v-time"),
        html.Span(f"{max(0, st['end'] - st['start']) // 60_000}′", className="v-dur"),
    ]) for i, st in enumerate(visits, 1)]
    header = html.Header(className="topbar", children=[
        html.Div(className="brand", children=[
            html.Span(className="brand-mark"),
            html.Span(city_name, className="brand-city"),
            html.Span(T["replay_title"], className="brand-title"),
        ]),
        html.Div(className="replay-who", children=[
            html.Span(s["worker"], className="who-worker"),
            html.Span(f"{grid_name} · {date}", className="who-where"),
        ]),
        html.Nav(className="replay-nav", children=[
            html.A(T["nav_grid_workers"], href=with_lang(f"/grid/{s['grid']}/workers?day={date}", lang),
                   id="replay-grid-link", className="nav-link"),
            html.A(T["nav_wall"], href=with_lang("/wall", lang), className="nav-link"),
        ]),
    ])
    side = html.Aside(className="replay-side", children=[
        html.Div(className="panel", children=[
            html.Div(className="panel-title", children=[html.Span(className="panel-mark"),
                                                        T["replay_summary"]]),
            summary]),
        html.Div(className="panel panel-visits", children=[
            html.Div(className="panel-title", children=[
                html.Span(className="panel-mark"), T["replay_visits"],
                html.Span(str(len(visits)), id="replay-visit-count", className="panel-count")]),
            html.Div(rows or [html.Div(T["no_visits"], className="empty")],
                     id="replay-visit-list", className="visit-list")]),
    ])
    legend = html.Div(className="map-legend", children=[
        html.Div(className="lg-row", children=[html.Span(className="lg-line trip"), T["lg_trip"]]),
        html.Div(className="lg-row", children=[html.Span(className="lg-dot visit"), T["lg_visit"]]),
        html.Div(className="lg-row", children=[html.Span(className="lg-dot stay"), T["lg_stay"]]),
        html.Div(className="lg-row", children=[html.Span(className="lg-line grid"), T["lg_grid"]]),
    ])
    controls = html.Div(className="replay-controls", children=[
        html.Button(T["replay_play"], id="replay-play", className="play-btn", n_clicks=0),
        html.Span("--:--:--", id="replay-time", className="replay-time"),
        html.Div(className="replay-slider", children=[
            dcc.Slider(id="replay-slider", min=data["t0"], max=data["t1"], step=1, value=data["t0"],
                       marks=_hour_marks(data["t0"], data["t1"]), updatemode="drag",
                       allow_direct_input=False, included=True)]),
        dcc.RadioItems(id="replay-speed", value=DEFAULT_SPEED, className="speed-radio",
                       inputClassName="mode-input", labelClassName="mode-label",
                       options=[{"label": f"{v}×", "value": v} for v in SPEEDS]),
    ])
    main = html.Section(className="replay-main", children=[
        html.Div(className="replay-map", children=[
            # The document arrives with the first frame (replay.js), not twice in the page.
            dash_deck.DeckGL(id="replay-map", data={"initialViewState": doc["initialViewState"]},
                             style={"background": "#050b16"}),
            legend,
            html.Div(T["map_note"], className="map-note"),
        ]),
        controls,
    ])
    return html.Div(id="replay", className="replay", children=[
        header,
        html.Main(className="replay-body", children=[side, main]),
        dcc.Store(id="replay-data", data={**data, "doc": doc}),
        dcc.Interval(id="replay-tick", interval=PLAY_TICK_MS, disabled=True),
    ])

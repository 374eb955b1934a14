"""The map as pydeck specs: static layers by URL, live layers as empty slots.

The specs are built once per app and sent once, inside the layout: one for the static
canvas under the map, one for the live canvas over it (``base_spec``). The browser's
clientside callback (assets/wall.js) fills the live slots (case points, worker dots,
district labels) and hands both to their ``dash_deck.DeckGL``. Static layers carry a
URL as ``data``: the string never changes between ticks, so deck.gl fetches each file
once and never re-tessellates the 12,216 grid outlines.
"""

from __future__ import annotations

import json
import math

import pydeck as pdk

from gridpulse.city import CityModel

STATIC_ROUTE = "/gp/static"
# Layer ids the browser fills with live data, on the live canvas ("grid-fill", on the
# static canvas, only once a browser asks for grid colours: its geometry, gridfill.json,
# is fetched on demand, not with the wall).
LIVE_SLOTS = ("workers", "cases", "cases-new", "labels")
GRID_FILL = "grid-fill"

# Props pydeck would turn into "@@=" accessors although they are plain values, per layer type.
_LITERALS = {
    "ScatterplotLayer": {"radiusUnits": "pixels"},
    "TextLayer": {"fontFamily": '"Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei", sans-serif'},
}
# The map panel of the 1920x1080 layout (layout.py), for fitting the city into it.
MAP_PANEL_PX = (1010, 960)


def fit_view(bbox: tuple[float, float, float, float], panel: tuple[int, int],
             max_zoom: float = 18.0) -> pdk.ViewState:
    """The view that fits ``bbox`` (lon0, lat0, lon1, lat1) into ``panel`` pixels."""
    lon0, lat0, lon1, lat1 = bbox
    lat_c = (lat0 + lat1) / 2
    # deck.gl's Web Mercator: 512 * 2**zoom pixels per 360 degrees (512-px tiles).
    mercator = [math.log(math.tan(math.pi / 4 + math.radians(v) / 2)) for v in (lat0, lat1)]
    zoom_x = math.log2(panel[0] * 360 / (512 * max(lon1 - lon0, 1e-6)))
    zoom_y = math.log2(panel[1] * 2 * math.pi / (512 * max(mercator[1] - mercator[0], 1e-8)))
    zoom = min(max_zoom, math.floor(min(zoom_x, zoom_y) * 20) / 20)  # rounded down: a margin
    mid_lat = math.degrees(2 * math.atan(math.exp(sum(mercator) / 2)) - math.pi / 2)
    return pdk.ViewState(longitude=round((lon0 + lon1) / 2, 6), latitude=round(mid_lat or lat_c, 6),
                         zoom=round(zoom, 2), pitch=0, bearing=0)


def initial_view(city: CityModel, panel: tuple[int, int] = MAP_PANEL_PX) -> pdk.ViewState:
    """The whole city fitted into the map panel (Ningbo: ~121.58E 29.63N, zoom ~8.5)."""
    v = fit_view(city.bbox(city.code), panel)
    return pdk.ViewState(longitude=round(v.longitude, 4), latitude=round(v.latitude, 4),
                         zoom=v.zoom, pitch=0, bearing=0)


def static_layers(version: str) -> list[pdk.Layer]:
    """The city's own outlines by URL (districts, grids, towns): the offline base map."""
    url = f"{STATIC_ROUTE}/{version}"
    return [
        pdk.Layer("PolygonLayer", id="districts", data=f"{url}/districts.json",
                  get_polygon="p", get_fill_color="f", filled=True, stroked=True,
                  get_line_color=[96, 178, 255, 230], line_width_min_pixels=1.6, pickable=False),
        pdk.Layer("PathLayer", id="grids", data=f"{url}/grids.json", get_path="-",
                  get_color=[90, 160, 230, 48], width_min_pixels=1, width_max_pixels=1),
        pdk.Layer("PathLayer", id="towns", data=f"{url}/towns.json", get_path="-",
                  get_color=[130, 190, 250, 130], width_min_pixels=0.9, width_max_pixels=1.5),
    ]


def to_doc(deck: pdk.Deck, label_chars: str = "") -> dict:
    """A pydeck Deck as the deck/json document dash-deck takes (no base map, literals fixed)."""
    doc = json.loads(deck.to_json())
    for layer in doc["layers"]:
        layer.update(_LITERALS.get(layer["@@type"], {}))
        if layer["@@type"] == "TextLayer":
            layer["characterSet"] = label_chars
    doc.pop("mapStyle", None)
    doc.pop("mapProvider", None)
    return doc


def grid_fill_layer(version: str) -> dict:
    """The coverage colours of every grid, as a layer document the browser completes.

    Rows of ``gridfill.json`` are ``{"i": index in grids.json, "p": ring}``; the browser
    sets ``getFillColor`` to a JSON expression over ``i`` (assets/wall.js: the only way
    to colour 12,216 URL-loaded polygons from a compact array without functions, which
    the deck/json document cannot carry) and bumps ``updateTriggers`` when it changes.
    """
    return {"@@type": "SolidPolygonLayer", "id": GRID_FILL, "data": f"{STATIC_ROUTE}/{version}/gridfill.json",
            "getPolygon": "@@=p", "getFillColor": [0, 0, 0, 0], "filled": True, "extruded": False,
            "pickable": False, "visible": True}


HEAT = "heat"
SPOTLIGHT = "spotlight"
# Today's new cases per hexagon: pale yellow (few) to deep red (many), drawn under the
# points. Warm on the dark blue map: a blue ramp vanished into it (seen in a screenshot).
HEAT_COLORS = [[255, 255, 178], [254, 217, 118], [254, 178, 76], [253, 141, 60], [240, 59, 32],
               [189, 0, 38]]
HEAT_RADIUS_M = 2000  # ~8 px at the city's zoom: a district shows a dozen or more cells


def heat_layer() -> dict:
    """Today's new cases aggregated into hexagons (deck.gl HexagonLayer, in dash-deck's
    bundle, so nothing comes from the internet). Rows are ``{"p": [lon, lat], "w": n}``:
    one per grid with new cases today, weighted by its count (live.HeatFeed)."""
    return {"@@type": "HexagonLayer", "id": HEAT, "data": [], "getPosition": "@@=p",
            "getColorWeight": "@@=w", "colorAggregation": "SUM", "getElevationWeight": "@@=w",
            "elevationAggregation": "SUM", "extruded": False, "radius": HEAT_RADIUS_M, "coverage": 0.9,
            "opacity": 0.55, "colorRange": HEAT_COLORS, "pickable": False, "visible": True}


def spotlight_layer(version: str) -> dict:
    """The playlist's highlighted district outline: the districts geometry (rows carry
    their code ``c``) with a line colour expression the browser sets per district."""
    return {"@@type": "PolygonLayer", "id": SPOTLIGHT, "data": f"{STATIC_ROUTE}/{version}/districts.json",
            "getPolygon": "@@=p", "filled": False, "stroked": True, "getLineColor": [0, 0, 0, 0],
            "lineWidthUnits": "pixels", "getLineWidth": 4, "pickable": False, "visible": True}


def district_views(city: CityModel, panel: tuple[int, int] = MAP_PANEL_PX) -> dict[str, dict]:
    """Per district, the view that fits it into the map panel (the playlist's zoom)."""
    out = {}
    for d in city.districts:
        v = fit_view(city.bbox(d.code), panel, max_zoom=13.0)
        out[d.code] = {"longitude": v.longitude, "latitude": v.latitude, "zoom": v.zoom,
                       "pitch": 0, "bearing": 0}
    return out


def base_spec(city: CityModel, version: str, label_chars: str) -> dict[str, dict]:
    """The map as two deck/json documents drawn on two stacked canvases.

    ``under``: the static outlines (districts, grids, towns), redrawn only when the grid
    colours, the spotlit district or the view change. ``over``: the live slots
    (``data: []``: worker dots, cases, pulsing rings, district labels), redrawn every
    tick. deck.gl redraws every layer of a canvas when any one changes, and the 12,216
    grid outlines cost far more to draw than the live layers (software WebGL: ~0.1
    redraws/s with them on the live canvas, ~1/s without; docs/performance.md), so the
    once-a-second updates must not redraw them. Neither view pans or zooms (the two
    canvases must show the same view; the playlist moves both): the wall is a display,
    the drill-down pages are the interactive maps.
    """
    view = initial_view(city)
    under = to_doc(pdk.Deck(layers=static_layers(version), initial_view_state=view,
                            views=[pdk.View("MapView", controller=False)], map_provider=None,
                            map_style=None))
    live = [
        # Pickable so that a dot names its terminal (tooltip) and a click opens its day.
        pdk.Layer("ScatterplotLayer", id="workers", data=[], get_position="p",
                  get_fill_color=[0, 240, 190, 190], get_radius=1.8, pickable=True),
        pdk.Layer("ScatterplotLayer", id="cases-new", data=[], get_position="p",
                  get_line_color="c", get_radius="r", filled=False, stroked=True,
                  line_width_min_pixels=1.5),
        # A dark rim keeps a case legible on any fill under it (pale hexagons, grid colours).
        pdk.Layer("ScatterplotLayer", id="cases", data=[], get_position="p",
                  get_fill_color="c", get_radius="r", stroked=True,
                  get_line_color=[5, 11, 22, 220], line_width_min_pixels=1),
        pdk.Layer("TextLayer", id="labels", data=[], get_position="x", get_text="t",
                  get_size=18, font_weight=700, get_color=[225, 238, 255, 235], character_set=label_chars,
                  get_text_anchor="'middle'", get_alignment_baseline="'center'",
                  line_height=1.25),
    ]
    over = to_doc(pdk.Deck(layers=live, initial_view_state=view,
                           views=[pdk.View("MapView", controller=False)], map_provider=None,
                           map_style=None), label_chars)
    over["pickingRadius"] = 6  # worker dots are ~2 px: a click near one still opens its day
    return {"under": under, "over": over}

"""The map as a pydeck spec: static layers by URL, live layers as empty slots.

The spec is built once per app and sent once, inside the layout. The browser's
clientside callback (assets/wall.js) fills the live slots (case points, worker dots,
district labels) and hands the result to ``dash_deck.DeckGL``. Static layers carry a
URL as ``data``: the string never changes between ticks, so deck.gl fetches each file
once and never re-tessellates the 12,216 grid outlines.
"""

from __future__ import annotations

import json
import math

import pydeck as pdk

from gridpulse.city import CityModel

STATIC_ROUTE = "/gp/static"
# Layer ids the browser fills with live data.
LIVE_SLOTS = ("workers", "cases", "cases-new", "labels")

# Props pydeck would turn into "@@=" accessors although they are plain values, per layer type.
_LITERALS = {
    "ScatterplotLayer": {"radiusUnits": "pixels"},
    "TextLayer": {"fontFamily": '"Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei", sans-serif'},
}
# The map panel of the 1920x1080 layout (layout.py), for fitting the city into it.
MAP_PANEL_PX = (1010, 960)


def initial_view(city: CityModel, panel: tuple[int, int] = MAP_PANEL_PX) -> pdk.ViewState:
    """The whole city fitted into the map panel (Ningbo: ~121.58E 29.63N, zoom ~8.5)."""
    lon0, lat0, lon1, lat1 = city.bbox(city.code)
    lat_c = (lat0 + lat1) / 2
    # deck.gl's Web Mercator: 512 * 2**zoom pixels per 360 degrees (512-px tiles).
    mercator = [math.log(math.tan(math.pi / 4 + math.radians(v) / 2)) for v in (lat0, lat1)]
    zoom_x = math.log2(panel[0] * 360 / (512 * (lon1 - lon0)))
    zoom_y = math.log2(panel[1] * 2 * math.pi / (512 * (mercator[1] - mercator[0])))
    zoom = math.floor(min(zoom_x, zoom_y) * 20) / 20  # rounded down: a small margin
    mid_lat = math.degrees(2 * math.atan(math.exp(sum(mercator) / 2)) - math.pi / 2)
    return pdk.ViewState(longitude=round((lon0 + lon1) / 2, 4), latitude=round(mid_lat or lat_c, 4),
                         zoom=round(zoom, 2), pitch=0, bearing=0)


def base_spec(city: CityModel, version: str, label_chars: str) -> dict:
    """The deck/json document of the map, with ``data: []`` in the live slots."""
    url = f"{STATIC_ROUTE}/{version}"
    layers = [
        pdk.Layer("PolygonLayer", id="districts", data=f"{url}/districts.json",
                  get_polygon="p", get_fill_color="f", filled=True, stroked=True,
                  get_line_color=[96, 178, 255, 230], line_width_min_pixels=1.6, pickable=False),
        pdk.Layer("PathLayer", id="grids", data=f"{url}/grids.json", get_path="-",
                  get_color=[90, 160, 230, 48], width_min_pixels=1, width_max_pixels=1),
        pdk.Layer("PathLayer", id="towns", data=f"{url}/towns.json", get_path="-",
                  get_color=[130, 190, 250, 130], width_min_pixels=0.9, width_max_pixels=1.5),
        pdk.Layer("ScatterplotLayer", id="workers", data=[], get_position="-",
                  get_fill_color=[0, 240, 190, 190], get_radius=1.8),
        pdk.Layer("ScatterplotLayer", id="cases-new", data=[], get_position="p",
                  get_line_color="c", get_radius="r", filled=False, stroked=True,
                  line_width_min_pixels=1.5),
        pdk.Layer("ScatterplotLayer", id="cases", data=[], get_position="p",
                  get_fill_color="c", get_radius="r"),
        pdk.Layer("TextLayer", id="labels", data=[], get_position="x", get_text="t",
                  get_size=18, font_weight=700, get_color=[225, 238, 255, 235], character_set=label_chars,
                  get_text_anchor="'middle'", get_alignment_baseline="'center'",
                  line_height=1.25),
    ]
    deck = pdk.Deck(layers=layers, initial_view_state=initial_view(city),
                    views=[pdk.View("MapView", controller=True)], map_provider=None, map_style=None)
    doc = json.loads(deck.to_json())
    for layer in doc["layers"]:
        layer.update(_LITERALS.get(layer["@@type"], {}))
        if layer["@@type"] == "TextLayer":
            layer["characterSet"] = label_chars
    doc.pop("mapStyle", None)
    doc.pop("mapProvider", None)
    return doc

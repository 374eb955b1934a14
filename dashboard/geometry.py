"""The static city geometry, made compact once and served to the browser once.

The wall must stay light: 12,216 grid polygons are ~10 MB as naive pydeck JSON. Here each
layer becomes a small JSON document (rounded coordinates, rings without their closing
vertex where a polygon layer closes it, short keys), gzipped in memory and served from a cacheable route; the deck
layers reference it by URL, so deck.gl fetches it once and a 1-second tick never
carries a single vertex of it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache

from gridpulse.city import CityModel, load_city

# ~1 m for the few district outlines, ~10 m for grids and towns: finer than a pixel at
# the zoom a wall shows the whole city, and each dropped digit saves ~15% of the bytes.
DISTRICT_DIGITS = 5
GRID_DIGITS = 4
# Drop vertices closer than this to the simplified line (degrees, ~5 m).
GRID_SIMPLIFY = 0.00005

# Muted fills, one per district in file order: districts stay legible under the grid
# lines and the bright case points without a basemap.
_FILLS = [
    (23, 52, 92), (20, 62, 88), (28, 48, 96), (18, 58, 80), (30, 56, 100),
    (22, 46, 84), (26, 64, 96), (19, 50, 76), (31, 52, 88), (24, 60, 90),
]
LAYERS = ("districts", "towns", "grids", "labels", "gridfill")


@dataclass(frozen=True)
class StaticDoc:
    """One served document: gzipped JSON bytes, raw size and a content hash for ETag."""

    gz: bytes
    raw_size: int
    etag: str


def _ring(ring, digits: int, closed: bool = False) -> list[list[float]]:
    """A rounded ring; ``closed`` keeps the closing vertex (outlines drawn as open paths:
    deck.gl 8.2's ``_pathType: "loop"`` drew nothing in dash-deck's bundle)."""
    pts = [[round(x, digits), round(y, digits)] for x, y in (ring if closed else ring[:-1])]
    # Rounding can merge neighbours; repeated vertices only cost bytes.
    return [p for i, p in enumerate(pts) if i == 0 or p != pts[i - 1]]


def _simplified(rings: list, tol: float) -> list:
    from shapely.geometry import Polygon

    if tol <= 0:
        return rings
    poly = Polygon(rings[0], rings[1:]).simplify(tol, preserve_topology=True)
    if poly.is_empty or poly.geom_type != "Polygon":
        return rings
    return [list(poly.exterior.coords)] + [list(h.coords) for h in poly.interiors]


def build_layer(city: CityModel, layer: str) -> list:
    """The compact rows of one static layer (see ``LAYERS``)."""
    if layer == "districts":
        fills = {d.code: _FILLS[i % len(_FILLS)] for i, d in enumerate(city.districts)}
        return [{"c": code, "p": [_ring(r, DISTRICT_DIGITS) for r in rings], "f": [*fills[code], 200]}
                for code, rings in city.rings("district")]
    if layer == "labels":
        return [{"c": d.code, "n": d.name, "x": [round(d.centroid[0], 4), round(d.centroid[1], 4)]}
                for d in city.districts]
    if layer in ("towns", "grids"):
        # Outlines only (a PathLayer with closed loops): the outer ring is the boundary
        # an operator reads; holes inside grids are rare and would double the count.
        tol = GRID_SIMPLIFY if layer == "grids" else 0.0
        level = "town" if layer == "towns" else "grid"
        return [_ring(_simplified(rings, tol)[0], GRID_DIGITS, closed=True) for _, rings in city.rings(level)]
    if layer == "gridfill":
        return grid_fill_rows(build_layer(city, "grids"))
    raise KeyError(layer)


def grid_fill_rows(grid_rings: list) -> list[dict]:
    """The grid outlines as fillable polygons that know their index in ``grids.json``
    (the order of ``city.rings("grid")``, which the coverage array of the wall uses)."""
    return [{"i": i, "p": ring} for i, ring in enumerate(grid_rings)]


def encode(rows) -> StaticDoc:
    """Gzip the compact JSON of ``rows``."""
    raw = json.dumps(rows, ensure_ascii=False, separators=(",", ":")).encode()
    return StaticDoc(gzip.compress(raw, 6), len(raw), hashlib.sha1(raw).hexdigest()[:16])


@lru_cache(maxsize=4)
def static_docs(city_name: str) -> dict[str, StaticDoc]:
    """Every static layer of a city, built once per process."""
    city = load_city(city_name)
    rows = {layer: build_layer(city, layer) for layer in LAYERS if layer != "gridfill"}
    rows["gridfill"] = grid_fill_rows(rows["grids"])  # simplified once, not twice
    return {layer: encode(rows[layer]) for layer in LAYERS}

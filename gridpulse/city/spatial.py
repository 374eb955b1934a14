"""Shapely side of the city model, built on first use so loading a city stays fast."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

Polygons = list  # MultiPolygon coordinates: [[outer ring, hole, ...], ...], rings of [lon, lat]


def to_shape(polygons: Polygons) -> Polygon | MultiPolygon:
    """A shapely geometry from MultiPolygon coordinates (a plain Polygon when there is one part)."""
    parts = [Polygon(rings[0], rings[1:]) for rings in polygons]
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def bounds(polygons: Polygons) -> tuple[float, float, float, float]:
    """(min_lon, min_lat, max_lon, max_lat) of the outer rings."""
    xy = np.array([pt for rings in polygons for pt in rings[0]], dtype=float)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    return float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1])


class GridIndex:
    """Point-in-grid lookups over all grid polygons (an STRtree of prepared geometries)."""

    def __init__(self, codes: Sequence[str], polygons: Sequence[Polygons]):
        self.codes = list(codes)
        self.shapes = np.array([to_shape(p) for p in polygons], dtype=object)
        shapely.prepare(self.shapes)
        self.tree = shapely.STRtree(self.shapes)

    def locate(self, lon: float, lat: float) -> str | None:
        """The grid containing the point (lowest index on a shared border), or None outside."""
        hits = self.tree.query(shapely.Point(lon, lat), predicate="intersects")
        return self.codes[int(hits.min())] if len(hits) else None

    def locate_many(self, lons: Sequence[float], lats: Sequence[float]) -> list[str | None]:
        """Vectorised :meth:`locate`: one grid code (or None) per point."""
        points = shapely.points(np.asarray(lons, dtype=float), np.asarray(lats, dtype=float))
        none = len(self.codes)
        found = np.full(len(points), none, dtype=np.int64)
        idx, grid = self.tree.query(points, predicate="intersects")
        np.minimum.at(found, idx, grid)  # on a shared border the lowest index wins, as in locate()
        return [self.codes[i] if i < none else None for i in found.tolist()]


def random_point(shape: Polygon | MultiPolygon, rng: random.Random, tries: int = 10_000) -> tuple[float, float]:
    """A point uniformly distributed inside ``shape``: rejection sampling in its bbox."""
    x0, y0, x1, y1 = shape.bounds
    for _ in range(tries):
        x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if shapely.contains_xy(shape, x, y):
            return x, y
    raise RuntimeError("no point found inside the polygon")

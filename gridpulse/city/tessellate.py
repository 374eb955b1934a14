"""Cut a polygon into ``n`` cells that tile it exactly (pure, deterministic for a seed).

Seeds are scattered inside the polygon (denser around an optional urban core), relaxed
by a couple of Lloyd iterations, and turned into a Voronoi diagram clipped to the
polygon. Work in a metric projection (:class:`LocalProjection`) so cells come out round.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from gridpulse.city.partition import largest_remainder

# Pieces smaller than this (km²) are floating-point dust from clipping.
_DUST_KM2 = 1e-9


@dataclass(frozen=True)
class LocalProjection:
    """Equirectangular projection to kilometres around (lon0, lat0); affine, so exact both ways."""

    lon0: float
    lat0: float

    @property
    def _scale(self) -> tuple[float, float]:
        return 111.320 * math.cos(math.radians(self.lat0)), 110.574

    def forward(self, geom: BaseGeometry) -> BaseGeometry:
        """Lon/lat geometry -> km geometry."""
        sx, sy = self._scale
        return shapely.transform(geom, lambda c: (c - (self.lon0, self.lat0)) * (sx, sy))

    def inverse(self, geom: BaseGeometry) -> BaseGeometry:
        """Km geometry -> lon/lat geometry."""
        sx, sy = self._scale
        return shapely.transform(geom, lambda c: c / (sx, sy) + (self.lon0, self.lat0))

    def point(self, lon: float, lat: float) -> tuple[float, float]:
        """Project one lon/lat point to km."""
        sx, sy = self._scale
        return (lon - self.lon0) * sx, (lat - self.lat0) * sy


def polygon_parts(geom: BaseGeometry) -> list[Polygon]:
    """The non-dust polygons of any geometry (drops the lines and points clipping leaves)."""
    return [p for p in shapely.get_parts(geom) if isinstance(p, Polygon) and p.area > _DUST_KM2]


def _sample(component: Polygon, m: int, rng: np.random.Generator,
            core: tuple[float, float] | None, concentration: float, sigma: float) -> np.ndarray:
    """``m`` random points inside ``component``; a share ``concentration`` drawn around ``core``."""
    shapely.prepare(component)
    x0, y0, x1, y1 = component.bounds
    out: list[np.ndarray] = []
    n_core = int(round(m * concentration)) if core is not None else 0
    for count, around_core in ((n_core, True), (m - n_core, False)):
        got = 0
        while got < count:
            k = max(64, 2 * (count - got))
            if around_core:
                pts = rng.normal(core, sigma, size=(k, 2))
            else:
                pts = np.column_stack([rng.uniform(x0, x1, k), rng.uniform(y0, y1, k)])
            pts = pts[shapely.contains_xy(component, pts[:, 0], pts[:, 1])][: count - got]
            out.append(pts)
            got += len(pts)
    return np.concatenate(out) if out else np.empty((0, 2))


def _voronoi(points: np.ndarray, component: Polygon) -> np.ndarray:
    """Voronoi cells of ``points`` (in input order) clipped to ``component``."""
    diagram = shapely.voronoi_polygons(shapely.multipoints(points), extend_to=component, ordered=True)
    cells = shapely.get_parts(diagram)
    if len(cells) != len(points):
        raise ValueError("duplicate seed points")
    return shapely.intersection(cells, component)


def _merge_orphans(cells: list[BaseGeometry], orphans: list[Polygon]) -> list[BaseGeometry]:
    """Give each stray piece of a clipped cell to the neighbour it shares most border with."""
    tree = shapely.STRtree(cells)
    while orphans:
        left = []
        for piece in orphans:
            best, best_len = -1, 1e-6
            for i in tree.query(piece, predicate="intersects"):
                shared = shapely.intersection(piece.boundary, cells[i].boundary).length
                if shared > best_len:
                    best, best_len = int(i), shared
            if best < 0:
                left.append(piece)
            else:
                cells[best] = shapely.union(cells[best], piece)
        if len(left) == len(orphans):
            raise ValueError("a piece of the polygon touches no cell")
        orphans = left
        tree = shapely.STRtree(cells)
    return cells


def cut_polygon(polygon: Polygon | MultiPolygon, n: int, rng: np.random.Generator, *,
                core: tuple[float, float] | None = None, concentration: float = 0.5,
                lloyd: int = 2) -> list[Polygon]:
    """Cut ``polygon`` (metric coordinates) into ``n`` cells whose union is ``polygon``.

    Each part of a multipolygon (an island) gets at least one cell, the rest by area.
    ``concentration`` of the seeds of the part holding ``core`` cluster around it, with
    a spread of a sixth of the part's size: towns have dense centres and sparse hills.
    """
    parts = polygon_parts(polygon)
    if n < len(parts):
        raise ValueError(f"{n} cells cannot cover {len(parts)} separate parts")
    counts = largest_remainder(n, [p.area for p in parts], minimum=1)
    result: list[Polygon] = []
    for part, m in zip(parts, counts):
        if m == 1:
            result.append(part)
            continue
        here = core if core is not None and part.contains(shapely.Point(core)) else None
        seeds = _sample(part, m, rng, here, concentration, math.sqrt(part.area) / 6)
        for _ in range(lloyd):
            centroids = shapely.get_coordinates(shapely.centroid(_voronoi(seeds, part)))
            inside = shapely.contains_xy(part, centroids[:, 0], centroids[:, 1])
            seeds[inside] = centroids[inside]
        cells: list[BaseGeometry] = []
        orphans: list[Polygon] = []
        for seed, clipped in zip(seeds, _voronoi(seeds, part)):
            pieces = polygon_parts(clipped)
            # The piece holding the seed is the cell; bays and peninsulas can cut off others.
            main = next((p for p in pieces if p.contains(shapely.Point(seed))), max(pieces, key=lambda p: p.area))
            cells.append(main)
            orphans.extend(p for p in pieces if p is not main)
        for cell in _merge_orphans(cells, orphans):
            if not isinstance(cell, Polygon):
                raise ValueError("a merged cell is not a single polygon")
            result.append(cell)
    return result

"""The pure core of ``scripts/build_city.py``: real districts, towns and communities in,
a nested city (the JSON document :mod:`gridpulse.city.model` loads) out.

Deterministic for a seed and free of the source packages, so tests can run it on a toy
city. Grid, community and town polygons are synthetic: grids are cut from the district
polygon (:func:`gridpulse.city.tessellate.cut_polygon`), grouped into towns and the
towns' grids into communities (:mod:`gridpulse.city.partition`); town and community
polygons are unions of their grids, so every grid nests in exactly one of each.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from gridpulse.city import partition
from gridpulse.city.tessellate import LocalProjection, cut_polygon, polygon_parts

PRECISION = 1e-5  # degrees, about 1 m: the coordinate grid of the data file
URBAN_WEIGHT = 2.0  # an urban community (社区) has about twice the grids of a village (村)
HOUSEHOLDS = (180, 320)  # households per grid, inclusive; mean 250 as in Ningbo's target


@dataclass(frozen=True)
class CommunitySpec:
    """A village/community: 12-digit code (its town's code + 3 digits), name, urban or not."""

    code: str
    name: str
    urban: bool
    synthetic: bool = False


@dataclass(frozen=True)
class TownSpec:
    """A town/street: 9-digit code, name, and its communities in code order."""

    code: str
    name: str
    communities: tuple[CommunitySpec, ...]

    @property
    def rank(self) -> int:
        """0 for a street (街道, urban), 1 for a town (镇), 2 for a township (乡)."""
        return 0 if self.name.endswith("街道") else 1 if self.name.endswith("镇") else 2


@dataclass(frozen=True)
class DistrictSpec:
    """A county-level division: polygon in lon/lat and its urban core (lon, lat)."""

    code: str
    name: str
    name_en: str
    population_10k: float
    core: tuple[float, float]
    geometry: BaseGeometry
    towns: tuple[TownSpec, ...]


def _coords(geom: BaseGeometry) -> list:
    """MultiPolygon coordinates ([[ring, hole...], ...]) of a (multi)polygon, 5 decimals."""
    polys = polygon_parts(geom) if geom.geom_type != "Polygon" else [geom]
    return [[[[round(x, 5), round(y, 5)] for x, y in ring.coords]
             for ring in (p.exterior, *p.interiors)] for p in polys]


def _label_point(geom: BaseGeometry) -> list[float]:
    """The centroid if it lies inside ``geom`` (after rounding), else a point on its surface."""
    for candidate in (shapely.centroid(geom), shapely.point_on_surface(geom)):
        x, y = round(candidate.x, 5), round(candidate.y, 5)
        if geom.contains(shapely.Point(x, y)):
            return [x, y]
    return [round(candidate.x, 5), round(candidate.y, 5)]


def _adjacency(cells: list[BaseGeometry], points: np.ndarray) -> list[list[int]]:
    """Cells sharing a stretch of border are neighbours; islands are bridged to the nearest cell."""
    tree = shapely.STRtree(cells)
    a, b = tree.query(cells, predicate="intersects")
    keep = a < b
    a, b = a[keep], b[keep]
    shared = shapely.length(shapely.intersection(shapely.boundary(np.take(cells, a)),
                                                 shapely.boundary(np.take(cells, b))))
    nbrs: list[list[int]] = [[] for _ in cells]
    for i, j in zip(a[shared > 1e-6].tolist(), b[shared > 1e-6].tolist()):
        nbrs[i].append(j)
        nbrs[j].append(i)
    return partition.bridge_components(points, nbrs)


def _group(points: np.ndarray, nbrs: list[list[int]], members: list[int], weights: list[float],
           ranks: list[int], minimum: list[int], core: np.ndarray, rng: np.random.Generator) -> dict[int, int]:
    """Split ``members`` into connected groups sized by ``weights``; low ranks nearest ``core``."""
    seeds = partition.kmeans_seeds(points[members], len(weights), rng)
    seeds = sorted((members[s] for s in seeds), key=lambda c: float(((points[c] - core) ** 2).sum()))
    order = sorted(range(len(weights)), key=lambda g: (ranks[g], g))
    seed_of = {g: seeds[i] for i, g in enumerate(order)}
    ordered_seeds = [seed_of[g] for g in range(len(weights))]
    label = partition.flood(points, nbrs, members, ordered_seeds, weights)
    partition.ensure_minimum(label, nbrs, minimum)
    return label


def _district(d: DistrictSpec, n_grids: int, proj: LocalProjection, seed: int, out: dict) -> None:
    """Cut one district into grids, group them, and append its records to ``out``."""
    rng = np.random.default_rng([seed, int(d.code)])
    core = np.array(proj.point(*d.core))
    cells_km = cut_polygon(proj.forward(d.geometry), n_grids, rng, core=tuple(core))
    points = shapely.get_coordinates(shapely.centroid(cells_km))
    nbrs = _adjacency(cells_km, points)
    # Round once, per grid: shared borders come from the same vertices, so they stay shared.
    cells = [shapely.set_precision(proj.inverse(c), PRECISION) for c in cells_km]
    everything = list(range(len(cells)))

    def weight(c: CommunitySpec) -> float:
        return URBAN_WEIGHT if c.urban else 1.0

    town_of = _group(points, nbrs, everything, [sum(map(weight, t.communities)) for t in d.towns],
                     [t.rank for t in d.towns], [len(t.communities) for t in d.towns], core, rng)
    for t_index, town in enumerate(d.towns):
        members = [c for c in everything if town_of[c] == t_index]
        comm_of = _group(points, nbrs, members, [weight(c) for c in town.communities],
                         [0 if c.urban else 1 for c in town.communities], [1] * len(town.communities),
                         core, rng)
        for k_index, comm in enumerate(town.communities):
            mine = [c for c in members if comm_of[c] == k_index]
            # Number grids in reading order: north to south, then west to east.
            mine.sort(key=lambda c: (-round(points[c][1], 3), round(points[c][0], 3)))
            for i, c in enumerate(mine, start=1):
                out["grids"].append({
                    "code": f"{comm.code}{i:03d}", "name": f"{comm.name}第{i}网格",
                    "community": comm.code, "households": int(rng.integers(HOUSEHOLDS[0], HOUSEHOLDS[1] + 1)),
                    "centroid": _label_point(cells[c]), "polygons": _coords(cells[c])})
            union = shapely.union_all([cells[c] for c in mine], grid_size=PRECISION)
            out["communities"].append({
                "code": comm.code, "name": comm.name, "town": town.code, "synthetic": comm.synthetic,
                "centroid": _label_point(union), "polygons": _coords(union)})
        union = shapely.union_all([cells[c] for c in members], grid_size=PRECISION)
        out["towns"].append({"code": town.code, "name": town.name, "district": d.code,
                             "centroid": _label_point(union), "polygons": _coords(union)})
    union = shapely.union_all(cells, grid_size=PRECISION)
    out["districts"].append({"code": d.code, "name": d.name, "name_en": d.name_en,
                             "population_10k": d.population_10k, "centroid": [d.core[0], d.core[1]],
                             "polygons": _coords(union)})


def build_city(code: str, name: str, name_en: str, districts: list[DistrictSpec],
               total_grids: int, seed: int) -> dict:
    """Build the city document: ``total_grids`` grids shared out by resident population.

    Every community gets at least one grid, so each district needs at least as many
    grids as it has communities.
    """
    districts = sorted(districts, key=lambda d: d.code)
    counts = partition.largest_remainder(total_grids, [d.population_10k for d in districts])
    for d, n in zip(districts, counts):
        need = sum(len(t.communities) for t in d.towns)
        if n < need:
            raise ValueError(f"district {d.code} gets {n} grids for {need} communities")
    x0, y0, x1, y1 = shapely.union_all([d.geometry for d in districts]).bounds
    proj = LocalProjection((x0 + x1) / 2, (y0 + y1) / 2)
    out: dict = {"schema": 1, "code": code, "name": name, "name_en": name_en, "seed": seed,
                 "districts": [], "towns": [], "communities": [], "grids": []}
    for d, n in zip(districts, counts):
        _district(d, n, proj, seed, out)
    return out

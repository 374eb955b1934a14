"""The city model: city -> districts -> towns -> communities -> grids, each nested in one parent.

A city is one file, ``city.json.gz`` (gzipped UTF-8 JSON), either bundled
(``gridpulse/city/data/<name>/``) or in a directory a deployment supplies
(``load_city("/etc/gridpulse/mycity")``). Its shape (schema 1)::

    {"schema": 1, "code": "330200", "name": "宁波市", "name_en": "Ningbo", "seed": 20261127,
     "districts":   [{"code": "330203", "name": "海曙区", "name_en": "Haishu",
                      "population_10k": 107.2, "centroid": [lon, lat], "polygons": P}],
     "towns":       [{"code": "330203001", "name": "...", "district": "330203",
                      "centroid": [lon, lat], "polygons": P}],
     "communities": [{"code": "330203001001", "name": "...", "town": "330203001",
                      "synthetic": false, "centroid": [lon, lat], "polygons": P}],
     "grids":       [{"code": "330203001001007", "name": "...第7网格", "community": "330203001001",
                      "households": 250, "centroid": [lon, lat], "polygons": P}]}

``P`` is GeoJSON MultiPolygon coordinates in WGS84 lon/lat: ``[[outer ring, hole, ...], ...]``,
each ring a closed list of ``[lon, lat]``. Town, community and grid ``centroid`` is a
label point guaranteed inside the area (the centroid when that is inside). Only
``code``/``name``/parent/``polygons`` are required; ``households`` defaults to 250 and a
missing ``centroid`` is computed. Every grid must lie inside its community, every
community inside its town, and so on: the model trusts the file on that.
"""

from __future__ import annotations

import gc
import gzip
import json
import random
from dataclasses import dataclass
from functools import cached_property, lru_cache
from importlib import resources
from pathlib import Path

import shapely

from gridpulse.city import households as _households
from gridpulse.city import spatial

LEVELS = ("city", "district", "town", "community", "grid")
# The key naming each level's parent in the file.
_PARENT_KEY = {"town": "district", "community": "town", "grid": "community"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Area:
    """One administrative area at any level; ``parent`` is None only for the city."""

    code: str
    name: str
    level: str
    parent: str | None
    centroid: tuple[float, float]
    name_en: str = ""
    population_10k: float | None = None
    synthetic: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Grid(Area):
    """A management grid (网格), with its households and every ancestor's code."""

    households: int
    community: str
    town: str
    district: str


class CityModel:
    """A loaded city: lookups by code, hierarchy walks and point-in-grid queries."""

    def __init__(self, doc: dict, source: str = ""):
        if doc.get("schema") != 1:
            raise ValueError(f"{source}: unsupported city schema {doc.get('schema')!r}")
        self.source = source
        self.code: str = doc["code"]
        self.name: str = doc["name"]
        self.name_en: str = doc.get("name_en", "")
        self.seed: int = int(doc.get("seed", 0))  # seeds the synthetic households
        self._areas: dict[str, Area] = {}
        self._polygons: dict[str, list] = {}
        self._children: dict[str, list[str]] = {self.code: []}
        self._grids_of: dict[str, list[str]] = {self.code: []}
        self._bbox_cache: dict[str, tuple[float, float, float, float]] = {}
        self.districts = [self._add(r, "district", self.code) for r in doc["districts"]]
        self.towns = [self._add(r, "town", r["district"]) for r in doc["towns"]]
        self.communities = [self._add(r, "community", r["town"]) for r in doc["communities"]]
        self.grids: list[Grid] = [self._add(r, "grid", r["community"]) for r in doc["grids"]]
        weight = sum(d.population_10k or 1.0 for d in self.districts) or 1.0
        centre = tuple(sum(d.centroid[i] * (d.population_10k or 1.0) for d in self.districts) / weight
                       for i in (0, 1))
        self._areas[self.code] = Area(code=self.code, name=self.name, level="city", parent=None,
                                      centroid=centre, name_en=self.name_en)

    def _add(self, row: dict, level: str, parent: str) -> Area:
        code = row["code"]
        if code in self._areas or code == self.code:
            raise ValueError(f"{self.source}: duplicate area code {code}")
        centroid = row.get("centroid")
        if centroid is None:
            centroid = spatial.to_shape(row["polygons"]).representative_point().coords[0]
        common = dict(code=code, name=row["name"], level=level, parent=parent,
                      centroid=(float(centroid[0]), float(centroid[1])))
        if level == "grid":
            community = self._areas[parent]
            town = self._areas[community.parent]
            area: Area = Grid(**common, households=int(row.get("households", 250)),
                              community=parent, town=town.code, district=town.parent)
            for ancestor in (parent, town.code, town.parent, self.code):
                self._grids_of[ancestor].append(code)
        else:
            area = Area(**common, name_en=row.get("name_en", ""), population_10k=row.get("population_10k"),
                        synthetic=bool(row.get("synthetic", False)))
            self._grids_of[code] = []
        self._areas[code] = area
        self._polygons[code] = row["polygons"]
        self._children[parent].append(code)
        self._children.setdefault(code, [])
        return area

    def area(self, code: str) -> Area:
        """The area (any level, the city included) with this code; KeyError if unknown."""
        return self._areas[code]

    def grid(self, code: str) -> Grid:
        """The grid with this code; KeyError if unknown or not a grid."""
        area = self._areas[code]
        if not isinstance(area, Grid):
            raise KeyError(code)
        return area

    def lineage(self, code: str) -> dict[str, str]:
        """``{level: code}`` from the area itself up to the city (grid -> ... -> city)."""
        out: dict[str, str] = {}
        area: Area | None = self._areas[code]
        while area is not None:
            out[area.level] = area.code
            area = self._areas[area.parent] if area.parent else None
        return out

    def children(self, code: str) -> list[str]:
        """Codes of the areas one level below (empty for a grid)."""
        return list(self._children[code])

    def grids_of(self, code: str) -> list[str]:
        """Codes of every grid in the area (the grid itself for a grid)."""
        if isinstance(self._areas[code], Grid):
            return [code]
        return list(self._grids_of[code])

    def polygons(self, code: str) -> list:
        """The area's MultiPolygon coordinates (not for the city, which has none of its own)."""
        return self._polygons[code]

    def rings(self, level: str) -> list[tuple[str, list]]:
        """``(code, [outer ring, hole, ...])`` per polygon of every area of ``level``, for drawing.

        An area of several parts (islands) appears once per part.
        """
        areas = {"district": self.districts, "town": self.towns,
                 "community": self.communities, "grid": self.grids}[level]
        return [(a.code, rings) for a in areas for rings in self._polygons[a.code]]

    def bbox(self, code: str) -> tuple[float, float, float, float]:
        """(min_lon, min_lat, max_lon, max_lat) of the area."""
        box = self._bbox_cache.get(code)
        if box is None:
            if code == self.code:
                boxes = [self.bbox(d.code) for d in self.districts]
                box = (min(b[0] for b in boxes), min(b[1] for b in boxes),
                       max(b[2] for b in boxes), max(b[3] for b in boxes))
            else:
                box = spatial.bounds(self._polygons[code])
            self._bbox_cache[code] = box
        return box

    @cached_property
    def _index(self) -> spatial.GridIndex:
        return spatial.GridIndex([g.code for g in self.grids], [self._polygons[g.code] for g in self.grids])

    def locate(self, lon: float, lat: float) -> str | None:
        """Code of the grid containing (lon, lat), or None outside the city."""
        return self._index.locate(lon, lat)

    def locate_many(self, lons, lats) -> list[str | None]:
        """:meth:`locate` for many points at once (much faster per point)."""
        return self._index.locate_many(lons, lats)

    def random_point(self, grid_code: str, rng: random.Random) -> tuple[float, float]:
        """A point uniformly distributed inside the grid."""
        return spatial.random_point(self._index.shapes[self._grid_pos[grid_code]], rng)

    @cached_property
    def _grid_pos(self) -> dict[str, int]:
        return {g.code: i for i, g in enumerate(self.grids)}

    def _shape(self, grid_code: str):
        """The grid's prepared shapely geometry (KeyError if not a grid)."""
        return self._index.shapes[self._grid_pos[grid_code]]

    def contains(self, grid_code: str, lon: float, lat: float) -> bool:
        """Whether (lon, lat) lies in the grid, its border included (as :meth:`locate` sees it).

        KeyError if ``grid_code`` is not a grid. Cheap enough for every GPS fix (~1-2 µs):
        a bounding-box test, then an even-odd crossing test in plain Python on the grid's
        rings (a few dozen edges at most, built on first use); only a point on an edge or
        within 1e-9° of one (6-decimal fixes can lie on an edge) is left to shapely's exact
        predicate, so the answer is shapely's ``intersects`` everywhere.
        """
        got = self._edges.get(grid_code)
        if got is None:
            got = self._edges[grid_code] = self._grid_edges(grid_code)
        (x0, y0, x1, y1), parts = got
        if not (x0 <= lon <= x1 and y0 <= lat <= y1):
            return False
        for rings in parts:
            inside = False  # in the outer ring, then out again for the hole that holds it
            for ring in rings:
                crossed = False
                for ax, ay, bx, by in ring:
                    if (ay > lat) != (by > lat):
                        x = ax + (lat - ay) * (bx - ax) / (by - ay)
                        if -1e-9 < lon - x < 1e-9:  # on the edge, give or take rounding
                            return bool(shapely.intersects_xy(self._shape(grid_code), lon, lat))
                        if lon < x:
                            crossed = not crossed
                    elif ay == lat and (-1e-9 < lon - ax < 1e-9 or by == lat and min(ax, bx) <= lon <= max(ax, bx)):
                        # on a vertex or a horizontal edge, which the crossing rule does not see
                        return bool(shapely.intersects_xy(self._shape(grid_code), lon, lat))
                if not crossed and ring is rings[0]:
                    break
                inside ^= crossed
            else:
                if inside:
                    return True
        return False

    @cached_property
    def _edges(self) -> dict[str, tuple]:
        return {}

    def _grid_edges(self, grid_code: str) -> tuple:
        """(bbox, parts): per polygon part, per ring, its edges as (ax, ay, bx, by)."""
        self.grid(grid_code)  # KeyError for anything but a grid
        parts = tuple(tuple(tuple((float(a[0]), float(a[1]), float(b[0]), float(b[1]))
                                  for a, b in zip(ring, ring[1:])) for ring in rings)
                      for rings in self._polygons[grid_code])
        return self.bbox(grid_code), parts

    def household_count(self, grid_code: str) -> int:
        """How many households the grid has (``households`` in the city file, 250 by default)."""
        return self.grid(grid_code).households

    def households(self, grid_code: str) -> tuple[tuple[str, float, float], ...]:
        """The grid's synthetic households ``(id, lon, lat)`` (see :mod:`gridpulse.city.households`).

        Ids are ``f"{grid_code}-{i:03d}"``, positions strictly inside the grid, rounded to
        6 decimals; the same in every process for the same city file. Built on first use
        (well under a millisecond a grid) and kept for the 4,096 most recently used grids.
        """
        return self._households_cached(grid_code)

    def household_positions(self, grid_code: str):
        """The (lon, lat) of :meth:`households`, same order, as an n x 2 numpy float array.

        Built afresh on each call (not cached): for callers that keep positions their own
        way, such as the simulator, or want to compute on them with numpy.
        """
        grid = self.grid(grid_code)
        return _households.household_array(self._shape(grid_code), grid.households, self.seed, grid_code)

    def grid_households(self, grid_code: str) -> "_households.GridHouseholds":
        """:meth:`households` in compact form (~4 KB a grid), kept for every grid once built:
        what a stream worker uses, since it sees all the grids of its partitions."""
        got = self._compact.get(grid_code)
        if got is None:
            grid = self.grid(grid_code)
            got = self._compact[grid_code] = _households.grid_households(
                self._shape(grid_code), grid.households, self.seed, grid_code)
        return got

    @cached_property
    def _compact(self) -> dict:
        return {}

    @cached_property
    def _households_cached(self):
        # per model, so a second city (or a reloaded file) has its own cache. A grid's
        # households take ~46 KiB as tuples: all 12,216 would be ~560 MB, 2,048 are ~95 MB,
        # and rebuilding one costs ~0.25 ms (a stay needs them once in a few minutes).
        @lru_cache(maxsize=2048)
        def build(grid_code: str) -> tuple[tuple[str, float, float], ...]:
            grid = self.grid(grid_code)
            return _households.households(self._shape(grid_code), grid.households, self.seed, grid_code)
        return build


def city_path(name_or_dir: str) -> Path:
    """The ``city.json.gz`` of a bundled city name or of a directory holding one."""
    path = Path(name_or_dir)
    if path.is_dir():
        path = path / "city.json.gz"
    elif path.suffix != ".gz":
        path = Path(str(resources.files("gridpulse.city").joinpath("data", name_or_dir, "city.json.gz")))
    if not path.is_file():
        raise FileNotFoundError(f"no city model at {path} (a bundled name or a directory with city.json.gz)")
    return path.resolve()


def load_city(name_or_dir: str = "ningbo") -> CityModel:
    """Load (once per file) the city model: a bundled name such as ``"ningbo"`` or a directory."""
    return _load(str(city_path(name_or_dir)))


@lru_cache(maxsize=8)
def _load(path: str) -> CityModel:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    # Parsing creates ~1M containers and no cycles; the cyclic GC would scan them over
    # and over and double the load time.
    enabled = gc.isenabled()
    gc.disable()
    try:
        return CityModel(json.loads(raw), source=path)
    finally:
        if enabled:
            gc.enable()

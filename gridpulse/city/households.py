"""Synthetic households of a grid: deterministic positions drawn inside its polygon.

A city file gives each grid only a household count (``households``, 250 by default), not
where the households are. For visits (a stay matched to a household) and the simulator
(workers walk from household to household) each grid gets synthetic households: points
uniformly distributed inside the grid polygon, a pure function of the city seed, the grid
code, the grid's shape and its count. Every process (simulator, worker, oracle, tests)
therefore sees the same households without storing 3 million of them.

The candidate points come from a ``random.Random`` seeded with the string
``f"{city_seed}/{grid_code}"``: a str seed is hashed with SHA-512 by ``random`` itself, so
it is the same in every process and on every platform (unlike ``hash()``), and distinct
grids never share a stream. Candidate k is the point of the grid's bounding box at
fractions (w[2k] / 2**32, w[2k+1] / 2**32) of its width and height, w being the stream's
32-bit words, rounded to 6 decimals; candidates strictly inside the polygon are kept in
order until ``count`` are kept. The result depends only on that stream, not on how the
candidates are batched, so drawing and testing a batch at once (numpy, one shapely call)
is an optimisation, not part of the definition. A grid of 250 takes ~0.1 ms.
"""

from __future__ import annotations

import math
from array import array
import random

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

#: Decimal places of household positions (about 0.1 m), as in the GPS fixes.
DECIMALS = 6

Household = tuple[str, float, float]


def household_id(grid_code: str, i: int) -> str:
    """The id of the ``i``-th household (from 0) of a grid: ``"<grid code>-007"``."""
    return f"{grid_code}-{i:03d}"


def household_rng(city_seed: int, grid_code: str) -> random.Random:
    """The random stream a grid's household positions are drawn from (stable everywhere)."""
    return random.Random(f"{city_seed}/{grid_code}")


def household_array(shape: Polygon | MultiPolygon, count: int, city_seed: int, grid_code: str) -> np.ndarray:
    """The (lon, lat) of the grid's ``count`` households as a ``count`` x 2 float array.

    Points strictly inside ``shape``, rounded to 6 decimals (see the module doc). ``shape``
    may be prepared (``shapely.prepare``), which makes this faster.
    """
    if count <= 0:
        return np.empty((0, 2))
    if not shape.area > 0:
        raise ValueError(f"grid {grid_code} has an empty polygon: no room for households")
    bits = household_rng(city_seed, grid_code).getrandbits
    x0, y0, x1, y1 = shape.bounds
    bbox_area = (x1 - x0) * (y1 - y0)
    fill = shape.area / bbox_area if bbox_area > 0 else 1.0
    lo = np.array([x0, y0])
    span = np.array([x1 - x0, y1 - y0])
    got: list[np.ndarray] = []
    have = 0
    for _ in range(1000):
        need = count - have
        n = math.ceil(need / max(fill, 0.01) * 1.15) + 8  # one batch is almost always enough
        xy = np.round(lo + span * _unit_pairs(bits, n), DECIMALS)
        keep = xy[shapely.contains_xy(shape, xy[:, 0], xy[:, 1])][:need]
        got.append(keep)
        have += len(keep)
        if have == count:
            return got[0] if len(got) == 1 else np.concatenate(got)
    raise RuntimeError(f"grid {grid_code}: too few random points fell inside its polygon")


def _unit_pairs(getrandbits, n: int) -> np.ndarray:
    """``n`` x 2 floats in [0, 1): the next 2n 32-bit words of the stream, each / 2**32, in order.

    ``getrandbits(32 * m)`` returns m words of the Mersenne Twister with the first one in
    the lowest bits, on every platform, so batches of any size read the same stream.
    """
    raw = getrandbits(64 * n).to_bytes(8 * n, "little")
    return np.frombuffer(raw, dtype="<u4").reshape(n, 2) / 4294967296.0


def households(shape: Polygon | MultiPolygon, count: int, city_seed: int,
               grid_code: str) -> tuple[Household, ...]:
    """The grid's ``count`` households as ``(id, lon, lat)``, ids ``"<grid>-000"`` upwards."""
    xy = household_array(shape, count, city_seed, grid_code).tolist()
    return tuple((household_id(grid_code, i), lon, lat) for i, (lon, lat) in enumerate(xy))


class GridHouseholds:
    """A grid's households in ~4 KB: positions in one flat ``array('d')`` (lon, lat, ...).

    Iterating yields ``(id, lon, lat)`` exactly as :func:`households` does; :meth:`near`
    yields only those inside a box, so a stay's nearest household is found without
    making 250 ids. A worker can keep every grid of the city this way (~50 MB for
    Ningbo) instead of rebuilding evicted tuples (~0.4 ms a grid).
    """

    __slots__ = ("grid", "xy")

    def __init__(self, grid: str, xy: array) -> None:
        self.grid, self.xy = grid, xy

    def __len__(self) -> int:
        return len(self.xy) // 2

    def __iter__(self):
        g, xy = self.grid, self.xy
        for i in range(len(xy) // 2):
            yield household_id(g, i), xy[2 * i], xy[2 * i + 1]

    def near(self, lon: float, lat: float, dlon: float, dlat: float):
        """``(id, lon, lat)`` of the households within ``dlon``/``dlat`` degrees."""
        g, xy = self.grid, self.xy
        for i in range(len(xy) // 2):
            x, y = xy[2 * i], xy[2 * i + 1]
            if abs(y - lat) <= dlat and abs(x - lon) <= dlon:
                yield household_id(g, i), x, y


def grid_households(shape: Polygon | MultiPolygon, count: int, city_seed: int,
                    grid_code: str) -> GridHouseholds:
    """:func:`households` in the compact form (same positions, same order, same ids)."""
    xy = household_array(shape, count, city_seed, grid_code)
    return GridHouseholds(grid_code, array("d", xy.ravel().tolist()))

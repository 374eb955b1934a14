"""Synthetic households: deterministic, inside their grid, cheap to build and to test against."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon

from gridpulse.city import load_city
from gridpulse.city.households import household_id, households
from gridpulse.city.model import _load
from gridpulse.city.spatial import to_shape


@pytest.fixture(scope="module")
def city():
    return load_city()


def sample(city, step=997):
    return [g.code for g in city.grids[::step]]


def test_same_households_from_two_loads(city):
    other = _load.__wrapped__(city.source)
    assert other is not city
    for code in sample(city):
        assert other.households(code) == city.households(code)


def test_same_households_in_another_process(city):
    """No hash() anywhere: other hash seeds, other processes, the same households."""
    codes = sample(city, 4001)
    script = ("import sys; from gridpulse.city import load_city; c = load_city();"
              "print(repr([c.households(g) for g in sys.argv[1:]]))")
    for hash_seed in ("1", "4242"):
        out = subprocess.run([sys.executable, "-c", script, *codes], capture_output=True, text=True,
                             check=True, env={**os.environ, "PYTHONHASHSEED": hash_seed}).stdout
        assert out.strip() == repr([city.households(g) for g in codes])


def test_households_of_a_grid(city):
    for code in sample(city):
        grid = city.grid(code)
        hs = city.households(code)
        assert len(hs) == grid.households == city.household_count(code)
        assert [h[0] for h in hs] == [f"{code}-{i:03d}" for i in range(len(hs))]
        assert len({(lon, lat) for _, lon, lat in hs}) == len(hs)
        shape = to_shape(city.polygons(code))
        assert all(shape.contains(shapely.Point(lon, lat)) for _, lon, lat in hs)
        assert all(round(lon, 6) == lon and round(lat, 6) == lat for _, lon, lat in hs)
        assert [tuple(p) for p in city.household_positions(code).tolist()] == [(x, y) for _, x, y in hs]
        assert city.households(code) is hs  # cached


def test_grids_get_different_households(city):
    a, b = city.grids[0].code, city.grids[1].code
    assert {(x, y) for _, x, y in city.households(a)}.isdisjoint({(x, y) for _, x, y in city.households(b)})


def test_contains_households_not_far_points(city):
    for code in sample(city):
        hs = city.households(code)
        assert all(city.contains(code, lon, lat) for _, lon, lat in hs)
        _, lon, lat = hs[0]
        assert not city.contains(code, lon + 0.05, lat)  # ~5 km east
        assert not city.contains(code, 0.0, 0.0)
    with pytest.raises(KeyError):
        city.contains(city.towns[0].code, *city.towns[0].centroid)
    with pytest.raises(KeyError):
        city.households("999999999999999")


def test_contains_agrees_with_locate(city):
    lons, lats, codes = [], [], []
    for code in sample(city, 97):
        x0, y0, x1, y1 = city.bbox(code)
        for k in range(10):  # a 10 x 10 lattice over the bbox: in and out of the grid
            for j in range(10):
                lons.append(round(x0 + (x1 - x0) * (k + 0.5) / 10, 6))
                lats.append(round(y0 + (y1 - y0) * (j + 0.5) / 10, 6))
                codes.append(code)
    found = city.locate_many(lons, lats)
    inside = [city.contains(c, x, y) for c, x, y in zip(codes, lons, lats)]
    assert inside == [f == c for f, c in zip(found, codes)]
    assert 0.2 < sum(inside) / len(inside) < 0.95


def test_households_and_contains_are_fast(city):
    codes = sample(city, 61)
    start = time.perf_counter()
    for code in codes:
        city.household_positions(code)
    assert (time.perf_counter() - start) / len(codes) < 0.01  # ~0.15 ms a grid on a laptop
    pts = [(code, lon, lat) for code in codes for _, lon, lat in city.households(code)[:50]]
    start = time.perf_counter()
    assert all(city.contains(c, x, y) for c, x, y in pts)
    assert len(pts) / (time.perf_counter() - start) > 50_000  # ~1-2 µs each


TRIANGLE = Polygon([(121.0, 29.0), (121.01, 29.0), (121.0, 29.01)])


def test_pure_function_is_a_prefix_stream():
    """The first k households are the same whatever the count: batching plays no part."""
    full = households(TRIANGLE, 300, 7, "330203001001001")
    assert households(TRIANGLE, 300, 7, "330203001001001") == full
    for k in (0, 1, 9, 120):
        assert households(TRIANGLE, k, 7, "330203001001001") == full[:k]
    assert households(TRIANGLE, 300, 8, "330203001001001") != full
    assert households(TRIANGLE, 300, 7, "330203001001002") != full
    assert full[12][0] == household_id("330203001001001", 12) == "330203001001001-012"
    assert all(TRIANGLE.contains(shapely.Point(x, y)) for _, x, y in full)


def test_holes_and_parts():
    ring = [(0.0, 0.0), (0.01, 0.0), (0.01, 0.01), (0.0, 0.01)]
    hole = [(0.002, 0.002), (0.008, 0.002), (0.008, 0.008), (0.002, 0.008)]
    island = Polygon([(0.02, 0.0), (0.021, 0.0), (0.021, 0.001)])
    shape = MultiPolygon([Polygon(ring, [hole]), island])
    hs = households(shape, 500, 1, "g")
    assert all(shape.contains(shapely.Point(x, y)) for _, x, y in hs)
    assert not any(Polygon(hole).contains(shapely.Point(x, y)) for _, x, y in hs)
    with pytest.raises(ValueError):
        households(Polygon(), 3, 1, "g")


def test_compact_households_equal_the_tuples_and_find_the_same_nearest():
    import random

    from gridpulse.city import load_city
    from gridpulse.visits.stays import Stay, nearest

    city = load_city("ningbo")
    rng = random.Random(7)
    for g in rng.sample([g.code for g in city.grids], 40):
        full, comp = city.households(g), city.grid_households(g)
        assert list(comp) == list(full) and len(comp) == len(full)
        assert city.grid_households(g) is comp  # kept once built
        for _ in range(25):
            _, x, y = full[rng.randrange(len(full))]
            s = Stay(0, 1, x + rng.uniform(-6e-4, 6e-4), y + rng.uniform(-5e-4, 5e-4), 5)
            assert nearest(s, comp) == nearest(s, full)


def contract_households(city_seed: int, grid: str, polygons: list, count: int) -> list[tuple]:
    """The households of a grid as docs/contract.md ("Households and visits") defines them,
    built without gridpulse's code or Python's ``random``: numpy's legacy MT19937 seeded
    with ``init_by_array``, hashlib, and shapely only for "strictly inside"."""
    import hashlib

    import numpy as np
    from shapely.geometry import shape as to_geometry

    text = f"{city_seed}/{grid}".encode()
    n = int.from_bytes(text + hashlib.sha512(text).digest(), "big")
    key = []
    while n:
        key.append(n & 0xFFFFFFFF)
        n >>= 32
    mt = np.random.RandomState(np.array(key, dtype=np.uint32))  # init_by_array(key)
    xs = [x for part in polygons for ring in part for x, _ in ring]
    ys = [y for part in polygons for ring in part for _, y in ring]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    area = to_geometry({"type": "MultiPolygon", "coordinates": polygons})
    out = []
    while len(out) < count:
        wx, wy = (int(w) for w in mt.randint(0, 2**32, size=2, dtype=np.uint64))  # raw 32-bit words
        x = float(np.rint((x0 + (x1 - x0) * (wx / 2**32)) * 1e6) / 1e6)
        y = float(np.rint((y0 + (y1 - y0) * (wy / 2**32)) * 1e6) / 1e6)
        if area.contains(shapely.Point(x, y)):
            out.append((f"{grid}-{len(out):03d}", x, y))
    return out


def test_households_can_be_recomputed_from_the_contract(city):
    for code in sample(city, 1499):
        want = contract_households(city.seed, code, city.polygons(code), city.household_count(code))
        assert list(city.households(code)) == want, code

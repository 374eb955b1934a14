"""The bundled Ningbo city model and the pure builder core behind scripts/build_city.py."""

from __future__ import annotations

import random
import shutil
import time

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon

from gridpulse.city import LEVELS, load_city
from gridpulse.city.builder import CommunitySpec, DistrictSpec, TownSpec, build_city
from gridpulse.city.partition import largest_remainder
from gridpulse.city.spatial import to_shape

# adcode, towns (MCA 2025), grids = largest-remainder share of 12,216 by 2024 population
DISTRICTS = [
    ("330203", 17, 1339), ("330205", 8, 647), ("330206", 11, 1130), ("330211", 7, 665),
    ("330212", 25, 2138), ("330213", 12, 740), ("330225", 18, 723), ("330226", 18, 891),
    ("330281", 21, 1583), ("330282", 20, 2360),
]


@pytest.fixture(scope="module")
def city():
    return load_city()


@pytest.fixture(scope="module")
def shapes(city):
    return {a.code: to_shape(city.polygons(a.code))
            for a in (*city.districts, *city.towns, *city.communities, *city.grids)}


def test_counts(city):
    assert (city.code, city.name, city.name_en) == ("330200", "宁波市", "Ningbo")
    assert len(city.districts) == 10
    assert len(city.towns) == 157
    assert 3000 <= len(city.communities) <= 3100
    assert len(city.grids) == 12216
    assert 2_900_000 < sum(g.households for g in city.grids) < 3_200_000


@pytest.mark.parametrize(("code", "towns", "grids"), DISTRICTS)
def test_district(city, code, towns, grids):
    assert len(city.children(code)) == towns
    assert len(city.grids_of(code)) == grids
    assert city.area(code).name_en and city.area(code).population_10k > 0


def test_district_grids_are_population_shares(city):
    pops = [city.area(code).population_10k for code, _, _ in DISTRICTS]
    assert largest_remainder(12216, pops) == [g for _, _, g in DISTRICTS]


@pytest.mark.parametrize(("total", "weights", "minimum", "expected"), [
    (10, [1, 1, 1], 0, [4, 3, 3]),
    (7, [5, 3, 2], 0, [4, 2, 1]),
    (6, [100, 1, 1], 1, [4, 1, 1]),
    (3, [0.2, 0.5, 0.3], 1, [1, 1, 1]),
])
def test_largest_remainder(total, weights, minimum, expected):
    assert largest_remainder(total, weights, minimum) == expected


def test_codes_unique_and_nested(city):
    codes = [a.code for a in (*city.districts, *city.towns, *city.communities, *city.grids)]
    assert len(codes) == len(set(codes))
    for grid in city.grids:
        assert len(grid.code) == 15 and grid.code.startswith(grid.community)
        assert grid.community.startswith(grid.town) and grid.town.startswith(grid.district)
        assert city.lineage(grid.code) == {"grid": grid.code, "community": grid.community,
                                           "town": grid.town, "district": grid.district, "city": "330200"}
        assert city.area(grid.community).parent == grid.town
        assert city.area(grid.town).parent == grid.district
    assert all(city.grids_of(c.code) for c in city.communities)  # every community has a grid


def test_hierarchy_walks(city):
    assert [city.area(c).level for c in city.children("330200")] == ["district"] * 10
    assert sum(len(city.grids_of(t.code)) for t in city.towns) == 12216
    town = city.towns[0]
    assert sorted(city.grids_of(town.code)) == sorted(g for c in city.children(town.code) for g in city.children(c))
    assert city.grids_of(city.grids[0].code) == [city.grids[0].code]
    assert set(LEVELS) == {"city", "district", "town", "community", "grid"}
    with pytest.raises(KeyError):
        city.grid(town.code)


def test_grid_centroids_locate_back(city):
    assert [city.locate(*g.centroid) for g in city.grids] == [g.code for g in city.grids]
    lons, lats = zip(*(g.centroid for g in city.grids))
    assert city.locate_many(lons, lats) == [g.code for g in city.grids]
    assert city.locate(120.0, 25.0) is None


def test_locate_is_fast(city):
    rng = random.Random(5)
    pts = [city.random_point(g.code, rng) for g in city.grids[::12]]
    start = time.perf_counter()
    found = [city.locate(x, y) for x, y in pts]
    assert len(pts) / (time.perf_counter() - start) > 10_000
    assert found == [g.code for g in city.grids[::12]]


@pytest.mark.parametrize(("level", "parent_of"), [
    ("grid", lambda g: g.district), ("grid", lambda g: g.community),
    ("community", lambda c: c.parent), ("town", lambda t: t.parent),
])
def test_areas_nest_in_parent_and_tile_it(city, shapes, level, parent_of):
    areas = {"grid": city.grids, "community": city.communities, "town": city.towns}[level]
    mine = np.array([shapes[a.code] for a in areas])
    parents = np.array([shapes[parent_of(a)] for a in areas])
    outside = shapely.area(shapely.difference(mine, parents)) / shapely.area(mine)
    assert outside.max() < 1e-3
    sums: dict[str, float] = {}
    for a, area in zip(areas, shapely.area(mine)):
        sums[parent_of(a)] = sums.get(parent_of(a), 0.0) + area
    for code, total in sums.items():
        assert total == pytest.approx(shapes[code].area, rel=5e-3)


def test_geometry_helpers(city, shapes):
    rng = random.Random(1)
    for grid in city.grids[::1000]:
        x, y = city.random_point(grid.code, rng)
        assert shapes[grid.code].contains(shapely.Point(x, y))
        x0, y0, x1, y1 = city.bbox(grid.code)
        assert x0 <= x <= x1 and y0 <= y <= y1
    bx = city.bbox("330200")
    assert 120.8 < bx[0] < bx[2] < 122.4 and 28.8 < bx[1] < bx[3] < 30.5
    for level, n in (("district", 10), ("town", 157), ("grid", 12216)):
        rings = city.rings(level)
        assert len({code for code, _ in rings}) == n
        assert all(r[0][0] == r[0][-1] and len(r[0][0]) == 2 for _, r in rings)


def test_load_from_directory_is_cached(city, tmp_path):
    assert load_city("ningbo") is city
    shutil.copy(city.source, tmp_path / "city.json.gz")
    other = load_city(str(tmp_path))
    assert other is not city and other is load_city(str(tmp_path))
    assert len(other.grids) == 12216
    with pytest.raises(FileNotFoundError):
        load_city("atlantis")


def test_load_is_fast(city):
    from gridpulse.city.model import _load
    start = time.perf_counter()
    _load.__wrapped__(city.source)
    assert time.perf_counter() - start < 1.5


def _toy_district() -> DistrictSpec:
    mainland = Polygon([(121.0, 29.0), (121.2, 29.0), (121.25, 29.1), (121.1, 29.15), (121.0, 29.1)])
    island = Polygon([(121.3, 29.0), (121.32, 29.0), (121.32, 29.02)])
    towns = []
    for t, suffix in enumerate(("街道", "镇", "乡")):
        code = f"330299{t + 1:03d}"
        comms = tuple(CommunitySpec(f"{code}{i:03d}", f"甲{t}{i}{'社区' if i % 2 else '村'}", urban=bool(i % 2))
                      for i in range(1, 5))
        towns.append(TownSpec(code, f"乙{t}{suffix}", comms))
    return DistrictSpec("330299", "测试区", "Test", 10.0, (121.1, 29.05),
                        MultiPolygon([mainland, island]), tuple(towns))


def test_builder_is_deterministic_and_nests():
    district = _toy_district()
    first = build_city("330200", "宁波市", "Ningbo", [district], 40, seed=7)
    assert first == build_city("330200", "宁波市", "Ningbo", [district], 40, seed=7)
    assert first != build_city("330200", "宁波市", "Ningbo", [district], 40, seed=8)
    assert len(first["grids"]) == 40 and len(first["towns"]) == 3 and len(first["communities"]) == 12
    grids = [to_shape(g["polygons"]) for g in first["grids"]]
    assert sum(g.area for g in grids) == pytest.approx(district.geometry.area, rel=1e-3)
    assert shapely.union_all(grids).symmetric_difference(district.geometry).area < 1e-4 * district.geometry.area
    assert {g["community"] for g in first["grids"]} == {c.code for t in district.towns for c in t.communities}


def test_builder_refuses_too_few_grids():
    with pytest.raises(ValueError):
        build_city("330200", "宁波市", "Ningbo", [_toy_district()], 11, seed=7)


def _toy_city_doc() -> dict:
    """Two grids: one a square with a hole plus an island, the other filling the hole."""
    outer = [[121.0, 29.0], [121.01, 29.0], [121.01, 29.01], [121.0, 29.01], [121.0, 29.0]]
    hole = [[121.002, 29.002], [121.008, 29.002], [121.005, 29.008], [121.002, 29.002]]
    island = [[121.02, 29.0], [121.023, 29.0], [121.02, 29.004], [121.02, 29.0]]
    everything = [[outer], [island]]
    return {"schema": 1, "code": "330200", "name": "测试市", "seed": 5,
            "districts": [{"code": "330299", "name": "d", "polygons": everything}],
            "towns": [{"code": "330299001", "name": "t", "district": "330299", "polygons": everything}],
            "communities": [{"code": "330299001001", "name": "c", "town": "330299001", "polygons": everything}],
            "grids": [{"code": "330299001001001", "name": "g1", "community": "330299001001", "households": 40,
                       "polygons": [[outer, hole], [island]]},
                      {"code": "330299001001002", "name": "g2", "community": "330299001001",
                       "polygons": [[hole]]}]}


def test_contains_with_holes_and_parts():
    from gridpulse.city.model import CityModel
    toy = CityModel(_toy_city_doc(), source="toy")
    g1, g2 = "330299001001001", "330299001001002"
    assert toy.household_count(g1) == 40 and toy.household_count(g2) == 250
    for code in (g1, g2):
        shape = to_shape(toy.polygons(code))
        for k in range(126):  # a lattice over the island and the square, edges and vertices included
            for j in range(61):
                x, y = round(120.999 + k * 0.0002, 6), round(28.999 + j * 0.0002, 6)
                assert toy.contains(code, x, y) == shapely.intersects_xy(shape, x, y), (code, x, y)
    assert all(toy.contains(g1, x, y) and not toy.contains(g2, x, y) for _, x, y in toy.households(g1))
    assert all(toy.contains(g2, x, y) and not toy.contains(g1, x, y) for _, x, y in toy.households(g2))
    assert any(x > 121.015 for _, x, y in toy.households(g1))  # some on the island
    assert toy.contains(g1, 121.005, 29.002) and toy.contains(g2, 121.005, 29.002)  # a shared edge


def test_contains_a_point_on_an_edge(city):
    # a 6-decimal point on a grid edge up to float rounding: shapely decides, as in locate()
    code, x, y = "330282118216005", 121.093373, 30.268249
    assert city.contains(code, x, y) and city.locate(x, y) == code
    assert ("330282118216005-008", x, y) in city.households(code)

"""Track cleaning and stay points on hand-made tracks whose visits are known."""

import pytest

from gridpulse.visits.stays import Stay, StayRules, nearest, stays
from gridpulse.visits.track import Point, TrackRules, clean, distance_m

T0 = 1_795_741_200_000
LON, LAT = 121.55, 29.87
M_LAT = 1 / 111_195  # degrees of latitude per metre, roughly


def at(seconds, north_m=0.0, acc=8.0):
    return Point(T0 + int(seconds * 1000), LON, LAT + north_m * M_LAT, acc)


def walk(start_s, from_m, to_m, speed=1.2, every=10):
    """Fixes every ``every`` s walking north from ``from_m`` to ``to_m`` metres."""
    pts, t, pos = [], start_s, from_m
    while pos < to_m:
        pts.append(at(t, pos))
        t, pos = t + every, pos + speed * every
    return pts, t


def stay(start_s, north_m, minutes, every=10, jitter=3.0):
    n = int(minutes * 60 / every)
    return [at(start_s + k * every, north_m + (jitter if k % 2 else -jitter)) for k in range(n + 1)]


def test_distance():
    assert distance_m(LON, LAT, LON, LAT + 1000 * M_LAT) == pytest.approx(1000, rel=0.01)


@pytest.mark.parametrize("fixes,kept,reasons", [
    ([at(0), at(10, 5)], 2, []),
    ([at(0), at(10, 5, acc=150)], 1, ["accuracy"]),
    ([at(0), at(0, 1)], 1, ["duplicate"]),
    ([at(0), at(10, 2000)], 1, ["jump"]),
    ([at(10, 5), at(0)], 2, []),  # uploaded out of order: sorted, both kept
    ([at(0), at(10, 2000), at(20, 10)], 2, ["jump"]),  # the jump goes, the walk resumes
])
def test_clean(fixes, kept, reasons):
    k, d = clean(fixes, TrackRules())
    assert len(k) == kept
    assert len(d) == len(reasons)
    assert all(r in why for (_, why), r in zip(d, reasons))


def test_a_walk_with_a_long_and_a_short_stop_has_one_visit():
    a, t = walk(0, 0, 200)
    s1 = stay(t, 200, minutes=5)  # a visit
    b, t2 = walk(t + 310, 210, 400)
    s2 = stay(t2, 400, minutes=1)  # a pause at a door, not a visit
    c, _ = walk(t2 + 70, 410, 600)
    track, dropped = clean(a + s1 + b + s2 + c)
    assert not dropped
    found = stays(track, StayRules())
    assert len(found) == 1
    assert found[0].end - found[0].start >= 5 * 60_000
    assert distance_m(found[0].lon, found[0].lat, LON, LAT + 200 * M_LAT) < 10


def test_nothing_but_walking_has_no_visit():
    track, _ = clean(walk(0, 0, 1000)[0])
    assert stays(track) == []


def test_matching_a_stay_to_the_nearest_household():
    s = Stay(T0, T0 + 300_000, LON, LAT, 30)
    homes = [("h2", LON, LAT + 25 * M_LAT), ("h1", LON, LAT + 10 * M_LAT), ("far", LON, LAT + 500 * M_LAT)]
    assert nearest(s, homes) == "h1"
    assert nearest(s, [("far", LON, LAT + 500 * M_LAT)]) is None
    assert nearest(s, [("b", LON, LAT + 10 * M_LAT), ("a", LON, LAT + 10 * M_LAT)]) == "a"


@pytest.mark.parametrize("seed", range(8))
def test_stay_finder_fed_one_fix_at_a_time_equals_the_batch(seed):
    import random

    from gridpulse.visits.stays import StayFinder, events

    rng = random.Random(seed)
    pts, t, pos = [], 0, 0.0
    for _ in range(60):  # walks and stays of random lengths, with jitter
        if rng.random() < 0.5:
            for _ in range(rng.randrange(1, 40)):
                pts.append(at(t, pos + rng.uniform(-12, 12)))
                t += 10
        else:
            for _ in range(rng.randrange(1, 20)):
                pos += rng.uniform(5, 40)
                pts.append(at(t, pos))
                t += 10
    f = StayFinder(StayRules())
    got = []
    for k, p in enumerate(pts):
        got += f.push(p)
        assert got == events(pts[:k + 1], final=False)  # never ahead, never behind
    got += f.finish()
    assert got == events(pts)
    assert any(isinstance(e, Stay) for e in got) and any(not isinstance(e, Stay) for e in got)


def test_distance_is_the_textbook_haversine_bit_for_bit():
    """track.distance_m is written for speed; it must equal the plain formula exactly
    (the oracle and the worker both use it, but stays and routes hinge on thresholds)."""
    import math
    import random

    from gridpulse.visits.track import EARTH_M, distance_m

    def plain(lon1, lat1, lon2, lat2):
        p1, p2 = math.radians(lat1), math.radians(lat2)
        dp, dl = p2 - p1, math.radians(lon2 - lon1)
        a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
        return 2 * EARTH_M * math.asin(min(1.0, math.sqrt(a)))

    rnd = random.Random(20261128)
    pairs = [(0.0, 0.0, 180.0, 0.0), (121.5, 29.8, 121.5, 29.8)]
    for i in range(20_000):
        lon, lat = rnd.uniform(121.0, 122.5), rnd.uniform(29.0, 30.5)
        step = 0.0005 if i % 2 else 0.5
        pairs.append((lon, lat, lon + rnd.gauss(0, step), lat + rnd.gauss(0, step)))
    assert all(distance_m(*p) == plain(*p) for p in pairs)

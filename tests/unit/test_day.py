"""A hand-made terminal-day whose visits, route and off-grid run are known."""

from gridpulse.clock import parse_local
from gridpulse.visits.day import Outbox, Pending, Terminal, Tracker
from gridpulse.visits.rules import VisitRules
from gridpulse.visits.track import distance_m

TZ = "Asia/Shanghai"
T0 = parse_local("2026-11-26T09:00:00", TZ)
LON, LAT = 121.55, 29.87
M = 1 / 111_195  # degrees of latitude per metre
RULES = VisitRules(tz=TZ, offgrid_ms=10 * 60_000)
HOMES = (("G-000", LON, LAT + 300 * M), ("G-001", LON, LAT + 900 * M))


def contains(grid, lon, lat):
    return lat < LAT + 600 * M  # the grid is everything south of 600 m north


def day():
    """Walk 300 m north, stay 5 min at G-000, walk 200 m, pause 2 min (no visit), walk
    400 m on, out of the grid, stay 15 min at G-001 (a household of the worker's grid
    list, so still a visit; the off-grid alert says where it was), then a bad fix."""
    fixes, t = [], T0
    for pos in range(0, 300, 12):
        fixes.append((t, pos, 8.0))
        t += 10_000
    for k in range(31):  # 5 minutes at 300 m, jitter 3 m
        fixes.append((t, 300 + (3 if k % 2 else -3), 8.0))
        t += 10_000
    for pos in range(312, 500, 12):
        fixes.append((t, pos, 8.0))
        t += 10_000
    for _ in range(12):  # 2 minutes at ~500 m: too short to be a stay
        fixes.append((t, 504, 8.0))
        t += 10_000
    for pos in range(516, 900, 12):
        fixes.append((t, pos, 8.0))
        t += 10_000
    for k in range(91):  # 15 minutes at 900 m
        fixes.append((t, 900 + (2 if k % 2 else -2), 8.0))
        t += 10_000
    fixes.append((t, 900, 150.0))  # dropped: accuracy
    return [Pending(ts, LON, LAT + m * M, acc, "W1", "G") for ts, m, acc in fixes]


def run():
    tr = Tracker(RULES, lambda g: HOMES, contains, lambda g: (g, "C", "T", "D", "X"))
    t, out = Terminal("T1"), Outbox()
    t.pending = day()
    tr.finalize(t, t.pending[-1].ts + 1, out)
    tr.expire(t, t.last.ts + RULES.gap_ms + 1, out)  # no more fixes: the segment ends
    return t, out


def test_visits_and_stays():
    t, out = run()
    got = [(v.household, round((v.end - v.start) / 60_000)) for v in out.visits]
    assert got == [("G-000", 5), ("G-001", 15)]
    assert (t.visits, t.stays, t.dropped) == (2, 2, 1)


def test_route_and_distance():
    t, out = run()
    route = out.route[(t.day, "T1")]
    assert [p[0] for p in route] == sorted(p[0] for p in route)
    # each stay is collapsed to its centre: one point at arrival and one at departure (the
    # run may start a fix or two early, as the walk-in comes within the radius)
    pairs = [(a, b) for a, b in zip(route, route[1:]) if a[1:] == b[1:]]
    assert [round((p[0][2] - LAT) / M / 10) * 10 for p in pairs] == [300, 900]
    assert [round((b[0] - a[0]) / 60_000) for a, b in pairs] == [5, 15]
    # distance: ~900 m north, give or take the simplification and stay centres
    assert 880 < t.dist_m < 920
    assert t.dist_m == sum(distance_m(a[1], a[2], b[1], b[2]) for a, b in zip(route, route[1:]))


def test_time_on_duty_and_off_grid_alert():
    t, out = run()
    assert t.duty_ms == t.last.ts - t.first
    ids = [a.id for a in out.alerts]
    first_out = next(p.ts for p in day() if not contains("G", p.lon, p.lat))
    assert ids == [f"offgrid:T1:{first_out}"]
    a = out.alerts[0]
    assert a.kind == "off_grid" and a.ts - first_out == RULES.offgrid_ms and a.worker == "W1"

"""The GPS projection: the latest fix wins whatever the arrival order."""

import itertools

from gridpulse.schemas import Fix, GpsBatch
from streams.gps_state import GpsPartition

T = 1_795_741_740_000


def batch(term, *fixes):
    return GpsBatch(id=f"{term}-{fixes[0][0]}", terminal=term, worker="W1", grid="330203001001001",
                    fixes=[Fix(T + ts, lon, lat, 5.0) for ts, lon, lat in fixes])


def test_latest_fix_wins_in_any_order():
    batches = [batch("T1", (0, 121.5, 29.8), (10, 121.51, 29.8)),
               batch("T1", (20, 121.52, 29.8)),
               batch("T1", (5, 121.0, 29.0))]
    seen = set()
    for perm in itertools.permutations(batches):
        st = GpsPartition(0)
        for off, b in enumerate(perm):
            st.apply(b, off)
        seen.add(st.positions["T1"])
    assert seen == {(T + 20, 121.52, 29.8, "330203001001001", "W1")}


def test_replay_and_stale_batches_change_nothing():
    st = GpsPartition(0)
    assert st.apply(batch("T1", (20, 121.52, 29.8)), 0)
    assert not st.apply(batch("T1", (30, 121.6, 29.9)), 0)  # offset already applied
    st.apply(batch("T1", (10, 121.6, 29.9)), 1)  # older fix: kept for the track, not the position
    assert st.positions["T1"][0] == T + 20
    assert st.watermark == T + 20


def test_fixes_older_than_the_horizon_are_refused_as_late():
    st = GpsPartition(0)
    st.apply(batch("T1", (1_000_000, 121.52, 29.8)), 0)
    st.apply(batch("T2", (1_000_000 - st.rules.lateness_ms - 1, 121.5, 29.8),
                   (1_000_000 - st.rules.lateness_ms, 121.5, 29.8)), 1)
    assert st.late == 1
    assert [p.ts for p in st.terms["T2"].pending] == [T + 1_000_000 - st.rules.lateness_ms]

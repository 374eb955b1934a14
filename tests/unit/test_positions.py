"""The wall's worker-position deltas (dashboard/positions.py), against a fake view."""

from __future__ import annotations

import pytest

from dashboard.positions import SCALE, PositionFeed, compact_ids


class FakeView:
    def __init__(self):
        self.rows = []

    def positions(self, active_ms):
        return [list(r) for r in self.rows]


def _ids(doc):
    if "p" in doc:
        return [doc["p"] + str(n).zfill(doc["w"]) for n in doc["id"]]
    return doc["id"]


@pytest.mark.parametrize("ids, want", [
    ([], {"id": []}),
    (["T00001", "T00042"], {"p": "T", "w": 5, "id": [1, 42]}),
    (["T00001", "T0042"], {"id": ["T00001", "T0042"]}),         # another width
    (["T00001", "X00002"], {"id": ["T00001", "X00002"]}),       # another prefix
    (["T00001", "pad-7"], {"id": ["T00001", "pad-7"]}),         # not the pattern
    (["0007", "0100"], {"p": "", "w": 4, "id": [7, 100]}),
])
def test_compact_ids_round_trip(ids, want):
    doc = compact_ids(ids)
    assert doc == want and _ids(doc) == ids


def test_full_then_moved_then_gone_then_nothing():
    view = FakeView()
    feed = PositionFeed(view, 600_000, origin=(121.0, 29.0), min_age_s=0)
    view.rows = [("T00001", 121.5, 29.5, 1000, "g", "W1"), ("T00002", 121.25, 29.25, 1000, "g", "W2")]
    full = feed.delta(None)
    assert full["full"] and _ids(full) == ["T00001", "T00002"]
    assert (full["x"], full["y"]) == ([5000, 2500], [5000, 2500]) and full["s"] == SCALE
    assert feed.watermark == 1000
    # Nothing moved: nothing to send, the cursor unchanged.
    same = feed.delta(full["cursor"])
    assert same["id"] == [] and same["gone"] == [] and same["cursor"] == full["cursor"]
    # A move under the grid step (~10 m) is not sent; a real move is.
    view.rows = [("T00001", 121.50001, 29.5, 2000, "g", "W1"), ("T00002", 121.2600, 29.25, 2000, "g", "W2")]
    d = feed.delta(full["cursor"])
    assert not d["full"] and _ids(d) == ["T00002"] and d["x"] == [2600] and d["gone"] == []
    # A terminal no longer active is gone; a browser one version behind learns both.
    view.rows = [("T00002", 121.2600, 29.25, 3000, "g", "W2")]
    g = feed.delta(d["cursor"])
    assert g["id"] == [] and g["gone"] == ["T00001"]
    behind = feed.delta(full["cursor"])
    assert _ids(behind) == ["T00002"] and behind["gone"] == ["T00001"]
    # It comes back: sent again, no longer gone.
    view.rows.append(("T00001", 121.5, 29.5, 4000, "g", "W1"))
    back = feed.delta(g["cursor"])
    assert _ids(back) == ["T00001"] and back["gone"] == []
    # A cursor of another server process: the full snapshot.
    assert feed.delta("0000:3")["full"]

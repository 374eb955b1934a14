"""The wall's live feed: the window of recent cases held in memory and each browser's cut."""

import pytest

from dashboard.live import CASE_OVERLAP_MS, CASE_WINDOW_MS, browser_cases, merge_cases

WM = 10 * CASE_WINDOW_MS


def case(cid: str, ts: int, lon: float | None = 121.5) -> dict:
    return {"case": cid, "ts": ts, "lon": lon, "lat": 29.8, "category": "fire", "severity": 2}


def test_merge_keeps_the_window_replaces_by_id_and_skips_cases_without_a_position():
    held = {"old": case("old", WM - CASE_WINDOW_MS - 1), "kept": case("kept", WM - 5)}
    merge_cases(held, [case("new", WM), case("kept", WM - 4), case("nowhere", WM, lon=None)],
                WM - CASE_WINDOW_MS)
    assert sorted(held) == ["kept", "new"]
    assert held["kept"]["ts"] == WM - 4


@pytest.mark.parametrize("cursor, expected_ids, expected_cursor", [
    # A new browser gets the whole window, newest first.
    (None, ["c", "b", "a"], WM - 1_000),
    # A browser at b's time gets what is newer, and a margin before its cursor (cases a
    # slower partition applied late), here b and c; a is older than the margin.
    (WM - 30_000, ["c", "b"], WM - 1_000),
    # Up to date: the margin re-sends the last minute (b, c); its cursor does not move.
    (WM - 1_000, ["c", "b"], WM - 1_000),
    # Far ahead of everything held (a clock reset): nothing, the cursor stays.
    (WM + 10 * CASE_OVERLAP_MS, [], WM + 10 * CASE_OVERLAP_MS),
])
def test_each_browser_gets_what_it_lacks(cursor, expected_ids, expected_cursor):
    held = {c["case"]: c for c in (case("a", WM - CASE_OVERLAP_MS - 40_000), case("b", WM - 30_000),
                                   case("c", WM - 1_000))}
    rows, nxt = browser_cases(held, WM, cursor)
    assert [r[0] for r in rows] == expected_ids
    assert nxt == expected_cursor
    # Rows carry their age in whole seconds at the watermark.
    assert all(r[1] == (WM - held[r[0]]["ts"]) // 1000 for r in rows)


def test_an_empty_view_sends_nothing_and_a_floor_cursor():
    assert browser_cases({}, 0, None) == ([], -CASE_WINDOW_MS)

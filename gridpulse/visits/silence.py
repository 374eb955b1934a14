"""Silent grids: no visit and no case for N days (may mean under-reporting). Pure.

A grid's last sign of life is its newest visit end or case report, or, if it never had
either, the time the system began watching (``since``). The grid is silent at ``now``
once that is ``days`` days behind. This is a view derived from two per-grid maxima that
live in different streams (visits and cases), so it is recomputed from them as a whole
rather than kept by either stream's partitions.
"""

from __future__ import annotations

from collections import Counter
from typing import Callable, Iterable

from gridpulse.clock import DAY_MS
from gridpulse.schemas import Alert


def silent_grids(grids: Iterable[str], last_visit: dict[str, int], last_case: dict[str, int],
                 since: int, now: int, days: int) -> dict[str, int]:
    """Grid -> when its silence began, for every grid silent at ``now``."""
    limit = now - days * DAY_MS
    out = {}
    for g in grids:
        began = max(last_visit.get(g, 0), last_case.get(g, 0), since)
        if began <= limit:
            out[g] = began
    return out


def silent_counts(silent: Iterable[str], lineage: Callable[[str], tuple[str, ...]]) -> Counter:
    """``sgrid|area`` -> silent grids in the area."""
    c: Counter = Counter()
    for g in silent:
        for a in lineage(g):
            c[f"sgrid|{a}"] += 1
    return c


def silent_alert(grid: str, began: int, days: int, lineage: Callable[[str], tuple[str, ...]]) -> Alert:
    """The alert of one silence: stable id (the grid and its last sign of life) and time
    (the instant the grid turned silent, ``days`` after it), whenever a scan finds it."""
    lin = lineage(grid)
    return Alert(id=f"silent-grid:{grid}:{began}", kind="silent_grid", ts=began + days * DAY_MS, grid=lin[0],
                 community=lin[1], town=lin[2], district=lin[3], city=lin[4],
                 message=f"grid {grid}: no visit and no case since {began}")

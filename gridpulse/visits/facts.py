"""What a terminal and a grid contribute to the visit KPIs at a given ``now``: pure.

Counter keys (``|``-separated; ``area`` is a grid, community, town, district or city code;
a terminal counts in the lineage of its assigned grid, a visit in its terminal-day's grid):

- ``wact|area``: terminals with a fix in the last ``active_ms`` ("workers out now");
- ``wsil|area``: silent terminals: seen today, but no fix for ``silent_ms`` of duty hours;
- ``woff|area``: active terminals outside their grid for ``offgrid_ms`` or more;
- ``visits|area|<day>``: visits (stays matched to a household) by local day;
- ``cov1|area``, ``cov7|area``, ``cov30|area``: households visited today, this week
  (from Monday) and in the last 30 days (today included).

As with the case KPIs, the worker keeps each terminal's and grid's last contribution and
applies the difference when it or the clock moves; the oracle just sums.
"""

from __future__ import annotations

from array import array

from .day import Lineage, Terminal
from .duty import silence_window
from .rules import VisitRules


def silent_from(t: Terminal, rules: VisitRules) -> tuple[int, int] | None:
    """``(from, until)``: when ``t`` counts as silent if nothing more arrives, else None."""
    return silence_window(t.seen, rules)


def term_facts(t: Terminal, now: int, rules: VisitRules) -> tuple[bool, bool, bool]:
    """``(active, silent, off_grid)`` of terminal ``t`` at ``now``."""
    active = bool(t.seen) and t.seen > now - rules.active_ms
    s = silent_from(t, rules)
    silent = s is not None and s[0] <= now < s[1]
    off = active and bool(t.off_since) and t.off_last - t.off_since >= rules.offgrid_ms
    return active, silent, off


def term_keys(t: Terminal, now: int, rules: VisitRules, lineage: Lineage) -> list[str]:
    """Counter keys terminal ``t`` adds 1 to at ``now``."""
    active, silent, off = term_facts(t, now, rules)
    if not (active or silent):
        return []
    keys = []
    for a in lineage(t.grid):
        if active:
            keys.append(f"wact|{a}")
        if silent:
            keys.append(f"wsil|{a}")
        if off:
            keys.append(f"woff|{a}")
    return keys


def term_next_change(t: Terminal, now: int, rules: VisitRules) -> int | None:
    """The first instant after ``now`` at which :func:`term_facts` may change."""
    cands = [t.seen + rules.active_ms] if t.seen else []
    s = silent_from(t, rules)
    if s is not None:
        cands += list(s)
    later = [c for c in cands if c > now]
    return min(later) if later else None


def monday(day: int) -> int:
    """The Monday starting ``day``'s week (1970-01-01, day 0, was a Thursday)."""
    return day - (day + 3) % 7


def coverage_counts(last_days: array, day: int) -> tuple[int, int, int]:
    """Households visited today, this week and in the last 30 days, as of local ``day``.

    ``last_days[i]`` is the local day household ``i`` was last visited (0: never).
    """
    wk, m30 = monday(day), day - 29
    c1 = c7 = c30 = 0
    for d in last_days:
        if d >= m30 and d:
            c30 += 1
            if d >= wk:
                c7 += 1
                if d >= day:
                    c1 += 1
    return c1, c7, c30


def grid_counts(grid: str, last_days: array, day: int, lineage: Lineage) -> dict[str, int]:
    """Counter key -> amount grid ``grid`` adds as of ``day`` (its coverage)."""
    out = {}
    for name, n in zip(("cov1", "cov7", "cov30"), coverage_counts(last_days, day)):
        if n:
            for a in lineage(grid):
                out[f"{name}|{a}"] = n
    return out

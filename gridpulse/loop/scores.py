"""Performance scores (绩效联考) for departments, towns and grid workers: pure arithmetic.

Every score is 0-100, computed over a window of local days (default the last 7) from
the KPI counters, and is ``None`` when the window holds too little to judge (fewer than
``MIN_CASES`` closed cases). The formulas, also in docs/contract.md:

- **Department** = 100 x (0.5 x on-time rate + 0.3 x satisfaction rate + 0.2 x (1 - return rate))
  where on-time rate = cases closed on time / cases closed (of the cases it handled last),
  satisfaction rate = satisfied evaluations / evaluations, return rate = cases it returned
  ("not ours") / cases dispatched to it. Rewards handling on time, residents' verdict,
  and owning one's cases.
- **Town** = 100 x (0.5 x on-time rate + 0.3 x satisfaction rate + 0.2 x (1 - overdue share))
  where overdue share = overdue open cases / open cases now: the backlog counts.
- **Grid worker** = 100 x (0.6 x on-time rate + 0.4 x satisfaction rate) of the cases the
  worker reported, plus nothing for volume: reporting more is not rewarded by itself,
  so the score cannot be gamed by splitting cases. Visits join the formula with the
  visit-tracks issue.

A missing rate (no evaluations yet) takes the neutral value 1 - the evaluated party
is not punished for residents who have not answered yet; the inputs are returned too.
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_CASES = 3


@dataclass(frozen=True)
class Inputs:
    """Window totals a score is computed from."""

    closed: int = 0
    on_time: int = 0
    evaluated: int = 0
    satisfied: int = 0
    dispatched: int = 0
    returned: int = 0
    open: int = 0
    overdue: int = 0


def _rate(num: int, den: int) -> float:
    return num / den if den else 1.0


def department(x: Inputs) -> float | None:
    """A department's score (see module docstring)."""
    if x.closed < MIN_CASES:
        return None
    s = 0.5 * _rate(x.on_time, x.closed) + 0.3 * _rate(x.satisfied, x.evaluated)
    s += 0.2 * (1 - _rate(x.returned, x.dispatched) if x.dispatched else 1.0)
    return round(100 * s, 1)


def town(x: Inputs) -> float | None:
    """A town's (or any area's) score (see module docstring)."""
    if x.closed < MIN_CASES:
        return None
    s = 0.5 * _rate(x.on_time, x.closed) + 0.3 * _rate(x.satisfied, x.evaluated)
    s += 0.2 * (1 - (x.overdue / x.open if x.open else 0.0))
    return round(100 * s, 1)


def worker(x: Inputs) -> float | None:
    """A grid worker's score (see module docstring)."""
    if x.closed < MIN_CASES:
        return None
    return round(100 * (0.6 * _rate(x.on_time, x.closed) + 0.4 * _rate(x.satisfied, x.evaluated)), 1)

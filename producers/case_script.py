"""The script of one simulated case: which departments move it through the loop, and when.

Pure and seeded. Deadlines here are the catalog's handling times counted on the
24-hour clock; the simulator only needs a realistic spread of on-time and late cases
(the SLA clocks with the working calendar are the stream processor's job).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from gridpulse.catalog import CATEGORIES, Category

MIN = 60_000
HOUR = 3_600_000

#: Some departments are slower than others (multiplies the late share).
DEPT_LATENESS = {"urban": 1.4, "housing": 1.5, "transport": 1.3, "sanitation": 1.2,
                 "police": 0.6, "fire": 0.4, "emergency": 0.7, "community": 1.1}

SEVERITY_WEIGHTS = ((1, 0.08), (2, 0.22), (3, 0.55), (4, 0.15))
RETURN_SHARE = 0.05


@dataclass(frozen=True)
class Step:
    """One scheduled step of a case."""

    at: int  # ms offset from the report
    stage: str
    dept: str | None = None
    actor: str | None = None
    reason: str | None = None
    satisfaction: int | None = None


def pick_category(rng: random.Random) -> Category:
    """A category drawn from the realistic mix."""
    cats = list(CATEGORIES.values())
    return rng.choices(cats, weights=[c.weight for c in cats])[0]


def pick_severity(rng: random.Random) -> int:
    """A severity, 1 (urgent) to 4."""
    return rng.choices([s for s, _ in SEVERITY_WEIGHTS], weights=[w for _, w in SEVERITY_WEIGHTS])[0]


def script(rng: random.Random, cat: Category, severity: int, late_share: float) -> list[Step]:
    """The steps after the report, as offsets from it, in time order."""
    u = rng.uniform
    dept = rng.choice(cat.depts)
    staff = f"{dept}-{rng.randrange(1, 400):03d}"
    t = int(u(1, 10) * MIN)
    steps = [Step(t, "registered", actor="center")]
    t += int((u(2, 20) if severity == 1 else u(5, 90)) * MIN)
    steps.append(Step(t, "dispatched", dept=dept, actor="center"))
    if rng.random() < RETURN_SHARE:
        t += int(u(10, 120) * MIN)
        steps.append(Step(t, "returned", dept=dept, actor=staff, reason="不属于本部门职责"))
        others = [d for d in cat.depts if d != dept] or [dept]
        dept = rng.choice(others)
        staff = f"{dept}-{rng.randrange(1, 400):03d}"
        t += int(u(5, 30) * MIN)
        steps.append(Step(t, "dispatched", dept=dept, actor="center"))
    dispatched = t
    t += int(u(3, 45) * MIN)
    steps.append(Step(t, "accepted", dept=dept, actor=staff))
    deadline = cat.handle_hours * HOUR * (0.5 if severity == 1 else 1.0)
    late = rng.random() < late_share * DEPT_LATENESS.get(dept, 1.0)
    frac = u(1.05, 2.5) if late else u(0.15, 0.95)
    t = max(t + MIN, dispatched + int(deadline * frac))
    steps.append(Step(t, "handled", dept=dept, actor=staff))
    t += int(u(10, 240) * MIN)
    steps.append(Step(t, "verified", actor="grid"))
    t += int(u(1, 30) * MIN)
    steps.append(Step(t, "closed", actor="center"))
    t += int(u(10, 720) * MIN)
    sat = rng.choices([1, 2, 3, 4, 5], weights=[2, 3, 8, 30, 57])[0]
    steps.append(Step(t, "evaluated", actor="resident", satisfaction=sat))
    return steps

"""The case state machine, table-driven: what may follow what, and why not."""

import itertools
from dataclasses import dataclass

import pytest

from gridpulse.loop.lifecycle import check, fold


@dataclass
class E:
    id: str
    type: str
    ts: int
    dept: str | None = None
    satisfaction: int | None = None


def seq(*steps):
    """('type', dept?) steps one minute apart."""
    out = []
    for i, s in enumerate(steps):
        kind, dept = (s, None) if isinstance(s, str) else s
        out.append(E(f"e{i}", kind, i * 60_000, dept, 5 if kind == "evaluated" else None))
    return out


FULL = ["reported", "registered", ("dispatched", "urban"), ("accepted", "urban"),
        ("handled", "urban"), "verified", "closed", "evaluated"]

CASES = [
    # name, steps, stage, dept, open, rejected reasons (substrings)
    ("full loop", FULL, "evaluated", "urban", False, []),
    ("open after dispatch", FULL[:3], "dispatched", "urban", True, []),
    ("handled before dispatched", ["reported", "registered", ("handled", "urban")],
     "registered", None, True, ["handled cannot follow registered"]),
    ("unknown case", [("accepted", "urban")], None, None, False, ["unknown case"]),
    ("wrong department", FULL[:3] + [("accepted", "police")], "dispatched", "urban", True,
     ["wrong department"]),
    ("dispatch names no department", ["reported", "registered", "dispatched"], "registered",
     None, True, ["must name a department"]),
    ("returned then re-dispatched", FULL[:3] + [("returned", "urban"), ("dispatched", "housing"),
                                                  ("handled", "housing")], "handled", "housing", True, []),
    ("returned frees the case", FULL[:3] + [("returned", "urban")], "returned", None, True, []),
    ("reassigned", FULL[:3] + [("reassigned", "police"), ("handled", "police")], "handled",
     "police", True, []),
    ("handled by the old department after reassignment",
     FULL[:3] + [("reassigned", "police"), ("handled", "urban")], "dispatched", "police", True,
     ["wrong department"]),
    ("reopened", FULL[:7] + ["reopened", ("dispatched", "urban")], "dispatched", "urban", True, []),
    ("closed twice", FULL[:7] + ["closed"], "closed", "urban", False, ["closed cannot follow closed"]),
    ("reported twice", ["reported", "reported"], "reported", None, True,
     ["reported cannot follow reported"]),
    ("escalation keeps the stage", FULL[:3] + ["escalated", "escalated"], "dispatched", "urban", True, []),
    ("no escalation past the city", FULL[:3] + ["escalated"] * 4, "dispatched", "urban", True,
     ["already escalated to the city"]),
    ("no escalation of a closed case", FULL[:7] + ["escalated"], "closed", "urban", False,
     ["escalated cannot follow closed"]),
]


@pytest.mark.parametrize("name,steps,stage,dept,is_open,reasons", CASES, ids=[c[0] for c in CASES])
def test_fold(name, steps, stage, dept, is_open, reasons):
    view = fold(seq(*steps))
    assert (view.stage, view.dept, view.is_open) == (stage, dept, is_open)
    assert len(view.rejected) == len(reasons)
    for (_, why), want in zip(view.rejected, reasons):
        assert want in why


def test_arrival_order_does_not_matter():
    events = seq(*FULL)
    want = fold(events)
    for perm in itertools.islice(itertools.permutations(events), 0, 40320, 97):
        got = fold(perm)
        assert (got.stage, got.dept, got.entered, got.rejected) == (want.stage, want.dept, want.entered, [])


def test_department_clocks_stop_and_restart():
    view = fold(seq(*FULL[:3], ("returned", "urban"), ("dispatched", "housing"), ("handled", "housing")))
    assert [(s.dept, s.start, s.end, s.outcome) for s in view.spans] == [
        ("urban", 120_000, 180_000, "returned"), ("housing", 240_000, 300_000, "handled")]


def test_escalation_level_and_satisfaction():
    assert fold(seq(*FULL[:3], "escalated", "escalated")).level == 2
    assert fold(seq(*FULL)).satisfaction == 5


def test_check_names_the_field():
    view = fold(seq(*FULL[:3]))
    assert "$.dept" in check(view, E("x", "handled", 10**6, "police"))
    assert check(view, E("x", "handled", 10**6, "urban")) is None


def test_waits_for_dispatch_are_kept_with_their_end():
    view = fold(seq(*FULL[:3], ("returned", "urban"), ("dispatched", "housing"), "escalated"))
    assert [(w.start, w.end) for w in view.waits] == [(60_000, 120_000), (180_000, 240_000)]
    view = fold(seq(*FULL[:7], "reopened"))
    assert view.waits[-1].start == 420_000 and view.waits[-1].end is None

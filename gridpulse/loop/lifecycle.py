"""The case state machine: which step may follow which, folded over a case's history.

:func:`fold` replays a case's events in event-time order and returns what the case is
now: its stage, department, escalation level, the time it entered each stage, the
department clocks it ran, and the events that broke the rules (with the reason).
Because it always works on the sorted history, the answer depends only on the set of
events, never on the order they arrived in (docs/contract.md, "Now").

Rules (``ALLOWED``: event type -> stages it may follow; ``None`` = a new case):

- ``reported`` opens a case; any other first event is for an unknown case.
- ``registered`` follows ``reported``; ``dispatched`` follows ``registered``, ``returned``
  or ``reopened`` and must name a department.
- ``accepted``, ``handled``, ``returned`` and ``reassigned`` come from the department the
  case is with (``reassigned`` names the new department and restarts its clock).
- ``verified`` follows ``handled``, ``closed`` follows ``verified``, ``evaluated`` follows
  ``closed``; ``reopened`` follows ``verified``, ``closed`` or ``evaluated``.
- ``escalated`` (督办) may come at any open stage and raises the level by one (max 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Protocol

OPEN_STAGES = ("reported", "registered", "dispatched", "accepted", "handled", "verified",
               "returned", "reopened")
ALLOWED: dict[str, tuple[str | None, ...]] = {
    "reported": (None,),
    "registered": ("reported",),
    "dispatched": ("registered", "returned", "reopened"),
    "accepted": ("dispatched",),
    "handled": ("dispatched", "accepted"),
    "returned": ("dispatched", "accepted"),
    "reassigned": ("dispatched", "accepted"),
    "verified": ("handled",),
    "closed": ("verified",),
    "evaluated": ("closed",),
    "reopened": ("verified", "closed", "evaluated"),
    "escalated": OPEN_STAGES,
}
#: Events that must come from the department the case is with.
FROM_DEPT = frozenset({"accepted", "handled", "returned"})
#: Events that must name a department.
NAMES_DEPT = frozenset({"dispatched", "reassigned"})
ESCALATION_LEVELS = ("town", "district", "city")
SATISFIED = 4  # satisfaction >= 4 of 5 counts as satisfied


class EventLike(Protocol):
    """What the fold needs of an event (``gridpulse.schemas.CaseEvent`` has it all)."""

    id: str
    type: str
    ts: int
    dept: str | None
    satisfaction: int | None


@dataclass
class Span:
    """One department clock: from dispatch to handled (or to returned / reassigned)."""

    dept: str
    start: int
    end: int | None = None  # None while it runs
    outcome: str | None = None  # handled, returned, reassigned


@dataclass
class Wait:
    """A wait for dispatch: from registration, a return or a reopening to the next dispatch."""

    start: int
    end: int | None = None  # None while the case still waits


@dataclass
class CaseView:
    """What a case is, after folding its valid events in event-time order."""

    stage: str | None = None
    dept: str | None = None
    level: int = 0  # escalation level, 0 none .. 3 city
    entered: dict[str, int] = field(default_factory=dict)  # stage -> last time entered
    first: dict[str, int] = field(default_factory=dict)  # stage -> first time entered
    spans: list[Span] = field(default_factory=list)
    waits: list[Wait] = field(default_factory=list)
    checks: list[Wait] = field(default_factory=list)  # from each handled to its verification
    satisfaction: int | None = None
    reopened: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (event id, reason)

    @property
    def is_open(self) -> bool:
        """Open unless closed or evaluated (and not reopened since)."""
        return self.stage is not None and self.stage in OPEN_STAGES

    @property
    def span(self) -> Span | None:
        """The department clock running now, if any."""
        return self.spans[-1] if self.spans and self.spans[-1].end is None else None


def check(view: CaseView, ev: EventLike) -> str | None:
    """Why ``ev`` may not follow ``view`` (None if it may)."""
    allowed = ALLOWED.get(ev.type)
    if allowed is None:
        return f"unknown event type {ev.type!r}"
    if view.stage not in allowed:
        if view.stage is None:
            return f"unknown case: {ev.type} before reported"
        return f"{ev.type} cannot follow {view.stage}"
    if ev.type in NAMES_DEPT and not ev.dept:
        return f"{ev.type} must name a department - at `$.dept`"
    if ev.type in FROM_DEPT and ev.dept != view.dept:
        return f"wrong department: {ev.dept!r} is not {view.dept!r}, which has the case - at `$.dept`"
    if ev.type == "escalated" and view.level >= len(ESCALATION_LEVELS):
        return "already escalated to the city"
    return None


def step(view: CaseView, ev: EventLike) -> None:
    """Apply one event that :func:`check` accepted."""
    t, kind = ev.ts, ev.type
    if kind == "escalated":
        view.level += 1
        return
    running = view.span
    if kind == "dispatched" and view.waits and view.waits[-1].end is None:
        view.waits[-1].end = t
    elif kind in ("registered", "returned", "reopened"):
        view.waits.append(Wait(t))
    if kind in ("dispatched", "reassigned"):
        if running is not None:  # reassigned: the old department's clock stops
            running.end, running.outcome = t, kind
        view.spans.append(Span(ev.dept or "", t))
        view.dept = ev.dept
        kind = "dispatched"  # a reassigned case is dispatched to its new department
    elif kind in ("handled", "returned") and running is not None:
        running.end, running.outcome = t, kind
        if kind == "returned":
            view.dept = None
    if kind == "handled":
        view.checks.append(Wait(t))
    elif kind == "verified" and view.checks and view.checks[-1].end is None:
        view.checks[-1].end = t
    if kind == "evaluated":
        view.satisfaction = ev.satisfaction
    elif kind == "reopened":
        view.reopened += 1
    view.stage = kind
    view.entered[kind] = t
    view.first.setdefault(kind, t)


STAGE_ORDER = {s: i for i, s in enumerate(ALLOWED)}


def order_key(ev: EventLike) -> tuple[int, int, str]:
    """Event-time order; ties break on the loop's order, then the id (total and stable)."""
    return (ev.ts, STAGE_ORDER.get(ev.type, 99), ev.id)


def fold(events: Iterable[EventLike], presorted: bool = False) -> CaseView:
    """The case after its events, in event-time order; invalid events are skipped and listed."""
    view = CaseView()
    for ev in (events if presorted else sorted(events, key=order_key)):
        why = check(view, ev)
        if why is None:
            step(view, ev)
        else:
            view.rejected.append((ev.id, why))
    return view

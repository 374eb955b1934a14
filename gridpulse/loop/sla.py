"""SLA clocks of the case loop: deadlines, warnings and escalation (督办) instants.

A policy file (``sla_default.toml`` documents the format) gives each clock -- dispatch,
handle, verify -- an allotment per category and severity. A :class:`Clock` is one such
allotment started at one instant; every instant on it is computed once, up front, so
checking a clock against ``now`` is a few integer comparisons.

Boundary semantics (all inclusive at the instant itself): a clock is "warning" from
``warn_at``, "overdue" from ``deadline`` (the instant the allotted time is used up
counts as late: "within 4 h" means strictly before), and at escalation level i from
``escalations[i-1]``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from gridpulse.catalog import CATEGORIES, SEVERITIES
from gridpulse.clock import HOUR_MS, MINUTE_MS
from gridpulse.loop.calendar import CLOCK24, Calendar, WorkingCalendar, check_keys, load_calendar

# load_calendar and WorkingCalendar are re-exported so callers load both files from here.
__all__ = ["CLOCKS", "Allotment", "Clock", "SlaPolicy", "WorkingCalendar", "load_calendar", "load_policy",
           "parse_duration"]

CLOCKS = ("dispatch", "handle", "verify")
DEFAULT_POLICY = Path(__file__).with_name("sla_default.toml")
_NUM = r"(\d+(?:\.\d+)?)"
_DURATION = re.compile(rf"(?:{_NUM}d)?(?:{_NUM}h)?(?:{_NUM}m)?")


@dataclass(frozen=True)
class Allotment:
    """Time allowed on a clock: ``days`` of the clock's calendar plus fixed ``ms``.

    Days stay symbolic until a calendar is known, because a day is 9 working hours on
    the working calendar but 24 hours on the 24/7 one.
    """

    days: float = 0.0
    ms: int = 0

    def to_ms(self, day_ms: int) -> int:
        """Milliseconds of the clock's own time, given the length of its day."""
        return round(self.days * day_ms) + self.ms

    def scaled(self, factor: float) -> Allotment:
        """This allotment times ``factor``."""
        return Allotment(self.days * factor, round(self.ms * factor))


def parse_duration(text: str) -> Allotment:
    """Parse ``"1d4h30m"``-style text (each unit at most once, in d-h-m order)."""
    if not isinstance(text, str):
        raise ValueError(f"expected a duration string like '4h', got {text!r}")
    m = _DURATION.fullmatch(text)
    if not text or m is None:
        raise ValueError(f"bad duration {text!r}: use e.g. '30m', '4h', '2d', '1d4h'")
    d, h, mins = (float(g) if g else 0.0 for g in m.groups())
    out = Allotment(d, round(h * HOUR_MS + mins * MINUTE_MS))
    if out.days <= 0 and out.ms <= 0:
        raise ValueError(f"bad duration {text!r}: must be positive")
    return out


@dataclass(frozen=True, slots=True)
class Clock:
    """One running SLA clock; every instant is epoch ms, computed when it starts."""

    name: str  # dispatch / handle / verify
    start: int
    deadline: int
    warn_at: int
    escalations: tuple[int, ...]  # instant of each escalation level, town first
    allotted_ms: int  # in the clock's own time (working or 24/7)
    working: bool  # True: counts working time only


@dataclass(frozen=True)
class SlaPolicy:
    """Allotments per (clock, category, severity) plus warning and escalation rules."""

    allotments: Mapping[tuple[str, str, int], Allotment]
    warn_fraction: float = 0.8
    escalation_multiples: tuple[float, ...] = (1.5, 2.0, 3.0)
    levels: tuple[str, ...] = ("town", "district", "city")
    urgent_severities: frozenset[int] = frozenset({1})

    def allotment(self, name: str, category: str, severity: int) -> Allotment:
        """The allotment for one clock, category and severity (ValueError if unknown)."""
        try:
            return self.allotments[(name, category, severity)]
        except KeyError:
            raise ValueError(f"no SLA for clock={name!r} category={category!r} "
                             f"severity={severity!r}") from None

    def calendar_for(self, severity: int, calendar: Calendar) -> Calendar:
        """The calendar a clock of ``severity`` runs on: 24/7 if urgent, else ``calendar``."""
        return CLOCK24 if severity in self.urgent_severities else calendar

    def clock(self, name: str, category: str, severity: int, start_ms: int, calendar: Calendar) -> Clock:
        """Start clock ``name`` for a case at ``start_ms`` (``calendar``: the working one)."""
        cal = self.calendar_for(severity, calendar)
        allotted = self.allotment(name, category, severity).to_ms(cal.day_ms)
        return Clock(
            name=name, start=start_ms,
            deadline=cal.add(start_ms, allotted),
            warn_at=cal.add(start_ms, round(allotted * self.warn_fraction)),
            escalations=tuple(cal.add(start_ms, round(allotted * m)) for m in self.escalation_multiples),
            allotted_ms=allotted, working=cal.working,
        )

    def status(self, clock: Clock, now_ms: int, calendar: Calendar | None = None) -> str:
        """``"ok"``, ``"warning"`` (from ``warn_at``) or ``"overdue"`` (from ``deadline``).

        ``calendar`` is accepted for symmetry with :meth:`remaining_ms` but not needed:
        the clock's instants already encode its calendar, and comparing instants is
        exactly comparing elapsed working time because ``add`` returns the earliest
        instant.
        """
        if now_ms >= clock.deadline:
            return "overdue"
        return "warning" if now_ms >= clock.warn_at else "ok"

    def escalation_level(self, clock: Clock, now_ms: int) -> int:
        """0 (none) .. len(levels) (city): how many escalation instants have passed."""
        return sum(1 for t in clock.escalations if now_ms >= t)

    def level_name(self, level: int) -> str | None:
        """Name of escalation ``level`` (``None`` for 0)."""
        return self.levels[level - 1] if level else None

    def remaining_ms(self, clock: Clock, now_ms: int, calendar: Calendar) -> int:
        """Time left before the deadline in the clock's own time; negative once overdue.

        Before the clock starts, the whole allotment remains.
        """
        cal = calendar if clock.working else CLOCK24
        if now_ms <= clock.start:
            return clock.allotted_ms
        if now_ms <= clock.deadline:
            return cal.between(now_ms, clock.deadline)
        return -cal.between(clock.deadline, now_ms)


def _is_number(x: object) -> bool:
    # TOML booleans are Python bools, which are ints: keep them out.
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _resolve(name: str, table: dict) -> dict[tuple[str, str, int], Allotment]:
    """Flatten one clock's table into allotments, most specific entry first."""
    check_keys(table, {"default", "severity", *CATEGORIES}, f"{name}.")
    base = {k: _parse_at(v, f"{name}.{k}") for k, v in table.items() if k != "severity"}
    sev_tables = table.get("severity", {})
    check_keys(sev_tables, {str(s) for s in SEVERITIES}, f"{name}.severity.")
    out = {}
    for sev in SEVERITIES:
        where = f"{name}.severity.{sev}"
        st = sev_tables.get(str(sev), {})
        check_keys(st, {"default", "scale", *CATEGORIES}, where + ".")
        scale = st.get("scale", 1.0)
        if not _is_number(scale) or scale <= 0:
            raise ValueError(f"{where}.scale: must be a positive number, got {scale!r}")
        own = {k: _parse_at(v, f"{where}.{k}") for k, v in st.items() if k != "scale"}
        for cat in CATEGORIES:
            if cat in own:
                a = own[cat]
            elif cat in base:
                a = base[cat].scaled(scale)
            elif "default" in own:
                a = own["default"]
            elif "default" in base:
                a = base["default"].scaled(scale)
            else:
                raise ValueError(f"{name}.{cat}: no allotment for severity {sev} (and no default)")
            out[(name, cat, sev)] = a
    return out


def _parse_at(value: object, key: str) -> Allotment:
    # The policy key goes into the message so a typo is found without a debugger.
    try:
        return parse_duration(value)  # type: ignore[arg-type]
    except ValueError as e:
        raise ValueError(f"{key}: {e}") from None


def load_policy(path: str | Path | None = None) -> SlaPolicy:
    """Read and validate an SLA policy file (``None``: the bundled ``sla_default.toml``).

    Raises ValueError naming the offending key for unknown clocks, categories,
    severities or settings, bad durations, or a category left without an allotment.
    """
    with open(DEFAULT_POLICY if path is None else path, "rb") as f:
        doc = tomllib.load(f)
    check_keys(doc, {"warn_fraction", "urgent_severities", "escalation", *CLOCKS}, "")
    warn = doc.get("warn_fraction", 0.8)
    if not _is_number(warn) or not 0 < warn <= 1:
        raise ValueError(f"warn_fraction: must be in (0, 1], got {warn!r}")
    urgent = doc.get("urgent_severities", [1])
    if not isinstance(urgent, list) or any(u not in SEVERITIES for u in urgent):
        raise ValueError(f"urgent_severities: must list severities {sorted(SEVERITIES)}, got {urgent!r}")
    esc = doc.get("escalation", {})
    check_keys(esc, {"multiples", "levels"}, "escalation.")
    mult = tuple(esc.get("multiples", (1.5, 2.0, 3.0)))
    levels = tuple(esc.get("levels", ("town", "district", "city")))
    if not all(_is_number(m) and m >= 1 for m in mult) or list(mult) != sorted(set(mult)):
        raise ValueError(f"escalation.multiples: need increasing numbers >= 1, got {list(mult)}")
    if len(levels) != len(mult):
        raise ValueError(f"escalation.levels: {len(levels)} names for {len(mult)} multiples")
    allot: dict[tuple[str, str, int], Allotment] = {}
    for name in CLOCKS:
        if name not in doc:
            raise ValueError(f"{name}: clock missing from policy")
        allot.update(_resolve(name, doc[name]))
    return SlaPolicy(MappingProxyType(allot), float(warn), mult, levels, frozenset(urgent))

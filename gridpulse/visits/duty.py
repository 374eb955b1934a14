"""Duty hours, and when a terminal last heard at some instant counts as silent. Pure.

A terminal is judged silent only within the duty hours (``GRIDPULSE_DUTY_HOURS``) of
the local day it was last heard on: the live count (:mod:`gridpulse.visits.facts`) and
the alert (:mod:`gridpulse.visits.day`) both start from :func:`silence_window`.
"""

from __future__ import annotations

from gridpulse.clock import day_start_ms, local_day

from .rules import VisitRules


def duty_window(day: int, rules: VisitRules) -> tuple[int, int]:
    """Start and end (epoch ms) of duty hours on local ``day``."""
    base = day_start_ms(day, rules.tz)
    return base + rules.duty_start_min * 60_000, base + rules.duty_end_min * 60_000


def silence_window(seen: int, rules: VisitRules) -> tuple[int, int] | None:
    """``(from, until)``: when a terminal last heard at ``seen`` counts as silent if
    nothing more arrives (duty hours of ``seen``'s day only), else None."""
    if not seen:
        return None
    start, end = duty_window(local_day(seen, rules.tz), rules)
    at = max(seen, start) + rules.silent_ms
    return (at, end) if at < end else None

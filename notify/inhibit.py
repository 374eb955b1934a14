"""Inhibition: an alert that fires mutes others that its rule names, with equal labels.

As in Alertmanager, a rule mutes a *target* alert (matching ``target``) while a *source*
alert (matching ``source``, not the target itself) fires with the same values of the
``equal`` labels. Unlike Alertmanager, the question is asked at an event time: a flush
at ``now`` is muted by every source that fires at ``now`` (started at or before it, not
resolved by then), whatever order the two arrived in or how late. Sources are indexed
by their equal-label values, so a check costs one dict look-up per rule.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from .labels import Tracked
from .matchers import Matcher, all_match


@dataclass(frozen=True)
class InhibitRule:
    """Sources matching ``source`` mute targets matching ``target`` with equal ``equal`` labels."""

    source: tuple[Matcher, ...]
    target: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()


class Inhibitor:
    """The rules and the source alerts each has seen."""

    def __init__(self, rules: list[InhibitRule]) -> None:
        self.rules = rules
        self._sources: list[dict[tuple, list[Tracked]]] = [defaultdict(list) for _ in rules]

    def add(self, t: Tracked) -> None:
        """Remember ``t`` as a source of every rule whose source matchers it matches."""
        for rule, idx in zip(self.rules, self._sources):
            if all_match(rule.source, t.labels):
                idx[tuple(t.labels.get(n, "") for n in rule.equal)].append(t)

    def remove(self, t: Tracked) -> None:
        """Forget ``t`` (it aged out)."""
        for rule, idx in zip(self.rules, self._sources):
            key = tuple(t.labels.get(n, "") for n in rule.equal)
            lst = idx.get(key)
            if lst and t in lst:
                lst.remove(t)
                if not lst:
                    del idx[key]

    def muted_by(self, t: Tracked, now: int) -> Tracked | None:
        """A source that mutes ``t`` at event time ``now``, or None."""
        for rule, idx in zip(self.rules, self._sources):
            if not all_match(rule.target, t.labels):
                continue
            for s in idx.get(tuple(t.labels.get(n, "") for n in rule.equal), ()):
                if s is not t and s.fp != t.fp and s.firing_at(now):
                    return s
        return None

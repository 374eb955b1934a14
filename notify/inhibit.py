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
        self._targets: list[dict[tuple, list[Tracked]]] = [defaultdict(list) for _ in rules]

    def add(self, t: Tracked) -> list[tuple[int, tuple]]:
        """Remember ``t`` as a source of every rule whose source matchers it matches, and
        which rules may mute it (``t.targets``); the ``(rule, equal values)`` it is a source in."""
        sources = []
        t.targets = []
        for i, (rule, idx) in enumerate(zip(self.rules, self._sources)):
            key = tuple(t.labels.get(n, "") for n in rule.equal)
            if all_match(rule.source, t.labels):
                idx[key].append(t)
                sources.append((i, key))
            if all_match(rule.target, t.labels):
                t.targets.append((i, key))
                self._targets[i][key].append(t)
        return sources

    def targets_of(self, bucket: tuple[int, tuple]) -> list[Tracked]:
        """The alerts a source in ``bucket`` may mute."""
        return self._targets[bucket[0]].get(bucket[1], [])

    def sources_of(self, t: Tracked) -> list[tuple[int, tuple]]:
        """The buckets ``t`` is a source in."""
        return [(i, k) for i, idx in enumerate(self._sources) for k, lst in idx.items() if t in lst] \
            if any(self.rules) else []

    def remove(self, t: Tracked) -> None:
        """Forget ``t`` (it aged out)."""
        for rule, idx, tidx in zip(self.rules, self._sources, self._targets):
            key = tuple(t.labels.get(n, "") for n in rule.equal)
            for d in (idx, tidx):
                lst = d.get(key)
                if lst and t in lst:
                    lst.remove(t)
                    if not lst:
                        del d[key]

    def muted_by(self, t: Tracked, now: int) -> Tracked | None:
        """A source that mutes ``t`` at event time ``now``, or None."""
        for i, key in t.targets:
            for s in self._sources[i].get(key, ()):
                if s is not t and s.fp != t.fp and s.firing_at(now):
                    return s
        return None

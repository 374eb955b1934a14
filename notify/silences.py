"""Silences: people mute the alerts some matchers select, from a start to an end.

A silence mutes a flush at event time ``at`` if all its matchers match the alert,
``at`` is before its ``end``, and its ``start`` has come, by event time or by the wall
clock (``wall``): a silence set "from now" also covers the alerts of the last minutes
still waiting to be sent, whose event time is a little behind the wall clock. Pure.
"""

from __future__ import annotations

import uuid

from gridpulse.schemas import Silence, SilenceMatcher

from .matchers import Matcher, all_match


def matchers_of(s: Silence) -> tuple[Matcher, ...]:
    """The silence's matchers, compiled."""
    return tuple(Matcher.make(m.name, m.op, m.value) for m in s.matchers)


def state(s: Silence, wall: int) -> str:
    """``pending`` (not started), ``active`` or ``expired`` at wall time ``wall``."""
    if s.end <= wall:
        return "expired"
    return "active" if s.start <= wall else "pending"


class Silences:
    """The silences known, newest version of each id."""

    def __init__(self) -> None:
        self.by_id: dict[str, tuple[Silence, tuple[Matcher, ...]]] = {}

    def put(self, s: Silence) -> None:
        """Add or replace (by ``updated``: an older version never wins) a silence."""
        old = self.by_id.get(s.id)
        if old is None or old[0].updated <= s.updated:
            self.by_id[s.id] = (s, matchers_of(s))

    def silenced_by(self, labels: dict[str, str], at: int, wall: int) -> Silence | None:
        """A silence that mutes an alert with ``labels`` in a flush at event time ``at``."""
        for s, ms in self.by_id.values():
            if at < s.end and s.start <= max(at, wall) and all_match(ms, labels):
                return s
        return None

    def listing(self, wall: int, include_expired: bool = False) -> list[Silence]:
        """The silences, newest first (expired ones only if asked)."""
        out = [s for s, _ in self.by_id.values() if include_expired or state(s, wall) != "expired"]
        return sorted(out, key=lambda s: (-s.start, s.id))


def new_silence(matchers: list[Matcher], start: int, end: int, creator: str, comment: str,
                now: int) -> Silence:
    """A new silence (ValueError naming what is wrong)."""
    if not matchers:
        raise ValueError("matchers: at least one matcher is required")
    if end <= start:
        raise ValueError("end: must be after start")
    if end <= now:
        raise ValueError("end: must be in the future")
    if not creator.strip():
        raise ValueError("creator: required")
    if all(m.matches({}) for m in matchers):
        # As Alertmanager: matchers that all match the empty value would silence everything.
        raise ValueError("matchers: would silence every alert; name a label value")
    return Silence(id=f"sil-{uuid.uuid4().hex[:16]}",
                   matchers=[SilenceMatcher(name=m.name, op=m.op, value=m.value) for m in matchers],
                   start=start, end=end, creator=creator.strip()[:64], comment=comment.strip()[:500],
                   created=now, updated=now)


def expired(s: Silence, now: int) -> Silence:
    """``s`` ended at ``now`` (an already ended one is returned as it is)."""
    import msgspec
    if s.end <= now:
        return s
    return msgspec.structs.replace(s, start=min(s.start, now), end=now, updated=now)

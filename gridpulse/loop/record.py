"""What a worker remembers of a case, as saved in Redis (msgpack), and read back by views.

The history keeps every step with who, when, where and what (全程留痕); the projection's
state is the fold of it (:mod:`gridpulse.loop.lifecycle`).
"""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from gridpulse.schemas import CaseEvent

from .lifecycle import STAGE_ORDER


class H(NamedTuple):
    """One history entry (全程留痕: who, when, where, what); tuple order is event-time order."""

    ts: int
    rank: int
    type: str
    id: str
    dept: str | None
    satisfaction: int | None
    actor: str | None = None
    terminal: str | None = None
    lon: float | None = None
    lat: float | None = None
    reason: str | None = None
    note: str | None = None


class CaseRecord(msgspec.Struct, array_like=True):
    """What a partition remembers of one case (persisted as msgpack)."""

    grid: str
    category: str
    severity: int
    reported: int  # event time of the report, 0 until the report is seen
    lon: float | None
    lat: float | None
    history: list[H]
    emitted: list[str] = []  # alert ids already published
    dead: list[str] = []  # event ids already dead-lettered
    raw: dict[str, bytes] = {}  # original bytes of events that broke a rule on arrival
    reporter: str = ""  # the grid worker who reported it

    def has(self, event_id: str) -> bool:
        """Whether event ``event_id`` was already seen."""
        return event_id in self.dead or any(h.id == event_id for h in self.history)


def entry(ev: CaseEvent) -> H:
    """The history entry of an event."""
    return H(ev.ts, STAGE_ORDER.get(ev.type, 99), ev.type, ev.id, ev.dept, ev.satisfaction,
             ev.actor, ev.terminal, ev.lon, ev.lat, ev.reason, ev.note)



DECODER = msgspec.msgpack.Decoder(CaseRecord)
ENCODER = msgspec.msgpack.Encoder()

"""The GPS projection of one Kafka partition: latest fix per terminal. Pure, no I/O.

The latest fix is the one with the greatest event time, so the result does not depend
on arrival order, and re-applying a batch changes nothing.
"""

from __future__ import annotations

from gridpulse.schemas import GpsBatch

Position = tuple[int, float, float, str, str]  # (ts, lon, lat, grid, worker)


class GpsPartition:
    """Projection of one ``gps-fixes`` partition."""

    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.offset = -1
        self.watermark = 0
        self.positions: dict[str, Position] = {}
        self.dirty: set[str] = set()

    def apply(self, batch: GpsBatch, offset: int) -> bool:
        """Apply one validated batch at Kafka ``offset``; False if nothing changed."""
        if offset <= self.offset:
            return False
        self.offset = offset
        fixes = batch.fixes
        last = fixes[-1]
        for f in fixes:  # terminals send fixes in time order; check rather than trust
            if f.ts > last.ts:
                last = f
        if last.ts > self.watermark:
            self.watermark = last.ts
        cur = self.positions.get(batch.terminal)
        # Ties on time break on position so the winner never depends on arrival order.
        if cur is not None and cur[:3] >= (last.ts, last.lon, last.lat):
            return False
        self.positions[batch.terminal] = (last.ts, last.lon, last.lat, batch.grid, batch.worker)
        self.dirty.add(batch.terminal)
        return True

    def clear_dirty(self) -> None:
        """Forget what changed (after a successful write)."""
        self.dirty = set()

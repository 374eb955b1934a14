"""Redis key layout of the live views, shared by the writers (streams/) and readers.

Each Kafka partition's projection lives under its own keys and carries the offset it
reflects, so writes are absolute and idempotent; readers merge across partitions.
"""

from __future__ import annotations

CASE = "case"
GPS = "gps"


class Keys:
    """Key names under one prefix (``GRIDPULSE_REDIS_PREFIX``)."""

    def __init__(self, prefix: str = "gp:") -> None:
        self.prefix = prefix

    def parts(self, kind: str) -> str:
        """Set of partition numbers that have a projection of ``kind``."""
        return f"{self.prefix}parts:{kind}"

    def meta(self, kind: str, p: int) -> str:
        """Hash: ``offset`` (last applied) and ``wm`` (max event time) of a partition."""
        return f"{self.prefix}{kind}:{p}:meta"

    def cases(self, p: int) -> str:
        """Hash: case id -> msgpack case record (the worker's recoverable state)."""
        return f"{self.prefix}case:{p}:cases"

    def kpi(self, p: int) -> str:
        """Hash: counter key (see ``gridpulse.loop.facts``) -> value in this partition."""
        return f"{self.prefix}case:{p}:kpi"

    def recent(self, p: int) -> str:
        """Sorted set: case id scored by report time, the last hours' cases."""
        return f"{self.prefix}case:{p}:recent"

    def recent_info(self, p: int) -> str:
        """Hash: case id -> JSON summary for the ticker and the map."""
        return f"{self.prefix}case:{p}:recentinfo"

    def positions(self, p: int) -> str:
        """Hash: terminal id -> JSON ``[ts, lon, lat, grid, worker]`` latest fix."""
        return f"{self.prefix}gps:{p}:pos"

    def pattern(self) -> str:
        """Glob matching every key under this prefix."""
        return f"{self.prefix}*"

"""What a running worker says about itself, for every screen to judge the views' freshness.

Every ``EVERY_S`` each worker rewrites its entry in the hash ``gp:workers``
(docs/contract.md, "Redis views"): which partitions it owns, how many records it is
behind the log, which partitions it is rebuilding from Kafka and how far, and whether it
is waiting for Redis or the broker. Readers take an entry older than a minute for a dead
worker; writers delete such entries.
"""

from __future__ import annotations

import os
import socket

import msgspec
import redis.asyncio as aioredis

from gridpulse.rkeys import Keys

#: How often a worker rewrites its entry.
EVERY_S = 2.0
#: An entry not rewritten for this long is a dead worker's.
DEAD_MS = 60_000

_json = msgspec.json.Encoder()


def instance_id() -> str:
    """This worker process: ``<host>:<pid>``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lag(highwater: int | None, applied: int | None) -> int:
    """Records behind: the log's next offset minus what is applied (0 when unknown)."""
    if highwater is None or highwater < 0:
        return 0
    return max(0, highwater - ((applied if applied is not None else -1) + 1))


def doc(now: int, owned: dict[str, list[int]], behind: dict[str, int | None],
        rebuilding: list[dict], waiting: str | None, instance: str) -> dict:
    """The entry (pure): ``owned`` and ``behind`` by stream kind (``case``, ``gps``)."""
    return {"at": now, "id": instance, "case": sorted(owned.get("case", ())),
            "gps": sorted(owned.get("gps", ())),
            "lag": {"case": behind.get("case", 0), "gps": behind.get("gps", 0)},
            "rebuilding": rebuilding, "waiting": waiting}


def dead(entries: dict[bytes, bytes], now: int) -> list[bytes]:
    """The fields of ``gp:workers`` whose worker stopped writing (or that do not parse)."""
    out = []
    for field, raw in entries.items():
        try:
            at = int(msgspec.json.decode(raw).get("at", 0))
        except (msgspec.DecodeError, AttributeError, TypeError, ValueError):
            at = 0
        if now - at > DEAD_MS:
            out.append(field)
    return out


async def write(r: aioredis.Redis, keys: Keys, entry: dict) -> None:
    """Rewrite this worker's entry and delete the entries of workers that stopped."""
    await r.hset(keys.workers(), entry["id"], _json.encode(entry))
    gone = dead(await r.hgetall(keys.workers()), entry["at"])
    if gone:
        await r.hdel(keys.workers(), *gone)

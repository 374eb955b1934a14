"""A partition's projection as bytes: read from Redis consistently, written back atomically.

An image holds every Redis key of one partition's projection (``<prefix><kind>:<p>:*``,
whatever they are: records, counters, rows, meta) and, for a GPS partition, what its
terminals wrote per terminal-day in the last ``days`` days (routes, stays, day
summaries), all read in one MULTI so they reflect one offset. Key names are stored
without the deployment's prefix, so an image can be written under another prefix (a
rebuild into fresh keys, :mod:`streams.rebuild`).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import redis.asyncio as aioredis
from redis.exceptions import WatchError

from gridpulse.clock import local_day
from gridpulse.rkeys import CASE, GPS, Keys, partition_keys

from .redis_store import Conflict

#: Fields a hash write carries at most (a large hash is written in several HSETs).
_HSET_CHUNK = 5_000


class Image(msgspec.Struct, array_like=True):
    """One partition's projection at ``offset``: ``keys`` are ``[name without prefix,
    type, content, ttl_s]``; a ``"fields"`` entry is part of a hash others write too."""

    kind: str
    partition: int
    offset: int
    fp: str
    keys: list[tuple[str, str, object, int]]


_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(Image)


def encode(image: Image) -> bytes:
    """The image's bytes."""
    return _enc.encode(image)


def decode(raw: bytes) -> Image:
    """The image of ``raw``."""
    return _dec.decode(raw)


@dataclass(frozen=True)
class _Wanted:
    name: str  # without the prefix
    kind: str  # hash, zset, string, list, fields
    fields: tuple[str, ...] = ()  # for "fields"


def _known(k: Keys, kind: str, p: int) -> dict[str, str]:
    """The partition's keys the writers create, by name, with their types."""
    return {n: "zset" if kind == CASE and n == k.recent(p) else "hash" for n in partition_keys(k, kind, p)}


async def _partition_keys(r, k: Keys, kind: str, p: int) -> list[_Wanted]:
    """Every key of the partition: the known ones (present or not: one may appear while
    the image is read) and any other the scan finds."""
    known = _known(k, kind, p)
    extra = [key.decode() async for key in r.scan_iter(match=f"{k.prefix}{kind}:{p}:*", count=100)
             if key.decode() not in known]
    types = {}
    for name in extra:  # rare: a key family this module does not know yet
        t = await r.type(name)
        types[name] = t.decode() if isinstance(t, bytes) else t
    return ([_Wanted(n[len(k.prefix):], t) for n, t in known.items()]
            + [_Wanted(n[len(k.prefix):], t) for n, t in types.items() if t in ("hash", "zset", "string", "list")])


def _day_keys(k: Keys, terminals: list[str], first_day: int, last_day: int) -> list[_Wanted]:
    out = []
    for day in range(first_day, last_day + 1):
        for t in terminals:
            out += [_Wanted(k.route(day, t)[len(k.prefix):], "string"),
                    _Wanted(k.visits(day, t)[len(k.prefix):], "list")]
        if terminals:
            out.append(_Wanted(k.wday(day)[len(k.prefix):], "fields", tuple(terminals)))
    return out


async def take(r: aioredis.Redis, k: Keys, kind: str, p: int, tz: str, days: int = 2,
               attempts: int = 5) -> Image | None:
    """The partition's projection as one consistent image (None if it has none)."""
    for _ in range(attempts):
        async with r.pipeline(transaction=True) as tx:
            try:
                # Any write to the partition (each writes its meta) or a terminal added
                # between here and the read makes the read start again.
                await tx.watch(k.meta(kind, p), *([k.terms(p)] if kind == GPS else []))
                if not await tx.exists(k.meta(kind, p)):
                    return None
                wanted = await _partition_keys(tx, k, kind, p)
                wm = await tx.hget(k.meta(kind, p), "wm")
                if kind == GPS and wm and days > 0:
                    terminals = sorted(t.decode() for t in await tx.hkeys(k.terms(p)))
                    today = local_day(int(wm), tz)
                    wanted += _day_keys(k, terminals, today - days + 1, today)
                tx.multi()
                for w in wanted:
                    name = k.prefix + w.name
                    if w.kind == "hash":
                        tx.hgetall(name)
                    elif w.kind == "zset":
                        tx.zrange(name, 0, -1, withscores=True)
                    elif w.kind == "string":
                        tx.get(name)
                    elif w.kind == "list":
                        tx.lrange(name, 0, -1)
                    elif w.kind == "fields":
                        tx.hmget(name, list(w.fields))
                    tx.ttl(name)
                got = await tx.execute()
            except WatchError:
                continue
        keys = []
        for i, w in enumerate(wanted):
            content, ttl = got[2 * i], got[2 * i + 1]
            if w.kind == "fields":
                content = {f: v for f, v in zip(w.fields, content) if v is not None}
            elif w.kind == "zset":
                content = [[m, s] for m, s in content]
            if content in (None, b"", [], {}):
                continue
            keys.append((w.name, w.kind, content, max(int(ttl), 0)))
        metas = [c for n, t, c, _ in keys if n == f"{kind}:{p}:meta"]
        if not metas:
            return None
        m = {a.decode(): b.decode() for a, b in metas[0].items()}
        return Image(kind, p, int(m.get("offset", -1)), m.get("fp", ""), keys)
    raise Conflict(f"{kind} partition {p}: its terminals kept changing while it was read")


async def restore(r: aioredis.Redis, k: Keys, image: Image) -> None:
    """Write ``image`` under ``k``'s prefix in one transaction, replacing the partition's
    keys; only while the partition has no meta there (nothing to overwrite)."""
    meta = k.meta(image.kind, image.partition)
    async with r.pipeline(transaction=True) as tx:
        try:
            await tx.watch(meta)
            if await tx.exists(meta):
                raise Conflict(f"{image.kind} partition {image.partition}: Redis holds a projection")
            tx.multi()
            for name, kind, content, ttl in sorted(image.keys, key=lambda e: e[0].endswith(":meta")):
                key = k.prefix + name
                if kind != "fields":
                    tx.delete(key)
                if kind in ("hash", "fields"):
                    items = list(content.items())
                    for i in range(0, len(items), _HSET_CHUNK):
                        tx.hset(key, mapping=dict(items[i:i + _HSET_CHUNK]))
                elif kind == "zset":
                    tx.zadd(key, {m: s for m, s in content})
                elif kind == "string":
                    tx.set(key, content)
                elif kind == "list":
                    tx.rpush(key, *content)
                if ttl > 0:
                    tx.expire(key, ttl)
            tx.sadd(k.parts(image.kind), image.partition)
            await tx.execute()
        except WatchError as exc:
            raise Conflict(f"{image.kind} partition {image.partition}: concurrent write") from exc

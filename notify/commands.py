"""The notifier's command line: ``gridpulse notify [check FILE | log]`` and
``gridpulse silence add|ls|expire``. Silences are written to the ``silences`` topic
(read back from it by ``ls``); the log is read from Redis, where the notifier keeps it."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import msgspec
import redis

from gridpulse.clock import fmt_local, parse_local
from gridpulse.rkeys import Keys
from gridpulse.schemas import Silence, decode_notification, decode_silence, encode
from gridpulse.settings import Settings
from gridpulse.topics import SILENCES

from . import matchers as mt
from .config import ConfigError, load_config
from .fields import duration_ms
from .silences import expired, new_silence, state


def check(path: str) -> int:
    """Validate a configuration file: 0 and a summary, or 1 and the field at fault."""
    try:
        cfg = load_config(path)
    except ConfigError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(cfg.summary(), ensure_ascii=False, indent=1))
    print(f"{path}: ok", file=sys.stderr)
    return 0


def note_doc(n) -> dict:
    """A notification as a JSON document: every field (defaults too), no request body."""
    d = msgspec.to_builtins(msgspec.structs.asdict(n))
    d.pop("body", None)
    d["alerts"] = [{"id": a[0], "fingerprint": a[1], "status": a[2]} if isinstance(a, list) else a
                   for a in d["alerts"]]
    return d


def log_rows(r: redis.Redis, keys: Keys, alert: str | None = None, receiver: str | None = None,
             status: str | None = None, limit: int = 50) -> list[dict]:
    """Notification log records, newest first (from Redis, as the notifier mirrors them)."""
    if alert:
        ids = list(r.smembers(keys.notify_alert(alert)))
    else:
        ids = r.zrevrange(keys.notify_log_ts(), 0, max(limit * 4, 500) - 1)
    raws = r.hmget(keys.notify_log(), ids) if ids else []
    rows = [note_doc(decode_notification(x)) for x in raws if x]
    rows = [n for n in rows if (not receiver or n["receiver"] == receiver) and (not status or n["status"] == status)]
    rows.sort(key=lambda n: (-(n.get("decided") or n["at"]), n["key"]))
    return rows[:limit]


def cmd_log(s: Settings, args) -> int:
    rows = log_rows(redis.Redis.from_url(s.redis_url), Keys(s.redis_prefix), args.alert, args.receiver,
                    args.status, args.limit)
    if args.json:
        for n in rows:
            print(json.dumps(n, ensure_ascii=False))
        return 0
    print(f"{'decided':19}  {'status':7} {'att':>3} {'latency':>8}  {'receiver':16} {'alerts':>6}  key / group")
    for n in rows:
        when = fmt_local(n["decided"], s.timezone) if n.get("decided") else "-"
        lat = f"{n.get('latency_ms', 0) / 1000:.1f}s" if n.get("latency_ms") else "-"
        print(f"{when:19}  {n['status']:7} {n.get('attempts', 0):>3} {lat:>8}  {n['receiver'][:16]:16} "
              f"{len(n['alerts']):>6}  {n['key']} {n['group_key']}"
              + (f"\n{'':39}error: {n['error']}" if n.get("error") else ""))
    print(f"({len(rows)} notifications)")
    return 0


def _producer(s: Settings):
    from kafka import KafkaProducer
    kw = {"enable_idempotence": True} if s.kafka_idempotent else {}
    return KafkaProducer(bootstrap_servers=s.kafka_bootstrap.split(","), acks="all",
                         client_id="gridpulse-silence", **kw)


def write_silence(s: Settings, sil: Silence) -> None:
    """Write ``sil`` to the silences topic and wait for the broker."""
    p = _producer(s)
    try:
        p.send(s.topic(SILENCES), key=sil.id.encode(), value=encode(sil)).get(timeout=15)
    finally:
        p.close(timeout=5)


async def _read_silences(bootstrap: str, topic: str) -> dict[str, Silence]:
    from aiokafka import AIOKafkaConsumer
    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, enable_auto_commit=False,
                         auto_offset_reset="earliest")
    await c.start()
    out: dict[str, Silence] = {}
    try:
        while batch := await c.getmany(timeout_ms=1500):
            for recs in batch.values():
                for rec in recs:
                    try:
                        sil = decode_silence(rec.value)
                    except Exception:  # noqa: BLE001 - dead-lettered by the notifier
                        continue
                    if sil.id not in out or out[sil.id].updated <= sil.updated:
                        out[sil.id] = sil
    finally:
        await c.stop()
    return out


def read_silences(s: Settings) -> dict[str, Silence]:
    """Every silence's newest version, read from the topic."""
    return asyncio.run(_read_silences(s.kafka_bootstrap, s.topic(SILENCES)))


def _when(text: str | None, tz: str, default: int) -> int:
    return default if not text else parse_local(text, tz)


def cmd_silence(s: Settings, args) -> int:
    now = int(time.time() * 1000)
    if args.cmd_sil == "add":
        try:
            ms = [mt.parse(t) for t in args.matcher]
            start = _when(args.start, s.timezone, now)
            end = _when(args.end, s.timezone, 0) if args.end else start + duration_ms(args.duration)
            sil = new_silence(ms, start, end, args.creator, args.comment or "", now)
        except ValueError as exc:
            sys.exit(f"gridpulse silence add: {exc}")
        write_silence(s, sil)
        print(sil.id)
        return 0
    sils = read_silences(s)
    if args.cmd_sil == "expire":
        sil = sils.get(args.id)
        if sil is None:
            sys.exit(f"gridpulse silence expire: no silence {args.id!r}")
        write_silence(s, expired(sil, now))
        print(f"{args.id} expired")
        return 0
    rows = sorted(sils.values(), key=lambda x: (-x.start, x.id))
    rows = [x for x in rows if args.all or state(x, now) != "expired"]
    for x in rows:
        if args.json:
            print(json.dumps(msgspec.to_builtins(x) | {"state": state(x, now)}, ensure_ascii=False))
        else:
            ms = ", ".join(str(mt.Matcher.make(m.name, m.op, m.value)) for m in x.matchers)
            print(f"{x.id}  {state(x, now):8} {fmt_local(x.start, s.timezone, '%m-%d %H:%M')} -> "
                  f"{fmt_local(x.end, s.timezone, '%m-%d %H:%M')}  {x.creator}: {{{ms}}}  {x.comment}")
    if not args.json:
        print(f"({len(rows)} silences)")
    return 0

"""When Redis does not hold what the log says it should: detect it, and rebuild from Kafka.

Kafka is the system of record and Redis a cache of projections, each saved with the
offset it reflects and a fingerprint of the record at that offset (meta ``offset``,
``fp``) and how many records it holds (``n``). Three things can go wrong, and each is
repaired from the log, by the worker, without anyone asking:

- **Redis lost the projection** (flushed, a new empty Redis, a lost key): the partition
  loads empty or short (``n`` does not match), so the consumer's records start past what
  Redis reflects. The gap is read straight from the log (:mod:`streams.log_reader`) and
  applied first: :func:`catch_up`.
- **The log is not the one the views came from** (a broker restarted empty, topics
  deleted and recreated): the record at the saved offset is missing or different.
  The partition's views are deleted and rebuilt from the new log: :func:`check_log`.
- **Records the views need are gone from the log** (retention deleted them): nothing
  can rebuild them exactly; the worker says so loudly, applies what is left, and the
  partition's meta records ``incomplete`` for the screens to show.

Progress of a catch-up is in ``proc.rebuilding`` (the worker status shows it).
"""

from __future__ import annotations

import logging
import time

from gridpulse.clock import fmt_local, now_ms

from . import snapshots
from .log_reader import fingerprint

log = logging.getLogger("gridpulse.recovery")
#: How often an owned partition's log is checked while nothing else asks (two fetches).
CHECK_EVERY_S = 30.0
#: A partition the consumer has delivered nothing for this long, while the log holds
#: more than Redis reflects, is caught up from the log (the consumer read those records
#: before Redis lost them, and will not deliver them again).
IDLE_S = 15.0

async def _differs(proc, p: int, offset: int, fp: str, recs) -> str | None:
    """Why the record at ``offset`` is not the one with fingerprint ``fp`` (None if it
    is, or if retention deleted it and nothing can be said)."""
    here = next((r for r in recs or () if r.offset == offset), None)
    if here is None:
        here = await proc.reader.record_at(p, offset)
    if here is not None:
        if fingerprint(here) == fp:
            return None
        return f"the record at offset {offset} is not the one the views applied"
    first, end = await proc.reader.bounds(p)
    if offset >= end:
        return f"the log ends at offset {end}, but the views hold offset {offset}"
    if offset >= first:
        # It is there but did not come (a broker just back, a slow fetch): try again
        # later rather than take the log on trust.
        raise TimeoutError(f"{proc.topic} partition {p}: the record at offset {offset} "
                           f"did not come from the log")
    return None


async def check_log(proc, st, recs: list | None = None):
    """``st`` if the log still holds what it reflects, else a fresh state after deleting
    the partition's views (the log changed) or what Redis lost (lost keys).

    Two records identify the log: the newest applied (``offset``, ``fp``: a log shorter
    than the views) and an older anchor (``anchor``: a log replaced while a consumer
    read on, whose newest records would otherwise carry fingerprints of the new log).
    An anchor that retention deleted moves to the newest applied record.
    """
    p, why, lost = st.partition, None, False
    if st.offset >= 0 and st.saved_count is not None and st.saved_count != st.count():
        why, lost = (f"Redis holds {st.count()} of the {st.saved_count} records it saved "
                     f"(a key was lost)"), True
    elif st.offset >= 0 and st.fp:
        why = await _differs(proc, p, st.offset, st.fp, recs)
        if why is None and st.anchor is not None:
            a_off, a_fp = st.anchor
            why = await _differs(proc, p, a_off, a_fp, recs)
            if why is None and a_off < (await proc.reader.bounds(p))[0]:
                st.anchor = (st.offset, st.fp)  # saved with the next write
    st.verified_at = time.monotonic()
    if why is None:
        return st
    if await proc.store.saved_offset(proc.kind, p) != st.persisted_offset:
        # Redis moved on without this state: the other stream's processor (or another
        # worker) already deleted the replaced log's views, or a rebuild switched in.
        # Deleting again would wipe what has been rebuilt since; check what is there now.
        return await check_log(proc, await proc._load(p), recs)
    if lost:
        log.error("%s partition %d: %s; deleting its views and rebuilding them from the log",
                  proc.topic, p, why)
        await proc.store.reset(st)
    else:
        n = await proc.store.reset_all()
        log.error("%s partition %d: %s: the log is not the one the views came from; deleted "
                  "every view (%d keys), rebuilding them from the log", proc.topic, p, why, n)
        proc.parts.clear()  # every partition reloads what Redis holds now: nothing
    fresh = await proc._load(p)
    fresh.verified_at = time.monotonic()
    return fresh


async def catch_up(proc, p: int, upto: int) -> None:
    """Apply, from the log itself, the records of partition ``p`` between what Redis
    reflects and offset ``upto`` (the first record the consumer delivered)."""
    st = await proc._state(p)
    if st.offset < 0 and proc.snapshots is not None:
        m = await snapshots.restore_latest(proc.snapshots, proc.reader, proc.store.r, proc.store.k,
                                           proc.kind, p)
        if m is not None:
            log.warning("%s partition %d: restored the snapshot at offset %d (%d bytes, written %s)",
                        proc.topic, p, m.offset, m.bytes, fmt_local(m.at, "UTC")[:19] + " UTC")
            proc.parts.pop(p, None)
            st = await proc._state(p)
    start = st.offset + 1
    first, _ = await proc.reader.bounds(p)
    if start < first:
        log.error("%s partition %d: offsets %d..%d are no longer in the log (retention): "
                  "its views lack them and are marked incomplete", proc.topic, p, start, first - 1)
        st.incomplete = max(st.incomplete, first - 1)
        st.offset, st.fp = first - 1, ""
        start = first
    if start >= upto:
        return
    t0, since = time.monotonic(), now_ms()
    log.warning("%s partition %d: Redis reflects offset %d, the consumer is at %d: reading "
                "%d records from the log", proc.topic, p, start - 1, upto, upto - start)
    proc.rebuilding[p] = {"done": 0.0, "since": since}
    try:
        for _ in range(2):  # a read may stop early on a slow broker: try once more
            async for chunk in proc.reader.read(p, (await proc._state(p)).offset + 1, upto):
                await proc._apply_records(p, chunk)
                proc.rebuilding[p]["done"] = (chunk[-1].offset - start + 1) / (upto - start)
            if (await proc._state(p)).offset >= upto - 1:
                break
        else:
            # Source topics have no gaps in their offsets (no transactional producer
            # writes them): records the log did not deliver are a broker that is slow or
            # away, so the batch is retried as an outage, never applied over a hole.
            raise TimeoutError(f"{proc.topic} partition {p}: the log did not deliver offsets "
                               f"{(await proc._state(p)).offset + 1}..{upto - 1}")
    finally:
        proc.rebuilding.pop(p, None)
    log.warning("%s partition %d: caught up to offset %d in %.1f s", proc.topic, p, upto - 1,
                time.monotonic() - t0)


def needs_check(st, recs: list) -> bool:
    """Whether this batch should trigger a check of the log's identity: it holds records
    at or below what Redis reflects. That happens after a restart or a rebalance (the
    group commits behind Redis: a few batches, each checked by one fetch at most) and
    when the log started again from offset 0; applying them would be wrong in the second
    case, and skipping them as "already applied" silently is what must never happen."""
    return st.offset >= 0 and recs[0].offset <= st.offset

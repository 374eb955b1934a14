"""Delivery to one receiver: its queue, rate limit, concurrency, retries and the log.

Alertmanager's notify pipeline after the dedup stage, as stages: wait for a rate slot
(shared by replicas, store.py), take the lease of each notification (no two replicas
send one), render the request (robots and Alertmanager take every notification waiting
in one request: a burst becomes fewer messages, never more than the limit), log it
``pending`` with its body (landed before a merged request goes; alongside the request
of a single notification, which a restart would decide again identically), then attempt
until a 2xx, classified by retry.py, or until the receiver's ``max_age`` has passed:
``sent`` or ``failed`` in the log. A request carries the same idempotency key on every
attempt; after a crash the pending request is sent again from the log, body and key
unchanged.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Awaitable, Callable

import msgspec

from gridpulse.schemas import Notification

from . import http, signing
from .groups import Decision
from .payload import Render
from .receivers import Receiver
from .retry import FAIL, OK, backoff
from .store import Store

log = logging.getLogger("gridpulse.notify")
MAX_MERGE = 20_000  # notifications one robot or Alertmanager request may carry (its text lists what fits)


@dataclass
class Job:
    """A request to make: fresh decisions, or a pending request read back from the log."""

    notes: list[Notification]
    decisions: list[Decision] = field(default_factory=list)
    body: bytes = b""
    message: str = ""


def message_key(keys: list[str]) -> str:
    """The idempotency key of a request carrying ``keys`` (one: that notification's own)."""
    if len(keys) == 1:
        return keys[0]
    return hashlib.sha256(",".join(sorted(keys)).encode()).hexdigest()[:32]


class ReceiverSender:
    """Sends one receiver's notifications."""

    def __init__(self, r: Receiver, render: Render, store: Store, replica: str,
                 write_log: Callable[[list[Notification]], Awaitable[None]],
                 on_done: Callable[[Decision, bool], None], lease_ms: int = 30_000) -> None:
        self.r, self.render, self.store, self.replica = r, render, store, replica
        self.write_log, self.on_done, self.lease_ms = write_log, on_done, lease_ms
        self.queue: list[Decision] = []
        self.resend: list[Job] = []
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(r.concurrency)
        self._rng = random.Random()
        self._tasks: set[asyncio.Task] = set()
        self.sent = self.failed = self.attempts = 0

    def add(self, d: Decision) -> None:
        """Queue a decided notification."""
        self.queue.append(d)
        self._wake.set()

    def add_pending(self, notes: list[Notification]) -> None:
        """Queue a request found pending in the log (a crash interrupted it)."""
        body = next((n.body for n in notes if n.body), b"")
        self.resend.append(Job(notes, body=body, message=notes[0].message or notes[0].key))
        self._wake.set()

    async def run(self, session) -> None:
        """Send forever."""
        while True:
            if not self.queue and not self.resend:
                self._wake.clear()
                await self._wake.wait()
            await self._slots.acquire()
            try:
                await self._rate_slot()
                job = self._take()
            except BaseException:
                self._slots.release()
                raise
            if job is None:
                self._slots.release()
                continue
            task = asyncio.create_task(self._deliver(session, job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _rate_slot(self) -> None:
        if not self.r.rate:
            return
        member = f"{self.replica}:{time.time_ns()}"
        while (wait := await self.store.rate_slot(self.r.name, self.r.rate_window_ms, self.r.rate, member)):
            await asyncio.sleep(wait / 1000)

    def _take(self) -> Job | None:
        if self.resend:
            return self.resend.pop(0)
        n = MAX_MERGE if self.r.merge else 1
        taken, self.queue = self.queue[:n], self.queue[n:]
        return Job([d.note for d in taken], decisions=taken) if taken else None

    async def _claim(self, job: Job) -> Job | None:
        mine, others = [], []
        for i, note in enumerate(job.notes):
            got = await self.store.claim(note.key, self.replica, self.lease_ms)
            (mine if got == 1 else others).append(i)
        if not mine:
            return None
        if others and job.decisions:  # another replica has some: send the rest
            job = Job([job.notes[i] for i in mine], [job.decisions[i] for i in mine])
        elif others:
            return None  # a logged request is resent whole or not at all
        return job

    def _body(self, job: Job) -> bytes:
        r, ds = self.r, job.decisions
        if r.kind == "webhook":
            d = ds[0]
            return self.render.webhook(r, r.name, d.note.group_key, d.note.group_labels, d.note.at,
                                       [(t, a.status) for t, a in zip(d.alerts, d.note.alerts)])
        if r.kind == "alertmanager":
            return self.render.alertmanager(r, [(t, a.status, d.note.at) for d in ds
                                                for t, a in zip(d.alerts, d.note.alerts)])
        groups = [(d.note.group_labels, [(t, a.status) for t, a in zip(d.alerts, d.note.alerts)]) for d in ds]
        ats = {id(d.note.group_labels): d.note.at for d in ds}
        mobiles = tuple(dict.fromkeys(m for d in ds for m in (d.group.route.opts.at_mobiles or r.at_mobiles)))
        body, cut = self.render.robot(r, groups, ats, mobiles)
        if cut:
            log.info("%s: message lists %d alerts fewer than it carries (size limit)", r.name, cut)
        return body

    async def _deliver(self, session, job: Job) -> None:
        try:
            claimed = await self._claim(job)
            if claimed is None:
                return
            job = claimed
            if not job.body:
                job.body = self._body(job)
                job.message = message_key([n.key for n in job.notes])
            started = time.time()
            notes = [msgspec.structs.replace(n, status="pending", message=job.message, replica=self.replica,
                                             body=job.body if i == 0 else b"")
                     for i, n in enumerate(job.notes)]
            logged = asyncio.ensure_future(self.write_log(notes))
            if self.r.merge:
                # What a merged request carries depends on what was waiting when it was
                # made: only its pending record can make a resend the same request.
                await logged
            # A request of one notification is a function of that notification (decided
            # on event times): a process that dies before its pending record lands decides
            # it again, same body, same key. So the record is written while the request
            # is made, one broker round trip off the path to the receiver.
            try:
                ok, attempts, reason = await self._attempts(session, job, started)
            finally:
                await logged  # the final record must follow it in the log
            status = "sent" if ok else "failed"
            now = int(time.time() * 1000)
            newest = max((t.arrived for d in job.decisions for t in d.alerts), default=0)
            final = [msgspec.structs.replace(n, status=status, attempts=n.attempts + attempts, sent=now,
                                             latency_ms=max(0, now - newest) if newest else 0,
                                             error="" if ok else reason, body=b"") for n in notes]
            await self.write_log(final)
            await self.store.done([n.key for n in final], status)
            self.sent += ok
            self.failed += not ok
            for d in job.decisions:
                self.on_done(d, ok)
            (log.info if ok else log.warning)("%s %s: %d notification(s), key %s, %d attempt(s)%s", self.r.name,
                                              status, len(final), job.message, attempts,
                                              "" if ok else f": {reason}")
        except Exception:  # noqa: BLE001 - one request's bug must not stop the receiver
            log.exception("%s: delivery of %s failed unexpectedly", self.r.name, job.message)
        finally:
            self._slots.release()

    async def _attempts(self, session, job: Job, started: float) -> tuple[bool, int, str]:
        renew = asyncio.create_task(self._renew(job))  # the leases last while we try
        try:
            return await self._try(session, job, started)
        finally:
            renew.cancel()

    async def _try(self, session, job: Job, started: float) -> tuple[bool, int, str]:
        attempt, reason = 0, ""
        while True:
            url = self.r.url
            if self.r.kind == "dingtalk":
                url = signing.dingtalk_url(url, self.r.secret.decode(), int(time.time() * 1000))
            headers = signing.webhook_headers(self.r.secret if self.r.kind == "webhook" else b"", job.body,
                                              job.message, int(time.time()))
            out = await http.post(session, url, job.body, headers, self.r.timeout_ms / 1000, self.r.kind)
            attempt += 1
            self.attempts += 1
            if out.verdict == OK:
                return True, attempt, out.reason
            reason = out.reason
            if out.verdict == FAIL:
                return False, attempt, reason
            delay = max(out.wait, backoff(attempt - 1, self._rng))
            if time.time() + delay - started > self.r.max_age_ms / 1000:
                return False, attempt, f"gave up after {self.r.max_age_ms // 1000} s: {reason}"
            log.info("%s: attempt %d of %s: %s; again in %.1f s", self.r.name, attempt, job.message, reason, delay)
            await asyncio.sleep(delay)
            if self.r.rate:
                await self._rate_slot()

    async def _renew(self, job: Job) -> None:
        while True:  # keep the leases while a request runs (an attempt may take its timeout)
            await asyncio.sleep(self.lease_ms / 3000)
            for n in job.notes:
                await self.store.claim(n.key, self.replica, self.lease_ms)

"""`gridpulse simulate`: drive the simulator on a sped-up clock and publish to Kafka."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import IO

import msgspec

from gridpulse.city import load_city
from gridpulse.clock import fmt_local, now_ms, parse_local
from gridpulse.settings import Settings

from .kafka_out import KafkaSink, ProducerGaveUp
from .simulator import Message, Simulator, start_of_duty

log = logging.getLogger("gridpulse.simulate")
TICK_S = 0.2  # real seconds between two simulator steps


def make_simulator(settings: Settings, start_ms: int | None = None, terminals: int | None = None) -> Simulator:
    """A simulator configured from ``settings``."""
    city = load_city(settings.city)
    if start_ms is None:
        start_ms = (parse_local(settings.sim_start, settings.timezone) if settings.sim_start
                    else start_of_duty(now_ms(), settings.timezone))
    return Simulator(city, seed=settings.sim_seed, start_ms=start_ms, tz=settings.timezone,
                     terminals=settings.sim_terminals if terminals is None else terminals,
                     cases_per_day=settings.sim_cases_per_day,
                     fix_interval_s=settings.sim_fix_interval_s,
                     upload_interval_s=settings.sim_upload_interval_s,
                     late_share=settings.sim_late_share)


class JsonlLog:
    """Writes messages as an event log: one ``{"topic", "key", "value"}`` object a line."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.enc = msgspec.json.Encoder()

    def write(self, messages: list[Message]) -> None:
        """Append ``messages``."""
        for m in messages:
            self.fh.write(self.enc.encode({"topic": m.topic, "key": m.key, "value": m.value}))
            self.fh.write(b"\n")


class Checkpoint:
    """Where a simulator run is: its start and the simulated time Kafka has acknowledged.

    ``gridpulse up`` restarts a simulator that exited; the new one replays the same
    seeded run without sending up to that time and goes on from there, so the events
    continue where they stopped instead of starting a new run whose case ids clash with
    the old ones. The file is rewritten (atomically) at most every ``every_s`` seconds.
    """

    #: Settings that shape the run: a checkpoint of a run made with others is not resumed.
    SHAPE = ("city", "sim_seed", "sim_terminals", "sim_cases_per_day", "sim_fix_interval_s",
             "sim_upload_interval_s", "sim_late_share", "timezone")

    def __init__(self, path: Path, settings: Settings, every_s: float = 1.0) -> None:
        self.path, self.every_s = path, every_s
        self.shape = {k: getattr(settings, k) for k in self.SHAPE}
        self._saved = 0.0

    def load(self) -> tuple[int, int] | None:
        """(start, acknowledged until) of the run to resume, or None."""
        try:
            doc = msgspec.json.decode(self.path.read_bytes())
        except (OSError, msgspec.DecodeError):
            return None
        if not isinstance(doc, dict) or doc.get("shape") != self.shape:
            log.warning("checkpoint %s is of another run (other settings); starting afresh", self.path)
            return None
        return int(doc["start"]), int(doc["acked"])

    def save(self, start: int, acked: int, force: bool = False) -> None:
        """Record that Kafka acknowledged everything up to simulated time ``acked``."""
        now = time.monotonic()
        if not force and now - self._saved < self.every_s:
            return
        tmp = self.path.with_suffix(".tmp")
        tmp.write_bytes(msgspec.json.encode({"shape": self.shape, "start": start, "acked": acked}))
        tmp.replace(self.path)
        self._saved = now


async def simulate(settings: Settings, bootstrap: str | None, *, duration_s: float | None = None,
                   sim_until: int | None = None, out: Path | None = None,
                   as_fast_as_possible: bool = False, checkpoint: Path | None = None) -> dict:
    """Run until ``duration_s`` real seconds or simulated time ``sim_until`` (forever if neither).

    The simulated clock runs ``sim_speed`` times the wall clock; when the rate limit
    cannot keep up, the simulated clock falls behind instead of dropping events, and so
    it does while the broker is unavailable (the sends are retried, see kafka_out.py).
    ``as_fast_as_possible`` ignores the clock (for writing event logs and tests).
    ``checkpoint``: resume the run this file describes, and keep it up to date.

    The result counts the messages made and sent; after a broker outage longer than
    ``producer_max_outage_s`` it also holds ``unsent`` and ``gave_up`` (the reason).
    """
    ck = Checkpoint(checkpoint, settings) if checkpoint else None
    resume = ck.load() if ck else None
    sim = make_simulator(settings, start_ms=resume[0] if resume else None)
    tz = settings.timezone
    first = sim.now
    if resume:
        skipped = _fast_forward(sim, resume[1])
        log.info("resuming the run started at %s (city time) at %s: %d messages already sent "
                 "were made again and skipped", fmt_local(first, tz), fmt_local(sim.now, tz), skipped)
    sink = KafkaSink(settings, bootstrap, name="simulator") if bootstrap else None
    logfile = JsonlLog(open(out, "ab" if resume else "wb")) if out else None
    result: dict = {}
    t0, start, last_report, count = time.monotonic(), sim.now, 0.0, 0
    log.info("simulating %d terminals from %s (city time), speed x%g",
             len(sim.terminals), fmt_local(start, tz), settings.sim_speed)
    try:
        if sink:
            await sink.start()
        while True:
            elapsed = time.monotonic() - t0
            if duration_s is not None and elapsed >= duration_s:
                break
            target = (sim.now + 60_000 if as_fast_as_possible
                      else start + int(elapsed * settings.sim_speed * 1000))
            # Never take a step of more than one tick's worth: if we fell behind, the
            # simulated clock slows down rather than bursting.
            if not as_fast_as_possible:
                target = min(target, sim.now + int(TICK_S * settings.sim_speed * 1000))
            if sim_until is not None:
                target = min(target, sim_until)
            if target > sim.now:
                msgs = sim.advance(target)
                count += len(msgs)
                if logfile:
                    logfile.write(msgs)
                if sink:
                    await sink.send(msgs)
                if ck:
                    ck.save(first, sim.now)
            if sim_until is not None and sim.now >= sim_until:
                break
            if elapsed - last_report >= 5:
                last_report = elapsed
                eff = (sim.now - start) / 1000 / max(elapsed, 1e-9)
                log.info("sim time %s  messages %d  effective speed x%.1f",
                         fmt_local(sim.now, tz), count, eff)
            if not as_fast_as_possible:
                behind = start + int(elapsed * settings.sim_speed * 1000) - sim.now
                await asyncio.sleep(0 if behind > TICK_S * settings.sim_speed * 1000 else TICK_S)
    except ProducerGaveUp as exc:
        log.error("%s", exc)
        result = {"unsent": exc.unsent, "gave_up": str(exc)}
    finally:
        if sink:
            await sink.stop()
        if logfile:
            logfile.fh.close()
    if ck and not result:
        ck.save(first, sim.now, force=True)
    out_doc = {"messages": count, "sim_start": start, "sim_end": sim.now}
    if sink:
        out_doc["sent"] = sink.sent
    return {**out_doc, **result}


def _fast_forward(sim: Simulator, until: int, step_ms: int = 60_000) -> int:
    """Advance ``sim`` to ``until`` without sending (a minute at a time: bounded memory)."""
    n = 0
    while sim.now < until:
        n += len(sim.advance(min(until, sim.now + step_ms)))
    return n

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

from .kafka_out import KafkaSink
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


async def simulate(settings: Settings, bootstrap: str | None, *, duration_s: float | None = None,
                   sim_until: int | None = None, out: Path | None = None,
                   as_fast_as_possible: bool = False) -> dict:
    """Run until ``duration_s`` real seconds or simulated time ``sim_until`` (forever if neither).

    The simulated clock runs ``sim_speed`` times the wall clock; when the rate limit
    cannot keep up, the simulated clock falls behind instead of dropping events.
    ``as_fast_as_possible`` ignores the clock (for writing event logs and tests).
    """
    sim = make_simulator(settings)
    tz = settings.timezone
    sink = KafkaSink(settings, bootstrap) if bootstrap else None
    logfile = JsonlLog(open(out, "wb")) if out else None
    if sink:
        await sink.start()
    t0, start, last_report, count = time.monotonic(), sim.now, 0.0, 0
    log.info("simulating %d terminals from %s (city time), speed x%g",
             len(sim.terminals), fmt_local(start, tz), settings.sim_speed)
    try:
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
    finally:
        if sink:
            await sink.stop()
        if logfile:
            logfile.fh.close()
    return {"messages": count, "sim_start": start, "sim_end": sim.now}

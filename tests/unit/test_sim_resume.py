"""A restarted simulator goes on where the last one stopped (``gridpulse up`` restarts it)."""

from __future__ import annotations

import asyncio

from gridpulse import settings as settings_mod
from gridpulse.clock import parse_local
from producers.run import simulate

TZ = "Asia/Shanghai"


def test_a_resumed_run_continues_the_same_events(tmp_path):
    s = settings_mod.load({}, sim_terminals=60, sim_cases_per_day=6000, sim_start="2026-11-27T08:00:00")
    mid, end = parse_local("2026-11-27T09:00:00", TZ), parse_local("2026-11-27T10:00:00", TZ)
    whole = tmp_path / "whole.jsonl"
    asyncio.run(simulate(s, None, sim_until=end, out=whole, as_fast_as_possible=True))

    ck, parts = tmp_path / "sim.checkpoint.json", tmp_path / "parts.jsonl"
    first = asyncio.run(simulate(s, None, sim_until=mid, out=parts, as_fast_as_possible=True, checkpoint=ck))
    assert first["sim_end"] == mid
    # The restarted one is given another start: the checkpoint's wins.
    later = s.replace(sim_start="2026-11-27T08:30:00")
    second = asyncio.run(simulate(later, None, sim_until=end, out=parts, as_fast_as_possible=True, checkpoint=ck))
    assert second["sim_start"] == mid
    assert parts.read_bytes() == whole.read_bytes()


def test_a_checkpoint_of_another_run_is_not_resumed(tmp_path):
    s = settings_mod.load({}, sim_terminals=20, sim_cases_per_day=600, sim_start="2026-11-27T08:00:00")
    ck = tmp_path / "sim.checkpoint.json"
    mid = parse_local("2026-11-27T08:20:00", TZ)
    asyncio.run(simulate(s, None, sim_until=mid, as_fast_as_possible=True, checkpoint=ck))
    other = s.replace(sim_seed=s.sim_seed + 1)
    got = asyncio.run(simulate(other, None, sim_until=mid, as_fast_as_possible=True, checkpoint=ck))
    assert got["sim_start"] == parse_local("2026-11-27T08:00:00", TZ)

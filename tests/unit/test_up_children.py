"""`gridpulse up` restarts a child that exits, with backoff and a line saying which and why."""

from __future__ import annotations

import os
import sys
import time

from gridpulse.outage import Backoff
from gridpulse.runtime import up

HANG_GUARD_S = 60.0  # only against a hang; never a performance bound


def test_a_child_that_exits_is_restarted_with_backoff(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(up, "STEADY_S", 3600.0)
    log = tmp_path / "simulator.log"
    child = up.Child("simulator", [sys.executable, "-c", "print('boom', flush=True); raise SystemExit(3)"],
                     dict(os.environ), log)
    child.backoff = Backoff(first=0.01, cap=0.04, rng=lambda: 0.0)
    child.start()
    deadline = time.monotonic() + HANG_GUARD_S
    while child.restarts < 4:
        child.watch()
        assert time.monotonic() < deadline, capsys.readouterr().out
        time.sleep(0.005)
    out = capsys.readouterr().out.splitlines()
    exits = [ln for ln in out if "exited" in ln]
    assert exits[0].startswith("[gridpulse] simulator exited with code 3 after 0 s; restarting in 0.0 s (restart 1; log ")
    assert exits[0].endswith("last line: boom)")
    assert [ln.split("restarting in ")[1].split(" s")[0] for ln in exits[:4]] == ["0.0", "0.0", "0.0", "0.0"]
    assert child.backoff.failures == 4  # 0.01, 0.02, 0.04, 0.04 s: doubling to the cap
    assert sum("simulator: restarted (pid" in ln for ln in out) >= 3


def test_how_a_child_ended():
    assert up._how(3) == "exited with code 3"
    assert up._how(-9) == "killed by SIGKILL"


def test_secrets_in_up_lines_are_masked(capsys):
    up._say("Redis: redis://admin:s3cretpass@10.0.0.5:6379/0")
    assert capsys.readouterr().out == "[gridpulse] Redis: redis://admin:***@10.0.0.5:6379/0\n"

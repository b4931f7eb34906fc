"""The exposure logger of a serving process (``weir serve``, an SDK user): a ``KafkaSink`` on the exposure topic
with the project's idempotent producer (:func:`weir.stream.producer.make_producer`).

The producer is made on the logger's first write, in its background thread: a broker that is down when the server
starts delays nothing; the batches it cannot take are counted (``ExposureLogger.failed``) and logged, and the
producer is made again on the next batch. No Kafka configured (``kafka_bootstrap_servers`` empty): no logger.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from weir.experiments.exposures import EXPOSURES_TOPIC, ExposureLogger, KafkaSink
from weir.runtime import RuntimeConfig

if TYPE_CHECKING:
    from kafka import KafkaProducer


class LazyProducer:
    """``send``/``flush`` of a Kafka producer made on first use (and again after it could not be made)."""

    def __init__(self, config: RuntimeConfig) -> None:
        self.config = config
        self._producer: KafkaProducer | None = None
        self._lock = threading.Lock()

    def _get(self) -> KafkaProducer:
        with self._lock:
            if self._producer is None:
                from weir.stream.producer import make_producer

                self._producer = make_producer(self.config)  # raises while no broker answers
            return self._producer

    def send(self, topic: str, key: bytes | None = None, value: bytes | None = None) -> Any:
        return self._get().send(topic, key=key, value=value)

    def flush(self, timeout: float | None = None) -> None:
        self._get().flush(timeout=timeout)

    def close(self, timeout: float = 10.0) -> None:
        with self._lock:
            if self._producer is not None:
                self._producer.close(timeout=timeout)
                self._producer = None


def kafka_exposure_logger(config: RuntimeConfig, topic: str = EXPOSURES_TOPIC) -> ExposureLogger | None:
    """A non-blocking exposure logger writing to ``topic`` on the config's Kafka; None when no Kafka is configured.

    >>> logger = kafka_exposure_logger(load_config())  # then Evaluator(..., exposures=logger); logger.close()
    """
    if not config.kafka_bootstrap_servers.strip():
        return None
    return ExposureLogger(KafkaSink(LazyProducer(config), topic=topic))

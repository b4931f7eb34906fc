"""Putting events on a group's Kafka topic: a paced producer (the demo's live events) and a one-shot helper.

Records are JSON objects (the spec's ``source.kafka.format: json``), keyed by the entity key values joined
with ``|`` so an entity's events stay in one partition (ordered). Raw ``bytes``/``str`` records are sent as
they are (tests use them for malformed payloads).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from weir.runtime import RuntimeConfig
from weir.spec.models import FeatureGroup

if TYPE_CHECKING:
    from kafka import KafkaProducer

Record = Mapping[str, Any] | bytes | str


def topic_of(group: FeatureGroup) -> str:
    if group.source.kafka is None:
        raise ValueError(f"group '{group.name}' has no source.kafka topic")
    return group.source.kafka.topic


def make_producer(config: RuntimeConfig) -> KafkaProducer:
    """An idempotent producer: the broker drops a retried batch it already wrote (producer id + sequence
    numbers), so a lost ack never puts an event on the topic twice; ``acks=all`` so no acked write is lost."""
    from kafka import KafkaProducer

    return KafkaProducer(bootstrap_servers=config.kafka_bootstrap_servers.split(","),
                         security_protocol=config.kafka_security_protocol, acks="all", linger_ms=20,
                         retries=5, enable_idempotence=True, max_in_flight_requests_per_connection=5)


def _encode(group: FeatureGroup, record: Record) -> tuple[bytes | None, bytes]:
    if isinstance(record, bytes):
        return None, record
    if isinstance(record, str):
        return None, record.encode("utf-8")
    keys = [record.get(k) for k in group.key_columns]
    key = "|".join(str(k) for k in keys).encode("utf-8") if all(k is not None for k in keys) else None
    return key, json.dumps(dict(record), default=_json_default, separators=(",", ":")).encode("utf-8")


def _json_default(v: Any) -> Any:
    if isinstance(v, datetime):
        aware = v if v.tzinfo else v.replace(tzinfo=UTC)
        return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")
    raise TypeError(f"cannot send {type(v).__name__} as JSON: {v!r}")


def produce_records(config: RuntimeConfig, group: FeatureGroup, records: Iterable[Record],
                    topic: str | None = None, partition: int | None = None) -> int:
    """Send ``records`` (dicts as JSON, bytes/str as is) to the group's topic and wait until all are acked."""
    producer = make_producer(config)
    n = 0
    try:
        for record in records:
            key, value = _encode(group, record)
            producer.send(topic or topic_of(group), value=value, key=key, partition=partition)
            n += 1
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)
    return n


def produce_live(config: RuntimeConfig, group: FeatureGroup, events: Iterator[Record], rate_per_s: float,
                 seconds: float, on_progress: Any = None) -> int:
    """Paced producer: send ``events`` at ``rate_per_s`` per second of wall time for ``seconds``.

    The caller brings the events (the CLI: ``weir.demo.generator.iter_transactions_live``), so the engine does
    not depend on the demo.

    >>> produce_live(config, group, iter_transactions_live(7, now, 10.0), rate_per_s=10.0, seconds=60)
    """
    if rate_per_s <= 0 or seconds <= 0:
        raise ValueError("rate and seconds must be > 0")
    producer = make_producer(config)
    topic = topic_of(group)
    t0 = time.monotonic()
    sent = 0
    try:
        while True:
            elapsed = time.monotonic() - t0
            if elapsed >= seconds:
                break
            due = int(elapsed * rate_per_s) + 1
            while sent < due:
                key, value = _encode(group, next(events))
                producer.send(topic, value=value, key=key)
                sent += 1
            if on_progress is not None:
                on_progress(sent)
            time.sleep(min(0.05, max(0.0, (sent / rate_per_s) - (time.monotonic() - t0))))
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)
    return sent

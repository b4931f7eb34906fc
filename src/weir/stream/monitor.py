"""Liveness and Kafka consumer lag of a running streaming query, as Prometheus gauges.

Structured Streaming keeps its offsets in the checkpoint, not in a Kafka consumer group, so no Kafka tool
sees its lag. :class:`StreamMonitor` polls, from a daemon thread of the job's driver, the query's last progress
(the offsets its last micro-batch processed up to) and the topic's end offsets (kafka-python), and sets
``weir_stream_consumer_lag{group, topic, partition}`` = end offset - processed offset, and ``weir_stream_up``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from weir import metrics
from weir.runtime import RuntimeConfig

log = logging.getLogger(__name__)


def processed_offsets(progress: Mapping[str, Any] | None) -> dict[tuple[str, int], int]:
    """``(topic, partition) -> next offset to read`` from a StreamingQuery progress (its Kafka ``endOffset``)."""
    out: dict[tuple[str, int], int] = {}
    for source in (progress or {}).get("sources", []):
        end = source.get("endOffset")
        if isinstance(end, str):
            end = json.loads(end)
        for topic, parts in (end or {}).items():
            for partition, offset in parts.items():
                out[(topic, int(partition))] = int(offset)
    return out


def consumer_lag(end: Mapping[tuple[str, int], int], processed: Mapping[tuple[str, int], int]
                 ) -> dict[tuple[str, int], int]:
    """Lag per partition; a partition the query has not processed yet lags by its whole end offset."""
    return {tp: max(0, off - processed.get(tp, 0)) for tp, off in end.items()}


def kafka_end_offsets(config: RuntimeConfig, partitions: Iterable[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """End offsets (the offset the next produced record will get) of ``(topic, partition)`` pairs."""
    from kafka import KafkaConsumer, TopicPartition

    tps = [TopicPartition(t, p) for t, p in sorted(partitions)]
    if not tps:
        return {}
    consumer = KafkaConsumer(bootstrap_servers=config.kafka_bootstrap_servers.split(","),
                             security_protocol=config.kafka_security_protocol, enable_auto_commit=False,
                             request_timeout_ms=10_000)
    try:
        return {(tp.topic, tp.partition): int(off) for tp, off in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


class StreamMonitor:
    """Polls ``query_progress()`` and the topic's end offsets every ``interval_s`` until :meth:`stop`.

    ``query_progress`` returns the active query's ``lastProgress`` (a dict), or None when no query runs; the job
    passes a closure over its SparkSession so the monitor survives query restarts.
    """

    def __init__(self, config: RuntimeConfig, group: str, topic: str,
                 query_progress: Callable[[], Mapping[str, Any] | bool | None], interval_s: float = 5.0) -> None:
        self.config, self.group, self.topic = config, group, topic
        self.query_progress, self.interval_s = query_progress, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"weir-monitor-{group}", daemon=True)

    def start(self) -> StreamMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval_s + 15)

    def poll_once(self) -> None:
        """One observation: up or down, and the lag per partition while up."""
        progress = self.query_progress()
        if progress is None:
            metrics.STREAM_UP.labels(self.group).set(0)
            return
        metrics.STREAM_UP.labels(self.group).set(1)
        done = processed_offsets(progress if isinstance(progress, Mapping) else None)
        if not done:  # no batch finished yet in this run: nothing to compare against
            return
        # the query reads every partition of its topic from the start, so after one batch it knows them all
        for (topic, partition), lag in consumer_lag(kafka_end_offsets(self.config, done), done).items():
            metrics.STREAM_LAG.labels(self.group, topic, str(partition)).set(lag)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception as exc:  # the monitor must never take the job down
                log.warning("stream monitor %s: %s", self.group, exc)
            self._stop.wait(self.interval_s)
        metrics.STREAM_UP.labels(self.group).set(0)


def active_query_progress(spark: Any, query_name: str) -> Callable[[], Mapping[str, Any] | bool | None]:
    """A ``query_progress`` for :class:`StreamMonitor`: the named active query's last progress (True when the
    query runs but has no progress yet), None when it is not running."""

    def progress() -> Mapping[str, Any] | bool | None:
        for q in spark.streams.active:
            if q.name == query_name:
                last = q.lastProgress
                if last is None:
                    return True
                # the JVM's own JSON: PySpark's dict view renders nested offsets as Python reprs, not JSON
                return dict(json.loads(last.json)) if hasattr(last, "json") else dict(last)
        return None

    return progress

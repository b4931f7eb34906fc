"""Exposure records and a logger that never blocks the caller.

An exposure says: entity ``key`` was assigned ``variant`` of declaration ``name`` at ``ts``. The caller's
thread only puts the record on a bounded in-memory queue (``put_nowait``); a daemon thread drains it in batches
to a :class:`Sink`. When the queue is full the record is dropped and counted (``dropped``), never waited for:
exposure logging must not add latency to the flag check. ``exposure_id`` is a random 128-bit id fixed at
creation, so a sink retry that writes a record twice is deduplicated downstream by that id; analysis keeps the
first exposure per (experiment, entity).

A Kafka sink is given; :mod:`weir.stream.exposures` streams the topic into the lake's ``exposures`` table (exactly
once, each ``exposure_id`` once; see docs/experiments.md).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)

EXPOSURES_TOPIC = "weir_exposures"


@dataclass(frozen=True)
class Exposure:
    name: str  # flag or experiment
    kind: str  # "flag" | "experiment"
    entity: str  # entity name, e.g. "user"
    key: str  # the entity key value that was hashed
    variant: str
    salt: str
    reason: str
    ts: float  # epoch seconds of the evaluation
    exposure_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode("utf-8")


def first_exposures(records: Iterable[Exposure]) -> dict[tuple[str, str], Exposure]:
    """The first exposure per (declaration, entity key), each ``exposure_id`` counted once: what analysis uses
    (an entity's outcome window and covariates start at its first exposure)."""
    seen: set[str] = set()
    first: dict[tuple[str, str], Exposure] = {}
    for e in records:
        if e.exposure_id in seen:
            continue
        seen.add(e.exposure_id)
        k = (e.name, e.key)
        if k not in first or (e.ts, e.exposure_id) < (first[k].ts, first[k].exposure_id):
            first[k] = e
    return first


class Sink(Protocol):
    def write(self, batch: Sequence[Exposure]) -> None: ...


class MemorySink:
    """Keeps every written exposure (tests, demos)."""

    def __init__(self) -> None:
        self.records: list[Exposure] = []
        self._lock = threading.Lock()

    def write(self, batch: Sequence[Exposure]) -> None:
        with self._lock:
            self.records.extend(batch)


class KafkaSink:
    """Exposures as JSON on a topic, keyed by ``name|key`` (an entity's exposures stay ordered in a partition).

    ``producer``: e.g. ``weir.stream.producer.make_producer(config)`` (idempotent, ``acks=all``); passed in so
    this package does not depend on the stream engine.
    """

    def __init__(self, producer: Any, topic: str = EXPOSURES_TOPIC) -> None:
        self.producer = producer
        self.topic = topic

    def write(self, batch: Sequence[Exposure]) -> None:
        for e in batch:
            self.producer.send(self.topic, key=f"{e.name}|{e.key}".encode(), value=e.to_json())
        self.producer.flush()


class ExposureLogger:
    """Bounded queue + background drain thread; :meth:`log` returns at once."""

    def __init__(self, sink: Sink, max_queue: int = 100_000, batch_size: int = 500,
                 flush_interval_s: float = 0.2, on_error: Callable[[BaseException], None] | None = None,
                 linger_s: float = 0.1) -> None:
        self.sink = sink
        self.batch_size = batch_size
        self.flush_interval_s = flush_interval_s
        # after the first record, wait this long for more: one sink write per burst, not per record, so the
        # sink's own Python work (a Kafka producer's) seldom holds the GIL when a caller wants it
        self.linger_s = linger_s
        self.on_error = on_error
        self.dropped = 0
        self.failed = 0
        self._queue: queue.Queue[Exposure] = queue.Queue(maxsize=max_queue)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="weir-exposures", daemon=True)
        self._thread.start()

    def log(self, exposure: Exposure) -> None:
        try:
            self._queue.put_nowait(exposure)
        except queue.Full:
            self.dropped += 1

    def _drain(self, block: bool) -> list[Exposure]:
        batch: list[Exposure] = []
        try:
            if block:
                batch.append(self._queue.get(timeout=self.flush_interval_s))
                self._stop.wait(self.linger_s)
            while len(batch) < self.batch_size:
                batch.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        return batch

    def _write(self, batch: list[Exposure]) -> None:
        try:
            self.sink.write(batch)
        except Exception as exc:  # one failing sink call must not stop the logger
            self.failed += len(batch)
            log.warning("exposure sink failed for %d records: %s", len(batch), exc)
            if self.on_error is not None:
                self.on_error(exc)
        finally:
            for _ in batch:
                self._queue.task_done()

    def _run(self) -> None:
        while not self._stop.is_set():
            batch = self._drain(block=True)
            if batch:
                self._write(batch)
        while batch := self._drain(block=False):
            self._write(batch)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Wait until every queued record went to the sink (or failed); False on timeout."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.005)
        return True

    def close(self, timeout_s: float = 10.0) -> None:
        """Drain what is queued, then stop the thread."""
        self._stop.set()
        self._thread.join(timeout_s)

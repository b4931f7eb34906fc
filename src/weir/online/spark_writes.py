"""Online batch writes on the executors: each Spark task writes its own partition with its own DynamoDB client.

Why: written from the driver, the whole online path is one machine's network and one Python process whatever
the cluster size, and every entity crosses to the driver. Here each task turns its rows into items and writes
them with the store's conditional ``UpdateItem`` (newest wins, ``expires_at`` only rises, ``item_version``
bumped, too-large items set aside: :class:`weir.online.store.DynamoOnlineStore`, unchanged) on a bounded
thread pool, with the store's backoff and full jitter, and returns one row of counts. The driver sums one
:class:`PartitionCounts` per partition: nothing proportional to the number of entities reaches it (the pks of
too-large items excepted: rare, and each needs a quarantine row anyway).

One :class:`DynamoOnlineStore` (one boto3 client, its connection pool) per Python worker process, built on
the executor from the picklable :class:`WriterSettings` and reused by the later tasks of that worker.

A retried task (its Python worker killed mid-partition, its executor lost) writes its whole partition again:
an item the failed attempt already wrote is rewritten with identical content (same events, same run: the
newest-wins condition admits it), and only the successful attempt's counts reach the driver (``collect`` of
the task results), so nothing is counted twice.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from weir.online.interface import OnlineItem
from weir.online.store import DynamoOnlineStore
from weir.per_process import PerProcess
from weir.runtime import RuntimeConfig

if TYPE_CHECKING:
    from pyspark import Accumulator
    from pyspark.sql import DataFrame

# what a row becomes: an item to write, or the reason it is not written
EXPIRED = "expired"
INVALID = "invalid"
Outcome = OnlineItem | str
ToItem = Callable[[Any], Outcome]

THREADS_PER_TASK = 8


@dataclass(frozen=True)
class WriterSettings:
    """Everything an executor needs to build its store (picklable: the runtime config and the retry knobs)."""

    config: RuntimeConfig
    threads_per_task: int = THREADS_PER_TASK
    max_attempts: int = 8
    base_delay_s: float = 0.05
    max_delay_s: float = 5.0

    @classmethod
    def like(cls, store: DynamoOnlineStore, threads_per_task: int = THREADS_PER_TASK) -> WriterSettings:
        """The settings of ``store`` (the driver's), with ``threads_per_task`` threads per task."""
        return cls(store.config, max(1, min(threads_per_task, store.max_workers)), store.max_attempts,
                   store.backoff.base_delay_s, store.max_delay_s)

    def key(self) -> str:
        return (f"{self.config.model_dump_json()}|{self.threads_per_task}|{self.max_attempts}|"
                f"{self.base_delay_s}|{self.max_delay_s}")


_STORES: PerProcess[DynamoOnlineStore] = PerProcess()


def worker_store(settings: WriterSettings) -> DynamoOnlineStore:
    """The store of this Python worker process for ``settings`` (built on first use, then reused)."""
    return _STORES.get(settings.key(), lambda: DynamoOnlineStore(
        settings.config, max_workers=settings.threads_per_task, max_attempts=settings.max_attempts,
        base_delay_s=settings.base_delay_s, max_delay_s=settings.max_delay_s))


@dataclass
class PartitionCounts:
    """What one task reports (and, summed, what the whole write did)."""

    entities: int = 0
    written: int = 0
    skipped: int = 0  # a newer value was kept
    expired: int = 0
    invalid: int = 0
    retried: int = 0
    too_large: list[str] = field(default_factory=list)

    def __add__(self, other: PartitionCounts) -> PartitionCounts:
        return PartitionCounts(
            self.entities + other.entities, self.written + other.written, self.skipped + other.skipped,
            self.expired + other.expired, self.invalid + other.invalid, self.retried + other.retried,
            self.too_large + other.too_large)


@dataclass(frozen=True)
class CrashOnce:
    """Test-only fault: the first task to complete ``after`` writes kills its own Python worker (``os._exit``),
    once across all processes (``marker`` is created first). Set :data:`FAULT` on the driver before a write;
    production never sets it (the only cost is one ``None`` check per task)."""

    marker: str
    after: int

    def watch(self) -> Callable[[int], None]:
        done = [0]

        def on_done(n: int) -> None:
            done[0] += n
            if done[0] >= self.after:
                try:
                    fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
                except FileExistsError:
                    return
                os.close(fd)
                os._exit(17)

        return on_done


FAULT: CrashOnce | None = None  # tests only: see CrashOnce


class Tally(Protocol):
    """Where the rows not written are counted (a task's counts, or the publish summary)."""

    expired: int
    invalid: int


def items_of(rows: Iterable[Any], to_item: ToItem, tally: Tally) -> Iterator[OnlineItem]:
    """The rows' items; a row past its TTL or with a key DynamoDB cannot store is counted in ``tally``."""
    for row in rows:
        out = to_item(row)
        if isinstance(out, OnlineItem):
            yield out
        elif out == EXPIRED:
            tally.expired += 1
        else:
            tally.invalid += 1


def write_partition(settings: WriterSettings, group: str, to_item: ToItem, rows: Iterable[Any],
                    fault: CrashOnce | None = None) -> PartitionCounts:
    """Write one partition's items (runs on the executor); the counts of this task."""
    store = worker_store(settings)
    counts = PartitionCounts()

    def counted() -> Iterator[Any]:
        for row in rows:
            counts.entities += 1
            yield row

    stats = store.write_items(group, items_of(counted(), to_item, counts),
                              on_done=fault.watch() if fault is not None else None)
    counts.written, counts.skipped, counts.retried = stats.written, stats.skipped, stats.retried
    counts.too_large = sorted(stats.too_large)
    return counts


def write_on_executors(df: DataFrame, group: str, to_item: ToItem, settings: WriterSettings,
                       on_partition: Callable[[int, int, int], None] | None = None) -> PartitionCounts:
    """Each task of ``df`` writes its partition's ``to_item(row)`` items; the driver sums one row per task.

    ``on_partition(partitions_done, partitions, entities_done)`` is called from a driver thread as tasks
    finish (for a progress bar); without it nothing is polled.
    """
    sc = df.sparkSession.sparkContext
    fault = FAULT
    parts_done: Accumulator[int] | None = sc.accumulator(0) if on_partition else None
    rows_done: Accumulator[int] | None = sc.accumulator(0) if on_partition else None

    def task(rows: Iterable[Any]) -> Iterator[PartitionCounts]:
        counts = write_partition(settings, group, to_item, rows, fault)
        if parts_done is not None and rows_done is not None:
            parts_done.add(1)
            rows_done.add(counts.entities)
        yield counts

    rdd = df.rdd.mapPartitions(task)
    if on_partition is None or parts_done is None or rows_done is None:
        results = rdd.collect()
    else:
        results = _collect_watching(rdd, parts_done, rows_done, on_partition)
    total = PartitionCounts()
    for counts in results:
        total = total + counts
    total.too_large.sort()
    return total


def _collect_watching(rdd: Any, parts_done: Accumulator[int], rows_done: Accumulator[int],
                      on_partition: Callable[[int, int, int], None]) -> list[PartitionCounts]:
    """``rdd.collect()`` while a daemon thread reports finished tasks (accumulators merge as tasks end)."""
    partitions = rdd.getNumPartitions()
    stop = threading.Event()

    def poll() -> None:
        seen = -1
        while not stop.wait(0.5):
            if parts_done.value != seen:
                seen = parts_done.value
                on_partition(seen, partitions, rows_done.value)

    watcher = threading.Thread(target=poll, name="weir-publish-progress", daemon=True)
    watcher.start()
    try:
        results: list[PartitionCounts] = rdd.collect()
    finally:
        stop.set()
        watcher.join()
    on_partition(partitions, partitions, sum(c.entities for c in results))
    return results

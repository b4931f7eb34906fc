"""A micro-batch's online writes on the executors: each Spark task applies its own partition's entities.

The driver groups the micro-batch's tiles per entity in Spark (one row per entity: its keys and the list of its
tiles, so no two tasks touch one entity) and runs :class:`ExecutorStreamWriter` over the partitions
(``mapPartitions``). Each task builds the entity keys, then applies its entities in chunks of
``entities_per_chunk`` through a :class:`weir.online.store.DynamoOnlineStore` of its Python worker process
(built from the picklable :class:`weir.runtime.RuntimeConfig`, one per process and settings, reused by the
following tasks), with ``threads`` parallel writes: the same read-merge-conditional-write per entity as on the
driver (:class:`weir.stream.online.StreamOnlineWriter`: newest-wins, ``item_version`` condition, replay skip by
(query id, batch id), expiry never lowered, backoff with jitter, unprocessed keys read again). A task returns
one :class:`PartitionOutcome`: counts, plus the keys of the (rare) entities whose item would exceed DynamoDB's
size limit, which the driver dead-letters. Nothing proportional to the entities reaches the driver.

A task that dies half-way (its Python worker killed, the executor lost) is run again by Spark: the entities
the first attempt wrote already hold the batch id and are skipped (``skipped_replay``), the others are written,
so every event is counted once. Only the successful attempt's outcome reaches the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from weir.online.errors import FeatureRequestError
from weir.online.keys import entity_pk
from weir.online.spark_writes import WriterSettings, worker_store
from weir.per_process import PerProcess
from weir.runtime import RuntimeConfig
from weir.spec.models import FeatureGroup

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from weir.stream.merge import GroupLayout

TILES_COL = "_weir_tiles"  # the per-entity list of micro-batch tiles

# Test seam only: ``fault(batch_id, entities_applied_so_far_in_this_task)`` runs after each chunk; the worker-death
# test passes one that kills its own Python worker. Production passes None (one ``is None`` test per chunk).
WriteFault = Callable[[int, int], None]

_LAYOUTS: PerProcess[GroupLayout] = PerProcess()


def _layout(group: FeatureGroup) -> GroupLayout:
    from weir.stream.merge import GroupLayout

    return _LAYOUTS.get(group.model_dump_json(), lambda: GroupLayout(group))


@dataclass(frozen=True)
class PartitionOutcome:
    """What one task (or, summed, the whole micro-batch) did online."""

    written: int = 0
    skipped_replay: int = 0
    conflicts: int = 0
    retried: int = 0
    key_unwritable: int = 0  # entities whose key makes no DynamoDB key (the parser dead-letters these first)
    too_large: tuple[tuple[Any, ...], ...] = field(default=())  # key values of entities over the item size limit

    def __add__(self, other: PartitionOutcome) -> PartitionOutcome:
        return PartitionOutcome(self.written + other.written, self.skipped_replay + other.skipped_replay,
                                self.conflicts + other.conflicts, self.retried + other.retried,
                                self.key_unwritable + other.key_unwritable, self.too_large + other.too_large)


def _plain(v: Any) -> Any:
    return bytes(v) if isinstance(v, bytearray | memoryview) else v


@dataclass(frozen=True)
class ExecutorStreamWriter:
    """The ``mapPartitions`` function: apply this partition's entities, yield one :class:`PartitionOutcome`."""

    group: FeatureGroup
    config: RuntimeConfig
    query_id: str
    batch_id: int
    run_us: int
    source_version: int
    threads: int = 8
    entities_per_chunk: int = 1000
    fault: WriteFault | None = None

    def __call__(self, rows: Iterable[Any]) -> Iterator[PartitionOutcome]:
        from weir.stream.online import StreamOnlineWriter

        store = worker_store(WriterSettings(self.config, threads_per_task=self.threads))  # one per worker
        writer = StreamOnlineWriter(store, _layout(self.group), self.query_id)
        keys = self.group.key_columns
        total = PartitionOutcome()
        by_pk: dict[str, list[dict[str, Any]]] = {}
        keys_of: dict[str, tuple[Any, ...]] = {}
        applied = 0
        for row in rows:
            values = tuple(row[k] for k in keys)
            try:
                pk = entity_pk(self.group, dict(zip(keys, values, strict=True)))
            except FeatureRequestError:
                total += PartitionOutcome(key_unwritable=1)
                continue
            keys_of[pk] = values
            by_pk[pk] = [{k: _plain(v) for k, v in t.asDict().items() if v is not None} for t in row[TILES_COL]]
            if len(by_pk) >= self.entities_per_chunk:
                total += self._apply(writer, by_pk, keys_of)
                applied += len(by_pk)
                by_pk, keys_of = {}, {}
                if self.fault is not None:
                    self.fault(self.batch_id, applied)
        if by_pk:
            total += self._apply(writer, by_pk, keys_of)
        yield total

    def _apply(self, writer: Any, by_pk: dict[str, list[dict[str, Any]]],
               keys_of: dict[str, tuple[Any, ...]]) -> PartitionOutcome:
        stats = writer.apply(by_pk, self.batch_id, self.run_us, self.source_version)
        return PartitionOutcome(stats.written, stats.skipped_replay, stats.conflicts, stats.retried, 0,
                                tuple(keys_of[pk] for pk in stats.too_large))


def apply_on_executors(tiles: DataFrame, writer: ExecutorStreamWriter) -> PartitionOutcome:
    """Group ``tiles`` (keys + online tile fields) per entity and apply them on the executors; summed outcome."""
    from pyspark.sql import functions as F

    keys = list(writer.group.key_columns)
    fields = [c for c in tiles.columns if c not in keys]
    grouped = tiles.groupBy(*keys).agg(F.collect_list(F.struct(*fields)).alias(TILES_COL))
    total = PartitionOutcome()
    for outcome in grouped.rdd.mapPartitions(writer).collect():
        total += outcome
    return total

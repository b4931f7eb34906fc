"""Publish a group's tiles at run time T = ``ds`` + 1 day 00:00 UTC to the online store.

One item per entity (docs/architecture.md): the tiles of every windowed hop that can still fall in a window
read at or after T (``tile_end <= T`` and within the longest window of that hop), with the lifetime features'
IR columns blanked, plus one lifetime tile per entity holding the merged IR of the lifetime features as of T
(from the batch engine's ``lifetime/<group>`` snapshot of ``ds``, else merged from every tile ending by T).
The grouping per entity runs in Spark (``collect_list`` of tile structs); each Spark task then writes its own
partition's items with newest-wins conditional puts (:mod:`weir.online.spark_writes`) and returns only counts.
A rerun ends in the same state: items already written by the interrupted run (or a failed task attempt) are
rewritten with identical content (same events, same ``run_us``).

The driver-side path (every entity through ``toLocalIterator`` into driver threads) remains for a store that
cannot travel to the executors (any store but :class:`DynamoOnlineStore`, e.g. the in-memory one) and as the
benchmark's baseline (``writes="driver"``).

Items are written while the entity's item must be kept (``weir.compute.layout.retention_us``: the TTL, or
longer when a window reaches further back, for ever with lifetime features), even past the TTL when they are
served as missing: a later stream event merges into that item, and without it the entity would be served
without its older events. Past the retention they are not written (counted as ``expired``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal

from weir.compute.ir import HOP_COL, NEWEST_COL, TILE_END_COL
from weir.compute.layout import (
    Lookback,
    expires_at_s,
    is_retired,
    lifetime_features,
    lifetime_hop,
    longest_window_per_hop,
    lookback_days,
    run_time_us,
    windowed_features_by_hop,
)
from weir.compute.online_tile import END, online_tile_fields
from weir.compute.windows import feature_windows
from weir.lake.paths import TILES as TILES_TABLE
from weir.lake.paths import group_table, online_quarantine_path, publish_log_path
from weir.online.codec import encode_tiles
from weir.online.errors import FeatureRequestError, OnlineStoreError
from weir.online.interface import OnlineItem, OnlineStore, WriteStats
from weir.online.keys import entity_pk
from weir.online.spark_writes import EXPIRED, INVALID, Outcome, WriterSettings, items_of, write_on_executors
from weir.online.store import DynamoOnlineStore
from weir.progress import progress_bar
from weir.runtime import RuntimeConfig, load_config
from weir.spec.models import ColumnType, FeatureGroup

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

TILES = "tiles"
NEWEST_US = "newest_us"


@dataclass
class PublishSummary:
    group: str
    ds: date
    run_ts: datetime
    table: str
    source_version: int
    entities: int = 0
    written: int = 0
    skipped: int = 0  # a newer value was kept
    expired: int = 0  # newest event at least the retention before T: not written
    invalid: int = 0  # keys DynamoDB cannot store (e.g. empty string): not written
    too_large: list[str] = field(default_factory=list)  # pks whose item would exceed 400 KB: quarantined
    retried: int = 0
    seconds: float = 0.0

    @property
    def items_per_s(self) -> float:
        return (self.written + self.skipped) / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        return [
            f"published {self.group} ds={self.ds} (run_ts {self.run_ts:%Y-%m-%d %H:%M} UTC, tiles version "
            f"{self.source_version}) to {self.table}",
            f"  entities             {self.entities:>10,}",
            f"  items written        {self.written:>10,}",
            f"  skipped (newer kept) {self.skipped:>10,}",
            f"  past retention       {self.expired:>10,}",
            f"  too large (set aside){len(self.too_large):>10,}",
            f"  invalid keys         {self.invalid:>10,}",
            f"  retried requests     {self.retried:>10,}",
            f"  time                 {self.seconds:>9.1f}s   ({self.items_per_s:,.0f} items/s)",
        ]


def _key_cols(group: FeatureGroup) -> list[Column]:
    from pyspark.sql import functions as F

    out = []
    for k in group.key_columns:
        ctype = group.source.columns[k]
        out.append((F.unix_micros(F.col(k)) if ctype == ColumnType.TIMESTAMP else F.col(k)).alias(k))
    return out


def entity_tiles(spark: SparkSession, group: FeatureGroup, ds: date, config: RuntimeConfig,
                 ) -> tuple[DataFrame, int]:
    """One row per entity: key columns, ``tiles`` (list of tile structs), ``newest_us``; and the tile version."""
    from pyspark.sql import functions as F

    from weir.compute.spark_layout import lifetime_state
    from weir.lake.delta import read_partitions, table_version
    from weir.lake.paths import PARTITION_COL, lifetime_path, tiles_path

    path = tiles_path(config, group.name)
    version = table_version(spark, path)
    if version is None:
        raise OnlineStoreError(f"no tile table at {path}: run `weir backfill {group.name}` for {ds} first")
    t_us = run_time_us(ds)
    windows = feature_windows(group)
    longest = longest_window_per_hop(windows)
    life_hop = lifetime_hop(group)

    tiles = spark.read.format("delta").option("versionAsOf", version).load(path)
    end_us = F.unix_micros(F.col(TILE_END_COL))
    newest_us = F.unix_micros(F.col(NEWEST_COL))
    parts: list[DataFrame] = []
    if longest:
        first = date.fromordinal(ds.toordinal() - lookback_days(windows, Lookback.READ))
        recent = tiles.where((F.col(PARTITION_COL) >= F.lit(first)) & (F.col(PARTITION_COL) <= F.lit(ds))
                             & (end_us <= F.lit(t_us)))
        reach = None
        for hop, w_us in longest.items():
            cond = (F.col(HOP_COL) == F.lit(hop)) & (end_us > F.lit(t_us - w_us))
            reach = cond if reach is None else (reach | cond)
        assert reach is not None
        by_hop = windowed_features_by_hop(windows)
        keep: dict[str, Column | None] = {}
        for f in group.features:
            hops = sorted(h for h, feats in by_hop.items() if f in feats)
            if hops:
                keep[f.name] = F.col(HOP_COL).isin(hops)
        parts.append(recent.where(reach).select(
            *_key_cols(group), F.struct(*online_tile_fields(group, keep)).alias("tile"),
            newest_us.alias(NEWEST_US)))
    if life_hop is not None:
        snap = lifetime_state(group, read_partitions(spark, lifetime_path(config, group.name), ds, ds), tiles,
                              t_us)
        life_end = F.coalesce(F.ceil(newest_us / F.lit(life_hop)).cast("long") * F.lit(life_hop), F.lit(t_us))
        keep_life = dict.fromkeys(f.name for f in lifetime_features(group))
        parts.append(snap.select(
            *_key_cols(group),
            F.struct(*online_tile_fields(group, keep_life, F.lit(life_hop), life_end, newest_us)).alias("tile"),
            newest_us.alias(NEWEST_US)))
    if not parts:  # pragma: no cover - a group always has a feature
        raise OnlineStoreError(f"group {group.name} has no features to publish")
    union = parts[0]
    for p in parts[1:]:
        union = union.unionByName(p)
    grouped = union.groupBy(*group.key_columns).agg(
        F.collect_list("tile").alias(TILES), F.max(NEWEST_US).alias(NEWEST_US))
    return grouped, version


def _plain_tile(tile: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in tile.asDict().items():
        if v is None:
            continue
        out[k] = bytes(v) if isinstance(v, bytearray | memoryview) else v
    return out


@dataclass(frozen=True)
class EntityItem:
    """Row of :func:`entity_tiles` -> the entity's :class:`OnlineItem`, or why it is not written (picklable: it
    runs on the executors)."""

    group: FeatureGroup
    t_us: int
    source_version: int

    def __call__(self, row: Any) -> Outcome:
        newest = int(row[NEWEST_US])
        if is_retired(self.group, newest, self.t_us):
            return EXPIRED
        try:
            pk = entity_pk(self.group, {k: row[k] for k in self.group.key_columns})
        except FeatureRequestError:
            return INVALID
        tiles = sorted((_plain_tile(t) for t in row[TILES]), key=lambda t: (t[HOP_COL], t[END]))
        return OnlineItem(pk, newest, self.t_us, self.source_version, expires_at_s(self.group, newest),
                          encode_tiles(tiles))


Writes = Literal["executors", "driver"]


def publish(spark: SparkSession, group: FeatureGroup | str, ds: date, config: RuntimeConfig | None = None,
            progress: bool = False, store: OnlineStore | None = None, log: bool = True,
            writes: Writes | None = None) -> PublishSummary:
    """Publish the tiles of ``group`` as of the end of ``ds`` to DynamoDB (newest wins); see module doc.

    ``progress=True`` draws a progress bar on the terminal (the CLI does; the library stays quiet): per
    finished partition when the executors write. ``writes``: ``"executors"`` (the default for a
    :class:`DynamoOnlineStore`) or ``"driver"`` (the only way for any other ``store``; the benchmark's baseline).

    >>> summary = publish(get_spark(), "user_spend", date(2026, 10, 31))
    >>> summary.written, summary.skipped, summary.source_version
    """
    from weir.spec.loader import as_group

    config = config or load_config()
    spec = as_group(group, config.specs_dir)
    store = store or DynamoOnlineStore(config)
    mode = writes or ("executors" if isinstance(store, DynamoOnlineStore) else "driver")
    if mode == "executors" and not isinstance(store, DynamoOnlineStore):
        raise OnlineStoreError(f"writes='executors' needs a DynamoOnlineStore (got {type(store).__name__}): "
                               "executors build their own client; use writes='driver' for this store")
    began = time.perf_counter()
    table = store.ensure_table(spec.name)
    t_us = run_time_us(ds)
    grouped, version = entity_tiles(spark, spec, ds, config)
    summary = PublishSummary(spec.name, ds, datetime.fromtimestamp(t_us / 1e6, UTC), table, version)
    to_item = EntityItem(spec, t_us, version)
    if isinstance(store, DynamoOnlineStore) and mode == "executors":
        _publish_on_executors(grouped, spec.name, to_item, WriterSettings.like(store), progress, summary)
    else:
        _publish_from_driver(grouped, spec.name, to_item, store, progress, summary)
    summary.seconds = time.perf_counter() - began
    if summary.too_large:
        _quarantine(spark, config, summary)
    if log:
        _log(spark, config, summary)
    return summary


def _publish_on_executors(grouped: DataFrame, group: str, to_item: EntityItem, settings: WriterSettings,
                          progress: bool, summary: PublishSummary) -> None:
    """Each task writes its partition (:mod:`weir.online.spark_writes`); the driver sums one row per task."""
    with progress_bar(progress, f"publish {group}", "partitions, {task.fields[entities]:,} entities",
                      entities=0) as update:
        counts = write_on_executors(grouped, group, to_item, settings, on_partition=None if update is None else (
            lambda done, total, n: update(completed=done, total=total, entities=n)))
    summary.entities, summary.expired, summary.invalid = counts.entities, counts.expired, counts.invalid
    summary.written, summary.skipped, summary.retried = counts.written, counts.skipped, counts.retried
    summary.too_large = sorted(counts.too_large)


def _publish_from_driver(grouped: DataFrame, group: str, to_item: EntityItem, store: OnlineStore,
                         progress: bool, summary: PublishSummary) -> None:
    """Every entity through ``toLocalIterator`` into the driver's write threads (a store that cannot travel to
    the executors, and the benchmark's baseline)."""
    grouped = grouped.persist()
    try:
        summary.entities = grouped.count()

        items = items_of(grouped.toLocalIterator(prefetchPartitions=True), to_item, summary)
        stats = _write(store, group, items, summary.entities, progress)
    finally:
        grouped.unpersist()
    summary.written, summary.skipped, summary.retried = stats.written, stats.skipped, stats.retried
    summary.too_large = sorted(stats.too_large)


def _quarantine(spark: SparkSession, config: RuntimeConfig, s: PublishSummary) -> None:
    """Record the entities set aside (item over DynamoDB's size limit) in ``_weir/online_quarantine``: the rest
    of the publish proceeded; each keeps its previous online item until its features shrink."""
    now = datetime.now(UTC)
    rows = [(s.group, s.ds, s.run_ts, pk, "online item over DynamoDB's 400 KB item limit", now)
            for pk in s.too_large]
    schema = "group string, ds date, run_ts timestamp, pk string, reason string, recorded_at timestamp"
    spark.createDataFrame(rows, schema).write.format("delta").mode("append").save(online_quarantine_path(config))


def _write(store: OnlineStore, group: str, items: Any, total: int, progress: bool) -> WriteStats:
    with progress_bar(progress, f"publish {group}", "items", total) as update:
        return store.write_items(group, items, on_done=None if update is None else (lambda n: update(advance=n)))


def _log(spark: SparkSession, config: RuntimeConfig, s: PublishSummary) -> None:
    """Append the run to the ``_weir/publish_log`` Delta table (the record of what is online, from where)."""
    row = [(s.group, s.ds, s.run_ts, s.table, group_table(TILES_TABLE, s.group), s.source_version,
            s.entities, s.written, s.skipped, s.expired, s.invalid, s.retried, float(s.seconds),
            datetime.now(UTC))]
    schema = ("group string, ds date, run_ts timestamp, online_table string, source_table string, "
              "source_version long, entities long, items_written long, items_skipped long, items_expired long, "
              "items_invalid long, retried long, seconds double, finished_at timestamp")
    spark.createDataFrame(row, schema).write.format("delta").mode("append").save(publish_log_path(config))

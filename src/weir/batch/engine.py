"""The batch engine: tiles of a range of days, then feature values at each day's run time from stored tiles.

For days [first, last] (run times T = end of each day):
1. tiles of the new events (event time in the range) replace the tile-table partitions of those days;
2. the feature row of an entity at T merges the stored tiles in each window of T (read back from the tile
   table, so the lookback comes from stored tiles, not from raw events), plus, for lifetime features, the
   lifetime snapshot of the day before the range (an IR row per entity) and the range's own tiles;
3. the lifetime snapshot at each T is stored, so the next run starts from it.
The tile table is partitioned by ``(ds, hop_us)`` and its 1d tiles carry every feature's IR, so a window of
whole days merges one day tile per day (``day_windows``) and a run reads only the partitions it needs;
windows of two weeks or more merge stored week blocks plus the day tiles they do not cover (``blocks``).
The cost of a run grows with its own days and the longest window's day tiles, not with the source's history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from weir.batch.blocks import (
    BLOCK_US,
    block_windows,
    build_blocks,
    needed_days,
    usable_blocks,
    window_condition,
)
from weir.batch.source import read_source
from weir.compute.ir import HOP_COL, NEWEST_COL, TILE_END_COL, ir_column, ir_parts
from weir.compute.layout import (
    Lookback,
    lifetime_features,
    lifetime_hop,
    longest_window_per_hop,
    lookback_days,
    run_time,
    run_time_us,
)
from weir.compute.windows import DAY_US, WindowSpec, day_windows, feature_windows
from weir.lake.delta import overwrite_partitions, partition_columns, read_partitions, table_exists
from weir.lake.paths import PARTITION_COL, RUN_TS_COL, features_path, lifetime_path, quarantine_path, tiles_path
from weir.runtime import RuntimeConfig
from weir.spec.models import Feature, FeatureGroup

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


_LIFE = "__weir_life"  # prefix of the snapshot columns in the feature aggregation


@dataclass(frozen=True)
class RangeResult:
    first: date
    last: date
    events: int
    rejected: int
    tiles: int
    feature_rows: int


def run_windows(spark: SparkSession, group: FeatureGroup, t_path: str) -> tuple[list[WindowSpec], list[str]]:
    """The windows a run merges and the tile table's partition columns.

    A tile table partitioned by ``(ds, hop_us)`` (every table this engine creates) holds day tiles with the
    IR of every feature, so whole-day windows are read from them (``day_windows``); an older table, by ``ds``
    only, keeps its layout and each window's own hop.
    """
    parts = partition_columns(spark, t_path) or [PARTITION_COL, HOP_COL]
    return (day_windows(group) if HOP_COL in parts else feature_windows(group)), parts


def _null_ir(group: FeatureGroup, features: list[Feature], df: DataFrame, when: Column) -> DataFrame:
    """Blank the IR columns of ``features`` on rows matching ``when`` (so they do not count twice)."""
    from pyspark.sql import functions as F

    names = {ir_column(f, p.part) for f in features for p in ir_parts(group, f)}
    return df.select(*(F.when(~when, F.col(c)).alias(c) if c in names else F.col(c) for c in df.columns))


def compute_range(spark: SparkSession, group: FeatureGroup, config: RuntimeConfig, first: date, last: date,
                  run_id: str) -> RangeResult:
    """Compute and store tiles, features and lifetime snapshots of days [first, last]; idempotent."""
    from pyspark.sql import functions as F

    from weir.compute.spark_agg import build_tiles, merge_aggregations, tile_schema, window_aggregations
    from weir.compute.spark_layout import lifetime_state

    keys = group.key_columns
    sl = read_source(spark, group, config, first, last)
    rows = sl.rows.persist()
    n_events, n_rejected = sl.counts()

    t_path = tiles_path(config, group.name)
    windows, t_parts = run_windows(spark, group, t_path)
    # every hop of the group (online and training sets read them) plus what ``windows`` needs of the 1d tiles
    tiles = build_tiles(sl.events, group, windows=[*feature_windows(group), *windows]).withColumn(
        PARTITION_COL, F.to_date(F.timestamp_micros(F.unix_micros(F.col(TILE_END_COL)) - 1)))
    overwrite_partitions(tiles.select(*tile_schema(group).fieldNames(), PARTITION_COL), t_path, first, last,
                         t_parts)
    n_tiles = _rows_written(spark, t_path)
    blocked = block_windows(windows) if HOP_COL in t_parts else []
    if blocked:
        blocks = build_blocks(spark, group, t_path, first, last, windows)
        if blocks is not None:
            overwrite_partitions(blocks, t_path, first, last, t_parts, where=f"{HOP_COL} = {BLOCK_US}")

    q_path = quarantine_path(config, group.name)
    if n_rejected or table_exists(spark, q_path):
        rejected = sl.rejected.withColumn("run_id", F.lit(run_id)).withColumn(
            "quarantined_at", F.current_timestamp())
        rejected = rejected.withColumn(PARTITION_COL, F.coalesce(
            F.to_date(F.timestamp_micros(F.unix_micros(F.col(group.event_time)) - 1)), F.lit(first)))
        overwrite_partitions(rejected, q_path, first, last)
    rows.unpersist()

    # Stored tiles in the lookback of the range, read back from Delta (the new days included).
    lookback = first - timedelta(days=lookback_days(windows, Lookback.READ))
    stored = read_partitions(spark, t_path, lookback, last)
    assert stored is not None
    n_days = (last - first).days + 1
    days = [first + timedelta(days=i) for i in range(n_days)]
    useful = _useful_tiles(windows, first)
    usable = usable_blocks(spark, t_path, lookback, last) if blocked else set()
    needed = sorted(needed_days(windows, days, usable))
    if len(needed) >= len(needed_days(windows, days, set())):
        usable = set()  # a long range needs every day tile anyway: blocks would only add rows
    if usable:
        # day tiles covered by blocks for every run time of the range are not read at all
        useful = ((useful & ((F.col(HOP_COL) != F.lit(DAY_US)) | F.col(PARTITION_COL).isin(needed)))
                  | ((F.col(HOP_COL) == F.lit(BLOCK_US)) & F.col(PARTITION_COL).isin(sorted(usable))))
    stored = stored.where(useful).drop(PARTITION_COL)
    life_hop = lifetime_hop(group)
    life_feats = lifetime_features(group)
    candidates = stored
    if life_hop is not None:
        # Lifetime features: tiles before the range (ending by the run time of the day before) are already in
        # the base: the lifetime IR as of then, from the snapshot of the day before or merged from tiles.
        before = first - timedelta(days=1)
        candidates = _null_ir(group, life_feats, stored, F.col(TILE_END_COL) <= F.lit(run_time(before)))
        base = lifetime_state(group, read_partitions(spark, lifetime_path(config, group.name), before, before),
                              spark.read.format("delta").load(t_path), run_time_us(before))
        fixed = {HOP_COL: F.lit(life_hop).cast("long"), TILE_END_COL: F.lit(run_time(before))}
        base_tiles = base.select(*(
            (fixed[c] if c in fixed else F.col(c) if c in base.columns else F.lit(None)).alias(c)
            for c in candidates.columns))
        candidates = candidates.unionByName(base_tiles)

    run_times = spark.createDataFrame([(run_time(d),) for d in days], f"{RUN_TS_COL} timestamp")
    # A tile joins the run times whose windows (of its hop) it can fall in; lifetime tiles join every later T.
    t_us, start_us = F.unix_micros(F.col(RUN_TS_COL)), F.unix_micros(F.col(TILE_END_COL)) - F.col(HOP_COL)
    reach = None
    for hop, longest_us in sorted(longest_window_per_hop(windows, lifetime=True).items()):
        cond = F.col(HOP_COL) == F.lit(hop)
        if longest_us is not None:
            cond = cond & (start_us >= t_us - F.lit(longest_us))
        reach = cond if reach is None else (reach | cond)
    assert reach is not None
    if usable:
        longest = max(w.window_us for w in blocked if w.window_us is not None)
        # a block joins the run times after its last day whose windows it can lie in (never one inside it)
        reach = reach | ((F.col(HOP_COL) == F.lit(BLOCK_US)) & (start_us >= t_us - F.lit(longest))
                         & (F.unix_micros(F.col(TILE_END_COL)) <= t_us))
    joined = candidates.crossJoin(F.broadcast(run_times)).where((start_us < t_us) & reach)

    # One aggregation gives the feature values and, for lifetime features, the IR of the next snapshot.
    conditions = {w.column: window_condition(w, t_us, usable) for w in blocked} if usable else None
    aggs = window_aggregations(group, t_col=RUN_TS_COL, windows=windows, conditions=conditions)
    life_cols: list[str] = []
    if life_hop is not None:
        is_life = F.col(HOP_COL) == F.lit(life_hop)
        merged = merge_aggregations(group, [f.name for f in life_feats], condition=is_life)
        life_cols = [ir_column(f, p.part) for f in life_feats for p in ir_parts(group, f)] + [NEWEST_COL]
        aggs += [c.alias(_LIFE + n) for c, n in zip(merged, life_cols, strict=True)]
        aggs.append(F.max(is_life).alias(_LIFE))
    result = (joined.groupBy(*keys, RUN_TS_COL).agg(*aggs)
              .withColumn(PARTITION_COL, F.to_date(F.col(RUN_TS_COL) - F.expr("INTERVAL 1 DAY"))))
    if life_cols:
        result = result.persist()  # written twice: features, then the lifetime snapshot
    out_cols = [*keys, RUN_TS_COL, *group.output_column_names(), NEWEST_COL, PARTITION_COL]
    f_path = features_path(config, group.name)
    overwrite_partitions(result.select(*out_cols), f_path, first, last)

    if life_cols:
        snap = result.where(F.col(_LIFE)).select(
            *keys, RUN_TS_COL, *(F.col(_LIFE + n).alias(n) for n in life_cols), PARTITION_COL)
        overwrite_partitions(snap, lifetime_path(config, group.name), first, last)
        result.unpersist()
    return RangeResult(first, last, n_events, n_rejected, n_tiles, _rows_written(spark, f_path))


def _useful_tiles(windows: list[WindowSpec], first: date) -> Column:
    """Stored tiles some run time of the range can still use: per hop, those inside its longest window of the
    first run time (a 5m hop only needs the last hour); lifetime-only hops need only the range's own tiles,
    the rest is in the lifetime snapshot. Filters on ``ds`` and ``hop_us`` (partition columns)."""
    from pyspark.sql import functions as F

    first_t_us = run_time_us(first)
    end_us = F.unix_micros(F.col(TILE_END_COL))
    longest = longest_window_per_hop(windows)
    useful = None
    for hop in sorted({w.hop_us for w in windows}):
        lower = first_t_us - longest.get(hop, DAY_US)
        # the ds bound is implied by the tile_end one; it lets Delta prune the (ds, hop_us) partitions
        lo_ds = (datetime(1970, 1, 1) + timedelta(microseconds=lower + hop - 1)).date()
        cond = ((F.col(HOP_COL) == F.lit(hop)) & (F.col(PARTITION_COL) >= F.lit(lo_ds))
                & (end_us - F.lit(hop) >= F.lit(lower)))
        useful = cond if useful is None else (useful | cond)
    assert useful is not None
    return useful


def _rows_written(spark: SparkSession, path: str) -> int:
    """Rows the last commit wrote to ``path`` (from the Delta log: no second scan of the data)."""
    from delta.tables import DeltaTable

    row = DeltaTable.forPath(spark, path).history(1).select("operationMetrics").first()
    metrics = (row[0] if row else None) or {}
    return int(metrics.get("numOutputRows", 0))

"""Week blocks: one pre-merged row per entity per 7 days of day tiles, for long whole-day windows.

At a run time (midnight) a window of whole days merges one day tile per day. For windows of 14 days and more
the engine also stores, in the tile table, a *block* per entity for each epoch-aligned 7-day span: the merge of
that span's day tiles (``hop_us`` = 7 days, ``tile_end`` = the end of its last day, partition ``ds`` = its last
day). Such a window then merges the blocks lying wholly inside it plus the day tiles of the days no such block
covers: 30 days take 3-4 blocks and 2-12 day tiles instead of 30 day tiles.

A block is built by the run of its last day, from the day tiles then stored. It is used only while it is at
least as new as every day tile of its span (file modification times per partition): a rerun of one of its days
(late events) rewrites that day's tiles but not the block, which is then ignored, and the day tiles are merged
instead, until the run of its last day builds it again. So a value never depends on whether a block was used.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING

from weir.compute.ir import HOP_COL, NEWEST_COL, TILE_END_COL, ir_column, ir_parts
from weir.compute.layout import run_time_us
from weir.compute.windows import DAY_US, WindowSpec
from weir.lake.delta import read_partitions, written_at
from weir.lake.paths import PARTITION_COL
from weir.spec.models import FeatureGroup

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

BLOCK_DAYS = 7
BLOCK_US = BLOCK_DAYS * DAY_US


def block_windows(windows: Sequence[WindowSpec]) -> list[WindowSpec]:
    """The windows that merge blocks: whole-day windows on day tiles spanning at least two blocks."""
    return [w for w in windows if w.hop_us == DAY_US and w.window_us is not None and w.window_us >= 2 * BLOCK_US]


def is_block_end(day: date) -> bool:
    """Whether ``day`` is the last day of an (epoch-aligned) block: its run time is a block's end."""
    return run_time_us(day) % BLOCK_US == 0


def _block_end(start_us: Column) -> Column:
    """End (microseconds) of the block holding the tile that starts at ``start_us``."""
    from pyspark.sql import functions as F

    return start_us - F.pmod(start_us, F.lit(BLOCK_US)) + F.lit(BLOCK_US)


def blocks_inside(day: date, window_days: int, usable: set[date]) -> list[date]:
    """Last days of the usable blocks wholly inside the window of ``window_days`` days ending with ``day``."""
    first = day - timedelta(days=window_days - 1)
    return [e for e in usable if first <= e - timedelta(days=BLOCK_DAYS - 1) and e <= day]


def needed_days(windows: Sequence[WindowSpec], run_days: Sequence[date], usable: set[date]) -> set[date]:
    """Days whose day tiles a run still needs: every day of a day-hop window not covered by a usable block
    inside it (block windows), every day of the other day-hop windows, and the run's own days."""
    out: set[date] = set(run_days)
    blocked = {w.column for w in block_windows(windows)}
    for day in run_days:
        for w in windows:
            if w.hop_us != DAY_US or w.window_us is None:
                continue
            n = w.window_us // DAY_US
            days = {day - timedelta(days=i) for i in range(n)}
            if w.column in blocked:
                for e in blocks_inside(day, n, usable):
                    days -= {e - timedelta(days=i) for i in range(BLOCK_DAYS)}
            out |= days
    return out


def window_condition(w: WindowSpec, t_us: Column, usable: set[date]) -> Column:
    """Rows a block window merges at ``t_us`` (a midnight): usable blocks wholly inside it, and the day tiles
    of its days that none of those blocks covers."""
    from pyspark.sql import functions as F

    assert w.window_us is not None
    ends = sorted(run_time_us(e) for e in usable)
    hop, end = F.col(HOP_COL), F.unix_micros(F.col(TILE_END_COL))
    start, lo = end - hop, t_us - F.lit(w.window_us)
    day = (hop == F.lit(DAY_US)) & (start >= lo) & (start < t_us)
    if not ends:
        return day
    block_end = _block_end(start)
    covered = (block_end - F.lit(BLOCK_US) >= lo) & (block_end <= t_us) & block_end.isin(ends)
    block = (hop == F.lit(BLOCK_US)) & (start >= lo) & (end <= t_us) & end.isin(ends)
    return (day & ~covered) | block


def build_blocks(spark: SparkSession, group: FeatureGroup, t_path: str, first: date, last: date,
                 windows: Sequence[WindowSpec]) -> DataFrame | None:
    """Blocks ending in [first, last], merged from the stored day tiles (None if no block ends there).

    Only the features of block windows are merged; the other IR columns are null.
    """
    from pyspark.sql import functions as F

    from weir.compute.spark_agg import merge_aggregations, tile_schema

    ends = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    ends = [e for e in ends if is_block_end(e)]
    if not ends:
        return None
    days = read_partitions(spark, t_path, ends[0] - timedelta(days=BLOCK_DAYS - 1), ends[-1])
    if days is None:
        return None
    names = sorted({w.feature.name for w in block_windows(windows)})
    start = F.unix_micros(F.col(TILE_END_COL)) - F.col(HOP_COL)
    block_end = _block_end(start)
    merged = (days.where(F.col(HOP_COL) == F.lit(DAY_US))
              .withColumn("__weir_block_end", block_end)
              .where(F.col("__weir_block_end").isin([run_time_us(e) for e in ends]))
              .groupBy(*group.key_columns, "__weir_block_end")
              .agg(*merge_aggregations(group, names)))
    mine = {ir_column(group.feature(n), p.part) for n in names for p in ir_parts(group, group.feature(n))}
    fixed = {HOP_COL: F.lit(BLOCK_US).cast("long"),
             TILE_END_COL: F.timestamp_micros(F.col("__weir_block_end")),
             NEWEST_COL: F.col(NEWEST_COL)}
    cols = [fixed[f.name].alias(f.name) if f.name in fixed
            else F.col(f.name) if f.name in mine or f.name in group.key_columns
            else F.lit(None).cast(f.dataType).alias(f.name)
            for f in tile_schema(group).fields]
    ds = F.to_date(F.timestamp_micros(F.col("__weir_block_end") - F.lit(1))).alias(PARTITION_COL)
    return merged.select(*cols, ds)


def usable_blocks(spark: SparkSession, t_path: str, lo: date, hi: date) -> set[date]:
    """Last days of the blocks in partitions [lo, hi] that are at least as new as every day tile of their span."""
    from pyspark.sql import functions as F

    table = read_partitions(spark, t_path, lo - timedelta(days=BLOCK_DAYS - 1), hi)
    if table is None:
        return set()
    days = written_at(table.where(F.col(HOP_COL) == F.lit(DAY_US)), newest=True)
    blocks = written_at(table.where(F.col(HOP_COL) == F.lit(BLOCK_US)), newest=False)
    return {e for e, at in blocks.items() if e >= lo
            and all(days.get(e - timedelta(days=i), at) <= at for i in range(BLOCK_DAYS))}

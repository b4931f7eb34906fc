"""The group layout's rules on Spark DataFrames (imports pyspark): lifetime state and TTL expiry.

The pure rules and their reasons are in :mod:`weir.compute.layout`.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from weir.compute.ir import HOP_COL, NEWEST_COL, TILE_END_COL, ir_column, ir_parts
from weir.compute.layout import lifetime_features, lifetime_hop
from weir.compute.spark_agg import merge_aggregations
from weir.spec.models import FeatureGroup


def lifetime_state(group: FeatureGroup, snapshot: DataFrame | None, tiles: DataFrame, t_us: int) -> DataFrame:
    """The lifetime features' IR as of ``t_us`` (a run time), one row per entity: keys, IR, ``newest_event_ts``.

    From the stored lifetime snapshot at ``t_us`` when it has rows; else (a first run, or a gap in the
    snapshots) merged once from every tile of the lifetime hop that ends by ``t_us``. The group must have
    lifetime features.
    """
    life = lifetime_features(group)
    if snapshot is not None and snapshot.limit(1).count() > 0:
        cols = [ir_column(f, p.part) for f in life for p in ir_parts(group, f)]
        return snapshot.select(*group.key_columns, *cols, NEWEST_COL)
    older = tiles.where((F.col(HOP_COL) == F.lit(lifetime_hop(group)))
                        & (F.col(TILE_END_COL) <= F.timestamp_micros(F.lit(t_us))))
    return older.groupBy(*group.key_columns).agg(*merge_aggregations(group, [f.name for f in life]))


def expired(group: FeatureGroup, newest: Column, t: Column) -> Column:
    """``weir.compute.layout.is_expired`` on columns: no newest event, or one at least ``online.ttl`` before ``t``."""
    return newest.isNull() | (F.unix_micros(newest) + F.lit(group.online.ttl_us) <= F.unix_micros(t))

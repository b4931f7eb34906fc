"""Feature values at given (keys, t) rows from tiles (and raw events for the partial head tile).

Used by the training-set builder (t = label time) and the Spark oracle tests. The batch engine does not call
it: it merges its stored tiles at each run time with ``spark_agg.window_aggregations`` (``weir.batch.engine``).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from weir.compute.ir import HOP_COL, NEWEST_COL, TILE_END_COL
from weir.compute.layout import longest_window_per_hop
from weir.compute.spark_agg import (
    build_tiles,
    floor_us,
    ir_fields,
    tile_aggregations,
    window_aggregations,
    with_tile_end,
)
from weir.compute.windows import feature_windows, group_hops
from weir.spec.models import FeatureGroup

_T = "__weir_t"
_KNOWN_KEY = "__weir_known_key"


def _tile_columns(group: FeatureGroup) -> list[str]:
    return [HOP_COL, TILE_END_COL, *(n for n, _ in ir_fields(group)), NEWEST_COL]


def _spine(spine: DataFrame, group: FeatureGroup, t_col: str) -> DataFrame:
    return spine.select(*group.key_columns, F.col(t_col).alias(_T)).distinct()


def _lower_bound(group: FeatureGroup, t_us: Column) -> Column:
    """Prune tiles that no window can use, per hop: ``tile_end > t - longest window of that hop``.

    A hop serving a lifetime feature keeps every tile. Every hop's tiles hold every event, so the newest event
    within the group's longest window is still among the kept tiles (``newest_event_ts`` is unchanged).
    """
    longest = longest_window_per_hop(feature_windows(group), lifetime=True)
    end_us = F.unix_micros(F.col(TILE_END_COL))
    keep: Column | None = None
    for hop, window in sorted(longest.items()):
        cond = F.col(HOP_COL) == F.lit(hop)
        if window is not None:
            cond = cond & (end_us > t_us - F.lit(window))
        keep = cond if keep is None else (keep | cond)
    return F.lit(True) if keep is None else keep


def _aggregate(parts: DataFrame, keyed_spine: DataFrame, group: FeatureGroup, t_col: str) -> DataFrame:
    """Union with the spine itself (null tile) so every spine row yields a row, then window-aggregate."""
    cols = [*group.key_columns, _T, *_tile_columns(group)]
    fields = dict(ir_fields(group))
    empty = keyed_spine.select(
        *group.key_columns, _T,
        F.lit(None).cast("long").alias(HOP_COL), F.lit(None).cast("timestamp").alias(TILE_END_COL),
        *(F.lit(None).cast(t).alias(n) for n, t in fields.items()),
        F.lit(None).cast("timestamp").alias(NEWEST_COL),
    )
    allrows = parts.select(*cols).unionByName(empty.select(*cols))
    out = allrows.groupBy(*group.key_columns, _T).agg(*window_aggregations(group, _T))
    return out.withColumnRenamed(_T, t_col)


def features_at(tiles: DataFrame, spine: DataFrame, group: FeatureGroup, t_col: str = "t") -> DataFrame:
    """Feature values at each (keys, t) of ``spine`` from ``tiles`` only.

    Correct when every tile holds only events ``<= t`` -- e.g. ``t`` on a boundary of every hop (end of
    day) with tiles built from events up to ``t``. For arbitrary ``t`` use ``point_in_time_features``.
    Returns keys, ``t_col``, every output column, ``newest_event_ts``.
    """
    s = _spine(spine, group, t_col)
    t_us = F.unix_micros(F.col(_T))
    cand = s.join(tiles, group.key_columns).where(
        (F.unix_micros(F.col(TILE_END_COL)) - F.col(HOP_COL) < t_us) & _lower_bound(group, t_us)
    )
    return _aggregate(cand, s, group, t_col)


def known_tiles(events: DataFrame, group: FeatureGroup, known_col: str) -> DataFrame:
    """Tiles that also split events by when they became available (``known_col``, a timestamp).

    An event available by its tile's end counts whenever the tile is full at t (``tile_end <= floor_h(t) <= t``),
    so those share the tile's row (``_KNOWN_KEY`` NULL); a later one is in a row of its availability time, used
    only at t at or after it. One row per (keys, hop, tile_end) when nothing arrived late.
    """
    keys = group.key_columns
    clean = events.where(F.col(group.event_time).isNotNull())
    for k in keys:
        clean = clean.where(F.col(k).isNotNull())
    parts: list[DataFrame] = []
    for hop in group_hops(group):
        tiled = with_tile_end(clean, group, hop)
        late = F.when(F.col(known_col) > F.col(TILE_END_COL), F.col(known_col))
        parts.append(tiled.withColumn(_KNOWN_KEY, late).groupBy(*keys, HOP_COL, TILE_END_COL, _KNOWN_KEY)
                     .agg(*tile_aggregations(group, hop)))
    result = parts[0]
    for p in parts[1:]:
        result = result.unionByName(p)
    return result


def point_in_time_features(events: DataFrame, spine: DataFrame, group: FeatureGroup, t_col: str = "t",
                           tiles: DataFrame | None = None, known_col: str | None = None) -> DataFrame:
    """Exact point-in-time values at arbitrary ``t`` (events with event time <= t only).

    Full tiles (``tile_end <= floor_h(t)``) come from ``tiles`` (built from ``events`` if not given);
    the head ``(floor_h(t), t]`` of every hop is aggregated from raw ``events`` per spine row, so an event
    after ``t`` never leaks in. Equals what ``py_feature_values`` serves online at ``t``.
    With ``known_col`` (when each event became available), an event counts only if it was available at ``t``
    too; tiles are then built here by ``known_tiles`` (``tiles`` must be None).
    """
    keys = group.key_columns
    s = _spine(spine, group, t_col)
    t_us = F.unix_micros(F.col(_T))
    known = F.lit(True)
    full_cond = (F.unix_micros(F.col(TILE_END_COL)) <= floor_us(t_us, F.col(HOP_COL))) & _lower_bound(group, t_us)
    if known_col is not None:
        assert tiles is None, "known_col builds its own tiles"
        tiles = known_tiles(events, group, known_col)
        full_cond = full_cond & (F.col(_KNOWN_KEY).isNull() | (F.col(_KNOWN_KEY) <= F.col(_T)))
        known = F.col(known_col) <= F.col(_T)
    elif tiles is None:
        tiles = build_tiles(events, group)
    full = s.join(tiles, keys).where(full_cond)
    parts = full.select(*keys, _T, *_tile_columns(group))
    ev = events.where(F.col(group.event_time).isNotNull())
    ts_us = F.unix_micros(F.col(group.event_time))
    for hop in group_hops(group):
        fl = floor_us(t_us, hop)
        # equi-join on the head's hop bucket too: each spine row meets only the events of its own bucket
        # (fl, fl + hop], not every event of its entity
        bucket = "__weir_bucket"
        head = (
            s.withColumn(bucket, fl + F.lit(hop))
            .join(ev.withColumn(bucket, floor_us(ts_us - F.lit(1), hop) + F.lit(hop)), [*keys, bucket])
            .where((ts_us > fl) & (ts_us <= t_us) & known)
            .groupBy(*keys, _T)
            .agg(*tile_aggregations(group, hop))
            .withColumn(HOP_COL, F.lit(hop).cast("long"))
            .withColumn(TILE_END_COL, F.timestamp_micros(fl + F.lit(hop)))
        )
        parts = parts.unionByName(head.select(*keys, _T, *_tile_columns(group)))
    return _aggregate(parts, s, group, t_col)

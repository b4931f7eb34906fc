"""Feature values at given (keys, t) rows from tiles (and raw events for the partial head tile).

Used by the training-set builder (t = label time) and the Spark oracle tests. The batch engine does not call
it: it merges its stored tiles at each run time with ``spark_agg.window_aggregations`` (``weir.batch.engine``).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from weir.compute.ir import HOP_COL, NEWEST_COL, TILE_END_COL
from weir.compute.layout import longest_window_per_hop
from weir.compute.spark_agg import (
    build_tiles,
    floor_us,
    in_window_at,
    ir_fields,
    merged_ir,
    tile_aggregations,
    window_aggregations,
    with_tile_end,
)
from weir.compute.windows import feature_windows, group_hops
from weir.spec.models import FeatureGroup

_T = "__weir_t"
_CUT = "__weir_cut"
_FRAME = "__weir_frame"
_ORDER = "__weir_order"


def _tile_columns(group: FeatureGroup) -> list[str]:
    return [HOP_COL, TILE_END_COL, *(n for n, _ in ir_fields(group)), NEWEST_COL]


def _spine(spine: DataFrame, group: FeatureGroup, t_col: str, horizon_col: str | None = None) -> DataFrame:
    """Distinct (keys, t); with ``horizon_col``, also ``_CUT``: the last instant the stored tiles answer for,
    ``min(t, horizon - 1 us)`` (every event before the horizon was in the lake at t and is in the tiles)."""
    s = spine.select(*group.key_columns, F.col(t_col).alias(_T),
                     *([F.col(horizon_col)] if horizon_col else [])).distinct()
    if horizon_col is None:
        return s
    before = F.timestamp_micros(F.unix_micros(F.col(horizon_col)) - F.lit(1))
    return s.select(*group.key_columns, _T, F.least(F.col(_T), F.coalesce(before, F.col(_T))).alias(_CUT))


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


def _empty_rows(keyed_spine: DataFrame, group: FeatureGroup) -> DataFrame:
    """One tile-shaped row of nulls per spine row (no hop: no window merges it), so every spine row yields a row."""
    fields = dict(ir_fields(group))
    return keyed_spine.select(
        *group.key_columns, _T,
        F.lit(None).cast("long").alias(HOP_COL), F.lit(None).cast("timestamp").alias(TILE_END_COL),
        *(F.lit(None).cast(t).alias(n) for n, t in fields.items()),
        F.lit(None).cast("timestamp").alias(NEWEST_COL),
    )


def _aggregate(parts: DataFrame, keyed_spine: DataFrame, group: FeatureGroup, t_col: str) -> DataFrame:
    """Union with the spine itself (null tile) so every spine row yields a row, then window-aggregate."""
    cols = [*group.key_columns, _T, *_tile_columns(group)]
    allrows = parts.select(*cols).unionByName(_empty_rows(keyed_spine, group).select(*cols))
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


def _frames(group: FeatureGroup) -> list[tuple[int, int | None]]:
    """The group's distinct (hop, window) pairs (window None: lifetime), in a fixed order: one frame each."""
    return sorted({(w.hop_us, w.window_us) for w in feature_windows(group)},
                  key=lambda f: (f[0], f[1] is None, f[1] or 0))


def _full_tile_frames(tiles: DataFrame, s: DataFrame, group: FeatureGroup) -> DataFrame:
    """Per spine (keys, t) and frame (hop h, window w): the merge of the full tiles in the window at t.

    Those are the tiles of hop h with ``tile_end`` in ``[floor_h(t) - w + h, floor_h(t)]`` (the window rule of
    ``window_aggregations``; the head ``(floor_h(t), t]`` comes from raw events). Each hop's tiles and the distinct
    points ``floor_h(t)`` of the spine are sorted once per entity and every window is a range frame over tile ends,
    so no spine row is joined to every tile of its entity, and spine times sharing a point share its merge. One row
    per (keys, t, frame), tagged ``_FRAME`` (the frame's index in ``_frames``), ``HOP_COL`` and ``TILE_END_COL =
    floor_h(t)``, with the IR of the frame's features only.
    """
    keys = group.key_columns
    fields = ir_fields(group)
    frames = _frames(group)
    of_frame = {f: sorted({w.feature.name for w in feature_windows(group) if (w.hop_us, w.window_us) == f})
                for f in frames}
    point = "__weir_point"
    out: DataFrame | None = None
    for hop in group_hops(group):
        tiles_h = tiles.where(F.col(HOP_COL) == F.lit(hop)).select(
            *keys, F.unix_micros(F.col(TILE_END_COL)).alias(_ORDER), F.lit(False).alias(point),
            *(n for n, _ in fields), NEWEST_COL)
        at = s.select(*keys, floor_us(F.unix_micros(F.col(_T)), hop).alias(_ORDER), _T)
        points = at.select(*keys, _ORDER).distinct().select(
            *keys, _ORDER, F.lit(True).alias(point), *(F.lit(None).cast(t).alias(n) for n, t in fields),
            F.lit(None).cast("timestamp").alias(NEWEST_COL))
        by_end = Window.partitionBy(*keys).orderBy(_ORDER)
        merged: list[Column] = []
        for i, (h, w) in enumerate(frames):
            if h != hop:
                continue
            frame = by_end.rangeBetween(Window.unboundedPreceding if w is None else -(w - h), 0)
            got = merged_ir(group, of_frame[(h, w)], over=frame)
            merged.append(F.struct(
                F.lit(i).alias(_FRAME),
                *((got[n] if n in got else F.lit(None).cast(t)).alias(n) for n, t in fields),
                got[NEWEST_COL].alias(NEWEST_COL)))
        at_points = (tiles_h.unionByName(points)
                     .select(*keys, _ORDER, point, F.array(*merged).alias("__weir_frames"))
                     .where(F.col(point)).drop(point))
        rows = (at.join(at_points, [*keys, _ORDER])
                .select(*keys, _T, F.lit(hop).cast("long").alias(HOP_COL),
                        F.timestamp_micros(F.col(_ORDER)).alias(TILE_END_COL),
                        F.explode("__weir_frames").alias("__weir_f"))
                .select(*keys, _T, HOP_COL, TILE_END_COL, "__weir_f.*"))
        out = rows if out is None else out.unionByName(rows)
    assert out is not None
    return out


def _head_tiles(events: DataFrame, s: DataFrame, group: FeatureGroup, known: Column) -> DataFrame:
    """Per spine (keys, t) and hop h: the partial head tile ``(floor_h(t), t]`` aggregated from raw events."""
    keys = group.key_columns
    t_us = F.unix_micros(F.col(_T))
    ev = events.where(F.col(group.event_time).isNotNull())
    ts_us = F.unix_micros(F.col(group.event_time))
    out: DataFrame | None = None
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
            .select(*keys, _T, *_tile_columns(group))
        )
        out = head if out is None else out.unionByName(head)
    assert out is not None
    return out


def _middle_tiles(events: DataFrame, s: DataFrame, group: FeatureGroup, known_col: str, dense: bool) -> DataFrame:
    """Per spine (keys, t) and hop h: the full tiles ``(floor_h(cut), floor_h(t)]`` that the stored tiles cannot
    answer for (they may hold events not yet in the lake at t), from the raw events available at t; only those
    some window of the hop reaches (``floor_h(t) - longest window`` on).

    Sparse entities (``dense`` False) join each row to the raw events of the days those tiles span (an equi-join
    on (keys, day)). Dense ones first aggregate the events into tiles split by availability, and each row meets
    only the rows of its own tiles (an equi-join on (keys, tile end)): a merchant's hundred events a day become a
    few rows per tile.
    """
    keys = group.key_columns
    longest = longest_window_per_hop(feature_windows(group), lifetime=True)
    ev = events.where(F.col(group.event_time).isNotNull())
    ts_us = F.unix_micros(F.col(group.event_time))
    known = F.col(known_col) <= F.col(_T)
    out: DataFrame | None = None
    for hop in group_hops(group):
        hi = floor_us(F.unix_micros(F.col(_T)), hop)
        lo = floor_us(F.unix_micros(F.col(_CUT)), hop)
        if longest.get(hop) is not None:
            lo = F.greatest(lo, hi - F.lit(longest[hop]))
        rows = s.where(lo < hi).select(*keys, _T, lo.alias("__weir_lo"), hi.alias("__weir_hi"))
        lo, hi = F.col("__weir_lo"), F.col("__weir_hi")
        if dense:
            end_us = "__weir_end_us"
            split = (with_tile_end(ev, group, hop).groupBy(*keys, TILE_END_COL, known_col)
                     .agg(*tile_aggregations(group, hop)).withColumn(end_us, F.unix_micros(F.col(TILE_END_COL))))
            mid = (rows.select(*keys, _T, F.explode(F.sequence(lo + F.lit(hop), hi, F.lit(hop))).alias(end_us))
                   .join(split, [*keys, end_us]).where(known).withColumn(HOP_COL, F.lit(hop).cast("long")))
        else:
            day = "__weir_day"
            days = F.sequence(F.to_date(F.timestamp_micros(lo + F.lit(1))), F.to_date(F.timestamp_micros(hi)))
            mid = (rows.select(*keys, _T, lo, hi, F.explode(days).alias(day))
                   .join(ev.withColumn(day, F.to_date(F.col(group.event_time))), [*keys, day])
                   .where((ts_us > lo) & (ts_us <= hi) & known))
            mid = (with_tile_end(mid, group, hop).groupBy(*keys, _T, HOP_COL, TILE_END_COL)
                   .agg(*tile_aggregations(group, hop)))
        mid = mid.select(*keys, _T, *_tile_columns(group))
        out = mid if out is None else out.unionByName(mid)
    assert out is not None
    return out


def _settled(group: FeatureGroup) -> Column:
    """Whether a spine row's stored tiles answer for every full tile at t (its cut is in the head of every hop)."""
    cond = F.lit(True)
    for hop in group_hops(group):
        cond = cond & (floor_us(F.unix_micros(F.col(_CUT)), hop) == floor_us(F.unix_micros(F.col(_T)), hop))
    return cond


def point_in_time_features(events: DataFrame, spine: DataFrame, group: FeatureGroup, t_col: str = "t",
                           tiles: DataFrame | None = None, known_col: str | None = None,
                           horizon_col: str | None = None, frames: bool = False) -> DataFrame:
    """Exact point-in-time values at arbitrary ``t`` (events with event time <= t only).

    Full tiles (``tile_end <= floor_h(t)``) come from ``tiles`` (built from ``events`` if not given); the head
    ``(floor_h(t), t]`` of every hop is aggregated from raw ``events`` per spine row, so an event after ``t`` never
    leaks in. Equals what ``py_feature_values`` serves online at ``t``. ``frames`` says how full tiles are merged,
    both exact: joined to each spine row of their entity (cheap when entities have few tiles), or by range
    frames over each entity's sorted tiles (``_full_tile_frames``: cheap when they have many, e.g. merchants).

    With ``known_col`` (when each event became available, on ``events``) an event counts only if it was
    available at ``t`` too. ``horizon_col`` (on ``spine``) then says up to when ``tiles`` answer: every event
    before the horizon was available at t and is in them (``weir.training.known_at.known_horizons``); the full
    tiles after it are aggregated from the available raw events (``_middle_tiles``). Range frames serve the rows
    whose horizon lies in their head; the others are joined.
    """
    keys = group.key_columns
    s = _spine(spine, group, t_col, horizon_col)
    t_us = F.unix_micros(F.col(_T))
    every = tiles if tiles is not None else build_tiles(events, group)
    known = F.lit(True) if known_col is None else F.col(known_col) <= F.col(_T)
    loose = _head_tiles(events, s, group, known)  # tile-shaped rows, merged by the window rule itself
    framed_spine, joined_spine = (s, None) if frames else (None, s)
    stored_to = F.col(_T)
    if horizon_col is not None:
        assert known_col is not None, "a horizon needs the events' availability"
        loose = loose.unionByName(_middle_tiles(events, s, group, known_col, dense=frames))
        stored_to = F.col(_CUT)
        if frames:
            framed_spine, joined_spine = s.where(_settled(group)), s.where(~_settled(group))
    if joined_spine is not None:
        full = ((F.unix_micros(F.col(TILE_END_COL)) <= floor_us(F.unix_micros(stored_to), F.col(HOP_COL)))
                & _lower_bound(group, t_us))
        loose = loose.unionByName(joined_spine.join(every, keys).where(full).select(*keys, _T, *_tile_columns(group)))
    if framed_spine is None:
        return _aggregate(loose, s, group, t_col)
    if horizon_col is not None:  # a joined row may meet no tile at all
        loose = loose.unionByName(_empty_rows(joined_spine if joined_spine is not None else s, group))
    rows = (_full_tile_frames(every, framed_spine.select(*keys, _T), group)
            .unionByName(loose.withColumn(_FRAME, F.lit(None).cast("int"))))
    ids = {f: i for i, f in enumerate(_frames(group))}
    t, hop, end = F.col(_T), F.col(HOP_COL), F.col(TILE_END_COL)
    conditions = {w.column: (F.col(_FRAME) == F.lit(ids[(w.hop_us, w.window_us)]))
                  | (F.col(_FRAME).isNull() & in_window_at(w, t, hop, end))
                  for w in feature_windows(group)}
    out = rows.groupBy(*keys, _T).agg(*window_aggregations(group, _T, conditions=conditions))
    return out.withColumnRenamed(_T, t_col)

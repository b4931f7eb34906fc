"""Spark implementation of tiles, merges and windowed finalization (the one aggregation core).

Batch, streaming and training sets all use these expressions; ``py_agg`` mirrors the same math in pure
Python for online reads. See docs/features.md for the tile/window semantics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.window import WindowSpec as SparkWindow

from weir.compute.hll import order_free_col
from weir.compute.ir import (
    BINARY,
    DOUBLE,
    HLL_LG_K,
    HOP_COL,
    LONG,
    NEWEST_COL,
    TILE_END_COL,
    TIMESTAMP,
    column_type,
    ir_column,
    ir_parts,
    output_type,
)
from weir.compute.windows import WindowSpec, feature_windows, group_hops
from weir.spec.models import Aggregation, ColumnType, Feature, FeatureGroup

_SPARK_TYPES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "int": T.IntegerType(),
    "long": T.LongType(),
    "double": T.DoubleType(),
    "float": T.FloatType(),
    "boolean": T.BooleanType(),
    "timestamp": T.TimestampType(),
    "date": T.DateType(),
    BINARY: T.BinaryType(),
}
assert LONG in _SPARK_TYPES and DOUBLE in _SPARK_TYPES and TIMESTAMP in _SPARK_TYPES


def spark_type(logical: str) -> T.DataType:
    return _SPARK_TYPES[logical]


def ir_fields(group: FeatureGroup) -> list[tuple[str, T.DataType]]:
    """(IR column, Spark type) for all features of the group."""
    return [(ir_column(f, p.part), spark_type(p.type)) for f in group.features for p in ir_parts(group, f)]


def output_fields(group: FeatureGroup) -> list[tuple[str, T.DataType]]:
    """(output feature column, Spark type) in output order."""
    return [(w.column, spark_type(output_type(group, w.feature))) for w in feature_windows(group)]


def tile_schema(group: FeatureGroup) -> T.StructType:
    """Schema of a tile table: keys, hop_us, tile_end, IR columns, newest_event_ts."""
    cols = group.source.columns
    fields = [T.StructField(k, spark_type(cols[k].value)) for k in group.key_columns]
    fields += [T.StructField(HOP_COL, T.LongType(), False), T.StructField(TILE_END_COL, T.TimestampType())]
    fields += [T.StructField(n, t) for n, t in ir_fields(group)]
    fields.append(T.StructField(NEWEST_COL, T.TimestampType()))
    return T.StructType(fields)


# --------------------------------------------------------------------------------------------- tiles
def tile_end_col(ts: Column, hop_us: int | Column) -> Column:
    """ceil(ts / hop) * hop as a timestamp (exact on microseconds; works before 1970 too)."""
    us = F.unix_micros(ts)
    hop = F.lit(hop_us) if isinstance(hop_us, int) else hop_us
    rem = F.pmod(us, hop)
    return F.timestamp_micros(us - rem + F.when(rem == 0, F.lit(0)).otherwise(hop))


def floor_us(t_us: Column, hop: Column | int) -> Column:
    h = F.lit(hop) if isinstance(hop, int) else hop
    return t_us - F.pmod(t_us, h)


def with_tile_end(df: DataFrame, group: FeatureGroup, hop_us: int) -> DataFrame:
    """Add ``tile_end`` (timestamp) and ``hop_us`` (long) for tiles of ``hop_us``."""
    return df.withColumn(TILE_END_COL, tile_end_col(F.col(group.event_time), hop_us)).withColumn(
        HOP_COL, F.lit(hop_us).cast("long")
    )


def _where(feature: Feature) -> Column:
    return F.expr(feature.where) if feature.where else F.lit(True)


def hll_input(value: Column, ctype: ColumnType) -> Column:
    """Canonical value fed to the HLL sketch (mirrored by ``py_agg.hll_value``)."""
    if ctype == ColumnType.STRING:
        return value
    if ctype in (ColumnType.INT, ColumnType.LONG):
        return value.cast("long")
    if ctype == ColumnType.BOOLEAN:
        return value.cast("int").cast("long")
    if ctype == ColumnType.TIMESTAMP:
        return F.unix_micros(value)
    if ctype == ColumnType.DATE:
        return F.unix_date(value).cast("long")
    return value.cast("string")  # double/float: Java's Double.toString


def _order_key(agg: Aggregation, ts: Column) -> Column:
    """max(struct(key, v)) picks the first (key = -ts) / last (key = ts) value, ties -> larger value."""
    us = F.unix_micros(ts)
    return -us if agg == Aggregation.FIRST else us


def _key_to_ts(agg: Aggregation, key: Column) -> Column:
    return F.timestamp_micros(-key if agg == Aggregation.FIRST else key)


def _typed_null(logical: str) -> Column:
    return F.lit(None).cast(spark_type(logical))


def feature_tile_aggregations(group: FeatureGroup, feature: Feature) -> list[Column]:
    """Aggregates over RAW source rows producing this feature's IR columns."""
    agg = feature.aggregation
    w = _where(feature)
    name = ir_column
    if agg == Aggregation.COUNT:
        counted = F.lit(1) if feature.column is None else F.col(feature.column)
        return [F.count(F.when(w, counted)).cast("long").alias(name(feature, "n"))]
    ctype = column_type(group, feature)
    assert ctype is not None and feature.column is not None
    x = F.when(w, F.col(feature.column))
    if agg == Aggregation.SUM:
        st = ir_parts(group, feature)[0].type
        return [F.sum(x.cast(st)).cast(st).alias(name(feature, "s")),
                F.count(x).cast("long").alias(name(feature, "n"))]
    if agg == Aggregation.AVG:
        return [F.sum(x.cast("double")).alias(name(feature, "s")),
                F.count(x).cast("long").alias(name(feature, "n"))]
    if agg == Aggregation.MIN:
        return [F.min(x).alias(name(feature, "v"))]
    if agg == Aggregation.MAX:
        return [F.max(x).alias(name(feature, "v"))]
    if agg in (Aggregation.FIRST, Aggregation.LAST):
        col = F.col(feature.column)
        ts = F.col(group.event_time)
        picked = F.max(F.when(w & col.isNotNull() & ts.isNotNull(),
                              F.struct(_order_key(agg, ts).alias("k"), col.alias("v"))))
        return [_key_to_ts(agg, picked.getField("k")).alias(name(feature, "ts")),
                picked.getField("v").alias(name(feature, "v"))]
    if agg == Aggregation.STDDEV:
        d = x.cast("double")
        return [F.count(d).cast("long").alias(name(feature, "n")),
                F.sum(d).alias(name(feature, "s")),
                F.sum(d * d).alias(name(feature, "q"))]
    if agg == Aggregation.APPROX_COUNT_DISTINCT:
        return [F.hll_sketch_agg(F.when(w, hll_input(F.col(feature.column), ctype)), HLL_LG_K)
                .alias(name(feature, "sk"))]
    raise AssertionError(agg)  # pragma: no cover


def tile_aggregations(group: FeatureGroup, hop_us: int | None = None,
                      windows: Sequence[WindowSpec] | None = None) -> list[Column]:
    """Aggregates for ``df.groupBy(*keys, tile_end).agg(*...)`` over raw source rows.

    With ``hop_us`` set, features that use no window of that hop (in ``windows``, default the group's) get
    typed NULL IR columns (not computed). Always ends with ``newest_event_ts``.
    """
    out: list[Column] = []
    windows = feature_windows(group) if windows is None else windows
    used = {w.feature.name for w in windows if hop_us is None or w.hop_us == hop_us}
    for f in group.features:
        if f.name in used:
            out += feature_tile_aggregations(group, f)
        else:
            out += [_typed_null(p.type).alias(ir_column(f, p.part)) for p in ir_parts(group, f)]
    out.append(F.max(F.col(group.event_time)).alias(NEWEST_COL))
    return out


def build_tiles(events: DataFrame, group: FeatureGroup, hops: Sequence[int] | None = None,
                windows: Sequence[WindowSpec] | None = None) -> DataFrame:
    """Tiles of every hop the group uses: (keys, hop_us, tile_end, IR..., newest_event_ts).

    ``windows`` (default the group's) says which features a hop's tiles carry. Rows with a NULL event time
    or NULL key are dropped (they belong in the dead-letter table upstream).
    """
    keys = group.key_columns
    clean = events.where(F.col(group.event_time).isNotNull())
    for k in keys:
        clean = clean.where(F.col(k).isNotNull())
    parts: list[DataFrame] = []
    if hops is None:
        hops = group_hops(group) if windows is None else sorted({w.hop_us for w in windows})
    for hop in hops:
        tiled = with_tile_end(clean, group, hop)
        parts.append(tiled.groupBy(*keys, HOP_COL, TILE_END_COL).agg(*tile_aggregations(group, hop, windows)))
    result = parts[0]
    for p in parts[1:]:
        result = result.unionByName(p)
    return result


# --------------------------------------------------------------------------------------- merge/finalize
IRGetter = Callable[[str], Column]


def _merge_feature(group: FeatureGroup, feature: Feature, ir: IRGetter, cond: Column | None,
                   over: SparkWindow | None = None) -> dict[str, Column]:
    """Merged IR parts of one feature (aggregate expressions), rows restricted to ``cond``; with ``over``, the
    same aggregates as window functions over that frame."""

    def c(part: str) -> Column:
        col = ir(part)
        return col if cond is None else F.when(cond, col)

    def a(aggregate: Column) -> Column:
        return aggregate if over is None else aggregate.over(over)

    agg = feature.aggregation
    if agg == Aggregation.COUNT:
        return {"n": a(F.sum(c("n"))).cast("long")}
    if agg in (Aggregation.SUM, Aggregation.AVG):
        st = ir_parts(group, feature)[0].type
        return {"s": a(F.sum(c("s"))).cast(st), "n": a(F.sum(c("n"))).cast("long")}
    if agg == Aggregation.MIN:
        return {"v": a(F.min(c("v")))}
    if agg == Aggregation.MAX:
        return {"v": a(F.max(c("v")))}
    if agg in (Aggregation.FIRST, Aggregation.LAST):
        ok = ir("ts").isNotNull() if cond is None else (cond & ir("ts").isNotNull())
        picked = a(F.max(F.when(ok, F.struct(_order_key(agg, ir("ts")).alias("k"), ir("v").alias("v")))))
        return {"ts": _key_to_ts(agg, picked.getField("k")), "v": picked.getField("v")}
    if agg == Aggregation.STDDEV:
        return {"n": a(F.sum(c("n"))).cast("long"), "s": a(F.sum(c("s"))), "q": a(F.sum(c("q")))}
    if agg == Aggregation.APPROX_COUNT_DISTINCT:
        return {"sk": a(F.hll_union_agg(c("sk"), True))}
    raise AssertionError(agg)  # pragma: no cover


def _finalize(feature: Feature, m: IRGetter) -> Column:
    agg = feature.aggregation
    if agg == Aggregation.COUNT:
        return F.coalesce(m("n"), F.lit(0).cast("long"))
    if agg == Aggregation.SUM:
        return F.when(m("n") > 0, m("s"))
    if agg == Aggregation.AVG:
        return F.when(m("n") > 0, m("s") / m("n"))
    if agg in (Aggregation.MIN, Aggregation.MAX, Aggregation.FIRST, Aggregation.LAST):
        return m("v")
    if agg == Aggregation.STDDEV:
        n, s, q = m("n"), m("s"), m("q")
        var = (q - s * s / n) / (n - 1)
        return F.when(n >= 2, F.sqrt(F.greatest(F.lit(0.0), var)))
    if agg == Aggregation.APPROX_COUNT_DISTINCT:
        return F.coalesce(F.hll_sketch_estimate(order_free_col(m("sk"))), F.lit(0).cast("long"))
    raise AssertionError(agg)  # pragma: no cover


def _features(group: FeatureGroup, features: Sequence[str] | None) -> list[Feature]:
    return list(group.features) if features is None else [group.feature(n) for n in features]


def merged_ir(group: FeatureGroup, features: Sequence[str] | None = None, condition: Column | None = None,
              over: SparkWindow | None = None) -> dict[str, Column]:
    """IR column name -> the aggregate merging those IR rows (``condition`` restricts the rows; with ``over``, a
    window function merging the rows of that frame into every row), then ``newest_event_ts``."""
    out: dict[str, Column] = {}
    for f in _features(group, features):
        merged = _merge_feature(group, f, lambda p, f=f: F.col(ir_column(f, p)), condition, over)  # type: ignore[misc]
        out.update({ir_column(f, p.part): merged[p.part] for p in ir_parts(group, f)})
    newest = F.max(F.col(NEWEST_COL) if condition is None else F.when(condition, F.col(NEWEST_COL)))
    out[NEWEST_COL] = newest if over is None else newest.over(over)
    return out


def merge_aggregations(group: FeatureGroup, features: Sequence[str] | None = None,
                       condition: Column | None = None, include_newest: bool = True) -> list[Column]:
    """Aggregates merging IR rows (e.g. tiles) into one IR row with the same column names."""
    return [c.alias(n) for n, c in merged_ir(group, features, condition).items()
            if include_newest or n != NEWEST_COL]


def in_window_at(w: WindowSpec, t: Column, hop: Column, tile_end: Column) -> Column:
    """Whether a tile (``hop``, ``tile_end``) lies in window ``w`` read at ``t``: of the window's hop, started
    before ``t`` and at or after ``floor_h(t) - w`` (the window rule, docs/features.md)."""
    t_us, start_us = F.unix_micros(t), F.unix_micros(tile_end) - hop
    cond = (hop == F.lit(w.hop_us)) & (start_us < t_us)
    if w.window_us is not None:
        cond = cond & (start_us >= floor_us(t_us, w.hop_us) - F.lit(w.window_us))
    return cond


def window_aggregations(group: FeatureGroup, t_col: str | Column = "t", hop_col: str | Column = HOP_COL,
                        tile_end_col: str | Column = TILE_END_COL, include_newest: bool = True,
                        windows: Sequence[WindowSpec] | None = None,
                        conditions: Mapping[str, Column] | None = None) -> list[Column]:
    """FINAL feature columns for ``tiles.groupBy(*keys, t).agg(*window_aggregations(group))``.

    Every (feature, window) merges only the tiles of its hop whose interval lies in the window at ``t``
    (``tile_end - hop >= floor_h(t) - w`` and ``tile_end - hop < t``); tiles must hold only events
    ``<= t`` (``spark_pit.point_in_time_features`` builds the head tile from raw events). Output columns follow
    ``FeatureGroup.output_columns()``, then ``newest_event_ts`` (newest event time <= t seen). ``windows``
    (default the group's, in the same order) may give a window another hop, e.g. ``day_windows``;
    ``conditions`` replaces the rows some windows merge, by output column (e.g. blocks, ``weir.batch.blocks``).
    """
    t = F.col(t_col) if isinstance(t_col, str) else t_col
    hop = F.col(hop_col) if isinstance(hop_col, str) else hop_col
    te = F.col(tile_end_col) if isinstance(tile_end_col, str) else tile_end_col
    t_us, start_us = F.unix_micros(t), F.unix_micros(te) - hop
    out: list[Column] = []
    for w in feature_windows(group) if windows is None else windows:
        cond = in_window_at(w, t, hop, te)
        if conditions and w.column in conditions:
            cond = conditions[w.column]
        f = w.feature
        merged = _merge_feature(group, f, lambda p, f=f: F.col(ir_column(f, p)), cond)  # type: ignore[misc]
        out.append(_finalize(f, merged.__getitem__).alias(w.column))
    if include_newest:
        out.append(F.max(F.when(start_us < t_us, F.col(NEWEST_COL))).alias(NEWEST_COL))
    return out

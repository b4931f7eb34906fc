"""Pure-Python mirror of the aggregation core (online reads, oracles). Same IR, same window rule.

Tiles are dicts: ``hop_us`` (int), ``tile_end_us`` (int epoch micros), IR columns ``<feature>__<part>``
and optionally ``newest_event_ts`` (int micros). Timestamps inside IRs (``__ts``) are int micros.
HLL sketches are the bytes Spark's ``hll_sketch_agg`` produces (Apache DataSketches format).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from weir.compute.hll import order_free
from weir.compute.ir import HLL_LG_K, NEWEST_COL, column_type, ir_column, ir_parts
from weir.compute.online_tile import END, HOP
from weir.compute.windows import datetime_to_us, feature_windows, tile_end, tile_in_window
from weir.spec.models import Aggregation, ColumnType, Feature, FeatureGroup

IR = dict[str, Any]


def _us(v: Any) -> int:
    return datetime_to_us(v) if isinstance(v, datetime) else int(v)


# ------------------------------------------------------------------------------------------------ HLL
def hll_value(v: Any, ctype: ColumnType) -> int | str:
    """Canonical value fed to the sketch, identical to ``spark_agg.hll_input``."""
    if ctype == ColumnType.STRING:
        return str(v)
    if ctype in (ColumnType.INT, ColumnType.LONG, ColumnType.BOOLEAN):
        return int(v)
    if ctype == ColumnType.TIMESTAMP:
        return _us(v)
    if ctype == ColumnType.DATE:
        return (v - date(1970, 1, 1)).days if isinstance(v, date) else int(v)
    return _java_double_str(float(v))


def _java_double_str(x: float) -> str:
    """Java's Double.toString for the common range (used only when building sketches in Python)."""
    if x != x:
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "-0.0" if math.copysign(1, x) < 0 else "0.0"
    if 1e-3 <= abs(x) < 1e7:
        r = repr(x)
        return r if ("." in r or "e" in r) else r + ".0"
    sign, digits, exp = Decimal(repr(x)).normalize().as_tuple()
    ds = "".join(map(str, digits))
    e10 = int(exp) + len(ds) - 1
    return f"{'-' if sign else ''}{ds[0]}.{ds[1:] or '0'}E{e10}"


def _hll_sketch(values: Iterable[int | str]) -> bytes:
    from datasketches import hll_sketch, tgt_hll_type

    sk = hll_sketch(HLL_LG_K, tgt_hll_type.HLL_4)
    for v in values:
        sk.update(v)
    return bytes(sk.serialize_updatable())


def hll_union(sketches: Iterable[bytes | None]) -> bytes | None:
    from datasketches import hll_sketch, tgt_hll_type
    from datasketches import hll_union as _union

    union = _union(HLL_LG_K)
    seen = False
    for b in sketches:
        if b is None:
            continue
        seen = True
        union.update(hll_sketch.deserialize(bytes(b)))
    if not seen:
        return None
    return bytes(union.get_result(tgt_hll_type.HLL_8).serialize_updatable())


def hll_estimate(sketch: bytes | None) -> int:
    """Estimate from the registers only (``weir.compute.hll``): the same for any merge order."""
    if sketch is None:
        return 0
    from datasketches import hll_sketch

    return round(hll_sketch.deserialize(order_free(bytes(sketch))).get_estimate())


# ------------------------------------------------------------------------------------------- tiles
def py_tile_from_rows(group: FeatureGroup, rows: Sequence[Mapping[str, Any]], hop_us: int,
                      passes: Mapping[str, Sequence[bool]] | None = None) -> IR:
    """IR of one tile built from raw rows (all with the same keys and tile). ``where`` filters cannot be
    evaluated in Python: pass ``passes[feature_name][i]`` (bool per row) for features that have one."""
    et = group.event_time
    tile: IR = {HOP: hop_us}
    ends = {tile_end(_us(r[et]), hop_us) for r in rows}
    if len(ends) > 1:
        raise ValueError(f"rows span several tiles: {sorted(ends)}")
    tile[END] = ends.pop() if ends else None
    tile[NEWEST_COL] = max((_us(r[et]) for r in rows), default=None)
    for f in group.features:
        if f.where and (passes is None or f.name not in passes):
            raise ValueError(f"feature {f.name} has a where filter: pass its per-row results in `passes`")
        ok = list(passes[f.name]) if (f.where and passes is not None) else [True] * len(rows)
        tile.update(_feature_ir(group, f, [r for r, p in zip(rows, ok, strict=True) if p]))
    return tile


def py_tile_from_row(group: FeatureGroup, row: Mapping[str, Any], hop_us: int,
                     passes: Mapping[str, bool] | None = None) -> IR:
    """IR tile of a single raw event (``passes`` = where-filter result per feature that has one)."""
    return py_tile_from_rows(group, [row], hop_us,
                             None if passes is None else {k: [v] for k, v in passes.items()})


def _feature_ir(group: FeatureGroup, f: Feature, rows: Sequence[Mapping[str, Any]]) -> IR:
    agg = f.aggregation
    col = f.column

    def k(part: str) -> str:
        return ir_column(f, part)

    if agg == Aggregation.COUNT:
        return {k("n"): len(rows) if col is None else sum(1 for r in rows if r.get(col) is not None)}
    assert col is not None
    ctype = column_type(group, f)
    assert ctype is not None
    vals = [r[col] for r in rows if r.get(col) is not None]
    if agg in (Aggregation.SUM, Aggregation.AVG):
        as_int = ir_parts(group, f)[0].type == "long"
        s = sum(int(v) for v in vals) if as_int else sum(float(v) for v in vals)
        return {k("s"): s if vals else None, k("n"): len(vals)}
    if agg == Aggregation.MIN:
        return {k("v"): min(vals) if vals else None}
    if agg == Aggregation.MAX:
        return {k("v"): max(vals) if vals else None}
    if agg in (Aggregation.FIRST, Aggregation.LAST):
        pairs = [(_us(r[group.event_time]), r[col]) for r in rows if r.get(col) is not None]
        return _pick(agg, pairs, k)
    if agg == Aggregation.STDDEV:
        fl = [float(v) for v in vals]
        return {k("n"): len(fl), k("s"): sum(fl) if fl else None, k("q"): sum(x * x for x in fl) if fl else None}
    if agg == Aggregation.APPROX_COUNT_DISTINCT:
        return {k("sk"): _hll_sketch(hll_value(v, ctype) for v in vals)}
    raise AssertionError(agg)  # pragma: no cover


def _pick(agg: Aggregation, pairs: list[tuple[int, Any]], k: Any) -> IR:
    if not pairs:
        return {k("ts"): None, k("v"): None}
    if agg == Aggregation.FIRST:
        ts, v = max(pairs, key=lambda p: (-p[0], p[1]))
    else:
        ts, v = max(pairs, key=lambda p: (p[0], p[1]))
    return {k("ts"): ts, k("v"): v}


# ---------------------------------------------------------------------------------------- merge
def _sum(values: Iterable[Any]) -> Any:
    present = [v for v in values if v is not None]
    return sum(present) if present else None


def py_merge(group: FeatureGroup, feature: Feature, irs: Sequence[Mapping[str, Any]]) -> IR:
    """Merge IR dicts of one feature into one (same keys ``<feature>__<part>``)."""
    agg = feature.aggregation

    def k(part: str) -> str:
        return ir_column(feature, part)

    def col(part: str) -> list[Any]:
        return [ir.get(k(part)) for ir in irs]

    if agg == Aggregation.COUNT:
        return {k("n"): _sum(col("n"))}
    if agg in (Aggregation.SUM, Aggregation.AVG):
        return {k("s"): _sum(col("s")), k("n"): _sum(col("n"))}
    if agg in (Aggregation.MIN, Aggregation.MAX):
        present = [v for v in col("v") if v is not None]
        fn = min if agg == Aggregation.MIN else max
        return {k("v"): fn(present) if present else None}
    if agg in (Aggregation.FIRST, Aggregation.LAST):
        pairs = [(_us(ts), v) for ts, v in zip(col("ts"), col("v"), strict=True) if ts is not None]
        return _pick(agg, pairs, k)
    if agg == Aggregation.STDDEV:
        return {k("n"): _sum(col("n")), k("s"): _sum(col("s")), k("q"): _sum(col("q"))}
    if agg == Aggregation.APPROX_COUNT_DISTINCT:
        return {k("sk"): hll_union(col("sk"))}
    raise AssertionError(agg)  # pragma: no cover


def py_finalize(feature: Feature, ir: Mapping[str, Any]) -> Any:
    """Feature value from a merged IR (same rules as Spark: count/approx -> 0 when empty, others None)."""
    agg = feature.aggregation

    def g(part: str) -> Any:
        return ir.get(ir_column(feature, part))

    if agg == Aggregation.COUNT:
        return int(g("n") or 0)
    if agg == Aggregation.SUM:
        return g("s") if (g("n") or 0) > 0 else None
    if agg == Aggregation.AVG:
        n = g("n") or 0
        return float(g("s")) / n if n > 0 else None
    if agg in (Aggregation.MIN, Aggregation.MAX, Aggregation.FIRST, Aggregation.LAST):
        return g("v")
    if agg == Aggregation.STDDEV:
        n = g("n") or 0
        if n < 2:
            return None
        s, q = float(g("s")), float(g("q"))
        return math.sqrt(max(0.0, (q - s * s / n) / (n - 1)))
    if agg == Aggregation.APPROX_COUNT_DISTINCT:
        return hll_estimate(g("sk"))
    raise AssertionError(agg)  # pragma: no cover


def py_feature_values(group: FeatureGroup, tiles: Sequence[Mapping[str, Any]], t_us: int,
                      include_newest: bool = False) -> dict[str, Any]:
    """Values of every output column at ``t_us`` from the entity's tiles (all events in them <= t)."""
    out: dict[str, Any] = {}
    for w in feature_windows(group):
        chosen = [
            tile for tile in tiles
            if int(tile[HOP]) == w.hop_us
            and tile_in_window(_us(tile[END]), t_us, w.window_us, w.hop_us)
        ]
        out[w.column] = py_finalize(w.feature, py_merge(group, w.feature, chosen))
    if include_newest:
        newest = [
            _us(tile[NEWEST_COL]) for tile in tiles
            if tile.get(NEWEST_COL) is not None and _us(tile[END]) - int(tile[HOP]) < t_us
        ]
        out[NEWEST_COL] = max(newest) if newest else None
    return out

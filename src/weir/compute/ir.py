"""Intermediate representation (IR) of every aggregation: which partial columns a tile stores.

For a feature ``f`` the IR is a set of columns ``f__<part>``. Tiles of all features of a group, for one
hop, are stored side by side with the group columns below. This module is pure (no Spark).
"""

from __future__ import annotations

from typing import NamedTuple

from weir.spec.models import Aggregation, ColumnType, Feature, FeatureGroup

#: group-level tile columns
TILE_END_COL = "tile_end"  # timestamp: end (inclusive) of the tile (end - hop, end]
HOP_COL = "hop_us"  # long: tile size in microseconds
NEWEST_COL = "newest_event_ts"  # timestamp: newest event time of any row in the tile / window

HLL_LG_K = 12  # log2 of HLL buckets, as given to hll_sketch_agg

#: logical types used in IR parts besides the source column types
LONG = "long"
DOUBLE = "double"
TIMESTAMP = "timestamp"
BINARY = "binary"


class IRPart(NamedTuple):
    part: str
    type: str  # a ColumnType value or one of LONG/DOUBLE/TIMESTAMP/BINARY


def ir_column(feature: Feature | str, part: str) -> str:
    name = feature if isinstance(feature, str) else feature.name
    return f"{name}__{part}"


def column_type(group: FeatureGroup, feature: Feature) -> ColumnType | None:
    return None if feature.column is None else group.source.columns[feature.column]


def sum_type(ctype: ColumnType | None) -> str:
    return LONG if ctype in (ColumnType.INT, ColumnType.LONG) else DOUBLE


def ir_parts(group: FeatureGroup, feature: Feature) -> list[IRPart]:
    agg = feature.aggregation
    ctype = column_type(group, feature)
    if agg == Aggregation.COUNT:
        return [IRPart("n", LONG)]
    assert ctype is not None, f"feature {feature.name}: {agg.value} needs a column"
    if agg == Aggregation.SUM:
        return [IRPart("s", sum_type(ctype)), IRPart("n", LONG)]
    if agg == Aggregation.AVG:
        return [IRPart("s", DOUBLE), IRPart("n", LONG)]
    if agg in (Aggregation.MIN, Aggregation.MAX):
        return [IRPart("v", ctype.value)]
    if agg in (Aggregation.FIRST, Aggregation.LAST):
        return [IRPart("ts", TIMESTAMP), IRPart("v", ctype.value)]
    if agg == Aggregation.STDDEV:
        return [IRPart("n", LONG), IRPart("s", DOUBLE), IRPart("q", DOUBLE)]
    if agg == Aggregation.APPROX_COUNT_DISTINCT:
        return [IRPart("sk", BINARY)]
    raise AssertionError(f"unhandled aggregation {agg}")  # pragma: no cover


def output_type(group: FeatureGroup, feature: Feature) -> str:
    """Logical type of the finalized feature value."""
    agg = feature.aggregation
    ctype = column_type(group, feature)
    if agg in (Aggregation.COUNT, Aggregation.APPROX_COUNT_DISTINCT):
        return LONG
    if agg == Aggregation.SUM:
        return sum_type(ctype)
    if agg in (Aggregation.AVG, Aggregation.STDDEV):
        return DOUBLE
    assert ctype is not None
    return ctype.value


def ir_columns(group: FeatureGroup) -> list[tuple[str, str]]:
    """(IR column name, logical type) for all features of the group, in spec order."""
    return [(ir_column(f, p.part), p.type) for f in group.features for p in ir_parts(group, f)]

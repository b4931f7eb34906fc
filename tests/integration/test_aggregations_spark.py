"""Spark aggregation core == pure-Python mirror == brute force, for every aggregation."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from oracle import aggregate
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from weir.compute.ir import HOP_COL, NEWEST_COL, TILE_END_COL, ir_columns
from weir.compute.py_agg import hll_estimate, hll_union, hll_value, py_feature_values, py_tile_from_rows
from weir.compute.spark_agg import build_tiles, tile_schema
from weir.compute.spark_pit import features_at, point_in_time_features
from weir.compute.windows import DAY_US, HOUR_US, MINUTE_US, feature_windows, in_window
from weir.spec import ColumnType, FeatureGroup

pytestmark = pytest.mark.integration

GROUP = FeatureGroup.model_validate({
    "name": "g", "entity": {"name": "u", "keys": ["k"]},
    "source": {"delta": "t", "event_time": "ts",
               "columns": {"k": "string", "x": "double", "i": "int", "s": "string", "ts": "timestamp"}},
    "features": [
        {"name": "cnt", "aggregation": "count", "windows": ["1h", "1d", "7d"]},
        {"name": "cnt_x", "aggregation": "count", "column": "x", "windows": ["1d"]},
        {"name": "big", "aggregation": "count", "where": "x > 50", "windows": ["1d", "7d"]},
        {"name": "sx", "aggregation": "sum", "column": "x", "windows": ["1d", "7d"], "where": "s <> 'a'"},
        {"name": "si", "aggregation": "sum", "column": "i", "windows": ["7d"]},
        {"name": "ax", "aggregation": "avg", "column": "x", "windows": ["7d"]},
        {"name": "mn", "aggregation": "min", "column": "x", "windows": ["1d"]},
        {"name": "mx", "aggregation": "max", "column": "s", "windows": ["7d"]},
        {"name": "fs", "aggregation": "first", "column": "s", "windows": ["7d"]},
        {"name": "ls", "aggregation": "last", "column": "s"},
        {"name": "li", "aggregation": "last", "column": "i", "windows": ["2h"], "hop": "15m"},
        {"name": "sd", "aggregation": "stddev", "column": "x", "windows": ["7d"]},
        {"name": "dc", "aggregation": "approx_count_distinct", "column": "s", "windows": ["7d"]},
        {"name": "di", "aggregation": "approx_count_distinct", "column": "i", "windows": ["1d"]},
        {"name": "dl", "aggregation": "approx_count_distinct", "column": "s"},
    ],
})
WHERE = {"big": lambda r: r["x"] is not None and r["x"] > 50, "sx": lambda r: r["s"] is not None and r["s"] != "a"}
T_END = 1_700_000_000_000_000 - (1_700_000_000_000_000 % DAY_US)  # a day boundary in Nov 2023


def oracle(feature_name: str, rows: list[dict[str, Any]]) -> Any:
    """The feature over all of ``rows`` (the shared plain-Python oracle; ``WHERE`` mirrors the spec's filters)."""
    f = GROUP.feature(feature_name)
    if f.where:
        rows = [r for r in rows if WHERE[f.name](r)]
    return aggregate(f.aggregation.value, f.column, rows, lambda r: r["ts"])


def close(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)
    return bool(a == b)


def random_events(seed: int, n: int = 600) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    rows = []
    for _ in range(n):
        ts = rnd.randrange(T_END - 10 * DAY_US, T_END + 1)
        if rnd.random() < 0.15:  # pile events on boundaries
            ts = ts - ts % rnd.choice([5 * MINUTE_US, 15 * MINUTE_US, HOUR_US, DAY_US])
        rows.append({
            "k": rnd.choice(["a", "b", "c"]),
            "x": None if rnd.random() < 0.1 else round(rnd.uniform(0, 100), 2),
            "i": None if rnd.random() < 0.1 else rnd.randrange(-5, 60),
            "s": None if rnd.random() < 0.1 else rnd.choice("abcdefghijklmnop"),
            "ts": ts,
        })
    return rows


def events_df(spark: SparkSession, rows: list[dict[str, Any]]) -> DataFrame:
    schema = "k string, x double, i int, s string, ts_us long"
    df = spark.createDataFrame([(r["k"], r["x"], r["i"], r["s"], r["ts"]) for r in rows], schema)
    return df.withColumn("ts", F.timestamp_micros("ts_us")).drop("ts_us")


def spine_df(spark: SparkSession, points: list[tuple[str, int]]) -> DataFrame:
    df = spark.createDataFrame(points, "k string, t_us long")
    return df.withColumn("t", F.timestamp_micros("t_us")).drop("t_us")


def collect_values(df: DataFrame) -> dict[tuple[str, int], dict[str, Any]]:
    out = {}
    for row in df.withColumn("t_us", F.unix_micros("t")).withColumn(
            "newest_us", F.unix_micros(NEWEST_COL)).drop("t", NEWEST_COL).collect():
        d = row.asDict()
        out[(d.pop("k"), d.pop("t_us"))] = d
    return out


def collect_tiles(tiles: DataFrame) -> dict[str, list[dict[str, Any]]]:
    ts_parts = [n for n, t in ir_columns(GROUP) if t == "timestamp"] + [NEWEST_COL]
    conv = tiles.withColumn("tile_end_us", F.unix_micros(TILE_END_COL)).drop(TILE_END_COL)
    for c in ts_parts:
        conv = conv.withColumn(c, F.unix_micros(c))
    by_key: dict[str, list[dict[str, Any]]] = {}
    for row in conv.collect():
        d = row.asDict()
        by_key.setdefault(d["k"], []).append(d)
    return by_key


@pytest.mark.parametrize(("seed", "frames"), [(1, False), (2, False), (1, True), (2, True)])
def test_point_in_time_matches_brute_force(spark: SparkSession, seed: int, frames: bool) -> None:
    rows = random_events(seed)
    rnd = random.Random(seed)
    times = [T_END, T_END - DAY_US, T_END - 7 * MINUTE_US - 3, T_END - 2 * DAY_US - 5 * HOUR_US - 30 * MINUTE_US]
    times += [rnd.randrange(T_END - 8 * DAY_US, T_END) for _ in range(3)]
    times += [r["ts"] for r in rows[:3]]
    points = [(k, t) for k in ["a", "b", "c", "zz"] for t in times]
    got = collect_values(point_in_time_features(events_df(spark, rows), spine_df(spark, points), GROUP, frames=frames))
    assert len(got) == len(set(points))
    for k, t in set(points):
        mine = [r for r in rows if r["k"] == k]
        for w in feature_windows(GROUP):
            want = oracle(w.feature.name, [r for r in mine if in_window(r["ts"], t, w.window_us, w.hop_us)])
            assert close(got[(k, t)][w.column], want), (k, t, w.column, got[(k, t)][w.column], want)
        newest = [r["ts"] for r in mine if r["ts"] <= t]
        assert got[(k, t)]["newest_us"] == (max(newest) if newest else None)


def test_spark_tiles_match_python_tiles_and_online_read(spark: SparkSession) -> None:
    rows = random_events(7)
    tiles = build_tiles(events_df(spark, rows), GROUP)
    assert [f.name for f in tiles.schema.fields] == [f.name for f in tile_schema(GROUP).fields]
    by_key = collect_tiles(tiles)
    t_online = T_END + 3 * HOUR_US + 1  # after the last event: a read "now"
    spine = [(k, t) for k in by_key for t in (T_END, t_online)]
    spark_vals = collect_values(features_at(tiles, spine_df(spark, spine), GROUP))
    for k, tl in by_key.items():
        mine = [r for r in rows if r["k"] == k]
        for t in (T_END, t_online):
            py_vals = py_feature_values(GROUP, tl, t, include_newest=True)
            for w in feature_windows(GROUP):
                assert close(spark_vals[(k, t)][w.column], py_vals[w.column]), (k, t, w.column)
            assert spark_vals[(k, t)]["newest_us"] == py_vals[NEWEST_COL]
        # Python-built tiles: identical IR except HLL bytes layout; values identical
        py_tiles = []
        for hop in {tile[HOP_COL] for tile in tl}:
            groups: dict[int, list[dict[str, Any]]] = {}
            for r in mine:
                groups.setdefault(-((-r["ts"]) // hop) * hop, []).append(r)
            py_tiles += [py_tile_from_rows(GROUP, rs, hop, {n: [fn(r) for r in rs] for n, fn in WHERE.items()})
                         for rs in groups.values()]
        a, b = py_feature_values(GROUP, py_tiles, t_online), py_feature_values(GROUP, tl, t_online)
        assert a.keys() == b.keys() and all(close(a[c], b[c]) for c in a), (a, b)


@pytest.mark.parametrize("n", [1, 10, 100, 1000, 50_000, 300_000])
def test_hll_python_estimate_matches_spark(spark: SparkSession, n: int) -> None:
    df = spark.range(n).select((F.col("id") % 2).alias("p"), F.concat(F.lit("user-"), F.col("id")).alias("v"))
    per_part = df.groupBy("p").agg(F.hll_sketch_agg("v", 12).alias("sk"))
    union = per_part.agg(F.hll_union_agg("sk", True).alias("sk"))
    spark_est = union.select(F.hll_sketch_estimate("sk").alias("e")).first()["e"]  # type: ignore[index]
    sketches = [bytes(r["sk"]) for r in per_part.collect()]
    assert hll_estimate(hll_union(sketches)) == spark_est
    assert hll_estimate(bytes(union.first()["sk"])) == spark_est  # type: ignore[index]
    if n <= 100:
        assert spark_est == n  # exact at small cardinalities (HLL list/set modes)
    else:
        assert abs(spark_est - n) / n < 0.05


@pytest.mark.parametrize(("ctype", "values"), [
    (ColumnType.STRING, ["a", "é", "user-1", " "]),
    (ColumnType.LONG, [0, -1, 2**40, 7]),
    (ColumnType.INT, [0, -1, 123456]),
    (ColumnType.DOUBLE, [1.0, 12.5, 1e20, 1.5e-5, 12345678.9]),
    (ColumnType.BOOLEAN, [True, False]),
])
def test_python_sketches_hash_like_spark(spark: SparkSession, ctype: ColumnType, values: list[Any]) -> None:
    """A sketch built in Python from the same values unions with Spark's without adding distinct values."""
    from weir.compute.py_agg import _hll_sketch
    from weir.compute.spark_agg import hll_input, spark_type

    df = spark.createDataFrame([(v,) for v in values], T.StructType([T.StructField("v", spark_type(ctype.value))]))
    sk = bytes(df.agg(F.hll_sketch_agg(hll_input(F.col("v"), ctype), 12).alias("sk")).first()["sk"])  # type: ignore[index]
    py = _hll_sketch(hll_value(v, ctype) for v in values)
    assert hll_estimate(sk) == len(values)
    assert hll_estimate(hll_union([sk, py])) == len(values)
    if ctype == ColumnType.STRING:  # DataSketches ignores empty strings, in Java and in Python alike
        assert hll_estimate(_hll_sketch([""])) == 0

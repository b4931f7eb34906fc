"""The batch engine on real Spark and Delta, checked against the plain-Python oracle (tests/oracle.py)."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from oracle import assert_feature_rows_match

from weir.batch import SourceSchemaError, backfill, run_day
from weir.lake.delta import partition_columns
from weir.lake.paths import features_path, quarantine_path, tiles_path
from weir.runtime import RuntimeConfig
from weir.spec import parse_spec_text

pytestmark = pytest.mark.integration

SPEC = """
name: {name}
owner: tests
entity: {{name: user, keys: [user_id]}}
source:
  delta: {table}
  event_time: event_ts
  columns: {{user_id: string, merchant_id: string, amount: double, status: string, event_ts: timestamp}}
features:
  - {{name: txn_count, aggregation: count, windows: [1h, 1d, 7d]}}
  - {{name: txn_amount, aggregation: sum, column: amount, windows: [1d, 7d, 30d]}}
  - {{name: declined_count, aggregation: count, where: "status = 'declined'", windows: [1d, 7d]}}
  - {{name: avg_amount, aggregation: avg, column: amount, windows: [30d]}}
  - {{name: min_amount, aggregation: min, column: amount, windows: [2d]}}
  - {{name: max_amount, aggregation: max, column: amount, windows: [7d]}}
  - {{name: first_merchant, aggregation: first, column: merchant_id, windows: [7d]}}
  - {{name: last_merchant, aggregation: last, column: merchant_id}}
  - {{name: amount_std, aggregation: stddev, column: amount, windows: [7d]}}
  - {{name: distinct_merchants, aggregation: approx_count_distinct, column: merchant_id, windows: [30d]}}
  - {{name: big_count, aggregation: count, column: amount, where: "amount > 50", windows: [1d]}}
  - {{name: lifetime_amount, aggregation: sum, column: amount}}
"""

START = date(2026, 3, 1)
DAYS = 10


def make_events(seed: int, days: int = DAYS) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    users = [f"u{i}" for i in range(6)]
    events: list[dict[str, Any]] = []
    base = datetime.combine(START, datetime.min.time())
    for _ in range(400):
        ts = base + timedelta(seconds=rnd.randrange(days * 86400))
        events.append({"user_id": rnd.choice(users), "merchant_id": rnd.choice(["m1", "m2", "m3", "m4", None]),
                       "amount": None if rnd.random() < 0.05 else round(rnd.uniform(1, 100), 2),
                       "status": rnd.choice(["approved", "approved", "declined"]), "event_ts": ts})
    # window edges: exactly at a run time T (counts in the day ending at T), exactly at T - 7d (excluded)
    t5 = base + timedelta(days=5)
    events.append({"user_id": "edge", "merchant_id": "m9", "amount": 10.0, "status": "approved", "event_ts": t5})
    events.append({"user_id": "edge", "merchant_id": "m8", "amount": 20.0, "status": "declined",
                   "event_ts": t5 + timedelta(days=7)})
    events.append({"user_id": "edge", "merchant_id": "m7", "amount": 30.0, "status": "approved",
                   "event_ts": t5 + timedelta(days=2)})
    # bad rows: null key, null event time
    events.append({"user_id": None, "merchant_id": "m1", "amount": 5.0, "status": "approved",
                   "event_ts": base + timedelta(hours=3)})
    events.append({"user_id": "u1", "merchant_id": "m1", "amount": 5.0, "status": "approved", "event_ts": None})
    return events


def write_source(spark, path: str, events: list[dict[str, Any]], mode: str = "overwrite") -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    df = spark.createDataFrame(
        [(e["user_id"], e["merchant_id"], e["amount"], e["status"], e["event_ts"]) for e in events],
        "user_id string, merchant_id string, amount double, status string, event_ts timestamp")
    df = df.withColumn("ds", F.coalesce(F.to_date("event_ts"), F.lit(START)))
    df.write.format("delta").mode(mode).partitionBy("ds").save(path)


def _group(tmp: Path, name: str, table: str):  # type: ignore[no-untyped-def]
    return parse_spec_text(SPEC.format(name=name, table=table), str(tmp / f"{name}.yaml"))


def assert_matches_oracle(spark, group, config: RuntimeConfig, events: list[dict[str, Any]],  # type: ignore[no-untyped-def]
                          days: list[date]) -> None:
    rows = spark.read.format("delta").load(features_path(config, group.name)).collect()
    assert_feature_rows_match(group, events, rows, days)


def test_backfill_matches_the_oracle_for_every_aggregation_and_window(spark, weir_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    events = make_events(1)
    write_source(spark, weir_config.table_path("src_full"), events)
    group = _group(tmp_path, "g_full", "src_full")
    summary = backfill(spark, group, START, START + timedelta(days=DAYS + 8), weir_config, chunk_days=30)
    assert summary.events == len(events) - 2
    assert summary.quarantined == 2
    assert partition_columns(spark, tiles_path(weir_config, "g_full")) == ["ds", "hop_us"]
    assert_matches_oracle(spark, group, weir_config, events, [START + timedelta(days=i) for i in range(DAYS + 9)])
    reasons = {r.reason for r in spark.read.format("delta").load(quarantine_path(weir_config, "g_full")).collect()}
    assert reasons == {"null key (user_id)", "null event time (event_ts)"}


def test_incremental_days_equal_one_backfill_and_reruns_are_idempotent(spark, weir_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from delta.tables import DeltaTable

    events = make_events(2)
    write_source(spark, weir_config.table_path("src_inc"), events)
    full, daily = _group(tmp_path, "g_full2", "src_inc"), _group(tmp_path, "g_daily", "src_inc")
    days = 6
    backfill(spark, full, START, START + timedelta(days=days - 1), weir_config, chunk_days=30)
    backfill(spark, daily, START, START + timedelta(days=2), weir_config, chunk_days=3)
    for i in range(3, days):
        run_day(spark, daily, START + timedelta(days=i), weir_config)

    def table(name: str) -> list[tuple[Any, ...]]:
        df = spark.read.format("delta").load(features_path(weir_config, name))
        # floating-point sums may differ in the last bit with the merge order: round them
        return sorted(tuple(round(v, 6) if isinstance(v, float) else v for v in r) for r in df.collect())

    assert table("g_full2") == table("g_daily")
    assert_matches_oracle(spark, daily, weir_config, events, [START + timedelta(days=i) for i in range(days)])

    # Rerun one day: identical content, only that partition rewritten (Delta history keeps both).
    path = features_path(weir_config, "g_daily")
    before = table("g_daily")
    version = DeltaTable.forPath(spark, path).history(1).first().version
    run_day(spark, daily, START + timedelta(days=4), weir_config)
    assert table("g_daily") == before
    last = DeltaTable.forPath(spark, path).history(1).first()
    assert last.version == version + 1
    assert int(last.operationMetrics["numRemovedFiles"]) >= 1
    old = spark.read.format("delta").option("versionAsOf", version).load(path).count()
    assert old == len(before)


def test_late_arriving_rows_are_picked_up_by_a_rerun(spark, weir_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    events = make_events(3, days=4)
    path = weir_config.table_path("src_late")
    write_source(spark, path, events)
    group = _group(tmp_path, "g_late", "src_late")
    backfill(spark, group, START, START + timedelta(days=3), weir_config)
    late = {"user_id": "late", "merchant_id": "m1", "amount": 99.0, "status": "approved",
            "event_ts": datetime.combine(START, datetime.min.time()) + timedelta(days=1, hours=5)}
    write_source(spark, path, [late], mode="append")
    backfill(spark, group, START + timedelta(days=1), START + timedelta(days=3), weir_config)
    assert_matches_oracle(spark, group, weir_config, [*events, late], [START + timedelta(days=i) for i in range(4)])
    tiles = spark.read.format("delta").load(tiles_path(weir_config, "g_late"))
    assert tiles.where("user_id = 'late'").count() > 0


def test_source_schema_mismatch_fails_before_the_job_naming_column_and_types(spark, weir_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    spark.createDataFrame([("u1", "m1", "12", "approved", datetime(2026, 3, 1, 1))],
                          "user_id string, merchant_id string, amount string, status string, event_ts timestamp") \
        .write.format("delta").mode("overwrite").save(weir_config.table_path("src_bad"))
    group = _group(tmp_path, "g_bad", "src_bad")
    with pytest.raises(SourceSchemaError, match="'amount' is string in the table but double in the spec"):
        backfill(spark, group, START, START, weir_config)


def test_a_tile_table_partitioned_by_day_only_keeps_its_layout_and_values(spark, weir_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Tables written before the (ds, hop_us) layout: no day tiles, each window merges its own hop's tiles."""
    from pyspark.sql import functions as F

    from weir.compute.spark_agg import tile_schema

    events = make_events(4, days=3)
    write_source(spark, weir_config.table_path("src_old"), events)
    group = _group(tmp_path, "g_old", "src_old")
    path = tiles_path(weir_config, "g_old")
    spark.createDataFrame([], tile_schema(group)).withColumn("ds", F.lit(None).cast("date")) \
        .write.format("delta").partitionBy("ds").save(path)
    backfill(spark, group, START, START + timedelta(days=1), weir_config)
    run_day(spark, group, START + timedelta(days=2), weir_config)
    assert partition_columns(spark, path) == ["ds"]
    assert_matches_oracle(spark, group, weir_config, events, [START + timedelta(days=i) for i in range(3)])


def test_an_event_at_midnight_belongs_to_the_previous_days_run(spark, weir_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """docs/features.md: day D holds (D 00:00, D+1 00:00], so a backfill from a midnight event's date skips it."""
    midnight = datetime.combine(START, datetime.min.time())
    events = [{"user_id": "u1", "merchant_id": "m1", "amount": 1.0, "status": "approved", "event_ts": midnight},
              {"user_id": "u1", "merchant_id": "m2", "amount": 2.0, "status": "approved",
               "event_ts": midnight + timedelta(hours=12)}]
    write_source(spark, weir_config.table_path("src_midnight"), events)
    on_date, day_before = _group(tmp_path, "g_mid_on", "src_midnight"), _group(tmp_path, "g_mid_before", "src_midnight")
    assert backfill(spark, on_date, START, START, weir_config).events == 1
    assert backfill(spark, day_before, START - timedelta(days=1), START, weir_config).events == 2

    def row(name: str, ds: date) -> Any:
        return spark.read.format("delta").load(features_path(weir_config, name)).where(f"ds = '{ds}'").first()

    assert row("g_mid_on", START).txn_count_7d == 1  # the midnight event was never read
    assert row("g_mid_before", START).txn_count_7d == 2
    assert row("g_mid_before", START - timedelta(days=1)).txn_count_1d == 1  # run time = the event's time

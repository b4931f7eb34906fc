"""The Delta log read by delta-rs agrees with Spark's Delta reader on tables Spark wrote.

Versions, partition write times (against Spark's ``_metadata`` column), column minimums and the rows of chosen
partitions at a pinned version, over a table with partition overwrites, an append and a checkpoint; a table with
deletion vectors is read through the Delta reader.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F

from weir.lake.delta import overwrite_partitions, table_version, written_at
from weir.lake.delta_log import log_snapshot, read_partitions_at

pytestmark = pytest.mark.integration

D0 = date(2026, 3, 1)


def _rows(day: date, n: int, tag: float) -> list[dict[str, Any]]:
    return [{"user_id": f"u{i}", "amount": tag + i, "event_ts": datetime.combine(day, datetime.min.time())
             + timedelta(minutes=7 * i + 1), "ds": day} for i in range(n)]


def _write(spark, path: str, rows: list[dict[str, Any]], first: date, last: date) -> None:  # type: ignore[no-untyped-def]
    df = spark.createDataFrame(rows, "user_id string, amount double, event_ts timestamp, ds date")
    overwrite_partitions(df, path, first, last)


def _sorted(df) -> list[tuple[Any, ...]]:  # type: ignore[no-untyped-def]
    return sorted(tuple(r) for r in df.select("user_id", "amount", "event_ts").collect())


def test_log_snapshot_agrees_with_spark_across_versions_and_a_checkpoint(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "t")
    assert log_snapshot(path) is None
    _write(spark, path, [r for d in range(4) for r in _rows(D0 + timedelta(days=d), 5, 0.0)], D0, D0 + timedelta(3))
    for k in range(11):  # rewrite day 1 again and again: past the 10-commit checkpoint
        _write(spark, path, _rows(D0 + timedelta(days=1), 3 + k % 2, 100.0 * (k + 1)), D0 + timedelta(1),
               D0 + timedelta(1))
    assert any(p.name.endswith(".checkpoint.parquet") for p in (tmp_path / "t" / "_delta_log").iterdir())

    snap = log_snapshot(path)
    assert snap is not None and snap.plain_parquet and snap.partition_cols == ("ds",)
    assert snap.version == table_version(spark, path) == 11
    table = spark.read.format("delta").load(path)
    for newest in (True, False):
        assert snap.written_at(newest=newest) == written_at(table, newest=newest)
    assert snap.written_at(newest=True)[D0 + timedelta(1)] > snap.written_at(newest=True)[D0]
    # a lower bound of the column (stats are truncated to milliseconds), at most one millisecond below
    first = table.agg(F.min("event_ts")).first()[0]
    lower = snap.min_value("event_ts")
    assert lower <= first and first - lower < timedelta(milliseconds=1)
    # row counts from the files' statistics equal Spark's counts, per partition and in all
    assert snap.records() == table.count()
    assert snap.records({"ds": D0 + timedelta(1)}) == table.where(F.col("ds") == D0 + timedelta(1)).count()

    days = [D0 + timedelta(1), D0 + timedelta(3)]
    got = read_partitions_at(spark, snap, "ds", days)
    assert "ds" not in got.columns
    assert _sorted(got) == _sorted(table.where(F.col("ds").isin(days)))
    assert read_partitions_at(spark, snap, "ds", [D0 + timedelta(30)]).count() == 0

    old = log_snapshot(path, version=3)  # time travel: the rows of that version, not the newest
    assert old is not None and old.version == 3
    at3 = spark.read.format("delta").option("versionAsOf", 3).load(path).where(F.col("ds") == D0 + timedelta(1))
    assert _sorted(read_partitions_at(spark, old, "ds", [D0 + timedelta(1)])) == _sorted(at3)
    assert _sorted(at3) != _sorted(got.where(F.col("amount") >= 100))


def test_tables_with_deletion_vectors_are_read_through_the_delta_reader(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from delta.tables import DeltaTable

    path = str(tmp_path / "dv")
    rows = [r for d in range(2) for r in _rows(D0 + timedelta(days=d), 6, 0.0)]
    (spark.createDataFrame(rows, "user_id string, amount double, event_ts timestamp, ds date").write.format("delta")
     .partitionBy("ds").option("delta.enableDeletionVectors", "true").save(path))
    DeltaTable.forPath(spark, path).delete("user_id = 'u2'")

    snap = log_snapshot(path)
    assert snap is not None and not snap.plain_parquet
    got = read_partitions_at(spark, snap, "ds", [D0])
    want = spark.read.format("delta").load(path).where(F.col("ds") == D0)
    assert _sorted(got) == _sorted(want) and "u2" not in {r[0] for r in _sorted(got)}

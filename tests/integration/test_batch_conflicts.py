"""Two runs of one group at once: the loser of a Delta commit computes its days again, or stops with a Weir message.

The conflict is real: while Spark's transaction is open (inside the job, from a Python UDF on the executor) a
second writer, delta-rs, commits to the same partition, so Delta's own conflict check fails Spark's commit.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_batch_engine import START, _group, assert_matches_oracle, make_events, write_source

from weir.batch import backfill
from weir.batch.conflicts import ConcurrentRunError, conflict_name, retry_on_conflict

pytestmark = pytest.mark.integration

DAY = date(2026, 1, 1)


def _write_racing_another_writer(spark: Any, path: str, value: int, marker: Path | None) -> None:
    """Overwrite day ``DAY`` of ``path``; while the write runs, delta-rs appends a row to the same day.

    With a ``marker`` only the first call races (the marker file is created once); without, every call does.
    """
    from pyspark.sql import functions as F

    site = sysconfig.get_paths()["purelib"]  # the worker may run the base interpreter: give it this venv's packages

    def interloper(v: int) -> int:
        if marker is not None:
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                return v
        if site not in sys.path:
            sys.path.append(site)
        import pyarrow as pa
        from deltalake import write_deltalake

        write_deltalake(path, pa.table({"day": [str(DAY)], "v": pa.array([-1], pa.int64())}), mode="append",
                        partition_by=["day"])
        return v

    racing = F.udf(lambda v: interloper(v), "long")  # a lambda: no type hints for Spark to misread
    df = spark.createDataFrame([(str(DAY), value)], "day string, v long").select("day", racing("v").alias("v"))
    (df.write.format("delta").mode("overwrite").option("replaceWhere", f"day = '{DAY}'")
     .partitionBy("day").save(path))


def _seed(spark: Any, path: str) -> None:
    spark.createDataFrame([(str(DAY), 0), ("2026-01-02", 7)], "day string, v long").write.format("delta") \
        .partitionBy("day").save(path)


def test_a_write_that_loses_its_commit_is_computed_again_and_replaces_the_day(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "t")
    _seed(spark, path)
    attempts: list[int] = []
    conflicts: list[BaseException] = []

    def write() -> None:
        attempts.append(1)
        _write_racing_another_writer(spark, path, 1, tmp_path / "race-once")

    retry_on_conflict(write, "g", DAY, DAY, backoff_s=0.01, on_retry=conflicts.append)
    assert len(attempts) == 2 and [conflict_name(c) for c in conflicts] == ["ConcurrentAppendException"]
    rows = sorted(tuple(r) for r in spark.read.format("delta").load(path).collect())
    assert rows == [(str(DAY), 1), ("2026-01-02", 7)]  # the retried write replaced the day, the other day kept


def test_a_chunk_that_keeps_losing_stops_with_a_weir_message_naming_group_days_and_fix(spark, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = str(tmp_path / "t")
    _seed(spark, path)
    with pytest.raises(ConcurrentRunError) as caught:
        retry_on_conflict(lambda: _write_racing_another_writer(spark, path, 1, None), "user_spend", DAY,
                          DAY + timedelta(days=2), attempts=2, backoff_s=0.01)
    message = str(caught.value)
    assert message.startswith("group user_spend: days 2026-01-01..2026-01-03: another run of this group")
    assert "ConcurrentAppendException" in message
    assert "weir backfill user_spend --start 2026-01-01 --end 2026-01-03" in message
    assert caught.value.__cause__ is None and caught.value.attempts == 2


def test_other_failures_are_not_retried(tmp_path: Path) -> None:
    calls: list[int] = []

    def broken() -> None:
        calls.append(1)
        raise ValueError("not a conflict")

    with pytest.raises(ValueError, match="not a conflict"):
        retry_on_conflict(broken, "g", DAY, DAY, backoff_s=0.01)
    assert calls == [1]


def test_two_concurrent_backfills_of_one_group_both_finish_with_the_oracle_values(  # type: ignore[no-untyped-def]
        spark, weir_config, tmp_path) -> None:
    days = 3
    events = make_events(21, days=days)
    write_source(spark, weir_config.table_path("src_conflicts"), events)
    group = _group(tmp_path, "g_conflicts", "src_conflicts")
    last = START + timedelta(days=days - 1)
    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(backfill, spark, group, START, last, weir_config, 1) for _ in range(2)]
        summaries = [r.result() for r in runs]  # a raw Delta conflict here fails the test
    assert all(s.events == summaries[0].events for s in summaries)
    assert_matches_oracle(spark, group, weir_config, events, [START + timedelta(days=i) for i in range(days)])

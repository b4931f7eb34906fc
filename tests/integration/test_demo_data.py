"""The demo tables round-trip through Delta with their exact schema."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from weir.demo import TABLE_COLUMNS, generate, write_demo_tables

pytestmark = pytest.mark.integration


def test_demo_tables_are_written_to_delta_and_read_back(spark, lake_dir: Path) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F
    from pyspark.sql.types import (
        BooleanType,
        DateType,
        DoubleType,
        IntegerType,
        StringType,
        TimestampType,
    )

    start = datetime(2024, 1, 1)
    data = generate(seed=11, start=start, days=5, n_users=150, n_merchants=40, txns_per_user_per_day=1.5)
    root = str(lake_dir / "demo")
    paths = write_demo_tables(spark, data, root)
    assert paths == {name: f"{root}/{name}" for name in TABLE_COLUMNS}

    kinds = {"string": StringType(), "double": DoubleType(), "timestamp": TimestampType(),
             "int": IntegerType(), "boolean": BooleanType()}
    for name, frame in data.tables().items():
        df = spark.read.format("delta").load(paths[name])
        assert df.count() == len(frame), name
        types = {f.name: f.dataType for f in df.schema.fields}
        expected = {col: kinds[kind] for col, kind in TABLE_COLUMNS[name].items()}
        if name in ("transactions", "repayments"):
            expected["ds"] = DateType()
        assert types == expected, name

    # timestamps survive as the same UTC instants, and ds is their UTC date
    tx = spark.read.format("delta").load(paths["transactions"])
    first = data.transactions.iloc[0]
    row = tx.where(F.col("txn_id") == first["txn_id"]).select(
        F.date_format("event_ts", "yyyy-MM-dd HH:mm:ss.SSSSSS").alias("ts"), "ds", "amount", "status"
    ).collect()[0]
    assert row.ts == first["event_ts"].strftime("%Y-%m-%d %H:%M:%S.%f")
    assert row.ds == first["event_ts"].date()
    assert (row.amount, row.status) == (first["amount"], first["status"])
    assert tx.where(F.to_date("event_ts") != F.col("ds")).count() == 0
    # compared as UTC strings: collecting a timestamp to Python would apply the process time zone
    lo, hi = tx.agg(F.date_format(F.min("event_ts"), "yyyy-MM-dd HH:mm:ss").alias("lo"),
                    F.date_format(F.max("event_ts"), "yyyy-MM-dd HH:mm:ss").alias("hi")).collect()[0]
    assert "2024-01-01 00:00:00" <= lo <= hi < "2024-01-06 00:00:00"

    rp = spark.read.format("delta").load(paths["repayments"])
    assert rp.where((F.col("days_late") > 0) != F.col("is_late")).count() == 0
    assert sorted(r.loan_id for r in rp.select("loan_id").collect()) == sorted(data.repayments["loan_id"])

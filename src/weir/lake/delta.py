"""The Delta reads and writes every engine shares: existence, version, partition ranges, write times.

Through Spark (``delta-spark``); ``weir.lake.delta_log`` answers the same metadata questions from the log alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from weir.lake.paths import PARTITION_COL

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def table_exists(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, path)


def read_partitions(spark: SparkSession, path: str, first: date, last: date) -> DataFrame | None:
    """Rows of the Delta table at ``path`` with ``ds`` in [first, last], or None when the table does not exist."""
    from pyspark.sql import functions as F

    if not table_exists(spark, path):
        return None
    df = spark.read.format("delta").load(path)
    return df.where((F.col(PARTITION_COL) >= F.lit(first)) & (F.col(PARTITION_COL) <= F.lit(last)))


def overwrite_partitions(df: DataFrame, path: str, first: date, last: date,
                         partition_by: Sequence[str] = (PARTITION_COL,), where: str | None = None) -> None:
    """Replace exactly the ``ds`` partitions [first, last] of the table at ``path`` (created if missing).

    Delta's ``replaceWhere`` makes the rerun of a range idempotent and leaves every other partition untouched;
    the table's history keeps each run for time travel. ``partition_by`` starts with ``ds``; an existing table
    keeps the partition columns it was created with (see ``partition_columns``). ``where`` narrows the
    replaced rows further (e.g. one ``hop_us``).
    """
    condition = f"{PARTITION_COL} >= '{first.isoformat()}' AND {PARTITION_COL} <= '{last.isoformat()}'"
    if where:
        condition += f" AND {where}"
    (df.write.format("delta").mode("overwrite").option("replaceWhere", condition)
     .partitionBy(*partition_by).save(path))


def written_at(df: DataFrame, newest: bool, by: Sequence[str] = (PARTITION_COL,)) -> dict[Any, Any]:
    """Partition (values of ``by``; one column: the value itself) -> the newest (or oldest) modification time
    of its files, from the ``_metadata`` column: which partitions a later run rewrote (staleness checks)."""
    from pyspark.sql import functions as F

    mod = F.col("_metadata.file_modification_time")
    rows = df.groupBy(*by).agg((F.max(mod) if newest else F.min(mod)).alias("__weir_mod")).collect()
    return {(r[by[0]] if len(by) == 1 else tuple(r[c] for c in by)): r["__weir_mod"] for r in rows}


def partition_columns(spark: SparkSession, path: str) -> list[str] | None:
    """The partition columns of the Delta table at ``path`` (None when it does not exist)."""
    from delta.tables import DeltaTable

    if not table_exists(spark, path):
        return None
    row = DeltaTable.forPath(spark, path).detail().select("partitionColumns").first()
    return list(row[0]) if row else []


def table_version(spark: SparkSession, path: str) -> int | None:
    """The latest Delta version of the table at ``path`` (None when it does not exist)."""
    from delta.tables import DeltaTable

    if not table_exists(spark, path):
        return None
    row = DeltaTable.forPath(spark, path).history(1).select("version").first()
    return int(row[0]) if row else None

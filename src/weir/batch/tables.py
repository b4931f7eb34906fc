"""Where a group's tables live in the lake, and the Delta reads and writes the batch engine needs."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from weir.runtime import RuntimeConfig

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

PARTITION_COL = "ds"
RUN_TS_COL = "run_ts"


def source_path(config: RuntimeConfig, table: str) -> str:
    """A source table name from a spec, resolved against the lake (an absolute path or URI is kept)."""
    return table if "://" in table or table.startswith("/") else config.table_path(table)


def tiles_path(config: RuntimeConfig, group: str) -> str:
    return config.table_path(f"tiles/{group}")


def features_path(config: RuntimeConfig, group: str) -> str:
    return config.table_path(f"features/{group}")


def lifetime_path(config: RuntimeConfig, group: str) -> str:
    return config.table_path(f"lifetime/{group}")


def quarantine_path(config: RuntimeConfig, group: str) -> str:
    return config.table_path(f"quarantine/{group}")


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

"""Write a :class:`~weir.demo.generator.DemoData` to Delta tables (needs Spark)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from weir.demo.generator import TABLE_COLUMNS, DemoData
from weir.lake.paths import PARTITION_COL as PARTITION_COLUMN

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

# event tables are partitioned by the UTC date of event_ts
PARTITIONED = frozenset({"transactions", "repayments"})


def spark_schema(table: str) -> StructType:
    """The explicit Spark schema of a demo table (without the ``ds`` partition column)."""
    from pyspark.sql.types import (
        BooleanType,
        DataType,
        DoubleType,
        IntegerType,
        StringType,
        StructField,
        StructType,
        TimestampType,
    )

    types: dict[str, DataType] = {
        "string": StringType(),
        "double": DoubleType(),
        "timestamp": TimestampType(),
        "int": IntegerType(),
        "boolean": BooleanType(),
    }
    return StructType([StructField(name, types[kind], nullable=False)
                       for name, kind in TABLE_COLUMNS[table].items()])


def to_spark(spark: SparkSession, table: str, frame: pd.DataFrame) -> DataFrame:
    """``frame`` as a Spark DataFrame with the explicit schema of ``table``.

    Goes through a pyarrow Table (always Arrow, whatever ``spark.sql.execution.arrow.pyspark.enabled`` says);
    naive timestamps are declared UTC first, so the instants are right whatever the session time zone.
    """
    import pyarrow as pa

    cols = TABLE_COLUMNS[table]
    frame = frame[list(cols)].copy()
    for name, kind in cols.items():
        if kind == "timestamp":
            frame[name] = frame[name].dt.tz_localize("UTC")
    arrow = pa.Table.from_pandas(frame, preserve_index=False)
    return spark.createDataFrame(arrow, schema=spark_schema(table))


def write_demo_tables(
    spark: SparkSession, data: DemoData, lake_root: str, mode: str = "overwrite"
) -> dict[str, str]:
    """Write ``users``, ``merchants``, ``transactions``, ``loans``, ``repayments`` as Delta at ``lake_root/name``.

    ``transactions`` and ``repayments`` get a ``ds`` (DateType, UTC date of ``event_ts``) partition column.
    Returns table name -> path.
    """
    from pyspark.sql import functions as F

    root = lake_root.rstrip("/")
    paths: dict[str, str] = {}
    for name, frame in data.tables().items():
        df = to_spark(spark, name, frame)
        writer_df = df
        if name in PARTITIONED:
            writer_df = df.withColumn(PARTITION_COLUMN, F.to_date(F.col("event_ts")))
        path = f"{root}/{name}"
        writer = writer_df.write.format("delta").mode(mode)
        if mode == "overwrite":
            writer = writer.option("overwriteSchema", "true")
        if name in PARTITIONED:
            writer = writer.partitionBy(PARTITION_COLUMN)
        writer.save(path)
        paths[name] = path
    return paths

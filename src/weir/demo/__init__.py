"""Synthetic, seeded consumer-credit demo data: users, merchants, card transactions, loans, repayments.

``generate`` and ``iter_transactions_live`` are pure Python (numpy/pandas); ``write_demo_tables`` needs Spark
(imported lazily).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weir.demo.generator import (
    LOANS_COLUMNS,
    MERCHANTS_COLUMNS,
    REPAYMENTS_COLUMNS,
    TABLE_COLUMNS,
    TRANSACTIONS_COLUMNS,
    USERS_COLUMNS,
    DemoData,
    generate,
    iter_transactions_live,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = [
    "LOANS_COLUMNS",
    "MERCHANTS_COLUMNS",
    "REPAYMENTS_COLUMNS",
    "TABLE_COLUMNS",
    "TRANSACTIONS_COLUMNS",
    "USERS_COLUMNS",
    "DemoData",
    "generate",
    "iter_transactions_live",
    "write_demo_tables",
]


def write_demo_tables(
    spark: SparkSession, data: DemoData, lake_root: str, mode: str = "overwrite"
) -> dict[str, str]:
    """Write the demo tables as Delta under ``lake_root`` (see :func:`weir.demo.writer.write_demo_tables`)."""
    from weir.demo.writer import write_demo_tables as _write

    return _write(spark, data, lake_root, mode)

"""Table maintenance: compaction (``OPTIMIZE``) and ``VACUUM`` of every table Weir writes, never breaking a
training set's pinned versions.

The streaming job appends a small file per partition per micro-batch, and daily runs rewrite partitions, so
tables grow files and tombstones. :func:`maintain` compacts each table (a rewrite with ``dataChange=false``:
readers and streams see no new data, values are unchanged) and vacuums files that no version within the
retention still needs. Training sets pin the Delta versions they read (their lineage, registered in
``_weir/training_lineage`` by :func:`register_training_set`); a table's retention is stretched so every pinned
version stays readable, unless the operator passes ``ignore_pins``. Why that suffices: VACUUM deletes a file
once its removal is older than the retention, and every file a version v needs was removed after v's commit,
so keeping removals newer than v's commit keeps v readable.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from weir.lake.paths import (
    EXPOSURE_STREAM,
    GROUP_TABLES,
    PLATFORM_TABLES,
    deadletter_path,
    group_table_path,
    training_lineage_path,
)
from weir.runtime import RuntimeConfig
from weir.spec.models import FeatureGroup

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

DEFAULT_RETENTION_HOURS = 168.0  # Delta's own default (7 days): a reader started within it never loses a file


@dataclass(frozen=True)
class TableReport:
    path: str
    files_before: int
    files_after: int
    retention_hours: float
    pinned_version: int | None  # the oldest version a training set pins, kept readable
    vacuumed: int  # files deleted


def maintained_tables(config: RuntimeConfig, groups: Iterable[FeatureGroup], platform: bool = True) -> list[str]:
    """Every table Weir writes for ``groups``, and with ``platform`` the shared internal ones too (with the
    exposure stream's dead letters: the stream appends to them each micro-batch, like a group's)."""
    paths = [group_table_path(config, kind, g.name) for g in groups for kind in GROUP_TABLES]
    shared = [config.table_path(name) for name in PLATFORM_TABLES] + [deadletter_path(config, EXPOSURE_STREAM)]
    return paths + (shared if platform else [])


def register_training_set(spark: SparkSession, config: RuntimeConfig, output: str, output_version: int,
                          lineage: Mapping[str, Any]) -> None:
    """Record which Delta versions a written training set read, so maintenance keeps them readable."""
    pins = [(path, int(v)) for info in lineage.get("groups", {}).values()
            for path, v in (info.get("delta_versions") or {}).items() if v is not None]
    spine = lineage.get("spine") or {}
    if spine.get("path") and spine.get("delta_version") is not None:
        pins.append((spine["path"], int(spine["delta_version"])))
    now = datetime.now(UTC).replace(tzinfo=None)
    text = json.dumps(dict(lineage), default=str)
    rows: list[tuple[str, int, str | None, int | None, datetime, str]] = [
        (output, output_version, path, version, now, text) for path, version in pins]
    rows = rows or [(output, output_version, None, None, now, text)]
    schema = ("training_set string, training_set_version long, table_path string, pinned_version long, "
              "registered_at timestamp, lineage string")
    spark.createDataFrame(rows, schema).write.format("delta").mode("append").save(training_lineage_path(config))


def pinned_versions(spark: SparkSession, config: RuntimeConfig) -> dict[str, int]:
    """Per table path, the oldest version any registered training set pins."""
    from pyspark.sql import functions as F

    from weir.lake.delta import table_exists

    path = training_lineage_path(config)
    if not table_exists(spark, path):
        return {}
    rows = (spark.read.format("delta").load(path).where(F.col("table_path").isNotNull())
            .groupBy("table_path").agg(F.min("pinned_version")).collect())
    return {str(r[0]).rstrip("/"): int(r[1]) for r in rows}


def retention_for(spark: SparkSession, path: str, pinned: int | None, minimum_hours: float) -> float:
    """Hours of retention that keep version ``pinned`` readable (at least ``minimum_hours``)."""
    if pinned is None:
        return minimum_hours
    from delta.tables import DeltaTable

    commit = (DeltaTable.forPath(spark, path).history().where(f"version = {pinned}")
              .select("timestamp").collect())
    if not commit:  # the version is gone from the history already: nothing left to protect
        return minimum_hours
    committed = commit[0][0].replace(tzinfo=UTC) if commit[0][0].tzinfo is None else commit[0][0]
    age_h = (datetime.now(UTC) - committed).total_seconds() / 3600
    return max(minimum_hours, math.ceil(age_h + 1))


def maintain(spark: SparkSession, config: RuntimeConfig, groups: Iterable[FeatureGroup],
             retention_hours: float = DEFAULT_RETENTION_HOURS, optimize: bool = True, vacuum: bool = True,
             ignore_pins: bool = False, platform: bool = True) -> list[TableReport]:
    """Compact and vacuum every existing table of ``groups`` and (``platform``) the internal tables; one report
    per table.

    ``retention_hours`` below Delta's 168 h safety check needs the operator's explicit choice (it is passed to
    Delta with its duration check off, as ``VACUUM ... RETAIN`` would require); pins still stretch it.
    """
    from delta.tables import DeltaTable

    from weir.lake.delta import table_exists

    pins = {} if ignore_pins else pinned_versions(spark, config)
    reports = []
    for path in maintained_tables(config, groups, platform):
        if not table_exists(spark, path):
            continue
        table = DeltaTable.forPath(spark, path)
        before = _live_files(spark, path)
        if optimize:
            table.optimize().executeCompaction()
        pinned = pins.get(path.rstrip("/"))
        hours = retention_for(spark, path, pinned, retention_hours)
        removed = 0
        if vacuum:
            on_disk = _files_on_disk(spark, path)
            vacuum_table(spark, table, hours)
            removed = max(0, on_disk - _files_on_disk(spark, path))
        reports.append(TableReport(path, before, _live_files(spark, path), hours, pinned, removed))
    return reports


_RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
# VACUUM lists the table's files in a Spark stage of this many tasks (Spark's default: 10,000, whatever the table
# or cluster size; about 40 s of task scheduling for a small table on 2 cores)
_LISTING_PARALLELISM = "spark.sql.sources.parallelPartitionDiscovery.parallelism"


def vacuum_listing_tasks(spark: SparkSession) -> int:
    """Tasks for VACUUM's file listing: a few per core of the cluster, enough to list many partition directories
    in parallel without thousands of near-empty tasks."""
    return max(2, 2 * spark.sparkContext.defaultParallelism)


@contextmanager
def _session_conf(spark: SparkSession, settings: Mapping[str, str]) -> Iterator[None]:
    """``settings`` on the session for the duration of the block, the previous values restored after."""
    previous = {k: spark.conf.get(k, None) for k in settings}
    for k, v in settings.items():
        spark.conf.set(k, v)
    try:
        yield
    finally:
        for k, old in previous.items():
            if old is None:
                spark.conf.unset(k)
            else:
                spark.conf.set(k, old)


def vacuum_table(spark: SparkSession, table: Any, hours: float, listing_tasks: int | None = None) -> None:
    """``VACUUM`` of ``table`` (a ``DeltaTable``) keeping ``hours`` of history; below Delta's 168 h safety check
    only as the operator's explicit choice (the check is off for this call alone). ``listing_tasks``: default
    :func:`vacuum_listing_tasks` (the benchmark passes Spark's own default to compare)."""
    tasks = vacuum_listing_tasks(spark) if listing_tasks is None else listing_tasks
    settings = {_LISTING_PARALLELISM: str(tasks)}
    if hours < DEFAULT_RETENTION_HOURS:
        settings[_RETENTION_CHECK] = "false"
    with _session_conf(spark, settings):
        table.vacuum(hours)


def _live_files(spark: SparkSession, path: str) -> int:
    """Data files in the table's current version."""
    return int(spark.sql(f"DESCRIBE DETAIL delta.`{path}`").collect()[0]["numFiles"])


def _files_on_disk(spark: SparkSession, path: str) -> int:
    """Parquet files under the table's directory, live or tombstoned (what VACUUM can delete)."""
    jvm: Any = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    jsc: Any = spark.sparkContext._jsc
    fs = hadoop_path.getFileSystem(jsc.hadoopConfiguration())
    files = fs.listFiles(hadoop_path, True)
    n = 0
    while files.hasNext():
        name = files.next().getPath().toString()
        if name.endswith(".parquet") and "/_delta_log/" not in name:
            n += 1
    return n


def maintenance_lines(reports: Iterable[TableReport]) -> list[str]:
    """One line per table for the CLI and the Airflow task log."""
    def pin(r: TableReport) -> str:
        return "" if r.pinned_version is None else f", keeps pinned v{r.pinned_version}"

    return [f"{r.path}: files {r.files_before} -> {r.files_after}, vacuumed {r.vacuumed} "
            f"(retention {r.retention_hours:g}h{pin(r)})" for r in reports]


__all__ = ["TableReport", "maintain", "maintained_tables", "pinned_versions", "register_training_set"]

"""A Delta table's log read without Spark (delta-rs): its version and its files' partitions, write times and stats.

Metadata questions (which version is current, when was each partition last written, what is a column's
smallest value) cost a Spark job each when asked through a DataFrame; from the log they take milliseconds.
Spark then reads the data pinned to the same version (``versionAsOf``), so both see one snapshot.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from weir.lake.paths import PARTITION_COL

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from pyspark.sql import DataFrame, SparkSession

    from weir.runtime import RuntimeConfig


class DeltaLogUnreadable(Exception):
    """delta-rs cannot read this table's log (a protocol feature it does not support): ask Spark instead."""


def delta_rs_uri(path: str) -> str:
    """delta-rs spells Hadoop's ``s3a://`` as ``s3://``; local paths and other schemes are kept."""
    return "s3://" + path[len("s3a://"):] if path.startswith("s3a://") else path


def delta_rs_options(path: str, config: RuntimeConfig | None = None) -> dict[str, str] | None:
    """delta-rs storage options for ``path`` from ``config`` (default: the process's; ``weir.lake.s3``: endpoint,
    region, addressing); None for local paths."""
    from weir.lake.s3 import delta_rs_storage_options
    from weir.runtime import load_config

    return delta_rs_storage_options(path, config or load_config())


def open_table(path: str, config: RuntimeConfig | None = None, version: int | None = None,
               without_files: bool = False) -> DeltaTable | None:
    """The delta-rs table at ``path`` (at ``version``, default the newest), opened the one way every reader of
    the lake without Spark must (``s3a://`` spelled for delta-rs, the config's storage options); None when there
    is no Delta table there. ``without_files``: the log's metadata only (versions, transaction ids)."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(delta_rs_uri(path), version=version, storage_options=delta_rs_options(path, config),
                          without_files=without_files)
    except TableNotFoundError:
        return None


def app_version(path: str, app_id: str, config: RuntimeConfig | None = None) -> int | None:
    """The last batch id ``app_id`` committed to the table at ``path`` (Delta's idempotent-write transaction
    id, set by an append with ``CommitProperties(app_transactions=...)``): how a replayed stream batch knows
    its append is already there. None when it committed none, or there is no table delta-rs can read."""
    from deltalake.exceptions import DeltaError, DeltaProtocolError

    try:
        table = open_table(path, config, without_files=True)
        return None if table is None else table.transaction_version(app_id)
    except (DeltaProtocolError, DeltaError):
        return None


def _naive_utc(value: Any) -> Any:
    """Timestamps as Spark hands them to Python in a UTC session: naive, in UTC."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


@dataclass(frozen=True)
class LogSnapshot:
    """The live files of one version of a Delta table, as its log lists them."""

    path: str
    version: int
    files: list[dict[str, Any]]  # add actions, flattened: path, partition.<col>, modification_time, min.<col>
    schema_json: str             # the table's schema (Delta's schema string: Spark's StructType JSON)
    partition_cols: tuple[str, ...]
    plain_parquet: bool          # reader version 1: the listed files are plain parquet (no deletion vectors, no
                                 # column mapping), readable as they are

    def file_paths(self, column: str, values: Collection[Any]) -> list[str]:
        """Absolute paths of the live files whose partition ``column`` is one of ``values``."""
        root = self.path.rstrip("/")
        return [rel if "://" in rel else f"{root}/{unquote(rel)}"
                for f in self.files if f.get(f"partition.{column}") in values for rel in [f["path"]]]

    def written_at(self, newest: bool, by: Sequence[str] = (PARTITION_COL,),
                   where: Mapping[str, Any] | None = None) -> dict[Any, datetime]:
        """Partition (values of ``by``; one column: the value itself) -> newest (or oldest) modification time of
        its files, among the files whose partition values equal ``where``: which partitions a later run rewrote."""
        out: dict[Any, datetime] = {}
        pick = max if newest else min
        for f in self.files:
            if where and any(f.get(f"partition.{c}") != v for c, v in where.items()):
                continue
            key = f[f"partition.{by[0]}"] if len(by) == 1 else tuple(f[f"partition.{c}"] for c in by)
            at = _naive_utc(datetime.fromtimestamp(f["modification_time"] / 1000, tz=UTC))
            out[key] = pick(out[key], at) if key in out else at
        return out

    def records(self, where: Mapping[str, Any] | None = None) -> int | None:
        """Rows of the live files whose partition values equal ``where``, by the files' statistics (no read);
        None when a file has no row count."""
        counts = [f.get("num_records") for f in self.files
                  if not where or all(f.get(f"partition.{c}") == v for c, v in where.items())]
        return None if any(n is None for n in counts) else sum(int(n) for n in counts if n is not None)

    def min_value(self, column: str) -> Any | None:
        """The smallest value of ``column`` by the files' statistics (a lower bound: files are not read);
        None when the table is empty or a file has no statistics for it."""
        values = [f.get(f"min.{column}") for f in self.files if f.get("num_records")]
        if not values or any(v is None for v in values):
            return None
        return _naive_utc(min(v for v in values if v is not None))


def log_snapshot(path: str, version: int | None = None, config: RuntimeConfig | None = None) -> LogSnapshot | None:
    """The table at ``path`` (at ``version``, default the newest) as its log lists it; None when there is no
    Delta table. Raises ``DeltaLogUnreadable`` when delta-rs cannot read the log."""
    import pyarrow as pa
    from deltalake.exceptions import DeltaError, DeltaProtocolError, TableNotFoundError

    try:
        table = open_table(path, config, version)
        if table is None:
            return None
        actions = pa.table(table.get_add_actions(flatten=True))
        protocol, metadata = table.protocol(), table.metadata()
        schema_json = table.schema().to_json()
    except TableNotFoundError:
        return None
    except (DeltaProtocolError, DeltaError) as exc:
        raise DeltaLogUnreadable(f"delta-rs cannot read the log of {path}: {exc}") from exc
    plain = protocol.min_reader_version == 1 and not protocol.reader_features
    return LogSnapshot(path, table.version(), actions.to_pylist(), schema_json, tuple(metadata.partition_columns),
                       plain)


def read_partitions_at(spark: SparkSession, snapshot: LogSnapshot, column: str, values: Collection[Any],
                       ) -> DataFrame:
    """The rows of the partitions ``column IN values`` at the snapshot's version, without the partition columns.

    Plain parquet tables are read from the files the log lists (Spark skips rebuilding the Delta snapshot, the
    slowest part of a small read); others through the Delta reader, pinned to the same version.
    """
    import json

    from pyspark.sql import functions as F
    from pyspark.sql.types import StructType

    schema = StructType.fromJson(json.loads(snapshot.schema_json))
    data = StructType([f for f in schema.fields if f.name not in snapshot.partition_cols])
    if not snapshot.plain_parquet:
        df = spark.read.format("delta").option("versionAsOf", snapshot.version).load(snapshot.path)
        return df.where(F.col(column).isin(list(values))).select(*data.fieldNames())
    files = snapshot.file_paths(column, values)
    if not files:
        return spark.createDataFrame([], data)
    # the files are known: no Spark job to list them in parallel (Spark starts one above this many paths)
    key = "spark.sql.sources.parallelPartitionDiscovery.threshold"
    before = spark.conf.get(key) or "32"
    spark.conf.set(key, str(max(len(files) + 1, int(before))))
    try:
        return spark.read.schema(data).parquet(*files)
    finally:
        spark.conf.set(key, before)

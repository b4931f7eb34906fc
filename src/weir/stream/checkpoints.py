"""A group stream's checkpoint when its plan holds the dedup state (``source.event_id``, :mod:`weir.stream.dedup`).

**Fixed at the first batch.** Spark records the state store provider (RocksDB here: the state holds every key
of the horizon, far more than a JVM heap should) and the number of state partitions
(``spark.sql.shuffle.partitions``, Weir's ``spark_shuffle_partitions`` at that moment) in the checkpoint. The
partition count can never change for that checkpoint afterwards: keep it small and fixed; changing it means a
new checkpoint (which the first batch seeds from the event log).

**A checkpoint written by the stateless plan** (before the dedup state: offsets and commits, no ``state/``)
cannot run the stateful plan (Spark finds no state for its batches). :func:`prepare_checkpoint` migrates it once:
when its last planned batch is committed, it is renamed to ``<checkpoint>.stateless-<UTC time>`` and the new
query starts from exactly the offsets it had committed, in a fresh checkpoint whose first batch seeds the state
from the event log. Nothing is read twice (the new query starts after the last committed offsets) and nothing
is skipped. A last batch planned but not committed (a crash mid-batch) may be half applied under the old query
id, so it is not migrated: :class:`LegacyCheckpointError` says how to finish it first.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ROCKSDB_PROVIDER = "org.apache.spark.sql.execution.streaming.state.RocksDBStateStoreProvider"
STATEFUL_CONF = {
    "spark.sql.streaming.stateStore.providerClass": ROCKSDB_PROVIDER,
    # a commit uploads the batch's changes, not a snapshot of the whole store
    "spark.sql.streaming.stateStore.rocksdb.changelogCheckpointing.enabled": "true",
    # transformWithState in processing-time mode asks for a batch after every batch (for its TTL): without this a
    # processing-time trigger runs empty batches and an available-now run never ends. Expiry runs in data batches.
    "spark.sql.streaming.noDataMicroBatches.enabled": "false",
}


class LegacyCheckpointError(RuntimeError):
    """A stateless checkpoint whose last batch is not committed: it cannot be migrated safely."""


class CheckpointStart(NamedTuple):
    query_id: str | None  # the checkpoint's query id, None for a new checkpoint
    starting_offsets: str | None  # the retired stateless checkpoint's committed offsets (JSON), or None


def use_stateful_conf(spark: SparkSession) -> None:
    """The session settings the stateful plan needs (module doc), set before its query starts."""
    for key, value in STATEFUL_CONF.items():
        spark.conf.set(key, value)


class _Fs:
    """The checkpoint's Hadoop file system (local, s3a://...), as Spark itself sees it."""

    def __init__(self, spark: SparkSession, root: str) -> None:
        jvm = spark.sparkContext._jvm
        assert jvm is not None
        self.jvm = jvm
        self.root = root.rstrip("/")
        self.fs = jvm.org.apache.hadoop.fs.Path(self.root).getFileSystem(
            spark.sparkContext._jsc.hadoopConfiguration())

    def path(self, rel: str = "") -> Any:
        return self.jvm.org.apache.hadoop.fs.Path(f"{self.root}/{rel}" if rel else self.root)

    def exists(self, rel: str = "") -> bool:
        return bool(self.fs.exists(self.path(rel)))

    def batch_ids(self, rel: str) -> list[int]:
        if not self.exists(rel):
            return []
        names = [s.getPath().getName() for s in self.fs.listStatus(self.path(rel))]
        return sorted(int(n) for n in names if n.isdigit())

    def read(self, rel: str) -> str:
        stream = self.fs.open(self.path(rel))
        try:
            return str(self.jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8"))
        finally:
            stream.close()

    def rename(self, to: str) -> None:
        if not self.fs.rename(self.path(), self.jvm.org.apache.hadoop.fs.Path(to)):
            raise OSError(f"could not rename the checkpoint {self.root} to {to}")


def _query_id(fs: _Fs) -> str | None:
    if not fs.exists("metadata"):
        return None
    return str(json.loads(fs.read("metadata").splitlines()[0])["id"])


def committed_offsets(fs: _Fs, batch_id: int) -> str:
    """The source offsets (JSON) batch ``batch_id`` read up to: the offset log file's one source line."""
    lines = [ln for ln in fs.read(f"offsets/{batch_id}").splitlines() if ln.strip()]
    if len(lines) != 3:  # "v1", the batch metadata, one source
        raise LegacyCheckpointError(f"{fs.root}/offsets/{batch_id}: expected one source's offsets, got "
                                    f"{len(lines) - 2}")
    return lines[2]


def prepare_checkpoint(spark: SparkSession, checkpoint: str) -> CheckpointStart:
    """The stateful plan's start on ``checkpoint``: its query id, and the offsets to start from when a stateless
    checkpoint was just retired (module doc)."""
    fs = _Fs(spark, checkpoint)
    commits = fs.batch_ids("commits")
    if not commits or fs.exists("state"):
        return CheckpointStart(_query_id(fs), None)
    planned = fs.batch_ids("offsets")
    if planned and planned[-1] > commits[-1]:
        raise LegacyCheckpointError(
            f"checkpoint {checkpoint} was written by the stateless stream plan (before the dedup state) and its "
            f"batch {planned[-1]} is planned but not committed. Finish it with the previous Weir release "
            f"(`weir stream <group> --available-now`), then start this one: it moves the checkpoint aside and "
            f"continues from its committed offsets.")
    offsets = committed_offsets(fs, commits[-1])
    retired = f"{fs.root}.stateless-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}"
    fs.rename(retired)
    print(f"checkpoint {checkpoint}: written by the stateless plan; moved to {retired}, the stateful plan starts "
          f"from its committed offsets {offsets}", flush=True)
    return CheckpointStart(None, offsets)

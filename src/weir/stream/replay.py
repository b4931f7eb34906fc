"""Dead-letter replay: after a producer or a spec is fixed, send dead-lettered records back through the streaming
job's own parse and merge path, exactly once.

A replay selects the group's dead letters (optionally ``since`` a time and with a ``reason`` substring) that no
earlier replay took, and hands their original Kafka bytes and metadata (topic, partition, offset, timestamp) to a
:class:`~weir.stream.job.BatchProcessor` as one micro-batch of the query ``deadletter-replay``, batch id = the
replay's number. So the records meet exactly the stream's rules: still-invalid ones are dead-lettered again
(tagged with the replay's query id), events behind the high-water mark go to ``late/``, valid ones reach the
event log and the online store. Exactly once comes from the same two guards the stream has: Delta appends carry
``txnAppId``/``txnVersion`` and online items remember the last batch id applied per query. Every replayed offset
is then marked in ``_weir/deadletter_replays`` (the audit trail, with the outcome), and a marked offset is never
selected again: replaying twice changes nothing, and a replay that crashed is finished by running it again
(a marked replay whose micro-batch never finished is resumed with exactly its records and number).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from weir.lake.paths import deadletter_path, deadletter_replays_path, stream_metrics_path
from weir.runtime import RuntimeConfig
from weir.spec.models import FeatureGroup
from weir.stream.parse import KAFKA_META, REASON_COL, VALUE_BIN, parse_records

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

REPLAY_QUERY_ID = "deadletter-replay"
OFFSET_KEY = ("topic", "partition", "offset")


@dataclass(frozen=True)
class ReplayResult:
    group: str
    replay_id: int | None  # None when nothing was left to replay
    selected: int
    now_valid: int  # parsed valid now (they reach the event log; online unless behind the high-water mark)
    still_invalid: int  # dead-lettered again, tagged with the replay's query id


def dead_letters(spark: SparkSession, config: RuntimeConfig, group: FeatureGroup, since: datetime | None = None,
                 reason: str | None = None) -> DataFrame:
    """The group's dead letters (newest first) with a ``replayed`` flag, filtered by time and reason substring."""
    from pyspark.sql import functions as F

    from weir.lake.delta import table_exists

    path = deadletter_path(config, group.name)
    if not table_exists(spark, path):
        raise FileNotFoundError(f"group '{group.name}' has no dead letters yet ({path} does not exist)")
    df = spark.read.format("delta").load(path)
    if since is not None:
        df = df.where(F.col("dead_lettered_at") >= F.lit(since))
    if reason:
        df = df.where(F.col(REASON_COL).contains(reason))
    done = _replayed_offsets(spark, config, group)
    flag = F.lit(False) if done is None else F.col("_r").isNotNull()
    if done is not None:
        df = df.join(done.withColumn("_r", F.lit(True)), list(OFFSET_KEY), "left")
    return df.withColumn("replayed", flag).drop("_r").orderBy(F.col("dead_lettered_at").desc())


def replay(spark: SparkSession, config: RuntimeConfig, group: FeatureGroup, since: datetime | None = None,
           reason: str | None = None) -> ReplayResult:
    """Replay the selected, not yet replayed dead letters of ``group`` once (see the module docstring).

    The selection is marked first (with each record's parse outcome), then processed; a replay whose micro-batch
    has no metrics row yet (it crashed) is resumed with exactly its marked records before anything new is taken.
    """
    from pyspark.sql import functions as F

    from weir.stream.job import ITEM_TOO_LARGE, BatchProcessor

    unfinished = _unfinished_replay(spark, config, group)
    if unfinished is not None:
        replay_id, chosen = unfinished
    else:
        replay_id = _next_replay_id(spark, config, group)
        # original records only: a record that a replay dead-lettered again is marked already; events set aside
        # because their online item was too large were valid and are in the event log: replaying would log them twice
        chosen = (dead_letters(spark, config, group, since, reason)
                  .where(~F.col("replayed") & (F.col("query_id") != F.lit(REPLAY_QUERY_ID))))
        if "reason_codes" in chosen.columns:
            chosen = chosen.where(~F.coalesce(F.array_contains("reason_codes", ITEM_TOO_LARGE), F.lit(False)))
        chosen = chosen.dropDuplicates(list(OFFSET_KEY))
    kafka_rows = chosen.select(F.col(VALUE_BIN).alias("value"), "topic", "partition", "offset",
                               F.col("kafka_ts").alias("timestamp")).persist()
    try:
        outcome = parse_records(kafka_rows, group).select(
            *OFFSET_KEY, F.coalesce(F.concat(F.lit("still invalid: "), F.col(REASON_COL)),
                                    F.lit("valid")).alias("outcome")).persist()
        selected = outcome.count()
        if selected == 0:
            return ReplayResult(group.name, None, 0, 0, 0)
        if unfinished is None:
            marks = outcome.select(F.lit(group.name).alias("group"), *OFFSET_KEY,
                                   F.lit(replay_id).cast("long").alias("replay_id"), "outcome",
                                   F.current_timestamp().alias("replayed_at"))
            (marks.write.format("delta").mode("append").option("txnAppId", f"weir-replay-marks:{group.name}")
             .option("txnVersion", str(replay_id)).save(deadletter_replays_path(config)))
        processor = BatchProcessor(spark, group, config)
        processor.set_query_id(REPLAY_QUERY_ID)
        processor(kafka_rows, replay_id)
        invalid = outcome.where(F.col("outcome") != F.lit("valid")).count()
        outcome.unpersist()
        return ReplayResult(group.name, replay_id, selected, selected - invalid, invalid)
    finally:
        kafka_rows.unpersist()


def _unfinished_replay(spark: SparkSession, config: RuntimeConfig, group: FeatureGroup,
                       ) -> tuple[int, DataFrame] | None:
    """The group's last marked replay if its micro-batch never finished (no stream-metrics row), with the
    original dead letters it selected."""
    from pyspark.sql import functions as F

    from weir.lake.delta import table_exists

    last = _next_replay_id(spark, config, group) - 1
    if last < 0:
        return None
    m_path = stream_metrics_path(config)
    if table_exists(spark, m_path) and spark.read.format("delta").load(m_path).where(
            (F.col("group") == F.lit(group.name)) & (F.col("query_id") == F.lit(REPLAY_QUERY_ID))
            & (F.col("batch_id") == F.lit(last))).limit(1).count():
        return None
    marked = (spark.read.format("delta").load(deadletter_replays_path(config))
              .where((F.col("group") == F.lit(group.name)) & (F.col("replay_id") == F.lit(last)))
              .select(*OFFSET_KEY))
    originals = (spark.read.format("delta").load(deadletter_path(config, group.name))
                 .where(F.col("query_id") != F.lit(REPLAY_QUERY_ID)).dropDuplicates(list(OFFSET_KEY)))
    return last, originals.join(marked, list(OFFSET_KEY), "left_semi")


def _replayed_offsets(spark: SparkSession, config: RuntimeConfig, group: FeatureGroup) -> DataFrame | None:
    from pyspark.sql import functions as F

    from weir.lake.delta import table_exists

    path = deadletter_replays_path(config)
    if not table_exists(spark, path):
        return None
    return (spark.read.format("delta").load(path).where(F.col("group") == F.lit(group.name))
            .select(*OFFSET_KEY).distinct())


def _next_replay_id(spark: SparkSession, config: RuntimeConfig, group: FeatureGroup) -> int:
    """One more than the group's last marked replay."""
    from pyspark.sql import functions as F

    from weir.lake.delta import table_exists

    path = deadletter_replays_path(config)
    if not table_exists(spark, path):
        return 0
    last = (spark.read.format("delta").load(path).where(F.col("group") == F.lit(group.name))
            .agg(F.max("replay_id")).collect()[0][0])
    return 0 if last is None else int(last) + 1


__all__ = ["KAFKA_META", "REPLAY_QUERY_ID", "ReplayResult", "dead_letters", "replay"]

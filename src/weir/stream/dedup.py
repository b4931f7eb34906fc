"""Exactly-once by event id in the stream: copies of an event are dead-lettered as duplicates, across batches.

With ``source.event_id`` declared, a valid record of a micro-batch is a duplicate when its (event id, event
day) (:func:`weir.compute.event_rules.event_day`, the dedup horizon shared with batch and training)

* is also held by a copy earlier in the same micro-batch (earlier by :func:`~weir.compute.event_rules.dedup_order`,
  the rule batch applies), or
* is already in the group's event log (``events/<group>``) from an earlier micro-batch or an earlier query.

The event log is the state: it is written in the same micro-batch, idempotently per batch id, so there is no
second store to keep in step. Only the log's day partitions the batch's events fall in are read (``ds`` of an
event day ``d`` is ``d`` or ``d + 1``). Rows of this query's batch ``b`` or later are ignored, so a replay of
batch ``b`` (its events may already be committed) classifies exactly as the first attempt.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from weir.compute.event_rules import DUPLICATE_EVENT_ID, copy_rank, event_day
from weir.spec.models import FeatureGroup
from weir.stream.parse import CODES_COL, REASON_COL

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_RANK = "_weir_copy_rank"
_SEEN = "_weir_seen"
_SEEN_ID = "_weir_seen_id"
_SEEN_DAY = "_weir_seen_day"


def _logged_ids(spark: SparkSession, days: list[date], group: FeatureGroup, log_path: str, query_id: str,
                batch_id: int) -> DataFrame | None:
    """(event id, event day) pairs already in the event log on ``days``, written before batch ``batch_id``."""
    from pyspark.sql import functions as F

    from weir.lake.delta import table_exists
    from weir.stream.job import BATCH_COL, PARTITION_COL, QUERY_COL

    if not days or not table_exists(spark, log_path):
        return None
    eid, et = group.source.event_id, group.event_time
    assert eid is not None
    parts = sorted({d for day in days for d in (day, day + timedelta(days=1))})
    mine_now_or_later = (F.col(QUERY_COL) == F.lit(query_id)) & (F.col(BATCH_COL) >= F.lit(batch_id))
    log = spark.read.format("delta").load(log_path)
    if eid not in log.columns:  # a log written before the column was declared holds no ids to match
        return None
    return (log.where(F.col(PARTITION_COL).isin(parts) & ~mine_now_or_later)
            .select(F.col(eid).alias(_SEEN_ID), event_day(F.col(et)).alias(_SEEN_DAY))
            .where(F.col(_SEEN_DAY).isin(days)).distinct().withColumn(_SEEN, F.lit(True)))


def mark_duplicates(spark: SparkSession, parsed: DataFrame, group: FeatureGroup, log_path: str, query_id: str,
                    batch_id: int) -> DataFrame:
    """``parsed`` (from ``parse_records``) with duplicates turned into dead letters (reason and code)."""
    from pyspark.sql import functions as F

    eid, et = group.source.event_id, group.event_time
    assert eid is not None, "mark_duplicates needs source.event_id"
    valid = F.col(REASON_COL).isNull()
    day = event_day(F.col(et))
    days = [r[0] for r in parsed.where(valid).select(day).distinct().collect()]
    ranked = parsed.withColumn(_RANK, F.when(valid, copy_rank(group, among=valid)))
    seen = _logged_ids(spark, days, group, log_path, query_id, batch_id)
    if seen is None:
        ranked = ranked.withColumn(_SEEN, F.lit(False))
    else:
        on = (F.col(eid) == F.col(_SEEN_ID)) & (day == F.col(_SEEN_DAY))
        ranked = ranked.join(seen, on, "left").drop(_SEEN_ID, _SEEN_DAY)
    in_log = valid & F.coalesce(F.col(_SEEN), F.lit(False))
    repeated = valid & (F.col(_RANK) > F.lit(1))
    label = F.concat(F.lit(f"duplicate event id {eid} "), F.col(eid).cast("string"), F.lit(" on event day "),
                     day.cast("string"))
    reason = (F.when(in_log, F.concat(label, F.lit(": already in the event log")))
              .when(repeated, F.concat(label, F.lit(": an earlier copy in this micro-batch is kept")))
              .otherwise(F.col(REASON_COL)))
    codes = F.when(in_log | repeated, F.array(F.lit(DUPLICATE_EVENT_ID))).otherwise(F.col(CODES_COL))
    return ranked.select(*(reason.alias(c) if c == REASON_COL else codes.alias(c) if c == CODES_COL else F.col(c)
                           for c in parsed.columns))

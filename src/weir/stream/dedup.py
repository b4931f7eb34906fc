"""Exactly-once by event id in the stream: copies of an event are dead-lettered as duplicates, across batches.

With ``source.event_id`` declared, a valid record of a micro-batch is a duplicate when its (event id, event
day) (:func:`weir.compute.event_rules.event_day`, the dedup horizon shared with batch and training)

* is also held by a copy earlier in the same micro-batch (earlier by :func:`~weir.compute.event_rules.dedup_order`,
  the rule batch applies), or
* was seen in an earlier micro-batch (of this query, or of an earlier query on the same checkpoint).

**Where "seen earlier" comes from.** The stream keeps it in Spark's state (:func:`with_seen_state`): the query
parses in its streaming plan (stateless, :func:`weir.stream.parse.parse_records`) and a ``transformWithState``
operator keyed by (event id, event day) of the valid records marks each row ``_weir_seen`` and remembers new
keys. The cost of a micro-batch is a lookup per key of the batch, not a scan of the day's event log. The state
is versioned by Spark with the checkpoint: a replay of batch ``b`` after a crash starts from the state of batch
``b - 1`` and classifies exactly as the first attempt; a restart on the same checkpoint keeps it. Invalid
records pass the operator untouched (one group with a NULL key, never stored) and stay dead letters.

**Horizon.** A key is kept for ``1 day + source.allowed_lateness + source.max_future + 1 day`` of processing
time after the batch that first saw it (:func:`dedup_horizon_us`; a ValueState TTL, evicted through Spark's
TTL index, so expiry costs what expires, not the whole state). Why that long: a copy has an event time in the
key's day ``(d, d+1]``, the first copy's event time was at most ``max_future`` ahead of its batch, and a copy
is on time only while ``event_ts >= H - allowed_lateness`` (``H`` the stream's high-water mark, see
:mod:`weir.stream.job`). While ``H`` keeps up with processing time (the stream sees events), every copy that is
still on time arrives within ``1 day + allowed_lateness + max_future`` of the first; the last day is slack for
a stream whose high-water mark stalls (no events) for up to a day. **Promise:** a copy arriving within the
horizon of the first copy's batch is dead-lettered; a copy arriving later is, under that condition, late (it
goes to ``late/`` and to the event log with ``late = true``, never online; batch reruns dedup it by the same
day rule). Without ``allowed_lateness`` nothing is late and the horizon is ``2 days + max_future``: copies
further apart are not caught (the old event-log scan caught them for ever).

**Seeding.** The first micro-batch of a new checkpoint seeds the state from the event log's day partitions
within the horizon (``initialState``; Spark applies it in batch 0 only, later batches never read the log), so a
new checkpoint (a reset, or the migration from a stateless checkpoint in :mod:`weir.stream.checkpoints`)
still catches copies of events logged before it.

**A dead-letter replay** (:mod:`weir.stream.replay`) is one static micro-batch outside the query: it has no
Spark state, so :func:`mark_duplicates` there reads the event log's day partitions of the replayed events, as
before. The stream's state does not learn of replayed events: a copy of a replayed event that arrives on the
topic later (within the horizon) is not caught.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from weir.compute.event_rules import DUPLICATE_EVENT_ID, copy_rank, event_day
from weir.spec.durations import DAY_US
from weir.spec.models import FeatureGroup
from weir.stream.parse import CODES_COL, REASON_COL, VALUE_BIN, VALUE_STR, utf8_text

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.streaming import StatefulProcessor
    from pyspark.sql.types import StructType

SEEN_COL = "_weir_seen"  # the streaming plan's mark: (event id, event day) seen in an earlier micro-batch
DEDUP_SLACK_US = DAY_US  # horizon slack for a stalled high-water mark (module doc)
_KEY_ID = "_weir_dedup_id"
_KEY_DAY = "_weir_dedup_day"  # the event day as days since 1970-01-01 (a plain int through Python)
_RANK = "_weir_copy_rank"
_SEEN = "_weir_seen_log"
_SEEN_ID = "_weir_seen_id"
_SEEN_DAY = "_weir_seen_day"


def dedup_horizon_us(group: FeatureGroup) -> int:
    """How long a key stays in the state after the batch that first saw it (module doc)."""
    return DAY_US + (group.source.allowed_lateness_us or 0) + group.source.max_future_us + DEDUP_SLACK_US


# -------------------------------------------------------------------------------------------- stream state
def seen_processor(ttl_ms: int, columns: list[str]) -> StatefulProcessor:
    """The state operator's processor: marks the rows of one (event id, event day) ``seen`` when an earlier
    batch held the key and remembers new keys (value: the batch time that first saw it) with a TTL of
    ``ttl_ms``. The NULL key (invalid rows) is never stored. (A class made here: importing this module needs no
    pyspark.)"""
    from pyspark.sql import Row
    from pyspark.sql.streaming import StatefulProcessor, StatefulProcessorHandle
    from pyspark.sql.streaming.stateful_processor import TimerValues

    class SeenProcessor(StatefulProcessor):
        def init(self, handle: StatefulProcessorHandle) -> None:
            self.state = handle.getValueState("first_seen", "batch_ms long", ttl_ms)
            self.row = Row(*columns, SEEN_COL)

        def handleInputRows(self, key: Any, rows: Iterator[Any], timerValues: TimerValues) -> Iterator[Any]:
            seen = False
            if key[0] is not None:
                seen = self.state.exists()
                if not seen:
                    self.state.update((timerValues.getCurrentProcessingTimeInMs(),))
            for r in rows:
                yield self.row(*(r[c] for c in columns), seen)

        def handleInitialState(self, key: Any, initialState: Any, timerValues: TimerValues) -> None:
            self.state.update((timerValues.getCurrentProcessingTimeInMs(),))

        def close(self) -> None:
            return None

    return SeenProcessor()


def _to_wire(df: DataFrame) -> DataFrame:
    """Timestamps and dates as integers (micros, days) through Python: exact, whatever the host's time zone."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DateType, TimestampType

    return df.select(*(F.unix_micros(F.col(f.name)).alias(f.name) if isinstance(f.dataType, TimestampType)
                       else F.unix_date(F.col(f.name)).alias(f.name) if isinstance(f.dataType, DateType)
                       else F.col(f.name) for f in df.schema.fields))


def _from_wire(df: DataFrame, schema: StructType) -> DataFrame:
    from pyspark.sql import functions as F
    from pyspark.sql.types import DateType, TimestampType

    return df.select(*(F.timestamp_micros(F.col(f.name)).alias(f.name) if isinstance(f.dataType, TimestampType)
                       else F.date_from_unix_date(F.col(f.name)).alias(f.name) if isinstance(f.dataType, DateType)
                       else F.col(f.name) for f in schema.fields), SEEN_COL)


def _keys(df: DataFrame, group: FeatureGroup, valid: Column) -> list[Column]:
    """The state key (event id, event day as an int) of valid rows; NULLs for the others."""
    from pyspark.sql import functions as F

    eid = group.source.event_id
    assert eid is not None, "the dedup state needs source.event_id"
    return [F.when(valid, F.col(eid)).alias(_KEY_ID),
            F.when(valid, F.unix_date(event_day(F.col(group.event_time)))).alias(_KEY_DAY)]


def with_seen_state(parsed: DataFrame, group: FeatureGroup, seed: DataFrame | None = None) -> DataFrame:
    """The streaming plan's dedup state over ``parse_records`` rows: the same rows (and columns), plus
    ``_weir_seen``. ``seed`` (from :func:`seed_keys`) is applied in the first batch of a new checkpoint only."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType, StructField, StructType

    valid = F.col(REASON_COL).isNull()
    slim = parsed.drop(VALUE_STR)  # rebuilt from the bytes afterwards: one string less through Python
    keyed = _to_wire(slim.select(*slim.columns, *_keys(slim, group, valid)))
    columns = slim.columns
    out = StructType([*(f for f in keyed.schema.fields if f.name in columns),
                      StructField(SEEN_COL, BooleanType(), False)])
    processor = seen_processor(dedup_horizon_us(group) // 1000, columns)
    initial = None if seed is None else seed.groupBy(_KEY_ID, _KEY_DAY)
    marked = keyed.groupBy(_KEY_ID, _KEY_DAY).transformWithState(
        processor, out, "Append", "ProcessingTime", initialState=initial)
    back = _from_wire(marked, slim.schema).withColumn(VALUE_STR, utf8_text(F.col(VALUE_BIN)))
    return back.select(*parsed.columns, SEEN_COL)


def seed_keys(spark: SparkSession, group: FeatureGroup, log_path: str, now: datetime,
              exclude_query: str | None = None) -> DataFrame | None:
    """Distinct state keys of the event log's days within the horizon before ``now`` (rows of
    ``exclude_query``, the checkpoint's own query, left out: a replayed batch 0 must not see itself)."""
    from pyspark.sql import functions as F

    from weir.lake.delta import table_exists
    from weir.lake.paths import PARTITION_COL
    from weir.stream.job import QUERY_COL

    eid = group.source.event_id
    if eid is None or not table_exists(spark, log_path):
        return None
    log = spark.read.format("delta").load(log_path)
    if eid not in log.columns:
        return None
    first: date = (now - timedelta(microseconds=dedup_horizon_us(group))).date() - timedelta(days=1)
    rows = log.where(F.col(PARTITION_COL) >= F.lit(first))
    if exclude_query is not None:
        rows = rows.where(F.col(QUERY_COL) != F.lit(exclude_query))
    return _to_wire(rows.select(*_keys(rows, group, F.lit(True)))).distinct()


def mark_seen_duplicates(batch: DataFrame, group: FeatureGroup) -> DataFrame:
    """A micro-batch of the stateful plan (``_weir_seen`` set) with duplicates turned into dead letters."""
    from pyspark.sql import functions as F

    valid = F.col(REASON_COL).isNull()
    earlier = valid & F.coalesce(F.col(SEEN_COL), F.lit(False))
    return _dead_letter_copies(batch, group, earlier, "seen in an earlier micro-batch (already in the event log)",
                               [c for c in batch.columns if c != SEEN_COL])


# -------------------------------------------------------------------------------------------- the log (replays)
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
    """``parsed`` (from ``parse_records``) with duplicates turned into dead letters, "seen earlier" read from the
    event log's day partitions of the batch's events (dead-letter replays: no Spark state there). Rows of this
    query's batch ``batch_id`` or later are ignored, so a rerun of the batch classifies as the first attempt."""
    from pyspark.sql import functions as F

    eid = group.source.event_id
    assert eid is not None, "mark_duplicates needs source.event_id"
    valid = F.col(REASON_COL).isNull()
    day = event_day(F.col(group.event_time))
    days = [r[0] for r in parsed.where(valid).select(day).distinct().collect()]
    seen = _logged_ids(spark, days, group, log_path, query_id, batch_id)
    if seen is None:
        joined = parsed.withColumn(_SEEN, F.lit(False))
    else:
        joined = parsed.join(seen, (F.col(eid) == F.col(_SEEN_ID)) & (day == F.col(_SEEN_DAY)), "left")
    earlier = valid & F.coalesce(F.col(_SEEN), F.lit(False))
    return _dead_letter_copies(joined, group, earlier, "already in the event log", parsed.columns)


def _dead_letter_copies(df: DataFrame, group: FeatureGroup, earlier: Column, earlier_text: str,
                        columns: list[str]) -> DataFrame:
    """``columns`` of ``df`` with copies dead-lettered: rows ``earlier`` (their key was seen before this batch),
    then every valid copy but the first by ``dedup_order`` within the batch."""
    from pyspark.sql import functions as F

    eid = group.source.event_id
    assert eid is not None
    valid = F.col(REASON_COL).isNull()
    ranked = df.withColumn(_RANK, F.when(valid, copy_rank(group, among=valid)))
    repeated = valid & (F.col(_RANK) > F.lit(1))
    day = event_day(F.col(group.event_time))
    label = F.concat(F.lit(f"duplicate event id {eid} "), F.col(eid).cast("string"), F.lit(" on event day "),
                     day.cast("string"))
    reason = (F.when(earlier, F.concat(label, F.lit(f": {earlier_text}")))
              .when(repeated, F.concat(label, F.lit(": an earlier copy in this micro-batch is kept")))
              .otherwise(F.col(REASON_COL)))
    codes = F.when(earlier | repeated, F.array(F.lit(DUPLICATE_EVENT_ID))).otherwise(F.col(CODES_COL))
    return ranked.select(*(reason.alias(c) if c == REASON_COL else codes.alias(c) if c == CODES_COL else F.col(c)
                           for c in columns))

"""The streaming job of a feature group: Kafka -> validity check -> online items first (the same tiles and
merge math as batch), then the lake: dead letters, late events, the event log, per-batch metrics.

One Structured Streaming query per group reads the spec's ``source.kafka.topic`` (``startingOffsets=earliest``
on the first start, ``failOnDataLoss=true``: a retention gap stops the query loudly) and hands each micro-batch
to :class:`BatchProcessor` (``foreachBatch``). Offsets live in the checkpoint ``<checkpoints>/<group>``; a
restart resumes from it.

``foreachBatch`` is at-least-once: after a crash the last batch id is run again with the same offsets. Every
write is therefore idempotent for a replayed batch id:

* Delta appends (``events/``, ``deadletter/``, ``late/``, ``_weir/stream_metrics``) carry
  ``txnAppId = weir-stream:<group>:<query id>`` and ``txnVersion = batch id``: Delta skips a version it has
  already committed for that app id;
* online items record the last applied batch id per query id and are written conditionally
  (:mod:`weir.stream.online`), by the Spark tasks themselves (:mod:`weir.stream.executor`: a task retried after
  a worker died skips the entities its first attempt wrote);
* the metrics row is appended with delta-rs under the same transaction id (:mod:`weir.stream.metrics_log`).

Dedup state. With ``source.event_id`` the query's plan parses the records (stateless) and looks their (event id,
event day) up in a Spark state operator before ``foreachBatch`` (:mod:`weir.stream.dedup`, checkpoint rules in
:mod:`weir.stream.checkpoints`): the batch arrives parsed and marked, and :class:`BatchProcessor` dead-letters
the copies. The state is versioned with the checkpoint, so a replay of batch ``b`` sees the state of ``b - 1``.
Without ``event_id`` the plan is stateless and the processor parses.

Lateness. Spark's ``withWatermark`` drops late rows inside stateful operators, so the plan defines none (late
events must reach ``late/``). Lateness is decided here: the high-water mark ``H`` (max valid event time of all
previous batches of the query) is kept in ``_weir/stream_metrics`` (``high_water_mark``, one row per batch),
and an event of batch ``b`` is *late* when ``event_ts < H(b-1) - source.allowed_lateness``. ``H(b-1)`` is
fixed once batch ``b-1`` committed, so a replay of ``b`` classifies exactly as the first attempt. Late events
are written to ``late/<group>`` with the reason and to ``events/<group>`` with ``late = true`` (batch reruns
may still use them), but they are not merged online. Without ``allowed_lateness`` nothing is late.

Rejected records (:mod:`weir.stream.parse`: malformed, non-finite, a key too long for DynamoDB, an event time
beyond the batch time + ``source.max_future``; :mod:`weir.stream.dedup`: copies by ``source.event_id``) go to
``deadletter/<group>`` and are counted by reason code in the metrics (``drops``); they never reach the event
log, the high-water mark or the online store. The batch time is ``current_timestamp()`` in the streaming plan,
which Spark fixes per batch id in its offset log, so a replay rejects exactly what the first attempt did.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from weir.compute.online_tile import online_tile_fields
from weir.lake.paths import (
    PARTITION_COL,
    checkpoint_path,
    deadletter_path,
    events_path,
    late_path,
    stream_metrics_path,
)
from weir.online.errors import FeatureRequestError
from weir.online.keys import entity_pk
from weir.runtime import RuntimeConfig
from weir.spec.loader import as_group
from weir.spec.models import FeatureGroup
from weir.stream.dedup import SEEN_COL, mark_duplicates, mark_seen_duplicates
from weir.stream.merge import GroupLayout
from weir.stream.metrics_log import append_metrics_row, log_version
from weir.stream.parse import CODES_COL, KAFKA_META, REASON_COL, VALUE_BIN, VALUE_STR, parse_records
from weir.stream.state_files import last_metrics_file

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

    from weir.online.interface import OnlineStore
    from weir.stream.executor import PartitionOutcome, WriteFault

log = logging.getLogger("weir.stream")

LATE_COL = "late"
ITEM_TOO_LARGE = "item_too_large"  # reason code of events whose entity's online item would exceed the size limit
BATCH_COL = "batch_id"
QUERY_COL = "query_id"
_EVENT_US = "_event_us"
BATCH_TS_COL = "_weir_batch_ts"  # the micro-batch's timestamp from the offset log (the same on a replay)


@dataclass(frozen=True)
class StreamOptions:
    """How the query runs: a processing-time trigger every ``trigger_seconds``, or ``available_now``
    (drain what is in the topic, in batches of at most ``max_offsets_per_trigger`` records, then stop)."""

    trigger_seconds: float = 10.0
    available_now: bool = False
    max_offsets_per_trigger: int | None = 50_000
    starting_offsets: str = "earliest"
    write_threads_per_task: int = 8  # parallel online writes in each Spark task (weir.stream.executor)
    entities_per_chunk: int = 1000  # entities a task reads, merges and writes at a time (bounds its memory)


@dataclass
class BatchMetrics:
    group: str
    query_id: str
    batch_id: int
    started_at: datetime
    finished_at: datetime
    seconds: float
    input_rows: int
    valid_rows: int
    dead_lettered: int
    late: int
    rows_per_s: float
    entities_written: int
    entities_skipped_replay: int
    write_conflicts: int
    newest_event_ts: datetime | None  # newest event written online by this batch
    freshness_s: float | None  # finished_at - newest_event_ts
    high_water_mark: datetime | None  # max valid event time of this and all previous batches
    watermark: datetime | None  # events older than this were late in this batch
    events_version: int | None
    drops: dict[str, int] = field(default_factory=dict)  # records kept out of events/online, by reason code

    def line(self) -> str:
        fresh = "-" if self.freshness_s is None else f"{self.freshness_s:,.1f}s"
        return (f"stream {self.group} batch {self.batch_id}: {self.input_rows} rows ({self.rows_per_s:,.0f}/s), "
                f"{self.dead_lettered} dead-lettered, {self.late} late, {self.entities_written} entities written "
                f"({self.entities_skipped_replay} already applied), freshness {fresh}, {self.seconds:.1f}s")


METRICS_SCHEMA = (
    "group string, query_id string, batch_id long, started_at timestamp, finished_at timestamp, seconds double, "
    "input_rows long, valid_rows long, dead_lettered long, late long, rows_per_s double, entities_written long, "
    "entities_skipped_replay long, write_conflicts long, newest_event_ts timestamp, freshness_s double, "
    "high_water_mark timestamp, watermark timestamp, events_version long, drops map<string,bigint>")


def _us_to_dt(us: int | None) -> datetime | None:
    from weir.compute.windows import us_to_datetime

    return None if us is None else us_to_datetime(us)


# ``on_stage(batch_id, stage)``: called after each stage of a micro-batch ("after_events", "after_online")
StageHook = Callable[[int, str], None]


class BatchProcessor:
    """The ``foreachBatch`` function of one group's query (see the module doc).

    ``on_stage`` and ``write_fault`` are the seams for fault injection: the exactly-once tests pass a hook that
    kills the driver at a chosen stage of a chosen batch, or a Python worker in the middle of its online writes
    (:data:`weir.stream.executor.WriteFault`); production passes none.
    """

    def __init__(self, spark: SparkSession, group: FeatureGroup, config: RuntimeConfig,
                 store: OnlineStore | None = None, on_stage: StageHook | None = None,
                 options: StreamOptions | None = None, write_fault: WriteFault | None = None) -> None:
        from weir.online.store import DynamoOnlineStore

        self.spark = spark
        self.group = group
        self.config = config
        self.store: OnlineStore = store or DynamoOnlineStore(config)
        self.on_stage = on_stage
        self.options = options or StreamOptions()
        self.write_fault = write_fault
        self.layout = GroupLayout(group)
        self._query_id: str | None = None
        self._ready = threading.Event()
        self._hwm: tuple[int, int | None] | None = None  # (batch id, high-water mark us) of the last batch
        self._events_version: int | None = None  # the event log's version after this query's last append
        self.last: BatchMetrics | None = None
        self.last_phases: dict[str, float] = {}  # seconds per step of the last micro-batch (benchmarks)
        self.on_batch: Callable[[BatchMetrics], None] | None = None

    def set_query_id(self, query_id: str) -> None:
        self._query_id = query_id
        self._ready.set()

    @property
    def query_id(self) -> str:
        if not self._ready.wait(timeout=120):
            raise RuntimeError("the streaming query id was never set")
        assert self._query_id is not None
        return self._query_id

    @property
    def app_id(self) -> str:
        return f"weir-stream:{self.group.name}:{self.query_id}"

    # ---------------------------------------------------------------------------------------- state
    def _previous_hwm(self, batch_id: int) -> int | None:
        """High-water mark (event micros) after batch ``batch_id - 1`` of this query (or of earlier queries)."""
        from pyspark.sql import functions as F

        from weir.lake.delta import table_exists

        if self._hwm is not None and self._hwm[0] == batch_id - 1:
            return self._hwm[1]
        path = stream_metrics_path(self.config)
        if not table_exists(self.spark, path):
            return None
        rows = self.spark.read.format("delta").load(path).where(F.col("group") == F.lit(self.group.name))
        mine = (rows.where((F.col(QUERY_COL) == F.lit(self.query_id)) & (F.col(BATCH_COL) < F.lit(batch_id)))
                .orderBy(F.col(BATCH_COL).desc()).select(F.unix_micros("high_water_mark")).limit(1).collect())
        if mine:
            return None if mine[0][0] is None else int(mine[0][0])
        # first batch of a new query (checkpoint reset): continue from what earlier queries saw
        other = rows.where(F.col(QUERY_COL) != F.lit(self.query_id)).agg(
            F.max(F.unix_micros("high_water_mark"))).collect()
        return None if not other or other[0][0] is None else int(other[0][0])

    # ---------------------------------------------------------------------------------------- writes
    def _append(self, df: DataFrame, path: str, batch_id: int, partition: bool = False,
                merge_schema: bool = False, app_suffix: str = "") -> None:
        """Append once per batch id (a replayed batch's append is skipped by Delta); ``app_suffix`` names a
        second append to the same table in one batch."""
        writer = (df.write.format("delta").mode("append").option("txnAppId", self.app_id + app_suffix)
                  .option("txnVersion", str(batch_id)))
        if merge_schema:  # tables written by an earlier version lack the newer columns
            writer = writer.option("mergeSchema", "true")
        if partition:
            writer = writer.partitionBy(PARTITION_COL)
        writer.save(path)

    def _dead_letter_too_large(self, on_time: DataFrame, keys: list[tuple[Any, ...]], batch_id: int,
                               tag: list[Any]) -> int:
        """The batch's events of entities whose online item would exceed DynamoDB's size limit: their item was
        left as it was, so they go to the dead-letter table (code ``item_too_large``; they stay in the event log,
        which the batch run reads, so replay skips them). Returns how many."""
        from pyspark.sql import functions as F

        group = self.group
        key_df = self.spark.createDataFrame(keys, on_time.select(*group.key_columns).schema)
        rows = on_time.join(key_df, list(group.key_columns), "left_semi").select(
            VALUE_BIN, VALUE_STR, *KAFKA_META,
            F.lit("online item too large: over DynamoDB's 400 KB item limit; the entity's events of this batch "
                  "are in the event log but not served online").alias(REASON_COL),
            *tag, F.current_timestamp().alias("dead_lettered_at"), F.array(F.lit(ITEM_TOO_LARGE)).alias(CODES_COL))
        rows = rows.persist()
        try:
            n = rows.count()
            self._append(rows, deadletter_path(self.config, group.name), batch_id, merge_schema=True,
                         app_suffix=":item_too_large")
            log.warning("stream %s batch %s: %d entities over the item size limit, %d events dead-lettered",
                        group.name, batch_id, len(keys), n)
            return n
        finally:
            rows.unpersist()

    def _apply_online(self, tiles: DataFrame, batch_id: int, version: int, clock: _Phases) -> PartitionOutcome:
        """Apply the micro-batch's tiles (keys + online tile fields) to the online items: on the executors for
        DynamoDB (:mod:`weir.stream.executor`), on the driver for a store that cannot travel to them (an
        in-memory store in unit tests)."""
        from weir.online.store import DynamoOnlineStore
        from weir.stream.executor import ExecutorStreamWriter, PartitionOutcome, apply_on_executors

        run_us = time.time_ns() // 1000
        if isinstance(self.store, DynamoOnlineStore):
            writer = ExecutorStreamWriter(self.group, self.store.config, self.query_id, batch_id, run_us, version,
                                          self.options.write_threads_per_task, self.options.entities_per_chunk,
                                          self.write_fault)
            outcome = apply_on_executors(tiles, writer)
            clock.lap("tiles+online")
            return outcome
        from weir.stream.online import StreamOnlineWriter

        rows = tiles.collect()
        clock.lap("tiles")
        group = self.group
        by_pk: dict[str, list[dict[str, Any]]] = {}
        keys_of: dict[str, tuple[Any, ...]] = {}
        unwritable = 0
        for row in rows:
            d = row.asDict()
            keys = {k: d.pop(k) for k in group.key_columns}
            try:
                pk = entity_pk(group, keys)
            except FeatureRequestError:
                unwritable += 1
                continue
            keys_of[pk] = tuple(keys.values())
            by_pk.setdefault(pk, []).append(
                {k: (bytes(v) if isinstance(v, bytearray | memoryview) else v) for k, v in d.items() if v is not None})
        applied = StreamOnlineWriter(self.store, self.layout, self.query_id).apply(by_pk, batch_id, run_us, version)
        clock.lap("online")
        return PartitionOutcome(applied.written, applied.skipped_replay, applied.conflicts, applied.retried,
                                unwritable, tuple(keys_of[pk] for pk in applied.too_large))

    def _stage(self, batch_id: int, stage: str) -> None:
        if self.on_stage is not None:
            self.on_stage(batch_id, stage)

    def _online_version(self, path: str) -> int:
        """The event log's version already reflected online before this batch (its own events follow in the
        next commit): read once per query, then carried from each batch's append."""
        if self._events_version is None:
            self._events_version = log_version(path, self.config)
        return -1 if self._events_version is None else self._events_version

    def _checked(self, batch_df: DataFrame, e_path: str, batch_id: int) -> tuple[DataFrame, DataFrame]:
        """(parsed rows, the same with duplicates dead-lettered), both persisted: the query's plan already parsed
        and looked the keys up in the dedup state (``_weir_seen``, :mod:`weir.stream.dedup`); raw Kafka rows (a
        dead-letter replay) are parsed here and deduplicated against the event log."""
        from pyspark.sql import functions as F

        group = self.group
        if SEEN_COL in batch_df.columns:  # computed once (persisted): the state operator runs once per batch
            checked = mark_seen_duplicates(batch_df, group).persist()
            return checked, checked
        now = F.col(BATCH_TS_COL) if BATCH_TS_COL in batch_df.columns else None
        base = parse_records(batch_df, group, now).persist()
        if group.source.event_id is None:
            return base, base
        return base, mark_duplicates(self.spark, base, group, e_path, self.query_id, batch_id).persist()

    def __call__(self, batch_df: DataFrame, batch_id: int) -> None:
        """One micro-batch, freshness first: parse and deduplicate, write the on-time events' tiles online (a
        served value changes here), then the lake: dead letters, late events, the event log, metrics."""
        from pyspark.sql import functions as F

        from weir.lake.delta import table_version

        started = datetime.now(UTC)
        began = time.perf_counter()
        phases: dict[str, float] = {}  # seconds per step, printed with the batch line
        group, query_id = self.group, self.query_id
        et = group.event_time
        clock = _Phases(phases)
        with clock("hwm"):
            prev_hwm = self._previous_hwm(batch_id)
        lateness = group.source.allowed_lateness_us
        watermark = None if (prev_hwm is None or lateness is None) else prev_hwm - lateness

        e_path = events_path(self.config, group.name)
        base, checked = self._checked(batch_df, e_path, batch_id)
        is_valid = F.col(REASON_COL).isNull()
        late = F.lit(False) if watermark is None else (F.col(_EVENT_US) < F.lit(watermark))
        parsed = checked.withColumn(_EVENT_US, F.unix_micros(F.col(et))).withColumn(LATE_COL, is_valid & late)
        drops: dict[str, int] = {}
        declared = list(group.source.columns)
        try:
            clock.lap("parse")
            from weir.compute.spark_agg import build_tiles

            on_time = parsed.where(is_valid & ~F.col(LATE_COL))
            tiles = build_tiles(on_time.select(*declared), group).select(
                *group.key_columns, *online_tile_fields(group))
            outcome = self._apply_online(tiles, batch_id, self._online_version(e_path), clock)
            written, skipped, conflicts = outcome.written, outcome.skipped_replay, outcome.conflicts
            phases["served_at"] = time.perf_counter() - began  # the batch's values are readable from here
            self._stage(batch_id, "after_online")

            stats = parsed.agg(
                F.count(F.lit(1)), F.count(F.when(~is_valid, 1)), F.count(F.when(F.col(LATE_COL), 1)),
                F.max(F.when(is_valid, F.col(_EVENT_US))),
                F.max(F.when(is_valid & ~F.col(LATE_COL), F.col(_EVENT_US)))).collect()[0]
            n_in, n_bad, n_late = int(stats[0]), int(stats[1]), int(stats[2])
            batch_max, newest_on_time = stats[3], stats[4]
            hwm = max((v for v in (prev_hwm, batch_max) if v is not None), default=None)
            clock.lap("stats")
            tag = [F.lit(batch_id).cast("long").alias(BATCH_COL), F.lit(query_id).alias(QUERY_COL)]
            if outcome.key_unwritable:  # the parser dead-letters such keys: never expected
                log.warning("stream %s batch %s: %d entities not written online: key unwritable",
                            group.name, batch_id, outcome.key_unwritable)
                drops["key_unwritable"] = outcome.key_unwritable
            if outcome.too_large:
                n_big = self._dead_letter_too_large(on_time, list(outcome.too_large), batch_id, tag)
                drops[ITEM_TOO_LARGE] = n_big
                clock.lap("too_large")

            if n_bad:
                bad = parsed.where(~is_valid).select(
                    VALUE_BIN, VALUE_STR, *KAFKA_META, REASON_COL, *tag,
                    F.current_timestamp().alias("dead_lettered_at"), CODES_COL)
                self._append(bad, deadletter_path(self.config, group.name), batch_id, merge_schema=True)
                for r in parsed.where(~is_valid).select(F.explode(CODES_COL)).groupBy("col").count().collect():
                    drops[r[0]] = drops.get(r[0], 0) + int(r[1])
                clock.lap("deadletter")
            if n_late:
                late_rows = parsed.where(F.col(LATE_COL)).select(
                    *declared, *KAFKA_META, F.lit(f"older than the watermark (high-water mark minus "
                                                  f"{group.source.allowed_lateness})").alias(REASON_COL),
                    F.timestamp_micros(F.lit(watermark)).alias("watermark"), *tag)
                self._append(late_rows, late_path(self.config, group.name), batch_id)
                clock.lap("late")
            version = None
            if n_in - n_bad:
                valid = parsed.where(is_valid).select(
                    *declared, *KAFKA_META, LATE_COL, *tag, F.to_date(F.col(et)).alias(PARTITION_COL))
                self._append(valid, e_path, batch_id, partition=True)
                clock.lap("events")
                version = log_version(e_path, self.config)
                if version is None:  # a log delta-rs cannot read
                    version = table_version(self.spark, e_path)
                self._events_version = version
                clock.lap("version")
            self._stage(batch_id, "after_events")
        finally:
            checked.unpersist()
            base.unpersist()

        finished = datetime.now(UTC)
        seconds = time.perf_counter() - began
        newest_dt = _us_to_dt(None if newest_on_time is None else int(newest_on_time))
        m = BatchMetrics(
            group.name, query_id, batch_id, started, finished, seconds, n_in, n_in - n_bad, n_bad, n_late,
            n_in / seconds if seconds > 0 else 0.0, written, skipped, conflicts, newest_dt,
            None if newest_dt is None else (finished - newest_dt).total_seconds(),
            _us_to_dt(None if hwm is None else int(hwm)), _us_to_dt(watermark), version, drops)
        clock.mark()
        m_path = stream_metrics_path(self.config)
        if not append_metrics_row(m_path, self.app_id, batch_id, asdict(m), self.config):  # delta-rs cannot write
            metrics_row = [tuple(_naive(v) for v in asdict(m).values())]
            self._append(self.spark.createDataFrame(metrics_row, METRICS_SCHEMA), m_path, batch_id,
                         merge_schema=True)
        clock.lap("metrics")
        self._hwm = (batch_id, None if hwm is None else int(hwm))
        phases["total"] = time.perf_counter() - began
        self.last, self.last_phases = m, phases
        timing = ", ".join(f"{k} {v:.1f}s" for k, v in phases.items())  # served_at: seconds from the start
        log.info("%s (%s)", m.line(), timing)
        print(f"{m.line()} ({timing})", flush=True)
        _write_last(self.config, m)
        if self.on_batch is not None:
            self.on_batch(m)


class _Phases:
    """Seconds per step of a micro-batch, added into ``into`` (printed with the batch line)."""

    def __init__(self, into: dict[str, float]) -> None:
        self.into = into
        self.t = time.perf_counter()

    def mark(self) -> None:
        self.t = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.into[name] = self.into.get(name, 0.0) + now - self.t
        self.t = now

    def __call__(self, name: str) -> _Phases:
        self.mark()
        self._name = name
        return self

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        self.lap(self._name)


def _naive(v: Any) -> Any:
    """Spark's createDataFrame takes naive datetimes in the session zone (UTC)."""
    if isinstance(v, datetime) and v.tzinfo is not None:
        return v.astimezone(UTC).replace(tzinfo=None)
    return v


def _write_last(config: RuntimeConfig, m: BatchMetrics) -> None:
    """The last metrics row as JSON next to the pid file (cheap status for the supervisor / Airflow)."""
    path = last_metrics_file(config, m.group)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in asdict(m).items()}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)
    except OSError as exc:  # pragma: no cover - status only
        log.warning("could not write %s: %s", path, exc)


# -------------------------------------------------------------------------------------------- query
def kafka_reader(spark: SparkSession, group: FeatureGroup, config: RuntimeConfig, options: StreamOptions,
                 ) -> DataFrame:
    if group.source.kafka is None:
        raise ValueError(f"group '{group.name}' has no source.kafka topic: streaming needs one "
                         f"(add `kafka: {{topic: ...}}` under source in {group.path or 'its spec'})")
    return kafka_topic_reader(spark, group.source.kafka.topic, config, options)


def kafka_topic_reader(spark: SparkSession, topic: str, config: RuntimeConfig, options: StreamOptions,
                       ) -> DataFrame:
    """The streaming Kafka source of every Weir stream (a group's, the exposures'): from the earliest offset on
    the first start, failing loudly on a retention gap."""
    reader = (spark.readStream.format("kafka")
              .option("kafka.bootstrap.servers", config.kafka_bootstrap_servers)
              .option("kafka.security.protocol", config.kafka_security_protocol)
              .option("subscribe", topic)
              .option("startingOffsets", options.starting_offsets)
              .option("failOnDataLoss", "true"))
    if options.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(options.max_offsets_per_trigger))
    return reader.load()


def start_stream(spark: SparkSession, group: FeatureGroup | str, config: RuntimeConfig,
                 options: StreamOptions | None = None, store: OnlineStore | None = None,
                 on_stage: StageHook | None = None, write_fault: WriteFault | None = None,
                 ) -> tuple[StreamingQuery, BatchProcessor]:
    """Start the group's query (resuming from its checkpoint) and return it with its batch processor.

    >>> query, processor = start_stream(get_spark(), group, config, StreamOptions(trigger_seconds=30))
    >>> query.stop()
    """
    options = options or StreamOptions()
    group = as_group(group, config.specs_dir)
    processor = BatchProcessor(spark, group, config, store, on_stage, options, write_fault)
    processor.store.ensure_table(group.name)
    from pyspark.sql import functions as F

    checkpoint = checkpoint_path(config, group.name)
    if group.source.event_id is not None:
        source, options = dedup_source(spark, group, config, options, checkpoint)
    else:
        # current_timestamp() in the streaming plan is the batch timestamp of Spark's offset log: fixed per batch
        source = kafka_reader(spark, group, config, options).withColumn(BATCH_TS_COL, F.current_timestamp())
    query = start_foreach_batch(source, f"weir_stream_{group.name}", checkpoint, processor, options)
    return query, processor


def dedup_source(spark: SparkSession, group: FeatureGroup, config: RuntimeConfig, options: StreamOptions,
                 checkpoint: str) -> tuple[DataFrame, StreamOptions]:
    """The streaming plan of a group with ``source.event_id``: Kafka, parsed (the batch time of Spark's offset
    log as processing time), then the dedup state (:mod:`weir.stream.dedup`); with the options to start it (the
    committed offsets of a stateless checkpoint it replaces, :mod:`weir.stream.checkpoints`)."""
    from dataclasses import replace

    from pyspark.sql import functions as F

    from weir.stream.checkpoints import prepare_checkpoint, use_stateful_conf
    from weir.stream.dedup import seed_keys, with_seen_state

    start = prepare_checkpoint(spark, checkpoint)
    if start.starting_offsets is not None:
        options = replace(options, starting_offsets=start.starting_offsets)
    use_stateful_conf(spark)
    raw = kafka_reader(spark, group, config, options)
    parsed = parse_records(raw, group, F.current_timestamp())
    seed = seed_keys(spark, group, events_path(config, group.name), datetime.now(UTC), start.query_id)
    return with_seen_state(parsed, group, seed), options


def start_foreach_batch(source: DataFrame, name: str, checkpoint: str, processor: Any,
                        options: StreamOptions) -> StreamingQuery:
    """Start ``source`` into ``processor`` (a ``foreachBatch`` function with ``set_query_id``) under
    ``checkpoint``, on the options' trigger: how every Weir stream starts."""
    writer = source.writeStream.queryName(name).option("checkpointLocation", checkpoint).foreachBatch(processor)
    if options.available_now:
        writer = writer.trigger(availableNow=True)
    else:
        writer = writer.trigger(processingTime=f"{options.trigger_seconds} seconds")
    query = writer.start()
    processor.set_query_id(str(query.id))
    return query


def is_kafka_metrics_npe(exc: BaseException) -> bool:
    """Spark 4.1.x bug SPARK-55271: after a restart whose first batch is a replay from the offset log, the Kafka
    source's progress metrics throw a NullPointerException *after* that batch has committed. Restarting the
    query is safe (the next start calls ``latestOffset`` first) and is what :func:`run_stream` does."""
    text = str(exc)
    return "IterableOps.map" in text and 'Option.get()" is null' in text


def run_stream(spark: SparkSession, group: FeatureGroup | str, config: RuntimeConfig,
               options: StreamOptions | None = None, store: OnlineStore | None = None,
               max_bug_restarts: int = 3, on_stage: StageHook | None = None,
               on_batch: Callable[[BatchMetrics], None] | None = None, write_fault: WriteFault | None = None,
               ) -> BatchProcessor:
    """Run the group's query until it stops (``available_now``: when drained) or fails (re-raised).

    ``on_batch`` is called with each micro-batch's metrics (the CLI exports them to Prometheus).
    The one failure handled here is Spark's SPARK-55271 (see :func:`is_kafka_metrics_npe`): the query is started
    again from its checkpoint, at most ``max_bug_restarts`` times.

    >>> group = find_spec("user_spend", config.specs_dir)
    >>> run_stream(get_spark(), group, config, StreamOptions(available_now=True)).last  # drain, then stop
    """
    g = as_group(group, config.specs_dir)

    def start() -> tuple[StreamingQuery, BatchProcessor]:
        query, processor = start_stream(spark, g, config, options, store, on_stage, write_fault)
        processor.on_batch = on_batch
        return query, processor

    return run_until_stopped(start, f"stream {g.name}", max_bug_restarts)


P = TypeVar("P")


def run_until_stopped(start: Callable[[], tuple[StreamingQuery, P]], what: str, max_bug_restarts: int) -> P:
    """Start a query and wait until it stops (drained, or Ctrl-C) or fails (re-raised), starting it again from
    its checkpoint after SPARK-55271 (:func:`is_kafka_metrics_npe`), at most ``max_bug_restarts`` times: the one
    restart rule of every Weir stream. Returns the last start's processor."""
    restarts = 0
    while True:
        query, processor = start()
        try:
            query.awaitTermination()
            return processor
        except KeyboardInterrupt:
            query.stop()
            return processor
        except Exception as exc:
            if not is_kafka_metrics_npe(exc) or restarts >= max_bug_restarts:
                raise
            restarts += 1
            log.warning("%s: Spark's Kafka metrics NPE after a replayed batch (SPARK-55271); the batch is "
                        "committed, restarting the query from its checkpoint", what)
            print(f"{what}: restarting after SPARK-55271 (Kafka metrics NPE)", flush=True)

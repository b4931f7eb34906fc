"""The exposure stream: the ``weir_exposures`` Kafka topic -> the lake's ``exposures`` table, exactly once, each
``exposure_id`` once (``weir experiments stream-exposures``).

The flag/experiment evaluators log :class:`weir.experiments.exposures.Exposure` records as JSON through a
non-blocking ``ExposureLogger`` and a ``KafkaSink``. This Structured Streaming query reads them like a feature
group's stream (:mod:`weir.stream.job`: ``startingOffsets=earliest``, ``failOnDataLoss=true``, offsets in the
checkpoint ``<checkpoints>/_exposures``) and hands each micro-batch to :class:`ExposureBatch` (``foreachBatch``):

1. **check**: a record is dead-lettered (``deadletter/_exposures``, with the reason and its code, the raw bytes and
   the Kafka offset; the stream goes on) when it is not UTF-8 JSON object, a required field (``exposure_id``,
   ``name``, ``kind``, ``entity``, ``key``, ``variant``, ``ts``) is missing, null, empty or of the wrong JSON
   type, ``kind`` is not ``flag``/``experiment``, or ``ts`` (epoch seconds) is out of range or more than
   :data:`MAX_FUTURE_S` after the micro-batch's time;
2. **deduplicate** by ``exposure_id``: a copy earlier in the micro-batch (by Kafka partition and offset) or an
   id already in the table's ``ds`` partition (the UTC day of ``ts``: a copy of one record has the same ``ts``)
   is dropped and counted (``duplicate_exposure_id`` in the metrics), not dead-lettered: a re-delivered record
   is expected, not wrong;
3. **write**: the dead letters, then the new exposures, each a Delta append with ``txnAppId =
   weir-exposures:<query id>`` and ``txnVersion = batch id``.

Exactly once. ``foreachBatch`` replays the last batch after a crash, with the same offsets and the same batch
time (Spark's offset log). Both appends are skipped by Delta for a batch id already committed; and the
classification of a replay is the first attempt's: the only state it reads, the exposures table, changes last,
in the append that is skipped on replay. A replayed batch whose exposures were committed is recognised from the
table's transaction log (delta-rs) and only counted. Columns: ``weir.experiments.tables.EXPOSURE_SCHEMA_DDL``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from weir.compute.event_rules import Check, combine
from weir.experiments.exposures import EXPOSURES_TOPIC
from weir.experiments.tables import EXPOSURE_PARTITION, EXPOSURE_SCHEMA_DDL, EXPOSURE_STREAM
from weir.lake.paths import checkpoint_path, deadletter_path, exposures_path, stream_metrics_path
from weir.runtime import RuntimeConfig
from weir.stream.job import (
    BATCH_COL,
    BATCH_TS_COL,
    QUERY_COL,
    BatchMetrics,
    StreamOptions,
    _Phases,
    run_until_stopped,
)
from weir.stream.parse import CODES_COL, KAFKA_META, REASON_COL, VALUE_BIN, VALUE_STR

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery
    from pyspark.sql.types import StructType

log = logging.getLogger("weir.stream.exposures")

REQUIRED_TEXT = ("exposure_id", "name", "kind", "entity", "key", "variant")
OPTIONAL_TEXT = ("salt", "reason")
KINDS = ("flag", "experiment")
MAX_FUTURE_S = 86_400  # an exposure stamped more than a day after its micro-batch comes from a broken clock
MAX_TS_S = 253_402_300_799  # 9999-12-31T23:59:59Z
DUPLICATE_EXPOSURE_ID = "duplicate_exposure_id"
_V = "_weir_v"
_NOW = "_weir_now"
_TS_S = "_weir_ts_s"
_TS_TEXT = "_weir_ts_text"
_UTF8 = "_weir_utf8"
_OBJ = "_weir_is_object"
_RANK = "_weir_rank"
# why a record is rejected (``reason`` in the dead-letter table; ``reason`` is also an exposure's field)
REJECT_COL = "_weir_reject"
REJECT_CODES_COL = "_weir_reject_codes"

# ``on_stage(batch_id, stage)``: after "after_deadletter" and "after_exposures" (the exactly-once tests' seam)
StageHook = Callable[[int, str], None]


def _type_col(field: str) -> str:
    return f"_weir_t_{field}"


def _checks() -> list[Check]:
    """The rules of the module doc, step 1, over the staged columns of :func:`parse_exposures` (each JSON type
    and string value computed once; NULL counts as passing; ``combine`` joins the failed ones)."""
    from pyspark.sql import functions as F

    utf8_ok, v, is_object = F.col(_UTF8), F.col(_V), F.col(_OBJ)
    checks = [Check("not_utf8", ~utf8_ok, F.lit("not valid UTF-8")),
              Check("not_json", utf8_ok & v.isNull(), F.lit("not JSON")),
              Check("not_object", v.isNotNull() & ~is_object, F.lit("not a JSON object"))]
    for name in (*REQUIRED_TEXT, *OPTIONAL_TEXT):
        jt = F.col(_type_col(name))
        absent = jt.isNull() | (jt == F.lit("VOID"))
        if name in REQUIRED_TEXT:
            checks.append(Check("missing_field", is_object & absent, F.lit(f"missing field {name}")))
            checks.append(Check("empty_field", is_object & (F.col(name) == F.lit("")), F.lit(f"empty field {name}")))
        checks.append(Check("wrong_type", is_object & ~absent & (jt != F.lit("STRING")),
                            F.concat(F.lit(f"wrong type for {name}: expected string, got "), jt)))
    kind = F.col("kind")
    checks.append(Check("bad_kind", is_object & kind.isNotNull() & (kind != F.lit("")) & ~kind.isin(*KINDS),
                        F.concat(F.lit("kind must be flag or experiment, got "), kind)))
    ts_type = F.col(_type_col("ts"))
    ts_absent = ts_type.isNull() | (ts_type == F.lit("VOID"))
    is_number = ts_type.isin("BIGINT", "INT", "SMALLINT", "TINYINT", "DOUBLE", "FLOAT") | ts_type.startswith(
        "DECIMAL")
    ts = F.col(_TS_S)
    shown = F.coalesce(F.col(_TS_TEXT), F.lit("?"))
    checks += [
        Check("missing_ts", is_object & ts_absent, F.lit("missing ts (epoch seconds of the evaluation)")),
        Check("bad_ts", is_object & ~ts_absent & ~is_number,
              F.concat(F.lit("ts must be epoch seconds (a number), got "), ts_type, F.lit(" "), shown)),
        Check("bad_ts", is_object & is_number & ((ts < F.lit(0)) | (ts > F.lit(MAX_TS_S)) | ts.isNull()),
              F.concat(F.lit("ts out of range (0 to 9999-12-31 in epoch seconds): "), shown)),
        Check("future_ts", is_object & is_number & (ts <= F.lit(MAX_TS_S))
              & (ts > F.unix_micros(F.col(_NOW)) / F.lit(1e6) + F.lit(MAX_FUTURE_S)),
              F.concat(F.lit(f"ts more than {MAX_FUTURE_S // 3600} h after the stream's batch time: "), shown)),
    ]
    return checks


def parse_exposures(kafka_df: DataFrame, now: Column | None = None) -> DataFrame:
    """Kafka rows -> the exposure columns (typed; ``ts`` a timestamp, ``ds`` its UTC day), the Kafka metadata, the
    raw value, and why it is rejected: :data:`REJECT_COL` and :data:`REJECT_CODES_COL` (NULL / empty for a valid
    record). ``now``: the batch time."""
    from pyspark.sql import functions as F

    now = F.current_timestamp() if now is None else now
    text = F.col("value").cast("string")
    meta = [F.col(c) for c in (*KAFKA_META, VALUE_BIN, VALUE_STR, _NOW)]
    raw = kafka_df.select(
        F.col("value").alias(VALUE_BIN), F.make_valid_utf8(text).alias(VALUE_STR),
        F.coalesce(F.is_valid_utf8(text), F.lit(True)).alias(_UTF8),
        F.col("topic"), F.col("partition"), F.col("offset"), F.col("timestamp").alias("kafka_ts"), now.alias(_NOW))
    # only valid UTF-8 is JSON; parsed once, then each field's JSON type and value once (small expressions)
    with_v = raw.select(F.col(_UTF8), *meta,
                        F.when(F.col(_UTF8), F.try_parse_json(F.col(VALUE_BIN).cast("string"))).alias(_V))
    v = F.col(_V)
    names = (*REQUIRED_TEXT, *OPTIONAL_TEXT)
    staged = with_v.select(
        F.col(_UTF8), v, *meta, F.coalesce(F.schema_of_variant(v).startswith("OBJECT"), F.lit(False)).alias(_OBJ),
        *(F.schema_of_variant(F.variant_get(v, f"$.{n}", "variant")).alias(_type_col(n)) for n in (*names, "ts")),
        *(F.try_variant_get(v, f"$.{n}", "string").alias(n) for n in names),
        F.try_variant_get(v, "$.ts", "double").alias(_TS_S), F.try_variant_get(v, "$.ts", "string").alias(_TS_TEXT))
    reason, codes = combine(_checks())
    checked = staged.select(*(F.col(n) for n in names), F.col(_TS_S), *meta, reason.alias(REJECT_COL),
                            codes.alias(REJECT_CODES_COL))
    ts = F.timestamp_micros(F.round(F.col(_TS_S) * F.lit(1_000_000)).cast("long"))
    valid = F.col(REJECT_COL).isNull()
    return checked.select(
        *(F.col(n) for n in names), F.when(valid, ts).alias("ts"),
        F.when(valid, F.to_date(ts)).alias(EXPOSURE_PARTITION), F.col(_NOW).alias("ingested_at"), *KAFKA_META,
        VALUE_BIN, VALUE_STR, REJECT_COL, REJECT_CODES_COL)


def table_schema() -> StructType:
    """The exposures table's schema, from ``EXPOSURE_SCHEMA_DDL``."""
    from pyspark.sql.types import StructType, _parse_datatype_string

    schema = _parse_datatype_string(EXPOSURE_SCHEMA_DDL)
    assert isinstance(schema, StructType)
    return schema


def table_columns() -> list[tuple[str, str]]:
    """(name, Spark SQL type) of the exposures table, in order."""
    return [(f.name, f.dataType.simpleString()) for f in table_schema().fields]


def ensure_exposures_table(spark: SparkSession, config: RuntimeConfig) -> str:
    """Create the ``exposures`` table (``EXPOSURE_SCHEMA_DDL``, NOT NULL constraints, partitioned by ``ds``)
    unless it exists; its path."""
    from delta.tables import DeltaTable

    path = exposures_path(config)
    (DeltaTable.createIfNotExists(spark).location(path).addColumns(table_schema())
     .partitionedBy(EXPOSURE_PARTITION).execute())
    return path


class ExposureBatch:
    """The ``foreachBatch`` function of the exposure stream (module doc); ``on_stage`` is the crash tests' seam."""

    def __init__(self, spark: SparkSession, config: RuntimeConfig, on_stage: StageHook | None = None) -> None:
        self.spark = spark
        self.config = config
        self.on_stage = on_stage
        self.path = exposures_path(config)
        self._query_id = ""
        self._ready = threading.Event()
        self.last: BatchMetrics | None = None
        self.phases: dict[str, float] = {}  # seconds per step of the last micro-batch (printed with its line)
        self._clock = _Phases(self.phases)

    def set_query_id(self, query_id: str) -> None:
        self._query_id = query_id
        self._ready.set()

    @property
    def query_id(self) -> str:
        """The query's id (kept in the checkpoint, so the same after a restart); the first batch may start
        before ``start()`` returned it."""
        if not self._ready.wait(timeout=120):
            raise RuntimeError("the streaming query id was never set")
        return self._query_id

    @property
    def app_id(self) -> str:
        return f"weir-exposures:{self.query_id}"

    def _append(self, df: DataFrame, path: str, batch_id: int, partition: bool = False) -> None:
        writer = (df.write.format("delta").mode("append").option("txnAppId", self.app_id)
                  .option("txnVersion", str(batch_id)))
        # the exposures table has its declared columns; the dead-letter table may gain columns over versions
        writer = writer.partitionBy(EXPOSURE_PARTITION) if partition else writer.option("mergeSchema", "true")
        writer.save(path)

    def _committed(self, batch_id: int) -> bool:
        """True when this batch id's exposures append is already in the table (a replay after a crash)."""
        from weir.lake.delta_log import app_version

        done = app_version(self.path, self.app_id, self.config)  # None: the appends are idempotent anyway; only
        return done is not None and done >= batch_id  # the metrics would count the replay

    def _stage(self, batch_id: int, stage: str) -> None:
        if self.on_stage is not None:
            self.on_stage(batch_id, stage)

    def __call__(self, batch_df: DataFrame, batch_id: int) -> None:
        started, began = datetime.now(UTC), time.perf_counter()
        self.phases = {}
        self._clock = _Phases(self.phases)
        if self._committed(batch_id):
            n = batch_df.count()
            self._finish(batch_id, started, began, n, 0, 0, 0, {}, replayed=n)
            return
        counts = self._process(batch_df, batch_id)
        self._finish(batch_id, started, began, *counts, replayed=0)

    def _process(self, batch_df: DataFrame, batch_id: int) -> tuple[int, int, int, int, dict[str, int]]:
        """(records, valid, dead-lettered, written, drops by code) of one micro-batch."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        now = F.col(BATCH_TS_COL) if BATCH_TS_COL in batch_df.columns else None
        parsed = parse_exposures(batch_df, now).persist()
        try:
            valid = F.col(REJECT_COL).isNull()
            stats = parsed.agg(F.count(F.lit(1)), F.count(F.when(~valid, 1)),
                               F.collect_set(F.when(valid, F.col(EXPOSURE_PARTITION))),
                               F.flatten(F.collect_list(F.when(~valid, F.col(REJECT_CODES_COL))))).collect()[0]
            n_in, n_bad, days = int(stats[0]), int(stats[1]), list(stats[2])
            drops = dict(Counter(stats[3]))
            self._clock.lap("parse+stats")
            if n_bad:
                bad = parsed.where(~valid).select(
                    VALUE_BIN, VALUE_STR, *KAFKA_META, F.col(REJECT_COL).alias(REASON_COL),
                    F.lit(batch_id).cast("long").alias(BATCH_COL), F.lit(self.query_id).alias(QUERY_COL),
                    F.col("ingested_at").alias("dead_lettered_at"), F.col(REJECT_CODES_COL).alias(CODES_COL))
                self._append(bad, deadletter_path(self.config, EXPOSURE_STREAM), batch_id)
                self._clock.lap("deadletter")
            self._stage(batch_id, "after_deadletter")
            written = 0
            if n_in > n_bad:
                first = Window.partitionBy("exposure_id").orderBy("partition", "offset")
                rows = parsed.where(valid).withColumn(_RANK, F.row_number().over(first)).where(F.col(_RANK) == 1)
                seen = (self.spark.read.format("delta").load(self.path).where(F.col(EXPOSURE_PARTITION).isin(days))
                        .select("exposure_id"))  # a copy of a record has its ts, hence its ds
                cols = [F.col(name).cast(kind).alias(name) for name, kind in table_columns()]
                out = rows.join(seen, "exposure_id", "left_anti").select(*cols).persist()
                try:
                    written = out.count()
                    self._clock.lap("dedup")
                    if written:
                        self._append(out, self.path, batch_id, partition=True)
                        self._clock.lap("exposures")
                finally:
                    out.unpersist()
                if n_in - n_bad - written:
                    drops[DUPLICATE_EXPOSURE_ID] = n_in - n_bad - written
            self._stage(batch_id, "after_exposures")
            return n_in, n_in - n_bad, n_bad, written, drops
        finally:
            parsed.unpersist()

    def _finish(self, batch_id: int, started: datetime, began: float, n_in: int, n_valid: int, n_bad: int,
                written: int, drops: dict[str, int], replayed: int) -> None:
        """The batch's metrics row in ``_weir/stream_metrics`` (group ``_exposures``; idempotent per batch id),
        the last-metrics file the supervisor reads, and one printed line."""
        from weir.stream.job import _write_last
        from weir.stream.metrics_log import append_metrics_row

        finished = datetime.now(UTC)
        seconds = time.perf_counter() - began
        m = BatchMetrics(EXPOSURE_STREAM, self.query_id, batch_id, started, finished, seconds, n_in, n_valid, n_bad,
                         0, n_in / seconds if seconds > 0 else 0.0, written, replayed, 0, None, None, None, None,
                         None, drops)
        m_path = stream_metrics_path(self.config)
        if not append_metrics_row(m_path, self.app_id, batch_id, asdict(m), self.config):
            log.warning("exposures batch %s: metrics row not written (delta-rs cannot write the table)", batch_id)
        _write_last(self.config, m)
        self.last = m
        line = (f"exposures batch {batch_id}: {n_in} records, {written} written, {n_bad} dead-lettered, "
                f"{drops.get(DUPLICATE_EXPOSURE_ID, 0)} duplicates" + (f", replay of a committed batch ({replayed} "
                                                                      "records skipped)" if replayed else "")
                + f", {seconds:.1f}s (" + ", ".join(f"{k} {v:.1f}s" for k, v in self.phases.items()) + ")")
        log.info(line)
        print(line, flush=True)


def start_exposure_stream(spark: SparkSession, config: RuntimeConfig, options: StreamOptions | None = None,
                          on_stage: StageHook | None = None, topic: str = EXPOSURES_TOPIC,
                          ) -> tuple[StreamingQuery, ExposureBatch]:
    """Start the exposure query (resuming from its checkpoint); returns it with its batch function."""
    from pyspark.sql import functions as F

    from weir.stream.job import kafka_topic_reader, start_foreach_batch

    options = options or StreamOptions()
    ensure_exposures_table(spark, config)
    processor = ExposureBatch(spark, config, on_stage)
    source = kafka_topic_reader(spark, topic, config, options).withColumn(BATCH_TS_COL, F.current_timestamp())
    query = start_foreach_batch(source, "weir_stream_exposures", checkpoint_path(config, EXPOSURE_STREAM),
                                processor, options)
    return query, processor


def run_exposure_stream(spark: SparkSession, config: RuntimeConfig, options: StreamOptions | None = None,
                        on_stage: StageHook | None = None, topic: str = EXPOSURES_TOPIC,
                        max_bug_restarts: int = 3) -> ExposureBatch:
    """Run the exposure query until it stops (``available_now``: when drained) or fails (re-raised); restarts
    after Spark's SPARK-55271 as :func:`weir.stream.job.run_stream` does."""
    return run_until_stopped(lambda: start_exposure_stream(spark, config, options, on_stage, topic),
                             "exposure stream", max_bug_restarts)

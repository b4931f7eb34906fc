"""The exposure stream on the real stack: ``ExposureLogger`` + ``KafkaSink`` -> Kafka -> Structured Streaming ->
the Delta ``exposures`` table, each ``exposure_id`` exactly once; malformed records dead-lettered with a reason.

The oracle is the plain Python list of what was logged (``Exposure`` objects) and of the bad payloads sent.
1. in process (the session's SparkSession): duplicates in one micro-batch and across runs land once, every bad
   record is in ``deadletter/_exposures`` with its reason, the stream goes on;
2. as a real process: the job kills itself (``os._exit``, like ``kill -9``) in batch 1 right after its Delta
   append, before Spark commits the batch; a restart from the same checkpoint (in this process) replays batch 1
   (recognised as committed, nothing written again) and drains the rest. Every exposure exactly once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from weir.experiments.exposures import Exposure, ExposureLogger, KafkaSink
from weir.runtime import RuntimeConfig, build_config

pytestmark = pytest.mark.integration

DAY = datetime(2026, 11, 30, 22, 0, tzinfo=UTC).timestamp()  # exposures straddle a UTC midnight (two ds)
CRASHING_JOB = Path(__file__).with_name("crashing_exposure_job.py")


def _exposures(n: int, seed: int) -> list[Exposure]:
    """``n`` distinct exposures over ~4 hours (two UTC days), ts with microseconds."""
    return [Exposure(name=f"exp_{i % 3}", kind="experiment" if i % 2 else "flag", entity="user",
                     key=f"u{seed}_{i:04d}", variant="on" if i % 4 else "off", salt=f"salt-{i % 3}",
                     reason="SPLIT", ts=round(DAY + i * 271.123457, 6)) for i in range(n)]


def _config(lake_dir: Path, tmp_path: Path, run: str) -> RuntimeConfig:
    return build_config(lake_path=str(lake_dir / f"xp-{run}"), checkpoint_path=str(lake_dir / f"xp-ck-{run}"),
                        state_dir=tmp_path / "state")


def _log_through_kafka(config: RuntimeConfig, topic: str, records: list[Exposure]) -> None:
    """What an evaluating service does: the non-blocking logger, drained to Kafka."""
    from weir.stream.producer import make_producer

    producer = make_producer(config)
    logger = ExposureLogger(KafkaSink(producer, topic=topic), batch_size=25)
    try:
        for e in records:
            logger.log(e)
        assert logger.flush(60)
        assert (logger.dropped, logger.failed) == (0, 0)
    finally:
        logger.close()
        producer.close(timeout=10)


def _send_raw(config: RuntimeConfig, topic: str, payloads: list[bytes]) -> None:
    from weir.stream.producer import make_producer

    producer = make_producer(config)
    try:
        for p in payloads:
            producer.send(topic, value=p)
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)


def _us(ts: float) -> int:
    """Epoch microseconds of the JSON number (exact decimal arithmetic, independent of the stream's doubles)."""
    return int((Decimal(repr(ts)) * 1_000_000).to_integral_value())


def _oracle(records: list[Exposure]) -> dict[str, tuple[Any, ...]]:
    out: dict[str, tuple[Any, ...]] = {}
    for e in records:
        ds = datetime.fromtimestamp(_us(e.ts) // 1_000_000, UTC).date()
        out[e.exposure_id] = (e.name, e.kind, e.entity, e.key, e.variant, e.salt, e.reason, _us(e.ts), ds)
    return out


def _table(spark: Any, config: RuntimeConfig) -> list[Any]:
    from pyspark.sql import functions as F

    from weir.lake.paths import exposures_path

    return (spark.read.format("delta").load(exposures_path(config))
            .select("exposure_id", "name", "kind", "entity", "key", "variant", "salt", "reason",
                    F.unix_micros("ts").alias("ts_us"), "ds", "ingested_at").collect())


def _assert_table_matches(rows: list[Any], want: dict[str, tuple[Any, ...]]) -> None:
    ids = [r["exposure_id"] for r in rows]
    assert len(ids) == len(set(ids)), "an exposure_id landed twice"
    got = {r["exposure_id"]: (r["name"], r["kind"], r["entity"], r["key"], r["variant"], r["salt"], r["reason"],
                              r["ts_us"], r["ds"]) for r in rows}
    assert got == want
    assert all(r["ingested_at"] is not None for r in rows)


BAD = {  # payload -> the reason code it must be dead-lettered with
    b"not json at all": "not_json",
    b"[1, 2]": "not_object",
    b"\xff\xfe{}": "not_utf8",
    json.dumps({"exposure_id": "b1", "name": "x", "kind": "flag", "entity": "user", "variant": "on",
                "ts": DAY}).encode(): "missing_field",  # no key
    json.dumps({"exposure_id": "b2", "name": "x", "kind": "flag", "entity": "user", "key": "u", "variant": "on",
                "ts": "yesterday"}).encode(): "bad_ts",
    json.dumps({"exposure_id": "b3", "name": "x", "kind": "flag", "entity": "user", "key": "u", "variant": "on",
                "ts": -5}).encode(): "bad_ts",
    json.dumps({"exposure_id": "b4", "name": "x", "kind": "flag", "entity": "user", "key": "u", "variant": "on",
                "ts": 4_000_000_000}).encode(): "future_ts",
    json.dumps({"exposure_id": "b5", "name": "x", "kind": "flag", "entity": "user", "key": "u",
                "variant": "on"}).encode(): "missing_ts",
    json.dumps({"exposure_id": "b6", "name": "x", "kind": "bogus", "entity": "user", "key": "u", "variant": "on",
                "ts": DAY}).encode(): "bad_kind",
    json.dumps({"exposure_id": 7, "name": "x", "kind": "flag", "entity": "user", "key": "u", "variant": "on",
                "ts": DAY}).encode(): "wrong_type",
    json.dumps({"exposure_id": "", "name": "x", "kind": "flag", "entity": "user", "key": "u", "variant": "on",
                "ts": DAY}).encode(): "empty_field",
}


def test_exposures_land_once_and_bad_records_are_dead_lettered(stack: RuntimeConfig, spark: Any, lake_dir: Path,
                                                               tmp_path: Path) -> None:
    from pyspark.sql import functions as F

    from weir.lake.paths import deadletter_path, stream_metrics_path
    from weir.stream.exposures import EXPOSURE_STREAM, run_exposure_stream
    from weir.stream.job import StreamOptions

    run = uuid.uuid4().hex[:8]
    topic = f"weir-test-xp-{run}"
    config = _config(lake_dir, tmp_path, run)
    first = _exposures(40, seed=1)
    # the producer delivers some records twice (a retried send): same exposure_id, same content
    _log_through_kafka(config, topic, first + first[:7])
    _send_raw(config, topic, list(BAD))
    options = StreamOptions(available_now=True, max_offsets_per_trigger=None)
    processor = run_exposure_stream(spark, config, options, topic=topic)
    assert processor.last is not None
    _assert_table_matches(_table(spark, config), _oracle(first))

    dead = spark.read.format("delta").load(deadletter_path(config, EXPOSURE_STREAM)).collect()
    assert sorted(bytes(r["value"]) for r in dead) == sorted(BAD)
    for r in dead:
        code = BAD[bytes(r["value"])]
        assert code in r["reason_codes"], (r["reason"], r["reason_codes"])
        assert r["reason"] and r["offset"] is not None
    reasons = {BAD[bytes(r["value"])]: r["reason"] for r in dead}
    assert reasons["missing_field"] == "missing field key"
    assert "ts must be epoch seconds" in reasons["bad_ts"] or "ts out of range" in reasons["bad_ts"]

    # a later run: copies of landed exposures (a replaying producer) and new ones; the copies are dropped
    second = _exposures(10, seed=2)
    _log_through_kafka(config, topic, first[10:20] + second + second[:3])
    run_exposure_stream(spark, config, options, topic=topic)
    _assert_table_matches(_table(spark, config), _oracle(first + second))

    metrics = (spark.read.format("delta").load(stream_metrics_path(config))
               .where(F.col("group") == EXPOSURE_STREAM).collect())
    assert sum(r["entities_written"] for r in metrics) == 50
    assert sum(r["dead_lettered"] for r in metrics) == len(BAD)
    assert sum(r["drops"].get("duplicate_exposure_id", 0) for r in metrics) == 7 + 10 + 3


def _run(config: RuntimeConfig, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], env={**os.environ, **config.env()}, capture_output=True,
                          text=True, timeout=timeout, cwd=config.project_root)


def test_exposures_exactly_once_after_the_driver_is_killed(stack: RuntimeConfig, spark: Any, lake_dir: Path,
                                                           tmp_path: Path) -> None:
    from pyspark.sql import functions as F

    from weir.lake.paths import stream_metrics_path
    from weir.stream.exposures import EXPOSURE_STREAM, run_exposure_stream
    from weir.stream.job import StreamOptions

    run = uuid.uuid4().hex[:8]
    topic = f"weir-test-xpk-{run}"
    config = _config(lake_dir, tmp_path, run)
    records = _exposures(60, seed=3)
    _log_through_kafka(config, topic, records + records[25:35])  # 10 re-delivered, in a later micro-batch

    crashed = _run(config, [str(CRASHING_JOB), topic, "1", "after_exposures", "--max-offsets-per-trigger", "20"],
                   timeout=300)
    assert crashed.returncode == 137, crashed.stdout[-3000:] + crashed.stderr[-3000:]
    assert "crashing in batch 1 after_exposures" in crashed.stdout
    landed = len(_table(spark, config))  # batches 0 and 1 are in Delta; Spark committed only batch 0
    assert 30 <= landed <= 40  # 40 records read; copies among them (the topic's partitions interleave) are dropped

    # the restart: the same checkpoint (same query), here in this process's SparkSession (one JVM start less)
    processor = run_exposure_stream(spark, config, StreamOptions(available_now=True, max_offsets_per_trigger=None),
                                    topic=topic)
    assert processor.last is not None

    _assert_table_matches(_table(spark, config), _oracle(records))
    metrics = (spark.read.format("delta").load(stream_metrics_path(config))
               .where(F.col("group") == EXPOSURE_STREAM).collect())
    replayed = [r for r in metrics if r["batch_id"] == 1]
    assert len(replayed) == 1 and replayed[0]["entities_written"] == 0  # the replay wrote nothing again
    assert replayed[0]["entities_skipped_replay"] == 20
    assert len({r["query_id"] for r in metrics}) == 1  # the restart resumed the same query (checkpoint)
    assert sum(r["entities_written"] for r in metrics) == len(records)
    assert date(2026, 12, 1) in {r["ds"] for r in _table(spark, config)}

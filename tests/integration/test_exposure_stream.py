"""The exposure stream on the real stack: ``ExposureLogger`` + ``KafkaSink`` -> Kafka -> Structured Streaming ->
the Delta ``exposures`` table, each ``exposure_id`` exactly once; malformed records dead-lettered with a reason.

The oracle is the plain Python list of what was logged (``Exposure`` objects) and of the bad payloads sent. One
scenario (a module fixture: one job process, one restart) serves both tests: exposures logged through the real
logger and Kafka sink, some delivered twice, bad payloads in between; the job, a separate process, kills itself
(``os._exit``, like ``kill -9``) in batch 0 right after its Delta append, before Spark commits the batch; a
restart from the same checkpoint (in this process's SparkSession) replays batch 0 (recognised as committed,
nothing written again) and drains the rest, where copies of exposures landed before the crash are dropped.
Every exposure is then in the table exactly once, every bad record in ``deadletter/_exposures`` once, with its
reason.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from weir.experiments.exposures import Exposure, ExposureLogger, KafkaSink
from weir.runtime import RuntimeConfig, build_config

pytestmark = pytest.mark.integration

DAY = datetime(2026, 11, 30, 22, 0, tzinfo=UTC).timestamp()  # exposures straddle a UTC midnight (two ds)
CRASHING_JOB = Path(__file__).with_name("crashing_job.py")


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


def _run(config: RuntimeConfig, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], env={**os.environ, **config.env()}, capture_output=True,
                          text=True, timeout=timeout, cwd=config.project_root)


@dataclass
class Scenario:
    config: RuntimeConfig
    records: list[Exposure]  # every distinct exposure logged (the oracle)
    copies: int  # records the producer delivered a second time
    landed_before_restart: int
    crashed: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def scenario(stack: RuntimeConfig, spark: Any, lake_dir: Path, tmp_path_factory: pytest.TempPathFactory,
             ) -> Scenario:
    """One run of the whole path, shared by the tests below (one stream job process, one restart):

    60 exposures through the real logger and Kafka sink, 17 of them delivered twice (7 right after, 10 at the
    end), the bad payloads in between; the job (a separate process) dies in batch 0 right after its Delta
    append; the restart, from the same checkpoint in this process, drains the topic."""
    from weir.stream.exposures import run_exposure_stream
    from weir.stream.job import StreamOptions

    run = uuid.uuid4().hex[:8]
    topic = f"weir-test-xp-{run}"
    config = _config(lake_dir, tmp_path_factory.mktemp("xp"), run)
    records = _exposures(60, seed=3)
    _log_through_kafka(config, topic, records[:20] + records[:7])
    _send_raw(config, topic, list(BAD))
    _log_through_kafka(config, topic, records[20:] + records[25:35])

    crashed = _run(config, [str(CRASHING_JOB), topic, "0", "after_exposures", "--max-offsets-per-trigger", "30"],
                   timeout=600)
    landed = len(_table(spark, config)) if crashed.returncode == 137 else -1
    if crashed.returncode == 137:
        run_exposure_stream(spark, config, StreamOptions(available_now=True, max_offsets_per_trigger=None),
                            topic=topic)
    return Scenario(config, records, 17, landed, crashed)


def test_exposures_exactly_once_after_the_driver_is_killed(spark: Any, scenario: Scenario) -> None:
    from pyspark.sql import functions as F

    from weir.lake.paths import stream_metrics_path
    from weir.stream.exposures import EXPOSURE_STREAM

    crashed, config, records = scenario.crashed, scenario.config, scenario.records
    assert crashed.returncode == 137, crashed.stdout[-3000:] + crashed.stderr[-3000:]
    assert "crashing in batch 0 after_exposures" in crashed.stdout
    assert 0 < scenario.landed_before_restart <= 30  # batch 0 is in Delta; Spark did not commit it

    _assert_table_matches(_table(spark, config), _oracle(records))  # every exposure_id exactly once
    metrics = (spark.read.format("delta").load(stream_metrics_path(config))
               .where(F.col("group") == EXPOSURE_STREAM).collect())
    replayed = [r for r in metrics if r["batch_id"] == 0]
    assert len(replayed) == 1 and replayed[0]["entities_written"] == 0  # the replay wrote nothing again
    assert 0 < replayed[0]["entities_skipped_replay"] == replayed[0]["input_rows"] <= 30
    assert len({r["query_id"] for r in metrics}) == 1  # the restart resumed the same query (checkpoint)
    total = len(records) + scenario.copies + len(BAD)
    assert sum(r["input_rows"] for r in metrics) == total  # every record in exactly one batch's row
    after = [r for r in metrics if r["batch_id"] > 0]
    assert sum(r["entities_written"] for r in after) == len(records) - scenario.landed_before_restart
    assert date(2026, 12, 1) in {r["ds"] for r in _table(spark, config)}


def test_copies_are_dropped_and_bad_records_dead_lettered_once_with_their_reason(spark: Any,
                                                                               scenario: Scenario) -> None:
    from pyspark.sql import functions as F

    from weir.lake.paths import deadletter_path, stream_metrics_path
    from weir.stream.exposures import EXPOSURE_STREAM

    config = scenario.config
    assert scenario.crashed.returncode == 137
    dead = spark.read.format("delta").load(deadletter_path(config, EXPOSURE_STREAM)).collect()
    assert sorted(bytes(r["value"]) for r in dead) == sorted(BAD)  # each once, the replay included
    for r in dead:
        code = BAD[bytes(r["value"])]
        assert code in r["reason_codes"], (r["reason"], r["reason_codes"])
        assert r["reason"] and r["offset"] is not None and r["topic"].startswith("weir-test-xp-")
    reasons = {BAD[bytes(r["value"])]: r["reason"] for r in dead}
    assert reasons["missing_field"] == "missing field key"
    assert reasons["missing_ts"] == "missing ts (epoch seconds of the evaluation)"
    assert reasons["bad_kind"] == "kind must be flag or experiment, got bogus"

    # the table holds each exposure once although 17 were delivered twice (across batches: the 10 re-sent at
    # the end are copies of exposures batch 0 or 1 wrote)
    _assert_table_matches(_table(spark, config), _oracle(scenario.records))
    metrics = (spark.read.format("delta").load(stream_metrics_path(config))
               .where((F.col("group") == EXPOSURE_STREAM) & (F.col("batch_id") > 0)).collect())
    assert sum(r["drops"].get("duplicate_exposure_id", 0) for r in metrics) >= 10

"""The supervisor's ``ensure_stream`` step keeps the exposure stream running (the streaming supervisor DAG's
``ensure_stream___exposures`` task): it starts ``weir experiments stream-exposures`` as a background process that
streams the ``weir_exposures`` topic into the lake, and a second call finds it running. Oracle: the exposures
logged here (other tests may have left records on the shared topic; each of ours must land exactly once)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from weir.experiments.exposures import EXPOSURES_TOPIC, Exposure, ExposureLogger, KafkaSink
from weir.runtime import RuntimeConfig, build_config

pytestmark = pytest.mark.integration


def _landed(spark: Any, config: RuntimeConfig, ids: set[str]) -> list[str]:
    from pyspark.sql import functions as F

    from weir.lake.delta import table_exists
    from weir.lake.paths import exposures_path

    path = exposures_path(config)
    if not table_exists(spark, path):
        return []
    rows = spark.read.format("delta").load(path).where(F.col("exposure_id").isin(sorted(ids))).collect()
    return [r["exposure_id"] for r in rows]


def test_ensure_stream_starts_the_exposure_stream_and_then_finds_it_running(
        stack: RuntimeConfig, spark: Any, lake_dir: Path, tmp_path: Path) -> None:
    from weir.experiments.tables import EXPOSURE_STREAM
    from weir.pipeline.steps import ensure_stream
    from weir.stream import supervisor
    from weir.stream.producer import make_producer

    run = uuid.uuid4().hex[:8]
    config = build_config(lake_path=str(lake_dir / f"xs-{run}"), checkpoint_path=str(lake_dir / f"xs-ck-{run}"),
                          state_dir=tmp_path / "state")
    records = [Exposure(f"sup_{run}", "flag", "user", f"u{i}", "on", "s", "SPLIT", time.time()) for i in range(12)]
    producer = make_producer(config)
    logger = ExposureLogger(KafkaSink(producer, topic=EXPOSURES_TOPIC))
    for e in records:
        logger.log(e)
    assert logger.flush(60) and (logger.dropped, logger.failed) == (0, 0)
    logger.close()
    producer.close(timeout=10)

    try:
        assert ensure_stream(EXPOSURE_STREAM, config)["status"] == "started"
        ids = {e.exposure_id for e in records}
        deadline = time.monotonic() + 600
        landed: list[str] = []
        while time.monotonic() < deadline and set(landed) != ids:
            assert supervisor.status(EXPOSURE_STREAM, config)["running"], \
                supervisor.status(EXPOSURE_STREAM, config)["log"]
            time.sleep(5)
            landed = _landed(spark, config, ids)
        assert sorted(landed) == sorted(ids)  # each exactly once
        assert ensure_stream(EXPOSURE_STREAM, config)["status"] == "running"
    finally:
        supervisor.stop(EXPOSURE_STREAM, config)
    assert not supervisor.status(EXPOSURE_STREAM, config)["running"]

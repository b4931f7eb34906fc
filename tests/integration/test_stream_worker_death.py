"""Exactly-once when a Python worker dies in the middle of an executor's online writes.

The streaming job runs as a child process on ``local[2,4]`` (Spark retries a failed task up to 4 times; the
shared test session's ``local[2]`` does not retry). Through the ``write_fault`` seam
(``worker_killing_stream_job.py``) the first attempt of the online-write task of micro-batch 0 kills its own
Python worker after writing some entities; Spark runs the task again. The retry must skip the entities the dead
attempt wrote (they hold the batch id) and write the rest: the online values equal the oracle's (nothing counted
twice, nothing lost), and the batch's metrics count each entity once (written + skipped as a replay).
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from builders import isolated_group, make_events, wire
from test_stream_job import SPEC, assert_online_matches_oracle

from weir.runtime import RuntimeConfig

pytestmark = pytest.mark.integration

KILLING_JOB = Path(__file__).with_name("worker_killing_stream_job.py")
AFTER = 4  # entities the first attempt writes before its worker dies


def test_worker_killed_mid_writes_is_retried_without_double_counting(stack: RuntimeConfig, spark: Any,
                                                                     lake_dir: Path, tmp_path: Path) -> None:
    from pyspark.sql import functions as F

    from weir.lake.paths import events_path, stream_metrics_path
    from weir.online.store import DynamoOnlineStore
    from weir.stream import produce_records

    name = "spend_wd"
    text = SPEC.format(name=name, topic=f"weir-test-wd-{uuid.uuid4().hex[:8]}", table="unused_source")
    config, group = isolated_group(text, lake_dir, tmp_path, "wd", spark_master="local[2,4]")
    events = make_events(150, seed=8, users=30)
    users = {e["user_id"] for e in events}
    produce_records(config, group, [wire(e) for e in events], partition=0)
    marker = tmp_path / "killed"
    store = DynamoOnlineStore(config)
    try:
        done = subprocess.run([sys.executable, str(KILLING_JOB), name, "0", str(AFTER), str(marker)],
                              env={**os.environ, **config.env()}, capture_output=True, text=True, timeout=1200,
                              cwd=config.project_root)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert marker.exists(), "the fault never fired: " + done.stdout[-3000:]  # a worker really died mid-writes
        assert "Python worker exited unexpectedly" in done.stderr or "crashed" in done.stderr, done.stderr[-3000:]

        log = spark.read.format("delta").load(events_path(config, name))
        assert log.count() == len(events) and log.select("txn_id").distinct().count() == len(events)
        metrics = spark.read.format("delta").load(stream_metrics_path(config)).where(F.col("group") == name)
        (m,) = metrics.where(F.col("batch_id") == 0).collect()
        assert m["input_rows"] == len(events)
        # the retry skipped what the dead attempt wrote and wrote the rest: each entity counted once
        assert m["entities_skipped_replay"] >= AFTER
        assert m["entities_written"] + m["entities_skipped_replay"] == len(users)

        assert_online_matches_oracle(config, group, events)
    finally:
        store.drop_table(group.name)

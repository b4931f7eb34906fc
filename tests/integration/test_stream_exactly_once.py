"""Exactly-once effect of the streaming job across crashes, with the job as a real background process.

1. the job crashes itself (``os._exit``, like ``kill -9``, from a hook passed to ``BatchProcessor``'s ``on_stage``
   seam by ``crashing_job.py``) in batch 1 right after its online writes, before the batch is committed:
   the restart replays batch 1;
2. the supervisor restarts it; it is ``kill -9``-ed mid-run while more records wait;
3. an available-now run drains the rest.
Every event must then be in ``events/<group>`` exactly once and counted exactly once online (oracle values).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from builders import isolated_group, make_events, wire
from test_stream_job import SPEC, assert_online_matches_oracle

from weir.jobs import job_file
from weir.runtime import RuntimeConfig

pytestmark = pytest.mark.integration

ARGS = ["--trigger-seconds", "1", "--max-offsets-per-trigger", "20"]
CRASHING_JOB = Path(__file__).with_name("crashing_job.py")  # the crash enters through the job's on_stage seam


def _run_job(config: RuntimeConfig, group: str, args: list[str], timeout: float, script: Path | None = None,
             ) -> subprocess.CompletedProcess[str]:
    """``weir/jobs/stream.py`` (or ``script``, e.g. the crashing job) as a child process."""
    cmd = [sys.executable, str(script or job_file("stream")), group, *args]
    return subprocess.run(cmd, env={**os.environ, **config.env()}, capture_output=True, text=True,
                          timeout=timeout, cwd=config.project_root)


def test_crash_and_kill_then_restart_counts_every_event_once(stack: RuntimeConfig, spark: Any,
                                                             lake_dir: Path, tmp_path: Path) -> None:
    from pyspark.sql import functions as F

    from weir.lake.paths import events_path, stream_metrics_path
    from weir.online.store import DynamoOnlineStore
    from weir.stream import produce_records, supervisor

    name = "spend_eo"
    text = SPEC.format(name=name, topic=f"weir-test-eo-{uuid.uuid4().hex[:8]}", table="unused_source")
    config, group = isolated_group(text, lake_dir, tmp_path, "eo")
    first = make_events(120, seed=5, users=6)
    produce_records(config, group, [wire(e) for e in first], partition=0)
    store = DynamoOnlineStore(config)
    try:
        # 1. crash inside batch 1 after the online writes (before Spark commits the batch)
        crashed = _run_job(config, name, ["1", "after_online", *ARGS], timeout=420, script=CRASHING_JOB)
        assert crashed.returncode == 137, crashed.stdout[-3000:] + crashed.stderr[-3000:]
        assert "crashing in batch 1 after_online" in crashed.stdout

        # 2. the supervisor starts it again (replaying batch 1); kill -9 once it is past the replay
        assert supervisor.ensure_running(name, config, extra_args=ARGS) in ("started", "restarted")
        assert supervisor.ensure_running(name, config, extra_args=ARGS) == "running"
        deadline = time.monotonic() + 420
        st: dict[str, Any] = {}
        while time.monotonic() < deadline:
            st = supervisor.status(name, config)
            last = st["last_metrics"]
            if last and last["batch_id"] >= 2:
                break
            assert st["running"], Path(st["log"]).read_text()[-3000:]
            time.sleep(0.5)
        else:
            pytest.fail("the restarted job made no progress: " + Path(st["log"]).read_text()[-3000:])
        pid = st["pid"]
        assert pid is not None
        os.killpg(pid, signal.SIGKILL)
        for _ in range(100):
            if not supervisor.status(name, config)["running"]:
                break
            time.sleep(0.1)
        assert not supervisor.status(name, config)["running"]

        # 3. more records, then drain everything
        second = make_events(30, seed=6, users=6, start=first[-1]["event_ts"])
        produce_records(config, group, [wire(e) for e in second], partition=0)
        drained = _run_job(config, name, ["--available-now", "--max-offsets-per-trigger", "50"], timeout=600)
        assert drained.returncode == 0, drained.stdout[-3000:] + drained.stderr[-3000:]

        events = first + second
        log = spark.read.format("delta").load(events_path(config, name))
        assert log.count() == len(events)
        assert log.select("txn_id").distinct().count() == len(events)

        metrics = spark.read.format("delta").load(stream_metrics_path(config)).where(F.col("group") == name)
        replayed = metrics.where(F.col("batch_id") == 1).collect()
        assert len(replayed) == 1 and replayed[0]["entities_written"] == 0
        assert replayed[0]["entities_skipped_replay"] > 0

        assert_online_matches_oracle(config, group, events)
    finally:
        supervisor.stop(name, config)
        store.drop_table(group.name)

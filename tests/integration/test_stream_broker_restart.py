"""The streaming job survives a Kafka broker restart with nothing lost and nothing counted twice.

A private KRaft broker (its own ports and log dir, so the session's shared broker is never disturbed) feeds a
stream job run by the supervisor in the background (1 s trigger):

1. records are produced and the job processes them;
2. the broker is stopped (SIGTERM, like a rolling restart) while the job runs, and stays down for a while;
3. the broker is started again on the same log dir; more records are produced;
4. the job either recovers by itself or fails (then the supervisor restarts it from its checkpoint, as the
   Airflow supervisor DAG does); it must process the new records;
5. an available-now run drains the rest: every event is in ``events/<group>`` exactly once and counted exactly
   once online (plain-Python oracle).
"""

from __future__ import annotations

import os
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
from weir.process import free_port
from weir.runtime import RuntimeConfig

pytestmark = pytest.mark.integration

ARGS = ["--trigger-seconds", "1", "--max-offsets-per-trigger", "500"]
DOWN_S = 20.0


def _wait_for(pred: Any, timeout: float, what: str, log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.5)
    text = log.read_text()[-4000:] if log.exists() else "(no log)"
    pytest.fail(f"timed out waiting for {what}; job log:\n{text}")


def test_broker_restart_while_streaming_loses_nothing(stack: RuntimeConfig, spark: Any, lake_dir: Path,
                                                      tmp_path: Path) -> None:
    from pyspark.sql import functions as F

    from weir.devstack.kafka import jars_dir, kafka_dir, start_kafka
    from weir.lake.paths import events_path, stream_metrics_path
    from weir.online.store import DynamoOnlineStore
    from weir.process import read_pid, stop_process
    from weir.stream import produce_records, supervisor

    name = "spend_br"
    text = SPEC.format(name=name, topic=f"weir-test-br-{uuid.uuid4().hex[:8]}", table="unused_source")
    config, group = isolated_group(text, lake_dir, tmp_path, "br", kafka_bootstrap_servers=f"127.0.0.1:{free_port()}",
                                   kafka_controller_port=free_port())
    # the private broker runs the jars the shared stack already fetched
    jars_dir(config).parent.mkdir(parents=True)
    jars_dir(config).symlink_to(jars_dir(stack).resolve(), target_is_directory=True)
    broker_pid_file = kafka_dir(config) / "kafka.pid"
    start_kafka(config)
    log = supervisor.log_file(config, name)
    store = DynamoOnlineStore(config)

    def last_batch() -> int:
        last = supervisor.status(name, config)["last_metrics"]
        return -1 if not last else int(last["batch_id"])

    def events_in_log() -> int:
        # the file check first: asking Delta about a path before the table exists caches "no table"
        path = events_path(config, name)
        if not any((Path(path) / "_delta_log").glob("*.json")):
            return 0
        return int(spark.read.format("delta").load(path).count())

    try:
        first = make_events(100, seed=21, users=5)
        produce_records(config, group, [wire(e) for e in first], partition=0)
        assert supervisor.ensure_running(name, config, extra_args=ARGS) == "started"
        _wait_for(lambda: events_in_log() == len(first), 600, "the first records in the event log", log)

        # 2. the broker goes away under the running query
        assert stop_process(broker_pid_file)
        assert read_pid(broker_pid_file) is None
        time.sleep(DOWN_S)
        batch_while_down = last_batch()

        # 3. back on the same log dir; more records
        start_kafka(config)
        second = make_events(60, seed=22, users=5, start=first[-1]["event_ts"])
        produce_records(config, group, [wire(e) for e in second], partition=0)

        # 4. recovered by itself, or restarted by the supervisor after failing clearly
        restarts: list[str] = []

        def caught_up() -> bool:
            outcome = supervisor.ensure_running(name, config, extra_args=ARGS)
            if outcome != "running":
                restarts.append(outcome)
            # the batch's metrics (written after its online merges) and its events are both in
            return last_batch() > batch_while_down and events_in_log() == len(first) + len(second)

        _wait_for(caught_up, 600, "the job to process the records produced after the broker restart", log)
        how = f"was restarted {len(restarts)} time(s)" if restarts else "recovered by itself"
        print(f"after the broker restart the job {how}")
        log_text = log.read_text()
        if restarts:  # the job died while the broker was down: it must have said why
            assert "Kafka" in log_text or "kafka" in log_text, log_text[-3000:]
        supervisor.stop(name, config)

        # 5. a final drain, then exactly once everywhere
        third = make_events(20, seed=23, users=5, start=second[-1]["event_ts"])
        produce_records(config, group, [wire(e) for e in third], partition=0)
        cmd = [sys.executable, str(job_file("stream")), name, "--available-now"]
        drained = subprocess.run(cmd, env={**os.environ, **config.env()}, capture_output=True, text=True,
                                 timeout=600, cwd=config.project_root)
        assert drained.returncode == 0, drained.stdout[-3000:] + drained.stderr[-3000:]

        events = first + second + third
        ev = spark.read.format("delta").load(events_path(config, name))
        assert ev.count() == len(events)
        assert ev.select("txn_id").distinct().count() == len(events)
        metrics = spark.read.format("delta").load(stream_metrics_path(config)).where(F.col("group") == name)
        assert metrics.agg(F.sum("valid_rows")).collect()[0][0] >= len(events)

        assert_online_matches_oracle(config, group, events)
    finally:
        supervisor.stop(name, config)
        stop_process(broker_pid_file)
        store.drop_table(group.name)

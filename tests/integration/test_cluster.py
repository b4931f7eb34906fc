"""The path on a real Spark standalone cluster, and the lake and checkpoints on ``s3a://`` (moto's S3 API).

A master and two workers (1 core each) start on loopback from pyspark's own distribution; Weir's CLI runs in
subprocesses whose driver targets ``spark://127.0.0.1:<port>`` (the batch steps in one driver, as one Airflow
task would run them; each stream drain in its own) (the suite's shared SparkSession is local
mode, and a JVM holds one master): backfill of three small days, validation, publish, the streaming job with
``--available-now`` and a training set, on a lake in a local directory (one host: driver and executors share
it). Separately, a backfill in local mode (a subprocess: its session needs hadoop-aws) puts the lake and the
checkpoints in a bucket of a second moto server, read by Spark through hadoop-aws and by this test through
delta-rs with storage options from the runtime config; credentials come from the AWS chain (environment
variables here), never from the config. Both together were too slow for the suite's budget (S3A over moto
costs minutes per step on the shared 2-core machine). Every result is checked against the plain-Python
oracle (tests/oracle.py) over the same events.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from builders import make_events, wire
from cluster_support import (
    AWS_ENV,
    BUCKET,
    SPEC,
    Cluster,
    Row,
    assert_served,
    weir_env,
    write_source,
    write_spine,
)
from oracle import assert_feature_rows_match, assert_served_values_match

from weir.runtime import build_config

pytestmark = pytest.mark.integration

DAYS = [date(2026, 2, 10), date(2026, 2, 11), date(2026, 2, 12)]


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server of its own for S3 (the stack's serves DynamoDB), with the lake's bucket."""
    import boto3

    from weir.process import free_port, port_in_use

    port = free_port()
    log = tmp_path_factory.mktemp("moto-s3") / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not port_in_use(port) and time.monotonic() < deadline:
            assert proc.poll() is None, f"moto_server exited: {log.read_text()[-2000:]}"
            time.sleep(0.2)
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=endpoint, region_name=AWS_ENV["AWS_REGION"],
                     aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
                     aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"]).create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": AWS_ENV["AWS_REGION"]})
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def test_batch_path_on_the_cluster(cluster: Cluster) -> None:
    """Backfill, validate, publish and a training set, one driver on the cluster; all equal the oracle."""
    group = cluster.group("cluster_batch")
    events = make_events(60, seed=17, users=5, start=datetime.combine(DAYS[0], datetime.min.time()), span_h=71,
                         merchants=4)
    write_source(cluster, "cluster_source", events)
    first, last = DAYS[0].isoformat(), DAYS[-1].isoformat()
    spine_path = cluster.config.table_path("cluster_spine")
    spine = [{"user_id": f"u{u}", "ts": datetime.combine(DAYS[0], datetime.min.time()) + timedelta(hours=h),
              "label": (u + h) % 2} for u in range(1, 7) for h in (-1, 13, 24, 50, 80)]
    write_spine(cluster, spine_path, spine)
    out = cluster.config.table_path("cluster_training")

    cluster.weir_session(["backfill", group.name, "--start", first, "--end", last],
                         ["validate-data", group.name, "--date", last],
                         ["publish", group.name, "--date", last, "--no-progress"],
                         ["training-set", "--spine", spine_path, "--features", group.name, "--out", out])

    rows = [Row(r) for r in cluster.read(cluster.config.table_path(f"features/{group.name}"))]
    assert {r.run_ts for r in rows} == {datetime.combine(d + timedelta(days=1), datetime.min.time()) for d in DAYS}
    assert_feature_rows_match(group, events, rows, DAYS)
    assert_served(cluster.config, group, events, datetime.combine(DAYS[-1] + timedelta(days=1), datetime.min.time()))
    got = cluster.read(out)
    assert len(got) == len(spine)
    assert sorted((r["user_id"], r["ts"], r["label"]) for r in got) == sorted(
        (s["user_id"], s["ts"], s["label"]) for s in spine)
    assert_served_values_match(group, events, got, 30 * 86400 * 10**6)


def test_stream_available_now_on_the_cluster(cluster: Cluster) -> None:
    """The streaming job drains its topic on the cluster; online values equal the oracle, and a second drain
    with nothing new changes nothing (the offsets were committed to the checkpoint)."""
    from weir.stream import produce_records

    group = cluster.group("cluster_stream")
    events = make_events(24, seed=5, users=5, start=datetime(2026, 2, 13, 8), span_h=20, merchants=4)
    produce_records(cluster.config, group, [wire(e) for e in events], partition=0)
    cluster.weir("stream", group.name, "--available-now")
    t = max(e["event_ts"] for e in events)
    assert_served(cluster.config, group, events, t)
    cluster.weir("stream", group.name, "--available-now")
    assert_served(cluster.config, group, events, t)


def test_backfill_with_the_lake_and_checkpoints_on_s3a(s3_endpoint: str, tmp_path: Path) -> None:
    """A backfill (local mode, a driver of its own) reads its source from and writes tiles, feature rows and run
    status to ``s3a://`` through hadoop-aws; delta-rs reads the feature rows back with storage options derived
    from the runtime config, equal to the oracle. No key is in the config: the AWS chain (environment) holds it."""
    run = uuid.uuid4().hex[:8]
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "s3_batch.yaml").write_text(SPEC.format(name="s3_batch", table="cluster_source", topic="unused"))
    fields: dict[str, Any] = {
        "spark_master": "local[2]", "lake_path": f"s3a://{BUCKET}/{run}/lake",
        "checkpoint_path": f"s3a://{BUCKET}/{run}/checkpoints", "s3_endpoint": s3_endpoint,
        "s3_path_style_access": True, "specs_dir": str(specs), "spark_driver_memory": "1g",
        "spark_shuffle_partitions": 2, "spark_jars_preinstalled": True}
    config = build_config(**fields)
    assert not any("KEY" in k.upper() or "SECRET" in k.upper() for k in config.model_dump())
    env = {**os.environ, **AWS_ENV, "PYSPARK_PYTHON": sys.executable, **weir_env(fields)}
    old_env = {k: os.environ.get(k) for k in AWS_ENV}
    os.environ.update(AWS_ENV)  # this process reads the bucket through delta-rs: the same AWS chain
    try:
        s3 = Cluster("local[2]", config, env, specs, {})
        day = DAYS[0]
        events = make_events(20, seed=3, users=5, start=datetime.combine(day, datetime.min.time()), span_h=23,
                             merchants=4)
        write_source(s3, "cluster_source", events)
        s3.weir("backfill", "s3_batch", "--start", day.isoformat(), "--end", day.isoformat())
        rows = [Row(r) for r in s3.read(config.table_path("features/s3_batch"))]
        assert_feature_rows_match(s3.group("s3_batch"), events, rows, [day])
        print("s3a timings (s):", {k: round(v, 1) for k, v in s3.timings.items()})
    finally:
        for key, value in old_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

"""The whole path on a real Spark standalone cluster, with the lake and checkpoints on ``s3a://`` (moto's S3 API).

A master and two workers (1 core each) start on loopback from pyspark's own distribution; Weir's CLI runs in
subprocesses whose driver targets ``spark://127.0.0.1:<port>`` (the batch steps in one driver, as one Airflow
task would run them; each stream drain in its own) (the suite's shared SparkSession is local mode, and a JVM
holds one master): backfill of three small days, validation, publish, a training set, and the streaming job with
``--available-now``, all with the lake (source, tiles, feature rows, run status, event log, metrics, training
set) and the stream's checkpoints in a bucket of a second moto server. Spark reads and writes it through
hadoop-aws on the driver and on the executors; delta-rs (the training builder's log reads, run status, the
stream's metrics row, this test's reads) through storage options derived from the runtime config. Credentials
come from the AWS chain (environment variables of the drivers and of the workers), never from the config. Every
result is checked against the plain-Python oracle (tests/oracle.py) over the same events.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from builders import make_events, wire
from cluster_support import (
    AWS_ENV,
    BUCKET,
    Cluster,
    Row,
    assert_served,
    moto_s3,
    weir_env,
    write_source,
    write_spine,
)
from oracle import assert_feature_rows_match, assert_served_values_match

pytestmark = pytest.mark.integration

DAYS = [date(2026, 2, 10), date(2026, 2, 11), date(2026, 2, 12)]


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server of its own for S3 (the stack's serves DynamoDB), with the lake's bucket."""
    with moto_s3(tmp_path_factory.mktemp("moto-s3")) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def s3_cluster(cluster: Cluster, s3_endpoint: str) -> Iterator[Cluster]:
    """The session's cluster with the lake and the checkpoints on ``s3a://``: no key in the config, the AWS chain
    (environment) of the drivers, the workers and this process (which reads the bucket through delta-rs) holds it."""
    run = uuid.uuid4().hex[:8]
    fields: dict[str, Any] = {"lake_path": f"s3a://{BUCKET}/{run}/lake",
                              "checkpoint_path": f"s3a://{BUCKET}/{run}/checkpoints", "s3_endpoint": s3_endpoint,
                              "s3_path_style_access": True}
    config = cluster.config.model_copy(update=fields)
    assert config.uses_s3a
    assert not any("KEY" in k.upper() or "SECRET" in k.upper() for k in config.model_dump())
    old_env = {k: os.environ.get(k) for k in AWS_ENV}
    os.environ.update(AWS_ENV)
    try:
        yield Cluster(cluster.master_url, config, {**cluster.env, **AWS_ENV, **weir_env(fields)}, cluster.specs,
                      cluster.timings, cluster.spark)
    finally:
        for key, value in old_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _objects_under(endpoint: str, prefix: str) -> list[str]:
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=AWS_ENV["AWS_REGION"])
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_batch_path_on_the_cluster(s3_cluster: Cluster, s3_endpoint: str) -> None:
    """Backfill, validate, publish and a training set, one driver on the cluster, the lake on s3a://; all equal
    the oracle."""
    cluster = s3_cluster
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
    lake_prefix = cluster.config.lake[len(f"s3a://{BUCKET}/"):]
    keys = _objects_under(s3_endpoint, lake_prefix)
    for table in (f"features/{group.name}", "cluster_training", "cluster_source"):
        assert any(k.startswith(f"{lake_prefix}/{table}/_delta_log/") for k in keys), f"{table} not in the bucket"


def test_stream_available_now_on_the_cluster(s3_cluster: Cluster, s3_endpoint: str) -> None:
    """The streaming job drains its topic on the cluster, event log and checkpoint on s3a://; online values equal
    the oracle, and a second drain with nothing new changes nothing (the offsets were committed to the checkpoint
    in the bucket)."""
    from weir.lake.paths import stream_metrics_path
    from weir.stream import produce_records

    cluster = s3_cluster
    group = cluster.group("cluster_stream")
    events = make_events(24, seed=5, users=5, start=datetime(2026, 2, 13, 8), span_h=20, merchants=4)
    produce_records(cluster.config, group, [wire(e) for e in events], partition=0)
    cluster.weir("stream", group.name, "--available-now")
    t = max(e["event_ts"] for e in events)
    assert_served(cluster.config, group, events, t)
    cluster.weir("stream", group.name, "--available-now")
    assert_served(cluster.config, group, events, t)
    checkpoints = cluster.config.checkpoints[len(f"s3a://{BUCKET}/"):]
    assert any(k.startswith(f"{checkpoints}/{group.name}/offsets/") for k in _objects_under(s3_endpoint, checkpoints))
    logged = cluster.read(cluster.config.table_path(f"events/{group.name}"))
    assert sorted(r["txn_id"] for r in logged) == sorted(e["txn_id"] for e in events)
    batches = [r for r in cluster.read(stream_metrics_path(cluster.config)) if r["group"] == group.name]
    assert sum(r["valid_rows"] for r in batches) == len(events)  # the metrics rows, appended by delta-rs on S3

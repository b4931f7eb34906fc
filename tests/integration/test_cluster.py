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

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from builders import make_events, wire
from oracle import assert_feature_rows_match, assert_served_values_match, group_values, same_value, us

from weir.runtime import RuntimeConfig, build_config
from weir.spec import load_spec
from weir.spec.models import FeatureGroup

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DAYS = [date(2026, 2, 10), date(2026, 2, 11), date(2026, 2, 12)]
BUCKET = "weir-cluster"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "weir-test", "AWS_SECRET_ACCESS_KEY": "weir-test-secret",
           "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1"}
SPEC = """
name: {name}
entity: {{name: user, keys: [user_id]}}
source:
  delta: {table}
  kafka: {{topic: {topic}}}
  event_time: event_ts
  columns: {{txn_id: string, user_id: string, merchant_id: string, amount: double, status: string,
             event_ts: timestamp}}
  allowed_lateness: 1h
features:
  - {{name: txn_count, aggregation: count, windows: [1h, 1d, 7d]}}
  - {{name: txn_amount, aggregation: sum, column: amount, windows: [1d, 30d]}}
  - {{name: declined_count, aggregation: count, where: "status = 'declined'", windows: [1d]}}
  - {{name: max_amount, aggregation: max, column: amount, windows: [7d]}}
  - {{name: last_merchant, aggregation: last, column: merchant_id}}
  - {{name: distinct_merchants, aggregation: approx_count_distinct, column: merchant_id, windows: [30d]}}
online: {{ttl: 30d, freshness_slo: 1h}}
expectations:
  - {{expectation: ExpectColumnValuesToNotBeNull, kwargs: {{column: user_id}}}}
"""


@dataclass
class Cluster:
    master_url: str
    config: RuntimeConfig
    env: dict[str, str]
    specs: Path
    timings: dict[str, float]

    def weir(self, *args: str, timeout: float = 900) -> str:
        """Run ``weir ARGS`` with its driver on the cluster; fail with its output when it fails or hangs."""
        return self.weir_run([sys.executable, "-c", "from weir.cli import main; main()", *args],
                             " ".join(args[:2]), timeout)

    def weir_session(self, *commands: list[str], timeout: float = 1200) -> str:
        """Run several ``weir`` commands in one driver on the cluster (one SparkSession: the driver JVM, the
        executors and their Python workers start once, as in an Airflow task running several steps)."""
        script = ("import json, sys\nfrom weir.cli import cli\n"
                  "for args in json.loads(sys.argv[1]):\n"
                  "    code = cli.main(args=args, prog_name='weir', standalone_mode=False)\n"
                  "    if code:\n        sys.exit(code)\n")
        return self.weir_run([sys.executable, "-c", script, json.dumps(commands)],
                             " + ".join(" ".join(c[:2]) for c in commands), timeout)

    def weir_run(self, argv: list[str], name: str, timeout: float) -> str:
        started = time.monotonic()
        try:
            run = subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=timeout, cwd=self.specs)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"{name} did not finish in {timeout:.0f}s:\n{str(exc.stderr or '')[-4000:]}") from None
        self.timings[name] = time.monotonic() - started
        assert run.returncode == 0, f"{name} failed:\n{run.stdout[-3000:]}\n{run.stderr[-4000:]}"
        return run.stdout

    def group(self, name: str) -> FeatureGroup:
        return load_spec(self.specs / f"{name}.yaml")

    def read(self, path: str) -> list[dict[str, Any]]:
        """A Delta table on S3 read by delta-rs with the runtime config's storage options, timestamps naive UTC."""
        from deltalake import DeltaTable

        from weir.lake.delta_log import delta_rs_uri
        from weir.lake.s3 import delta_rs_storage_options

        table = DeltaTable(delta_rs_uri(path), storage_options=delta_rs_storage_options(path, self.config))
        return [{k: _naive(v) for k, v in r.items()} for r in table.to_pyarrow_table().to_pylist()]


def _naive(value: Any) -> Any:
    return value.astimezone(UTC).replace(tzinfo=None) if isinstance(value, datetime) and value.tzinfo else value


class _Row(dict):  # type: ignore[type-arg]
    """What the oracle reads from a Spark row: ``row[col]``, ``row.run_ts``, ``asDict()``."""

    @property
    def run_ts(self) -> Any:
        return self["run_ts"]

    def asDict(self) -> dict[str, Any]:
        return dict(self)


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


@pytest.fixture(scope="module")
def cluster(stack: RuntimeConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Master + two 1-core workers; the CLI's environment pointing at them and at a lake on local disk."""
    from weir.devstack.spark_cluster import start_standalone
    from weir.online.store import DynamoOnlineStore
    from weir.process import free_port
    from weir.spark_jars import spark_jars

    run = uuid.uuid4().hex[:8]
    work = tmp_path_factory.mktemp("spark-cluster")
    specs = work / "specs"
    specs.mkdir()
    for name, table in (("cluster_batch", "cluster_source"), ("cluster_stream", "unused_source")):
        (specs / f"{name}.yaml").write_text(SPEC.format(name=name, table=table, topic=f"weir-cluster-{run}-{name}"))
    python_env = {"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
                  "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(":")}
    fields: dict[str, Any] = {
              "spark_master": "", "lake_path": str(work / "lake"), "checkpoint_path": str(work / "checkpoints"),
              "specs_dir": str(specs), "spark_driver_memory": "1g",
              "spark_shuffle_partitions": 2, "dynamodb_table_prefix": f"cl{run}_",
              "spark_jars_preinstalled": True}  # one host: executors read the jars in place, none shipped
    spark_jars(build_config(**fields))  # resolved once per checkout (`make setup`)
    started = time.monotonic()
    spark = start_standalone(work, free_port(), free_port(), [free_port(), free_port()], worker_cores=1,
                             worker_memory="1g", env=python_env)
    timings = {"cluster start": time.monotonic() - started}
    try:
        fields["spark_master"] = spark.master_url
        config = build_config(**fields)
        env = {**os.environ, **python_env, **{f"WEIR_{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v)
                                              for k, v in fields.items()}}
        yield Cluster(spark.master_url, config, env, specs, timings)
        store = DynamoOnlineStore(config)
        for name in ("cluster_batch", "cluster_stream"):
            store.drop_table(name)
    finally:
        spark.stop()
        print("cluster timings (s):", {k: round(v, 1) for k, v in timings.items()})


def _write_source(cluster: Cluster, events: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    from weir.lake.delta_log import delta_rs_uri
    from weir.lake.s3 import delta_rs_storage_options

    path = cluster.config.table_path("cluster_source")
    rows = [{**e, "event_ts": e["event_ts"].replace(tzinfo=UTC), "ds": e["event_ts"].date()} for e in events]
    write_deltalake(delta_rs_uri(path), pa.Table.from_pylist(rows), partition_by=["ds"],
                    storage_options=delta_rs_storage_options(path, cluster.config))


def _assert_served(cluster: Cluster, group: FeatureGroup, events: list[dict[str, Any]], t: datetime) -> None:
    from weir.online.client import OnlineClient

    expected = group_values(group, events, t)
    users = sorted(u for (u,) in expected)
    results = OnlineClient(cluster.config, groups=[group]).get_features([group.name], [{"user_id": u} for u in users],
                                                                        at=t)
    for user, res in zip(users, results, strict=True):
        got, want = res.groups[group.name], dict(expected[(user,)])
        assert got.found and us(got.event_ts) == want.pop("newest_event_us"), user
        for col, value in want.items():
            assert same_value(got.values[col], value), f"{col} of {user} at {t}: served {got.values[col]}, " \
                                                       f"oracle {value}"


def test_batch_path_on_the_cluster(cluster: Cluster) -> None:
    """Backfill, validate, publish and a training set, one driver on the cluster; all equal the oracle."""
    group = cluster.group("cluster_batch")
    events = make_events(60, seed=17, users=5, start=datetime.combine(DAYS[0], datetime.min.time()), span_h=71,
                         merchants=4)
    _write_source(cluster, events)
    first, last = DAYS[0].isoformat(), DAYS[-1].isoformat()
    spine_path = cluster.config.table_path("cluster_spine")
    spine = [{"user_id": f"u{u}", "ts": datetime.combine(DAYS[0], datetime.min.time()) + timedelta(hours=h),
              "label": (u + h) % 2} for u in range(1, 7) for h in (-1, 13, 24, 50, 80)]
    _write_spine(cluster, spine_path, spine)
    out = cluster.config.table_path("cluster_training")

    cluster.weir_session(["backfill", group.name, "--start", first, "--end", last],
                         ["validate-data", group.name, "--date", last],
                         ["publish", group.name, "--date", last, "--no-progress"],
                         ["training-set", "--spine", spine_path, "--features", group.name, "--out", out])

    rows = [_Row(r) for r in cluster.read(cluster.config.table_path(f"features/{group.name}"))]
    assert {r.run_ts for r in rows} == {datetime.combine(d + timedelta(days=1), datetime.min.time()) for d in DAYS}
    assert_feature_rows_match(group, events, rows, DAYS)
    _assert_served(cluster, group, events, datetime.combine(DAYS[-1] + timedelta(days=1), datetime.min.time()))
    got = cluster.read(out)
    assert len(got) == len(spine)
    assert sorted((r["user_id"], r["ts"], r["label"]) for r in got) == sorted(
        (s["user_id"], s["ts"], s["label"]) for s in spine)
    assert_served_values_match(group, events, got, 30 * 86400 * 10**6)


def _write_spine(cluster: Cluster, path: str, spine: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    from weir.lake.delta_log import delta_rs_uri
    from weir.lake.s3 import delta_rs_storage_options

    rows = [{**s, "ts": s["ts"].replace(tzinfo=UTC)} for s in spine]
    write_deltalake(delta_rs_uri(path), pa.Table.from_pylist(rows),
                    storage_options=delta_rs_storage_options(path, cluster.config))


def test_stream_available_now_on_the_cluster(cluster: Cluster) -> None:
    """The streaming job drains its topic on the cluster; online values equal the oracle, and a second drain
    with nothing new changes nothing (the offsets were committed to the checkpoint)."""
    from weir.stream import produce_records

    group = cluster.group("cluster_stream")
    events = make_events(24, seed=5, users=5, start=datetime(2026, 2, 13, 8), span_h=20, merchants=4)
    produce_records(cluster.config, group, [wire(e) for e in events], partition=0)
    cluster.weir("stream", group.name, "--available-now")
    t = max(e["event_ts"] for e in events)
    _assert_served(cluster, group, events, t)
    cluster.weir("stream", group.name, "--available-now")
    _assert_served(cluster, group, events, t)


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
    env = {**os.environ, **AWS_ENV, "PYSPARK_PYTHON": sys.executable,
           **{f"WEIR_{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()}}
    old_env = {k: os.environ.get(k) for k in AWS_ENV}
    os.environ.update(AWS_ENV)  # this process reads the bucket through delta-rs: the same AWS chain
    try:
        s3 = Cluster("local[2]", config, env, specs, {})
        day = DAYS[0]
        events = make_events(20, seed=3, users=5, start=datetime.combine(day, datetime.min.time()), span_h=23,
                             merchants=4)
        _write_source(s3, events)
        s3.weir("backfill", "s3_batch", "--start", day.isoformat(), "--end", day.isoformat())
        rows = [_Row(r) for r in s3.read(config.table_path("features/s3_batch"))]
        assert_feature_rows_match(s3.group("s3_batch"), events, rows, [day])
        print("s3a timings (s):", {k: round(v, 1) for k, v in s3.timings.items()})
    finally:
        for key, value in old_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

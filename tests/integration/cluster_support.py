"""The Spark standalone cluster of the integration tests: one per session (conftest's ``cluster`` fixture), shared
by every test that runs on it (tests/integration/test_cluster.py, test_cluster_airflow.py).

A master and two 1-core workers start on loopback from pyspark's own distribution; the tests' drivers are
``weir`` CLI runs or ``spark-submit`` jobs in subprocesses targeting ``spark://127.0.0.1:<port>`` (the suite's
shared SparkSession is local mode, and a JVM holds one master). The lake is a local directory by default (one
host: driver and executors share it); tests/integration/test_cluster.py puts it on ``s3a://``, for which the
workers carry an AWS chain of their own (environment variables here). Each test uses feature groups of its own
(specs below), so the order does not matter.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from oracle import group_values, same_value, us
from test_stream_job import SPEC as STREAM_SPEC

from weir.devstack.spark_cluster import StandaloneCluster
from weir.runtime import RuntimeConfig, build_config
from weir.spec import load_spec
from weir.spec.models import FeatureGroup

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "weir-cluster"
AWS_ENV = {"AWS_ACCESS_KEY_ID": "weir-test", "AWS_SECRET_ACCESS_KEY": "weir-test-secret",
           "AWS_REGION": "eu-west-1", "AWS_DEFAULT_REGION": "eu-west-1"}
# the stream test's group (every aggregation kind) with a validation rule, so the cluster's validate job has work
SPEC = STREAM_SPEC + """expectations:
  - {{expectation: ExpectColumnValuesToNotBeNull, kwargs: {{column: user_id}}}}
"""
# feature group -> its Delta source table (each test owns its groups)
GROUPS = {"cluster_batch": "cluster_source", "cluster_stream": "unused_source",
          "cluster_airflow": "cluster_airflow_source"}  # cluster_airflow: no retries (a failure shows at once)


@dataclass
class Cluster:
    master_url: str
    config: RuntimeConfig
    env: dict[str, str]
    specs: Path
    timings: dict[str, float]
    spark: StandaloneCluster | None = None  # None: a master this module did not start

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
        """A Delta table read by delta-rs with the runtime config's storage options, timestamps naive UTC."""
        from deltalake import DeltaTable

        from weir.lake.delta_log import delta_rs_uri
        from weir.lake.s3 import delta_rs_storage_options

        table = DeltaTable(delta_rs_uri(path), storage_options=delta_rs_storage_options(path, self.config))
        return [{k: _naive(v) for k, v in r.items()} for r in table.to_pyarrow_table().to_pylist()]


def _naive(value: Any) -> Any:
    return value.astimezone(UTC).replace(tzinfo=None) if isinstance(value, datetime) and value.tzinfo else value


class Row(dict[str, Any]):
    """What the oracle reads from a Spark row: ``row[col]``, ``row.run_ts``, ``asDict()``."""

    @property
    def run_ts(self) -> Any:
        return self["run_ts"]

    def asDict(self) -> dict[str, Any]:
        return dict(self)


def weir_env(fields: dict[str, Any]) -> dict[str, str]:
    """Runtime config fields as the ``WEIR_*`` variables a subprocess reads."""
    return {f"WEIR_{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()}


def start_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Master + two 1-core workers; the CLI's environment pointing at them and at a lake on local disk."""
    from weir.devstack.spark_cluster import start_standalone
    from weir.online.store import DynamoOnlineStore
    from weir.process import free_port
    from weir.spark_jars import spark_jars

    run = uuid.uuid4().hex[:8]
    work = tmp_path_factory.mktemp("spark-cluster")
    specs = work / "specs"
    specs.mkdir()
    for name, table in GROUPS.items():
        spec = SPEC.format(name=name, table=table, topic=f"weir-cluster-{run}-{name}")
        (specs / f"{name}.yaml").write_text(spec + ("retries: 0\n" if name == "cluster_airflow" else ""))
    python_env = {"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable,
                  "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(":")}
    # the workers' AWS chain (an instance or pod role in production): their executors reach the s3a:// lake
    worker_env = {**python_env, **AWS_ENV}
    fields: dict[str, Any] = {
              "spark_master": "", "lake_path": str(work / "lake"), "checkpoint_path": str(work / "checkpoints"),
              "specs_dir": str(specs), "spark_driver_memory": "1g",
              "spark_shuffle_partitions": 2, "dynamodb_table_prefix": f"cl{run}_",
              "spark_jars_preinstalled": True}  # one host: executors read the jars in place, none shipped
    spark_jars(build_config(**fields))  # resolved once per checkout (`make setup`)
    started = time.monotonic()
    spark = start_standalone(work, free_port(), free_port(), [free_port(), free_port()], worker_cores=1,
                             worker_memory="1g", env=worker_env)
    timings = {"cluster start": time.monotonic() - started}
    try:
        fields["spark_master"] = spark.master_url
        config = build_config(**fields)
        env = {**os.environ, **python_env, **weir_env(fields)}
        yield Cluster(spark.master_url, config, env, specs, timings, spark)
        store = DynamoOnlineStore(config)
        for name in GROUPS:
            store.drop_table(name)
    finally:
        spark.stop()
        print("cluster timings (s):", {k: round(v, 1) for k, v in timings.items()})


def write_source(cluster: Cluster, table: str, events: list[dict[str, Any]]) -> None:
    """The events as a Delta source table partitioned by day (delta-rs: no Spark needed)."""
    import pyarrow as pa
    from deltalake import write_deltalake

    from weir.lake.delta_log import delta_rs_uri
    from weir.lake.s3 import delta_rs_storage_options

    path = cluster.config.table_path(table)
    rows = [{**e, "event_ts": e["event_ts"].replace(tzinfo=UTC), "ds": e["event_ts"].date()} for e in events]
    write_deltalake(delta_rs_uri(path), pa.Table.from_pylist(rows), partition_by=["ds"],
                    storage_options=delta_rs_storage_options(path, cluster.config))


def write_spine(cluster: Cluster, path: str, spine: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    from weir.lake.delta_log import delta_rs_uri
    from weir.lake.s3 import delta_rs_storage_options

    rows = [{**s, "ts": s["ts"].replace(tzinfo=UTC)} for s in spine]
    write_deltalake(delta_rs_uri(path), pa.Table.from_pylist(rows),
                    storage_options=delta_rs_storage_options(path, cluster.config))


def assert_served(config: RuntimeConfig, group: FeatureGroup, events: list[dict[str, Any]], t: datetime) -> None:
    """Every entity's online values at ``t`` equal the oracle's over ``events``."""
    from weir.online.client import OnlineClient

    expected = group_values(group, events, t)
    users = sorted(u for (u,) in expected)
    results = OnlineClient(config, groups=[group]).get_features([group.name], [{"user_id": u} for u in users], at=t)
    for user, res in zip(users, results, strict=True):
        got, want = res.groups[group.name], dict(expected[(user,)])
        assert got.found and us(got.event_ts) == want.pop("newest_event_us"), user
        for col, value in want.items():
            assert same_value(got.values[col], value), f"{col} of {user} at {t}: served {got.values[col]}, " \
                                                       f"oracle {value}"


@contextlib.contextmanager
def moto_s3(work_dir: Path, bucket: str = BUCKET) -> Iterator[str]:
    """A moto server of its own for S3 on a free loopback port, with ``bucket`` created; yields its endpoint."""
    import boto3

    from weir.process import free_port, port_in_use

    port = free_port()
    log = work_dir / "moto.log"
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
            Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": AWS_ENV["AWS_REGION"]})
        yield endpoint
    finally:
        proc.terminate()
        proc.wait(timeout=15)

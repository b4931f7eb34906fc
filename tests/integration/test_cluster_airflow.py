"""A feature group's Airflow DAG run whose Spark jobs run on the standalone cluster (issue #17, item 5).

The DAG is the one the factory builds for every spec (``weir__<group>``, as ``dags/`` parses it), run with
``dag.test`` on a private Airflow home (SQLite, migrated here): compute, validate and publish are real
``spark-submit`` jobs whose ``--master`` is the session's cluster (``WEIR_SPARK_MASTER``, the same profile field
docker-compose.yml sets), check_freshness runs in the worker. Checked:

- the day's feature rows and the values served online equal the plain-Python oracle (tests/oracle.py) over the
  source events, and every step's run status is ``success``;
- the jobs ran on the cluster: the master lists one finished application per Spark task, and each of them had
  executors on the workers (their work directories), the two workers between them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from builders import make_events
from cluster_support import ROOT, Cluster, Row, assert_served, write_source
from oracle import assert_feature_rows_match

from weir.runtime import RuntimeConfig, build_config, load_config

pytestmark = pytest.mark.integration

GROUP = "cluster_airflow"
SOURCE = "cluster_airflow_source"
DAG_ID = f"weir__{GROUP}"
DAY = date(2026, 2, 16)
SPARK_TASKS = ("compute", "validate", "publish")


@pytest.fixture(scope="module")
def airflow_on_cluster(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RuntimeConfig]:
    """The environment of an Airflow worker deployed against the cluster: the cluster's profile fields as
    ``WEIR_*`` (master, lake, specs, online prefix) and a migrated Airflow home of its own."""
    tmp = tmp_path_factory.mktemp("airflow_on_cluster")
    home = tmp / "airflow"
    home.mkdir()
    env = {
        **{k: v for k, v in cluster.env.items() if k.startswith("WEIR_")},
        "PYTHONPATH": cluster.env["PYTHONPATH"], "PYSPARK_PYTHON": sys.executable,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(tmp / "no_plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
    }
    mp = pytest.MonkeyPatch()
    for key, value in env.items():
        mp.setenv(key, value)
    load_config.cache_clear()
    try:
        migrate = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
                                 capture_output=True, text=True, timeout=600, env={**os.environ})
        assert migrate.returncode == 0, migrate.stderr[-3000:]
        if "airflow.settings" in sys.modules:  # Airflow was imported earlier in this session: point it at our DB
            from airflow import settings

            settings.SQL_ALCHEMY_CONN = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
            settings.configure_orm()
        config = build_config()
        assert config.spark_master == cluster.master_url and config.specs_dir == cluster.specs
        yield config
    finally:
        mp.undo()
        load_config.cache_clear()


def test_dag_run_on_the_cluster_equals_the_oracle(cluster: Cluster, airflow_on_cluster: RuntimeConfig) -> None:
    from weir.airflow.factory import build_dags
    from weir.pipeline.status import read_status

    config = airflow_on_cluster
    assert cluster.spark is not None
    group = cluster.group(GROUP)
    events = make_events(40, seed=23, users=6, start=datetime.combine(DAY, datetime.min.time()), span_h=23.9,
                         merchants=4)
    write_source(cluster, SOURCE, events)
    before = {a["id"] for a in cluster.spark.applications()}

    began = time.monotonic()
    run = build_dags()[DAG_ID].test(logical_date=datetime.combine(DAY, datetime.min.time(), tzinfo=UTC))
    cluster.timings["airflow dag run"] = time.monotonic() - began
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert states == dict.fromkeys((*SPARK_TASKS, "check_freshness"), "success"), states

    # the day's features and the online values equal the oracle over the source events
    rows = [Row(r) for r in cluster.read(config.table_path(f"features/{GROUP}"))]
    assert {r["ds"] for r in rows} == {DAY}
    assert_feature_rows_match(group, events, rows, [DAY])
    assert_served(config, group, events, datetime.combine(DAY + timedelta(days=1), datetime.min.time()))
    status = read_status(config, GROUP)
    assert {s: status[s]["state"] for s in (*SPARK_TASKS, "check_freshness")} == dict.fromkeys(
        (*SPARK_TASKS, "check_freshness"), "success")
    assert status["publish"]["summary"]["written"] == len(rows)

    # each Spark task was an application of the standalone master, with executors on its workers
    apps = [a for a in cluster.spark.applications() if a["id"] not in before and GROUP in a["name"]]
    assert sorted(a["name"].split("-")[1] for a in apps) == sorted(SPARK_TASKS), apps
    assert {a["state"] for a in apps} == {"FINISHED"}, apps
    workers: set[str] = set()
    for app in apps:
        executors = cluster.spark.executor_dirs(app["id"])
        assert executors, f"{app['name']} ({app['id']}) had no executor on the workers"
        workers |= {e.parent.parent.name for e in executors}
    assert workers == {"worker-0", "worker-1"}

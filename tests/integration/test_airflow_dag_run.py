"""A feature group's DAG run through Airflow (``dag.test``) on the local stack: a planted validation failure.

The day is computed and published first (in-process, the same functions the compute and publish tasks run);
then ``dag.test`` with compute marked successful runs the validate task as a real ``spark-submit`` job against a
spec with an impossible expectation: validate fails (no retry), publish and check_freshness never run, and the
online store keeps its values. The DAG's success path through Airflow is tested with the scheduler
(``test_airflow_backfill.py``: two days, every task, tables equal ``weir backfill``'s) and through ``dag.test``
on the Spark cluster (``test_cluster_airflow.py``: values against the oracle).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from weir.runtime import RuntimeConfig, build_config, load_config
from weir.spark_jars import ivy_home

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DAY = date(2026, 3, 2)
LOGICAL_DATE = datetime(2026, 3, 2, tzinfo=UTC)
DAG_ID = "weir__user_spend"
FAILING_EXPECTATION = ("  - {expectation: ExpectColumnValuesToBeBetween, "
                       "kwargs: {column: txn_count_1d, max_value: -1}}\n")


@dataclass
class AirflowEnv:
    config: RuntimeConfig
    mp: pytest.MonkeyPatch
    bad_specs: Path


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory: pytest.TempPathFactory, weir_config: RuntimeConfig, stack: RuntimeConfig,
                spark: Any) -> Iterator[AirflowEnv]:
    """A private Airflow home (SQLite, migrated once), Weir's dags/, a private state dir and online prefix."""
    tmp = tmp_path_factory.mktemp("airflow_dag_run")
    home = tmp / "airflow"
    home.mkdir()
    mp = pytest.MonkeyPatch()
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(tmp / "no_plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "WEIR_STATE_DIR": str(tmp / "state"),
        "WEIR_SPECS_DIR": str(ROOT / "feature_specs"),
        "WEIR_DYNAMODB_TABLE_PREFIX": f"weir_af{uuid.uuid4().hex[:6]}_",
        "WEIR_SPARK_IVY_DIR": str(ivy_home(weir_config)),  # the download cache the session filled
    }
    for k, v in env.items():
        mp.setenv(k, v)
    load_config.cache_clear()
    migrate = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
                             capture_output=True, text=True, timeout=600, env={**os.environ})
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    if "airflow.settings" in sys.modules:  # Airflow was imported earlier in this session: point it at our DB
        from airflow import settings

        settings.SQL_ALCHEMY_CONN = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        settings.configure_orm()

    from weir.demo import generate, write_demo_tables

    config = build_config()
    data = generate(11, datetime(2026, 3, 1), 2, 40, 10, 2.0)
    write_demo_tables(spark, data, config.lake)

    bad = tmp / "bad_specs"
    bad.mkdir()
    text = (ROOT / "feature_specs" / "user_spend.yaml").read_text()
    (bad / "user_spend.yaml").write_text(text.rstrip("\n") + "\n" + FAILING_EXPECTATION)
    yield AirflowEnv(config, mp, bad)
    mp.undo()
    load_config.cache_clear()


def run_dag(mark_success: str | None = None) -> dict[str, str]:
    """``dag.test`` of weir__user_spend for DAY, with the DAG parsed from dags/ under the current environment."""
    from weir.airflow.factory import build_dags

    load_config.cache_clear()
    dag = build_dags()[DAG_ID]
    run = dag.test(logical_date=LOGICAL_DATE, mark_success_pattern=mark_success)
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def online_items(config: RuntimeConfig) -> list[dict[str, int]]:
    from weir.pipeline.steps import online_sample

    return sorted(online_sample(config, "user_spend", limit=1000), key=lambda i: (i["run_us"], i["newest_event_us"]))


@pytest.fixture(scope="module")
def good_day(airflow_env: AirflowEnv, spark: Any) -> None:
    """DAY computed and published, as the compute and publish tasks leave it."""
    from weir.batch import run_day
    from weir.online.publish import publish
    from weir.spec.loader import find_spec

    config = airflow_env.config
    group = find_spec("user_spend", config.specs_dir)
    run_day(spark, group, DAY, config)
    assert publish(spark, group, DAY, config, progress=False, log=False).written > 0


def test_failed_validation_fails_the_task_and_publishes_nothing(good_day: None, airflow_env: AirflowEnv) -> None:
    from weir.pipeline.status import read_status

    config = airflow_env.config
    before = online_items(config)
    assert before
    airflow_env.mp.setenv("WEIR_SPECS_DIR", str(airflow_env.bad_specs))
    try:
        states = run_dag(mark_success="^compute$")  # the feature partition exists: validate it with the bad spec
    finally:
        airflow_env.mp.setenv("WEIR_SPECS_DIR", str(ROOT / "feature_specs"))
        load_config.cache_clear()
    assert states["validate"] == "failed"
    assert states["publish"] == "upstream_failed" and states["check_freshness"] == "upstream_failed"
    assert online_items(config) == before  # the online store keeps its last good values

    validation = read_status(config, "user_spend")["validate"]
    assert validation["state"] == "failed" and validation["ds"] == DAY.isoformat()
    report = validation["summary"]["report_path"]
    assert report and Path(report).exists()
    # the Weir view serves the failed run's report from the lake (any host), the same page as on the task's disk
    from fastapi.testclient import TestClient

    from weir.airflow.view import create_app

    with TestClient(create_app(lambda: config, dag_runs=lambda ids: {}, auth=lambda: None)) as http:
        page = http.get(f"/report/user_spend/{DAY.isoformat()}")
        assert page.status_code == 200 and page.text == Path(report).read_text(encoding="utf-8")
        assert "FAILED" in page.text
        assert http.get("/report/user_spend/2020-01-01").status_code == 404
        assert http.get("/report/user_spend/not-a-day").status_code == 400
    assert "txn_count_1d" in " ".join(validation["summary"]["failed"])
    shutil.rmtree(airflow_env.bad_specs, ignore_errors=True)

"""The loopback bind (``SPARK_LOCAL_IP=127.0.0.1``) only for masters whose executors run on this host."""

from __future__ import annotations

from pathlib import Path

import pytest

from weir.airflow.local import airflow_env
from weir.airflow.submit import job_env
from weir.runtime import build_config
from weir.spark import driver_bind_env, is_local_master

LOCAL = ["local", "local[2]", "local[*]", "local[4,2]", "local-cluster[2,1,1024]", "spark://127.0.0.1:7077",
         "spark://localhost:7077"]
REMOTE = ["yarn", "k8s://https://k8s-api:443", "spark://spark-master:7077", "spark://10.0.0.5:7077",
          "spark://127.0.0.1:7077,10.0.0.6:7077", "mesos://m:5050"]


@pytest.mark.parametrize("master", LOCAL)
def test_local_masters_bind_the_driver_to_loopback(master: str) -> None:
    assert is_local_master(master)
    assert driver_bind_env(master) == {"SPARK_LOCAL_IP": "127.0.0.1"}


@pytest.mark.parametrize("master", REMOTE)
def test_cluster_masters_leave_the_driver_address_to_spark(master: str) -> None:
    assert not is_local_master(master)
    assert driver_bind_env(master) == {}


def test_spark_submit_env_binds_loopback_only_for_a_local_master(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    monkeypatch.delenv("SPARK_LOCAL_IP", raising=False)
    assert job_env(build_config(state_dir=tmp_path, spark_master="local[2]"))["SPARK_LOCAL_IP"] == "127.0.0.1"
    assert "SPARK_LOCAL_IP" not in job_env(build_config(state_dir=tmp_path, spark_master="yarn"))
    assert "SPARK_LOCAL_IP" not in airflow_env(build_config(state_dir=tmp_path, spark_master="yarn"))
    monkeypatch.setenv("SPARK_LOCAL_IP", "10.1.2.3")  # the deployment's choice wins
    assert job_env(build_config(state_dir=tmp_path, spark_master="local[2]"))["SPARK_LOCAL_IP"] == "10.1.2.3"

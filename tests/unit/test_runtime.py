"""The runtime config: defaults, profile file, env overrides, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from weir.airflow.local import airflow_home
from weir.runtime import build_config


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("WEIR_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_defaults_point_at_the_embedded_local_stack() -> None:
    config = build_config()
    assert config.spark_master.startswith("local")
    assert config.kafka_bootstrap_servers.startswith("127.0.0.1:")
    assert config.dynamodb_endpoint.startswith("http://127.0.0.1:")
    assert config.lake == str(config.state_dir / "lake")
    assert config.checkpoints == str(config.state_dir / "checkpoints")
    assert airflow_home(config) == config.state_dir / "airflow"


def test_env_overrides_profile_and_profile_overrides_defaults(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    profile = tmp_path / "prod.yaml"
    profile.write_text("kafka_bootstrap_servers: broker-1:9092\nspark_master: spark://m:7077\n"
                       "dynamodb_endpoint: ''\n")
    monkeypatch.setenv("WEIR_PROFILE", str(profile))
    monkeypatch.setenv("WEIR_SPARK_MASTER", "yarn")
    config = build_config()
    assert config.kafka_bootstrap_servers == "broker-1:9092"
    assert config.spark_master == "yarn"
    assert config.dynamodb_endpoint == ""
    assert config.dynamodb_port is None


def test_weir_yaml_in_working_directory_is_the_default_profile(tmp_path: Path) -> None:
    (tmp_path / "weir.yaml").write_text("lake_path: s3a://bucket/lake\n")
    assert build_config().table_path("transactions") == "s3a://bucket/lake/transactions"


def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEIR_SPARK_SHUFFLE_PARTITIONS", "many")
    with pytest.raises(ValueError, match="WEIR_SPARK_SHUFFLE_PARTITIONS"):
        build_config()


def test_unknown_profile_key_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = tmp_path / "p.yaml"
    profile.write_text("kafka_bootstrap: x:1\n")
    monkeypatch.setenv("WEIR_PROFILE", str(profile))
    with pytest.raises(ValueError, match="KAFKA_BOOTSTRAP"):
        build_config()


def test_missing_profile_named_by_env_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEIR_PROFILE", "/nonexistent/weir.yaml")
    with pytest.raises(FileNotFoundError, match="WEIR_PROFILE"):
        build_config()


def test_env_round_trips_for_child_processes() -> None:
    config = build_config(kafka_bootstrap_servers="k:1", spark_ui=True)
    env = config.env()
    assert env["WEIR_KAFKA_BOOTSTRAP_SERVERS"] == "k:1"
    assert env["WEIR_SPARK_UI"] == "true"

"""The lake on S3: Spark's S3A settings, delta-rs's storage options and the hadoop-aws jar from one config."""

from __future__ import annotations

from pathlib import Path

import pyspark
import pytest

from weir.lake.delta_log import delta_rs_uri
from weir.lake.s3 import S3_LOG_STORE, delta_rs_storage_options, s3a_spark_conf
from weir.runtime import build_config
from weir.spark_jars import hadoop_version, spark_packages

S3 = {"lake_path": "s3a://credit-lake/weir", "checkpoint_path": "s3a://credit-lake/ck"}


def test_a_local_lake_needs_no_s3_settings_and_no_hadoop_aws(tmp_path: Path) -> None:
    config = build_config(lake_path=str(tmp_path / "lake"), checkpoint_path=str(tmp_path / "ck"))
    assert not config.uses_s3a
    assert s3a_spark_conf(config) == {}
    assert delta_rs_storage_options(config.table_path("features/g"), config) is None
    assert not any("hadoop-aws" in p for p in spark_packages(config))


def test_an_s3a_lake_on_aws_gets_region_and_the_log_store_but_no_endpoint_and_no_keys() -> None:
    config = build_config(**S3, s3_region="us-east-1")
    conf = s3a_spark_conf(config)
    assert conf == {"spark.hadoop.fs.s3a.endpoint.region": "us-east-1",
                    "spark.hadoop.fs.s3a.path.style.access": "false",
                    "spark.delta.logStore.s3a.impl": S3_LOG_STORE}
    options = delta_rs_storage_options(config.table_path("features/g"), config)
    assert options == {"AWS_REGION": "us-east-1", "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "true"}
    assert not any("KEY" in k.upper() or "SECRET" in k.upper() for k in [*conf, *options])


def test_an_s3_compatible_endpoint_is_addressed_path_style_over_http_by_spark_and_delta_rs() -> None:
    config = build_config(**S3, s3_endpoint="http://127.0.0.1:9000", s3_path_style_access=True)
    conf = s3a_spark_conf(config)
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:9000"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] == "false"
    path = config.table_path("features/g")
    assert delta_rs_uri(path) == "s3://credit-lake/weir/features/g"
    assert delta_rs_storage_options(path, config) == {
        "AWS_REGION": "eu-west-1", "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ALLOW_HTTP": "true"}


def test_checkpoints_alone_on_s3a_also_bring_hadoop_aws(tmp_path: Path) -> None:
    config = build_config(lake_path=str(tmp_path / "lake"), checkpoint_path="s3a://b/ck")
    assert config.uses_s3a and s3a_spark_conf(config)


def test_hadoop_aws_matches_the_hadoop_pyspark_ships() -> None:
    shipped = {p.name for p in (Path(pyspark.__file__).parent / "jars").glob("hadoop-client-api-*.jar")}
    assert shipped == {f"hadoop-client-api-{hadoop_version()}.jar"}
    assert f"org.apache.hadoop:hadoop-aws:{hadoop_version()}" in spark_packages(build_config(**S3))
    assert f"org.apache.hadoop:hadoop-aws:{hadoop_version()}" in spark_packages(build_config(), s3a=True)


def test_jars_are_shipped_by_default_and_read_in_place_when_preinstalled() -> None:
    from weir.spark import jar_conf

    jars = [Path("/opt/jars/a.jar"), Path("/opt/jars/b.jar")]
    assert jar_conf(build_config(), jars) == {"spark.jars": "/opt/jars/a.jar,/opt/jars/b.jar"}
    assert jar_conf(build_config(spark_jars_preinstalled=True), jars) == {
        "spark.driver.extraClassPath": "/opt/jars/a.jar:/opt/jars/b.jar",
        "spark.executor.extraClassPath": "/opt/jars/a.jar:/opt/jars/b.jar"}


def test_jars_read_in_place_leave_out_what_pyspark_ships_in_another_version() -> None:
    from weir.spark_jars import jar_artifact, not_in_pyspark

    assert jar_artifact(Path("com.fasterxml.jackson.core__jackson-databind-2.13.5.jar")) == "jackson-databind"
    assert jar_artifact(Path("jackson-module-scala_2.13-2.20.0.jar")) == "jackson-module-scala_2.13"
    assert jar_artifact(Path("io.delta__delta-spark_4.1_2.13-4.4.0.jar")) == "delta-spark_4.1_2.13"
    jars = [Path("/j/com.fasterxml.jackson.core__jackson-databind-2.13.5.jar"),
            Path("/j/org.apache.hadoop__hadoop-client-api-3.4.2.jar"),
            Path("/j/io.delta__delta-spark_4.1_2.13-4.4.0.jar"),
            Path("/j/org.apache.hadoop__hadoop-aws-3.4.2.jar")]
    assert not_in_pyspark(jars) == jars[2:]


def test_jars_left_out_under_spark_submit_where_pyspark_is_a_zip(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Under spark-submit pyspark is imported from ``pyspark.zip`` (no ``jars/`` beside it): Spark's own jars are
    found through SPARK_HOME, so the old Jackson still stays off the executors' class path."""
    from weir.spark_jars import not_in_pyspark, spark_jars_dir

    home = tmp_path / "spark"
    (home / "jars").mkdir(parents=True)
    (home / "jars" / "jackson-core-2.20.0.jar").write_bytes(b"")
    monkeypatch.setattr(pyspark, "__file__", str(home / "python" / "lib" / "pyspark.zip" / "pyspark" / "__init__.py"))
    monkeypatch.setenv("SPARK_HOME", str(home))
    jars = [Path("/j/com.fasterxml.jackson.core__jackson-core-2.13.5.jar"), Path("/j/io.delta__delta-spark.jar")]
    assert spark_jars_dir() == home / "jars"
    assert not_in_pyspark(jars) == jars[1:]

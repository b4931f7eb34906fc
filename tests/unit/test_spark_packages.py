"""The Spark session factory asks Maven Central for jars that match the installed Python packages."""

from __future__ import annotations

from importlib.metadata import version

from weir.runtime import build_config
from weir.spark import spark_packages, write_ivy_settings


def test_packages_match_installed_pyspark_and_delta(tmp_path) -> None:  # type: ignore[no-untyped-def]
    spark_v, delta_v = version("pyspark"), version("delta-spark")
    mm = ".".join(spark_v.split(".")[:2])
    packages = spark_packages(build_config(state_dir=tmp_path, spark_extra_packages="a:b:1, c:d:2"))
    assert f"io.delta:delta-spark_{mm}_2.13:{delta_v}" in packages
    assert f"org.apache.spark:spark-sql-kafka-0-10_2.13:{spark_v}" in packages
    assert packages[-2:] == ["a:b:1", "c:d:2"]


def test_ivy_settings_resolve_from_the_configured_repository_only(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = build_config(state_dir=tmp_path, maven_repo="https://mirror.example/m2", spark_ivy_dir=str(tmp_path))
    text = write_ivy_settings(config).read_text()
    assert "https://mirror.example/m2" in text
    assert f"{tmp_path}/cache" in text
    assert "spark-packages" not in text

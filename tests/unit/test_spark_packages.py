"""The Spark session factory asks Maven Central for jars that match the installed Python packages."""

from __future__ import annotations

from importlib.metadata import version

from weir.runtime import build_config
from weir.spark import spark_packages, write_ivy_settings
from weir.spark_jars import MANIFEST, ivy_module_text, jars_dir, resolved_jars


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
    assert ".m2" not in text and "file:" not in text and text.count("<ibiblio ") == 1  # nothing local is trusted


def test_ivy_module_asks_for_runtime_jars_without_what_pyspark_ships() -> None:
    text = ivy_module_text(["io.delta:delta-spark_4.1_2.13:4.4.0", "a:b:1"])
    assert 'org="io.delta" name="delta-spark_4.1_2.13" rev="4.4.0" conf="default->default(runtime)"' in text
    assert 'org="a" name="b" rev="1"' in text
    assert 'module="spark-core_.*"' in text and 'module="scala-library"' in text


def test_jars_dir_changes_with_the_repository_and_the_coordinates(tmp_path) -> None:  # type: ignore[no-untyped-def]
    base = build_config(state_dir=tmp_path)
    assert jars_dir(base).parent == tmp_path / "jars" / "spark"
    assert jars_dir(base) != jars_dir(build_config(state_dir=tmp_path, maven_repo="https://mirror.example/m2"))
    assert jars_dir(base) != jars_dir(build_config(state_dir=tmp_path, spark_extra_packages="a:b:1"))


def test_a_jar_missing_from_the_resolved_directory_makes_it_incomplete(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert resolved_jars(tmp_path) is None
    (tmp_path / "a.jar").write_bytes(b"x")
    (tmp_path / "b.jar").write_bytes(b"y")
    (tmp_path / MANIFEST).write_text("a.jar\nb.jar\n")
    assert resolved_jars(tmp_path) == [tmp_path / "a.jar", tmp_path / "b.jar"]
    (tmp_path / "b.jar").unlink()
    assert resolved_jars(tmp_path) is None

"""Spark session factory: master from the runtime config, Delta Lake and the Kafka connector from Maven Central."""

from __future__ import annotations

import os
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from weir.runtime import RuntimeConfig, load_config

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def spark_packages(config: RuntimeConfig | None = None) -> list[str]:
    """Maven coordinates matching the installed pyspark and delta-spark (resolved by Spark, cached in Ivy)."""
    config = config or load_config()
    spark_v = version("pyspark")
    delta_v = version("delta-spark")
    major_minor = ".".join(spark_v.split(".")[:2])
    packages = [
        f"io.delta:delta-spark_{major_minor}_2.13:{delta_v}",
        f"org.apache.spark:spark-sql-kafka-0-10_2.13:{spark_v}",
    ]
    packages += [p.strip() for p in config.spark_extra_packages.split(",") if p.strip()]
    return packages


IVY_SETTINGS = """<ivysettings>
  <settings defaultResolver="weir"/>
  <caches defaultCacheDir="{cache}"/>
  <resolvers>
    <chain name="weir" returnFirst="true">
      <ibiblio name="local-m2-cache" m2compatible="true" root="file://{m2}"/>
      <ibiblio name="central" m2compatible="true" root="{repo}"/>
    </chain>
  </resolvers>
</ivysettings>
"""


def write_ivy_settings(config: RuntimeConfig) -> Path:
    """Ivy settings resolving only from the local Maven cache and Maven Central (no other hosts tried).

    Resolved jars are cached in ``spark_ivy_dir`` (default ``~/.ivy2.5.2``), so a second start needs no network.
    """
    cache = Path(config.spark_ivy_dir or Path.home() / ".ivy2.5.2") / "cache"
    path = config.state_dir / "ivysettings.xml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = IVY_SETTINGS.format(cache=cache, m2=Path.home() / ".m2" / "repository", repo=config.maven_repo)
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def get_spark(app_name: str = "weir", config: RuntimeConfig | None = None) -> SparkSession:
    """Return the active SparkSession or build one for ``config`` (local mode by default).

    Under ``spark-submit`` the session that spark-submit configured is reused as is.
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    config = config or load_config()
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", os.environ.get("PYSPARK_PYTHON", "python3"))
    builder = (
        SparkSession.builder.appName(app_name)
        .master(config.spark_master)
        .config("spark.jars.packages", ",".join(spark_packages(config)))
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.shuffle.partitions", str(config.spark_shuffle_partitions))
        .config("spark.driver.memory", config.spark_driver_memory)
        .config("spark.ui.enabled", str(config.spark_ui).lower())
        .config("spark.ui.showConsoleProgress", "true")
        .config("spark.databricks.delta.schema.autoMerge.enabled", "false")
        .config("spark.databricks.delta.snapshotPartitions", "2")
        .config("spark.sql.warehouse.dir", str(config.state_dir / "spark-warehouse"))
        .config("spark.driver.extraJavaOptions", "-Dderby.system.home=" + str(config.state_dir / "derby"))
    )
    builder = builder.config("spark.jars.ivySettings", str(write_ivy_settings(config)))
    # catalog (weir.catalog): the team's metastore when configured, else the in-memory one, attached below
    if config.catalog_metastore_uri:
        builder = builder.enableHiveSupport().config("spark.hadoop.hive.metastore.uris", config.catalog_metastore_uri)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    if not config.catalog_metastore_uri:
        from weir.catalog import attach

        attach(spark, config)
    return spark

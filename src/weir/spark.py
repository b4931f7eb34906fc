"""Spark session factory: master from the runtime config; Delta Lake and the Kafka connector as resolved jars.

The jars are resolved once into the state dir (``weir.spark_jars``) and passed with ``spark.jars``: no Ivy run,
no ``~/.m2`` and no shared mutable copy at session start, so concurrent starts cannot break each other.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from weir.runtime import RuntimeConfig, load_config
from weir.spark_jars import spark_jars, spark_packages, write_ivy_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def is_local_master(master: str) -> bool:
    """True when driver and executors all run on this host: ``local``, ``local[...]``, ``local-cluster[...]``,
    or a standalone master on a loopback address (``spark://127.0.0.1:7077``, the tests' cluster)."""
    m = master.strip().lower()
    if m == "local" or m.startswith(("local[", "local-cluster[")):
        return True
    if m.startswith("spark://"):
        hosts = [h.rsplit(":", 1)[0] for h in m[len("spark://"):].split(",")]
        return all(h in LOOPBACK_HOSTS for h in hosts)
    return False


def driver_bind_env(master: str) -> dict[str, str]:
    """``SPARK_LOCAL_IP=127.0.0.1`` for a local master, nothing otherwise.

    On one machine the loopback bind keeps the driver off the network (and off a wrong interface). On a
    cluster (YARN, Kubernetes, a remote standalone master) the executors must reach the driver in client mode,
    so Spark's own choice of address stands, or the deployment's ``SPARK_LOCAL_IP``/``spark.driver.host``.
    Callers use ``setdefault``: an explicit ``SPARK_LOCAL_IP`` always wins.
    """
    return {"SPARK_LOCAL_IP": "127.0.0.1"} if is_local_master(master) else {}


def get_spark(app_name: str = "weir", config: RuntimeConfig | None = None) -> SparkSession:
    """Return the active SparkSession or build one for ``config`` (local mode by default).

    Under ``spark-submit`` the session that spark-submit configured is reused as is. The first start of a
    checkout resolves the jars (``weir jars resolve``, network needed); later starts only read them.
    """
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    config = config or load_config()
    for key, value in driver_bind_env(config.spark_master).items():
        os.environ.setdefault(key, value)
    # executors run Weir code (the stream's online writes): locally, this interpreter (its venv's packages)
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable if is_local_master(config.spark_master) else "python3")
    builder = (
        SparkSession.builder.appName(app_name)
        .master(config.spark_master)
        .config("spark.jars", ",".join(str(j) for j in spark_jars(config)))
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
    # catalog (weir.catalog): the team's metastore when configured, else the in-memory one, attached below
    if config.catalog_metastore_uri:
        builder = builder.enableHiveSupport().config("spark.hadoop.hive.metastore.uris", config.catalog_metastore_uri)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    if not config.catalog_metastore_uri:
        from weir.catalog import attach

        attach(spark, config)
    return spark


__all__ = ["driver_bind_env", "get_spark", "is_local_master", "spark_jars", "spark_packages", "write_ivy_settings"]

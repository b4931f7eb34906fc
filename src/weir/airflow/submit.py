"""The spark-submit command of a Weir job, built from the runtime config (pure Python, no Airflow)."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from weir.jobs import JOBS
from weir.pipeline.job import RESULT_PREFIX
from weir.runtime import RuntimeConfig


def spark_submit_binary() -> str:
    """``$SPARK_HOME/bin/spark-submit``, else the one next to this Python (pyspark's), else on PATH."""
    home = os.environ.get("SPARK_HOME")
    if home and (Path(home) / "bin" / "spark-submit").exists():
        return str(Path(home) / "bin" / "spark-submit")
    local = Path(sys.executable).parent / "spark-submit"
    if local.exists():
        return str(local)
    found = shutil.which("spark-submit")
    if not found:
        raise FileNotFoundError("spark-submit not found: install pyspark in this environment or set SPARK_HOME")
    return found


def job_script(config: RuntimeConfig, job: str) -> Path:
    """The job's entry point inside the installed package (``weir/jobs/<job>.py``), not in a checkout."""
    from weir.jobs import job_file

    if job not in JOBS:
        raise ValueError(f"unknown Weir job {job!r}; one of: {', '.join(sorted(JOBS))}")
    return job_file(job)


def spark_submit_command(config: RuntimeConfig, job: str, args: list[str], app_name: str | None = None,
                         binary: str | None = None) -> list[str]:
    """``spark-submit --master <config> --jars <Delta, Kafka> ... weir/jobs/<job>.py <args>``.

    The same resolved jar files as :func:`weir.spark.get_spark` (resolved first if missing), so a task never
    runs Ivy and parallel tasks share nothing mutable.
    """
    from weir.lake.s3 import s3a_spark_conf
    from weir.spark import jar_conf
    from weir.spark_jars import spark_jars

    # the jars shipped (spark.jars) or read in place (class path: set at launch, before the driver JVM starts)
    launch = [arg for key, value in {**jar_conf(config, spark_jars(config)), **s3a_spark_conf(config)}.items()
              for arg in (("--jars", value) if key == "spark.jars" else ("--conf", f"{key}={value}"))]
    return [
        binary or spark_submit_binary(),
        "--master", config.spark_master,
        "--name", app_name or f"weir-{job}",
        "--driver-memory", config.spark_driver_memory,
        *launch,
        "--conf", "spark.sql.session.timeZone=UTC",
        "--conf", f"spark.ui.enabled={str(config.spark_ui).lower()}",
        "--conf", "spark.ui.showConsoleProgress=false",
        str(job_script(config, job)),
        *args,
    ]


def job_env(config: RuntimeConfig) -> dict[str, str]:
    """The environment of a job: this process's, plus the runtime config as ``WEIR_*`` and Spark's basics
    (the loopback bind only for a local master: :func:`weir.spark.driver_bind_env`)."""
    from weir.spark import driver_bind_env

    env = {**os.environ, **config.env()}
    for key, value in driver_bind_env(config.spark_master).items():
        env.setdefault(key, value)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def parse_result(line: str) -> dict[str, Any] | None:
    """The summary a job printed (``WEIR_RESULT {...}``), or None for any other line."""
    if not line.startswith(RESULT_PREFIX):
        return None
    try:
        value = json.loads(line[len(RESULT_PREFIX):])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None

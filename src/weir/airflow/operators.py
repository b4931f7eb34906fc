"""Thin Airflow operators over ``weir.pipeline.steps``: they read templated arguments and call Weir, nothing more.

- :class:`WeirSparkJobOperator` runs a Spark step (compute, validate, publish) as ``spark-submit weir/jobs/<job>.py``
  against the configured master, so the Spark driver lives outside the Airflow worker and the same task runs
  on a laptop (``local[2]``) or a cluster (``--master yarn``/``spark://``/``k8s://``); the job's summary becomes
  the task's XCom. A failed validation or a spec error fails the task without retries (a retry cannot fix it).
- :class:`WeirTaskOperator` calls a light ``weir.pipeline.steps`` function in the worker (freshness check, streaming
  supervisor): no Spark involved.
"""

from __future__ import annotations

import importlib
import subprocess
from collections.abc import Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from weir.pipeline.job import EXIT_SPEC_ERROR, EXIT_VALIDATION_FAILED

TAIL_LINES = 40


class WeirSparkJobOperator(BaseOperator):
    """``spark-submit weir/jobs/<job>.py --group <group> --ds <ds>`` with the runtime config of this worker."""

    template_fields: Sequence[str] = ("ds",)
    ui_color = "#f4a261"

    def __init__(self, *, job: str, group: str, ds: str = "{{ ds }}", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.group = group
        self.ds = ds

    def execute(self, context: Any) -> dict[str, Any] | None:
        from weir.airflow.submit import job_env, parse_result, spark_submit_command
        from weir.runtime import build_config

        config = build_config()
        cmd = spark_submit_command(config, self.job, ["--group", self.group, "--ds", self.ds],
                                   app_name=f"weir-{self.job}-{self.group}-{self.ds}")
        self.log.info("running: %s", " ".join(cmd))
        result: dict[str, Any] | None = None
        tail: list[str] = []
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                                env=job_env(config), cwd=str(config.project_root))
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                line = raw.rstrip("\n")
                parsed = parse_result(line)
                if parsed is not None:
                    result = parsed
                    continue
                self.log.info("%s", line)
                tail = [*tail[-(TAIL_LINES - 1):], line]
            code = proc.wait()
        except BaseException:
            proc.kill()  # the task was killed or timed out: do not leave the Spark driver behind
            proc.wait()
            raise
        if code == 0:
            self.log.info("%s %s %s: %s", self.job, self.group, self.ds, result)
            return result
        message = f"{self.job} of {self.group} for {self.ds} failed (exit {code}):\n" + "\n".join(tail[-15:])
        if code in (EXIT_VALIDATION_FAILED, EXIT_SPEC_ERROR):
            raise AirflowFailException(message)
        raise AirflowException(message)


class WeirTaskOperator(BaseOperator):
    """Call ``weir.pipeline.steps.<function>(group, [ds])`` in the worker and return its summary."""

    template_fields: Sequence[str] = ("ds",)
    ui_color = "#8ecae6"

    def __init__(self, *, function: str, group: str, ds: str | None = "{{ ds }}", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.function = function
        self.group = group
        self.ds = ds

    def execute(self, context: Any) -> dict[str, Any]:
        from weir.runtime import load_config

        load_config.cache_clear()  # the worker's environment may have changed since the last task
        func = getattr(importlib.import_module("weir.pipeline.steps"), self.function)
        result: dict[str, Any] = func(self.group, self.ds) if self.ds is not None else func(self.group)
        self.log.info("%s %s: %s", self.function, self.group, result)
        return result


__all__ = ["WeirSparkJobOperator", "WeirTaskOperator"]

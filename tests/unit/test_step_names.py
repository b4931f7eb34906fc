"""One verb per step: the DAG task id, the spark-submit job, the pipeline function and the status row agree."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from weir.jobs import job_file
from weir.pipeline import steps

ROOT = Path(__file__).resolve().parents[2]

# Airflow reads AIRFLOW_HOME once: build the DAGs in a fresh interpreter
PROBE = r"""
import json
from weir.airflow.factory import build_dags
out = []
for dag in build_dags().values():
    for t in dag.tasks:
        out.append({"task_id": t.task_id, "job": getattr(t, "job", None), "function": getattr(t, "function", None)})
print("PROBE" + json.dumps(out))
"""


def test_every_task_is_named_after_its_step(tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), "PYTHONPATH": str(ROOT / "src"),
           "WEIR_SPECS_DIR": str(ROOT / "feature_specs"), "WEIR_STATE_DIR": str(tmp_path / "state")}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    tasks = json.loads(out.stdout.split("PROBE", 1)[1])
    assert {t["task_id"] for t in tasks} >= {"compute", "validate", "publish", "check_freshness"}
    for t in tasks:
        step = t["job"] or t["function"]
        assert step in steps.STEPS, t
        assert t["task_id"] == step or t["task_id"].startswith(f"{step}__"), t  # ensure_stream__<group>
        assert callable(getattr(steps, step))
        if t["job"]:
            job = ROOT / "src" / "weir" / "jobs" / f"{step}.py"  # shipped in the package: weir.jobs.job_file
            assert job.is_file() and job_file(step) == job
            assert f"from weir.pipeline.steps import {step}\n" in job.read_text()

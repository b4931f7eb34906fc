"""On call in Airflow: every Weir task carries the failure callback and a runbook link; the maintenance DAG runs
each group's tables, then Weir's own; a failure report names group, step, day, report path and runbook."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from weir.airflow.callbacks import STEP_RUNBOOK, failure_report
from weir.pipeline.status import record_step
from weir.runtime import build_config

ROOT = Path(__file__).resolve().parents[2]
PROBE = r"""
import json
from weir.airflow.callbacks import on_task_failure
from weir.airflow.factory import build_dags
out = {}
for dag_id, dag in build_dags().items():
    out[dag_id] = [{"task_id": t.task_id, "doc": t.doc_md, "upstream": sorted(t.upstream_task_ids),
                    "callback": on_task_failure in (t.on_failure_callback if isinstance(t.on_failure_callback, list)
                                                   else [t.on_failure_callback])} for t in dag.tasks]
print("PROBE" + json.dumps(out))
"""


def _anchors() -> set[str]:
    text = (ROOT / "docs" / "runbook.md").read_text()
    return {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-") for h in re.findall(r"^## (.+)$", text, re.M)}


def test_every_task_fails_loudly_and_links_its_runbook_entry(tmp_path: Path) -> None:
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path / "airflow"), "PYTHONPATH": str(ROOT / "src"),
           "WEIR_SPECS_DIR": str(ROOT / "feature_specs"), "WEIR_STATE_DIR": str(tmp_path / "state")}
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    dags = json.loads(out.stdout.split("PROBE", 1)[1])
    anchors = _anchors()
    assert set(STEP_RUNBOOK.values()) <= anchors
    groups = sorted(p.stem for p in (ROOT / "feature_specs").glob("*.yaml"))
    for g in groups:
        for task in dags[f"weir__{g}"]:
            assert task["callback"], task
            link = re.search(r"docs/runbook\.md#([a-z0-9-]+)", task["doc"] or "")
            assert link and link.group(1) in anchors, task
    maintenance = {t["task_id"]: t for t in dags["weir__maintenance"]}
    order = [f"maintain__{g}" for g in groups] + ["maintain___platform"]
    assert set(maintenance) == set(order)
    assert all(t["callback"] for t in maintenance.values())
    for before, after in itertools.pairwise(order):  # one Spark job at a time
        assert before in maintenance[after]["upstream"]


def test_failure_report_carries_group_step_day_report_and_runbook(tmp_path: Path) -> None:
    config = build_config(state_dir=str(tmp_path), lake_path=str(tmp_path / "lake"))
    os.environ["WEIR_LAKE_PATH"] = config.lake
    try:
        record_step(config, "user_spend", "validate", "2026-10-31", "failed",
                    {"error": "ValidationFailed: 2 of 9 expectations failed",
                     "summary": {"report_path": "/lake/reports/user_spend/2026-10-31.html"}})
        task = SimpleNamespace(task_id="validate", job="validate", group="user_spend")
        ti = SimpleNamespace(dag_id="weir__user_spend", task_id="validate", try_number=1, log_url="http://a/log")
        report = failure_report({"task": task, "task_instance": ti, "ds": "2026-10-31",
                                 "exception": RuntimeError("validate of user_spend for 2026-10-31 failed")})
    finally:
        del os.environ["WEIR_LAKE_PATH"]
    assert report["group"] == "user_spend" and report["step"] == "validate" and report["ds"] == "2026-10-31"
    assert report["report_path"] == "/lake/reports/user_spend/2026-10-31.html"
    assert report["recorded_state"] == "failed"
    assert report["runbook"] == "docs/runbook.md#weirvalidationfailed"
    assert report["log_url"] == "http://a/log" and "failed" in report["error"]

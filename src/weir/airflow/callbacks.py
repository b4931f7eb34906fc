"""What a failed Weir task tells on call: the group, the step, the day, the report and the runbook entry.

``on_task_failure`` is every Weir task's ``on_failure_callback``. It logs one line ``weir task failed: {json}``
(log shippers and alert routers key on it) with the failing step's last recorded result from the lake's
run-status table, which holds the validation report path when a validation failed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

log = logging.getLogger(__name__)

RUNBOOK = "docs/runbook.md"
STEP_RUNBOOK = {
    "compute": "weirpublishmissing",
    "validate": "weirvalidationfailed",
    "publish": "weirpublishmissing",
    "check_freshness": "weirfreshnessslobreached",
    "ensure_stream": "weirstreamdown",
    "maintain": "table-maintenance",
}
"""Each step's runbook section (the anchor of its alert in ``docs/runbook.md``)."""


def runbook_link(step: str) -> str:
    return f"{RUNBOOK}#{STEP_RUNBOOK.get(step, 'where-to-look')}"


def step_of(task: Any) -> str:
    """The pipeline step a Weir task runs (its job or function name; one verb per step)."""
    return str(getattr(task, "job", None) or getattr(task, "function", None) or getattr(task, "task_id", "?"))


def failure_report(context: Mapping[str, Any]) -> dict[str, Any]:
    """The facts of a failed task from Airflow's callback context, with the step's last recorded result."""
    task = context.get("task")
    ti = context.get("task_instance") or context.get("ti")
    step = step_of(task)
    group = getattr(task, "group", None)
    report: dict[str, Any] = {
        "group": group, "step": step, "ds": context.get("ds"), "dag_id": getattr(ti, "dag_id", None),
        "task_id": getattr(ti, "task_id", None), "try_number": getattr(ti, "try_number", None),
        "log_url": getattr(ti, "log_url", None), "error": str(context.get("exception") or "")[:500] or None,
        "runbook": runbook_link(step), "report_path": None,
    }
    if group:
        try:
            from weir.pipeline.status import read_status
            from weir.runtime import build_config

            last = read_status(build_config(), group).get(step, {})
            report["report_path"] = (last.get("summary") or {}).get("report_path")
            report["recorded_state"] = last.get("state")
        except Exception as exc:  # the callback must never raise; the status is a convenience
            report["status_error"] = str(exc)[:200]
    return report


def on_task_failure(context: Mapping[str, Any]) -> None:
    """``on_failure_callback`` of every Weir task."""
    log.error("weir task failed: %s", json.dumps(failure_report(context), default=str, sort_keys=True))


__all__ = ["STEP_RUNBOOK", "failure_report", "on_task_failure", "runbook_link"]

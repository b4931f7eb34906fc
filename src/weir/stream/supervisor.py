"""Keep a group's stream job running in the background (used by the Airflow monitoring DAG).

``ensure_running(group)`` starts ``python weir/jobs/stream.py GROUP`` detached (pid file and log under
``<state_dir>/streams/``) unless it already runs, and restarts it when it died; the job resumes from its
checkpoint. ``ensure_exposures_running()`` does the same for the exposure stream (``weir experiments
stream-exposures``, state files under the name ``_exposures``). ``status(group)`` tells whether it runs and
returns the last micro-batch's metrics (from the JSON file the job writes after every batch; the full history
is the ``_weir/stream_metrics`` Delta table).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from weir.process import read_pid, start_background, stop_process
from weir.runtime import RuntimeConfig, load_config
from weir.stream.state_files import last_metrics_file, log_file, pid_file


def job_command(config: RuntimeConfig, group: str, extra: list[str] | None = None) -> list[str]:
    from weir.jobs import job_file

    return [sys.executable, str(job_file("stream")), group, *(extra or [])]


def ensure_running(group_name: str, config: RuntimeConfig | None = None, extra_args: list[str] | None = None,
                   ) -> str:
    """Start the group's stream job if it is not running; returns ``"running"``, ``"started"`` or
    ``"restarted"`` (a pid file was left by a job that died)."""
    config = config or load_config()
    return _ensure(config, group_name, job_command(config, group_name, extra_args))


def exposure_command() -> list[str]:
    return [sys.executable, "-c", "from weir.cli import main; main()", "experiments", "stream-exposures"]


def ensure_exposures_running(config: RuntimeConfig | None = None) -> str:
    """Start the exposure stream if it is not running (as :func:`ensure_running` for a group)."""
    from weir.experiments.tables import EXPOSURE_STREAM

    config = config or load_config()
    return _ensure(config, EXPOSURE_STREAM, exposure_command())


def _ensure(config: RuntimeConfig, name: str, command: list[str]) -> str:
    pf = pid_file(config, name)
    had_pid_file = pf.exists()
    if read_pid(pf) is not None:
        return "running"
    start_background(command, pf, log_file(config, name), env=config.env(), cwd=config.project_root)
    return "restarted" if had_pid_file else "started"


def stop(group_name: str, config: RuntimeConfig | None = None) -> bool:
    """Stop the group's background stream job (TERM, then KILL); False if none ran."""
    config = config or load_config()
    return stop_process(pid_file(config, group_name))


def status(group_name: str, config: RuntimeConfig | None = None) -> dict[str, Any]:
    """``{"group", "running", "pid", "log", "last_metrics"}`` (last_metrics None before the first batch)."""
    config = config or load_config()
    pid = read_pid(pid_file(config, group_name))
    path = last_metrics_file(config, group_name)
    last: dict[str, Any] | None = None
    try:
        last = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        last = None
    return {"group": group_name, "running": pid is not None, "pid": pid,
            "log": str(log_file(config, group_name)), "last_metrics": last}

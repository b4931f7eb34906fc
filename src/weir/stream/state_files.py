"""Local files of a background stream job (under ``<state_dir>/streams/``): pid, log and last metrics.

The supervisor starts and finds the job by them, the job writes its last micro-batch's metrics, and the
Airflow view reads both; the full metrics history is the lake's stream metrics table.
"""

from __future__ import annotations

from pathlib import Path

from weir.runtime import RuntimeConfig


def streams_dir(config: RuntimeConfig) -> Path:
    """Pid files, logs and the last metrics (JSON) of stream jobs started by the supervisor."""
    return config.state_dir / "streams"


def pid_file(config: RuntimeConfig, group: str) -> Path:
    return streams_dir(config) / f"{group}.pid"


def log_file(config: RuntimeConfig, group: str) -> Path:
    return streams_dir(config) / f"{group}.log"


def last_metrics_file(config: RuntimeConfig, group: str) -> Path:
    return streams_dir(config) / f"{group}.last.json"

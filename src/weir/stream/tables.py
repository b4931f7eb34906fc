"""Where the streaming job's tables and checkpoints live (all under the runtime config's lake)."""

from __future__ import annotations

from pathlib import Path

from weir.runtime import RuntimeConfig

METRICS_TABLE = "_weir/stream_metrics"


def events_path(config: RuntimeConfig, group: str) -> str:
    """Valid events read from Kafka (the event log the next batch run and trainers see)."""
    return config.table_path(f"events/{group}")


def deadletter_path(config: RuntimeConfig, group: str) -> str:
    return config.table_path(f"deadletter/{group}")


def late_path(config: RuntimeConfig, group: str) -> str:
    return config.table_path(f"late/{group}")


def metrics_path(config: RuntimeConfig) -> str:
    return config.table_path(METRICS_TABLE)


def checkpoint_path(config: RuntimeConfig, group: str) -> str:
    return f"{config.checkpoints.rstrip('/')}/{group}"


def streams_dir(config: RuntimeConfig) -> Path:
    """Pid files, logs and the last metrics (JSON) of stream jobs started by the supervisor."""
    return config.state_dir / "streams"


def last_metrics_file(config: RuntimeConfig, group: str) -> Path:
    return streams_dir(config) / f"{group}.last.json"

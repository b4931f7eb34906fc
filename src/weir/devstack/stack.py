"""`weir dev up | down | status`: the whole local stack at once, nothing left half-started."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from weir.devstack.dynamodb import start_dynamodb
from weir.devstack.kafka import kafka_dir, start_kafka
from weir.process import read_pid, stop_process
from weir.runtime import RuntimeConfig


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    pid: int | None
    endpoint: str

    @property
    def running(self) -> bool:
        return self.pid is not None


def _pid_files(config: RuntimeConfig) -> dict[str, Path]:
    return {
        "kafka": kafka_dir(config) / "kafka.pid",
        "dynamodb": config.state_dir / "dynamodb" / "dynamodb.pid",
    }


def stack_status(config: RuntimeConfig) -> list[ServiceStatus]:
    files = _pid_files(config)
    return [
        ServiceStatus("kafka", read_pid(files["kafka"]), config.kafka_bootstrap_servers),
        ServiceStatus("dynamodb", read_pid(files["dynamodb"]), config.dynamodb_endpoint),
    ]


def stack_up(config: RuntimeConfig) -> list[ServiceStatus]:
    """Start every service that is not running and wait until each is healthy.

    If one fails, the services this call started are stopped again before the error propagates.
    """
    config.state_dir.mkdir(parents=True, exist_ok=True)
    started: list[str] = []
    before = {s.name for s in stack_status(config) if s.running}
    try:
        for name, start in (("dynamodb", start_dynamodb), ("kafka", start_kafka)):
            start(config)
            if name not in before:
                started.append(name)
    except BaseException:
        files = _pid_files(config)
        for name in started:
            stop_process(files[name])
        raise
    return stack_status(config)


def stack_down(config: RuntimeConfig) -> list[str]:
    """Stop exactly the processes recorded in the pid files; harmless when nothing runs."""
    stopped = []
    for name, pid_file in _pid_files(config).items():
        if stop_process(pid_file):
            stopped.append(name)
    return stopped

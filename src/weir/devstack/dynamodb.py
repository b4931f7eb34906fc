"""The DynamoDB-compatible server on loopback: moto in server mode (in-memory, open source)."""

from __future__ import annotations

import sys

from weir.process import DevStackError, port_in_use, read_pid, start_and_wait
from weir.runtime import RuntimeConfig


def start_dynamodb(config: RuntimeConfig) -> int:
    """Start ``moto_server`` on the configured loopback port; return its pid once DynamoDB answers."""
    home = config.state_dir / "dynamodb"
    pid_file, log_file = home / "dynamodb.pid", home / "dynamodb.log"
    running = read_pid(pid_file)
    if running:
        return running
    port = config.dynamodb_port
    if port is None:
        raise DevStackError("WEIR_DYNAMODB_ENDPOINT is empty (real AWS): there is no local server to start")
    if port_in_use(port):
        raise DevStackError(f"port {port} is already taken (the DynamoDB-compatible server needs it): stop what "
                            f"uses it (`ss -ltnp | grep {port}`) or move it with "
                            f"WEIR_DYNAMODB_ENDPOINT=http://127.0.0.1:OTHER_PORT")
    cmd = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    return start_and_wait(cmd, pid_file, log_file, lambda: _dynamodb_answers(config), 30,
                          "DynamoDB-compatible server (moto)")


def _dynamodb_answers(config: RuntimeConfig) -> bool:
    from weir.aws import dynamodb_client

    dynamodb_client(config).list_tables(Limit=1)
    return True

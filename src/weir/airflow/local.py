"""A local Airflow (``airflow standalone``: api-server, scheduler, dag-processor, triggerer) on SQLite.

Pure process management: builds the environment from the runtime config and reuses the local stack's pid-file
helpers; nothing here imports Airflow (Airflow runs as a child process).
"""

from __future__ import annotations

import json
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weir.process import DevStackError, end_group, port_in_use, read_pid, start_background, stop_process, wait_until
from weir.runtime import RuntimeConfig
from weir.spark import driver_bind_env

ADMIN_USER = "admin"
AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
START_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class AirflowStatus:
    running: bool
    pid: int | None
    healthy: bool
    url: str
    detail: str


#: SQLite's busy timeout (seconds) for every process of the local Airflow: the scheduler, the API server, the
#: task runners and CLI commands such as ``airflow backfill create`` write one file, and sqlite3's default 5 s wait
#: lost a write ("database is locked") on a loaded 2-core machine. Airflow imports it by its dotted path.
SQLITE_CONNECT_ARGS: dict[str, float] = {"timeout": 60.0}


def airflow_home(config: RuntimeConfig) -> Path:
    """``AIRFLOW_HOME`` of the local Airflow (``airflow_home``, else ``<state_dir>/airflow``)."""
    return Path(config.path_setting("airflow_home"))


def airflow_env(config: RuntimeConfig, port: int | None = None) -> dict[str, str]:
    """Airflow's settings for Weir: SQLite under the Airflow home, Weir's dags/ and plugins/, no examples."""
    port = port or config.airflow_port
    home = airflow_home(config)
    bin_dir = str(Path(sys.executable).parent)
    return {
        **config.env(),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(config.project_root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(config.project_root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__AUTH_MANAGER": AUTH_MANAGER,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN_USER}:admin",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": "weir.airflow.local.SQLITE_CONNECT_ARGS",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",  # a new spec shows as a DAG within half a minute
        **driver_bind_env(config.spark_master),
        "PYSPARK_PYTHON": sys.executable,
        "PATH": f"{bin_dir}:{_path()}",
    }


def _path() -> str:
    import os

    return os.environ.get("PATH", "")


def pid_file(config: RuntimeConfig) -> Path:
    return airflow_home(config) / "standalone.pid"


def log_file(config: RuntimeConfig) -> Path:
    return airflow_home(config) / "standalone.log"


def password_file(config: RuntimeConfig) -> Path:
    return airflow_home(config) / "simple_auth_manager_passwords.json.generated"


def url(config: RuntimeConfig) -> str:
    return f"http://127.0.0.1:{config.airflow_port}"


def health(config: RuntimeConfig, timeout_s: float = 2.0) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url(config)}/api/v2/monitor/health", timeout=timeout_s) as resp:
        data = json.loads(resp.read())
    return data if isinstance(data, dict) else {}


def _healthy(config: RuntimeConfig) -> bool:
    data = health(config)
    parts = [data.get(k) for k in ("metadatabase", "scheduler")]
    return all(isinstance(p, dict) and p.get("status") == "healthy" for p in parts)


def airflow_up(config: RuntimeConfig, timeout_s: float = START_TIMEOUT_S) -> AirflowStatus:
    """Start ``airflow standalone`` in the background (pid file, log) and wait until it is healthy."""
    current = airflow_status(config)
    if current.running:
        return current
    if port_in_use(config.airflow_port):
        raise DevStackError(f"port {config.airflow_port} is already taken; set WEIR_AIRFLOW_PORT to a free port")
    airflow_home(config).mkdir(parents=True, exist_ok=True)
    airflow = str(Path(sys.executable).parent / "airflow")
    pid = start_background([airflow, "standalone"], pid_file(config), log_file(config), env=airflow_env(config),
                           cwd=config.project_root)
    try:
        wait_until(lambda: _healthy(config), timeout_s, pid, "airflow standalone", log_file(config))
    except BaseException:
        stop_process(pid_file(config))
        raise
    return airflow_status(config)


def airflow_down(config: RuntimeConfig, timeout_s: float = 30.0) -> bool:
    """Stop exactly the Airflow recorded in the pid file (its whole process group). Harmless if none runs.

    ``airflow standalone`` may exit before its children (scheduler, api-server, ...) have stopped; they stay in
    its process group, so the group is waited for and killed if it outlives the timeout.
    """
    pid = read_pid(pid_file(config))
    stopped = stop_process(pid_file(config), timeout_s=timeout_s)
    if pid is not None:
        _stop_group(pid, timeout_s)
    return stopped


def _group_members(pgid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def _stop_group(pgid: int, timeout_s: float) -> None:
    if _group_members(pgid):
        end_group(pgid, lambda: bool(_group_members(pgid)), timeout_s, poll_s=0.5)


def airflow_status(config: RuntimeConfig) -> AirflowStatus:
    pid = read_pid(pid_file(config))
    if pid is None:
        return AirflowStatus(False, None, False, url(config), "not running")
    try:
        data = health(config)
        detail = ", ".join(f"{k}: {v.get('status')}" for k, v in data.items() if isinstance(v, dict))
        return AirflowStatus(True, pid, _healthy(config), url(config), detail)
    except Exception as exc:
        return AirflowStatus(True, pid, False, url(config), f"not answering ({type(exc).__name__})")

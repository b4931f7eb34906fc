"""A Spark standalone cluster on loopback from pyspark's own distribution: one master, N small workers.

Why: in ``local[N]`` the driver and executors share one JVM, so closures, serialisation, the executors' Python
and file paths are never exercised. A standalone master and workers (``spark-class ...Master`` / ``...Worker``,
nothing downloaded) run executors in JVMs of their own, as YARN or Kubernetes would. Used by the cluster
integration test and available for trying a deployment by hand.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


class SparkClusterError(RuntimeError):
    """The cluster did not come up; the message names the log to read."""


def spark_home() -> Path:
    """pyspark's package directory: it holds ``bin/spark-class`` and ``jars/``, a complete Spark."""
    import pyspark

    return Path(pyspark.__file__).parent


@dataclass
class StandaloneCluster:
    """A running master and its workers (processes of this Python process; :meth:`stop` ends them)."""

    master_port: int
    webui_port: int
    work_dir: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def master_url(self) -> str:
        return f"spark://{HOST}:{self.master_port}"

    def master_state(self) -> dict[str, Any]:
        """The master's view (its web UI's JSON: workers, active and completed applications); {} when the master
        does not answer yet."""
        try:
            with urllib.request.urlopen(f"http://{HOST}:{self.webui_port}/json/", timeout=2) as response:
                state = json.load(response)
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def alive_workers(self) -> int:
        """Workers the master counts as ALIVE; 0 when the master does not answer yet."""
        return int(self.master_state().get("aliveworkers", 0))

    def applications(self) -> list[dict[str, Any]]:
        """Every application the master ran or runs (``id``, ``name``, ``state``, ...), to tell a job ran here."""
        state = self.master_state()
        return [*state.get("activeapps", []), *state.get("completedapps", [])]

    def executor_dirs(self, app_id: str) -> list[Path]:
        """The executors' work directories of application ``app_id`` on every worker (``worker-i/<app>/<exec>``):
        the proof that its tasks ran in executor JVMs on the workers, not in the driver."""
        return sorted(p for p in self.work_dir.glob(f"worker-*/{app_id}/*") if p.is_dir())

    def stop(self) -> None:
        """SIGTERM every process group (the JVM and anything it started), SIGKILL what is left after 15 s."""
        for proc in reversed(self.processes):
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in reversed(self.processes):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)
                proc.wait(timeout=5)
        self.processes.clear()


def start_standalone(work_dir: Path, master_port: int, webui_port: int, worker_ports: list[int],
                     worker_cores: int = 1, worker_memory: str = "1g", env: dict[str, str] | None = None,
                     timeout_s: float = 120.0) -> StandaloneCluster:
    """Start a master on ``HOST:master_port`` and one worker per entry of ``worker_ports`` (``(port, webui)``
    pairs are ``port`` and ``port + 1``); return once every worker is registered.

    ``env`` is the workers' environment, which their executors inherit: ``PYTHONPATH`` for Weir's code on the
    executors, the AWS credential chain (``AWS_ACCESS_KEY_ID`` ...) for an ``s3a://`` lake. Logs go to
    ``work_dir/logs``. On a failure to start, whatever was started is stopped before raising.
    """
    home = spark_home()
    logs = work_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    base = {**os.environ, **(env or {}), "SPARK_HOME": str(home), "SPARK_LOCAL_IP": HOST,
            "SPARK_LOG_DIR": str(logs), "SPARK_DAEMON_MEMORY": "256m"}
    cluster = StandaloneCluster(master_port, webui_port, work_dir)
    spark_class = str(home / "bin" / "spark-class")
    try:
        cluster.processes.append(_launch(
            [spark_class, "org.apache.spark.deploy.master.Master", "--host", HOST, "--port", str(master_port),
             "--webui-port", str(webui_port)], base, logs / "master.log"))
        for i, port in enumerate(worker_ports):
            worker_dir = work_dir / f"worker-{i}"
            worker_dir.mkdir(parents=True, exist_ok=True)
            cluster.processes.append(_launch(
                [spark_class, "org.apache.spark.deploy.worker.Worker", cluster.master_url, "--host", HOST,
                 "--port", str(port), "--webui-port", str(port + 1), "--cores", str(worker_cores),
                 "--memory", worker_memory, "--work-dir", str(worker_dir)], base, logs / f"worker-{i}.log"))
        _wait_for_workers(cluster, len(worker_ports), timeout_s, logs)
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _launch(cmd: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def _wait_for_workers(cluster: StandaloneCluster, count: int, timeout_s: float, logs: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        dead = [p for p in cluster.processes if p.poll() is not None]
        if dead:
            raise SparkClusterError(f"a Spark standalone process exited ({dead[0].args!r}); see the logs in {logs}")
        if cluster.alive_workers() >= count:
            return
        time.sleep(0.5)
    raise SparkClusterError(f"{count} workers did not register with {cluster.master_url} within {timeout_s:.0f}s; "
                            f"see the logs in {logs}")


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass

"""A real Prometheus server on loopback (Debian's ``prometheus`` package) with Weir's alert rules loaded.

``weir dev prometheus`` starts it scraping ``weir serve`` and a streaming job on their default metrics ports;
the integration tests start one with their own targets. Its UI (targets, rules, alerts) is on
``http://127.0.0.1:<prometheus_port>/classic/`` (Debian's package ships the classic UI).
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from weir.process import DevStackError, port_in_use, read_pid, start_and_wait, stop_process
from weir.runtime import RuntimeConfig

DEFAULT_TARGETS = {"weir-serve": ["127.0.0.1:8000"], "weir-stream": ["127.0.0.1:9108"]}
"""What ``weir dev prometheus`` scrapes: ``weir serve`` (port 8000) and ``weir stream --metrics-port 9108``."""


def rules_dir(config: RuntimeConfig) -> Path:
    """The shipped alert rules (``ops/prometheus``)."""
    return config.project_root / "ops" / "prometheus"


def prometheus_home(config: RuntimeConfig) -> Path:
    return config.state_dir / "prometheus"


def prometheus_config(config: RuntimeConfig, targets: Mapping[str, Sequence[str]],
                      interval_s: float) -> dict[str, Any]:
    """The server's config: one scrape job per entry of ``targets``, Weir's rule file, ``interval_s`` for both
    scraping and rule evaluation."""
    every = f"{interval_s:g}s"
    return {
        "global": {"scrape_interval": every, "evaluation_interval": every, "scrape_timeout": every},
        "rule_files": [str(rules_dir(config) / "weir-alerts.yml")],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(addrs)}]}
                           for job, addrs in targets.items()],
    }


def start_prometheus(config: RuntimeConfig, targets: Mapping[str, Sequence[str]] | None = None,
                     interval_s: float = 15.0) -> int:
    """Start Prometheus on ``127.0.0.1:<prometheus_port>`` (data under the state dir); return its pid once ready."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise DevStackError("prometheus is not installed: `apt-get install prometheus` (Debian's package; "
                            ".ci/run installs it)")
    home = prometheus_home(config)
    pid_file, log_file = home / "prometheus.pid", home / "prometheus.log"
    running = read_pid(pid_file)
    if running:
        return running
    if port_in_use(config.prometheus_port):
        raise DevStackError(f"port {config.prometheus_port} is already taken (Prometheus needs it): stop what "
                            f"uses it or move it with WEIR_PROMETHEUS_PORT=OTHER_PORT")
    home.mkdir(parents=True, exist_ok=True)
    conf = home / "prometheus.yml"
    conf.write_text(yaml.safe_dump(prometheus_config(config, targets or DEFAULT_TARGETS, interval_s)))
    cmd = [binary, f"--config.file={conf}", f"--storage.tsdb.path={home / 'data'}",
           f"--web.listen-address=127.0.0.1:{config.prometheus_port}", "--web.enable-lifecycle"]
    return start_and_wait(cmd, pid_file, log_file, lambda: _ready(config), 30, "Prometheus")


def stop_prometheus(config: RuntimeConfig) -> bool:
    return stop_process(prometheus_home(config) / "prometheus.pid")


def _ready(config: RuntimeConfig) -> bool:
    with urllib.request.urlopen(f"{prometheus_url(config)}/-/ready", timeout=2) as resp:
        return bool(resp.status == 200)


def prometheus_url(config: RuntimeConfig) -> str:
    return f"http://127.0.0.1:{config.prometheus_port}"


def alerts_page(config: RuntimeConfig) -> str:
    """The alerts page: Debian's build ships the classic UI (under ``/classic/``), not the React one."""
    return f"{prometheus_url(config)}/classic/alerts"


def prometheus_api(config: RuntimeConfig, path: str) -> Any:
    """``GET /api/v1/<path>``'s ``data`` (e.g. ``alerts``, ``targets``, ``query?query=up``)."""
    with urllib.request.urlopen(f"{prometheus_url(config)}/api/v1/{path}", timeout=5) as resp:
        body = json.loads(resp.read())
    if body.get("status") != "success":
        raise RuntimeError(f"Prometheus API {path}: {body}")
    return body["data"]

"""The one runtime config: every endpoint and path Weir uses.

Resolution order (later wins): built-in defaults for the embedded local stack, an optional profile file
(YAML; ``WEIR_PROFILE=path`` or ``weir.yaml`` in the working directory), then ``WEIR_*`` environment variables.
No other module hard-codes a host, port or path: they all call :func:`load_config`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


def _project_root() -> Path:
    """The checkout this package runs from (two levels above ``src/weir``), else the working directory."""
    here = Path(__file__).resolve()
    candidate = here.parents[2]
    return candidate if (candidate / "pyproject.toml").exists() else Path.cwd()


class RuntimeConfig(BaseModel):
    """Endpoints and paths; every field can be set with ``WEIR_<FIELD_NAME_UPPER>``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project_root: Path = Field(default_factory=_project_root)
    state_dir: Path = Field(default_factory=lambda: _project_root() / ".state")
    specs_dir: Path = Field(default_factory=lambda: _project_root() / "feature_specs")
    lake_path: str = ""  # default: <state_dir>/lake ; may be s3a://bucket/prefix on a cluster
    checkpoint_path: str = ""  # default: <state_dir>/checkpoints
    spark_master: str = "local[2]"
    spark_driver_memory: str = "2g"
    spark_shuffle_partitions: int = 4
    spark_ivy_dir: str = ""  # default: ~/.ivy2.5.2 (Spark's own cache)
    maven_repo: str = "https://repo1.maven.org/maven2"
    spark_extra_packages: str = ""  # comma separated Maven coordinates added to the defaults
    spark_ui: bool = False
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_controller_port: int = 9093
    kafka_security_protocol: str = "PLAINTEXT"
    dynamodb_endpoint: str = "http://127.0.0.1:8765"  # empty string means real AWS (the default AWS chain)
    dynamodb_region: str = "eu-west-1"
    dynamodb_table_prefix: str = "weir_"
    airflow_home: str = ""  # default: <state_dir>/airflow
    airflow_port: int = 8080
    prometheus_port: int = 9090  # `weir dev prometheus` and its tests
    metrics_textfile_dir: str = ""  # default: <state_dir>/metrics ; batch steps' metrics for a textfile collector
    pushgateway_url: str = ""  # a Prometheus Pushgateway for batch steps' metrics; empty: textfile only

    @property
    def lake(self) -> str:
        """Root of the Delta lake (source tables, tile and feature tables, quarantine, reports)."""
        return self.lake_path or str(self.state_dir / "lake")

    @property
    def checkpoints(self) -> str:
        """Root of Structured Streaming checkpoints."""
        return self.checkpoint_path or str(self.state_dir / "checkpoints")

    @property
    def metrics_dir(self) -> Path:
        """Where batch steps write their ``.prom`` files (node_exporter's textfile collector reads them)."""
        return Path(self.metrics_textfile_dir) if self.metrics_textfile_dir else self.state_dir / "metrics"

    @property
    def airflow_home_dir(self) -> Path:
        return Path(self.airflow_home) if self.airflow_home else self.state_dir / "airflow"

    @property
    def kafka_port(self) -> int:
        return int(self.kafka_bootstrap_servers.split(",")[0].rsplit(":", 1)[1])

    @property
    def dynamodb_port(self) -> int | None:
        if not self.dynamodb_endpoint:
            return None
        return int(self.dynamodb_endpoint.rstrip("/").rsplit(":", 1)[1])

    def table_path(self, name: str) -> str:
        """Path of a Delta table named ``name`` in the lake (``a/b`` for nested names)."""
        return f"{self.lake.rstrip('/')}/{name}"

    def env(self) -> dict[str, str]:
        """This config as ``WEIR_*`` variables, to hand to a child process (spark-submit, Airflow)."""
        out: dict[str, str] = {}
        for name, value in self.model_dump().items():
            out[f"WEIR_{name.upper()}"] = str(value).lower() if isinstance(value, bool) else str(value)
        return out


def _profile_values() -> dict[str, Any]:
    path_s = os.environ.get("WEIR_PROFILE")
    path = Path(path_s) if path_s else Path.cwd() / "weir.yaml"
    if not path.exists():
        if path_s:
            raise FileNotFoundError(f"WEIR_PROFILE={path_s} does not exist; unset it or point it at a YAML file")
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a profile is a YAML mapping of config fields, e.g. 'spark_master: yarn'")
    return data


def _env_values() -> dict[str, Any]:
    fields = RuntimeConfig.model_fields
    out: dict[str, Any] = {}
    for key, value in os.environ.items():
        if key.startswith("WEIR_") and key != "WEIR_PROFILE":
            name = key[5:].lower()
            if name in fields:
                out[name] = value
    return out


def build_config(**overrides: Any) -> RuntimeConfig:
    """Resolve defaults < profile file < ``WEIR_*`` env < explicit ``overrides``."""
    values = {**_profile_values(), **_env_values(), **overrides}
    if values.get("state_dir"):
        state = Path(values["state_dir"]).resolve()
        values["state_dir"] = state
    try:
        return RuntimeConfig(**values)
    except ValidationError as exc:
        problems = "; ".join(f"WEIR_{'.'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"invalid Weir runtime config: {problems}") from None


@lru_cache(maxsize=1)
def load_config() -> RuntimeConfig:
    """The process-wide config (cached; call ``load_config.cache_clear()`` after changing the environment)."""
    return build_config()

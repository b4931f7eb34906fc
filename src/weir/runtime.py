"""The one runtime config: every endpoint and path Weir uses.

Resolution order (later wins): built-in defaults for the embedded local stack, an optional profile file
(YAML; ``WEIR_PROFILE=path`` or ``weir.yaml`` in the working directory), then ``WEIR_*`` environment variables.
No other module hard-codes a host, port or path: they all call :func:`load_config`.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


def _project_root() -> Path:
    """The checkout this package runs from (two levels above ``src/weir``), else the working directory."""
    here = Path(__file__).resolve()
    candidate = here.parents[2]
    return candidate if (candidate / "pyproject.toml").exists() else Path.cwd()


#: where a path setting left empty points, under ``state_dir`` (the one rule of "Empty: `<state_dir>/...`")
STATE_SUBDIRS = {"lake_path": "lake", "checkpoint_path": "checkpoints", "spark_ivy_dir": "jars/ivy",
                 "airflow_home": "airflow", "metrics_textfile_dir": "metrics"}


def _state_default(field: str, description: str, **kwargs: Any) -> Any:
    """A path setting that may be left empty: then it is ``<state_dir>/<STATE_SUBDIRS[field]>``."""
    return Field("", description=f"{description} Empty: `<state_dir>/{STATE_SUBDIRS[field]}`.", **kwargs)


class RuntimeConfig(BaseModel):
    """Endpoints and paths; every field can be set with ``WEIR_<FIELD_NAME_UPPER>``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project_root: Path = Field(
        default_factory=_project_root,
        description="The checkout holding `dags/`, `plugins/` and `ops/` (the folders of `weir airflow` and "
                    "`weir dev prometheus`; the job files ship in the package). Default: the checkout this "
                    "package runs from, else the working directory.",
        examples=["/opt/weir"])
    state_dir: Path = Field(
        default_factory=lambda: _project_root() / ".state",
        description="Local state: the local stack's data, logs and pid files, and the default home of the lake, "
                    "the checkpoints and Airflow. Default: `<project_root>/.state`.")
    specs_dir: Path = Field(
        default_factory=lambda: _project_root() / "feature_specs",
        description="Where the CLI, the SDK (`OnlineClient`, `build`, `publish`), the DAG factory and the Weir "
                    "view read feature specs (`*.yaml`). Default: `<project_root>/feature_specs`.",
        examples=["/opt/weir/feature_specs"])
    lake_path: str = _state_default(
        "lake_path", "Root of the Delta lake: source, tile, feature and bookkeeping tables.",
        examples=["s3a://credit-lake/weir"])
    checkpoint_path: str = _state_default(
        "checkpoint_path", "Root of the Structured Streaming checkpoints (Kafka offsets live here, one directory "
                           "per group).", examples=["s3a://credit-lake/weir-checkpoints"])
    spark_master: str = Field(
        "local[2]", description="Spark master for in-process sessions and `spark-submit --master` of the "
                                "Airflow tasks.",
        examples=["spark://spark-master:7077", "yarn", "k8s://https://k8s-api:443"])
    spark_driver_memory: str = Field("2g", description="Spark driver memory (`spark.driver.memory`).",
                                     examples=["8g"])
    spark_shuffle_partitions: int = Field(4, description="`spark.sql.shuffle.partitions` of Weir's sessions.",
                                          examples=[200])
    spark_ivy_dir: str = _state_default(
        "spark_ivy_dir", "Download cache of `weir jars resolve` (Ivy), which fetches the Delta and "
                         "Kafka-connector jars once into `<state_dir>/jars/spark`; share it between checkouts.",
        examples=["/shared/ivy"])
    maven_repo: str = Field("https://repo1.maven.org/maven2",
                            description="The only Maven repository Spark's jars are resolved from "
                                        "(`~/.m2` is never read).",
                            examples=["https://maven.internal/maven2"])
    spark_extra_packages: str = Field(
        "", description="Comma-separated Maven coordinates added to Spark's packages (e.g. for S3 access).",
        examples=["org.apache.hadoop:hadoop-aws:3.4.2"])
    s3_endpoint: str = Field(
        "", description="S3 API endpoint of the `s3a://` lake and checkpoints (Spark's S3A and delta-rs). Empty: "
                        "AWS's regional endpoint. Credentials never go here: both read the AWS default chain "
                        "(environment, profile, instance or pod role).",
        examples=["http://minio.internal:9000"])
    s3_region: str = Field("eu-west-1", description="AWS region of the lake's bucket.", examples=["us-east-1"])
    s3_path_style_access: bool = Field(
        False, description="Address buckets as `<endpoint>/<bucket>` instead of `<bucket>.<endpoint>` "
                           "(MinIO, moto and other S3-compatible servers need it).")
    spark_jars_preinstalled: bool = Field(
        False, description="The resolved jars exist at the same paths on every executor host (one machine, a "
                           "shared volume, the same image): put them on the driver's and executors' class path "
                           "instead of shipping them to each executor at every start (the S3 SDK bundle alone "
                           "is about 600 MB).")
    spark_ui: bool = Field(False, description="Start the Spark web UI (off by default: quiet, no port taken).")
    kafka_bootstrap_servers: str = Field(
        "127.0.0.1:9092", description="Kafka brokers the streaming jobs and `weir produce` use; the local "
                                      "broker (`weir dev up`) listens on the first one's port.",
        examples=["b-1.kafka.internal:9092,b-2.kafka.internal:9092"])
    kafka_controller_port: int = Field(
        9093, description="KRaft controller port of the local broker (`weir dev up` only; unused with a "
                          "real Kafka cluster).")
    kafka_security_protocol: str = Field("PLAINTEXT", description="Kafka `security.protocol` of every client.",
                                         examples=["SSL"])
    dynamodb_endpoint: str = Field(
        "http://127.0.0.1:8765", description="DynamoDB endpoint (the local server of `weir dev up` listens on "
                                             "its port). Empty: real AWS, credentials from the default AWS chain.",
        examples=[""])
    dynamodb_region: str = Field("eu-west-1", description="AWS region of the online tables.",
                                 examples=["us-east-1"])
    dynamodb_table_prefix: str = Field("weir_", description="Online tables are named `<prefix><group>`.",
                                       examples=["weir_prod_"])
    airflow_home: str = _state_default("airflow_home", "`AIRFLOW_HOME` of the local Airflow (`weir airflow up`).")
    airflow_port: int = Field(8080, description="Port of the local Airflow's api-server and UI "
                                                "(`weir airflow up`).")
    prometheus_port: int = Field(9090, description="Port of the local Prometheus (`weir dev prometheus`).")
    metrics_textfile_dir: str = _state_default(
        "metrics_textfile_dir", "Where batch steps (compute, validate, publish) write their metrics as `.prom` "
                                "files for node_exporter's textfile collector.")
    pushgateway_url: str = Field(
        "", description="A Prometheus Pushgateway that batch steps also push their metrics to. Empty: textfile "
                        "only.", examples=["http://pushgateway:9091"])
    catalog_database: str = Field(
        "weir", description="Catalog namespace of Weir's tables: feature tables `<db>.<group>`, tile tables "
                            "`<db>_tiles.<group>`, training sets `<db>_training.<name>` (`weir catalog register`).",
        examples=["main.weir"])
    catalog_metastore_uri: str = Field(
        "", description="The team's Hive-compatible metastore (Spark's `hive.metastore.uris`), where catalog "
                        "entries persist. Empty: Spark's in-memory catalog, re-attached at each session start.",
        examples=["thrift://metastore.internal:9083"])
    experiments_overrides: Literal["file", "dynamodb"] = Field(
        "file", description="Where runtime changes of flags and experiments (kill, pause, rollout: `weir flags "
                            "...`) are kept and read: `file` = `<state_dir>/experiments/overrides.jsonl` (one host); "
                            "`dynamodb` = the table `<dynamodb_table_prefix>_experiment_overrides`, shared by every "
                            "host.", examples=["dynamodb"])

    def path_setting(self, field: str) -> str | Path:
        """A path setting's value, or its place under ``state_dir`` when left empty (:data:`STATE_SUBDIRS`)."""
        value: str = getattr(self, field)
        return value or self.state_dir / STATE_SUBDIRS[field]

    @property
    def lake(self) -> str:
        """Root of the Delta lake (source tables, tile and feature tables, quarantine, reports)."""
        return str(self.path_setting("lake_path"))

    @property
    def checkpoints(self) -> str:
        """Root of Structured Streaming checkpoints."""
        return str(self.path_setting("checkpoint_path"))

    @property
    def uses_s3a(self) -> bool:
        """True when the lake or the checkpoints live on S3 (Spark then needs ``hadoop-aws``)."""
        return self.lake.startswith("s3a://") or self.checkpoints.startswith("s3a://")

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
    """Resolve defaults < profile file < ``WEIR_*`` env < explicit ``overrides``.

    >>> config = build_config(lake_path="/tmp/weir-lake", dynamodb_table_prefix="weir_test_")
    >>> config.table_path("features/user_spend")  # '/tmp/weir-lake/features/user_spend'
    """
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
    """The process-wide config (cached; call ``load_config.cache_clear()`` after changing the environment).

    >>> load_config().specs_dir  # WEIR_SPECS_DIR, else feature_specs/ of the checkout
    """
    return build_config()

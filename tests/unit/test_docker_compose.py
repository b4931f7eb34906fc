"""Static checks of docker-compose.yml (no Docker engine needed).

PyYAML's safe_load resolves the ``x-*`` anchors and ``<<:`` merge keys, so every service is checked as
Compose will see it. When a Compose client is installed (``docker compose`` plugin or a standalone
``docker-compose``), ``config -q`` validates the file against the Compose schema too; it needs no engine.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"

REQUIRED_SERVICES = {
    "kafka", "spark-master", "spark-worker", "dynamodb", "postgres",
    "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
}
ONE_SHOT_SERVICES = {"airflow-init"}  # runs `airflow db migrate` and exits: no healthcheck
AIRFLOW_SERVICES = {"airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer"}
SPARK_SERVICES = {"spark-master", "spark-worker"}
AIRFLOW_MOUNTS = {"dags", "feature_specs", "plugins", "src"}  # job files: src/weir/jobs
SPARK_MOUNTS = {"src", "feature_specs"}
WEIR_ENV = {
    "WEIR_SPARK_MASTER": "spark://spark-master:7077",
    "WEIR_KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
    "WEIR_DYNAMODB_ENDPOINT": "http://dynamodb:8765",
    "WEIR_DYNAMODB_REGION": "eu-west-1",
    "WEIR_LAKE_PATH": "/data/lake",
    "WEIR_CHECKPOINT_PATH": "/data/checkpoints",
    "WEIR_STATE_DIR": "/data/state",
    "WEIR_SPECS_DIR": "/opt/weir/feature_specs",
    "WEIR_SPARK_JARS_PREINSTALLED": "true",
}
# The profile fields the Airflow-on-the-cluster test gives its Airflow worker and cluster
# (tests/integration/cluster_support.py, test_cluster_airflow.py), less the test's sizing and isolation
# (driver memory, shuffle partitions, online table prefix): the compose deployment must set each of them.
CLUSTER_TEST_FIELDS = {"spark_master", "lake_path", "checkpoint_path", "specs_dir", "state_dir",
                       "spark_jars_preinstalled", "kafka_bootstrap_servers", "dynamodb_endpoint"}
SECRET_KEY_RE = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|FERNET_KEY|ACCESS_KEY|PRIVATE_KEY|API_KEY)", re.I)
SUBSTITUTION_RE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}$")
URL_PASSWORD_RE = re.compile(r"://[^:/@\s]+:([^@\s]+)@")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _bind_mount_sources(service: dict[str, Any]) -> dict[str, str]:
    """Host directory (relative to the compose file, without ``./``) -> container path."""
    out: dict[str, str] = {}
    for vol in service.get("volumes") or []:
        if isinstance(vol, dict):
            source, target = str(vol.get("source", "")), str(vol.get("target", ""))
        else:
            source, target = str(vol).split(":")[:2]
        if source.startswith("./"):
            out[source[2:].rstrip("/")] = target
    return out


def test_required_services_exist(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) >= REQUIRED_SERVICES, f"missing: {sorted(REQUIRED_SERVICES - set(services))}"


def test_every_service_has_image_or_build(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        assert svc.get("image") or svc.get("build"), f"{name}: needs `image` or `build`"


def test_long_running_services_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    assert set(services) >= ONE_SHOT_SERVICES
    for name, svc in services.items():
        if name in ONE_SHOT_SERVICES:
            assert svc.get("restart") in ("no", None), f"{name} is one-shot: it must not restart"
            continue
        check = svc.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name}: needs a healthcheck"


def test_build_contexts_and_dockerfiles_exist(services: dict[str, dict[str, Any]]) -> None:
    built = 0
    for name, svc in services.items():
        build = svc.get("build")
        if not build:
            continue
        built += 1
        context, dockerfile = (build, "Dockerfile") if isinstance(build, str) else (
            build.get("context", "."), build.get("dockerfile", "Dockerfile"))
        context_dir = (ROOT / context).resolve()
        assert context_dir.is_dir(), f"{name}: build context {context} does not exist"
        assert (context_dir / dockerfile).is_file(), f"{name}: {context}/{dockerfile} does not exist"
    assert built >= 3, "Spark, Airflow and the DynamoDB server are built from docker/"


def test_airflow_services_mount_the_project(services: dict[str, dict[str, Any]]) -> None:
    for name in AIRFLOW_SERVICES:
        mounts = _bind_mount_sources(services[name])
        assert set(mounts) >= AIRFLOW_MOUNTS, f"{name}: missing mounts {sorted(AIRFLOW_MOUNTS - set(mounts))}"
        env = _env(services[name])
        assert mounts["dags"] == env["AIRFLOW__CORE__DAGS_FOLDER"]
        assert mounts["plugins"] == env["AIRFLOW__CORE__PLUGINS_FOLDER"]


def test_spark_services_mount_the_project(services: dict[str, dict[str, Any]]) -> None:
    for name in SPARK_SERVICES:
        mounts = _bind_mount_sources(services[name])
        assert set(mounts) >= SPARK_MOUNTS, f"{name}: missing mounts {sorted(SPARK_MOUNTS - set(mounts))}"


def test_weir_services_share_runtime_config_and_lake(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in AIRFLOW_SERVICES | SPARK_SERVICES:
        env = _env(services[name])
        for key, value in WEIR_ENV.items():
            assert env.get(key) == value, f"{name}: {key}={env.get(key)!r}, expected {value!r}"
        volumes = [str(v) for v in services[name].get("volumes") or []]
        assert "lake:/data" in volumes, f"{name}: the shared `lake` volume must be mounted at /data"
    assert "lake" in (compose.get("volumes") or {})


def test_airflow_uses_local_executor_and_postgres(services: dict[str, dict[str, Any]]) -> None:
    for name in AIRFLOW_SERVICES:
        env = _env(services[name])
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert env["AIRFLOW__CORE__LOAD_EXAMPLES"].lower() == "false"
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
        assert "@postgres:5432/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        if name not in ONE_SHOT_SERVICES:
            deps = services[name].get("depends_on") or {}
            assert deps.get("postgres", {}).get("condition") == "service_healthy", name
            assert deps.get("airflow-init", {}).get("condition") == "service_completed_successfully", name


def test_spark_worker_waits_for_master(services: dict[str, dict[str, Any]]) -> None:
    deps = services["spark-worker"].get("depends_on") or {}
    assert deps.get("spark-master", {}).get("condition") == "service_healthy"
    assert "spark://spark-master:7077" in services["spark-worker"]["command"]


def test_kafka_is_kraft_without_zookeeper(services: dict[str, dict[str, Any]]) -> None:
    env = _env(services["kafka"])
    assert "controller" in env["KAFKA_PROCESS_ROLES"].split(",")
    assert "broker" in env["KAFKA_PROCESS_ROLES"].split(",")
    assert "kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert "zookeeper" not in COMPOSE_FILE.read_text().lower()
    for path in (ROOT / "docker").rglob("*"):
        if path.is_file():
            assert "zookeeper" not in path.read_text(errors="replace").lower(), path


def test_no_literal_secrets(services: dict[str, dict[str, Any]]) -> None:
    text = COMPOSE_FILE.read_text()
    assert not re.search(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", text), "AWS access key id in docker-compose.yml"
    assert "AWS_SECRET_ACCESS_KEY" not in text
    for name, svc in services.items():
        for key, value in _env(svc).items():
            if SECRET_KEY_RE.search(key) and value:
                assert SUBSTITUTION_RE.match(value), f"{name}: {key} must come from ${{VAR:-default}}"
            for password in URL_PASSWORD_RE.findall(value):
                assert SUBSTITUTION_RE.match(password), f"{name}: {key} embeds a literal password"


def test_docker_compose_config_is_valid() -> None:
    candidates: list[list[str]] = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    reasons: list[str] = []
    for cmd in candidates:
        probe = subprocess.run([*cmd, "version"], capture_output=True, text=True, timeout=60)
        if probe.returncode != 0:
            reasons.append(f"`{' '.join(cmd)} version` failed: {(probe.stderr or probe.stdout).strip()[:200]}")
            continue
        result = subprocess.run([*cmd, "-f", str(COMPOSE_FILE), "config", "-q"], capture_output=True,
                                text=True, timeout=120, cwd=ROOT)
        assert result.returncode == 0, f"`{' '.join(cmd)} config -q` failed:\n{result.stderr}{result.stdout}"
        return
    pytest.skip("no Compose client installed (" + ("; ".join(reasons) or "no docker CLI") + ")")


# --------------------------------------------------------------------------- exposure, auth and secrets
ENV_EXAMPLE = ROOT / ".env.example"
REQUIRED_SECRETS = {"POSTGRES_PASSWORD", "AIRFLOW_JWT_SECRET", "AIRFLOW_API_SECRET_KEY", "AIRFLOW_FERNET_KEY",
                    "AIRFLOW_ADMIN_PASSWORD"}
LOOPBACK_BIND = "${WEIR_BIND:-127.0.0.1}"
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)([-?])([^}]*))?\}")


class MissingVariable(KeyError):
    pass


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's variable interpolation (``${V}``, ``${V:-d}``, ``${V-d}``, ``${V:?m}``, ``${V?m}``, ``$$``)."""
    missing: list[str] = []

    def one(m: re.Match[str]) -> str:
        name, colon, op, arg = m.group(1), m.group(2), m.group(3), m.group(4)
        value = env.get(name)
        unset = value is None or (colon == ":" and value == "")
        if op == "?" and unset:
            missing.append(f"{name}: {arg}")
            return ""
        if op == "-" and unset:
            return arg
        return value or ""

    parts = text.split("$$")
    out = "$".join(VAR_RE.sub(one, p) for p in parts)
    if missing:
        raise MissingVariable(missing)
    return out


def _strings(node: Any) -> Iterator[str]:
    """Every string in the parsed file (comments are gone, as for Compose, which interpolates values only)."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)


def _interpolate_tree(node: Any, env: dict[str, str]) -> Any:
    """The parsed file with every value interpolated; :class:`MissingVariable` lists all required ones unset."""
    missing: list[str] = []

    def walk(n: Any) -> Any:
        if isinstance(n, str):
            try:
                return interpolate(n, env)
            except MissingVariable as exc:
                missing.extend(exc.args[0])
                return ""
        if isinstance(n, dict):
            return {k: walk(v) for k, v in n.items()}
        if isinstance(n, list):
            return [walk(v) for v in n]
        return n

    out = walk(node)
    if missing:
        raise MissingVariable(sorted(set(missing)))
    return out


def _used_vars(compose: dict[str, Any]) -> list[re.Match[str]]:
    return [m for text in _strings(compose) for m in VAR_RE.finditer(text.replace("$$", ""))]


def _example_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def _port_host(entry: Any) -> str | None:
    if isinstance(entry, dict):
        return str(entry.get("host_ip")) if entry.get("host_ip") else None
    parts = str(entry).rsplit(":", 2)
    return parts[0] if len(parts) == 3 else None


def test_every_published_port_is_loopback_unless_the_operator_opts_in(services: dict[str, dict[str, Any]]) -> None:
    published = 0
    for name, svc in services.items():
        assert svc.get("network_mode") != "host", f"{name}: host networking publishes every port"
        for entry in svc.get("ports") or []:
            published += 1
            assert _port_host(entry) == LOOPBACK_BIND, f"{name}: port {entry} must be bound to {LOOPBACK_BIND}"
    assert published >= 6  # Kafka, Spark master (RPC + UI), Spark worker UI, DynamoDB, Airflow


def test_interpolated_with_the_example_env_every_port_is_on_127_0_0_1(compose: dict[str, Any]) -> None:
    env = {**_example_env(), **{k: f"test-{k.lower()}" for k in REQUIRED_SECRETS}}
    data = _interpolate_tree(compose, env)
    hosts = {_port_host(p) for svc in data["services"].values() for p in svc.get("ports") or []}
    assert hosts == {"127.0.0.1"}
    for svc in data["services"].values():  # every secret arrives non-empty
        for key, value in _env(svc).items():
            if SECRET_KEY_RE.search(key):
                assert value.startswith("test-"), (key, value)
    exposed = _interpolate_tree(compose, {**env, "WEIR_BIND": "0.0.0.0"})
    assert {_port_host(p) for svc in exposed["services"].values() for p in svc.get("ports") or []} == {"0.0.0.0"}


def test_secrets_must_come_from_env_and_have_no_defaults(compose: dict[str, Any]) -> None:
    used = _used_vars(compose)
    assert {m.group(1) for m in used if SECRET_KEY_RE.search(m.group(1))} == REQUIRED_SECRETS
    for match in used:
        if SECRET_KEY_RE.search(match.group(1)):
            assert match.group(2) == ":" and match.group(3) == "?" and match.group(4), \
                f"{match.group(0)}: a secret must be ${{VAR:?message}} (required, no default)"
    with pytest.raises(MissingVariable) as exc:  # without .env: compose refuses, naming each variable
        _interpolate_tree(compose, _example_env())
    named = {m.split(":")[0] for m in exc.value.args[0]}
    assert named == REQUIRED_SECRETS and all(".env" in m for m in exc.value.args[0])


def test_env_example_lists_every_variable_without_real_secrets(compose: dict[str, Any]) -> None:
    example = _example_env()
    commented = {line.lstrip("# ").partition("=")[0] for line in ENV_EXAMPLE.read_text().splitlines()
                 if re.match(r"^#\s*[A-Z_]+=", line)}
    used = {m.group(1) for m in _used_vars(compose)}
    assert used <= set(example) | commented, f"not in .env.example: {sorted(used - set(example) - commented)}"
    for key in REQUIRED_SECRETS:
        assert example.get(key) == "", f".env.example: {key} must be empty (the operator generates it)"
    for key, value in example.items():
        if SECRET_KEY_RE.search(key):
            assert value == "", f".env.example: {key} holds a value"
    assert example["WEIR_BIND"] == "127.0.0.1"
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


def test_airflow_has_real_users_not_everyone_admin(services: dict[str, dict[str, Any]]) -> None:
    text = COMPOSE_FILE.read_text()
    assert "SIMPLE_AUTH_MANAGER_ALL_ADMINS" not in text and "SIMPLE_AUTH_MANAGER_USERS" not in text
    for name in AIRFLOW_SERVICES:
        env = _env(services[name])
        assert env.get("AIRFLOW__CORE__AUTH_MANAGER") == FAB_AUTH_MANAGER, name
        assert ("AIRFLOW_ADMIN_PASSWORD" in env) == (name == "airflow-init"), \
            f"{name}: the admin password belongs to airflow-init only"
    init = "\n".join(services["airflow-init"]["command"])
    assert "airflow users create --role Admin" in init
    assert '"$$AIRFLOW_ADMIN_PASSWORD"' in init and '"$$AIRFLOW_ADMIN_USERNAME"' in init  # not interpolated by compose
    dockerfile = (ROOT / "docker" / "airflow" / "Dockerfile").read_text()
    assert re.search(r"apache-airflow-providers-fab==\$\{FAB_VERSION\}", dockerfile)
    assert re.search(r"^ARG FAB_VERSION=\d+\.\d+\.\d+$", dockerfile, re.M)


def test_every_weir_variable_is_a_runtime_config_field_that_validates(compose: dict[str, Any]) -> None:
    """The compose file configures Weir with the same profile fields as any deployment (docs/configuration.md):
    a misspelt or removed ``WEIR_*`` name would be silently ignored by the config loader, so it fails here."""
    from weir.runtime import RuntimeConfig

    for name, service in compose["services"].items():
        env = _env(service)
        weir = {k[len("WEIR_"):].lower(): v for k, v in env.items() if k.startswith("WEIR_")}
        unknown = sorted(k for k in weir if k not in RuntimeConfig.model_fields)
        assert not unknown, f"{name}: WEIR_{', WEIR_'.join(u.upper() for u in unknown)} is not a runtime config field"
        if weir:
            RuntimeConfig(**weir)  # the values parse (ports are ints, booleans are booleans)


def test_compose_sets_every_profile_field_of_the_cluster_test(compose: dict[str, Any]) -> None:
    """The Airflow tasks and the Spark cluster of the compose file get the same profile fields as the tested
    Airflow-on-a-standalone-cluster setup: a driver in the Airflow worker, executors on the workers."""
    for name in AIRFLOW_SERVICES | SPARK_SERVICES:
        fields = {k[len("WEIR_"):].lower() for k in _env(compose["services"][name]) if k.startswith("WEIR_")}
        assert fields >= CLUSTER_TEST_FIELDS, f"{name}: missing WEIR_{sorted(CLUSTER_TEST_FIELDS - fields)}"
    assert _env(compose["services"]["airflow-scheduler"])["WEIR_SPARK_MASTER"].startswith("spark://")

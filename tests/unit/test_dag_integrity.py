"""The DAG files parse cleanly in Airflow's own DagBag (in a fresh process), one DAG per spec, as declared."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "feature_specs"
HEAVY = ("pyspark", "py4j", "kafka", "boto3", "botocore", "great_expectations", "delta")

# Runs in a fresh interpreter: Airflow reads AIRFLOW_HOME once, and we want to see what parsing imports.
PROBE = r"""
import json, sys
heavy = %(heavy)r
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=%(dags)r)
out = {
    "import_errors": {k: v for k, v in bag.import_errors.items()},
    "warnings": {k: list(v) for k, v in bag.captured_warnings.items()},
    "heavy": [m for m in heavy if m in sys.modules],
    "files": sorted(bag.dagbag_stats and [s.file for s in bag.dagbag_stats] or []),
    "dags": {},
}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {
        "fileloc": dag.fileloc,
        "tasks": [t.task_id for t in dag.topological_sort()],
        "downstream": {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks},
        "retries": {t.task_id: t.retries for t in dag.tasks},
        "backoff": {t.task_id: t.retry_exponential_backoff for t in dag.tasks},
        "timeouts": {t.task_id: t.execution_timeout.total_seconds() if t.execution_timeout else None
                     for t in dag.tasks},
        "owner": sorted({t.owner for t in dag.tasks}),
        "schedule": getattr(dag.timetable, "expression", None) or str(dag.timetable),
        "timetable": type(dag.timetable).__name__,
        "tags": sorted(dag.tags),
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "doc_md": dag.doc_md or "",
        "description": dag.description,
        "start_date": str(dag.start_date),
        "end_date": str(dag.end_date),
        "operators": {t.task_id: [type(t).__name__, getattr(t, "job", None), getattr(t, "group", None)]
                      for t in dag.tasks},
    }
if %(plugins)r:
    from airflow import plugins_manager
    apps, _ = plugins_manager.get_fastapi_plugins()
    views, _ = plugins_manager._get_ui_plugins()
    out["plugin_apps"] = [a["url_prefix"] for a in apps]
    out["plugin_views"] = [v["url_route"] for v in views]
print("PROBE" + json.dumps(out, default=str))
"""


def parse_dags(tmp: Path, specs_dir: Path, plugins: bool = False) -> dict[str, Any]:
    home = tmp / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "WEIR_SPECS_DIR": str(specs_dir),
        "WEIR_STATE_DIR": str(tmp / "state"),
    }
    code = PROBE % {"heavy": HEAVY, "dags": str(ROOT / "dags"), "plugins": plugins}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("PROBE"))
    return json.loads(line[len("PROBE"):])  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def bag(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return parse_dags(tmp_path_factory.mktemp("dagbag"), SPECS, plugins=True)


@pytest.fixture(scope="module")
def broken_bag(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("broken")
    specs = tmp / "specs"
    specs.mkdir()
    shutil.copy(SPECS / "user_spend.yaml", specs / "user_spend.yaml")
    text = (SPECS / "merchant_risk.yaml").read_text()
    (specs / "merchant_risk.yaml").write_text(text.replace("aggregation: avg", "aggregation: average", 1))
    (specs / "new_group.yaml").write_text((SPECS / "user_spend.yaml").read_text().replace(
        "name: user_spend", "name: new_group", 1))
    return parse_dags(tmp, specs)


def spec_names() -> list[str]:
    return sorted(p.stem for p in SPECS.glob("*.yaml"))


def experiment_names() -> list[str]:
    return sorted(p.stem for p in (ROOT / "experiments").glob("*.yaml"))


def test_dagbag_imports_without_errors_or_warnings(bag: dict[str, Any]) -> None:
    assert bag["import_errors"] == {}
    assert bag["warnings"] == {}


def test_one_dag_per_spec_plus_the_streaming_supervisor_and_maintenance(bag: dict[str, Any]) -> None:
    expected = {f"weir__{name}" for name in spec_names()} | {"weir__streaming_supervisor", "weir__maintenance"}
    expected |= {f"weir_experiment__{name}" for name in experiment_names()}  # and one per experiment
    assert set(bag["dags"]) == expected


def test_task_order_is_compute_validate_publish_check_freshness(bag: dict[str, Any]) -> None:
    for name in spec_names():
        dag = bag["dags"][f"weir__{name}"]
        assert dag["tasks"] == ["compute", "validate", "publish", "check_freshness"]
        assert dag["downstream"] == {"compute": ["validate"], "validate": ["publish"],
                                     "publish": ["check_freshness"], "check_freshness": []}


def test_dag_settings_come_from_the_spec(bag: dict[str, Any]) -> None:
    from weir.spec import load_specs

    for group in load_specs(SPECS):
        dag = bag["dags"][f"weir__{group.name}"]
        assert set(dag["retries"].values()) == {group.retries}
        assert set(dag["backoff"].values()) == {2.0}
        assert dag["owner"] == [group.owner]
        assert set(group.tags) <= set(dag["tags"]) and "weir" in dag["tags"]
        assert dag["catchup"] is False
        assert dag["max_active_runs"] == 1
        assert all(t is not None and t > 0 for t in dag["timeouts"].values())
        assert group.name in dag["doc_md"]
        assert all(f"`{c}`" in dag["doc_md"] for c in group.output_column_names())
        assert dag["description"]
        if group.schedule == "@daily":
            # data intervals: the run of day D starts after D ends, with ds = D
            assert dag["timetable"] == "CronDataIntervalTimetable"
            assert dag["schedule"] == "0 0 * * *"


def test_streaming_supervisor_covers_every_kafka_group_and_the_exposure_stream(bag: dict[str, Any]) -> None:
    from weir.spec import load_specs

    kafka = sorted(g.name for g in load_specs(SPECS) if g.source.kafka)
    assert list((ROOT / "flags").glob("*.yaml")), "the shipped flags/ declare flags: the exposure stream is kept"
    sup = bag["dags"]["weir__streaming_supervisor"]
    assert sorted(sup["tasks"]) == sorted([f"ensure_stream__{n}" for n in kafka] + ["ensure_stream___exposures"])
    assert "weir_exposures" in sup["doc_md"]
    assert sup["schedule"] == "*/5 * * * *"
    assert sup["catchup"] is False


def test_without_declarations_the_supervisor_keeps_only_the_group_streams(broken_bag: dict[str, Any]) -> None:
    sup = broken_bag["dags"]["weir__streaming_supervisor"]  # specs in a directory with no flags/ beside it
    assert "ensure_stream___exposures" not in sup["tasks"]
    assert sup["tasks"]


def test_parsing_imports_no_spark_kafka_or_aws(bag: dict[str, Any]) -> None:
    assert bag["heavy"] == []


def test_plugin_registers_the_weir_view(bag: dict[str, Any]) -> None:
    assert "/weir" in bag["plugin_apps"]
    assert "weir" in bag["plugin_views"]


def test_broken_spec_is_an_import_error_naming_the_file(broken_bag: dict[str, Any]) -> None:
    errors = broken_bag["import_errors"]
    assert len(errors) == 1
    (path, message), = errors.items()
    assert path.endswith("weir_spec_errors.py")
    assert "merchant_risk.yaml" in message and "aggregation" in message


def test_broken_spec_hides_no_other_dag_and_a_new_yaml_adds_a_dag(broken_bag: dict[str, Any]) -> None:
    assert {"weir__user_spend", "weir__new_group"} <= set(broken_bag["dags"])
    assert "weir__merchant_risk" not in broken_bag["dags"]


def test_one_daily_analysis_dag_per_experiment_from_start_to_end_plus_the_longest_window(
        bag: dict[str, Any]) -> None:
    from weir.airflow.experiment_dags import load_experiments

    experiments, errors = load_experiments(SPECS)
    assert errors == [] and [e.name for e in experiments] == experiment_names()
    for e in experiments:
        dag = bag["dags"][f"weir_experiment__{e.name}"]
        assert dag["tasks"] == ["analyse_experiment"]
        assert dag["operators"]["analyse_experiment"] == ["WeirSparkJobOperator", "analyse_experiment", e.name]
        assert dag["timetable"] == "CronDataIntervalTimetable" and dag["schedule"] == "0 0 * * *"
        assert dag["catchup"] is False and dag["max_active_runs"] == 1
        assert dag["start_date"].startswith(e.start.strftime("%Y-%m-%d %H:%M:%S"))
        longest = max(int(m.window[:-1]) for m in e.metrics)  # the declared windows are whole days
        assert e.end is not None
        assert dag["end_date"].startswith((e.end + timedelta(days=longest)).strftime("%Y-%m-%d %H:%M:%S"))
        assert dag["retries"] == {"analyse_experiment": 2} and dag["owner"] == [e.owner]
        assert "experiment" in dag["tags"] and e.name in dag["doc_md"]
        assert all(m.name in dag["doc_md"] for m in e.metrics)


@pytest.fixture(scope="module")
def broken_experiments_bag(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("broken_experiments")
    shutil.copytree(SPECS, tmp / "feature_specs")
    (tmp / "experiments").mkdir()
    good = (ROOT / "experiments" / "repayment_reminder.yaml").read_text()
    (tmp / "experiments" / "repayment_reminder.yaml").write_text(good)
    (tmp / "experiments" / "broken_one.yaml").write_text(
        good.replace("name: repayment_reminder", "name: broken_one", 1).replace("aggregation: mean",
                                                                                 "aggregation: median", 1))
    return parse_dags(tmp, tmp / "feature_specs")


def test_broken_experiment_is_an_import_error_and_hides_no_other(broken_experiments_bag: dict[str, Any]) -> None:
    errors = broken_experiments_bag["import_errors"]
    assert len(errors) == 1
    (path, message), = errors.items()
    assert path.endswith("weir_experiment_errors.py")
    assert "broken_one.yaml" in message and "aggregation" in message
    assert "weir_experiment__repayment_reminder" in broken_experiments_bag["dags"]
    assert "weir_experiment__broken_one" not in broken_experiments_bag["dags"]

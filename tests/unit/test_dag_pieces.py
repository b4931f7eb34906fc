"""The pure pieces behind the DAGs: settings from specs, doc_md, the spark-submit command, job exit codes,
the status file and the Weir view's data (no Airflow, no Spark)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from weir.airflow.docs import render_doc_md
from weir.airflow.settings import DagDefaults, group_dag_settings
from weir.airflow.submit import parse_result, spark_submit_command
from weir.compute.layout import run_time_us
from weir.pipeline.job import EXIT_SPEC_ERROR, EXIT_VALIDATION_FAILED, RESULT_PREFIX, job_main
from weir.pipeline.status import read_status, record_step
from weir.runtime import RuntimeConfig, build_config
from weir.spec import SpecError, load_spec

ROOT = Path(__file__).resolve().parents[2]
USER_SPEND = ROOT / "feature_specs" / "user_spend.yaml"


def test_group_settings_take_schedule_owner_tags_retries_from_the_spec() -> None:
    g = load_spec(USER_SPEND)
    s = group_dag_settings(g, DagDefaults(retry_delay=timedelta(minutes=1)))
    assert s.dag_id == "weir__user_spend"
    assert s.schedule == g.schedule and s.owner == g.owner and s.retries == g.retries
    assert s.tags[:2] == ["weir", "feature-group"] and set(g.tags) <= set(s.tags)
    assert s.retry_delay == timedelta(minutes=1) and s.retry_exponential_backoff == 2.0
    assert set(s.task_timeouts) == {"compute", "validate", "publish", "check_freshness"}


def test_doc_md_lists_every_output_column_and_the_spec_file() -> None:
    g = load_spec(USER_SPEND)
    doc = render_doc_md(g)
    assert all(f"`{c}`" in doc for c in g.output_column_names())
    assert str(USER_SPEND) in doc and "ExpectColumnValuesToNotBeNull" in doc


def test_spark_submit_command_uses_the_configured_master_and_packages(tmp_path: Path) -> None:
    config = build_config(state_dir=tmp_path, spark_master="spark://master:7077")
    resolved = _plant_resolved_jars(config)
    cmd = spark_submit_command(config, "compute", ["--group", "g", "--ds", "2026-01-02"], binary="spark-submit")
    assert cmd[:3] == ["spark-submit", "--master", "spark://master:7077"]
    jars = cmd[cmd.index("--jars") + 1]
    assert "io.delta__delta-spark" in jars and "spark-sql-kafka" in jars
    assert jars.split(",") == [str(j) for j in resolved]  # the same files a session gets: no Ivy in the task
    assert "--packages" not in cmd and not any("ivySettings" in c for c in cmd)
    job = Path(__file__).resolve().parents[2] / "src" / "weir" / "jobs" / "compute.py"  # in the package
    assert job.is_file() and "from weir.pipeline.steps import compute\n" in job.read_text()
    assert cmd[-5:] == [str(job), "--group", "g", "--ds", "2026-01-02"]
    with pytest.raises(ValueError, match="unknown Weir job"):
        spark_submit_command(config, "nope", [], binary="x")


def _plant_resolved_jars(config: RuntimeConfig) -> list[Path]:
    """What ``weir jars resolve`` leaves (empty stand-in files named as Ivy names them), so no network is needed."""
    from weir.spark_jars import MANIFEST, jars_dir, spark_packages

    directory = jars_dir(config)
    directory.mkdir(parents=True)
    names = [f"{p.split(':')[0]}__{p.split(':')[1]}-{p.split(':')[2]}.jar" for p in spark_packages(config)]
    for name in names:
        (directory / name).write_bytes(b"")
    (directory / MANIFEST).write_text("".join(f"{n}\n" for n in names))
    return [directory / n for n in names]


def test_job_main_prints_the_summary_and_maps_failures_to_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    from weir.validate.outcome import ValidationFailed, ValidationOutcome

    def ok(group: str, ds: str) -> dict[str, object]:
        return {"group": group, "ds": ds}

    assert job_main(ok, ["--group", "g", "--ds", "2026-01-02"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith(RESULT_PREFIX) and parse_result(last) == {"group": "g", "ds": "2026-01-02"}
    assert parse_result("some spark log line") is None

    def bad_spec(group: str, ds: str) -> dict[str, object]:
        raise SpecError("bad", file="x.yaml")

    def failed(group: str, ds: str) -> dict[str, object]:
        day = datetime(2026, 1, 2).date()
        raise ValidationFailed(ValidationOutcome(group, day, datetime(2026, 1, 3, tzinfo=UTC), "s", False, [], {}, 0))

    assert job_main(bad_spec, ["--spec", "g", "--date", "2026-01-02"]) == EXIT_SPEC_ERROR
    assert job_main(failed, ["--group", "g", "--ds", "2026-01-02"]) == EXIT_VALIDATION_FAILED


def test_status_file_keeps_the_last_result_of_each_step(tmp_path: Path) -> None:
    config = build_config(state_dir=tmp_path)
    record_step(config, "g", "compute", "2026-01-01", "success", {"summary": {"rows": 1}})
    record_step(config, "g", "validate", "2026-01-01", "failed", {"error": "boom"})
    record_step(config, "g", "compute", "2026-01-02", "success", {"summary": {"rows": 2}})
    status = read_status(config, "g")
    assert status["compute"]["ds"] == "2026-01-02" and status["compute"]["summary"] == {"rows": 2}
    assert status["validate"]["state"] == "failed"
    assert read_status(config, "other") == {}
    assert run_time_us(datetime(2026, 1, 1).date()) == int(datetime(2026, 1, 2, tzinfo=UTC).timestamp()) * 1_000_000


def test_weir_view_shows_every_group_with_its_pipeline_state(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from weir.airflow.view import collect_overview, create_app

    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "user_spend.yaml").write_text(USER_SPEND.read_text())
    (specs / "broken.yaml").write_text("name: broken\n")
    config = build_config(state_dir=tmp_path / "state", specs_dir=specs)
    record_step(config, "user_spend", "validate", "2026-01-01", "failed",
                {"error": "ValidationFailed: 1 expectation failed", "summary": {"headline": "validation FAILED"}})
    record_step(config, "user_spend", "check_freshness", "2026-01-01", "success",
                {"summary": {"newest_event_ts": "2026-01-01T23:00:00+00:00"}})

    def runs(dag_ids: list[str]) -> dict[str, dict[str, object]]:
        return {d: {"state": "failed", "logical_date": "2026-01-01T00:00:00+00:00"} for d in dag_ids}

    data = collect_overview(config, runs, now=datetime(2026, 1, 2, 1, tzinfo=UTC))
    (row,) = data["groups"]
    assert row["last_run"]["state"] == "failed" and row["validation"]["state"] == "failed"
    assert row["freshness"]["event_age_s_now"] == 7200 and row["freshness"]["stale_now"] is True
    assert row["streaming"]["kafka_topic"] == "transactions" and row["streaming"]["process"] == "not running"
    assert any("broken.yaml" in e for e in data["spec_errors"])

    client = TestClient(create_app(lambda: config, runs, auth=lambda: None))  # auth: tests/unit/test_view_auth.py
    page = client.get("/")
    assert page.status_code == 200 and "user_spend" in page.text and "validation FAILED" in page.text
    assert json.loads(client.get("/api/groups").text)["groups"][0]["group"] == "user_spend"


def test_spark_submit_reads_preinstalled_jars_in_place_and_passes_the_s3a_settings(tmp_path: Path) -> None:
    """With ``spark_jars_preinstalled`` the jars go on the class path at launch (nothing shipped), and a lake on
    ``s3a://`` gets its endpoint settings on the command line (the job's session is built under spark-submit)."""
    config = build_config(state_dir=tmp_path, spark_master="spark://master:7077", spark_jars_preinstalled=True,
                          lake_path="s3a://lake/weir", s3_endpoint="http://127.0.0.1:9000")
    _plant_resolved_jars(config)
    cmd = spark_submit_command(config, "compute", ["--group", "g", "--ds", "2026-01-02"], binary="spark-submit")
    confs = dict(cmd[i + 1].split("=", 1) for i, c in enumerate(cmd) if c == "--conf")
    assert "--jars" not in cmd
    assert "io.delta__delta-spark" in confs["spark.driver.extraClassPath"]
    assert confs["spark.executor.extraClassPath"] == confs["spark.driver.extraClassPath"]
    assert confs["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:9000"

"""A two-day backfill through a real Airflow, checked against ``weir backfill``, then looked at in a browser.

One Airflow for the whole module, started like ``weir airflow up`` (``airflow standalone``: api-server, scheduler
with LocalExecutor, dag-processor, triggerer) on a private home and SQLite database, Weir's ``dags/`` and
``plugins/``, a private lake, state dir and online table prefix. The backfill is the documented command,
``airflow backfill create --dag-id weir__user_spend --from-date ... --to-date ... --reprocess-behavior completed``
with Airflow's default of up to 10 runs at once (the compute task's ``depends_on_past`` keeps the days in
order): the scheduler starts the two backfill runs and the LocalExecutor runs every task (compute, validate
and publish as ``spark-submit`` jobs, check_freshness in the worker). No scheduled run interferes
(``use_job_schedule`` off), so the runs in the database are exactly the backfill's.

- :func:`test_airflow_backfill_equals_weir_backfill`: the feature, tile and lifetime tables Airflow wrote for the
  two days equal what ``weir.batch.backfill`` writes into a separate lake for the same days (order-insensitive,
  floats to 1e-9 relative).
- :func:`test_airflow_ui_in_a_browser`: headless Chromium (Debian's, through selenium and
  ``/usr/bin/chromedriver``) is sent to Airflow's login by the Weir view, logs in through the form, opens the
  grid of ``weir__user_spend`` and the Weir view, and checks what they show; screenshots go to
  ``test-artifacts/airflow_ui/``. Without Chromium the test skips, except in CI (``CI=true``), where it fails:
  ``.ci/run`` installs it.

Spark-heavy: six ``spark-submit`` jobs (three per day) plus one in-process backfill, on a tiny dataset.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from weir.process import free_port
from weir.runtime import RuntimeConfig, build_config, load_config
from weir.spark_jars import ivy_home

pytestmark = [pytest.mark.integration, pytest.mark.timeout(2400)]  # the fixture runs the whole backfill

ROOT = Path(__file__).resolve().parents[2]
GROUP = "user_spend"
DAG_ID = f"weir__{GROUP}"
START, END = date(2026, 3, 1), date(2026, 3, 2)
DAYS = ["2026-03-01", "2026-03-02"]  # two days: the second waits for the first
TASKS = ["compute", "validate", "publish", "check_freshness"]
ARTIFACTS = ROOT / "test-artifacts" / "airflow_ui"
RUNS_TIMEOUT_S = 1800.0  # six spark-submit jobs; on a busy 2-core machine each can take minutes


@dataclass
class RunningAirflow:
    config: RuntimeConfig  # what Airflow's tasks see: the Airflow lake, state dir, online prefix
    reference: RuntimeConfig  # the same source tables in another lake, for ``weir backfill``
    url: str
    password: str
    token: str
    runs: list[dict[str, Any]]
    task_states: dict[str, dict[str, str]]  # logical day -> task id -> state
    timings: dict[str, float]


def _request(url: str, token: str | None = None, body: dict[str, Any] | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, headers=headers, method="POST" if data else "GET")
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


def _wait(what: str, check: Any, timeout_s: float, log: Path, interval_s: float = 3.0) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(interval_s)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-40:]) if log.exists() else ""
    pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}; last: {last!r}\n{log}:\n{tail}")


@pytest.fixture(scope="module")
def airflow(tmp_path_factory: pytest.TempPathFactory, weir_config: RuntimeConfig, stack: RuntimeConfig,
            spark: Any) -> Iterator[RunningAirflow]:
    from weir.airflow.local import airflow_down, airflow_env, airflow_up, log_file, password_file
    from weir.demo import generate, write_demo_tables

    tmp = tmp_path_factory.mktemp("airflow_backfill")
    mp = pytest.MonkeyPatch()
    env = {
        "WEIR_STATE_DIR": str(tmp / "state"),
        "WEIR_LAKE_PATH": str(tmp / "lake_airflow"),
        "WEIR_CHECKPOINT_PATH": str(tmp / "checkpoints"),
        "WEIR_SPECS_DIR": str(ROOT / "feature_specs"),
        "WEIR_DYNAMODB_TABLE_PREFIX": f"weir_bf{uuid.uuid4().hex[:6]}_",
        "WEIR_AIRFLOW_HOME": str(tmp / "airflow"),
        "WEIR_AIRFLOW_PORT": str(free_port()),
        "WEIR_SPARK_IVY_DIR": str(ivy_home(weir_config)),  # the download cache the session filled
        # only the backfill's runs: no scheduled run of "yesterday", and the DAG needs no unpausing
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
    }
    for key, value in env.items():
        mp.setenv(key, value)
    load_config.cache_clear()
    config = build_config()
    reference = build_config(lake_path=str(tmp / "lake_reference"))
    timings: dict[str, float] = {}
    try:
        data = generate(11, datetime(2026, 3, 1), 3, 40, 10, 2.0)  # events on each day, one after the backfill
        write_demo_tables(spark, data, config.lake)
        write_demo_tables(spark, data, reference.lake)

        began = time.monotonic()
        airflow_up(config, timeout_s=300)
        timings["airflow_up_s"] = time.monotonic() - began
        log = log_file(config)
        url = f"http://127.0.0.1:{config.airflow_port}"
        password = json.loads(password_file(config).read_text())["admin"]
        token = _request(f"{url}/auth/token", body={"username": "admin", "password": password})["access_token"]
        _wait(f"{DAG_ID} parsed by the dag-processor",
              lambda: _request(f"{url}/api/v2/dags/{DAG_ID}", token)["dag_id"] == DAG_ID, 240, log)

        began = time.monotonic()
        created = subprocess.run(
            [str(Path(sys.executable).parent / "airflow"), "backfill", "create", "--dag-id", DAG_ID,
             "--from-date", DAYS[0], "--to-date", DAYS[-1], "--reprocess-behavior", "completed"],
            capture_output=True, text=True, timeout=300, env={**os.environ, **airflow_env(config)})
        assert created.returncode == 0, created.stdout[-2000:] + created.stderr[-3000:]

        def finished() -> list[dict[str, Any]] | None:
            runs = _request(f"{url}/api/v2/dags/{DAG_ID}/dagRuns?order_by=logical_date", token)["dag_runs"]
            done = len(runs) == len(DAYS) and all(r["state"] in ("success", "failed") for r in runs)
            return runs if done else None

        runs = _wait("the backfill runs to finish", finished, RUNS_TIMEOUT_S, log, interval_s=5)
        timings["backfill_runs_s"] = time.monotonic() - began
        task_states = {}
        for run in runs:
            tis = _request(f"{url}/api/v2/dags/{DAG_ID}/dagRuns/{run['dag_run_id']}/taskInstances", token)
            task_states[run["logical_date"][:10]] = {t["task_id"]: t["state"] for t in tis["task_instances"]}
        yield RunningAirflow(config, reference, url, password, token, runs, task_states, timings)
    finally:
        airflow_down(config)
        mp.undo()
        load_config.cache_clear()


def _table(spark: Any, path: str, sort_by: list[str]) -> Any:
    from pyspark.sql import functions as F

    df = spark.read.format("delta").load(path).where(F.col("ds").between(START, END)).toPandas()
    return df.sort_values(sort_by).reset_index(drop=True)[sorted(df.columns)]


def test_airflow_backfill_equals_weir_backfill(airflow: RunningAirflow, spark: Any) -> None:
    import pandas as pd

    from weir.batch import backfill
    from weir.spec.loader import find_spec

    assert [r["logical_date"][:10] for r in airflow.runs] == DAYS, airflow.runs
    assert {r["run_type"] for r in airflow.runs} == {"backfill"}
    assert [r["state"] for r in airflow.runs] == ["success"] * len(DAYS), airflow.task_states
    assert airflow.task_states == {d: dict.fromkeys(TASKS, "success") for d in DAYS}

    group = find_spec(GROUP, airflow.reference.specs_dir)
    backfill(spark, group, START, END, airflow.reference)

    keys = list(group.key_columns)
    tables = {f"features/{GROUP}": [*keys, "run_ts"], f"tiles/{GROUP}": [*keys, "hop_us", "tile_end"],
              f"lifetime/{GROUP}": [*keys, "run_ts"]}
    for name, sort_by in tables.items():
        got = _table(spark, airflow.config.table_path(name), sort_by)
        want = _table(spark, airflow.reference.table_path(name), sort_by)
        assert len(want) > 0, name
        if not name.startswith("tiles"):  # a row per entity per day (tiles: only days with events, here all)
            assert sorted(got["ds"].astype(str).unique()) == DAYS, name
        pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9, obj=name)


# ---- the UI in a real browser ----------------------------------------------------------------------------

def _shot(driver: Any, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    (ARTIFACTS / f"{name}.html").write_text(driver.page_source)
    return path


def _wait_text(driver: Any, texts: list[str], timeout_s: float = 60.0, name: str = "page") -> str:
    """Wait until the page (and, for the Weir view inside the UI, its iframe) shows every one of ``texts``."""
    from selenium.webdriver.common.by import By

    deadline = time.monotonic() + timeout_s
    body = ""
    while time.monotonic() < deadline:
        body = driver.find_element(By.TAG_NAME, "body").text
        if all(t in body for t in texts):
            return str(body)
        time.sleep(0.5)
    _shot(driver, f"{name}_timeout")
    missing = [t for t in texts if t not in body]
    pytest.fail(f"{name}: {missing} not shown at {driver.current_url}; page text:\n{body[:3000]}")


def test_airflow_ui_in_a_browser(airflow: RunningAirflow, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, 60)
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)

    # anonymous: the Weir view sends the browser to Airflow's login page
    driver.get(f"{airflow.url}/weir/")
    wait.until(EC.url_contains("/auth/login"))
    user = wait.until(EC.presence_of_element_located((By.NAME, "username")))
    assert "user_spend" not in driver.find_element(By.TAG_NAME, "body").text
    _shot(driver, "01_login")

    user.send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys(airflow.password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait.until(lambda d: "/auth/login" not in d.current_url)

    # the grid of the feature group's DAG: a column per backfill run, a cell per task
    driver.get(f"{airflow.url}/dags/{DAG_ID}")
    _wait_text(driver, [DAG_ID, *TASKS], name="grid")
    grid_cells = {f"grid-{run['dag_run_id']}-{task}" for run in airflow.runs for task in TASKS}
    wait.until(lambda d: grid_cells <= {e.get_attribute("data-testid")
                                        for e in d.find_elements(By.CSS_SELECTOR, "a[data-testid^='grid-']")})
    time.sleep(1)  # let the bars finish drawing
    _shot(driver, "02_grid")
    # the Runs tab spells out each run's type and state
    driver.get(f"{airflow.url}/dags/{DAG_ID}/runs")
    runs_text = _wait_text(driver, [r["dag_run_id"] for r in airflow.runs], name="runs")
    assert runs_text.lower().count("success") >= len(DAYS), runs_text[:2000]
    _shot(driver, "03_runs")

    # the Weir view on its own: every group with last run, validation and freshness
    driver.get(f"{airflow.url}/weir/")
    _wait_text(driver, ["Weir feature groups", "user_spend", "user_repayment", "merchant_risk"],
                      name="weir_view")
    _shot(driver, "04_weir_view")
    rows = {r.find_element(By.TAG_NAME, "td").text.split("\n")[0]: r
            for r in driver.find_elements(By.CSS_SELECTOR, "table tr")[1:]}
    assert set(rows) == {"merchant_risk", "user_repayment", "user_spend"}, list(rows)
    cells = [c.text for c in rows["user_spend"].find_elements(By.TAG_NAME, "td")]
    # group, last DAG run, compute, validation, publish, online freshness, streaming
    assert DAG_ID in cells[1] and "success" in cells[1] and DAYS[-1] in cells[1], cells
    # the last result of each step: compute ran the days in order; the later steps of two days may overlap
    assert "success" in cells[2] and f"ds {DAYS[-1]}" in cells[2], cells
    assert "success" in cells[3] and any(f"ds {d}" in cells[3] for d in DAYS), cells
    assert "success" in cells[4] and "written" in cells[4], cells
    assert "success" in cells[5] and "newest event" in cells[5] and "SLO 1h" in cells[5], cells
    for other in ("user_repayment", "merchant_risk"):
        other_cells = [c.text for c in rows[other].find_elements(By.TAG_NAME, "td")]
        assert "no runs" in other_cells[1] and "never ran" in other_cells[3], other_cells
    # the validation report of that day, one click away: read from the lake, wherever the task validated it
    shown = next(d for d in DAYS if f"ds {d}" in cells[3])
    rows["user_spend"].find_element(By.LINK_TEXT, "validation report").click()
    report_text = _wait_text(driver, [f"Weir validation: user_spend / {shown}", "PASSED"], name="report")
    assert "All expectations" in report_text, report_text[:2000]

    # the same view inside Airflow's UI (Browse -> Weir): an iframe on the plugin's route
    driver.get(f"{airflow.url}/plugin/weir")
    frame = wait.until(EC.presence_of_element_located((By.TAG_NAME, "iframe")))
    time.sleep(1)
    _shot(driver, "05_weir_in_airflow_ui")
    driver.switch_to.frame(frame)
    _wait_text(driver, ["Weir feature groups", "user_spend", "merchant_risk"], name="weir_iframe")
    driver.switch_to.default_content()

    # a fresh browser session with no cookie still gets no data from the JSON API
    driver.delete_all_cookies()
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(f"{airflow.url}/weir/api/groups", timeout=10)
    assert denied.value.code == 401
    assert [p.name for p in sorted(ARTIFACTS.glob("*.png"))] == [
        "01_login.png", "02_grid.png", "03_runs.png", "04_weir_view.png", "05_weir_in_airflow_ui.png"]

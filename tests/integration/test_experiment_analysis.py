"""An experiment's daily analysis on real Spark and Delta, checked against plain Python and scipy, then the same
day analysed again by a real Airflow task run (``dag.test`` of the DAG parsed from dags/, a spark-submit job).

Synthetic data with the traps a real exposure log has: duplicated exposure ids, later re-exposures, another
experiment's exposures, exposures after the analysis day; covariate events after the first exposure (they must
not leak) and at its very instant; outcome events before, at, and after the window and after the day. Planted:
a treatment effect that CUPED finds with a much narrower interval, and a 30 % loss of treatment exposures that
the SRM check flags.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from oracle import feature_value, same_value
from scipy import stats as sps

from weir.runtime import RuntimeConfig, build_config, load_config
from weir.spark_jars import ivy_home

pytestmark = pytest.mark.integration

DAY = date(2026, 6, 10)
DAY_END = datetime(2026, 6, 11, tzinfo=UTC)  # run time of DAY: everything up to and including it counts
START = datetime(2026, 6, 1, tzinfo=UTC)
WINDOW = timedelta(days=7)
EFFECT = 2.0
NAME = "checkout_test"
SPEC = """
name: exp_activity
owner: growth
entity: {name: user, keys: [user_id]}
source:
  delta: exp_activity_events
  event_time: event_ts
  columns: {user_id: string, amount: double, event_ts: timestamp}
features:
  - {name: spend, aggregation: sum, column: amount, windows: [30d]}
  - {name: visits, aggregation: count, windows: [30d]}
online: {ttl: 60d}
schedule: "@daily"
"""
EXPERIMENT = f"""
name: {NAME}
description: One-page checkout vs the current flow
owner: growth
entity: {{name: user, key: user_id}}
salt: checkout-test-2026-06
start: 2026-06-01T00:00:00Z
end: 2026-06-30T00:00:00Z
variants:
  - {{name: control, weight: 50}}
  - {{name: one_page, weight: 50}}
metrics:
  - {{name: revenue, source: exp_orders, aggregation: sum, column: amount, window: 7d}}
  - {{name: order_value, source: exp_orders, aggregation: mean, column: amount, window: 7d}}
covariates:
  - exp_activity.spend_sum_30d
  - exp_activity.visits_count_30d
"""


@dataclass
class Lab:
    config: RuntimeConfig
    root: Path
    mp: pytest.MonkeyPatch
    first: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # key -> (variant, first exposure)
    activity: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    orders: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    leaked: set[str] = field(default_factory=set)  # keys with a covariate event after their first exposure


def _exposure(rng: random.Random, key: str, variant: str, ts: datetime, name: str = NAME) -> dict[str, Any]:
    return {"exposure_id": f"{rng.getrandbits(128):032x}", "name": name, "kind": "experiment", "entity": "user",
            "key": key, "variant": variant, "salt": "s", "reason": "SPLIT", "ts": ts, "ds": ts.date(),
            "ingested_at": ts}


def generate(lab: Lab, n_users: int = 1200, seed: int = 7) -> list[dict[str, Any]]:
    """The exposure rows; fills the lab's oracle inputs (first exposures, activity and order events per key)."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    for i in range(n_users):
        key = f"u{i:05d}"
        variant = "one_page" if rng.random() < 0.5 else "control"
        level = rng.lognormvariate(3.0, 0.5)
        first = START + timedelta(seconds=rng.randrange(0, int(9.8 * 86400)))
        if variant == "one_page" and rng.random() < 0.3:
            continue  # the planted SRM: a third of the treatment's exposures never reach the log
        if i % 50 == 0:  # exposed only after the analysis day: not in this day's analysis
            rows.append(_exposure(rng, key, variant, DAY_END + timedelta(hours=3)))
            continue
        if i % 50 == 25:
            first = DAY_END  # the last instant of the day (its ds is the next day): still this day's exposure
        e = _exposure(rng, key, variant, first)
        rows.append(e)
        if i % 3 == 0:
            rows.append(dict(e))  # the same exposure delivered twice (a producer retry)
        if i % 4 == 0:
            rows.append(_exposure(rng, key, variant, first + timedelta(hours=rng.randrange(1, 48))))
        if i % 7 == 0:  # another experiment exposed the same user earlier: not this one's first exposure
            rows.append(_exposure(rng, key, "other", first - timedelta(days=1), name="other_test"))
        lab.first[key] = (variant, first)
        acts = [{"user_id": key, "amount": round(level * rng.uniform(0.5, 1.5), 2),
                 "event_ts": first - timedelta(seconds=rng.randrange(60, 20 * 86400))}
                for _ in range(0 if i % 25 == 1 else rng.randrange(1, 5))]  # a few have none: CUPED fills
        if i % 5 == 0:  # at the very instant of the exposure: still "as of" it
            acts.append({"user_id": key, "amount": 3.0, "event_ts": first})
        if i % 2 == 0:  # after the first exposure: must not leak into the covariate
            later = first + timedelta(seconds=rng.randrange(1, 3 * 86400))
            acts.append({"user_id": key, "amount": 500.0, "event_ts": later})
            lab.leaked.add(key)
        lab.activity[key] = acts
        pre = sum(a["amount"] for a in acts if a["event_ts"] <= first)
        lift = EFFECT if variant == "one_page" else 0.0
        orders = [{"user_id": key, "amount": round(0.6 * pre + rng.gauss(0, 1) + lift, 4),
                   "event_ts": first + timedelta(seconds=rng.randrange(1, 12 * 3600))}]
        if i % 6 == 0:
            orders.append({"user_id": key, "amount": 1000.0, "event_ts": first})  # at exposure: not an outcome
            orders.append({"user_id": key, "amount": 1000.0, "event_ts": first - timedelta(hours=2)})
        if i % 8 == 0:
            orders.append({"user_id": key, "amount": 5.0, "event_ts": first + WINDOW})  # the window's last instant
            orders.append({"user_id": key, "amount": 1000.0, "event_ts": first + WINDOW + timedelta(seconds=1)})
        lab.orders[key] = orders
    return rows


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, weir_config: RuntimeConfig, spark: Any) -> Iterator[Lab]:
    """A private lake and specs dir (feature spec + experiment declaration) with the synthetic tables."""
    from weir.experiments.tables import EXPOSURE_PARTITION, EXPOSURE_SCHEMA_DDL
    from weir.lake.paths import exposures_path

    root = tmp_path_factory.mktemp("experiment_analysis")
    (root / "feature_specs").mkdir()
    (root / "feature_specs" / "exp_activity.yaml").write_text(SPEC)
    (root / "experiments").mkdir()
    (root / "experiments" / f"{NAME}.yaml").write_text(EXPERIMENT)
    mp = pytest.MonkeyPatch()
    mp.setenv("WEIR_LAKE_PATH", str(root / "lake"))
    mp.setenv("WEIR_SPECS_DIR", str(root / "feature_specs"))
    load_config.cache_clear()
    lab = Lab(build_config(), root, mp)
    exposures = generate(lab)
    (spark.createDataFrame(exposures, schema=EXPOSURE_SCHEMA_DDL).coalesce(1).write.format("delta")
     .partitionBy(EXPOSURE_PARTITION).save(exposures_path(lab.config)))
    for table, events in (("exp_activity_events", lab.activity), ("exp_orders", lab.orders)):
        rows = [e for evs in events.values() for e in evs]
        schema = "user_id STRING, amount DOUBLE, event_ts TIMESTAMP"
        spark.createDataFrame(rows, schema=schema).coalesce(1).write.format("delta").save(
            lab.config.table_path(table))
    yield lab
    mp.undo()
    load_config.cache_clear()


@pytest.fixture(scope="module")
def analysed(lab: Lab, spark: Any) -> dict[str, Any]:
    from weir.experiments.analysis.results import write_results
    from weir.experiments.analysis.run import analyse_table, entity_table, find_experiment
    from weir.spec.loader import load_specs

    # the pieces of analyse_experiment (the Airflow test below runs it whole), to see the per-entity values
    groups = load_specs(lab.config.specs_dir)
    experiment = find_experiment(lab.config, NAME, groups)
    table, _lineage = entity_table(spark, lab.config, experiment, DAY, groups)
    entities = {r["user_id"]: r for r in table.to_pylist()}
    rows, summary = analyse_table(experiment, DAY, table)
    write_results(spark, lab.config, NAME, DAY, rows)
    return {"entities": entities, "summary": summary, "groups": groups}


# -- the oracle: plain Python over the same events ------------------------------------------------------------

def oracle_covariates(lab: Lab, groups: list[Any]) -> dict[str, dict[str, Any]]:
    """Each covariate as of the first exposure (``feature_value`` of tests/oracle.py over the raw events)."""
    (group,) = groups
    out: dict[str, dict[str, Any]] = {}
    for key, (_variant, first) in lab.first.items():
        values = {}
        for col in group.output_columns():
            f = col.feature
            hop = f.hop_us_for(None if col.window is None else int(_td(col.window).total_seconds()) * 1_000_000)
            values[col.name] = feature_value(f.aggregation.value, f.column, f.where, col.window, hop,
                                             lab.activity[key], "event_ts", first)
        out[key] = values
    return out


def _td(window: str) -> timedelta:
    return timedelta(days=int(window[:-1])) if window.endswith("d") else timedelta(hours=int(window[:-1]))


def oracle_outcomes(lab: Lab) -> dict[str, dict[str, float | None]]:
    """Order events in (first, min(first + 7d, end of DAY)]: their sum (0 if none) and mean (none if none)."""
    out: dict[str, dict[str, float | None]] = {}
    for key, (_variant, first) in lab.first.items():
        amounts = [o["amount"] for o in lab.orders[key] if first < o["event_ts"] <= min(first + WINDOW, DAY_END)]
        out[key] = {"revenue": float(sum(amounts)), "order_value": sum(amounts) / len(amounts) if amounts else None}
    return out


def _stored(spark: Any, config: RuntimeConfig) -> list[dict[str, Any]]:
    from weir.experiments.analysis.results import read_results

    return sorted(read_results(spark, config, NAME, DAY), key=lambda r: (r["metric"], r["variant"]))


# -- the tests --------------------------------------------------------------------------------------------------

def test_first_exposures_outcomes_and_covariates_match_the_oracle(lab: Lab, analysed: dict[str, Any]) -> None:
    entities = analysed["entities"]
    assert set(entities) == set(lab.first)  # dedup, other experiment and after-the-day exposures handled
    covariates = oracle_covariates(lab, analysed["groups"])
    outcomes = oracle_outcomes(lab)
    for key, (variant, first) in lab.first.items():
        row = entities[key]
        assert row["variant"] == variant and row["n_variants"] == 1
        assert row["first_exposure_ts"] == first
        assert same_value(row["metric__revenue"], outcomes[key]["revenue"]), key
        assert same_value(row["metric__order_value"], outcomes[key]["order_value"]), key
        for col in ("spend_sum_30d", "visits_count_30d"):
            assert same_value(row[col], covariates[key][col]), (key, col, row[col], covariates[key][col])


def test_a_covariate_event_after_the_first_exposure_does_not_leak(lab: Lab, analysed: dict[str, Any]) -> None:
    entities = analysed["entities"]
    assert len(lab.leaked) > 100
    for key in lab.leaked:
        _variant, first = lab.first[key]
        before = [a["amount"] for a in lab.activity[key] if a["event_ts"] <= first]
        every = [a["amount"] for a in lab.activity[key]]
        assert sum(every) != sum(before)  # the leak would change the value: this check can fail
        assert same_value(entities[key]["spend_sum_30d"], float(sum(before)) if before else None), key
        assert entities[key]["visits_count_30d"] == len(before), key


def test_statistics_equal_scipy_on_the_oracle_values(lab: Lab, analysed: dict[str, Any], spark: Any) -> None:
    rows = {(r["metric"], r["variant"]): r for r in _stored(spark, lab.config)}
    assert set(rows) == {(m, v) for m in ("revenue", "order_value") for v in ("control", "one_page")}
    outcomes = oracle_outcomes(lab)
    covariates = oracle_covariates(lab, analysed["groups"])
    for metric in ("revenue", "order_value"):
        keys = [k for k in lab.first if outcomes[k][metric] is not None]
        y = np.array([outcomes[k][metric] for k in keys], dtype=float)
        arm = np.array([lab.first[k][0] for k in keys])
        c, t = y[arm == "control"], y[arm == "one_page"]
        ctl, trt = rows[(metric, "control")], rows[(metric, "one_page")]
        assert (ctl["n"], trt["n"]) == (len(c), len(t)) and ctl["is_control"] and not trt["is_control"]
        assert ctl["mean"] == pytest.approx(c.mean(), rel=1e-9) and trt["mean"] == pytest.approx(t.mean(), rel=1e-9)
        assert trt["delta"] == pytest.approx(t.mean() - c.mean(), rel=1e-9)
        assert trt["p_value"] == pytest.approx(sps.ttest_ind(t, c, equal_var=False).pvalue, rel=1e-6)
        assert ctl["delta"] is None and ctl["p_value"] is None
        # CUPED from the oracle's covariates: a missing value takes its column's mean over every exposed entity
        # (the documented rule), theta from the normal equations, then Welch's test on the adjusted values
        x = np.array([[np.nan if covariates[k][c_] is None else covariates[k][c_]
                       for c_ in ("spend_sum_30d", "visits_count_30d")] for k in lab.first], dtype=float)
        x = np.where(np.isnan(x), np.nanmean(x, axis=0), x)
        x = x[[outcomes[k][metric] is not None for k in lab.first]]
        xc, yc = x - x.mean(axis=0), y - y.mean()
        theta = np.linalg.solve(xc.T @ xc, xc.T @ yc)
        adj = y - xc @ theta
        ac, at_ = adj[arm == "control"], adj[arm == "one_page"]
        assert trt["cuped_delta"] == pytest.approx(at_.mean() - ac.mean(), rel=1e-6, abs=1e-9)
        assert trt["cuped_p_value"] == pytest.approx(sps.ttest_ind(at_, ac, equal_var=False).pvalue, rel=1e-5)
        reduction = 1 - (ac.var(ddof=1) / ac.size + at_.var(ddof=1) / at_.size) / (
            c.var(ddof=1) / c.size + t.var(ddof=1) / t.size)
        assert trt["variance_reduction"] == pytest.approx(reduction, rel=1e-6)
        assert trt["covariates"] == "exp_activity.spend_sum_30d,exp_activity.visits_count_30d"


def test_the_planted_effect_is_found_and_cuped_narrows_the_interval(lab: Lab, analysed: dict[str, Any],
                                                                     spark: Any) -> None:
    trt = next(r for r in _stored(spark, lab.config) if (r["metric"], r["variant"]) == ("revenue", "one_page"))
    assert trt["cuped_ci_low"] <= EFFECT <= trt["cuped_ci_high"]
    assert trt["cuped_p_value"] < 0.001
    assert trt["p_value"] > 0.05  # the plain test misses it at this sample size
    assert trt["variance_reduction"] > 0.8
    assert (trt["cuped_ci_high"] - trt["cuped_ci_low"]) < 0.45 * (trt["ci_high"] - trt["ci_low"])
    assert analysed["summary"]["metrics"]["revenue"]["one_page"]["cuped_p_value"] == trt["cuped_p_value"]


def test_the_planted_sample_ratio_mismatch_is_flagged(lab: Lab, analysed: dict[str, Any], spark: Any) -> None:
    counts = {v: sum(1 for var, _ in lab.first.values() if var == v) for v in ("control", "one_page")}
    assert analysed["summary"]["exposed"] == counts
    expected_p = sps.chisquare([counts["control"], counts["one_page"]]).pvalue
    assert expected_p < 0.001
    rows = _stored(spark, lab.config)
    assert all(r["srm_mismatch"] is True for r in rows)
    assert all(r["srm_p_value"] == pytest.approx(expected_p, rel=1e-9) for r in rows)
    assert {r["variant"]: r["exposed"] for r in rows} == counts
    assert analysed["summary"]["srm_mismatch"] is True


# -- the same day through a real Airflow task run ----------------------------------------------------------------

@pytest.fixture(scope="module")
def airflow_home(lab: Lab, weir_config: RuntimeConfig) -> Iterator[Path]:
    """A private Airflow home (SQLite, migrated), Weir's dags/, the lab's specs and lake."""
    home = lab.root / "airflow"
    home.mkdir()
    root = Path(__file__).resolve().parents[2]
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(lab.root / "no_plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "WEIR_STATE_DIR": str(lab.root / "state"),
        "WEIR_SPARK_IVY_DIR": str(ivy_home(weir_config)),
    }
    for k, v in env.items():
        lab.mp.setenv(k, v)
    load_config.cache_clear()
    migrate = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
                             capture_output=True, text=True, timeout=600, env={**os.environ})
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    if "airflow.settings" in sys.modules:  # Airflow was imported earlier in this session: point it at our DB
        from airflow import settings

        settings.SQL_ALCHEMY_CONN = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        settings.configure_orm()
    yield home


def test_the_airflow_task_reanalyses_the_day_and_replaces_its_rows(lab: Lab, analysed: dict[str, Any],
                                                                   airflow_home: Path, spark: Any) -> None:
    from weir.airflow.experiment_dags import build_experiment_dags

    before = _stored(spark, lab.config)
    load_config.cache_clear()
    dag = build_experiment_dags()[f"weir_experiment__{NAME}"]
    run = dag.test(logical_date=datetime(2026, 6, 10, tzinfo=UTC))
    assert {ti.task_id: str(ti.state) for ti in run.get_task_instances()} == {"analyse_experiment": "success"}
    after = _stored(spark, lab.config)
    assert len(after) == len(before) == 4  # replaced, not appended
    assert min(r["analysed_at"] for r in after) > max(r["analysed_at"] for r in before)

    def comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: v for k, v in r.items() if k != "analysed_at"} for r in rows]

    for a, b in zip(comparable(before), comparable(after), strict=True):
        assert a.keys() == b.keys()
        for k in a:
            assert same_value(a[k], b[k]), (k, a[k], b[k])


def test_before_any_exposure_is_logged_the_day_has_no_rows(tmp_path: Path, weir_config: RuntimeConfig,
                                                           spark: Any) -> None:
    from weir.experiments.analysis import analyse_experiment
    from weir.experiments.loader import parse_declaration
    from weir.spec import parse_spec_text

    groups = [parse_spec_text(SPEC)]
    experiment = parse_declaration(EXPERIMENT, "experiment", groups)
    config = build_config(lake_path=str(tmp_path / "empty_lake"))
    summary = analyse_experiment(experiment, DAY, spark=spark, config=config, groups=groups)
    assert summary["rows"] == 0 and "no exposures table" in summary["note"]
    assert _stored(spark, config) == []  # the results table exists, with no rows for the day

"""The driver side of the analysis (no Spark): from the per-entity table to the result rows."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats as sps

from weir.experiments.analysis.covariates import covariate_column, covariate_ref
from weir.experiments.analysis.run import analyse_table, covariate_matrix
from weir.experiments.models import Experiment

DAY = date(2026, 6, 10)


def experiment(variants: list[tuple[str, float]], covariates: list[str] | None = None) -> Experiment:
    return Experiment.model_validate({
        "name": "t", "entity": {"name": "user", "key": "user_id"}, "salt": "s",
        "variants": [{"name": n, "weight": w} for n, w in variants],
        "metrics": [{"name": "revenue", "source": "orders", "aggregation": "sum", "column": "amount", "window": "7d"},
                    {"name": "value", "source": "orders", "aggregation": "mean", "column": "amount", "window": "7d"}],
        "covariates": covariates or []})


def table(variant: list[str], revenue: list[float | None], value: list[float | None],
          cov: list[float | None] | None = None) -> pa.Table:
    cols = {"user_id": [f"u{i}" for i in range(len(variant))], "variant": variant,
            "first_exposure_ts": [datetime(2026, 6, 1, tzinfo=UTC)] * len(variant), "n_variants": [1] * len(variant),
            "metric__revenue": pa.array(revenue, pa.float64()), "metric__value": pa.array(value, pa.float64())}
    if cov is not None:
        cols["spend_sum_30d"] = pa.array(cov, pa.float64())
    return pa.table(cols)


def test_covariate_refs_and_missing_values_take_the_column_mean() -> None:
    assert covariate_ref("g.a_sum_30d") == "g:a_sum_30d" and covariate_column("g.a_sum_30d") == "a_sum_30d"
    t = pa.table({"a": pa.array([1.0, None, 3.0]), "b": pa.array([None, None, None], pa.float64())})
    x = covariate_matrix(t, ["a", "b"])
    assert x is not None and x.tolist() == [[1.0, 0.0], [2.0, 0.0], [3.0, 0.0]]
    assert covariate_matrix(t, []) is None


def test_rows_per_variant_equal_scipy_and_srm_against_the_weights() -> None:
    rng = np.random.default_rng(3)
    n = 400
    arm = ["control" if i % 2 else "b" for i in range(n)]
    cov = rng.normal(10, 3, n)
    y = cov * 2 + rng.normal(0, 1, n) + np.array([0.5 if a == "b" else 0 for a in arm])
    value = [None if i % 10 == 0 else float(v) for i, v in enumerate(y)]
    e = experiment([("control", 50), ("b", 50)], ["g.spend_sum_30d"])
    rows, summary = analyse_table(e, DAY, table(arm, y.tolist(), value, cov.tolist()))
    by = {(r["metric"], r["variant"]): r for r in rows}
    assert [r["variant"] for r in rows] == ["control", "b", "control", "b"]  # declared order, per metric
    c, t = y[np.array(arm) == "control"], y[np.array(arm) == "b"]
    assert by[("revenue", "b")]["p_value"] == pytest.approx(sps.ttest_ind(t, c, equal_var=False).pvalue, rel=1e-9)
    assert by[("revenue", "control")]["mean"] == pytest.approx(c.mean()) and by[("revenue", "control")]["n"] == 200
    assert by[("value", "b")]["n"] == 200 - 40 and by[("value", "b")]["exposed"] == 200  # every 10th is a "b"
    assert by[("revenue", "b")]["variance_reduction"] > 0.9
    assert summary["exposed"] == {"control": 200, "b": 200} and summary["srm_mismatch"] is False
    assert by[("revenue", "b")]["srm_p_value"] == pytest.approx(1.0)


def test_a_variant_with_too_few_values_gets_no_comparison_and_unknown_variants_are_left_out() -> None:
    e = experiment([("control", 50), ("b", 25), ("c", 25)])
    arm = ["control"] * 6 + ["b"] * 4 + ["c", "zz"]
    rev = [1.0, 2.0, 3.0, 1.5, 2.5, 2.0, 3.0, 4.0, 3.5, 3.0, 9.0, 100.0]
    rows, summary = analyse_table(e, DAY, table(arm, rev, rev))
    by = {(r["metric"], r["variant"]): r for r in rows}
    assert by[("revenue", "c")]["n"] == 1 and by[("revenue", "c")]["delta"] is None
    assert by[("revenue", "b")]["delta"] == pytest.approx(3.375 - 2.0)
    assert by[("revenue", "b")]["cuped_delta"] is None  # no covariates declared
    assert summary["unknown_variant_entities"] == 1 and summary["exposed"] == {"control": 6, "b": 4, "c": 1}
    assert all(r["variant"] != "zz" for r in rows)


def test_no_exposures_gives_no_rows() -> None:
    e = experiment([("control", 50), ("b", 50)])
    rows, summary = analyse_table(e, DAY, table([], [], []))
    assert rows == [] or all(r["n"] == 0 for r in rows)
    assert summary["srm_p_value"] is None

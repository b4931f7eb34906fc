"""The experiments section of the Weir view, rendered server side from a results table in the lake (written here
with delta-rs, in the columns of ``weir.experiments.tables.RESULT_SCHEMA_DDL``)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from weir.runtime import RuntimeConfig, build_config

ROOT = Path(__file__).resolve().parents[2]
NAME = "repayment_reminder"  # declared in experiments/


def _schema() -> Any:
    import pyarrow as pa

    from weir.experiments.tables import RESULT_SCHEMA_DDL

    types = {"STRING": pa.string(), "DATE": pa.date32(), "BOOLEAN": pa.bool_(), "BIGINT": pa.int64(),
             "DOUBLE": pa.float64(), "TIMESTAMP": pa.timestamp("us", tz="UTC")}
    fields = []
    for part in RESULT_SCHEMA_DDL.split(", "):
        name, kind, *rest = part.split(" ")
        fields.append(pa.field(name, types[kind], nullable=not rest))
    return pa.schema(fields)


def _row(ds: date, metric: str, variant: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(_schema().names)
    row.update({"experiment": NAME, "ds": ds, "metric": metric, "variant": variant, "is_control": variant == "control",
                "exposed": 5000, "n": 4900, "mean": 0.8, "srm_p_value": 2e-7, "srm_mismatch": True, "alpha": 0.05,
                "analysed_at": datetime(2026, 12, 6, 1, 2, 3, tzinfo=UTC), "covariates": "a.b"})
    row.update(values)
    return row


@pytest.fixture()
def config(tmp_path: Path) -> RuntimeConfig:
    import pyarrow as pa
    from deltalake import write_deltalake

    from weir.lake.paths import experiment_results_path

    config = build_config(state_dir=tmp_path / "state", specs_dir=ROOT / "feature_specs",
                          lake_path=str(tmp_path / "lake"))
    old, new = date(2026, 12, 4), date(2026, 12, 5)
    treated = {"delta": 0.0312, "relative": 0.039, "ci_low": -0.0011, "ci_high": 0.0635, "p_value": 0.0581,
               "cuped_delta": 0.0298, "cuped_ci_low": 0.0101, "cuped_ci_high": 0.0495, "cuped_p_value": 0.0031,
               "variance_reduction": 0.62}
    rows = [_row(old, "on_time_rate", "friendly", delta=9.99), _row(old, "on_time_rate", "control"),
            _row(new, "on_time_rate", "control"), _row(new, "on_time_rate", "friendly", **treated),
            _row(new, "late_repayments", "control", mean=1.25), _row(new, "late_repayments", "friendly", mean=1.5)]
    write_deltalake(experiment_results_path(config), pa.Table.from_pylist(rows, schema=_schema()))
    return config


def test_the_view_shows_each_experiments_latest_results_per_metric(config: RuntimeConfig) -> None:
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from weir.airflow.view import create_app

    root = FastAPI()
    runs = {f"weir_experiment__{NAME}": {"state": "success"}}
    root.mount("/weir", create_app(lambda: config, dag_runs=lambda ids: {i: runs[i] for i in ids if i in runs},
                                   auth=lambda: None))
    client = TestClient(root, base_url="http://airflow.test")

    data = client.get("/weir/api/experiments").json()
    (x,) = data["experiments"]
    assert x["experiment"] == NAME and x["ds"] == "2026-12-05" and x["last_run"] == {"state": "success"}
    assert x["srm"] == {"p_value": 2e-7, "mismatch": True}
    metrics = {m["metric"]: m["rows"] for m in x["metrics"]}
    assert [r["variant"] for r in metrics["on_time_rate"]] == ["control", "friendly"]  # control first
    assert metrics["on_time_rate"][1]["cuped_ci_low"] == 0.0101
    assert all(r["delta"] != 9.99 for rows in metrics.values() for r in rows)  # only the newest day

    page = client.get("/weir/")
    assert page.status_code == 200 and "Weir feature groups" in page.text  # the groups are still there
    html = page.text[page.text.index("<section id='experiments'>"):]
    assert "Weir experiments" in html and NAME in html and "2026-12-05" in html
    assert "SRM mismatch" in html and "do not trust" in html
    for shown in ("+0.0312", "(+3.9%)", "[-0.0011, 0.0635]", "0.0581", "+0.0298", "[0.0101, 0.0495]", "0.0031",
                  "62.0%", "friendly", "(control)", "late_repayments", "on_time_rate"):
        assert shown in html, shown
    assert "9.99" not in html


def test_the_view_renders_without_any_analysis(tmp_path: Path) -> None:
    from weir.airflow.experiment_view import collect_experiments, render_experiments_html

    config = build_config(state_dir=tmp_path / "state", specs_dir=ROOT / "feature_specs",
                          lake_path=str(tmp_path / "lake"))
    data = collect_experiments(config, lambda ids: {})
    assert [x["experiment"] for x in data["experiments"]] == [NAME] and data["experiments"][0]["srm"] is None
    assert "no analysis yet" in render_experiments_html(data)

"""The Great Expectations gate on real Spark, Delta and GX: pass, planted failures, volume, records, reports, CLI.

GX runs cost seconds each, so each test bundles several assertions over one run (4 GX runs in this file).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from weir.lake.paths import features_path
from weir.runtime import RuntimeConfig, load_config
from weir.spec import SpecError, parse_spec_text
from weir.validate import ValidationFailed, gate_or_raise, read_validation_runs, validate_batch, validate_day

pytestmark = pytest.mark.integration

GROUP = "val_gate_users"
SPEC = f"""
name: {GROUP}
entity: {{name: user, keys: [user_id]}}
source:
  delta: val_gate_txns
  event_time: event_ts
  columns: {{user_id: string, merchant_id: string, amount: double, event_ts: timestamp}}
features:
  - {{name: txn_count, aggregation: count, windows: [1d]}}
  - {{name: txn_amount, aggregation: sum, column: amount, windows: [1d], bounds: {{min: 0, max: 1000}}}}
  - {{name: distinct_merchants, aggregation: approx_count_distinct, column: merchant_id, windows: [7d]}}
  - {{name: last_merchant, aggregation: last, column: merchant_id}}
expectations:
  - {{expectation: ExpectColumnValuesToBeInSet, kwargs: {{column: last_merchant_last, value_set: [m1, m2, m3]}}}}
"""
COLUMNS = ["txn_count_1d", "txn_amount_sum_1d", "distinct_merchants_approx_count_distinct_7d", "last_merchant_last"]
SCHEMA = ("user_id STRING, run_ts TIMESTAMP, txn_count_1d BIGINT, txn_amount_sum_1d DOUBLE, "
          "distinct_merchants_approx_count_distinct_7d BIGINT, last_merchant_last STRING, newest_event_ts TIMESTAMP, "
          "ds DATE")
D1, D2, D3 = date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)

Row = tuple[str | None, int, float, int, str]
GOOD_D1: list[Row] = [("u1", 3, 10.0, 2, "m1"), ("u2", 1, 5.0, 1, "m2"), ("u3", 2, 7.5, 2, "m3"),
                      ("u4", 1, 1.0, 1, "m1")]
BAD_D2: list[Row] = [
    ("u1", 3, 10.0, 2, "m1"),
    ("u1", 1, 5.0, 1, "m2"),      # duplicate entity in the same run
    (None, 2, 7.0, 1, "m1"),      # null key
    ("u3", -1, 4.0, 1, "m3"),     # negative count
    ("u4", 2, 5000.0, 1, "m1"),   # out of bounds (max 1000)
    ("u5", 1, 3.0, 1, "zzz"),     # spec-listed expectation: not in the merchant set
    ("u6", 1, 1.0, 1, "m2"), ("u7", 1, 1.0, 1, "m2"), ("u8", 1, 1.0, 1, "m3"),
]  # 9 rows against 4 the day before: volume check fails too
GOOD_D3: list[Row] = [(f"u{i}", 1, 2.0, 1, "m1") for i in range(1, 7)]  # 6 rows, within +-50% of 9


def group():  # type: ignore[no-untyped-def]
    return parse_spec_text(SPEC, file=f"feature_specs/{GROUP}.yaml")


def write_day(spark: Any, config: RuntimeConfig, ds: date, rows: list[Row]) -> None:
    run_ts = datetime(ds.year, ds.month, ds.day, tzinfo=UTC) + timedelta(days=1)
    data = [(k, run_ts, c, a, d, m, run_ts - timedelta(minutes=5), ds) for k, c, a, d, m in rows]
    (spark.createDataFrame(data, SCHEMA).write.format("delta").mode("append").partitionBy("ds")
     .save(features_path(config, GROUP)))


def by_type(outcome: Any) -> dict[str, Any]:
    return {f"{r.expectation}:{r.kwargs.get('column', '')}": r for r in outcome.failed}


@pytest.fixture(scope="module")
def days(spark: Any, weir_config: RuntimeConfig) -> RuntimeConfig:
    assert group().output_column_names() == COLUMNS
    write_day(spark, weir_config, D1, GOOD_D1)
    write_day(spark, weir_config, D2, BAD_D2)
    write_day(spark, weir_config, D3, GOOD_D3)
    return weir_config


def test_good_batch_passes_and_is_recorded(spark: Any, days: RuntimeConfig) -> None:
    outcome = gate_or_raise(validate_day(spark, group(), D1, days))
    assert outcome.success and not outcome.failed
    assert outcome.row_count == 4 and outcome.previous_row_count is None  # first day: no volume comparison
    assert outcome.feature_table_version == 2
    assert outcome.run_ts == datetime(2026, 3, 2, tzinfo=UTC)
    assert len(outcome.results) == 1 + 1 + 1 + 3 + 1  # key, unique, not empty, 2 counts + bounds, spec
    assert outcome.report_path == days.state_dir / "reports" / GROUP / "2026-03-01" / "index.html"
    page = outcome.report_path.read_text()
    assert "PASSED" in page and "expect_column_values_to_be_in_set" in page

    runs = read_validation_runs(spark, days, GROUP)
    assert runs is not None
    row = runs.where("ds = DATE'2026-03-01'").collect()[0]
    assert row["success"] is True and row["suite"] == "weir_val_gate_users_v1"
    assert row["feature_table_version"] == 2 and row["row_count"] == 4
    assert row["run_ts"] == datetime(2026, 3, 2)  # session time zone is UTC
    assert json.loads(row["failed_expectations"]) == []
    assert json.loads(row["statistics"])["evaluated_expectations"] == 7
    assert Path(row["report_path"]).exists()


def test_planted_bad_rows_fail_with_observed_values_and_rows(spark: Any, days: RuntimeConfig) -> None:
    outcome = validate_day(spark, group(), D2, days, gx_data_docs=True)
    assert outcome.success is False
    failed = by_type(outcome)
    assert set(failed) == {
        "expect_column_values_to_not_be_null:user_id",
        "expect_compound_columns_to_be_unique:",
        "expect_table_row_count_to_be_between:",
        "expect_column_values_to_be_between:txn_count_1d",
        "expect_column_values_to_be_between:txn_amount_sum_1d",
        "expect_column_values_to_be_in_set:last_merchant_last",
    }
    run_ts = "2026-03-03T00:00:00"
    null_key = failed["expect_column_values_to_not_be_null:user_id"]
    assert null_key.observed.startswith("1 of 9 rows unexpected")
    assert null_key.offending_rows == [{"user_id": None, "run_ts": run_ts}]
    dup = failed["expect_compound_columns_to_be_unique:"]
    assert dup.unexpected_count == 2 and dup.origin == "one row per entity per run time"
    assert sorted(r["user_id"] for r in dup.offending_rows) == ["u1", "u1"]
    volume = failed["expect_table_row_count_to_be_between:"]
    assert volume.observed == "9" and volume.kwargs == {"min_value": 2, "max_value": 6}
    assert "previous run (4 rows)" in volume.origin
    negative = failed["expect_column_values_to_be_between:txn_count_1d"]
    assert "[-1]" in negative.observed
    assert negative.offending_rows == [{"user_id": "u3", "run_ts": run_ts, "txn_count_1d": -1}]
    bounds = failed["expect_column_values_to_be_between:txn_amount_sum_1d"]
    assert bounds.offending_rows == [{"user_id": "u4", "run_ts": run_ts, "txn_amount_sum_1d": 5000.0}]
    in_set = failed["expect_column_values_to_be_in_set:last_merchant_last"]
    assert in_set.origin == "spec expectations[0]"
    assert in_set.offending_rows == [{"user_id": "u5", "run_ts": run_ts, "last_merchant_last": "zzz"}]

    with pytest.raises(ValidationFailed) as err:
        gate_or_raise(outcome)
    text = str(err.value)
    assert "validation FAILED: val_gate_users ds=2026-03-02 (9 rows" in text
    assert "expect_column_values_to_be_in_set(column='last_merchant_last'" in text
    assert '"last_merchant_last": "zzz"' in text and "observed 9" in text

    assert outcome.report_path is not None
    page = outcome.report_path.read_text()
    assert "FAILED" in page and "expect_column_values_to_be_in_set" in page and "zzz" in page
    assert outcome.gx_data_docs_path is not None and outcome.gx_data_docs_path.exists()

    runs = read_validation_runs(spark, days, GROUP)
    assert runs is not None
    row = runs.where("ds = DATE'2026-03-02'").collect()[0]
    assert row["success"] is False and row["previous_row_count"] == 4
    recorded = {f["expectation"] for f in json.loads(row["failed_expectations"])}
    assert "expect_column_values_to_be_in_set" in recorded and len(json.loads(row["failed_expectations"])) == 6


def test_volume_check_against_previous_run(spark: Any, days: RuntimeConfig) -> None:
    outcome = validate_day(spark, group(), D3, days, volume_tolerance=0.5)
    assert outcome.success, outcome.message()
    assert outcome.previous_row_count == 9
    volume = next(r for r in outcome.results if r.expectation == "expect_table_row_count_to_be_between")
    assert volume.kwargs == {"min_value": 4, "max_value": 14} and volume.observed == "6"


def test_unknown_expectation_in_spec_is_a_clear_error(spark: Any, days: RuntimeConfig) -> None:
    bad = parse_spec_text(SPEC.replace("ExpectColumnValuesToBeInSet", "ExpectColumnValuesInSet"),
                          file=f"feature_specs/{GROUP}.yaml")
    df = spark.read.format("delta").load(features_path(days, GROUP)).where("ds = DATE'2026-03-01'")
    with pytest.raises(SpecError) as err:
        validate_batch(spark, bad, df, D1, days)
    assert f"feature_specs/{GROUP}.yaml: expectations[0]: ExpectColumnValuesInSet: unknown" in str(err.value)
    assert "ExpectColumnValuesToBeInSet" in str(err.value)  # did you mean


def test_cli_exits_non_zero_on_failure(spark: Any, days: RuntimeConfig, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from weir.cli.validate_data import validate_data

    (tmp_path / f"{GROUP}.yaml").write_text(SPEC)
    monkeypatch.setenv("WEIR_SPECS_DIR", str(tmp_path))
    load_config.cache_clear()
    try:
        result = CliRunner().invoke(validate_data, [GROUP, "--date", "2026-03-02", "--no-record"])
    finally:
        monkeypatch.delenv("WEIR_SPECS_DIR")
        load_config.cache_clear()
    assert result.exit_code == 1, result.output
    assert "validation FAILED: val_gate_users ds=2026-03-02" in result.output
    assert "FAILED expect_column_values_to_not_be_null(column='user_id')" in result.output
    assert "report: " in result.output and "index.html" in result.output
    assert "_docs_decorators" not in result.output

"""Suite construction from a spec, outcome messages and the HTML report (no Spark; real GX classes)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime

import pytest

from weir.spec import SpecError, parse_spec_text
from weir.validate import ExpectationResult, ValidationFailed, ValidationOutcome, gate_or_raise
from weir.validate.report import render_html
from weir.validate.suite import build_suite, check_spec_expectations, plan_checks, volume_bounds

SPEC = """
name: shop_stats
entity: {{name: shop, keys: [{keys}]}}
source:
  delta: orders
  event_time: event_ts
  columns: {{shop_id: string, region: string, amount: double, customer: string, event_ts: timestamp}}
features:
  - {{name: orders, aggregation: count, windows: [1d, 7d]}}
  - {{name: customers, aggregation: approx_count_distinct, column: customer, windows: [7d]}}
  - {{name: amount, aggregation: sum, column: amount, windows: [7d], bounds: {{min: 0, max: 1000}}}}
  - {{name: big_orders, aggregation: count, where: "amount > 100", windows: [1d], bounds: {{max: 50}}}}
  - {{name: last_customer, aggregation: last, column: customer}}
expectations:
{expectations}
"""

GOOD_EXPECTATIONS = """
  - {expectation: ExpectColumnValuesToBeBetween, kwargs: {column: amount_sum_7d, max_value: 500}}
  - {expectation: ExpectColumnValuesToMatchRegex, kwargs: {column: shop_id, regex: "^s[0-9]+$"}, meta: {owner: x}}
"""


def spec(expectations: str = GOOD_EXPECTATIONS, keys: str = "shop_id", file: str = "feature_specs/shop_stats.yaml"):
    return parse_spec_text(SPEC.format(keys=keys, expectations=expectations or "  []"), file=file)


def test_plan_checks_from_spec() -> None:
    checks = plan_checks(spec())
    got = [(c.expectation, c.kwargs) for c in checks]
    assert got == [
        ("ExpectColumnValuesToNotBeNull", {"column": "shop_id"}),
        ("ExpectCompoundColumnsToBeUnique", {"column_list": ["shop_id", "run_ts"]}),
        ("ExpectTableRowCountToBeBetween", {"min_value": 1}),
        ("ExpectColumnValuesToBeBetween", {"column": "orders_count_1d", "min_value": 0.0}),
        ("ExpectColumnValuesToBeBetween", {"column": "orders_count_7d", "min_value": 0.0}),
        ("ExpectColumnValuesToBeBetween", {"column": "customers_approx_count_distinct_7d", "min_value": 0.0}),
        ("ExpectColumnValuesToBeBetween", {"column": "amount_sum_7d", "min_value": 0.0, "max_value": 1000.0}),
        ("ExpectColumnValuesToBeBetween", {"column": "big_orders_count_1d", "min_value": 0.0, "max_value": 50.0}),
        ("ExpectColumnValuesToBeBetween", {"column": "amount_sum_7d", "max_value": 500}),
        ("ExpectColumnValuesToMatchRegex", {"column": "shop_id", "regex": "^s[0-9]+$"}),
    ]
    origins = [c.origin for c in checks]
    assert origins[0] == "entity key shop_id is not null"
    assert origins[1] == "one row per entity per run time"
    assert "count >= 0 and bounds of feature big_orders" in origins
    assert origins[-2:] == ["spec expectations[0]", "spec expectations[1]"]
    assert checks[-1].meta == {"owner": "x"}


def test_compound_keys_and_volume_check() -> None:
    group = spec(keys="shop_id, region")
    checks = plan_checks(group, previous_row_count=100, volume_tolerance=0.2)
    assert [c.kwargs for c in checks[:3]] == [{"column": "shop_id"}, {"column": "region"},
                                              {"column_list": ["shop_id", "region", "run_ts"]}]
    volume = checks[3]
    assert volume.expectation == "ExpectTableRowCountToBeBetween"
    assert volume.kwargs == {"min_value": 80, "max_value": 120}
    assert "previous run (100 rows)" in volume.origin
    # tolerance disabled -> only the not-empty check
    assert plan_checks(group, previous_row_count=100, volume_tolerance=None)[3].kwargs == {"min_value": 1}
    assert volume_bounds(3, 0.5) == (1, 5)
    assert volume_bounds(0, 0.5) == (0, 0)
    with pytest.raises(ValueError, match="tolerance"):
        volume_bounds(10, -1)


def test_build_suite_gives_gx_expectations() -> None:
    group = spec()
    suite = build_suite(group, previous_row_count=10)
    assert suite.name == "weir_shop_stats_v1"
    types = [e.expectation_type for e in suite.expectations]
    assert types[:3] == ["expect_column_values_to_not_be_null", "expect_compound_columns_to_be_unique",
                         "expect_table_row_count_to_be_between"]
    assert types.count("expect_column_values_to_be_between") == 6
    assert types[-1] == "expect_column_values_to_match_regex"
    assert suite.expectations[-1].meta == {"owner": "x", "weir_origin": "spec expectations[1]", "weir_check": 9}
    assert suite.expectations[2].min_value == 5 and suite.expectations[2].max_value == 15


@pytest.mark.parametrize(("expectations", "needles"), [
    ("  - {expectation: ExpectColumnValuesToBeNotNull, kwargs: {column: shop_id}}",
     ["feature_specs/shop_stats.yaml", "expectations[0]", "unknown Great Expectations expectation",
      "ExpectColumnValuesToBeNotNull", "did you mean", "ExpectColumnValuesToNotBeNull"]),
    ("  - {expectation: ExpectColumnValuesToNotBeNull, kwargs: {column: shop_id}}\n"
     "  - {expectation: ExpectColumnValuesToBeBetween, kwargs: {column: orders_count_1d, maximum: 3}}",
     ["feature_specs/shop_stats.yaml", "expectations[1]", "ExpectColumnValuesToBeBetween", "bad kwargs",
      "kwargs.maximum: extra fields not permitted"]),
    ("  - {expectation: ExpectColumnValuesToNotBeNull, kwargs: {column: orders_count_2d}}",
     ["expectations[0]", "column 'orders_count_2d' is not in the feature table",
      "did you mean 'orders_count_"]),
])
def test_bad_spec_expectation_is_a_clear_error(expectations: str, needles: list[str]) -> None:
    group = spec(expectations)
    with pytest.raises(SpecError) as err:
        build_suite(group)
    for needle in needles:
        assert needle in str(err.value)
    with pytest.raises(SpecError):
        check_spec_expectations(group)


def test_import_is_cheap() -> None:
    code = "import sys, weir.validate; print('great_expectations' in sys.modules, 'pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def _outcome(success: bool) -> ValidationOutcome:
    failed = ExpectationResult(
        expectation="expect_column_values_to_not_be_null", kwargs={"column": "shop_id"},
        origin="entity key shop_id is not null", success=False, observed="1 of 3 rows unexpected (33.3%)",
        unexpected_count=1, element_count=3, offending_rows=[{"shop_id": None, "run_ts": "2026-03-02T00:00:00",
                                                              "note": "<script>"}])
    passed = ExpectationResult(expectation="expect_table_row_count_to_be_between", kwargs={"min_value": 1},
                               origin="at least 1 row(s)", success=True, observed="3")
    return ValidationOutcome(
        group="shop_stats", ds=date(2026, 3, 1), run_ts=datetime(2026, 3, 2, tzinfo=UTC), suite="weir_shop_stats_v1",
        success=success, results=[passed] if success else [passed, failed], statistics={"evaluated_expectations": 2},
        row_count=3, validated_at=datetime(2026, 3, 2, 1, tzinfo=UTC))


def test_gate_and_message() -> None:
    ok = _outcome(True)
    assert gate_or_raise(ok) is ok
    bad = _outcome(False)
    with pytest.raises(ValidationFailed) as err:
        gate_or_raise(bad)
    assert err.value.outcome is bad
    text = str(err.value)
    assert "validation FAILED: shop_stats ds=2026-03-01 (3 rows): 1/2 expectations passed" in text
    assert "expect_column_values_to_not_be_null(column='shop_id')" in text
    assert "observed 1 of 3 rows unexpected" in text
    assert 'offending rows: {"shop_id": null, "run_ts": "2026-03-02T00:00:00"' in text


def test_report_html_is_self_contained_and_escaped() -> None:
    page = render_html(_outcome(False))
    assert "FAILED" in page and "expect_column_values_to_not_be_null" in page
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "http://" not in page and "https://" not in page

"""Flag and experiment declarations: the shipped examples load; every mistake is reported as
``file:line: field: problem; fix``, including rules and covariates checked against the served feature groups."""

from __future__ import annotations

from pathlib import Path

import pytest

from weir.experiments import Experiment, Flag, load_declarations, parse_declaration, validate_declarations
from weir.spec import SpecError, SpecErrors, load_specs

ROOT = Path(__file__).resolve().parents[2]
GROUPS = load_specs(ROOT / "feature_specs")

EXPERIMENT = """\
name: reminder
entity: {name: user, key: user_id}
salt: reminder-1
start: 2026-12-01T00:00:00Z
end: 2027-01-01T00:00:00Z
variants:
  - {name: control, weight: 50}
  - {name: friendly, weight: 50}
targeting: "user_repayment.repayments_count_30d >= 1"
metrics:
  - {name: on_time_rate, source: repayments, aggregation: mean, column: on_time, window: 30d}
covariates:
  - user_repayment.on_time_ratio_avg_90d
"""


def errors_of(text: str, kind: str = "experiment") -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_declaration(text, kind, GROUPS, file="exp.yaml")
    err = info.value
    return [str(e) for e in err.errors] if isinstance(err, SpecErrors) else [str(err)]


def test_shipped_declarations_load() -> None:
    flags = load_declarations(ROOT / "flags", "flag", GROUPS)
    experiments = load_declarations(ROOT / "experiments", "experiment", GROUPS)
    assert {f.name for f in flags} >= {"instant_payout", "checkout_copy"}
    assert all(isinstance(f, Flag) for f in flags) and all(isinstance(e, Experiment) for e in experiments)
    (reminder,) = [e for e in experiments if e.name == "repayment_reminder"]
    assert reminder.default.name == "control" and len(reminder.covariates) == 3
    assert validate_declarations(ROOT / "flags", "flag", GROUPS) == []


def test_a_valid_experiment_parses() -> None:
    exp = parse_declaration(EXPERIMENT, "experiment", GROUPS)
    assert isinstance(exp, Experiment) and exp.start is not None and exp.start.tzinfo is not None
    assert exp.weights == [50, 50] and exp.metrics[0].window == "30d"


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("user_repayment.repayments_count_30d >= 1", "user_repaymnt.repayments_count_30d >= 1",
     "exp.yaml:9: targeting: unknown feature group 'user_repaymnt' in 'user_repaymnt.repayments_count_30d' "
     "(did you mean 'user_repayment'?); known groups: merchant_risk, user_repayment, user_spend"),
    ("user_repayment.repayments_count_30d >= 1", "user_repayment.repayment_count_30d >= 1",
     "exp.yaml:9: targeting: group 'user_repayment' serves no feature 'repayment_count_30d' (did you mean "
     "'repayments_count_30d'?)"),
    ("user_repayment.repayments_count_30d >= 1", "merchant_risk.merchant_txn_count_1d > 3",
     "exp.yaml:9: targeting: group 'merchant_risk' is keyed by merchant ['merchant_id'], not user ['user_id']"),
    ("user_repayment.repayments_count_30d >= 1", "user_repayment.repayments_count_30d >= ",
     "exp.yaml:9: targeting: the rule ends early; expected a value"),
    ("  - user_repayment.on_time_ratio_avg_90d", "  - user_repayment.on_time_ratio_90d",
     "exp.yaml:13: covariates[0]: group 'user_repayment' serves no feature 'on_time_ratio_90d' (did you mean "
     "'on_time_ratio_avg_90d'?)"),
    ("  - user_repayment.on_time_ratio_avg_90d", "  - on_time_ratio_avg_90d",
     "exp.yaml:13: covariates[0]: covariate 'on_time_ratio_avg_90d' is not group.feature_column"),
    ("end: 2027-01-01", "end: 2026-11-01", "exp.yaml:5: end: end must be after start; fix the dates"),
    ("{name: friendly, weight: 50}", "{name: control, weight: 50}",
     "exp.yaml:6: variants: variant name(s) control appear twice; give each a unique name"),
    ("{name: friendly, weight: 50}", "{name: friendly, wieght: 50}",
     "exp.yaml:8: variants[1].wieght: unknown field 'wieght' (did you mean 'weight'?); allowed fields here: "
     "name, value, weight"),
    ("salt: reminder-1\n", "",
     "exp.yaml:1: salt: required field 'salt' is missing; add it"),
    ("window: 30d", "window: 30 days", "exp.yaml:11: metrics[0].window: bad duration '30 days'"),
    ("aggregation: mean, column: on_time,", "aggregation: mean,",
     "exp.yaml:11: metrics[0]: aggregation 'mean' needs a column"),
    ("  - {name: friendly, weight: 50}\n", "",
     "exp.yaml:6: variants: List should have at least 2 items"),
])
def test_errors_name_file_line_field_and_fix(old: str, new: str, expected: str) -> None:
    assert old in EXPERIMENT
    errors = errors_of(EXPERIMENT.replace(old, new))
    assert any(e.startswith(expected) for e in errors), errors


def test_flag_values_must_match_the_flag_type() -> None:
    text = """\
name: payout
type: boolean
entity: {name: user, key: user_id}
salt: s
variants:
  - {name: "off", weight: 1, value: false}
  - {name: "on", weight: 1, value: "yes"}
"""
    (error,) = errors_of(text, "flag")
    assert error.startswith("exp.yaml:5: variants: variant 'on' has value 'yes', not a boolean")


def test_directory_errors_cover_every_file_and_duplicate_names(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(EXPERIMENT)
    (tmp_path / "b.yaml").write_text(EXPERIMENT)
    (tmp_path / "c.yaml").write_text("name: [unclosed\n")
    errors = [str(e) for e in validate_declarations(tmp_path, "experiment", GROUPS)]
    assert any(e.startswith(f"{tmp_path / 'b.yaml'}:1: name: duplicate experiment name 'reminder'") for e in errors)
    assert any(e.startswith(f"{tmp_path / 'c.yaml'}:2: invalid YAML") for e in errors), errors
    with pytest.raises(SpecErrors):
        load_declarations(tmp_path, "experiment", GROUPS)

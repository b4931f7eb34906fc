"""Spec loading, validation errors (file + line + field + fix), naming and convenience API."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from weir.spec import FeatureGroup, SpecError, find_spec, load_spec, load_specs, validate_specs

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "feature_specs"

BASE = textwrap.dedent("""\
    name: user_spend
    description: test
    entity: {name: user, keys: [user_id]}
    source:
      delta: transactions
      kafka: {topic: transactions, format: json}
      event_time: event_ts
      columns: {user_id: string, merchant_id: string, amount: double, status: string, event_ts: timestamp}
    features:
      - {name: txn_count, aggregation: count, windows: [1h, 1d, 7d]}
      - {name: txn_amount, aggregation: sum, column: amount, windows: [1d, 7d, 30d]}
      - {name: declined_count, aggregation: count, where: "status = 'declined'", windows: [1d, 7d]}
      - {name: avg_amount, aggregation: avg, column: amount, windows: [30d]}
      - {name: last_merchant, aggregation: last, column: merchant_id}
      - {name: distinct_merchants, aggregation: approx_count_distinct, column: merchant_id, windows: [30d]}
    online: {ttl: 7d, freshness_slo: 1h}
    schedule: "@daily"
""")


def write(tmp_path: Path, text: str, name: str = "spec.yaml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def error_of(tmp_path: Path, text: str) -> SpecError:
    p = write(tmp_path, text)
    with pytest.raises(SpecError) as exc:
        load_spec(p)
    return exc.value


def test_demo_specs_load() -> None:
    groups = load_specs(SPECS)
    assert [g.name for g in groups] == sorted(g.name for g in groups)
    assert {"user_spend", "user_repayment", "merchant_risk"} <= {g.name for g in groups}
    assert validate_specs(SPECS) == []
    for g in groups:
        assert g.path and g.path.endswith(".yaml")


def test_base_spec_and_convenience(tmp_path: Path) -> None:
    g = load_spec(write(tmp_path, BASE))
    assert g.key_columns == ["user_id"]
    assert g.event_time == "event_ts"
    assert g.max_window is None  # last_merchant is lifetime
    assert g.source_schema_ddl() == (
        "user_id STRING, merchant_id STRING, amount DOUBLE, status STRING, event_ts TIMESTAMP")
    assert [c.name for c in g.output_columns()] == [
        "txn_count_1h", "txn_count_1d", "txn_count_7d",
        "txn_amount_sum_1d", "txn_amount_sum_7d", "txn_amount_sum_30d",
        "declined_count_1d", "declined_count_7d",
        "avg_amount_avg_30d", "last_merchant_last", "distinct_merchants_approx_count_distinct_30d",
    ]
    col = g.output_columns()[4]
    assert (col.feature.name, col.window) == ("txn_amount", "7d")
    assert g.output_columns()[9].window is None


def test_hash_ignores_path_and_layout(tmp_path: Path) -> None:
    a = load_spec(write(tmp_path, BASE, "a.yaml"))
    b = load_spec(write(tmp_path, "# comment\n" + BASE.replace("description: test", "description:  test"),
                        "b.yaml"))
    assert a.path != b.path
    assert a.spec_hash() == b.spec_hash()
    c = load_spec(write(tmp_path, BASE.replace("windows: [30d]}", "windows: [14d]}", 1), "c.yaml"))
    assert c.spec_hash() != a.spec_hash()
    assert len(a.spec_hash()) == 64


def test_max_window_and_window_normalisation(tmp_path: Path) -> None:
    text = BASE.replace("  - {name: last_merchant, aggregation: last, column: merchant_id}\n", "").replace(
        "windows: [1h, 1d, 7d]", "windows: [7d, 60m, 24h]")
    g = load_spec(write(tmp_path, text))
    assert g.max_window == "30d"
    assert g.feature("txn_count").windows == ["1h", "1d", "7d"]


def test_programmatic_construction_validates() -> None:
    import yaml

    data = yaml.safe_load(BASE)
    assert FeatureGroup.model_validate(data).name == "user_spend"
    data["features"][1]["column"] = "nope"
    with pytest.raises(ValueError, match="nope"):
        FeatureGroup.model_validate(data)


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "needle"),
    [
        ("aggregation: sum, column: amount", "aggregation: summ, column: amount", 11,
         "features[1].aggregation", "unknown aggregation 'summ'; use one of: count, sum, avg"),
        ("windows: [1d, 7d, 30d]", "windows: [1d, 7days]", 11, "features[1].windows", "bad duration '7days'"),
        ("windows: [1d, 7d, 30d]", "windows: [1d, 400d]", 11, "features[1].windows", "1m to 365d"),
        ("aggregation: sum, column: amount", "aggregation: sum, column: amt", 11,
         "features[1].column", "column 'amt' is not declared in source.columns"),
        ("aggregation: avg, column: amount", "aggregation: avg", 13, "features[3]", "needs a `column:`"),
        ("aggregation: sum, column: amount", "aggregation: sum, column: status", 11,
         "features[1].column", "cannot sum column 'status' of type string"),
        ("{name: avg_amount,", "{name: txn_amount,", 13, "features[3].name", "duplicate feature name 'txn_amount'"),
        ("status = 'declined'", "stauts = 'declined'", 12, "features[2].where",
         "unknown identifier 'stauts' (did you mean 'status'?)"),
        ("status = 'declined'", "(status = 'declined'", 12, "features[2].where", "unbalanced parentheses"),
        ("status = 'declined'", "status = 'declined", 12, "features[2].where", "unterminated string"),
        ("status = 'declined'", "status = declined", 12, "features[2].where", "unknown identifier 'declined'"),
        ("status = 'declined'", "lowr(status) = 'x'", 12, "features[2].where", "unknown function 'lowr'"),
        ("keys: [user_id]", "keys: [customer_id]", 3, "entity.keys[0]", "key column 'customer_id'"),
        ("event_time: event_ts", "event_time: ts", 7, "source.event_time", "event_time column 'ts'"),
        ("status: string, event_ts: timestamp", "status: string, event_ts: string", 7,
         "source.event_time", "must be declared as timestamp"),
        ("amount: double", "amount: decimal", 8, "source.columns.amount", "unknown column type 'decimal'"),
        ("{name: txn_count, aggregation: count,", "{name: txn_count, aggregation: count, colum: amount,", 10,
         "features[0].colum", "did you mean 'column'"),
        ("online: {ttl: 7d", "online: {ttl: week", 16, "online.ttl", "bad duration 'week'"),
        ('schedule: "@daily"', 'schedule: "daily"', 17, "schedule", "bad schedule"),
    ],
)
def test_errors_name_file_line_field_and_fix(tmp_path: Path, old: str, new: str, line: int, field: str,
                                             needle: str) -> None:
    assert old in BASE
    err = error_of(tmp_path, BASE.replace(old, new, 1))
    assert err.file is not None and err.file.endswith("spec.yaml")
    assert err.field == field, str(err)
    assert err.line == line, str(err)
    assert needle in str(err)
    assert str(err).startswith(f"{err.file}:{line}: {field}: ")


def test_duplicate_output_columns(tmp_path: Path) -> None:
    text = BASE.replace("{name: avg_amount, aggregation: avg, column: amount, windows: [30d]}",
                        "{name: txn_amount_sum, aggregation: sum, column: amount, windows: [7d]}")
    err = error_of(tmp_path, text)
    assert "output column 'txn_amount_sum_7d' is produced twice" in str(err)
    assert err.field == "features[3].name"


def test_hop_must_divide_window_and_day(tmp_path: Path) -> None:
    err = error_of(tmp_path, BASE.replace("windows: [30d]}", "windows: [30d], hop: 7h}", 1))
    assert "divide 1 day" in str(err)
    err = error_of(tmp_path, BASE.replace("windows: [1h, 1d, 7d]}", "windows: [1h, 1d, 7d], hop: 2h}"))
    assert "not a multiple of hop 2h" in str(err) and err.field == "features[0].windows[0]"


def test_missing_and_yaml_errors(tmp_path: Path) -> None:
    err = error_of(tmp_path, BASE.replace("entity: {name: user, keys: [user_id]}\n", ""))
    assert err.field == "entity" and "required field 'entity' is missing" in str(err)
    err = error_of(tmp_path, BASE.replace("features:\n", "features: [\n"))
    assert "invalid YAML" in str(err) and err.line is not None
    err = error_of(tmp_path, BASE + "name: other\n")
    assert "appears twice" in str(err) and err.line == 18


def test_validate_specs_collects_all(tmp_path: Path) -> None:
    write(tmp_path, BASE.replace("aggregation: sum,", "aggregation: summ,").replace(
        "aggregation: avg,", "aggregation: average,"), "a.yaml")
    write(tmp_path, BASE.replace("column: merchant_id}", "column: merchant}"), "b.yaml")
    write(tmp_path, BASE, "c.yaml")
    write(tmp_path, BASE, "d.yaml")
    errors = validate_specs(tmp_path)
    msgs = [str(e) for e in errors]
    assert sum("a.yaml" in m for m in msgs) == 2
    assert any("b.yaml:14: features[4].column" in m for m in msgs)
    assert any("duplicate feature group name 'user_spend'" in m for m in msgs)
    with pytest.raises(SpecError):
        load_specs(tmp_path)


def test_find_spec(tmp_path: Path) -> None:
    write(tmp_path, BASE)
    assert find_spec("user_spend", tmp_path).name == "user_spend"
    with pytest.raises(SpecError, match="did you mean 'user_spend'"):
        find_spec("user_spnd", tmp_path)


def test_where_checker() -> None:
    from weir.spec.where import WhereError, referenced_columns

    cols = ["status", "amount", "is_late"]
    assert referenced_columns("status IN ('a', 'b') AND amount > 10.5", cols) == ["status", "amount"]
    assert referenced_columns("is_late", cols) == ["is_late"]
    assert referenced_columns("lower(status) LIKE 'decl%' OR amount IS NOT NULL", cols) == ["status", "amount"]
    assert referenced_columns("`amount` BETWEEN 1 AND 2 and not is_late", cols) == ["amount", "is_late"]
    assert referenced_columns("status = 'it''s'", cols) == ["status"]
    for bad, needle in [("status = ", "ends with"), ("amount > 1)", "unbalanced"), ("x = 1", "unknown identifier"),
                        ("", "empty"), ("`amt` > 1", "unknown column 'amt'"), ("status = 'a' AND", "ends with")]:
        with pytest.raises(WhereError, match=needle):
            referenced_columns(bad, cols)


def test_lifetime_features_must_share_one_hop(tmp_path: Path) -> None:
    """Two lifetime features with different hops fail `weir validate`, at the second one's `hop:` line."""
    from click.testing import CliRunner

    from weir.cli.specs import validate

    text = BASE.replace("{name: last_merchant, aggregation: last, column: merchant_id}",
                        "{name: last_merchant, aggregation: last, column: merchant_id}\n"
                        "  - {name: first_merchant, aggregation: first, column: merchant_id, hop: 1h}")
    assert text != BASE
    err = error_of(tmp_path, text)
    assert err.line == 15 and err.field == "features[5].hop", str(err)
    assert str(err) == (
        f"{err.file}:15: features[5].hop: lifetime feature 'first_merchant' has hop 1h but lifetime feature "
        "'last_merchant' (features[4]) has 1d, and the lifetime features of a group share one snapshot tile; "
        "give them the same `hop:` (without one, a lifetime feature's hop is 1d)")
    result = CliRunner().invoke(validate, [str(tmp_path / "spec.yaml")])
    assert result.exit_code != 0
    assert f"{err.file}:15: features[5].hop: lifetime feature 'first_merchant'" in result.output

    # the same hop spelled on both (or on neither) is fine; windowed features may use any hop
    same = text.replace("column: merchant_id}\n", "column: merchant_id, hop: 1d}\n", 1).replace("hop: 1h}", "hop: 1d}")
    assert load_spec(write(tmp_path, same)).name == "user_spend"
    # a feature without `hop:` is reported at the feature itself
    no_hop = BASE.replace("{name: last_merchant, aggregation: last, column: merchant_id}",
                          "{name: last_merchant, aggregation: last, column: merchant_id, hop: 6h}\n"
                          "  - {name: first_merchant, aggregation: first, column: merchant_id}")
    err = error_of(tmp_path, no_hop)
    assert err.field == "features[5]" and err.line == 15 and "has hop 1d but" in str(err)


def test_parse_spec_text_reports_yaml_errors_like_files() -> None:
    from weir.spec import parse_spec_text

    with pytest.raises(SpecError) as exc:
        parse_spec_text("name: g\nfeatures: [\n", "inline.yaml")
    assert str(exc.value).startswith("inline.yaml:3: invalid YAML") and "fix the syntax" in str(exc.value)

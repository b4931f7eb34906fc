"""Fuzz the spec loader (issue 16): random and adversarial specs either load or raise Weir's SpecError.

Any other exception (a RecursionError, a TypeError from a validator, a YAML error that escapes) would crash
``weir validate`` or Airflow's DAG processor instead of naming the problem. Bounded: a few hundred examples.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from weir.spec import FeatureGroup, SpecError, parse_spec_text
from weir.spec.where import FUNCTIONS, KEYWORDS, WhereError, referenced_columns

FUZZ = settings(max_examples=150, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

VALID: dict[str, Any] = yaml.safe_load("""
name: fuzz
entity: {name: user, keys: [user_id]}
source:
  delta: transactions
  kafka: {topic: transactions}
  event_time: event_ts
  columns: {user_id: string, status: string, amount: double, is_late: boolean, event_ts: timestamp}
  allowed_lateness: 1h
features:
  - {name: n, aggregation: count, windows: [1d, 7d]}
  - {name: total, aggregation: sum, column: amount, windows: [30d], bounds: {min: 0}}
  - {name: declined, aggregation: count, where: "status = 'declined'", windows: [1d]}
  - {name: last_status, aggregation: last, column: status}
online: {ttl: 7d, freshness_slo: 1h}
schedule: "@daily"
expectations:
  - {expectation: ExpectColumnValuesToNotBeNull, kwargs: {column: user_id}}
""")

PATHS = [("name",), ("entity", "name"), ("entity", "keys"), ("entity", "keys", 0), ("source", "delta"),
         ("source", "kafka", "topic"), ("source", "kafka"), ("source", "event_time"), ("source", "columns"),
         ("source", "allowed_lateness"), ("features",), ("features", 0, "windows"), ("features", 1, "column"),
         ("features", 1, "bounds", "min"), ("features", 2, "where"), ("features", 3, "aggregation"),
         ("features", 0, "hop"), ("features", 0, "default"), ("online", "ttl"), ("online",),
         ("online", "freshness_slo"), ("schedule",), ("expectations", 0, "kwargs"), ("retries",), ("version",),
         ("tags",), ("source", "columns", "amount"), ("entity",)]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.sampled_from(["7d", "0d", "-1d", "9999999999999d", "1m", "24h", "365d", "../x", "a b", "t`x", "${x}",
                     "status = 'x'", "lower(status) = 'a'", "string", "timestamp", "double", "count", "sum",
                     "@daily", "0 2 * * *", "\u00a0", "\x00", "é", "1e400", "-0.0", "s3://b/../x"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=12)


def _set(doc: dict[str, Any], path: tuple[str | int, ...], value: Any) -> None:
    node: Any = doc
    for part in path[:-1]:
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            return
    try:
        node[path[-1]] = value
    except (IndexError, TypeError):
        pass


def _outcome(text: str) -> None:
    try:
        group = parse_spec_text(text, file="fuzz.yaml")
    except SpecError as e:
        for err in getattr(e, "errors", [e]):
            assert str(err).startswith("fuzz.yaml"), str(err)
        return
    assert isinstance(group, FeatureGroup)


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(PATHS), values), min_size=1, max_size=4))
def test_mutated_specs_load_or_raise_spec_error(mutations: list[tuple[tuple[str | int, ...], Any]]) -> None:
    doc = copy.deepcopy(VALID)
    for path, value in mutations:
        _set(doc, path, value)
    _outcome(yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(st.text(alphabet=st.sampled_from([*"abc:-[]{}&*!|>'\"#%@`,? \n\t\\0123456789.", "\u00a0", "é"]),
               max_size=200))
def test_random_yaml_text_loads_or_raises_spec_error(text: str) -> None:
    _outcome(text)


where_tokens = st.sampled_from(
    sorted(FUNCTIONS) + sorted(KEYWORDS)
    + ["status", "amount", "is_late", "event_ts", "`status`", "`x`", "reflect", "repeat", "select", "exists",
       "(", ")", ",", "=", "<", ">", "<=>", "!=", "+", "-", "*", "/", "%", "||", "!", "~", "&", "|", "^", ".",
       "::", "->", "=>", "[", "]", ";", ":", "?", "--", "/*", "*/", "${", "}", "'a'", "'it''s'", "'a\\'",
       "\"x\"", "R'x'", "X'41'", "1", "1.5", "1e400", "10L", "0x10", ".5", "'%a%'", "'(a+)+'", "\u00a0", "\n"])


@FUZZ
@given(st.lists(where_tokens, min_size=1, max_size=25), st.sampled_from([" ", ""]))
def test_random_where_filters_are_accepted_or_refused_cleanly(tokens: list[str], sep: str) -> None:
    expr = sep.join(tokens)
    cols = {"status": "string", "amount": "double", "is_late": "boolean", "event_ts": "timestamp"}
    try:
        used = referenced_columns(expr, cols)
    except WhereError:
        return
    assert set(used) <= set(cols)
    # whatever passes holds no name before '(' that is not an allowed function
    doc = copy.deepcopy(VALID)
    doc["features"][2]["where"] = expr
    _outcome(yaml.safe_dump(doc, allow_unicode=True))

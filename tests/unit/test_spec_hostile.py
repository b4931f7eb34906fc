"""The spec author as attacker: `where:` bypasses, YAML bombs, and values that would fail later (issue 16).

Every hostile spec must be refused at validate time with ``file:line: field: problem; fix``.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from weir.online.errors import FeatureRequestError
from weir.online.keys import render_key_value
from weir.spec import ColumnType, SpecError, load_spec, parse_spec_text, validate_specs
from weir.spec.where import WhereError, referenced_columns
from weir.spec.yaml_limits import MAX_SPEC_BYTES

ROOT = Path(__file__).resolve().parents[2]

SPEC = textwrap.dedent("""\
    name: hostile
    entity: {name: user, keys: [user_id]}
    source:
      delta: transactions
      kafka: {topic: transactions}
      event_time: event_ts
      columns: {user_id: string, status: string, amount: double, is_late: boolean, event_ts: timestamp}
    features:
      - {name: n, aggregation: count, windows: [1d]}
      - {name: declined, aggregation: count, where: "status = 'declined'", windows: [1d]}
    online: {ttl: 7d}
""")
WHERE_LINE = 10

COLS = {"status": ColumnType.STRING, "amount": ColumnType.DOUBLE, "is_late": ColumnType.BOOLEAN,
        "event_ts": ColumnType.TIMESTAMP,
        # columns named like dangerous functions or string prefixes, to tempt a lexical checker
        "reflect": ColumnType.STRING, "r": ColumnType.STRING, "x": ColumnType.STRING}

# (expression, what the error must say). Each of these reaches a function outside the allow-list, or reads
# differently in Spark than in a naive checker; the comment says how.
BYPASSES = [
    # a line comment hides a quote from a lexical checker: Spark runs reflect(...)
    ("-- '\nreflect(\"java.lang.Thread\", \"sleep\", 100000L) IS NULL -- '", "comments are not allowed"),
    # Spark nests /* */ comments
    ("/* /* */ raise_error('x') */ status = 'a'", "comments are not allowed"),
    ("status = 'a' /*+ hint */", "comments are not allowed"),
    # a backticked name before '(' is a function call in Spark, not a column
    ("`reflect`('java.lang.Runtime', 'getRuntime') IS NULL", "unknown function 'reflect'"),
    ("`java_method`('java.lang.System', 'exit', 0) IS NULL", "unknown function 'java_method'"),
    # a raw string R'..\' ends at the backslash in Spark, so the call after it is code
    ("status = R'a\\' OR reflect('a', 'b') IS NULL OR status = '\\''", "string prefixes"),
    ("status = X'41'", "string prefixes"),
    # IDENTIFIER('...') names a function inside a string
    ("IDENTIFIER('raise_error')('boom') IS NULL", "unknown function 'IDENTIFIER'"),
    # qualified function names
    ("system.builtin.reflect('a', 'b') IS NULL", "qualified names"),
    # '::' casts, lambdas, named arguments, parameters
    ("status::int > 1", "'::' casts"),
    ("exists(array(1), x -> x > 0)", "lambdas are not allowed"),
    ("lower(status => 'x') = 'x'", "named arguments"),
    ("status = ?", "parameters"),
    ("status = :p", "parameters"),
    # subqueries
    ("status IN (SELECT 1)", "unknown identifier 'SELECT'"),
    ("EXISTS(SELECT 1)", "unknown function 'EXISTS'"),
    # Spark substitutes ${...} (even ${env:SECRET}) before it parses
    ("status = '${env:AWS_SECRET_ACCESS_KEY}'", "variable substitution"),
    # non-ASCII spaces are whitespace to Spark's lexer
    ("status\u00a0= 'a'", "U+00A0"),
    ("status = 'a'\u2028OR reflect('x') IS NULL", "U+2028"),
    # a number glued to letters is an identifier to Spark
    ("0x10 = 16", "malformed number"),
    ("1e400 > 0", "out of range"),
    # statements and element access
    ("status = 'a'; SELECT 1", "';' is not allowed"),
    ("map('a', 1)['a'] = 1", "element access"),
    ("struct(1).col1 = 1", "field access"),
    # unlisted functions, directly and nested, memory bombs among them
    ("repeat(status, 1000000000) = ''", "unknown function 'repeat'"),
    ("size(sequence(1, 100000000)) > 0", "unknown function 'sequence'"),
    ("size(array_repeat(status, 100000000)) > 0", "unknown function 'array_repeat'"),
    ("lower(upper(lower(space(100000000)))) = ''", "unknown function 'space'"),
    ("cast(reflect('a', 'b') AS int) > 0", "unknown function 'reflect'"),
    ("count(*) > 1", "unknown function 'count'"),
    # allowed functions used as memory or CPU bombs
    ("lpad(status, 2000000000, 'x') = ''", "lpad/rpad"),
    ("rpad(status, amount, 'x') = ''", "lpad/rpad"),
    ("replace(status, 'a', 'aaaaaaaaaa') = ''", "replace needs"),
    ("replace(replace(status, '', 'xx'), '', 'xx') = ''", "replace needs"),
    ("regexp_replace(status, '', 'xxxx') = ''", "regexp_replace may only delete"),
    ("status RLIKE '(a+)+$'", "nests repetitions"),
    ("status RLIKE x", "must be a string literal"),
    ("status LIKE x", "must be a string literal"),
    # casts to complex types, and Spark's joining of adjacent literals
    ("cast(status AS decimal(10, 2)) > 1 AND cast(status AS binary) IS NULL", "cast to BINARY"),
    ("status = 'a' 'b'", "two string literals"),
    # not a condition
    ("amount + 1", "not a condition"),
    ("status", "not a condition"),
    # too long, too deep
    ("status = 'a' OR " * 80 + "is_late", "characters long"),
    ("(" * 40 + "is_late" + ")" * 40, "nest deeper"),
]

ACCEPTED = [
    ("status = 'declined'", ["status"]),
    ("status = 'it''s' AND status <> \"say \"\"hi\"\"\"", ["status"]),
    ("status = 'a\\' OR raise_error(1) OR \\''", ["status"]),  # one string literal to Spark too
    ("lower(status) LIKE 'decl%' ESCAPE '!' OR amount IS NOT NULL", ["status", "amount"]),
    ("`lower`(status) = 'a'", ["status"]),
    ("is_late", ["is_late"]),
    ("NOT is_late AND amount BETWEEN 1 AND 2.5", ["is_late", "amount"]),
    ("coalesce(amount, 0) > 10L", ["amount"]),
    ("CASE WHEN amount > 10 THEN true ELSE false END", ["amount"]),
    ("try_cast(status AS int) > 1 OR cast(amount AS decimal(10, 2)) > 1", ["status", "amount"]),
    ("event_ts > timestamp '2024-01-01' AND date_add(event_ts, 1) > event_ts", ["event_ts"]),
    ("hash(status) % 10 = 0 AND .5 < amount", ["status", "amount"]),
    ("status RLIKE '^dec[a-z]+$' AND regexp_replace(status, '[0-9]', '') = 'x'", ["status"]),
    ("lpad(status, 10, '0') = '000000abcd' AND replace(status, 'ab', 'b') = 'b'", ["status"]),
]


@pytest.mark.parametrize(("expr", "needle"), BYPASSES)
def test_where_bypasses_are_refused(expr: str, needle: str) -> None:
    with pytest.raises(WhereError) as exc:
        referenced_columns(expr, COLS)
    assert needle in str(exc.value), str(exc.value)


@pytest.mark.parametrize(("expr", "cols"), ACCEPTED)
def test_ordinary_filters_still_pass(expr: str, cols: list[str]) -> None:
    assert referenced_columns(expr, COLS) == cols


def test_where_error_names_file_line_and_field(tmp_path: Path) -> None:
    p = tmp_path / "hostile.yaml"
    p.write_text(SPEC.replace("status = 'declined'", "`reflect`('java.lang.Thread', 'sleep', 1L) IS NULL"))
    with pytest.raises(SpecError) as exc:
        load_spec(p)
    err = exc.value
    assert (err.file, err.line, err.field) == (str(p), WHERE_LINE, "features[1].where")
    assert str(err).startswith(f"{p}:{WHERE_LINE}: features[1].where: bad where expression")
    assert "unknown function 'reflect'" in str(err) and "allowed" in str(err)


def test_every_shipped_spec_still_validates() -> None:
    files = sorted((ROOT / "feature_specs").glob("*.yaml"))
    assert files
    for f in files:
        assert validate_specs(f) == [], f
        assert load_spec(f).features


# ------------------------------------------------------------------------------------------------ YAML
def _alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return SPEC + "\n".join(lines) + "\n"


def test_alias_bomb_fails_fast_with_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "bomb.yaml"
    p.write_text(_alias_bomb())  # 9**9 = 387 million strings once expanded
    start = time.monotonic()
    with pytest.raises(SpecError) as exc:
        load_spec(p)
    assert time.monotonic() - start < 5
    assert "YAML aliases" in str(exc.value) and str(exc.value).startswith(f"{p}:")
    with pytest.raises(SpecError, match="YAML aliases"):
        parse_spec_text(_alias_bomb())
    assert "YAML aliases" in str(validate_specs(p)[0])


def test_small_aliases_are_still_fine() -> None:
    text = SPEC.replace("online: {ttl: 7d}", "online: &o {ttl: 7d}") + "tags: &t [a, b]\n"
    assert parse_spec_text(text).online.ttl == "7d"


@pytest.mark.parametrize(("text", "needle"), [
    ("x: &x [*x]\n", "recursive"),
    ("a: " + "[" * 5000 + "]" * 5000 + "\n", "deeper than"),
    ("a: &a [1]\n" + "".join(f"b{i}: *a\n" for i in range(150)), "more than 100 YAML aliases"),
])
def test_yaml_limits(text: str, needle: str) -> None:
    with pytest.raises(SpecError) as exc:
        parse_spec_text(SPEC + text, file="s.yaml")
    assert needle in str(exc.value) and str(exc.value).startswith("s.yaml:")


def test_oversized_file_is_refused_before_reading(tmp_path: Path) -> None:
    p = tmp_path / "big.yaml"
    p.write_text(SPEC + "description: '" + "x" * MAX_SPEC_BYTES + "'\n")
    with pytest.raises(SpecError, match="a spec may be at most"):
        load_spec(p)
    (tmp_path / "latin1.yaml").write_bytes(SPEC.encode() + b"description: caf\xe9\n")
    with pytest.raises(SpecError, match="not UTF-8"):
        load_spec(tmp_path / "latin1.yaml")


# -------------------------------------------------------------------------------------- spec values
@pytest.mark.parametrize(("old", "new", "line", "field", "needle"), [
    ("delta: transactions", "delta: ../../etc/transactions", 4, "source.delta", "'..' segment"),
    ("delta: transactions", "delta: s3://bucket/lake/../other", 4, "source.delta", "'..' segment"),
    ("delta: transactions", "delta: 'my table'", 4, "source.delta", "characters other than"),
    ("delta: transactions", "delta: 'a//b'", 4, "source.delta", "empty segment"),
    ("{topic: transactions}", "{topic: 'my topic'}", 5, "source.kafka.topic", "bad Kafka topic"),
    ("{topic: transactions}", "{topic: 'tx/1'}", 5, "source.kafka.topic", "bad Kafka topic"),
    ("{topic: transactions}", "{topic: '..'}", 5, "source.kafka.topic", "bad Kafka topic"),
    ("{topic: transactions}", "{topic: " + "t" * 250 + "}", 5, "source.kafka.topic", "1 to 249"),
    ("status: string,", "'sta`tus': string,", 7, "source.columns.sta`tus", "bad column name"),
    ("status: string,", "'status x': string,", 7, "source.columns.status x", "bad column name"),
    ("status: string,", "status: string, Status: string,", 7, "source.columns.Status", "only in case"),
    ("ttl: 7d", "ttl: 9999999999999d", 11, "online.ttl", "longer than 100 years"),
    ("ttl: 7d", "ttl: 4000d", 11, "online.ttl", "use at most 3650d"),
    ("ttl: 7d", "ttl: 7d, freshness_slo: 400d", 11, "online.freshness_slo", "use at most 365d"),
    ("user_id: string,", "user_id: double,", 2, "entity.keys[0]", "floating-point keys"),
    ("user_id: string,", "user_id: float,", 2, "entity.keys[0]", "-0.0 and 0.0"),
])
def test_values_that_would_fail_later_are_refused(tmp_path: Path, old: str, new: str, line: int, field: str,
                                                 needle: str) -> None:
    assert old in SPEC
    p = tmp_path / "s.yaml"
    p.write_text(SPEC.replace(old, new, 1))
    with pytest.raises(SpecError) as exc:
        load_spec(p)
    errors = getattr(exc.value, "errors", [exc.value])
    match = [e for e in errors if e.field == field]
    assert match, str(exc.value)
    assert match[0].line == line and needle in str(match[0]), str(match[0])
    assert str(match[0]).startswith(f"{p}:{line}: {field}: ")


def test_plain_paths_and_uris_are_fine() -> None:
    for delta in ("sales/orders", "/data/lake/t", "s3://bucket/lake/t", "abfss://c@acct.dfs.core.windows.net/t",
                  "date=2024-01-01/t"):
        assert parse_spec_text(SPEC.replace("delta: transactions", f"delta: '{delta}'")).source.delta == delta
    assert parse_spec_text(SPEC.replace("{topic: transactions}", "{topic: a.b_c-1}")).source.kafka


def test_long_keys_out_of_range_are_refused() -> None:
    assert render_key_value(2**63 - 1, ColumnType.LONG) == str(2**63 - 1)
    assert render_key_value(-(2**31), ColumnType.INT) == str(-(2**31))
    for value, ctype in [(2**63, ColumnType.LONG), (-(2**63) - 1, ColumnType.LONG), (2**31, ColumnType.INT),
                         (10**5000, ColumnType.LONG), (2**64, ColumnType.TIMESTAMP)]:
        with pytest.raises(FeatureRequestError, match="outside the range"):
            render_key_value(value, ctype, "shop_id")

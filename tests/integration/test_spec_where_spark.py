"""Spark's own parser as the oracle for the `where:` checker (issue 16, finding 8).

Whatever the checker accepts, Spark must parse into a tree that calls only allowed functions, every one of
which the checker saw, with no lambda, subquery, parameter or field access, over declared columns only.
The corpus: the hand-written bypasses and ordinary filters of the unit tests, plus a few thousand random
token soups (deterministic seed) of which the accepted ones are sent to Spark.
"""

from __future__ import annotations

import importlib.util
import itertools
import random
import re
from pathlib import Path
from typing import Any

import pytest

from weir.spec.where import FUNCTIONS, KEYWORDS, WhereError, referenced_columns

pytestmark = pytest.mark.integration

_UNIT = Path(__file__).resolve().parents[1] / "unit" / "test_spec_hostile.py"
_spec = importlib.util.spec_from_file_location("spec_hostile_cases", _UNIT)
assert _spec is not None and _spec.loader is not None
hostile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hostile)

COLS = hostile.COLS
REFUSED_NODES = {"LambdaFunction", "UnresolvedNamedLambdaVariable", "ListQuery", "ScalarSubquery", "Exists",
                 "InSubquery", "NamedParameter", "PosParameter", "UnresolvedExtractValue", "UnresolvedStar",
                 "NamedArgumentExpression", "ExpressionWithUnresolvedIdentifier", "UnresolvedAlias"}
#: functions Spark's parser makes out of operator syntax (no name before '(' in the text)
SYNTAX_FUNCTIONS = {"between"}
SOUP = (sorted(FUNCTIONS) + sorted(KEYWORDS)
        + ["status", "amount", "is_late", "event_ts", "`status`", "`lower`", "reflect", "r", "x", "(", ")", ",",
           "=", "<", ">", "<=>", "!=", "+", "-", "*", "/", "%", "||", "!", "~", "&", "|", "^", "'a'", "'it''s'",
           "'a\\''", "\"x\"", "'(a)'", "'%a%'", "1", "1.5", "10L", ".5", "2S", "1e3", "1.5BD", "NOT", "AND"])


def _spark_view(parser: Any, expr: str) -> tuple[list[str], set[str], set[str]] | None:
    """(function names, node class names, attribute names) of Spark's parse of ``expr``; None if Spark
    cannot parse it."""
    from py4j.protocol import Py4JJavaError
    from pyspark.errors.exceptions.captured import ParseException

    try:
        root = parser.parseExpression(expr)
    except (Py4JJavaError, ParseException):
        return None
    funcs: list[str] = []
    kinds: set[str] = set()
    attrs: set[str] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        kind = node.getClass().getSimpleName()
        kinds.add(kind)
        if kind == "UnresolvedFunction":
            funcs.append(node.nameParts().mkString("."))
        elif kind == "UnresolvedAttribute":
            attrs.add(node.name())
        children = node.children()
        stack.extend(children.apply(i) for i in range(children.size()))
    return funcs, kinds, attrs


def _calls_seen_by_checker(expr: str) -> set[str]:
    from weir.spec.where import OPERATOR_WORDS, tokenize

    toks = tokenize(expr)
    return {t.text.lower() for t, n in itertools.pairwise(toks)
            if t.kind in ("ident", "qident") and n.kind == "op" and n.text == "("
            and not (t.kind == "ident" and t.text.lower() in OPERATOR_WORDS)}


STRINGS = ["'a'", "'it''s'", "'a\\''", "\"x\"", "\"say \"\"hi\"\"\"", "'%a_'", "'--'", "'/*'", "'`'", "'$'",
           "'é'", "'\\u0027'"]
NUMBERS = ["1", "2.5", ".5", "10L", "2S", "1Y", "1e3", "1.5D", "1.5BD", "0"]
CALLS = [("lower", 1), ("upper", 1), ("abs", 1), ("coalesce", 2), ("length", 1), ("concat", 2), ("greatest", 2),
         ("hash", 1), ("nvl", 2), ("round", 1), ("`lower`", 1), ("substr", 3), ("if", 3), ("trim", 1)]
BINARY = ["+", "-", "*", "/", "%", "DIV", "&", "|", "^", "||"]
COMPARE = ["=", "==", "<>", "!=", "<", "<=", ">", ">=", "<=>"]


def _value(rng: random.Random, depth: int) -> str:
    pick = rng.randint(0, 9 if depth > 0 else 3)
    if pick <= 1:
        return rng.choice(["status", "amount", "`amount`", "event_ts", "x"])
    if pick == 2:
        return rng.choice(NUMBERS)
    if pick == 3:
        return rng.choice(STRINGS)
    if pick <= 6:
        name, arity = rng.choice(CALLS)
        return f"{name}(" + ", ".join(_value(rng, depth - 1) for _ in range(arity)) + ")"
    if pick == 7:
        return rng.choice(["-", "~"]) + " " + _value(rng, depth - 1)
    if pick == 8:
        return f"({_value(rng, depth - 1)})"
    return f"{_value(rng, depth - 1)} {rng.choice(BINARY)} {_value(rng, depth - 1)}"


def _condition(rng: random.Random, depth: int) -> str:
    pick = rng.randint(0, 8 if depth > 0 else 4)
    v = lambda: _value(rng, 2)  # noqa: E731
    if pick == 0:
        return f"{v()} {rng.choice(COMPARE)} {v()}"
    if pick == 1:
        return f"{v()} IS {rng.choice(['', 'NOT '])}NULL"
    if pick == 2:
        return f"{v()} {rng.choice(['', 'NOT '])}IN ({v()}, {v()})"
    if pick == 3:
        return f"{v()} {rng.choice(['', 'NOT '])}BETWEEN {v()} AND {v()}"
    if pick == 4:
        return rng.choice(["is_late", "NOT is_late", "! is_late", "true", f"status LIKE {rng.choice(STRINGS)}"])
    if pick <= 6:
        return f"{_condition(rng, depth - 1)} {rng.choice(['AND', 'OR'])} {_condition(rng, depth - 1)}"
    if pick == 7:
        return f"NOT ({_condition(rng, depth - 1)})"
    return f"CASE WHEN {_condition(rng, depth - 1)} THEN {_condition(rng, depth - 1)} ELSE false END"


def _corpus() -> list[str]:
    rng = random.Random(16)
    soups = [" ".join(rng.choice(SOUP) for _ in range(rng.randint(1, 12))) for _ in range(3000)]
    grammar = [_condition(rng, 3) for _ in range(1500)]
    hand = [e for e, _ in hostile.BYPASSES] + [e for e, _ in hostile.ACCEPTED]
    return hand + grammar + soups


def test_everything_the_checker_accepts_is_safe_in_sparks_own_parser(spark: Any) -> None:
    parser = spark._jsparkSession.sessionState().sqlParser()
    accepted = 0
    wrong: list[tuple[str, object]] = []
    for expr in _corpus():
        try:
            referenced_columns(expr, COLS)
        except WhereError:
            continue
        accepted += 1
        view = _spark_view(parser, expr)
        if view is None:
            wrong.append((expr, "Spark cannot parse what the checker accepted"))
            continue
        funcs, kinds, attrs = view
        called = {f.lower() for f in funcs} - SYNTAX_FUNCTIONS
        if kinds & REFUSED_NODES:
            wrong.append((expr, kinds & REFUSED_NODES))
        if not called <= FUNCTIONS or not called <= _calls_seen_by_checker(expr):
            wrong.append((expr, funcs))
        if not {a.lower() for a in attrs} <= set(COLS):
            wrong.append((expr, attrs))
    assert not wrong, "\n".join(f"{e!r}: {why}" for e, why in wrong[:30])
    assert accepted >= 1000  # the corpus must reach Spark, not only the refusals


def test_the_hand_written_bypasses_really_reach_unlisted_functions_in_spark(spark: Any) -> None:
    """The bypass list is not made of strawmen: Spark parses many of them into a call the allow-list lacks."""
    parser = spark._jsparkSession.sessionState().sqlParser()
    reaching = []
    for expr, _ in hostile.BYPASSES:
        view = _spark_view(parser, expr)
        if view and ({f.lower() for f in view[0]} - FUNCTIONS or view[1] & REFUSED_NODES):
            reaching.append(expr)
    assert len(reaching) >= 10, reaching


#: spellings sqlglot rewrites without changing the structure (nvl -> coalesce, 10L -> CAST(10 AS BIGINT), ...)
_RESPELLED = re.compile(r"\b(nvl|substr)\b|\d(?:[LSYDlsyd]|BD)\b|IS NOT NULL|\b(date|timestamp) '", re.I)


def _explicit(tree: Any) -> str:
    """sqlglot's tree back as Spark SQL with every operator in its own parentheses."""
    from sqlglot import exp

    def wrap(node: Any) -> Any:
        grouped = (exp.Binary, exp.Unary, exp.Is, exp.In, exp.Between, exp.Case, exp.If)
        if isinstance(node, grouped) and not isinstance(node, exp.Paren) and not isinstance(node.parent, exp.Paren):
            return exp.Paren(this=node.copy())
        return node

    return str(tree.transform(wrap).sql("spark"))


def test_sqlglot_groups_every_accepted_filter_as_spark_does(spark: Any) -> None:
    """Precedence parity: Spark's tree of the filter equals Spark's tree of sqlglot's reading of it written
    with explicit parentheses, so the tree the allow-list walks is the one Spark runs."""
    import sqlglot

    from weir.spec.where import _canonical, tokenize

    parser = spark._jsparkSession.sessionState().sqlParser()
    compared, differ = 0, []
    for expr in _corpus():
        if _RESPELLED.search(expr):
            continue
        try:
            referenced_columns(expr, COLS)
        except WhereError:
            continue
        explicit = _explicit(sqlglot.parse_one(_canonical(tokenize(expr)), read="spark"))
        want = parser.parseExpression(expr).toString().lower()
        got = parser.parseExpression(explicit).toString().lower()
        compared += 1
        if want != got:
            differ.append(f"{expr!r}\n  spark:   {want}\n  sqlglot: {got}")
    assert compared >= 300
    assert not differ, "\n".join(differ[:10])

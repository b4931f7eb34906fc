"""Targeting rules: the parser against hand-written Python evaluation over many random values, and the errors
a product manager sees for a rule that does not parse."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from weir.experiments.targeting import RuleError, evaluate, features_of, parse_rule


def ge(v: Any, x: float) -> bool:
    return v is not None and v >= x


def gt(v: Any, x: float) -> bool:
    return v is not None and v > x


def lt(v: Any, x: float) -> bool:
    return v is not None and v < x


# (rule, the same rule written by hand; a missing/None value never satisfies a comparison)
CASES: list[tuple[str, Callable[[dict[str, Any]], bool]]] = [
    ("user_repayment.repayments_count_90d >= 3",
     lambda v: ge(v.get("user_repayment.repayments_count_90d"), 3)),
    ("user_repayment.repayments_count_90d >= 3 and user_repayment.late_payments_count_90d == 0",
     lambda v: ge(v.get("user_repayment.repayments_count_90d"), 3)
     and v.get("user_repayment.late_payments_count_90d") == 0),
    ("user_repayment.on_time_ratio_avg_90d > 0.9 or user_spend.txn_count_7d > 5 and country == 'KE'",
     lambda v: gt(v.get("user_repayment.on_time_ratio_avg_90d"), 0.9)
     or (gt(v.get("user_spend.txn_count_7d"), 5) and v.get("country") == "KE")),
    ("(user_repayment.on_time_ratio_avg_90d > 0.9 or user_spend.txn_count_7d > 5) and country in ['KE', 'NG']",
     lambda v: (gt(v.get("user_repayment.on_time_ratio_avg_90d"), 0.9) or gt(v.get("user_spend.txn_count_7d"), 5))
     and v.get("country") in ("KE", "NG")),
    ("not user_spend.txn_count_7d < 2 and segment != 'staff'",
     lambda v: (not lt(v.get("user_spend.txn_count_7d"), 2)) and v.get("segment") is not None
     and v.get("segment") != "staff"),
    ("is_new == true or user_repayment.last_loan_last == null",
     lambda v: v.get("is_new") is True or v.get("user_repayment.last_loan_last") is None),
]


def random_values(rnd: random.Random) -> dict[str, Any]:
    v: dict[str, Any] = {
        "user_repayment.repayments_count_90d": rnd.choice([None, 0, 1, 2, 3, 4, 10]),
        "user_repayment.late_payments_count_90d": rnd.choice([None, 0, 0, 1, 2]),
        "user_repayment.on_time_ratio_avg_90d": rnd.choice([None, rnd.random(), 0.9, 1.0]),
        "user_spend.txn_count_7d": rnd.choice([None, 0, 2, 5, 6, 40]),
        "user_repayment.last_loan_last": rnd.choice([None, "l1"]),
        "country": rnd.choice(["KE", "NG", "UG", None]),
        "segment": rnd.choice(["staff", "retail", None]),
        "is_new": rnd.choice([True, False, None]),
    }
    for k in list(v):
        if rnd.random() < 0.1:
            del v[k]  # absent entirely, as an attribute the caller did not send
    return v


@pytest.mark.parametrize(("rule", "by_hand"), CASES, ids=[c[0][:40] for c in CASES])
def test_rules_equal_hand_written_evaluation(rule: str, by_hand: Callable[[dict[str, Any]], bool]) -> None:
    node = parse_rule(rule)
    rnd = random.Random(rule)
    outcomes = set()
    for _ in range(3000):
        values = random_values(rnd)
        got = evaluate(node, values)
        assert got == by_hand(values), values
        outcomes.add(got)
    assert outcomes == {True, False}  # the rule was exercised both ways


def test_features_of_lists_groups_and_columns_once() -> None:
    node = parse_rule(CASES[2][0] + " and user_spend.txn_count_7d < 100")
    assert features_of(node) == {"user_repayment": ["on_time_ratio_avg_90d"], "user_spend": ["txn_count_7d"]}


def test_type_mismatch_is_no_match_rather_than_a_crash() -> None:
    assert evaluate(parse_rule("a.b > 3"), {"a.b": "high"}) is False


@pytest.mark.parametrize(("rule", "message"), [
    ("user_repayment.repayments_count_90d >=", "ends early"),
    ("user_repayment.repayments_count_90d => 3", "unexpected text at character 37"),
    ("a.b > 3 c.d < 2", "unexpected 'c.d' at character 9; join conditions with 'and' / 'or'"),
    ("(a.b > 3", "ends early; expected ')'"),
    ("country in ['KE' 'NG']", "expected ']' at character 18"),
    ("a.b > x", "expected a value"),
    ("", "non-empty expression"),
])
def test_bad_rules_say_where(rule: str, message: str) -> None:
    with pytest.raises(RuleError, match=__import__("re").escape(message)):
        parse_rule(rule)

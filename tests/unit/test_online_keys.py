"""Entity keys -> pk, and the request errors a caller gets for wrong keys or refs."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from weir.online.errors import FeatureRequestError
from weir.online.keys import coerce_key_text, entity_pk, render_key_value
from weir.spec import parse_spec_text
from weir.spec.models import ColumnType

SPEC = """
name: pair_spend
entity: {name: pair, keys: [user_id, shop_id]}
source:
  delta: t
  event_time: event_ts
  columns: {user_id: string, shop_id: long, amount: double, event_ts: timestamp}
features:
  - {name: n, aggregation: count, windows: [1d]}
"""


def test_composite_keys_are_joined_and_escaped() -> None:
    g = parse_spec_text(SPEC)
    assert entity_pk(g, {"user_id": "u1", "shop_id": 7}) == "u1|7"
    # a '|' inside a value cannot make two entities collide
    a = entity_pk(g, {"user_id": "a|1", "shop_id": 2})
    b = entity_pk(g, {"user_id": "a", "shop_id": 12})
    assert a != b and a == "a\\|1|2"


@pytest.mark.parametrize(("entity", "message"), [
    ({"user_id": "u1"}, "lacks key"),
    ({"user_id": "u1", "shop_id": 7, "x": 1}, "unknown key"),
    ({"user_id": "u1", "shop_id": "7"}, "must be of type long"),
    ({"user_id": 1, "shop_id": 7}, "must be of type string"),
    ({"user_id": "u1", "shop_id": True}, "must be of type long"),
    ("u1", "has 2 keys"),
])
def test_wrong_keys_name_the_problem(entity: object, message: str) -> None:
    with pytest.raises(FeatureRequestError, match=message):
        entity_pk(parse_spec_text(SPEC), entity)


def test_extra_keys_allowed_when_not_strict() -> None:
    g = parse_spec_text(SPEC)
    assert entity_pk(g, {"user_id": "u", "shop_id": 1, "merchant_id": "m"}, strict=False) == "u|1"


def test_render_and_coerce_by_type() -> None:
    assert render_key_value(1.5, ColumnType.DOUBLE) == "1.5"
    assert render_key_value(2, ColumnType.DOUBLE) == "2.0"
    assert render_key_value(False, ColumnType.BOOLEAN) == "false"
    assert render_key_value(date(2024, 1, 2), ColumnType.DATE) == "2024-01-02"
    assert render_key_value(datetime(1970, 1, 1, 0, 0, 1, tzinfo=UTC), ColumnType.TIMESTAMP) == "1000000"
    assert coerce_key_text("42", ColumnType.LONG) == 42
    assert coerce_key_text("true", ColumnType.BOOLEAN) is True
    with pytest.raises(FeatureRequestError, match="must be of type int"):
        coerce_key_text("x", ColumnType.INT, "k")

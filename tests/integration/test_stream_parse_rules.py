"""The stream parser's rules on real Spark (no Kafka needed: records are built as the Kafka source gives them).

Fixed cases for each hostile-producer finding (future event time, non-finite numbers, keys DynamoDB cannot
store, a missing event id, invalid UTF-8), then a hypothesis fuzz: random and adversarial payloads, each record
either valid or dead-lettered with a reason (never both), classified as the plain-Python oracle
(``tests/parse_oracle.py``) says, and a valid record always has an item key ``weir.online.keys`` can write.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from builders import iso_z
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from parse_oracle import expected_codes

from weir.online.errors import FeatureRequestError
from weir.online.keys import entity_pk
from weir.spec import parse_spec_text

pytestmark = pytest.mark.integration

GROUP = parse_spec_text("""
name: hostile
entity: {name: user, keys: [user_id, region]}
source:
  kafka: {topic: hostile}
  event_time: event_ts
  event_id: txn_id
  max_future: 1h
  columns: {txn_id: string, user_id: string, region: string, amount: double, ratio: float, n: long,
            event_ts: timestamp}
features:
  - {name: spend, aggregation: sum, column: amount, windows: [1d]}
""")
NOW = datetime(2026, 3, 1, 12, 0)
KAFKA_SCHEMA = "value binary, topic string, partition int, offset long, timestamp timestamp, now timestamp"


def record(**over: Any) -> bytes:
    base: dict[str, Any] = {"txn_id": "t1", "user_id": "u1", "region": "eu", "amount": 1.5, "ratio": 0.5,
                            "n": 3, "event_ts": iso_z(NOW - timedelta(minutes=5))}
    for k, v in over.items():
        if v is _DROP:
            base.pop(k)
        else:
            base[k] = v
    return json.dumps(base).encode("utf-8")


_DROP = object()


def parse(spark: Any, values: list[bytes]) -> list[Any]:
    from pyspark.sql import functions as F

    from weir.stream.parse import parse_records

    rows = [(v, "hostile", 0, i, NOW, NOW) for i, v in enumerate(values)]
    df = spark.createDataFrame(rows, KAFKA_SCHEMA)
    return parse_records(df, GROUP, F.col("now")).orderBy("offset").collect()


CASES: list[tuple[str, bytes, set[str]]] = [
    ("valid", record(), set()),
    ("1e400", record().replace(b'"amount": 1.5', b'"amount": 1e400'), {"non_finite"}),
    ("-1e400", record().replace(b'"amount": 1.5', b'"amount": -1e400'), {"non_finite"}),
    ("float overflow", record(ratio=1e39), {"non_finite"}),
    ("NaN literal", record().replace(b'"amount": 1.5', b'"amount": NaN'), {"not_json"}),
    ("3000-char key", record(user_id="u" * 3000), {"key_too_long"}),
    ("key at the limit", record(user_id="u" * (2048 - 3)), set()),  # + "|eu"
    ("escapes count", record(user_id="|" * 1023), {"key_too_long"}),  # 2046 bytes escaped + 3
    ("multi-byte", record(user_id="€" * 682), {"key_too_long"}),  # 2046 bytes + 3
    ("multi-byte fits", record(user_id="€" * 681), set()),
    ("far future", record(event_ts=iso_z(NOW + timedelta(days=365 * 60))), {"future_event_time"}),
    ("just beyond max_future", record(event_ts=iso_z(NOW + timedelta(hours=1, microseconds=1))),
     {"future_event_time"}),
    ("within max_future", record(event_ts=iso_z(NOW + timedelta(minutes=59))), set()),
    ("no event id", record(txn_id=_DROP), {"missing_event_id"}),
    ("empty event id", record(txn_id=""), {"empty_event_id"}),
    ("invalid UTF-8 in a string", record().replace(b'"u1"', b'"u\xff\xfe"'), {"not_utf8"}),
    ("invalid UTF-8 bytes", b"\xc3\x28\xa0\xa1", {"not_utf8"}),
    ("two rules", record(amount=None).replace(b'"ratio": 0.5', b'"ratio": 1e400').replace(
        b'"u1"', b'"' + b"x" * 3000 + b'"'), {"non_finite", "key_too_long"}),
]


def test_each_hostile_record_gets_its_reason(spark: Any) -> None:
    rows = parse(spark, [v for _, v, _ in CASES])
    for (name, value, codes), row in zip(CASES, rows, strict=True):
        assert set(row["reason_codes"]) == codes, (name, row["reason"], row["reason_codes"])
        assert (row["reason"] is None) == (not codes), name
        assert codes == expected_codes(GROUP, value, NOW), name  # the oracle agrees with the fixed cases
        assert bytes(row["value"]) == value
        row["value_str"].encode("utf-8")  # always valid UTF-8 (delta-rs reads it)
    by_name = {name: row for (name, _, _), row in zip(CASES, rows, strict=True)}
    assert "non-finite value for amount" in by_name["1e400"]["reason"]
    assert "3003 bytes" in by_name["3000-char key"]["reason"]
    assert "source.max_future (1h)" in by_name["far future"]["reason"]
    assert by_name["invalid UTF-8 bytes"]["reason"] == "not valid UTF-8"
    assert "\ufffd" in by_name["invalid UTF-8 in a string"]["value_str"]


# ------------------------------------------------------------------------------------------------ fuzz
_text = st.text(max_size=12) | st.sampled_from(["", "|", "\\", "a|b", "\u20ac" * 700, "x" * 2100])
_number = (st.floats(allow_nan=True, allow_infinity=True) | st.integers(min_value=-(10**400), max_value=10**400)
           | st.sampled_from([1e308, -1e308, 3.5e38, 1e39, 5e-324]))
_time = (st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9000, 1, 1)).map(iso_z)
         | st.sampled_from([iso_z(NOW + timedelta(hours=1)), iso_z(NOW + timedelta(hours=1, seconds=1)),
                            "yesterday", "", "2026-13-01T00:00:00Z"]))
_any = st.none() | st.booleans() | _number | _text | st.lists(st.integers(), max_size=2)
_field = {"txn_id": _text | _any, "user_id": _text | _any, "region": _text, "amount": _number | _any,
          "ratio": _number | _any, "n": st.integers(min_value=-(2**70), max_value=2**70) | _any, "event_ts": _time}


@st.composite
def _payload(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["object", "object", "object", "bytes", "json"]))
    if kind == "bytes":
        return draw(st.binary(max_size=40))
    if kind == "json":
        return json.dumps(draw(_any)).encode("utf-8")
    obj = {k: draw(s) for k, s in _field.items() if draw(st.integers(0, 9)) > 0}
    extra = draw(st.dictionaries(st.text(max_size=5), _any, max_size=2))
    text = json.dumps({**extra, **obj})  # NaN/Infinity literals included: they are not JSON
    if draw(st.booleans()) and len(text) > 2:
        cut = draw(st.integers(0, len(text) - 1))
        text = text[:cut] if draw(st.booleans()) else text[:cut] + "\u00e9\x00" + text[cut:]
    return text.encode("utf-8", errors="surrogatepass")


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(payloads=st.lists(_payload(), min_size=1, max_size=40))
def test_fuzz_every_record_is_valid_or_dead_lettered(spark: Any, payloads: list[bytes]) -> None:
    rows = parse(spark, payloads)
    assert len(rows) == len(payloads)
    for value, row in zip(payloads, rows, strict=True):
        codes = set(row["reason_codes"])
        assert (row["reason"] is None) == (not codes), (value, row["reason"], codes)  # valid xor dead-lettered
        row["value_str"].encode("utf-8")
        assert codes == expected_codes(GROUP, value, NOW), (value, row["reason"])
        if not codes:
            entity_pk(GROUP, {"user_id": row["user_id"], "region": row["region"]})  # writable online
        elif codes == {"key_too_long"}:
            with pytest.raises(FeatureRequestError):
                entity_pk(GROUP, {"user_id": row["user_id"], "region": row["region"]})

"""An independent oracle of the stream's validity rules, in plain Python (no Weir code but the spec model).

It knows the documented rules (docs/features.md "Which events count") for records made of JSON text: valid UTF-8,
a JSON object (no NaN/Infinity literals, no repeated names), keys present and non-empty strings, numbers finite
(after conversion to the declared type), the item key at most 2048 bytes, the event time an ISO timestamp not
beyond ``now + max_future``, the event id present. Returns the set of failed rule codes (empty: valid).
"""

from __future__ import annotations

import json
import math
import struct
from datetime import UTC, datetime, timedelta
from typing import Any

MAX_PK_BYTES = 2048


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [k for k, _ in pairs]
    if len(set(names)) != len(names):
        raise ValueError("repeated name")
    return dict(pairs)


def _no_constants(text: str) -> Any:
    raise ValueError(f"not JSON: {text}")


def _ts(text: str) -> datetime | None:
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def _escaped_len(key: str) -> int:
    return len(key.encode("utf-8")) + key.count("\\") + key.count("|")


def _as_float32(x: float) -> float:
    try:
        return float(struct.unpack("f", struct.pack("f", x))[0])
    except OverflowError:
        return math.inf


def _fits(kind: str, v: Any) -> bool:
    """A JSON value of the declared type (JSON true/false is not a number)."""
    if kind == "string":
        return isinstance(v, str)
    if isinstance(v, bool):
        return False
    if kind in ("double", "float"):
        return isinstance(v, int | float)
    return isinstance(v, int) and -2**63 <= v < 2**63  # long


def expected_codes(group: Any, value: bytes, now: datetime) -> set[str]:
    """The codes of the rules ``value`` breaks for a group of string keys, string/double/float/long columns."""
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        return {"not_utf8"}
    try:
        record = json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        return {"not_json"}
    if not isinstance(record, dict):
        return {"not_object"}
    codes: set[str] = set()
    cols = group.source.columns
    for name, ctype in cols.items():
        v = record.get(name)
        if name in group.key_columns:
            if v is None:
                codes.add("missing_key")
            elif isinstance(v, str) and v == "":
                codes.add("empty_key")
        if name == group.event_time:
            if v is None:
                codes.add("missing_event_time")
            elif not isinstance(v, str) or _ts(v) is None:
                codes.add("bad_event_time")
            continue
        if v is None:
            continue
        if not _fits(ctype.value, v):
            codes.add("wrong_type")
    if codes:
        return codes
    for name, ctype in cols.items():
        v = record.get(name)
        if ctype.value in ("double", "float") and v is not None:
            try:
                x = float(v)
            except OverflowError:
                x = math.inf
            if ctype.value == "float":
                x = _as_float32(x)
            if not math.isfinite(x):
                codes.add("non_finite")
    pk = sum(_escaped_len(record[k]) for k in group.key_columns) + len(group.key_columns) - 1
    if pk > MAX_PK_BYTES:
        codes.add("key_too_long")
    ts = _ts(record[group.event_time])
    assert ts is not None
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    if ts > now + timedelta(microseconds=group.source.max_future_us):
        codes.add("future_event_time")
    eid = group.source.event_id
    if eid is not None:
        if record.get(eid) is None:
            codes.add("missing_event_id")
        elif record[eid] == "":
            codes.add("empty_event_id")
    return codes

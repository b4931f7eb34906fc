"""An independent oracle: feature values computed in plain Python straight from raw events.

It knows only the documented semantics (docs/features.md): a window ``w`` with hop ``h`` read at ``t`` covers
events with event time in ``(floor_h(t) - w, t]``; lifetime covers ``(-inf, t]``. No Weir code is used, except
the spec model to know which features exist.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

EPOCH = datetime(1970, 1, 1)


def us(dt: datetime) -> int:
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC).replace(tzinfo=None)
    return (dt - EPOCH) // __import__("datetime").timedelta(microseconds=1)


def _dur_us(text: str) -> int:
    n, unit = int(text[:-1]), text[-1]
    return n * {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}[unit] * 1_000_000


def default_hop(window: str | None) -> int:
    if window is None:
        return _dur_us("1d")
    w = _dur_us(window)
    if w <= _dur_us("12h"):
        return _dur_us("5m")
    if w <= _dur_us("12d"):
        return _dur_us("1h")
    return _dur_us("1d")


def _passes(where: str | None, e: dict[str, Any]) -> bool:
    if not where:
        return True
    # the oracle understands the simple filters used in tests: "col = 'value'" and "col > number"
    col, op, value = where.split(" ", 2)
    v = e.get(col)
    if v is None:
        return False
    if op == "=":
        return bool(v == value.strip("'"))
    if op == ">":
        return bool(v > float(value))
    raise NotImplementedError(where)


def feature_value(agg: str, column: str | None, where: str | None, window: str | None, hop_us: int | None,
                  events: list[dict[str, Any]], event_time: str, t: datetime) -> Any:
    t_us = us(t)
    hop = hop_us or default_hop(window)
    start = None if window is None else (t_us // hop) * hop - _dur_us(window)
    rows = [e for e in events if e[event_time] is not None and us(e[event_time]) <= t_us
            and (start is None or us(e[event_time]) > start) and _passes(where, e)]
    return aggregate(agg, column, rows, lambda e: us(e[event_time]))


def aggregate(agg: str, column: str | None, rows: list[dict[str, Any]], time_of: Callable[[dict[str, Any]], Any],
              ) -> Any:
    """``agg`` of ``column`` over ``rows`` already inside the window and past the filter; ``time_of(row)`` orders
    ``first`` and ``last`` (ties: the larger value). Empty: ``count`` and ``approx_count_distinct`` 0, else None."""
    if agg == "count":
        return len(rows) if column is None else sum(1 for e in rows if e[column] is not None)
    assert column is not None, agg
    vals = [(time_of(e), e[column]) for e in rows if e[column] is not None]
    if agg == "sum":
        return sum(v for _, v in vals) if vals else None
    if agg == "avg":
        return sum(v for _, v in vals) / len(vals) if vals else None
    if agg == "min":
        return min((v for _, v in vals), default=None)
    if agg == "max":
        return max((v for _, v in vals), default=None)
    if agg == "first":
        return min(vals, key=lambda p: (p[0], _neg(p[1])))[1] if vals else None
    if agg == "last":
        return max(vals)[1] if vals else None
    if agg == "stddev":
        if len(vals) < 2:
            return None
        xs = [v for _, v in vals]
        mean = sum(xs) / len(xs)
        return math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1))
    if agg == "approx_count_distinct":
        return len({v for _, v in vals})
    raise NotImplementedError(agg)


def _neg(v: Any) -> Any:
    # first: ties on event time broken by the larger value (same rule as last)
    return -v if isinstance(v, int | float) else _Rev(v)


class _Rev:
    def __init__(self, v: Any) -> None:
        self.v = v

    def __lt__(self, other: _Rev) -> bool:
        return bool(self.v > other.v)


def group_values(group: Any, events: list[dict[str, Any]], t: datetime) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Every output column for every entity that has a row at ``t`` (an event in the longest window, or ever
    when the group has lifetime features)."""
    keys = group.key_columns
    et = group.event_time
    by_entity: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for e in events:
        if e[et] is None or any(e[k] is None for k in keys):
            continue
        by_entity.setdefault(tuple(e[k] for k in keys), []).append(e)
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for key, evs in by_entity.items():
        present = False
        values: dict[str, Any] = {}
        for col in group.output_columns():
            f = col.feature
            hop = f.hop_us_for(None if col.window is None else _dur_us(col.window))
            values[col.name] = feature_value(f.aggregation.value, f.column, f.where, col.window, hop, evs, et, t)
            n_in = feature_value("count", None, None, col.window, hop, evs, et, t)
            present = present or n_in > 0
        if present:
            newest = max(us(e[et]) for e in evs if us(e[et]) <= us(t))
            values["newest_event_us"] = newest
            out[key] = values
    return out


def same_value(a: Any, b: Any) -> bool:
    """Equal feature values: both NULL, floats within 1e-9 (relative or absolute), anything else ==."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def assert_feature_rows_match(group: Any, events: list[dict[str, Any]], rows: list[Any], days: list[Any]) -> None:
    """A feature table's collected ``rows`` (``run_ts`` = end of each of ``days``) equal ``group_values``:
    the same entities, newest event times and values."""
    from datetime import timedelta

    by_t: dict[datetime, dict[tuple[Any, ...], Any]] = {}
    for r in rows:
        by_t.setdefault(r.run_ts, {})[tuple(r[k] for k in group.key_columns)] = r
    for d in days:
        t = datetime.combine(d + timedelta(days=1), datetime.min.time())
        expected, got = group_values(group, events, t), by_t.get(t, {})
        assert set(got) == set(expected), f"entities at {t}"
        for key, values in expected.items():
            row = got[key].asDict()
            assert us(row["newest_event_ts"]) == values.pop("newest_event_us"), (t, key)
            for col, want in values.items():
                assert same_value(row[col], want), f"{col} of {key} at {t}: got {row[col]}, oracle {want}"


def assert_served_values_match(group: Any, events: list[dict[str, Any]], rows: list[Any], ttl_us: int,
                               key: str = "user_id", t_col: str = "ts") -> None:
    """Training rows (entity ``key``, time ``t_col``) equal the oracle as served: defaults (0 for counts,
    NULL otherwise) when the entity has no event in any window or its newest event is older than ``ttl_us``."""
    counts = {c.name for c in group.output_columns() if c.feature.aggregation.value in ("count",
                                                                                      "approx_count_distinct")}
    for r in rows:
        t = r[t_col]
        expected = group_values(group, events, t).get((r[key],))
        alive = expected is not None and us(t) - expected["newest_event_us"] < ttl_us
        for col in group.output_column_names():
            want = expected[col] if alive and expected else (0 if col in counts else None)
            assert same_value(r[col], want), f"{col} for {r[key]} at {t}: got {r[col]}, oracle {want}"

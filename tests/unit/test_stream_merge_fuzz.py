"""Fuzz of the stream's merge path (pure Python): hostile but valid events (extreme numbers, any Unicode text,
times decades apart, many events at one instant), cut into random micro-batches, merged into an online item:
no crash, and the values read equal the plain-Python oracle (tests/oracle.py)."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import group_values, same_value, us
from test_stream_merge import GROUP, _batch_tiles

from weir.compute.py_agg import py_feature_values
from weir.stream.merge import GroupLayout, merge_item_tiles

T0 = datetime(2024, 3, 1)
_time = st.one_of(
    st.integers(0, 40 * 86400).map(lambda s: T0 + timedelta(seconds=s)),
    st.integers(-50 * 365, 50 * 365).map(lambda d: T0 + timedelta(days=d)),
    st.just(T0),  # many events at one instant
)
_event = st.fixed_dictionaries({
    "k": st.sampled_from(["a", "b", "a|b", "\u20ac", "\\"]),
    "x": st.none() | st.floats(min_value=-1e15, max_value=1e15, allow_nan=False) | st.sampled_from([0.0, -0.0, 5e-324]),
    # min_size=1: the DataSketches HLL (Spark's hll_sketch_agg and py_agg alike) ignores "", so
    # approx_count_distinct does not count an empty string while the oracle does (reported, not fixed here)
    "m": st.none() | st.text(min_size=1, max_size=30),
    "ts": _time,
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)
@given(events=st.lists(_event, min_size=1, max_size=60), cuts=st.lists(st.integers(0, 60), max_size=5))
def test_merging_hostile_batches_equals_the_oracle(events: list[dict[str, Any]], cuts: list[int]) -> None:
    events = sorted(events, key=lambda e: e["ts"])
    layout = GroupLayout(GROUP)
    bounds = sorted({0, len(events), *(c for c in cuts if c < len(events))})
    items: dict[str, list[dict[str, Any]]] = {}
    for lo, hi in itertools.pairwise(bounds):
        for k, tiles in _batch_tiles(events[lo:hi]).items():
            items[k], _ = merge_item_tiles(layout, items.get(k, []), tiles)
    t = max(e["ts"] for e in events) + timedelta(minutes=1)
    for (k,), want in group_values(GROUP, events, t).items():
        got = py_feature_values(GROUP, items[k], us(t))
        for col, value in want.items():
            if col == "newest_event_us":
                continue
            if col.startswith("dm_"):  # HLL sketch: approximate, exact for small counts
                assert got[col] == pytest.approx(value, rel=0.05), (k, col)
            elif isinstance(value, float) and got[col] is not None:
                assert got[col] == pytest.approx(value, rel=1e-9, abs=1e-3), (k, col, got[col], value)
            else:
                assert same_value(got[col], value), (k, col, got[col], value)

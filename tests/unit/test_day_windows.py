"""``day_windows``: at a midnight run time, whole-day windows read from 1d tiles cover the same events."""

from __future__ import annotations

import random

from weir.compute.windows import DAY_US, HOUR_US, MINUTE_US, day_windows, feature_windows, in_window
from weir.spec import FeatureGroup

H, D, M = HOUR_US, DAY_US, MINUTE_US


def _group(features: list[dict[str, object]]) -> FeatureGroup:
    return FeatureGroup.model_validate({
        "name": "g", "entity": {"name": "u", "keys": ["k"]},
        "source": {"delta": "t", "event_time": "ts", "columns": {"k": "string", "x": "double", "ts": "timestamp"}},
        "features": features,
    })


def test_whole_day_windows_move_to_the_day_hop_when_the_group_has_day_tiles() -> None:
    g = _group([
        {"name": "a", "aggregation": "count", "windows": ["1h", "1d", "36h", "7d", "30d"]},
        {"name": "b", "aggregation": "sum", "column": "x", "windows": ["2d"], "hop": "15m"},
        {"name": "c", "aggregation": "last", "column": "x"},
    ])
    assert [(w.column, w.hop_us) for w in day_windows(g)] == [
        ("a_count_1h", 5 * M), ("a_count_1d", D), ("a_count_36h", H), ("a_count_7d", D), ("a_count_30d", D),
        ("b_sum_2d", D), ("c_last", D)]
    # without 1d tiles in the group, nothing changes
    g2 = _group([{"name": "a", "aggregation": "count", "windows": ["1h", "7d"]}])
    assert day_windows(g2) == feature_windows(g2)


def test_a_day_window_at_midnight_covers_the_same_events_as_its_own_hop() -> None:
    rnd = random.Random(7)
    for _ in range(2000):
        t = rnd.randrange(-5, 400) * D
        days = rnd.choice([1, 2, 7, 30])
        hop = rnd.choice([5 * M, 15 * M, H, 6 * H, D])
        ts = t + rnd.randrange(-(days + 2) * D, D)
        if rnd.random() < 0.2:  # on a boundary
            ts = t - rnd.randrange(0, days + 2) * D
        assert in_window(ts, t, days * D, hop) == in_window(ts, t, days * D, D)

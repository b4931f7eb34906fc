"""Window/tile arithmetic: durations, hops, tile boundaries, window edges."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from weir.compute.windows import (
    DAY_US,
    HOUR_US,
    MINUTE_US,
    default_hop_us,
    feature_windows,
    floor_to,
    format_duration,
    group_hops,
    in_window,
    parse_duration,
    tile_end,
    tile_in_window,
    window_bounds,
    window_tile_range,
)
from weir.spec import FeatureGroup

H, D, M = HOUR_US, DAY_US, MINUTE_US


def test_durations_roundtrip() -> None:
    assert parse_duration("7d") == timedelta(days=7)
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("2w") == timedelta(days=14)
    assert format_duration(timedelta(days=7)) == "7d"
    assert format_duration(timedelta(hours=36)) == "36h"
    assert format_duration(timedelta(minutes=90)) == "90m"
    for bad in ["7", "d", "0d", "1.5h", "7 days", "-1h", "1s"]:
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_default_hops() -> None:
    assert default_hop_us(H) == 5 * M
    assert default_hop_us(12 * H) == 5 * M
    assert default_hop_us(13 * H) == H
    assert default_hop_us(12 * D) == H
    assert default_hop_us(30 * D) == D
    assert default_hop_us(None) == D


def test_tile_end_boundaries() -> None:
    assert tile_end(0, H) == 0
    assert tile_end(1, H) == H
    assert tile_end(H, H) == H  # exactly on a boundary -> tile ending there
    assert tile_end(H + 1, H) == 2 * H
    assert tile_end(-1, H) == 0  # before 1970
    assert tile_end(-H, H) == -H
    assert floor_to(-1, H) == -H


def test_window_bounds_and_edges() -> None:
    t = 10 * D  # on a boundary: exact window (t - w, t]
    assert window_bounds(t, 7 * D, H) == (3 * D, t)
    assert not in_window(3 * D, t, 7 * D, H)  # event exactly at t - w: excluded
    assert in_window(3 * D + 1, t, 7 * D, H)
    assert in_window(t, t, 7 * D, H)  # event at t: included
    assert not in_window(t + 1, t, 7 * D, H)
    t2 = 10 * D + 30 * M  # off-boundary: the tail starts at floor_h(t) - w (< 1 hop extra)
    assert window_bounds(t2, 7 * D, H) == (3 * D, t2)
    assert window_bounds(t2, None, H) == (None, t2)


def test_window_tile_range() -> None:
    t = 10 * D
    assert window_tile_range(t, 7 * D, H) == (3 * D + H, 10 * D)
    t2 = 10 * D + 30 * M
    assert window_tile_range(t2, 7 * D, H) == (3 * D + H, 10 * D + H)  # head tile (10d, 10d+1h]
    assert window_tile_range(t2, None, D) == (None, 11 * D)


@pytest.mark.parametrize("hop", [5 * M, H, D])
@pytest.mark.parametrize("window", [H, D, 7 * D, None])
def test_tiles_cover_exactly_the_window(hop: int, window: int | None) -> None:
    """Merging the selected tiles == brute force over events (given all events <= t)."""
    if window is not None and window % hop:
        pytest.skip("hop must divide window")
    rnd = random.Random(hop ^ (window or 1))
    for _ in range(200):
        t = rnd.randrange(20 * D, 40 * D)
        if rnd.random() < 0.3:
            t = floor_to(t, hop)
        events = [rnd.randrange(t - 9 * D, t + 1) for _ in range(30)] + [t, t - (window or 0), floor_to(t, hop)]
        by_tiles = sum(1 for e in events if tile_in_window(tile_end(e, hop), t, window, hop))
        lo, hi = window_tile_range(t, window, hop)
        by_range = sum(1 for e in events if (lo is None or tile_end(e, hop) >= lo) and tile_end(e, hop) <= hi)
        brute = sum(1 for e in events if in_window(e, t, window, hop))
        assert by_tiles == brute == by_range


def test_group_hops(tmp_path: object) -> None:
    g = FeatureGroup.model_validate({
        "name": "g", "entity": {"name": "u", "keys": ["k"]},
        "source": {"delta": "t", "event_time": "ts", "columns": {"k": "string", "x": "double", "ts": "timestamp"}},
        "features": [
            {"name": "a", "aggregation": "count", "windows": ["1h", "1d", "30d"]},
            {"name": "b", "aggregation": "sum", "column": "x", "windows": ["1d"], "hop": "15m"},
            {"name": "c", "aggregation": "last", "column": "x"},
        ],
    })
    assert group_hops(g) == [5 * M, 15 * M, H, D]
    ws = feature_windows(g)
    assert [(w.column, w.hop_us) for w in ws] == [
        ("a_count_1h", 5 * M), ("a_count_1d", H), ("a_count_30d", D), ("b_sum_1d", 15 * M), ("c_last", D)]

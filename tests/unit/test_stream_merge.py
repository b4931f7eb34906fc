"""Merging micro-batch tiles into an online item (pure Python) gives the oracle's values at read time."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import pytest
from oracle import group_values, us

from weir.compute.py_agg import py_feature_values, py_tile_from_rows
from weir.compute.windows import DAY_US, floor_to, group_hops, tile_end
from weir.online.codec import encode_tiles
from weir.online.parts import item_view
from weir.spec import FeatureGroup
from weir.stream.merge import GroupLayout, merge_item_tiles

GROUP = FeatureGroup.model_validate({
    "name": "g", "entity": {"name": "u", "keys": ["k"]},
    "source": {"kafka": {"topic": "t"}, "event_time": "ts",
               "columns": {"k": "string", "x": "double", "m": "string", "ts": "timestamp"}},
    "features": [
        {"name": "cnt", "aggregation": "count", "windows": ["1h", "1d", "7d"]},
        {"name": "sx", "aggregation": "sum", "column": "x", "windows": ["1d", "30d"]},
        {"name": "mx", "aggregation": "max", "column": "x", "windows": ["7d"]},
        {"name": "lm", "aggregation": "last", "column": "m"},
        {"name": "nlife", "aggregation": "count"},
        {"name": "dm", "aggregation": "approx_count_distinct", "column": "m", "windows": ["30d"]},
    ],
})
T0 = datetime(2024, 3, 1)


def _events(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{"k": rng.choice("ab"), "x": round(rng.uniform(1, 100), 2), "m": rng.choice(["m1", "m2", "m3"]),
             "ts": T0 + timedelta(seconds=rng.randint(0, 40 * 86400))} for _ in range(n)]


def _batch_tiles(events: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """What build_tiles gives for a micro-batch, per entity, in the online (epoch micros) form."""
    out: dict[str, list[dict[str, Any]]] = {}
    for hop in group_hops(GROUP):
        cells: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for e in events:
            cells.setdefault((e["k"], tile_end(us(e["ts"]), hop)), []).append(e)
        for (k, _end), rows in cells.items():
            out.setdefault(k, []).append(py_tile_from_rows(GROUP, rows, hop))
    return out


@pytest.mark.parametrize("n_batches", [1, 4])
def test_merging_batches_matches_oracle(n_batches: int) -> None:
    events = sorted(_events(120, 3), key=lambda e: e["ts"])
    layout = GroupLayout(GROUP)
    items: dict[str, list[dict[str, Any]]] = {}
    size = -(-len(events) // n_batches)
    for i in range(n_batches):
        for k, tiles in _batch_tiles(events[i * size:(i + 1) * size]).items():
            items[k], _ = merge_item_tiles(layout, items.get(k, []), tiles)
    t = max(e["ts"] for e in events) + timedelta(minutes=1)
    expected = group_values(GROUP, events, t)
    for (k,), want in expected.items():
        got = py_feature_values(GROUP, items[k], us(t))
        for col, value in want.items():
            if col == "newest_event_us":
                continue
            assert got[col] == pytest.approx(value), (k, col)


def test_old_tiles_are_dropped_and_lifetime_kept() -> None:
    layout = GroupLayout(GROUP)
    old = [{"k": "a", "x": 1.0, "m": "m1", "ts": T0}]
    new = [{"k": "a", "x": 2.0, "m": "m2", "ts": T0 + timedelta(days=60)}]
    item, _ = merge_item_tiles(layout, [], _batch_tiles(old)["a"])
    item, newest = merge_item_tiles(layout, item, _batch_tiles(new)["a"])
    assert newest == us(new[0]["ts"])
    windowed = [t for t in item if not layout.is_lifetime_tile(t)]
    assert all(t["tile_end_us"] > us(T0) + 30 * DAY_US for t in windowed)
    life = [t for t in item if layout.is_lifetime_tile(t)]  # one per lifetime hop, never dropped by age
    assert [t["nlife__n"] for t in life] == [1, 1] and life[-1]["lm__v"] == "m2"
    vals = py_feature_values(GROUP, item, us(new[0]["ts"]))
    assert vals["nlife_count"] == 2 and vals["sx_sum_30d"] == 2.0


def test_replaying_the_same_tiles_is_not_idempotent_by_itself() -> None:
    """The merge is additive: idempotence comes from the stream_batches guard (weir.stream.online)."""
    layout = GroupLayout(GROUP)
    tiles = _batch_tiles([{"k": "a", "x": 1.0, "m": "m1", "ts": T0}])["a"]
    once, _ = merge_item_tiles(layout, [], tiles)
    twice, _ = merge_item_tiles(layout, once, tiles)
    t = us(T0) + 1
    assert py_feature_values(GROUP, twice, t)["cnt_count_1h"] == 2 * py_feature_values(GROUP, once, t)["cnt_count_1h"]


@pytest.mark.parametrize("stream_first", [True, False])
def test_batch_and_stream_parts_count_each_event_once(stream_first: bool) -> None:
    """Both paths see the events up to the batch run time T: a read counts each event once, whichever part
    was written first (the stream drops, and reads ignore, stream tiles ending at or before T)."""
    events = sorted(_events(200, 5), key=lambda e: e["ts"])
    layout = GroupLayout(GROUP)
    cut = floor_to(us(events[150]["ts"]), DAY_US)
    batch_events = [e for e in events if us(e["ts"]) <= cut]
    parts: dict[str, dict[str, Any]] = {}
    for k, tiles in _batch_tiles(batch_events).items():  # the batch part: every event up to T
        merged, newest = merge_item_tiles(layout, [], tiles)
        parts[k] = {"tiles": encode_tiles(merged), "run_us": cut, "newest_event_us": newest, "source_version": 3}
    stream: dict[str, list[dict[str, Any]]] = {}
    for chunk in (events[:100], events[100:170], events[170:]):  # the stream saw every event
        for k, tiles in _batch_tiles(chunk).items():
            cutoff = None if stream_first else cut
            stream[k], _ = merge_item_tiles(layout, stream.get(k, []), tiles, cutoff)
    t = max(e["ts"] for e in events) + timedelta(minutes=1)
    expected = group_values(GROUP, events, t)
    for (k,), want in expected.items():
        view = item_view({**parts[k], "stream_tiles": encode_tiles(stream[k]), "stream_run_us": us(t),
                          "expires_at": 2**40})
        assert view is not None and view.newest_event_us == want["newest_event_us"]
        got = py_feature_values(GROUP, view.tiles, us(t))
        for col, value in want.items():
            if col != "newest_event_us":
                assert got[col] == pytest.approx(value), (k, col)
        if not stream_first:
            assert all(tile["tile_end_us"] > cut for tile in stream[k])

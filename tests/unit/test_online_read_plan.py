"""The read path's plan gives exactly the reference values (``py_feature_values``, ``parts.item_view``) on random
items of every aggregation, at read times around tile and window edges; its fast decode equals ``decode_tiles``."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from weir.compute.ir import output_type
from weir.compute.layout import feature_default
from weir.compute.online_tile import decode_value
from weir.compute.py_agg import _hll_sketch, py_feature_values, py_tile_from_rows
from weir.compute.windows import DAY_US, datetime_to_us, group_hops, tile_end
from weir.online.codec import decode_tiles, decode_tiles_for_read, encode_tiles
from weir.online.parts import item_view
from weir.online.read_plan import ReadPlan, read_view
from weir.spec import parse_spec_text

SPEC = """
name: every_agg
entity: {name: user, keys: [user_id]}
source:
  kafka: {topic: t}
  event_time: ts
  columns: {user_id: string, merchant: string, amount: double, qty: int, seen: timestamp, ts: timestamp}
features:
  - {name: n, aggregation: count, windows: [1h, 1d, 7d]}
  - {name: n_amount, aggregation: count, column: amount, windows: [1d], default: -1}
  - {name: total, aggregation: sum, column: amount, windows: [1d, 30d]}
  - {name: qty_sum, aggregation: sum, column: qty, windows: [7d]}
  - {name: mean, aggregation: avg, column: amount, windows: [30d]}
  - {name: low, aggregation: min, column: amount, windows: [7d]}
  - {name: high, aggregation: max, column: seen, windows: [1d]}
  - {name: first_m, aggregation: first, column: merchant, windows: [7d]}
  - {name: last_m, aggregation: last, column: merchant}
  - {name: spread, aggregation: stddev, column: amount, windows: [30d]}
  - {name: merchants, aggregation: approx_count_distinct, column: merchant, windows: [30d]}
  - {name: life_total, aggregation: sum, column: amount}
online: {ttl: 30d}
"""
GROUP = parse_spec_text(SPEC)
T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _event(rnd: random.Random, when: datetime) -> dict[str, Any]:
    return {"user_id": "u", "merchant": f"m{rnd.randrange(6)}",
            "amount": None if rnd.random() < 0.1 else round(rnd.uniform(-5, 99), 3),
            "qty": rnd.randrange(5), "seen": when - timedelta(seconds=rnd.randrange(100)), "ts": when}


def _tiles(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for hop in group_hops(GROUP):
        cells: dict[int, list[dict[str, Any]]] = {}
        for r in rows:
            cells.setdefault(tile_end(datetime_to_us(r["ts"]), hop), []).append(r)
        out += [{k: v for k, v in py_tile_from_rows(GROUP, rs, hop).items() if v is not None}
                for rs in cells.values()]
    return sorted(out, key=lambda t: (t["hop_us"], t["tile_end_us"]))


def _item(seed: int) -> tuple[dict[str, Any], int]:
    """A random item: a batch part up to a day boundary, a stream part after it (some tiles before the cut)."""
    rnd = random.Random(seed)
    run = T0 + timedelta(days=rnd.randrange(1, 40))
    before = [_event(rnd, run - timedelta(seconds=rnd.randrange(1, 35 * 86400))) for _ in range(rnd.randrange(0, 40))]
    after = [_event(rnd, run + timedelta(seconds=rnd.randrange(-3600, 20 * 3600))) for _ in range(rnd.randrange(0, 15))]
    item: dict[str, Any] = {"pk": "u", "expires_at": 2_000_000_000}
    if before:
        item.update(tiles=encode_tiles(_tiles(before)), run_us=datetime_to_us(run), source_version=3,
                    newest_event_us=max(datetime_to_us(r["ts"]) for r in before))
    if after:
        tiles = _tiles(after)
        if rnd.random() < 0.3:
            rnd.shuffle(tiles)  # out of order: the plan must not rely on the writers' sort
        item.update(stream_tiles=encode_tiles(tiles), stream_run_us=datetime_to_us(run) + 20 * 3600 * 10**6,
                    stream_source_version=9)
    newest = max((datetime_to_us(r["ts"]) for r in before + after), default=datetime_to_us(run))
    return item, newest


def _reference(item: dict[str, Any], t_us: int) -> tuple[Any, dict[str, Any]] | None:
    view = item_view(item)
    if view is None:
        return None
    computed = py_feature_values(GROUP, view.tiles, t_us)
    values = {}
    for c in GROUP.output_columns():
        v = decode_value(output_type(GROUP, c.feature), computed.get(c.name))
        values[c.name] = feature_default(c.feature) if v is None else v
    return view, values


@pytest.mark.parametrize("seed", range(60))
def test_plan_values_equal_the_reference(seed: int) -> None:
    plan = ReadPlan(GROUP)
    item, newest = _item(seed)
    rnd = random.Random(seed + 1000)
    hop = 300_000_000
    for t_us in (newest, newest + 1, tile_end(newest, hop), tile_end(newest, hop) + 1, tile_end(newest, DAY_US),
                 newest + rnd.randrange(40 * DAY_US), tile_end(newest, hop) - hop, tile_end(newest, DAY_US) - DAY_US):
        # the last two are before the newest event (best effort reads): tiles starting at t must be left out
        ref = _reference(item, t_us)
        view = read_view(plan, item)
        if ref is None:
            assert view is None
            continue
        want_view, want = ref
        assert view is not None
        assert (view.newest_event_us, view.as_of_us, view.source_version, view.expires_at) == (
            want_view.newest_event_us, want_view.as_of_us, want_view.source_version, want_view.expires_at)
        got = plan.values(view.tiles, t_us, GROUP.output_column_names())
        assert got == want  # exact: same arithmetic in the same order
        assert [type(v) for v in got.values()] == [type(v) for v in want.values()]
        some = GROUP.output_column_names()[::3]
        assert plan.values(view.tiles, t_us, some) == {c: want[c] for c in some}


def test_defaults_are_the_features_defaults() -> None:
    plan = ReadPlan(GROUP)
    assert plan.defaults(["n_amount_count_1d", "total_sum_1d", "merchants_approx_count_distinct_30d"]) == {
        "n_amount_count_1d": -1, "total_sum_1d": None, "merchants_approx_count_distinct_30d": 0}


def test_fast_decode_equals_decode_tiles() -> None:
    sketch = _hll_sketch(["a", "b"])
    plain = [{"hop_us": 1, "tile_end_us": 2, "m__sk": sketch, "x__v": "text {\"$b\": not a tag"}]
    assert decode_tiles_for_read(encode_tiles(plain), ["m__sk"]) == plain
    # a bytes value outside the declared keys, and datetime tags: the exact decoder takes over
    odd = [{"hop_us": 1, "other__v": b"\x00\x01", "m__sk": sketch}, {"when__v": datetime(2024, 1, 1, tzinfo=UTC)}]
    assert decode_tiles_for_read(encode_tiles(odd), ["m__sk"]) == decode_tiles(encode_tiles(odd)) == odd
    assert decode_tiles_for_read(encode_tiles([]), []) == []
    with pytest.raises(ValueError, match="corrupt"):
        decode_tiles_for_read(b"not zlib", [])

"""The freshness benchmark's floor consumer (bench/floor_consumer.py): parsing, per-poll coalescing and the
merge of several polls give the oracle's values (plain Python over the same events)."""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from oracle import group_values, us

from weir.compute.py_agg import py_feature_values
from weir.compute.windows import group_hops, tile_end
from weir.spec import load_spec
from weir.stream.merge import GroupLayout, merge_item_tiles

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from floor_consumer import coalesce, parse_event, where_passes  # noqa: E402

GROUP = load_spec(ROOT / "feature_specs" / "user_spend.yaml")
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _events(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{"txn_id": f"t{i}", "user_id": rng.choice(["u1", "u2", "u3"]), "merchant_id": f"m{rng.randrange(6)}",
             "merchant_category": "grocery", "amount": round(rng.uniform(1, 400), 2),
             "status": "declined" if rng.random() < 0.3 else "approved",
             "event_ts": T0 + timedelta(seconds=rng.randint(0, 3 * 86400))} for i in range(n)]


def _wire(e: dict[str, Any]) -> bytes:
    return json.dumps({**e, "event_ts": e["event_ts"].strftime("%Y-%m-%dT%H:%M:%S.%fZ")}).encode()


def _parsed(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = [parse_event(_wire(e), GROUP) for e in events]
    assert all(r is not None for r in rows)
    return [r for r in rows if r is not None]


def test_parse_event_reads_the_wire_form_and_rejects_bad_records() -> None:
    e = _events(1, 1)[0]
    row = parse_event(_wire(e), GROUP)
    assert row is not None and row["event_ts"] == us(e["event_ts"]) and row["amount"] == e["amount"]
    assert parse_event(b"{not json", GROUP) is None
    assert parse_event(json.dumps({"user_id": "u1"}).encode(), GROUP) is None  # no event time
    assert parse_event(json.dumps({"event_ts": "2026-11-01T00:00:00Z"}).encode(), GROUP) is None  # no key


def test_where_passes_evaluates_the_specs_simple_filters() -> None:
    assert where_passes("status = 'declined'", {"status": "declined"})
    assert not where_passes("status = 'declined'", {"status": "approved"})
    assert not where_passes("status = 'declined'", {})
    assert where_passes("amount > 10", {"amount": 10.5}) and not where_passes("amount > 10", {"amount": 3})
    with pytest.raises(ValueError, match="cannot evaluate"):
        where_passes("a in (1, 2)", {"a": 1})


def test_one_tile_per_entity_hop_and_tile_end_with_the_polls_counts() -> None:
    events = _events(200, 2)
    tiles = coalesce(GROUP, _parsed(events))
    assert set(tiles) == {e["user_id"] for e in events}
    for user, user_tiles in tiles.items():
        mine = [e for e in events if e["user_id"] == user]
        cells = [(t["hop_us"], t["tile_end_us"]) for t in user_tiles]
        assert len(cells) == len(set(cells))  # coalesced: each cell once
        for hop in group_hops(GROUP):
            expected: dict[int, int] = {}
            for e in mine:
                end = tile_end(us(e["event_ts"]), hop)
                expected[end] = expected.get(end, 0) + 1
            got = {t["tile_end_us"]: t["txn_count__n"] for t in user_tiles if t["hop_us"] == hop}
            assert got == expected, (user, hop)


@pytest.mark.parametrize("polls", [1, 4])
def test_polls_merged_into_items_serve_the_oracles_values(polls: int) -> None:
    events = sorted(_events(150, 3), key=lambda e: e["event_ts"])
    layout = GroupLayout(GROUP)
    items: dict[str, list[dict[str, Any]]] = {}
    size = -(-len(events) // polls)
    for i in range(polls):
        for pk, tiles in coalesce(GROUP, _parsed(events[i * size:(i + 1) * size])).items():
            items[pk], _ = merge_item_tiles(layout, items.get(pk, []), tiles)
    t = max(e["event_ts"] for e in events) + timedelta(minutes=1)
    expected = group_values(GROUP, events, t)
    assert {k for (k,) in expected} == set(items)
    for (user,), want in expected.items():
        got = py_feature_values(GROUP, items[user], us(t))
        for col, value in want.items():
            if col != "newest_event_us":
                assert got[col] == pytest.approx(value), (user, col)

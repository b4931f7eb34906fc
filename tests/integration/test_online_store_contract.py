"""DynamoOnlineStore keeps the store contract (tests/online_contract.py) on the real local server (moto), the
same scenarios the in-memory store is held to, and the stream/publish race of issue 16 (finding 14) through the
real stream writer: a publish landing between the stream's read and its write never loses its expiry."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from online_contract import SCENARIOS, Between
from oracle import group_values, us

from weir.compute.layout import expires_at_s
from weir.compute.py_agg import py_tile_from_rows
from weir.compute.windows import group_hops, tile_end
from weir.online.client import OnlineClient
from weir.online.codec import encode_tiles
from weir.online.interface import OnlineItem, OnlineStore
from weir.online.schema import EXPIRES_AT
from weir.online.store import DynamoOnlineStore
from weir.runtime import RuntimeConfig, build_config
from weir.spec import parse_spec_text
from weir.stream.merge import GroupLayout, merge_item_tiles
from weir.stream.online import StreamOnlineWriter

pytestmark = pytest.mark.integration

SPEC = """
name: race
entity: {name: user, keys: [user_id]}
source:
  kafka: {topic: race}
  event_time: ts
  columns: {user_id: string, amount: double, ts: timestamp}
features:
  - {name: n, aggregation: count, windows: [1h, 1d]}
  - {name: total, aggregation: sum, column: amount, windows: [2d]}  # windowed: its items expire (retention 2d + 1h)
online: {ttl: 2d}
"""
GROUP = parse_spec_text(SPEC)
T0 = datetime(2026, 5, 1, 8)


@pytest.fixture()
def config(stack: RuntimeConfig) -> RuntimeConfig:
    return build_config(dynamodb_table_prefix=f"c{uuid.uuid4().hex[:8]}_")


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
def test_contract(config: RuntimeConfig, scenario: Callable[[OnlineStore], None]) -> None:
    store = DynamoOnlineStore(config)
    try:
        scenario(store)
    finally:
        store.drop_table("g")


def _tiles(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entity's tiles of ``events`` in the online form (what build_tiles gives a micro-batch)."""
    out = []
    for hop in group_hops(GROUP):
        cells: dict[int, list[dict[str, Any]]] = {}
        for e in events:
            cells.setdefault(tile_end(us(e["ts"]), hop), []).append(e)
        out += [py_tile_from_rows(GROUP, rows, hop) for rows in cells.values()]
    return out


def test_a_publish_between_the_stream_writers_read_and_write_never_lowers_expiry(config: RuntimeConfig) -> None:
    """The stream writer reads u1 (stream part up to T0 + 1h), then the day's publish lands with events up to
    T0 + 20h (a later expiry), then the writer writes. Its write must not take the expiry back to what its read
    implied; the item serves every event once."""
    store = DynamoOnlineStore(config)
    try:
        first = [{"user_id": "u1", "amount": 1.0, "ts": T0},
                 {"user_id": "u1", "amount": 2.0, "ts": T0 + timedelta(hours=1)}]
        second = [{"user_id": "u1", "amount": 4.0, "ts": T0 + timedelta(hours=2)}]
        published = [{"user_id": "u1", "amount": 8.0, "ts": T0 + timedelta(hours=20)}]
        layout = GroupLayout(GROUP)
        StreamOnlineWriter(store, layout, "q").apply({"u1": _tiles(first)}, 0, us(first[-1]["ts"]), 1)
        before = store.get_items(GROUP.name, ["u1"], (EXPIRES_AT,))["u1"][EXPIRES_AT]
        assert before == expires_at_s(GROUP, us(first[-1]["ts"]))

        # the batch part: every event up to the run time (the stream's events and one it has not seen)
        run = T0.replace(hour=0) + timedelta(days=1)
        batch_tiles, newest = merge_item_tiles(layout, [], _tiles(first + second + published))
        assert newest == us(published[-1]["ts"])
        publish = OnlineItem("u1", newest, us(run), 3, expires_at_s(GROUP, newest), encode_tiles(batch_tiles))
        racing = Between(store, lambda: store.write_items(GROUP.name, [publish]))
        applied = StreamOnlineWriter(racing, layout, "q").apply(  # type: ignore[arg-type]
            {"u1": _tiles(second)}, 1, us(second[-1]["ts"]), 2)
        after = store.get_items(GROUP.name, ["u1"], (EXPIRES_AT,), consistent=True)["u1"][EXPIRES_AT]
        assert racing.fired == 1
        assert after == publish.expires_at > before  # not lowered to the stream's own (T0 + 2h + ttl)
        assert (applied.written, applied.conflicts) == (1, 1)  # its first write lost the race: read, merged again
        at = published[-1]["ts"] + timedelta(minutes=1)
        (got,) = OnlineClient(config, groups=[GROUP], store=store).get_features([GROUP.name], ["u1"], at=at)
        want = group_values(GROUP, first + second + published, at)[("u1",)]
        assert got.groups[GROUP.name].found
        for col, value in want.items():
            if col != "newest_event_us":
                assert got.values[col] == pytest.approx(value), col
    finally:
        store.drop_table(GROUP.name)

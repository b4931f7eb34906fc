"""The in-memory online store keeps the store contract (tests/online_contract.py; the same scenarios run against
the real DynamoDB-compatible server in tests/integration/test_online_store_contract.py), plus its TTL sweep."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from online_contract import SCENARIOS, batch_item, log_merge

from weir.online.interface import OnlineStore
from weir.online.memory import InMemoryOnlineStore
from weir.runtime import RuntimeConfig


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda f: f.__name__)
def test_contract(scenario: Callable[[OnlineStore], None]) -> None:
    scenario(InMemoryOnlineStore())


def test_is_an_online_store_and_names_tables_like_the_real_one() -> None:
    store = InMemoryOnlineStore(RuntimeConfig(dynamodb_table_prefix="x_"))
    assert isinstance(store, OnlineStore)
    assert store.ensure_table("g") == "x_g" == store.table_name("g")


def test_expired_items_are_read_until_the_ttl_sweep_deletes_them() -> None:
    store = InMemoryOnlineStore()
    store.write_items("g", [batch_item("old", 100, 10, ttl_s=50), batch_item("new", 100, 10, ttl_s=500)])
    store.apply_stream_tiles("g", "q", 0, ["s"], log_merge("q", 0, 100, ttl_s=50))
    assert set(store.get_items("g", ["old", "new", "s"])) == {"old", "new", "s"}  # deletion is lazy, as in DynamoDB
    assert store.expire(now_s=150) == 0  # expires_at == now: not yet past
    assert store.expire(now_s=151) == 2
    assert set(store.get_items("g", ["old", "new", "s"])) == {"new"}


def test_drop_table() -> None:
    store = InMemoryOnlineStore()
    store.write_items("g", [batch_item("a", 1, 1)])
    store.drop_table("g")
    assert store.sample_run_times("g") == []

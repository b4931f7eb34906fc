"""What the executor-side publish ships to the executors and sums on the driver (no Spark, no server needed).

The writes themselves are covered against a real server in tests/integration/test_publish_executors.py.
"""

from __future__ import annotations

import pickle

from pyspark.sql import Row

from weir.compute.online_tile import END, HOP, NEWEST
from weir.online.codec import decode_tiles
from weir.online.interface import OnlineItem
from weir.online.publish import NEWEST_US, TILES, EntityItem
from weir.online.spark_writes import EXPIRED, INVALID, PartitionCounts, WriterSettings, worker_store
from weir.online.store import DynamoOnlineStore
from weir.runtime import build_config
from weir.spec import parse_spec_text

SPEC = """
name: spend
entity: {name: user, keys: [user_id]}
source: {delta: t, event_time: event_ts, columns: {user_id: string, amount: double, event_ts: timestamp}}
features:
  - {name: txn_count, aggregation: count, windows: [1d]}
online: {ttl: 1d}
"""
DAY_US = 86_400_000_000
T_US = 20_000 * DAY_US


def row(user: str, newest_us: int) -> Row:
    tiles = [Row(**{HOP: 3_600_000_000, END: T_US, NEWEST: newest_us, "txn_count__count": 2}),
             Row(**{HOP: 3_600_000_000, END: T_US - 3_600_000_000, NEWEST: None, "txn_count__count": 1})]
    return Row(**{"user_id": user, TILES: tiles, NEWEST_US: newest_us})


def test_entity_item_travels_and_decides_written_expired_invalid() -> None:
    to_item = pickle.loads(pickle.dumps(EntityItem(parse_spec_text(SPEC), T_US, 7)))
    item = to_item(row("u1", T_US - 5))
    assert isinstance(item, OnlineItem)
    assert (item.pk, item.newest_event_us, item.run_us, item.source_version) == ("u1", T_US - 5, T_US, 7)
    assert [t[END] for t in decode_tiles(item.tiles)] == [T_US - 3_600_000_000, T_US]  # sorted by (hop, end)
    # kept until the 1d window can no longer reach its last tile (1d + the 1h hop), though served as missing
    # from the 1d TTL on
    assert isinstance(to_item(row("u2", T_US - DAY_US)), OnlineItem)
    assert to_item(row("u2", T_US - DAY_US - 3_600_000_000)) == EXPIRED  # age == retention: not written
    assert to_item(row("", T_US - 5)) == INVALID  # DynamoDB cannot store an empty key


def test_one_store_per_worker_process_and_settings() -> None:
    config = build_config(dynamodb_endpoint="http://127.0.0.1:1", dynamodb_table_prefix="unit_")
    driver = DynamoOnlineStore(config, max_workers=12, max_attempts=5)
    settings = pickle.loads(pickle.dumps(WriterSettings.like(driver, threads_per_task=8)))
    assert (settings.threads_per_task, settings.max_attempts) == (8, 5)
    store = worker_store(settings)
    assert worker_store(WriterSettings.like(driver, threads_per_task=8)) is store
    assert store.max_workers == 8 and store.max_attempts == 5
    assert worker_store(WriterSettings.like(driver, threads_per_task=2)) is not store


def test_counts_sum_over_partitions() -> None:
    total = PartitionCounts()
    for part in (PartitionCounts(10, 7, 1, 1, 0, 2, ["b"]), PartitionCounts(5, 4, 0, 0, 1, 0, ["a"])):
        total = total + part
    assert total == PartitionCounts(15, 11, 1, 1, 1, 2, ["b", "a"])

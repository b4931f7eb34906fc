"""Hostile producers against the streaming job on real Kafka, Spark/Delta and the local DynamoDB server.

A far-future event, duplicates (in one micro-batch, across micro-batches and across a restart), ``1e400`` and
``NaN`` amounts, a 3,000-character key and invalid UTF-8 go to the dead-letter table with their reasons; the
high-water mark never moves with the future event (later events stay on time); online values equal the
plain-Python oracle over the unique valid events; every drop is counted in the metrics by reason; delta-rs
reads the dead-letter table. Expected counts come from ``tests/parse_oracle.py`` and a plain-Python dedup.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from builders import make_events, wire
from oracle import group_values, us
from parse_oracle import expected_codes
from test_stream_job import assert_values, read_online

from weir.runtime import RuntimeConfig, build_config
from weir.spec import parse_spec_text

pytestmark = pytest.mark.integration

SPEC = """
name: hostile_stream
entity: {{name: user, keys: [user_id]}}
source:
  kafka: {{topic: {topic}}}
  event_time: event_ts
  event_id: txn_id
  max_future: 1h
  allowed_lateness: 1h
  columns: {{txn_id: string, user_id: string, merchant_id: string, amount: double, status: string,
             event_ts: timestamp}}
features:
  - {{name: txn_count, aggregation: count, windows: [1h, 1d, 7d]}}
  - {{name: txn_amount, aggregation: sum, column: amount, windows: [1d, 30d]}}
  - {{name: last_merchant, aggregation: last, column: merchant_id}}
  - {{name: lifetime_amount, aggregation: sum, column: amount}}
online: {{ttl: 30d}}
"""


def _raw(e: dict[str, Any], **over: Any) -> bytes:
    return json.dumps({**wire(e), **over}).encode("utf-8")


def _oracle(group: Any, batches: list[list[bytes]]) -> tuple[list[dict[str, Any]], Counter[str]]:
    """(unique valid events, dead letters by reason code) in plain Python; copies = same id and event day."""
    now = datetime.now(UTC)
    seen: set[tuple[str, Any]] = set()
    valid: list[dict[str, Any]] = []
    drops: Counter[str] = Counter()
    for batch in batches:
        for value in batch:
            codes = expected_codes(group, value, now)
            if not codes:
                e = json.loads(value)
                ts = datetime.fromisoformat(e["event_ts"].replace("Z", "")).replace(tzinfo=None)
                key = (e["txn_id"], (ts - timedelta(microseconds=1)).date())
                if key in seen:
                    codes = {"duplicate_event_id"}
                else:
                    seen.add(key)
                    valid.append({**e, "event_ts": ts})
            drops.update(codes)
    return valid, drops


def test_the_shipped_producer_is_idempotent(stack: RuntimeConfig) -> None:
    """The broker gives the producer an id and checks its sequence numbers: a retried batch is written once."""
    from weir.stream.producer import make_producer

    producer = make_producer(stack)
    try:
        assert producer.config["enable_idempotence"] and producer.config["acks"] == -1  # "all"
        producer.send(f"weir-test-idem-{uuid.uuid4().hex[:8]}", b"{}").get(timeout=60)
        manager = producer._transaction_manager
        assert manager is not None and manager.producer_id_and_epoch.producer_id >= 0
    finally:
        producer.close(timeout=10)


def test_hostile_records_are_dead_lettered_counted_and_never_move_the_mark(
        stack: RuntimeConfig, spark: Any, lake_dir: Path) -> None:
    from deltalake import DeltaTable
    from pyspark.sql import functions as F

    from weir.lake.paths import deadletter_path, events_path
    from weir.lake.paths import stream_metrics_path as metrics_path
    from weir.online.store import DynamoOnlineStore
    from weir.stream import StreamOptions, produce_records, run_stream

    run = uuid.uuid4().hex[:8]
    config = build_config(lake_path=str(lake_dir / f"hostile-{run}"), checkpoint_path=str(lake_dir / f"hck-{run}"),
                          dynamodb_table_prefix=f"ho{run}_")
    group = parse_spec_text(SPEC.format(topic=f"weir-test-hostile-{run}"))
    events = make_events(16, seed=4)
    first, second, third = events[:10], events[10:14], events[14:]
    future = {**events[0], "txn_id": "future-1", "user_id": "u-future",
              "event_ts": datetime.now(UTC).replace(tzinfo=None) + timedelta(days=365 * 30)}
    batch0 = [_raw(e) for e in first] + [
        _raw(first[1]), _raw(first[2]),  # duplicates in the same micro-batch
        _raw(future),  # a producer's clock bug
        _raw(first[3], txn_id="inf-1").replace(b'"amount": ' + str(first[3]["amount"]).encode(), b'"amount": 1e400'),
        json.dumps({**wire(first[4]), "txn_id": "nan-1", "amount": float("nan")}).encode(),  # NaN literal
        _raw(first[5], txn_id="long-1", user_id="u" * 3000),
        _raw(first[6], txn_id="utf-1").replace(b'"status": "', b'"status": "\xff\xfe'),  # invalid UTF-8
    ]
    # the next batch: copies of earlier batches' events, then new events (after the future one on the topic)
    batch1 = [_raw(first[0]), _raw(first[7]), *(_raw(e) for e in second)]
    batch2 = [_raw(first[8]), _raw(second[0]), *(_raw(e) for e in third)]  # after a restart
    assert b'"amount": 1e400' in batch0[13]
    store = DynamoOnlineStore(config)
    try:
        produce_records(config, group, batch0, partition=0)
        produce_records(config, group, batch1, partition=0)
        run_stream(spark, group, config, StreamOptions(available_now=True, max_offsets_per_trigger=len(batch0)),
                   store)
        produce_records(config, group, batch2, partition=0)
        run_stream(spark, group, config, StreamOptions(available_now=True), store)  # a restart of the query

        valid, want_drops = _oracle(group, [batch0, batch1, batch2])
        assert len(valid) == len(events)  # the oracle keeps each of the 16 events once
        assert want_drops == Counter({"duplicate_event_id": 6, "future_event_time": 1, "non_finite": 1,
                                      "not_json": 1, "key_too_long": 1, "not_utf8": 1})

        # the event log holds each event once; nothing valid was lost
        logged = spark.read.format("delta").load(events_path(config, group.name))
        assert sorted(r[0] for r in logged.select("txn_id").collect()) == sorted(e["txn_id"] for e in events)
        assert logged.where(F.col("late")).count() == 0  # the future event never moved the high-water mark

        dead = spark.read.format("delta").load(deadletter_path(config, group.name)).collect()
        got_drops: Counter[str] = Counter(c for r in dead for c in r["reason_codes"])
        assert got_drops == want_drops
        assert all(r["reason"] for r in dead)
        assert any("duplicate event id txn_id" in r["reason"] and "already in the event log" in r["reason"]
                   for r in dead)
        # delta-rs reads the dead letters (value_str is valid UTF-8 beside the raw bytes)
        table = DeltaTable(deadletter_path(config, group.name)).to_pyarrow_table()
        assert table.num_rows == len(dead)
        raw = [bytes(v) for v in table.column("value").to_pylist()]
        assert any(b"\xff\xfe" in v for v in raw)
        assert any("\ufffd" in s for s in table.column("value_str").to_pylist())

        metrics = (spark.read.format("delta").load(metrics_path(config)).where(F.col("group") == group.name)
                   .orderBy("batch_id").collect())
        assert len(metrics) == 3
        counted: Counter[str] = Counter()
        for m in metrics:
            counted.update(m["drops"] or {})
            assert m["dead_lettered"] == sum(1 for r in dead if r["batch_id"] == m["batch_id"])
            assert m["late"] == 0
        assert counted == want_drops
        newest_valid = max(e["event_ts"] for e in valid)
        assert metrics[-1]["high_water_mark"] == newest_valid  # the far-future event is not in the mark

        # online: the oracle over the unique valid events; nothing for the future event's entity
        t = newest_valid
        users = sorted({e["user_id"] for e in valid})
        got = read_online(config, group, [*users, "u-future"], t)
        assert not got["u-future"].found
        for (user,), want in group_values(group, valid, t).items():
            assert got[user].found and us(got[user].event_ts) == want["newest_event_us"]
            assert_values(got[user].values, want, user)
    finally:
        store.drop_table(group.name)

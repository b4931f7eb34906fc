"""The streaming job on real Kafka, Spark/Delta and the local DynamoDB server (no mocks).

(a) valid, malformed and late records drained with available-now: online values equal the plain-Python oracle
    over the on-time valid events; dead letters and late events land in their Delta tables with reasons;
(b) parity: the stream's event log through the batch engine + publisher serves the same values as the stream.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from builders import make_events, wire
from oracle import group_values, us

from weir.online.client import OnlineClient
from weir.runtime import RuntimeConfig, build_config
from weir.spec import parse_spec_text
from weir.spec.models import FeatureGroup

pytestmark = pytest.mark.integration

SPEC = """
name: {name}
entity: {{name: user, keys: [user_id]}}
source:
  delta: {table}
  kafka: {{topic: {topic}}}
  event_time: event_ts
  columns: {{txn_id: string, user_id: string, merchant_id: string, amount: double, status: string,
             event_ts: timestamp}}
  allowed_lateness: 1h
features:
  - {{name: txn_count, aggregation: count, windows: [1h, 1d, 7d]}}
  - {{name: txn_amount, aggregation: sum, column: amount, windows: [1d, 30d]}}
  - {{name: declined_count, aggregation: count, where: "status = 'declined'", windows: [1d]}}
  - {{name: avg_amount, aggregation: avg, column: amount, windows: [7d]}}
  - {{name: max_amount, aggregation: max, column: amount, windows: [7d]}}
  - {{name: first_merchant, aggregation: first, column: merchant_id, windows: [2d]}}
  - {{name: last_merchant, aggregation: last, column: merchant_id}}
  - {{name: lifetime_amount, aggregation: sum, column: amount}}
  - {{name: distinct_merchants, aggregation: approx_count_distinct, column: merchant_id, windows: [30d]}}
online: {{ttl: 30d, freshness_slo: 1h}}
"""
BASE = datetime(2026, 2, 10, 9, 0)


def make_group(name: str, topic: str, table: str = "unused_source") -> FeatureGroup:
    return parse_spec_text(SPEC.format(name=name, topic=topic, table=table))


def assert_values(got: dict[str, Any], want: dict[str, Any], where: str) -> None:
    for col, value in want.items():
        if col == "newest_event_us":
            continue
        g = got[col]
        if isinstance(value, float) or isinstance(g, float):
            assert g is not None and value is not None and math.isclose(g, value, rel_tol=1e-9, abs_tol=1e-9), (
                where, col, g, value)
        else:
            assert g == value, (where, col, g, value)


def read_online(config: RuntimeConfig, group: FeatureGroup, users: list[str], at: datetime) -> dict[str, Any]:
    client = OnlineClient(config, groups=[group])
    res = client.get_features([group.name], [{"user_id": u} for u in users], at=at)
    return {u: r.groups[group.name] for u, r in zip(users, res, strict=True)}


def assert_online_matches_oracle(config: RuntimeConfig, group: FeatureGroup, events: list[dict[str, Any]],
                                 ) -> None:
    """Every entity's online values at the newest event time equal the oracle's over ``events``."""
    t = max(e["event_ts"] for e in events)
    got = read_online(config, group, sorted({e["user_id"] for e in events}), t)
    for (user,), want in group_values(group, events, t).items():
        assert got[user].found and us(got[user].event_ts) == want["newest_event_us"]
        assert_values(got[user].values, want, user)


@dataclass
class Drained:
    config: RuntimeConfig
    group: FeatureGroup
    on_time: list[dict[str, Any]]
    late: list[dict[str, Any]]
    n_malformed: int


@pytest.fixture(scope="module")
def drained(stack: RuntimeConfig, spark: Any, lake_dir: Path) -> Iterator[Drained]:
    """One available-now run over 12 valid + 5 malformed records, then a late one, in two micro-batches."""
    from weir.online.store import DynamoOnlineStore
    from weir.stream import StreamOptions, produce_records, run_stream

    run = uuid.uuid4().hex[:8]
    config = build_config(lake_path=str(lake_dir / f"stream-{run}"), checkpoint_path=str(lake_dir / f"ck-{run}"),
                          dynamodb_table_prefix=f"st{run}_")
    group = make_group("spend_stream", f"weir-test-stream-{run}")
    on_time = make_events(12, seed=1)
    newest = on_time[-1]["event_ts"]
    late = [{"txn_id": "late-1", "user_id": "u1", "merchant_id": "m9", "amount": 999.0, "status": "approved",
             "event_ts": newest - timedelta(hours=3)}]
    malformed: list[Any] = [
        b"this is not json {",
        json.dumps({**wire(on_time[0]), "user_id": None}),  # null key
        json.dumps({k: v for k, v in wire(on_time[1]).items() if k != "user_id"}),  # missing key
        json.dumps({**wire(on_time[2]), "amount": "12.5"}),  # wrong type (string for double)
        json.dumps({**wire(on_time[3]), "event_ts": None}),  # null event time
        json.dumps({**wire(on_time[4]), "event_ts": "yesterday"}),  # unparseable event time
        b"[1, 2, 3]",  # not an object
    ]
    records: list[Any] = [wire(e) for e in on_time[:6]] + malformed + [wire(e) for e in on_time[6:]]
    # one partition, so maxOffsetsPerTrigger cuts the topic into exactly two batches: all of the above, then late
    produce_records(config, group, records, partition=0)
    produce_records(config, group, [wire(e) for e in late], partition=0)
    store = DynamoOnlineStore(config)
    run_stream(spark, group, config, StreamOptions(available_now=True, max_offsets_per_trigger=len(records)),
               store)
    yield Drained(config, group, on_time, late, len(malformed))
    store.drop_table(group.name)


def test_online_values_match_oracle(drained: Drained) -> None:
    t = drained.on_time[-1]["event_ts"]
    users = [*sorted({e["user_id"] for e in drained.on_time}), "nobody"]
    got = read_online(drained.config, drained.group, users, t)
    expected = group_values(drained.group, drained.on_time, t)
    for (user,), want in expected.items():
        assert got[user].found
        assert got[user].event_ts is not None and us(got[user].event_ts) == want["newest_event_us"]
        assert_values(got[user].values, want, user)
    assert not got["nobody"].found
    # windows slide with read time: two days later the 1h/1d windows are empty
    later = t + timedelta(days=2)
    got2 = read_online(drained.config, drained.group, users[:-1], later)
    for (user,), want in group_values(drained.group, drained.on_time, later).items():
        assert_values(got2[user].values, want, f"{user}@later")


def test_dead_letters_late_events_and_metrics(drained: Drained, spark: Any) -> None:
    from pyspark.sql import functions as F

    from weir.lake.paths import deadletter_path, events_path, late_path, stream_metrics_path

    cfg, name = drained.config, drained.group.name
    dead = spark.read.format("delta").load(deadletter_path(cfg, name)).collect()
    assert len(dead) == drained.n_malformed
    reasons = sorted(r["reason"] for r in dead)
    for needle in ["not JSON", "not a JSON object", "missing key user_id", "wrong type for amount",
                   "null event time event_ts", "unparseable event time event_ts: yesterday"]:
        assert any(needle in r for r in reasons), (needle, reasons)
    assert sum("missing key user_id" in r for r in reasons) == 2  # null and absent
    assert all(r["value"] is not None and r["topic"] and r["offset"] is not None for r in dead)
    assert any(bytes(r["value"]) == b"this is not json {" for r in dead)

    late = spark.read.format("delta").load(late_path(cfg, name)).collect()
    assert [r["txn_id"] for r in late] == ["late-1"] and "watermark" in late[0]["reason"]

    events = spark.read.format("delta").load(events_path(cfg, name))
    assert events.count() == len(drained.on_time) + 1
    assert events.where(F.col("late")).select("txn_id").collect()[0][0] == "late-1"
    assert events.select("partition", "offset").distinct().count() == events.count()

    metrics = (spark.read.format("delta").load(stream_metrics_path(cfg)).where(F.col("group") == name)
               .orderBy("batch_id").collect())
    assert [m["batch_id"] for m in metrics] == [0, 1]
    assert sum(m["dead_lettered"] for m in metrics) == drained.n_malformed
    assert [m["late"] for m in metrics] == [0, 1]
    assert metrics[0]["input_rows"] == len(drained.on_time) + drained.n_malformed
    assert metrics[0]["freshness_s"] is not None and metrics[0]["entities_written"] > 0
    assert metrics[1]["watermark"] is not None


@pytest.fixture(scope="module")
def batch_run(drained: Drained, spark: Any) -> tuple[FeatureGroup, list[Any]]:
    """The stream's event log (minus late events) as a Delta source, backfilled over its days."""
    from pyspark.sql import functions as F

    from weir.batch import backfill
    from weir.lake.paths import events_path

    cfg = drained.config
    source = cfg.table_path("parity_source")
    (spark.read.format("delta").load(events_path(cfg, drained.group.name)).where(~F.col("late"))
     .select(*drained.group.source.columns).write.format("delta").mode("overwrite").save(source))
    batch_group = make_group(drained.group.name, "unused", table=source)
    days = sorted({e["event_ts"].date() for e in drained.on_time})
    backfill(spark, batch_group, days[0], days[-1], cfg)
    return batch_group, days


def test_batch_stream_parity(drained: Drained, batch_run: tuple[FeatureGroup, list[Any]], spark: Any) -> None:
    """The stream's event log (minus late events) through backfill + publish serves the stream's values."""
    from weir.online.publish import publish
    from weir.online.store import DynamoOnlineStore

    cfg = drained.config
    batch_group, days = batch_run
    last = days[-1]
    batch_cfg = build_config(**{**cfg.model_dump(), "dynamodb_table_prefix": cfg.dynamodb_table_prefix + "batch_"})
    store = DynamoOnlineStore(batch_cfg)
    try:
        summary = publish(spark, batch_group, last, batch_cfg, progress=False, store=store, log=False)
        assert summary.written > 0
        users = sorted({e["user_id"] for e in drained.on_time})
        # from the batch item's run time on (before it, the publisher's reads are best effort by design)
        run_ts = datetime.combine(last + timedelta(days=1), datetime.min.time())
        for at in (run_ts, run_ts + timedelta(hours=5, minutes=7), run_ts + timedelta(days=3)):
            streamed = read_online(cfg, drained.group, users, at)
            batched = read_online(batch_cfg, batch_group, users, at)
            for u in users:
                assert streamed[u].found == batched[u].found
                assert_values(streamed[u].values, batched[u].values, f"{u}@{at}")
    finally:
        store.drop_table(batch_group.name)


def test_batch_and_stream_on_one_table_count_each_event_once(
        drained: Drained, batch_run: tuple[FeatureGroup, list[Any]], spark: Any) -> None:
    """The lambda case: the stream wrote every event, then the daily publish of the first day lands on the same
    items (its events were seen by both paths), then the stream goes on. Each event is counted once."""
    from weir.online.publish import publish
    from weir.stream import StreamOptions, produce_records, run_stream

    cfg, group = drained.config, drained.group
    batch_group, days = batch_run
    summary = publish(spark, batch_group, days[0], cfg, progress=False, log=False)
    assert summary.written > 0 and summary.skipped == 0  # the stream's part never blocks the batch part
    cut = datetime.combine(days[0] + timedelta(days=1), datetime.min.time())
    newest = drained.on_time[-1]["event_ts"]
    users = sorted({e["user_id"] for e in drained.on_time})
    got = read_online(cfg, group, users, newest)
    for (user,), want in group_values(group, drained.on_time, newest).items():
        assert_values(got[user].values, want, f"{user} after the publish")
        assert us(got[user].event_ts) == want["newest_event_us"]

    more = make_events(10, seed=9, users=4, start=newest, span_h=4)
    produce_records(cfg, group, [wire(e) for e in more], partition=0)
    run_stream(spark, group, cfg, StreamOptions(available_now=True))
    events = drained.on_time + more
    t = max(e["event_ts"] for e in events)
    got = read_online(cfg, group, sorted({e["user_id"] for e in events}), t)
    for (user,), want in group_values(group, events, t).items():
        assert_values(got[user].values, want, f"{user} after more streaming")
        assert got[user].as_of is not None and got[user].as_of > cut.replace(tzinfo=UTC)

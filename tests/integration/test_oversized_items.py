"""One entity whose online item would exceed DynamoDB's 400 KB limit stops nothing (issue 16, finding 2).

On the real broker, Spark/Delta and the local DynamoDB server: a `last` feature over a ~600 KB random string makes
one user's item too large. The stream dead-letters that user's events of the batch (code ``item_too_large``, counted
in the metrics' drops), keeps the query running and serves every other user the oracle's values; a batch
publish of the same events quarantines that user in ``_weir/online_quarantine`` and writes the others.
"""

from __future__ import annotations

import base64
import random
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from builders import wire
from oracle import group_values, us

from weir.runtime import RuntimeConfig, build_config
from weir.spec import parse_spec_text

pytestmark = pytest.mark.integration

SPEC = """
name: {name}
entity: {{name: user, keys: [user_id]}}
source:
  delta: {table}
  kafka: {{topic: {topic}}}
  event_time: event_ts
  columns: {{user_id: string, note: string, amount: double, event_ts: timestamp}}
  allowed_lateness: 1d
features:
  - {{name: txn_count, aggregation: count, windows: [1d]}}
  - {{name: txn_amount, aggregation: sum, column: amount, windows: [1d]}}
  - {{name: last_note, aggregation: last, column: note}}
online: {{ttl: 30d}}
"""
BASE = datetime(2026, 4, 2, 10, 0)
# incompressible (online tiles are zlib-compressed): about 450 KB even compressed, so `big`'s item cannot fit
HUGE = base64.b64encode(random.Random(16).randbytes(450_000)).decode()


def _events() -> list[dict[str, Any]]:
    out = [{"user_id": u, "note": f"{u}-{i}", "amount": float(i + 1), "event_ts": BASE + timedelta(minutes=7 * i)}
           for i, u in enumerate(["a", "b", "a", "b", "a"])]
    out += [{"user_id": "big", "note": HUGE, "amount": 1.0, "event_ts": BASE + timedelta(minutes=3)},
            {"user_id": "big", "note": HUGE[::-1], "amount": 2.0, "event_ts": BASE + timedelta(hours=2)}]
    return out


def _assert_others_served(config: RuntimeConfig, group: Any, events: list[dict[str, Any]], t: datetime) -> None:
    from weir.online.client import OnlineClient

    got = OnlineClient(config, groups=[group]).get_features([group.name], ["a", "b", "big"], at=t)
    by_user = {r.entity: r.groups[group.name] for r in got}
    assert not by_user["big"].found
    small = [e for e in events if e["user_id"] != "big"]
    for (user,), want in group_values(group, small, t).items():
        assert by_user[user].found and us(by_user[user].event_ts) == want["newest_event_us"]
        for col, value in want.items():
            if col != "newest_event_us":
                assert by_user[user].values[col] == value, (user, col)


def test_stream_and_publish_set_the_oversized_entity_aside(stack: RuntimeConfig, spark: Any, lake_dir: Path) -> None:
    from pyspark.sql import functions as F

    from weir.batch import backfill
    from weir.lake.paths import deadletter_path, online_quarantine_path, stream_metrics_path
    from weir.online.publish import publish
    from weir.stream import StreamOptions, produce_records, run_stream

    run = uuid.uuid4().hex[:8]
    events = _events()
    t = max(e["event_ts"] for e in events) + timedelta(minutes=1)

    # the stream
    config = build_config(lake_path=str(lake_dir / f"big-{run}"), checkpoint_path=str(lake_dir / f"bigck-{run}"),
                          dynamodb_table_prefix=f"bg{run}_")
    group = parse_spec_text(SPEC.format(name="big_stream", table="unused", topic=f"weir-test-big-{run}"))
    produce_records(config, group, [wire(e) for e in events], partition=0)
    processor = run_stream(spark, group, config, StreamOptions(available_now=True))
    assert processor.last is not None  # the query ran to the end: nothing stopped it
    _assert_others_served(config, group, events, t)
    dead = spark.read.format("delta").load(deadletter_path(config, group.name))
    big_dead = dead.where(F.array_contains("reason_codes", "item_too_large"))
    assert big_dead.count() == 2 and dead.count() == 2  # both events of `big`, nothing else
    drops = spark.read.format("delta").load(stream_metrics_path(config)).select(F.explode("drops")).collect()
    assert sum(r["value"] for r in drops if r["key"] == "item_too_large") == 2

    # the daily publish of the same events from a Delta source
    pconfig = build_config(lake_path=str(lake_dir / f"bigp-{run}"), dynamodb_table_prefix=f"bp{run}_")
    source = f"big_src_{run}"
    spark.createDataFrame([(e["user_id"], e["note"], e["amount"], e["event_ts"]) for e in events],
                          "user_id string, note string, amount double, event_ts timestamp") \
        .write.format("delta").save(pconfig.table_path(source))
    pgroup = parse_spec_text(SPEC.format(name="big_batch", table=source, topic=f"weir-test-bigp-{run}"))
    day = BASE.date()
    backfill(spark, pgroup, day - timedelta(days=1), day, pconfig)
    summary = publish(spark, pgroup, day, pconfig)
    assert summary.too_large == ["big"] and summary.written == 2
    quarantined = spark.read.format("delta").load(online_quarantine_path(pconfig)).collect()
    assert [(r["group"], r["pk"], r["ds"]) for r in quarantined] == [("big_batch", "big", date(2026, 4, 2))]
    _assert_others_served(pconfig, pgroup, events, datetime.combine(day + timedelta(days=1), datetime.min.time()))

"""``known_at`` equals what a running stream served: a training row at t gets the value the online store had at t.

A real stream (Kafka -> Structured Streaming -> the Delta event log and DynamoDB) drains a first batch of
events; at wall time t1 the test reads the served values. Then events whose event times lie before t1 arrive
(late by hours, but within the group's allowed lateness) and a second run drains them. A training set built
over the stream's event log at t1 with ``availability="known_at"`` equals the values served at t1 (and the
oracle over the first batch), while ``event_time`` counts the late events too (the oracle over both batches).
"""

from __future__ import annotations

import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from builders import wire
from oracle import group_values, same_value

from weir.online.client import OnlineClient
from weir.runtime import RuntimeConfig, build_config
from weir.spec import parse_spec_text
from weir.training import build

pytestmark = pytest.mark.integration

SPEC = """
name: {name}
entity: {{name: user, keys: [user_id]}}
source:
  delta: events/{name}
  kafka: {{topic: {topic}}}
  event_time: event_ts
  columns: {{txn_id: string, user_id: string, merchant_id: string, amount: double, event_ts: timestamp}}
  allowed_lateness: 1d
features:
  - {{name: txn_count, aggregation: count, windows: [1h, 1d]}}
  - {{name: txn_amount, aggregation: sum, column: amount, windows: [1d, 7d]}}
  - {{name: max_amount, aggregation: max, column: amount, windows: [1d]}}
  - {{name: last_merchant, aggregation: last, column: merchant_id}}
online: {{ttl: 7d}}
"""
USERS = ["a", "b", "c"]


def _events(rnd: random.Random, users: list[str], newest: datetime, span_h: float, n: int, tag: str,
            ) -> list[dict[str, Any]]:
    return [{"txn_id": f"{tag}{i}", "user_id": rnd.choice(users), "merchant_id": f"m{rnd.randrange(5)}",
             "amount": round(rnd.uniform(1, 200), 2),
             "event_ts": newest - timedelta(seconds=rnd.randrange(int(span_h * 3600)))} for i in range(n)]


def test_known_at_equals_the_value_the_stream_served_then(stack: RuntimeConfig, spark: Any, lake_dir: Path) -> None:
    from weir.online.store import DynamoOnlineStore
    from weir.stream import StreamOptions, produce_records, run_stream

    run = uuid.uuid4().hex[:8]
    config = build_config(lake_path=str(lake_dir / f"ka-{run}"), checkpoint_path=str(lake_dir / f"ka-ck-{run}"),
                          dynamodb_table_prefix=f"ka{run}_")
    group = parse_spec_text(SPEC.format(name=f"known_stream_{run}", topic=f"weir-test-known-{run}"))
    rnd = random.Random(11)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    first = _events(rnd, ["a", "b"], now - timedelta(hours=1), 3, 30, "f")
    # in the past at t1 (event times up to 90 minutes before now), but sent only after t1
    second = _events(rnd, ["a", "c"], now - timedelta(minutes=90), 1.5, 12, "s")
    store = DynamoOnlineStore(config)
    options = StreamOptions(available_now=True)
    try:
        produce_records(config, group, [wire(e) for e in first], partition=0)
        run_stream(spark, group, config, options, store)
        time.sleep(1.0)
        t1 = datetime.now(UTC).replace(tzinfo=None)
        client = OnlineClient(config, groups=[group])
        served = {u: r.groups[group.name] for u, r in zip(
            USERS, client.get_features([group.name], [{"user_id": u} for u in USERS], at=t1), strict=True)}
        time.sleep(1.0)
        produce_records(config, group, [wire(e) for e in second], partition=0)
        run_stream(spark, group, config, options, store)

        spine = spark.createDataFrame([(u, t1) for u in USERS], "user_id string, ts timestamp")
        known = {r.user_id: r for r in build(spine, [group.name], spark=spark, config=config, groups=[group],
                                             availability="known_at").df.collect()}
        by_time = {r.user_id: r for r in build(spine, [group.name], spark=spark, config=config, groups=[group],
                                               availability="event_time").df.collect()}
    finally:
        store.drop_table(group.name)

    cols = group.output_column_names()
    then = group_values(group, first, t1)
    everything = group_values(group, first + second, t1)
    for u in USERS:
        g = served[u]
        assert g.found == ((u,) in then), u
        for c in cols:
            # known_at at t1 == what the stream served at t1 (defaults for c, unknown then) ...
            assert same_value(known[u][c], g.values[c]), (u, c, known[u][c], g.values[c])
            if (u,) in then:  # ... == the oracle over what had arrived by t1
                assert same_value(known[u][c], then[(u,)][c]), (u, c)
            assert same_value(by_time[u][c], everything[(u,)][c]), (u, c, by_time[u][c], everything[(u,)][c])
    # the late events make the two modes differ for a and c, and only for them
    differ = {u for u in USERS if any(not same_value(known[u][c], by_time[u][c]) for c in cols)}
    assert differ == {"a", "c"}

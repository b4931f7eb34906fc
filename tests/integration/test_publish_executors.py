"""The daily publish written by the executors (weir.online.spark_writes), on real Spark + Delta + a local DynamoDB.

Hundreds of entities over several partitions: every served value equals the plain-Python oracle's
(tests/oracle.py); a rerun rewrites identical items and counts the same; a task whose Python worker is killed
mid-partition is retried by Spark and counts nothing twice, leaving the same items as a clean run. The fault
enters through the documented test-only seam ``spark_writes.FAULT`` in a child process (its own Spark session
with ``local[2,4]``: local mode retries a failed task only when the master allows more than one failure).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from oracle import group_values, same_value, us

from weir.aws import dynamodb_client
from weir.batch import backfill
from weir.online import schema as s
from weir.online.client import OnlineClient
from weir.online.publish import PublishSummary, entity_tiles, publish
from weir.runtime import RuntimeConfig, build_config
from weir.spec import parse_spec_text
from weir.spec.models import FeatureGroup

pytestmark = pytest.mark.integration

SPEC = """
name: {name}
entity: {{name: user, keys: [user_id]}}
source:
  delta: {table}
  event_time: event_ts
  columns: {{user_id: string, merchant_id: string, amount: double, event_ts: timestamp}}
features:
  - {{name: txn_count, aggregation: count, windows: [1h, 1d, 7d]}}
  - {{name: txn_amount, aggregation: sum, column: amount, windows: [1d, 30d]}}
  - {{name: max_amount, aggregation: max, column: amount, windows: [7d]}}
  - {{name: last_merchant, aggregation: last, column: merchant_id}}
  - {{name: lifetime_amount, aggregation: sum, column: amount}}
online: {{ttl: 2d, freshness_slo: 1h}}
"""
START = date(2026, 5, 1)
DAY = START + timedelta(days=2)
T = datetime.combine(DAY + timedelta(days=1), datetime.min.time())
USERS = 300
RETRY_JOB = Path(__file__).with_name("publish_retry_job.py")
BATCH = [s.TILES, s.NEWEST, s.RUN, s.SOURCE_VERSION, s.EXPIRES_AT]


def make_events() -> list[dict[str, Any]]:
    rnd = random.Random(15)
    base = datetime.combine(START, datetime.min.time())
    events = [{"user_id": f"u{rnd.randrange(USERS):04d}", "merchant_id": rnd.choice(["m1", "m2", "m3", None]),
               "amount": round(rnd.uniform(1, 100), 2), "event_ts": base + timedelta(seconds=rnd.randrange(3 * 86400))}
              for _ in range(1500)]
    # active on the first day only: past its 2d TTL at T (served as missing), written all the same (the group
    # has lifetime features, so its item is kept for ever)
    events.append({"user_id": "gone", "merchant_id": "m1", "amount": 5.0, "event_ts": base + timedelta(hours=2)})
    return events


@dataclass
class Setup:
    config: RuntimeConfig
    group: FeatureGroup
    events: list[dict[str, Any]]
    specs: Path
    first: PublishSummary
    again: PublishSummary
    items_first: dict[str, tuple[Any, ...]]
    items_again: dict[str, tuple[Any, ...]]


def batch_items(config: RuntimeConfig, group: str) -> dict[str, tuple[Any, ...]]:
    """Every item's batch part, straight from the server (a Scan)."""
    client = dynamodb_client(config)
    out = {}
    for page in client.get_paginator("scan").paginate(TableName=f"{config.dynamodb_table_prefix}{group}"):
        for item in page["Items"]:
            out[item["pk"]["S"]] = tuple(str(item.get(a)) for a in BATCH)  # no expires_at: kept for ever
    return out


@pytest.fixture(scope="module")
def setup(spark: Any, stack: RuntimeConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    suffix = uuid.uuid4().hex[:6]
    config = build_config(dynamodb_table_prefix=f"exe{suffix}_")
    specs = tmp_path_factory.mktemp("specs")
    name = f"exec_spend_{suffix}"
    text = SPEC.format(name=name, table=f"exec_txns_{suffix}")
    (specs / f"{name}.yaml").write_text(text)
    group = parse_spec_text(text, str(specs / f"{name}.yaml"))
    events = make_events()
    spark.createDataFrame([(e["user_id"], e["merchant_id"], e["amount"], e["event_ts"]) for e in events],
                          "user_id string, merchant_id string, amount double, event_ts timestamp") \
        .write.format("delta").mode("overwrite").save(config.table_path(f"exec_txns_{suffix}"))
    backfill(spark, group, START, DAY, config)
    key = "spark.sql.adaptive.coalescePartitions.enabled"
    before = spark.conf.get(key)
    spark.conf.set(key, "false")  # keep the shuffle's partitions apart although the data is small
    try:
        assert entity_tiles(spark, group, DAY, config)[0].rdd.getNumPartitions() >= 2
        first = publish(spark, group, DAY, config, log=False)
        items_first = batch_items(config, name)
        again = publish(spark, group, DAY, config, log=False)
        items_again = batch_items(config, name)
    finally:
        spark.conf.set(key, before)
    yield Setup(config, group, events, specs, first, again, items_first, items_again)


def test_executor_writes_serve_the_oracle_values(setup: Setup) -> None:
    first = setup.first
    expected = group_values(setup.group, setup.events, T)
    ttl_us = 2 * 86400 * 1_000_000
    gone = {u for (u,), v in expected.items() if v["newest_event_us"] + ttl_us <= us(T)}
    assert "gone" in gone and first.entities == len(expected) > 250
    assert first.expired == 0 and first.invalid == 0
    assert first.written == first.entities and first.skipped == 0 and first.too_large == []
    users = sorted(u for (u,) in expected)
    results = OnlineClient(setup.config, groups=[setup.group]).get_features([setup.group.name], users, at=T)
    for u, res in zip(users, results, strict=True):
        g = res.groups[setup.group.name]
        want = dict(expected[(u,)])
        if u in gone:
            assert not g.found, u
            continue
        assert g.found, u
        assert us(g.event_ts) == want.pop("newest_event_us")
        for col, value in want.items():
            assert same_value(g.values[col], value), f"{col} of {u}: served {g.values[col]}, oracle {value}"


def test_rerun_rewrites_identical_items_and_counts_the_same(setup: Setup) -> None:
    first, again = setup.first, setup.again
    assert (again.entities, again.written, again.skipped, again.expired) == \
        (first.entities, first.written, 0, first.expired)  # same events, same run: admitted, identical
    assert len(setup.items_first) == first.written
    assert setup.items_again == setup.items_first


def test_a_worker_killed_mid_partition_is_retried_without_counting_twice(setup: Setup, tmp_path: Path) -> None:
    config = build_config(**{**setup.config.model_dump(),
                             "dynamodb_table_prefix": setup.config.dynamodb_table_prefix + "retry_",
                             "specs_dir": setup.specs, "spark_master": "local[2,4]"})
    marker = tmp_path / "crashed"
    cmd = [sys.executable, str(RETRY_JOB), setup.group.name, DAY.isoformat(), str(marker), "20"]
    run = subprocess.run(cmd, env={**os.environ, **config.env()}, capture_output=True, text=True, timeout=900,
                         cwd=config.project_root)
    assert run.returncode == 0, run.stderr[-3000:]
    assert marker.exists()  # a Python worker did die mid-partition
    assert "exited unexpectedly" in run.stderr or "crashed" in run.stderr.lower(), run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    first = setup.first
    assert (got["entities"], got["written"], got["skipped"], got["expired"], got["invalid"]) == \
        (first.entities, first.written, 0, first.expired, 0)
    assert batch_items(config, setup.group.name) == setup.items_first

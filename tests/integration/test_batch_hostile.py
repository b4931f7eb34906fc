"""Hostile rows in a batch source on real Spark and Delta: quarantined with their reasons, duplicates (by
``source.event_id``) counted once in the feature table and in training sets, values equal to the oracle over the
unique valid events (plain Python, ``tests/oracle.py``)."""

from __future__ import annotations

import math
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from builders import write_source
from oracle import assert_feature_rows_match, assert_served_values_match

from weir.runtime import RuntimeConfig
from weir.spec import parse_spec_text

pytestmark = pytest.mark.integration

SPEC = """
name: {name}
entity: {{name: user, keys: [user_id]}}
source:
  delta: {table}
  event_time: event_ts
  event_id: txn_id
  max_future: 1h
  columns: {{txn_id: string, user_id: string, amount: double, status: string, event_ts: timestamp}}
features:
  - {{name: txn_count, aggregation: count, windows: [1h, 1d, 3d]}}
  - {{name: txn_amount, aggregation: sum, column: amount, windows: [1d, 3d]}}
  - {{name: avg_amount, aggregation: avg, column: amount, windows: [2d]}}
  - {{name: lifetime_amount, aggregation: sum, column: amount}}
online: {{ttl: 30d}}
"""
START = date(2026, 4, 1)
BASE = datetime(2026, 4, 1)
COLS = "txn_id string, user_id string, amount double, status string, event_ts timestamp"


def _rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, str]]:
    """(every source row, the unique valid events, rejected txn_id -> expected reason fragment)."""
    rnd = random.Random(5)
    valid = [{"txn_id": f"t{i}", "user_id": rnd.choice(["a", "b", "c"]), "amount": round(rnd.uniform(1, 90), 2),
              "status": "approved", "event_ts": BASE + timedelta(seconds=rnd.randrange(3 * 86400))}
             for i in range(120)]
    valid.append({"txn_id": "edge", "user_id": "a", "amount": 7.0, "status": "approved",
                  "event_ts": BASE + timedelta(days=1)})  # on the day edge: its copy too
    copies = [dict(e) for e in (valid[0], valid[1], valid[1], valid[-1])]
    bad = [
        {"txn_id": "nan", "user_id": "a", "amount": math.nan, "status": "x", "event_ts": BASE + timedelta(hours=5)},
        {"txn_id": "inf", "user_id": "b", "amount": math.inf, "status": "x", "event_ts": BASE + timedelta(hours=6)},
        {"txn_id": "long", "user_id": "k" * 3000, "amount": 1.0, "status": "x", "event_ts": BASE + timedelta(hours=7)},
        {"txn_id": None, "user_id": "c", "amount": 1.0, "status": "x", "event_ts": BASE + timedelta(hours=8)},
    ]
    reasons = {"nan": "non-finite value for amount", "inf": "non-finite value for amount",
               "long": "entity key is 3000 bytes", "t0": "duplicate event id txn_id t0",
               "t1": "duplicate event id txn_id t1", "edge": "duplicate event id txn_id edge"}
    rows = valid[:60] + copies + bad + valid[60:]
    rnd.shuffle(rows)
    return rows, valid, reasons


def test_hostile_rows_are_quarantined_and_copies_counted_once(spark: Any, weir_config: RuntimeConfig,
                                                              tmp_path_factory: Any) -> None:
    from weir.batch import backfill
    from weir.lake.paths import features_path, quarantine_path
    from weir.training import build

    rows, valid, reasons = _rows()
    write_source(spark, weir_config.table_path("src_hostile"), rows, COLS)
    tmp = tmp_path_factory.mktemp("hostile_specs")
    group = parse_spec_text(SPEC.format(name="g_hostile", table="src_hostile"), str(tmp / "g_hostile.yaml"))
    days = [START + timedelta(days=i) for i in range(3)]
    summary = backfill(spark, group, days[0], days[-1], weir_config)
    assert summary.quarantined == 8  # 4 copies, NaN, infinity, a 3000-byte key, no event id

    quarantined = spark.read.format("delta").load(quarantine_path(weir_config, group.name)).collect()
    assert len(quarantined) == 8
    got = sorted((r["txn_id"] or "", r["reason"]) for r in quarantined)
    for txn, fragment in reasons.items():
        assert any(t == txn and fragment in reason for t, reason in got), (txn, got)
    assert ("", "missing event id txn_id") in got
    assert sum(t == "t1" for t, _ in got) == 2  # two extra copies of t1

    feature_rows = spark.read.format("delta").load(features_path(weir_config, group.name)).collect()
    assert_feature_rows_match(group, valid, feature_rows, days)

    spine_times = [BASE + timedelta(hours=h) for h in (5, 24, 30, 50, 71)]
    spine = spark.createDataFrame([(u, t) for u in ("a", "b", "c") for t in spine_times],
                                  "user_id string, ts timestamp")
    for use_table in (True, False):
        ts = build(spine, ["g_hostile"], spark=spark, config=weir_config, groups=[group],
                   use_feature_table=use_table)
        assert_served_values_match(group, valid, ts.df.collect(), 30 * 86400 * 10**6)


def test_future_event_times_are_rejected_against_processing_time(spark: Any) -> None:
    """The batch read's rules (``classify``): an event beyond now + max_future is rejected, one within is kept."""
    from pyspark.sql import functions as F

    from weir.batch.source import REASON_COL, classify

    group = parse_spec_text(SPEC.format(name="g_future", table="unused"))
    now = datetime.now(UTC).replace(tzinfo=None)
    rows = [{"txn_id": "soon", "user_id": "a", "amount": 1.0, "status": "x", "event_ts": now + timedelta(minutes=30)},
            {"txn_id": "far", "user_id": "a", "amount": 1.0, "status": "x", "event_ts": now + timedelta(days=9000)},
            {"txn_id": "past", "user_id": "a", "amount": 1.0, "status": "x", "event_ts": now - timedelta(days=1)}]
    df = spark.createDataFrame([(r["txn_id"], r["user_id"], r["amount"], r["status"], r["event_ts"]) for r in rows],
                               COLS)
    got = {r["txn_id"]: r[REASON_COL] for r in classify(df, group).select("txn_id", REASON_COL).collect()}
    assert got["soon"] is None and got["past"] is None
    assert got["far"] is not None and "source.max_future (1h)" in got["far"]
    assert classify(df, group).where(F.col(REASON_COL).isNull()).count() == 2

"""Week blocks of the batch engine (weir.batch.blocks) on real Spark and Delta, against the oracle.

Long windows merge stored blocks plus uncovered day tiles; a rerun of a day inside a block (late events) makes
that block unusable, and later runs merge its day tiles instead until the block's last day is rerun.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from builders import write_source
from oracle import assert_feature_rows_match, group_values
from pyspark.sql import functions as F

from weir.batch import backfill, run_day
from weir.batch.blocks import BLOCK_US, is_block_end, usable_blocks
from weir.compute.ir import HOP_COL
from weir.lake.paths import features_path, tiles_path
from weir.spec import parse_spec_text

pytestmark = pytest.mark.integration

SPEC = """
name: {name}
entity: {{name: user, keys: [user_id]}}
source:
  delta: {name}_src
  event_time: event_ts
  columns: {{user_id: string, merchant_id: string, amount: double, event_ts: timestamp}}
features:
  - {{name: txn_count, aggregation: count, windows: [1d, 3d, 21d]}}
  - {{name: txn_amount, aggregation: sum, column: amount, windows: [21d]}}
  - {{name: max_amount, aggregation: max, column: amount, windows: [15d]}}
  - {{name: last_merchant, aggregation: last, column: merchant_id, windows: [21d]}}
  - {{name: distinct_merchants, aggregation: approx_count_distinct, column: merchant_id, windows: [21d]}}
"""
START = date(2026, 3, 1)   # block ends (epoch-aligned weeks) on days 3, 10, 17, 24 of the range
DAYS = 26
SCHEMA = "user_id string, merchant_id string, amount double, event_ts timestamp"


def _events() -> list[dict[str, Any]]:
    rnd = random.Random(5)
    base = datetime.combine(START, datetime.min.time())
    return [{"user_id": rnd.choice(["u1", "u2", "u3", "u4"]), "merchant_id": f"m{rnd.randrange(8)}",
             "amount": round(rnd.uniform(1, 100), 2),
             "event_ts": base + timedelta(seconds=rnd.randrange((DAYS - 4) * 86400))} for _ in range(300)]


def _check(spark, group, config, events: list[dict[str, Any]], days: list[date]) -> None:  # type: ignore[no-untyped-def]
    rows = spark.read.format("delta").load(features_path(config, group.name)).collect()
    assert_feature_rows_match(group, events, rows, days)


def test_blocks_are_built_used_and_dropped_when_a_day_inside_is_rerun(spark, weir_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    group = parse_spec_text(SPEC.format(name="g_blocks"), str(tmp_path / "g_blocks.yaml"))
    src, t_path = weir_config.table_path("g_blocks_src"), tiles_path(weir_config, "g_blocks")
    events = _events()
    write_source(spark, src, events, SCHEMA, "overwrite")
    day = [START + timedelta(days=i) for i in range(DAYS)]
    assert [i for i, d in enumerate(day) if is_block_end(d)] == [3, 10, 17, 24]

    backfill(spark, group, day[0], day[16], weir_config, chunk_days=9)  # two chunks: blocks end in each
    for i in range(17, 20):
        run_day(spark, group, day[i], weir_config)  # day 17 builds a block from stored day tiles
    blocks = spark.read.format("delta").load(t_path).where(F.col(HOP_COL) == BLOCK_US)
    assert sorted({r.ds for r in blocks.select("ds").collect()}) == [day[3], day[10], day[17]]
    assert usable_blocks(spark, t_path, day[0], day[19]) == {day[3], day[10], day[17]}
    _check(spark, group, weir_config, events, day[:20])

    # a late event inside the block ending on day 10; rerun day 8 only: that block is now older than a tile
    late = {"user_id": "u9", "merchant_id": "m1", "amount": 55.0,
            "event_ts": datetime.combine(day[8], datetime.min.time()) + timedelta(hours=7)}
    write_source(spark, src, [late], SCHEMA, "append")
    events = [*events, late]
    run_day(spark, group, day[8], weir_config)
    assert usable_blocks(spark, t_path, day[0], day[19]) == {day[3], day[17]}
    for i in range(20, DAYS):
        run_day(spark, group, day[i], weir_config)  # merge day 8's new tile, not the stale block
    _check(spark, group, weir_config, events, [*day[:9], *day[20:]])

    # rerunning the block's last day builds it again
    run_day(spark, group, day[10], weir_config)
    assert day[10] in usable_blocks(spark, t_path, day[0], day[DAYS - 1])

    # blocks are really read: a wrong sum planted in the usable block ending on day 17 shows up in day 25's row
    # (its 21d window covers the blocks ending on days 17 and 24); rerunning day 17 rebuilds the block
    from delta.tables import DeltaTable

    last, planted = day[DAYS - 1], (F.col(HOP_COL) == BLOCK_US) & (F.col("ds") == F.lit(day[17]))
    DeltaTable.forPath(spark, t_path).update(planted & (F.col("user_id") == "u1"),
                                             {"txn_amount__s": F.col("txn_amount__s") + F.lit(1000.0)})
    assert day[17] in usable_blocks(spark, t_path, day[0], last)
    want = group_values(group, events, datetime.combine(last + timedelta(days=1), datetime.min.time()))
    feats = features_path(weir_config, group.name)

    def u1_sum() -> float:
        row = spark.read.format("delta").load(feats).where((F.col("ds") == F.lit(last)) & (F.col("user_id") == "u1")) \
            .select("txn_amount_sum_21d").first()
        assert row is not None
        return float(row[0])

    run_day(spark, group, last, weir_config)
    assert u1_sum() == pytest.approx(want[("u1",)]["txn_amount_sum_21d"] + 1000.0)
    run_day(spark, group, day[17], weir_config)
    run_day(spark, group, last, weir_config)
    assert u1_sum() == pytest.approx(want[("u1",)]["txn_amount_sum_21d"])
    _check(spark, group, weir_config, events, [last])

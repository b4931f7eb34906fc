"""Training rows at run times read the daily feature table; stale rows (an earlier day rerun) merge tiles.

Both paths are checked against the oracle over the raw events, and against each other.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from oracle import assert_served_values_match, group_values, same_value
from pyspark.sql import functions as F

from weir.batch import backfill
from weir.lake.delta import written_at
from weir.lake.paths import features_path, tiles_path
from weir.runtime import RuntimeConfig
from weir.spec import parse_spec_text
from weir.spec.models import FeatureGroup
from weir.training import build
from weir.training.builder import fresh_feature_days

pytestmark = pytest.mark.integration

SPEC = """
name: {name}
entity: {{name: user, keys: [user_id]}}
source:
  delta: {name}_src
  event_time: event_ts
  columns: {{user_id: string, merchant_id: string, amount: double, event_ts: timestamp}}
features:
  - {{name: txn_count, aggregation: count, windows: [1h, 1d, 2d]}}
  - {{name: txn_amount, aggregation: sum, column: amount, windows: [1d, 2d]}}
  - {{name: max_amount, aggregation: max, column: amount, windows: [1d]}}
  - {{name: distinct_merchants, aggregation: approx_count_distinct, column: merchant_id, windows: [2d]}}
  - {{name: last_merchant, aggregation: last, column: merchant_id, windows: [2d]}}
online: {{ttl: 3d}}
"""
START = date(2026, 7, 1)
BASE = datetime(2026, 7, 1)
DAYS = 6
TTL_US = 3 * 86400 * 10**6
SCHEMA = "user_id string, merchant_id string, amount double, event_ts timestamp"


def _events() -> list[dict[str, Any]]:
    rnd = random.Random(23)
    out = [{"user_id": rnd.choice("abcd"), "merchant_id": f"m{rnd.randrange(5)}",
            "amount": round(rnd.uniform(1, 90), 2),
            "event_ts": BASE + timedelta(seconds=rnd.randrange(DAYS * 86400))} for _ in range(300)]
    out.append({"user_id": "e", "merchant_id": "m9", "amount": 3.0, "event_ts": BASE + timedelta(hours=5)})  # expires
    out.append({"user_id": "f", "merchant_id": "m9", "amount": 4.0, "event_ts": BASE + timedelta(days=2)})  # on an edge
    return out


def _write(spark, config: RuntimeConfig, name: str, events: list[dict[str, Any]], mode: str) -> None:  # type: ignore[no-untyped-def]
    spark.createDataFrame([(e["user_id"], e["merchant_id"], e["amount"], e["event_ts"]) for e in events], SCHEMA) \
        .write.format("delta").mode(mode).save(config.table_path(f"{name}_src"))


def _setup(spark, config: RuntimeConfig, tmp_path, name: str) -> tuple[FeatureGroup, list[dict[str, Any]]]:  # type: ignore[no-untyped-def]
    events = _events()
    _write(spark, config, name, events, "overwrite")
    group = parse_spec_text(SPEC.format(name=name), str(tmp_path / f"{name}.yaml"))
    backfill(spark, group, START, START + timedelta(days=DAYS - 1), config, chunk_days=3)
    return group, events


def _spine(spark):  # type: ignore[no-untyped-def]
    times = [BASE + timedelta(days=d) for d in range(1, DAYS + 1)]                 # run times (feature rows)
    times += [BASE + timedelta(days=2, hours=7, minutes=3), BASE - timedelta(hours=2)]  # between runs, before all
    rows = [(u, t, i) for i, (u, t) in enumerate((u, t) for u in ["a", "b", "e", "f", "zz"] for t in times)]
    return spark.createDataFrame(rows, "user_id string, ts timestamp, label int")


def test_run_times_read_the_feature_table_and_equal_the_tiles_and_the_oracle(spark, weir_config,  # type: ignore[no-untyped-def]
                                                                            tmp_path) -> None:
    group, events = _setup(spark, weir_config, tmp_path, "g_trows")
    spine = _spine(spark)
    fast = build(spine, [group.name], spark=spark, config=weir_config, groups=[group])
    info = fast.lineage["groups"][group.name]
    assert info["tiles"] == "stored" and info["feature_table_days"] == DAYS and info["stale_feature_days"] == []
    slow = build(spine, [group.name], spark=spark, config=weir_config, groups=[group], use_feature_table=False)
    assert "feature_table_days" not in slow.lineage["groups"][group.name]
    fast_rows = sorted(fast.df.collect(), key=lambda r: r.label)
    slow_rows = sorted(slow.df.collect(), key=lambda r: r.label)
    assert len(fast_rows) == len(slow_rows) == spine.count()
    for a, b in zip(fast_rows, slow_rows, strict=True):
        assert all(same_value(a[c], b[c]) for c in fast.df.columns), (a, b)
    assert_served_values_match(group, events, fast_rows, TTL_US)


def test_rows_made_stale_by_a_rerun_of_an_earlier_day_merge_the_new_tiles(spark, weir_config,  # type: ignore[no-untyped-def]
                                                                          tmp_path) -> None:
    group, events = _setup(spark, weir_config, tmp_path, "g_trows_late")
    late = {"user_id": "a", "merchant_id": "m7", "amount": 500.0, "event_ts": BASE + timedelta(days=1, hours=20)}
    _write(spark, weir_config, group.name, [late], "append")
    events = [*events, late]
    day = START + timedelta(days=1)
    backfill(spark, group, day, day, weir_config)  # day 1 rerun; day 2 (its 2d windows reach day 1) is not

    feats = spark.read.format("delta").load(features_path(weir_config, group.name))
    tiles = spark.read.format("delta").load(tiles_path(weir_config, group.name))
    fresh, stale = fresh_feature_days(group, written_at(feats, newest=False), written_at(tiles, newest=True))
    assert stale == [day + timedelta(days=1)]
    assert day in fresh and len(fresh) == DAYS - 1
    # the stale row of day 2 really misses the late event: reading it would be wrong
    row = feats.where((F.col("user_id") == "a") & (F.col("ds") == F.lit(day + timedelta(days=1)))).first()
    assert row is not None
    assert not same_value(row["txn_amount_sum_2d"], group_values(group, events, BASE + timedelta(days=3))
                          [("a",)]["txn_amount_sum_2d"])

    ts = build(_spine(spark), [group.name], spark=spark, config=weir_config, groups=[group])
    info = ts.lineage["groups"][group.name]
    assert info["stale_feature_days"] == [str(d) for d in stale] and info["feature_table_days"] == DAYS - 1
    assert_served_values_match(group, events, ts.df.collect(), TTL_US)


def test_stored_tiles_are_used_only_if_they_reach_back_to_the_first_keyed_event(spark, weir_config,  # type: ignore[no-untyped-def]
                                                                                tmp_path) -> None:
    # an event without a key a day before the first keyed one: the file statistics cannot rule it out, the scan
    # (keys not null) does, so the stored tiles are used
    name = "g_trows_nokey"
    events = _events()
    keyless = {"user_id": None, "merchant_id": "m1", "amount": 1.0, "event_ts": BASE - timedelta(days=1)}
    _write(spark, weir_config, name, [*events, keyless], "overwrite")
    group = parse_spec_text(SPEC.format(name=name), str(tmp_path / f"{name}.yaml"))
    backfill(spark, group, START, START + timedelta(days=DAYS - 1), weir_config, chunk_days=3)
    ts = build(_spine(spark), [name], spark=spark, config=weir_config, groups=[group])
    assert ts.lineage["groups"][name]["tiles"] == "stored"
    assert_served_values_match(group, events, ts.df.collect(), TTL_US)

    # tiles backfilled only from day 4 miss the events of days 0-3: not used, tiles are rebuilt from the events
    name = "g_trows_late_start"
    _write(spark, weir_config, name, events, "overwrite")
    group = parse_spec_text(SPEC.format(name=name), str(tmp_path / f"{name}.yaml"))
    backfill(spark, group, START + timedelta(days=4), START + timedelta(days=DAYS - 1), weir_config)
    ts = build(_spine(spark), [name], spark=spark, config=weir_config, groups=[group])
    assert ts.lineage["groups"][name]["tiles"] == "rebuilt"
    assert_served_values_match(group, events, ts.df.collect(), TTL_US)

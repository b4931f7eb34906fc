"""Table maintenance on real Delta tables: compaction drops file counts without changing values, VACUUM deletes
what no version needs, and a training set's pinned versions stay readable (unless the operator ignores pins)."""

from __future__ import annotations

import random
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from weir.runtime import build_config
from weir.spec import parse_spec_text

pytestmark = pytest.mark.integration

SPEC = """
name: {name}
entity: {{name: user, keys: [user_id]}}
source:
  delta: events/{name}
  event_time: event_ts
  columns: {{user_id: string, amount: double, event_ts: timestamp}}
features:
  - {{name: txn_count, aggregation: count, windows: [1d]}}
  - {{name: txn_amount, aggregation: sum, column: amount, windows: [7d]}}
"""
BASE = datetime(2026, 6, 1)
SCHEMA = "user_id string, amount double, event_ts timestamp"


def _append_batches(spark: Any, path: str, batches: int, seed: int) -> list[tuple[str, float, datetime]]:
    """``batches`` small appends (one file each), as a stream's micro-batches leave them."""
    rnd, rows = random.Random(seed), []
    for _ in range(batches):
        batch = [(rnd.choice("abc"), float(rnd.randint(1, 50)), BASE + timedelta(minutes=rnd.randrange(3 * 1440)))
                 for _ in range(5)]
        spark.createDataFrame(batch, SCHEMA).coalesce(1).write.format("delta").mode("append").save(path)
        rows += batch
    return rows


def test_maintenance_compacts_vacuums_and_keeps_pinned_versions(spark: Any, lake_dir: Path) -> None:
    from weir.lake.maintenance import maintain
    from weir.training import build, write_training_set

    config = build_config(lake_path=str(lake_dir / f"maint-{uuid.uuid4().hex[:8]}"))
    group = parse_spec_text(SPEC.format(name="maint_g"))
    events_path, late_path = config.table_path("events/maint_g"), config.table_path("late/maint_g")
    first = _append_batches(spark, events_path, 6, seed=1)
    _append_batches(spark, late_path, 4, seed=2)

    spine = spark.createDataFrame([(u, BASE + timedelta(days=2, hours=h)) for u in "abc" for h in (0, 7)],
                                  "user_id string, ts timestamp")
    ts = build(spine, ["maint_g"], spark=spark, config=config, groups=[group])
    expected = sorted(tuple(r) for r in ts.df.collect())
    write_training_set(ts, config.table_path("training/maint"), config=config)
    pinned = {p: int(v) for p, v in ts.lineage["groups"]["maint_g"]["delta_versions"].items() if v is not None}
    assert pinned == {events_path: 5}
    everything = first + _append_batches(spark, events_path, 6, seed=3)  # versions 6..11 after the pin

    reports = {r.path: r for r in maintain(spark, config, [group], retention_hours=0)}
    ev, late = reports[events_path], reports[late_path]
    assert (ev.files_before, ev.files_after, ev.pinned_version) == (12, 1, 5)
    assert ev.vacuumed == 0 and ev.retention_hours >= 1  # every file version 5 reads is kept
    assert (late.files_before, late.files_after, late.pinned_version, late.vacuumed) == (4, 1, None, 4)

    # values unchanged: the compacted table holds exactly the appended rows (the oracle: what was written)
    now = sorted(tuple(r) for r in spark.read.format("delta").load(events_path).collect())
    assert now == sorted(everything)
    # the pinned training set rebuilds, row for row
    again = build(spine, ["maint_g"], spark=spark, config=config, groups=[group], versions=pinned)
    assert sorted(tuple(r) for r in again.df.collect()) == expected

    # the operator can override the pins; then the old version's files are gone, which is what pins prevent
    forced = {r.path: r for r in maintain(spark, config, [group], retention_hours=0, ignore_pins=True)}
    assert forced[events_path].vacuumed == 12
    with pytest.raises(Exception, match=r"(?i)(not found|does not exist|FileNotFound|FILE_NOT_EXIST)"):
        build(spine, ["maint_g"], spark=spark, config=config, groups=[group], versions=pinned).df.collect()


def test_vacuum_sets_its_settings_for_the_call_only(spark: Any, lake_dir: Path) -> None:
    """VACUUM's listing tasks and (below 168 h) the retention check are set for the call and restored after:
    a setting the session had comes back, one it did not have is unset again."""
    from delta.tables import DeltaTable

    from weir.lake.maintenance import vacuum_table

    path = str(lake_dir / f"vac-{uuid.uuid4().hex[:8]}")
    _append_batches(spark, path, 2, seed=4)
    check, listing = ("spark.databricks.delta.retentionDurationCheck.enabled",
                      "spark.sql.sources.parallelPartitionDiscovery.parallelism")
    spark.conf.set(check, "true")
    spark.conf.unset(listing)
    try:
        vacuum_table(spark, DeltaTable.forPath(spark, path), 0.0)  # refused by the check if it were still on
        assert spark.conf.get(check) == "true"
        assert spark.conf.get(listing, None) is None
    finally:
        spark.conf.unset(check)

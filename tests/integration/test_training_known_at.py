"""``build(availability="known_at")``: an event counts at t only once its Delta commit is in the lake.

Events arrive late by hours (appended in later commits); the real commit times are read from the Delta log by
the test itself. The oracle (plain Python) computes values over (event, commit time) pairs: ``event_time``
over every event with event time <= t, ``known_at`` over those also committed by t. The two modes differ
only where an event of the entity was already in the past at t but not yet in the lake.
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from oracle import assert_served_values_match, same_value, us

from weir.runtime import RuntimeConfig
from weir.spec import parse_spec_text
from weir.training import TrainingSetError, build

pytestmark = pytest.mark.integration

SPEC = """
name: g_known
entity: {name: user, keys: [user_id]}
source:
  delta: src_known
  event_time: event_ts
  columns: {user_id: string, merchant_id: string, amount: double, event_ts: timestamp}
features:
  - {name: txn_count, aggregation: count, windows: [1h, 1d, 3d]}
  - {name: txn_amount, aggregation: sum, column: amount, windows: [1d, 30d]}
  - {name: max_amount, aggregation: max, column: amount, windows: [1d]}
  - {name: last_merchant, aggregation: last, column: merchant_id}
  - {name: amount_std, aggregation: stddev, column: amount, windows: [3d]}
  - {name: distinct_merchants, aggregation: approx_count_distinct, column: merchant_id, windows: [3d]}
online: {ttl: 3d}
"""
SCHEMA = "user_id string, merchant_id string, amount double, event_ts timestamp"
TTL_US = 3 * 86400 * 10**6
USERS = ["a", "b", "c", "late_only", "ontime_only"]


def _event(rnd: random.Random, user: str, at: datetime) -> dict[str, Any]:
    return {"user_id": user, "merchant_id": f"m{rnd.randrange(4)}", "amount": round(rnd.uniform(1, 90), 2),
            "event_ts": at}


def _commit_ms(table: Path, version: int) -> int:
    """Delta's commit time of ``version``, read from the log file (in-commit timestamp if the table has them)."""
    for line in (table / "_delta_log" / f"{version:020d}.json").read_text().splitlines():
        info = json.loads(line).get("commitInfo")
        if info is not None:
            return int(info.get("inCommitTimestamp", info["timestamp"]))
    raise AssertionError(f"no commitInfo in version {version}")


def _at_ms(ms: int) -> datetime:
    return datetime(1970, 1, 1) + timedelta(milliseconds=ms)


@pytest.fixture(scope="module")
def late(spark, weir_config: RuntimeConfig, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Three commits: on-time events, then two commits of events late by hours. Returns the group, the
    (event, commit time) pairs and the commit times."""
    rnd = random.Random(5)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    on_time = [_event(rnd, rnd.choice(["a", "b", "c", "ontime_only"]),
                      now - timedelta(seconds=rnd.randrange(1, 2 * 86400))) for _ in range(160)]
    on_time += [_event(rnd, u, now - timedelta(seconds=s)) for u, s in [("a", 2), ("b", 5), ("c", 9)]]
    late_1 = [_event(rnd, rnd.choice(["a", "b", "late_only"]), now - timedelta(seconds=rnd.randrange(2 * 3600,
                                                                                                    30 * 3600)))
              for _ in range(40)]
    late_2 = [_event(rnd, rnd.choice(["a", "c", "late_only"]), now - timedelta(seconds=rnd.randrange(3 * 3600,
                                                                                                    10 * 3600)))
              for _ in range(25)]
    path = Path(weir_config.table_path("src_known"))
    commits: list[datetime] = []
    pairs: list[tuple[dict[str, Any], datetime]] = []
    for i, batch in enumerate([on_time, late_1, late_2]):
        if i:
            time.sleep(1.5)  # commits well apart, so spine times fit between them
        rows = [(e["user_id"], e["merchant_id"], e["amount"], e["event_ts"]) for e in batch]
        spark.createDataFrame(rows, SCHEMA).repartition(2).write.format("delta") \
            .mode("overwrite" if i == 0 else "append").save(str(path))
        committed = _at_ms(_commit_ms(path, i))
        commits.append(committed)
        pairs += [(e, committed) for e in batch]
    group = parse_spec_text(SPEC, str(tmp_path_factory.mktemp("specs") / "g_known.yaml"))
    return group, pairs, commits, now


def _spine_times(commits: list[datetime], now: datetime) -> list[datetime]:
    c1, c2, c3 = commits
    return [now - timedelta(hours=20),          # before every commit: nothing known yet
            now - timedelta(hours=2, minutes=17),
            c1, c1 + (c2 - c1) / 2,              # only the on-time events are in the lake
            c2 - timedelta(milliseconds=1), c2,  # the first late commit lands exactly at c2
            c2 + (c3 - c2) / 2, c3,
            c3 + timedelta(hours=1)]             # everything known: the modes agree


def _build(spark, config, group, spine_rows, availability: str):  # type: ignore[no-untyped-def]
    spine = spark.createDataFrame(spine_rows, "user_id string, ts timestamp, label int")
    return build(spine, [group.name], spark=spark, config=config, groups=[group], availability=availability)


@pytest.mark.parametrize("merge", ["join", "frames"])
def test_known_at_counts_only_committed_events_and_differs_exactly_on_late_ones(spark, weir_config,  # type: ignore[no-untyped-def]
                                                                                 late, merge, monkeypatch) -> None:
    """Both ways of merging full tiles (joined per spine row, or range frames: builder._by_frames picks one by
    the stored tiles per entity; forced here) give the oracle's values."""
    import weir.training.builder as builder

    monkeypatch.setattr(builder, "_by_frames", lambda *_: merge == "frames")
    group, pairs, commits, now = late
    assert commits[0] < commits[1] < commits[2]
    spine_rows = [(u, t, i) for i, (u, t) in enumerate((u, t) for u in USERS for t in _spine_times(commits, now))]
    events = [e for e, _ in pairs]

    by_time = _build(spark, weir_config, group, spine_rows, "event_time")
    known = _build(spark, weir_config, group, spine_rows, "known_at")
    assert known.lineage["availability"] == "known_at"
    assert known.lineage["groups"]["g_known"]["merge"] == by_time.lineage["groups"]["g_known"]["merge"] == merge
    assert known.lineage["groups"]["g_known"]["commit_times"]["files"] >= 3
    time_rows, known_rows = by_time.df.collect(), known.df.collect()
    assert len(time_rows) == len(known_rows) == len(spine_rows)

    assert_served_values_match(group, events, time_rows, TTL_US)  # event_time: unchanged semantics
    for r in known_rows:  # known_at: the oracle over the events committed by t
        in_lake = [e for e, c in pairs if c <= r.ts]
        assert_served_values_match(group, in_lake, [r], TTL_US)

    cols = group.output_column_names()
    t_by_label = {r.label: r for r in time_rows}
    differ, pending = set(), set()
    for r in known_rows:
        other = t_by_label[r.label]
        if any(not same_value(r[c], other[c]) for c in cols):
            differ.add((r.user_id, r.ts))
        if any(e["user_id"] == r.user_id and us(e["event_ts"]) <= us(r.ts) < us(c) for e, c in pairs):
            pending.add((r.user_id, r.ts))
    # they differ only where an event was past but not yet in the lake, and do differ on late events
    assert differ <= pending
    c1, c2 = commits[0], commits[1]
    mid = c1 + (c2 - c1) / 2
    assert ("late_only", mid) in differ and ("a", mid) in differ
    assert not any(t >= commits[2] for _, t in differ)
    assert not any(u == "ontime_only" and t >= c1 for u, t in differ)


def test_an_unknown_availability_names_the_choices(spark, weir_config, late) -> None:  # type: ignore[no-untyped-def]
    group = late[0]
    spine = spark.createDataFrame([("a", datetime(2026, 5, 1))], "user_id string, ts timestamp")
    with pytest.raises(TrainingSetError, match="'event_time' .* or 'known_at'"):
        build(spine, ["g_known"], spark=spark, config=weir_config, groups=[group], availability="arrival")


def test_compaction_never_counts_a_row_before_its_commit(spark, weir_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """OPTIMIZE merges an on-time and a late commit into one file: its rows count from the later commit on
    (documented: Delta does not record which old file a row came from), never before their own commit."""
    from delta.tables import DeltaTable

    rnd = random.Random(9)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    on_time = [_event(rnd, rnd.choice("ab"), now - timedelta(seconds=rnd.randrange(1, 86400))) for _ in range(30)]
    late_rows = [_event(rnd, rnd.choice("ab"), now - timedelta(seconds=rnd.randrange(3600, 9 * 3600)))
                 for _ in range(10)]
    path = Path(weir_config.table_path("src_known_opt"))
    commits = []
    for i, batch in enumerate([on_time, late_rows]):
        if i:
            time.sleep(1.5)
        spark.createDataFrame([(e["user_id"], e["merchant_id"], e["amount"], e["event_ts"]) for e in batch],
                              SCHEMA).write.format("delta").mode("append").save(str(path))
        commits.append(_at_ms(_commit_ms(path, i)))
    DeltaTable.forPath(spark, str(path)).optimize().executeCompaction()
    group = parse_spec_text(SPEC.replace("g_known", "g_known_opt").replace("src_known", "src_known_opt"),
                            str(tmp_path / "g_known_opt.yaml"))
    c1, c2 = commits
    spine_rows = [(u, t, i) for i, (u, t) in enumerate((u, t) for u in "ab"
                                                       for t in [c1, c1 + (c2 - c1) / 2, c2, c2 + timedelta(hours=1)])]
    ts = _build(spark, weir_config, group, spine_rows, "known_at")
    assert ts.lineage["groups"]["g_known_opt"]["commit_times"]["compacted_files"] >= 1
    compacted = set(ts.lineage["groups"]["g_known_opt"]["commit_times"].items())
    assert ("files", 1) in compacted  # one live file after OPTIMIZE: every row counts from c2
    for r in ts.df.collect():
        assert_served_values_match(group, on_time + late_rows if r.ts >= c2 else [], [r], TTL_US)


def _write(spark, path: Path, batch: list[dict[str, Any]], mode: str) -> None:  # type: ignore[no-untyped-def]
    rows = [(e["user_id"], e["merchant_id"], e["amount"], e["event_ts"]) for e in batch]
    spark.createDataFrame(rows, SCHEMA).repartition(2).write.format("delta").mode(mode).save(str(path))


def test_known_at_reads_stored_tiles_only_for_what_they_hold(spark, weir_config, tmp_path,  # type: ignore[no-untyped-def]
                                                             monkeypatch) -> None:
    """With stored tiles, each row reads them up to its horizon (every earlier event was in the lake at t) and
    the rest from raw events, by both ways of merging full tiles (joined per spine row, or range frames: forced
    here in turn on the same lake). Late events committed after the daily run wrote its tiles are not in them:
    rows after their commit must still count them (the tiles are stale for those days), until a rerun."""
    import weir.training.builder as builder
    from weir.batch import backfill

    rnd = random.Random(21)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    today = datetime(now.year, now.month, now.day)
    users = ["a", "b", "c"]
    on_time = [_event(rnd, rnd.choice(users), today - timedelta(seconds=rnd.randrange(1, 3 * 86400)))
               for _ in range(120)]
    on_time += [_event(rnd, u, now - timedelta(seconds=s)) for u, s in [("a", 3), ("b", 7)]]
    late = [_event(rnd, rnd.choice(["a", "c"]), today - timedelta(seconds=rnd.randrange(3600, 2 * 86400)))
            for _ in range(30)]
    name = "g_known_st"
    group = parse_spec_text(SPEC.replace("g_known", name).replace("src_known", f"{name}_src"),
                            str(tmp_path / f"{name}.yaml"))
    path = Path(weir_config.table_path(f"{name}_src"))
    days = (today - timedelta(days=3)).date(), (today - timedelta(days=1)).date()
    _write(spark, path, on_time, "overwrite")
    c1 = _at_ms(_commit_ms(path, 0))
    backfill(spark, group, *days, weir_config)
    time.sleep(1.5)
    _write(spark, path, late, "append")  # committed after the run wrote the tiles of the days it holds
    c2 = _at_ms(_commit_ms(path, 1))
    pairs = [(e, c1) for e in on_time] + [(e, c2) for e in late]
    spine_times = [today - timedelta(hours=30), c1, c1 + (c2 - c1) / 2, c2, c2 + timedelta(minutes=30),
                   c2 + timedelta(days=2)]
    spine_rows = [(u, t, i) for i, (u, t) in enumerate((u, t) for u in users for t in spine_times)]
    after_all = [r for r in spine_rows if r[1] >= c2]

    def check(rows_at: list[tuple[str, datetime, int]], merge: str = "join") -> dict[str, Any]:
        monkeypatch.setattr(builder, "_by_frames", lambda *_: merge == "frames")
        ts = _build(spark, weir_config, group, rows_at, "known_at")
        assert ts.lineage["groups"][name]["tiles"] == "stored"
        rows = ts.df.collect()
        assert len(rows) == len(rows_at)
        for r in rows:
            assert_served_values_match(group, [e for e, c in pairs if c <= r.ts], [r], TTL_US)
        return dict(ts.lineage["groups"][name])

    for merge in ("join", "frames"):  # tiles stale for the late events' days
        assert check(spine_rows, merge)["merge"] == merge
    assert "horizon" not in check(after_all)  # ... so even rows after every commit read those days raw
    backfill(spark, group, *days, weir_config)
    for merge in ("join", "frames"):  # rerun: the tiles hold the late events too
        assert check(spine_rows, merge)["merge"] == merge
    # every event in the lake and the tiles at every spine time: the event_time build, as the lineage says
    assert check(after_all)["horizon"].startswith("none")


def test_files_without_statistics_are_bounded_by_a_scan(spark, weir_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A table that collects no event-time statistics (``delta.dataSkippingNumIndexedCols = 0`` set after its
    first commit, as a team may to save write time): its later files give no event range in the log, so the
    builder bounds them by one scan of the source; values still equal the oracle over (event, commit time)."""
    rnd = random.Random(31)
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    on_time = [_event(rnd, rnd.choice("ab"), now - timedelta(seconds=rnd.randrange(1, 2 * 86400))) for _ in range(40)]
    late_rows = [_event(rnd, rnd.choice("abc"), now - timedelta(seconds=rnd.randrange(3600, 20 * 3600)))
                 for _ in range(15)]
    name = "g_known_nostats"
    path = Path(weir_config.table_path(f"{name}_src"))
    _write(spark, path, on_time, "overwrite")
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('delta.dataSkippingNumIndexedCols' = '0')")
    time.sleep(1.5)
    _write(spark, path, late_rows, "append")
    c1, c2 = _at_ms(_commit_ms(path, 0)), _at_ms(_commit_ms(path, 2))
    adds = [json.loads(line)["add"] for line in (path / "_delta_log" / f"{2:020d}.json").read_text().splitlines()
            if "add" in json.loads(line)]
    assert adds and all("minValues" not in json.loads(a.get("stats") or "{}") for a in adds)  # no event range
    group = parse_spec_text(SPEC.replace("g_known", name).replace("src_known", f"{name}_src"),
                            str(tmp_path / f"{name}.yaml"))
    pairs = [(e, c1) for e in on_time] + [(e, c2) for e in late_rows]
    spine_rows = [(u, t, i) for i, (u, t) in enumerate((u, t) for u in "abc"
                                                       for t in [c1, c1 + (c2 - c1) / 2, c2, c2 + timedelta(hours=2)])]
    ts = _build(spark, weir_config, group, spine_rows, "known_at")
    rows = ts.df.collect()
    assert len(rows) == len(spine_rows)
    for r in rows:
        assert_served_values_match(group, [e for e, c in pairs if c <= r.ts], [r], TTL_US)

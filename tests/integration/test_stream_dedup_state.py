"""The stream's dedup by ``source.event_id`` from Spark's state (``weir.stream.dedup``), not from the event log.

1. copies in one micro-batch, across micro-batches and across a restart of the query are dead-lettered once
   each, while the event log's data files are unreadable from the end of the first batch on (the former dedup
   read the log's day partitions every batch: it fails here); values against a plain-Python oracle;
2. a checkpoint written by the stateless plan is migrated: moved aside, the stateful query starts from its
   committed offsets (nothing read twice) with the state seeded from the event log (copies still caught);
3. a crash between the online writes and the log append (``after_online``) of a batch with copies, then a
   restart: each event once in the log and online, each copy dead-lettered once;
4. keys leave the state after the horizon (Spark's TTL), so the state stays bounded.
"""

from __future__ import annotations

import json
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from builders import isolated_group, make_events, wire
from oracle import group_values
from test_stream_exactly_once import CRASHING_JOB, _run_job
from test_stream_hostile import SPEC
from test_stream_job import assert_values, read_online

from weir.runtime import RuntimeConfig, build_config
from weir.spec import parse_spec_text
from weir.spec.models import FeatureGroup

pytestmark = pytest.mark.integration


def _raw(e: dict[str, Any]) -> bytes:
    return json.dumps(wire(e)).encode("utf-8")


def _recent_events(n: int, seed: int) -> list[dict[str, Any]]:
    """Events of the last hours (the state's horizon runs in processing time; seeding reads recent days)."""
    start = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=3)
    return make_events(n, seed=seed, start=start, span_h=2)


def _oracle(records: list[bytes]) -> tuple[list[dict[str, Any]], list[str]]:
    """(unique events in arrival order, the event ids of the copies) in plain Python: a copy has the id and
    event day (``(d, d+1]``) of an earlier record."""
    seen: set[tuple[str, Any]] = set()
    kept: list[dict[str, Any]] = []
    copies: list[str] = []
    for value in records:
        e = json.loads(value)
        ts = datetime.fromisoformat(e["event_ts"].replace("Z", "")).replace(tzinfo=None)
        key = (e["txn_id"], (ts - timedelta(microseconds=1)).date())
        if key in seen:
            copies.append(e["txn_id"])
        else:
            seen.add(key)
            kept.append({**e, "event_ts": ts})
    return kept, copies


def _config(lake_dir: Path, tag: str) -> RuntimeConfig:
    run = uuid.uuid4().hex[:8]
    return build_config(lake_path=str(lake_dir / f"{tag}-{run}"), checkpoint_path=str(lake_dir / f"{tag}-ck-{run}"),
                        dynamodb_table_prefix=f"{tag}{run}_")


def _assert_each_once(spark: Any, config: RuntimeConfig, group: FeatureGroup, records: list[bytes],
                      earlier_reason: str | None = None) -> None:
    """Event log, dead letters and online values against the oracle over ``records``."""
    from weir.lake.paths import deadletter_path, events_path

    kept, copies = _oracle(records)
    logged = sorted(r[0] for r in spark.read.format("delta").load(events_path(config, group.name))
                    .select("txn_id").collect())
    assert logged == sorted(e["txn_id"] for e in kept)
    dead = spark.read.format("delta").load(deadletter_path(config, group.name)).collect()
    assert Counter(c for r in dead for c in r["reason_codes"]) == Counter({"duplicate_event_id": len(copies)})
    assert sorted(json.loads(bytes(r["value"]))["txn_id"] for r in dead) == sorted(copies)
    if earlier_reason is not None:
        assert any(earlier_reason in r["reason"] for r in dead)
    t = max(e["event_ts"] for e in kept)
    users = sorted({e["user_id"] for e in kept})
    got = read_online(config, group, users, t)
    for (user,), want in group_values(group, kept, t).items():
        assert got[user].found
        assert_values(got[user].values, want, user)


@pytest.fixture
def group_and_store(stack: RuntimeConfig, lake_dir: Path, request: pytest.FixtureRequest,
                    ) -> Iterator[tuple[RuntimeConfig, FeatureGroup]]:
    from weir.online.store import DynamoOnlineStore

    config = _config(lake_dir, request.node.name[5:9])
    group = parse_spec_text(SPEC.format(topic=f"weir-test-dedup-{uuid.uuid4().hex[:8]}"))
    store = DynamoOnlineStore(config)
    try:
        yield config, group
    finally:
        store.drop_table(group.name)


def test_copies_across_batches_and_a_restart_without_reading_the_log(
        group_and_store: tuple[RuntimeConfig, FeatureGroup], spark: Any, tmp_path: Path) -> None:
    from pyspark.sql import functions as F

    from weir.lake.paths import events_path, stream_metrics_path
    from weir.stream import StreamOptions, produce_records, run_stream

    config, group = group_and_store
    events = _recent_events(12, seed=21)
    batch0 = [*map(_raw, events[:6]), _raw(events[1])]  # a copy in the same micro-batch
    batch1 = [_raw(events[0]), _raw(events[2]), *map(_raw, events[6:9])]  # copies of the first batch's events
    batch2 = [_raw(events[3]), _raw(events[7]), *map(_raw, events[9:])]  # after a restart of the query
    log_dir = Path(events_path(config, group.name))
    aside = tmp_path / "log-data-aside"

    def hide_log_data(batch_id: int, stage: str) -> None:
        """From the end of batch 0 on, the event log's data files are gone (its Delta log stays)."""
        if (batch_id, stage) == (0, "after_events"):
            for f in log_dir.rglob("*.parquet"):
                target = aside / f.relative_to(log_dir)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(f, target)

    produce_records(config, group, batch0, partition=0)
    produce_records(config, group, batch1, partition=0)
    run_stream(spark, group, config, StreamOptions(available_now=True, max_offsets_per_trigger=len(batch0)),
               on_stage=hide_log_data)
    assert list(aside.rglob("*.parquet"))  # batch 0's files were unreadable for batch 1
    produce_records(config, group, batch2, partition=0)
    run_stream(spark, group, config, StreamOptions(available_now=True))  # a new query id, the same checkpoint
    for f in aside.rglob("*.parquet"):  # the files back, for the checks
        shutil.move(f, log_dir / f.relative_to(aside))

    _assert_each_once(spark, config, group, batch0 + batch1 + batch2, "seen in an earlier micro-batch")
    metrics = spark.read.format("delta").load(stream_metrics_path(config)).where(F.col("group") == group.name)
    assert sorted((r["batch_id"], r["drops"].get("duplicate_event_id", 0)) for r in metrics.collect()) == [
        (0, 1), (1, 2), (2, 2)]


def test_a_stateless_checkpoint_is_migrated_from_its_committed_offsets(
        group_and_store: tuple[RuntimeConfig, FeatureGroup], spark: Any) -> None:
    from pyspark.sql import functions as F

    from weir.lake.paths import checkpoint_path, stream_metrics_path
    from weir.stream import StreamOptions, produce_records, run_stream
    from weir.stream.job import BATCH_TS_COL, BatchProcessor, kafka_reader, start_foreach_batch

    config, group = group_and_store
    events = _recent_events(10, seed=22)
    first = [*map(_raw, events[:6]), _raw(events[0])]
    # the stateless plan of the previous release: raw Kafka rows into foreachBatch (parse and dedup there)
    options = StreamOptions(available_now=True)
    processor = BatchProcessor(spark, group, config, options=options)
    legacy = kafka_reader(spark, group, config, options).withColumn(BATCH_TS_COL, F.current_timestamp())
    produce_records(config, group, first, partition=0)
    start_foreach_batch(legacy, "legacy", checkpoint_path(config, group.name), processor, options).awaitTermination()

    second = [_raw(events[1]), _raw(events[4]), *map(_raw, events[6:])]
    produce_records(config, group, second, partition=0)
    run_stream(spark, group, config, options)

    ck = Path(checkpoint_path(config, group.name))
    assert [p.name.split("-")[0] for p in ck.parent.glob(f"{ck.name}.stateless-*")] == [f"{ck.name}.stateless"]
    assert (ck / "state").is_dir()
    metrics = (spark.read.format("delta").load(stream_metrics_path(config))
               .where(F.col("group") == group.name).orderBy("started_at").collect())
    assert [m["input_rows"] for m in metrics] == [len(first), len(second)]  # nothing read twice
    _assert_each_once(spark, config, group, first + second, "seen in an earlier micro-batch")


def test_a_crash_after_the_online_writes_keeps_each_event_once(stack: RuntimeConfig, spark: Any, lake_dir: Path,
                                                               tmp_path: Path) -> None:
    from weir.online.store import DynamoOnlineStore
    from weir.stream import produce_records

    text = SPEC.format(topic=f"weir-test-dedup-crash-{uuid.uuid4().hex[:8]}")
    config, group = isolated_group(text, lake_dir, tmp_path, "dc")
    events = _recent_events(40, seed=23)
    records = [*map(_raw, events[:15]), *(_raw(events[i]) for i in (1, 3, 5, 7, 9)),  # batch 0
               *map(_raw, events[15:30]), *(_raw(events[i]) for i in (0, 2, 15, 16, 20)),  # batch 1
               *map(_raw, events[30:]), *(_raw(events[i]) for i in (4, 21, 31))]  # batch 2
    produce_records(config, group, records, partition=0)
    store = DynamoOnlineStore(config)
    try:
        args = ["--trigger-seconds", "1", "--max-offsets-per-trigger", "20"]
        crashed = _run_job(config, group.name, ["1", "after_online", *args], timeout=420, script=CRASHING_JOB)
        assert crashed.returncode == 137, crashed.stdout[-3000:] + crashed.stderr[-3000:]
        assert "crashing in batch 1 after_online" in crashed.stdout
        drained = _run_job(config, group.name, ["--available-now", "--max-offsets-per-trigger", "20"], timeout=600)
        assert drained.returncode == 0, drained.stdout[-3000:] + drained.stderr[-3000:]
        _assert_each_once(spark, config, group, records, "seen in an earlier micro-batch")
    finally:
        store.drop_table(group.name)


def test_a_key_leaves_the_state_after_its_horizon(group_and_store: tuple[RuntimeConfig, FeatureGroup],
                                                  spark: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys are kept for the horizon (days in production; 3 s here) and then evicted by Spark's TTL: the state
    holds only the keys of recent batches, and a copy arriving after the horizon is no longer caught by it (the
    documented limit: under the horizon's condition such a copy is late). Fails if keys never expire."""
    import weir.stream.dedup as dedup
    from weir.lake.delta import table_exists
    from weir.lake.paths import checkpoint_path, deadletter_path, events_path
    from weir.stream import StreamOptions, produce_records, run_stream

    monkeypatch.setattr(dedup, "dedup_horizon_us", lambda _group: 3_000_000)
    config, group = group_and_store
    events = _recent_events(5, seed=24)
    produce_records(config, group, [_raw(e) for e in events[:3]], partition=0)
    run_stream(spark, group, config, StreamOptions(available_now=True))
    time.sleep(4.0)  # past the horizon of every key of the first batch
    # events[2] is the newest so far: its copy is on time (not late), so only the state could catch it
    produce_records(config, group, [_raw(events[2]), _raw(events[3])], partition=0)
    run_stream(spark, group, config, StreamOptions(available_now=True))

    logged = sorted(r[0] for r in spark.read.format("delta").load(events_path(config, group.name))
                    .select("txn_id").collect())
    assert logged == sorted([events[0]["txn_id"], events[1]["txn_id"], events[2]["txn_id"], events[2]["txn_id"],
                             events[3]["txn_id"]])
    dead = deadletter_path(config, group.name)
    assert not table_exists(spark, dead) or spark.read.format("delta").load(dead).count() == 0
    state = (spark.read.format("statestore").option("stateVarName", "first_seen")
             .load(checkpoint_path(config, group.name)))
    held = sorted(r["key"][0] for r in state.collect())
    assert held == sorted([events[2]["txn_id"], events[3]["txn_id"]])  # the first batch's keys were evicted

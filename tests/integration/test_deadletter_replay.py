"""Dead-letter replay on the real stack: records go back through the stream's parse and merge path exactly once.

A stream drains valid and malformed records; a record dead-lettered under an older spec (planted as the row the
old stream wrote: raw bytes, reason, its Kafka position) is replayed with the current spec and reaches the event
log and the online store (values equal the plain-Python oracle over every valid event); the malformed ones stay
dead (dead-lettered again once, tagged with the replay's query id); a second replay changes nothing.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from builders import make_events, wire
from test_stream_job import assert_online_matches_oracle, make_group

from weir.runtime import RuntimeConfig, build_config

pytestmark = pytest.mark.integration


def test_replay_is_exactly_once_and_keeps_the_audit_trail(stack: RuntimeConfig, spark: Any, lake_dir: Path) -> None:
    from pyspark.sql import functions as F

    from weir.lake.paths import deadletter_path, events_path
    from weir.lake.paths import deadletter_replays_path as replays_path
    from weir.stream import StreamOptions, produce_records, run_stream
    from weir.stream.replay import REPLAY_QUERY_ID, dead_letters, replay

    run = uuid.uuid4().hex[:8]
    config = build_config(lake_path=str(lake_dir / f"replay-{run}"), checkpoint_path=str(lake_dir / f"rck-{run}"),
                          dynamodb_table_prefix=f"rp{run}_")
    group = make_group("replay_stream", f"weir-test-replay-{run}")
    events = make_events(8, seed=5)
    malformed: list[Any] = [b"not json at all {", json.dumps({**wire(events[0]), "user_id": None})]
    produce_records(config, group, [*(wire(e) for e in events), *malformed], partition=0)
    run_stream(spark, group, config, StreamOptions(available_now=True))
    dl_path = deadletter_path(config, group.name)
    assert spark.read.format("delta").load(dl_path).count() == 2

    # a valid record that an older spec refused, as the stream wrote it then (planted: the old spec is gone)
    fixed = {**events[-1], "txn_id": "fixed-1", "user_id": "u2", "amount": 42.5,
             "event_ts": events[-1]["event_ts"] - timedelta(minutes=10)}
    dl = spark.read.format("delta").load(dl_path)
    value = json.dumps(wire(fixed)).encode()
    row = {"value": value, "value_str": value.decode(), "topic": "old-topic", "partition": 0, "offset": 7_777,
           "kafka_ts": fixed["event_ts"], "batch_id": 0, "query_id": "q-old", "dead_lettered_at": fixed["event_ts"],
           "reason": "wrong type for amount: expected long, got double (spec before the fix)",
           "reason_codes": ["wrong_type"]}
    planted = spark.createDataFrame([tuple(row[f.name] for f in dl.schema.fields)], dl.schema)
    planted.write.format("delta").mode("append").save(dl_path)

    first = replay(spark, config, group)
    assert (first.replay_id, first.selected, first.now_valid, first.still_invalid) == (0, 3, 1, 2)
    assert_online_matches_oracle(config, group, [*events, fixed])
    logged = spark.read.format("delta").load(events_path(config, group.name))
    assert logged.where(F.col("txn_id") == "fixed-1").count() == 1
    assert logged.where((F.col("topic") == "old-topic") & (F.col("offset") == 7_777)).count() == 1  # audit trail
    dead = spark.read.format("delta").load(dl_path)
    assert dead.where(F.col("query_id") == REPLAY_QUERY_ID).count() == 2  # the malformed ones, dead again once
    marks = spark.read.format("delta").load(replays_path(config)).collect()
    assert sorted((m["offset"], m["outcome"].split(":")[0]) for m in marks if m["topic"] == "old-topic") == [
        (7_777, "valid")]
    assert len(marks) == 3
    assert all(r["replayed"] for r in dead_letters(spark, config, group).where(
        F.col("query_id") != REPLAY_QUERY_ID).collect())

    before = (logged.count(), dead.count())
    second = replay(spark, config, group)
    assert (second.replay_id, second.selected) == (None, 0)
    assert (spark.read.format("delta").load(events_path(config, group.name)).count(),
            spark.read.format("delta").load(dl_path).count()) == before
    assert_online_matches_oracle(config, group, [*events, fixed])

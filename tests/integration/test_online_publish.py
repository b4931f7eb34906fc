"""Publish -> DynamoDB (real local server) -> read back, on real Spark + Delta via the batch engine.

Every value served is checked against the plain-Python oracle (tests/oracle.py) over the same events, and
against the Delta feature table the batch engine wrote for the same run time. No mocks.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from oracle import group_values, same_value, us

from weir.aws import dynamodb_client
from weir.batch import backfill
from weir.compute.py_agg import py_tile_from_rows
from weir.compute.windows import group_hops
from weir.lake.delta import table_version
from weir.lake.paths import features_path, tiles_path
from weir.online.client import OnlineClient
from weir.online.publish import PublishSummary, publish
from weir.online.store import DynamoOnlineStore
from weir.runtime import RuntimeConfig, build_config
from weir.spec import parse_spec_text
from weir.spec.models import FeatureGroup
from weir.stream.merge import GroupLayout
from weir.stream.online import StreamOnlineWriter

pytestmark = pytest.mark.integration

SPEC = """
name: {name}
entity: {{name: user, keys: [user_id]}}
source:
  delta: {table}
  event_time: event_ts
  columns: {{user_id: string, merchant_id: string, amount: double, status: string, event_ts: timestamp}}
features:
  - {{name: txn_count, aggregation: count, windows: [1h, 1d, 7d]}}
  - {{name: txn_amount, aggregation: sum, column: amount, windows: [1d, 30d]}}
  - {{name: declined_count, aggregation: count, where: "status = 'declined'", windows: [1d]}}
  - {{name: avg_amount, aggregation: avg, column: amount, windows: [7d]}}
  - {{name: max_amount, aggregation: max, column: amount, windows: [7d], default: -1.0}}
  - {{name: amount_std, aggregation: stddev, column: amount, windows: [7d]}}
  - {{name: first_merchant, aggregation: first, column: merchant_id, windows: [2d]}}
  - {{name: last_merchant, aggregation: last, column: merchant_id}}
  - {{name: lifetime_amount, aggregation: sum, column: amount}}
  - {{name: distinct_merchants, aggregation: approx_count_distinct, column: merchant_id, windows: [30d]}}
online: {{ttl: 2d, freshness_slo: 1h}}
"""
START = date(2026, 3, 1)
DAY1, DAY2 = START + timedelta(days=2), START + timedelta(days=3)  # published run times: end of these days
T1 = datetime.combine(DAY1 + timedelta(days=1), datetime.min.time())
T2 = datetime.combine(DAY2 + timedelta(days=1), datetime.min.time())


def make_events() -> list[dict[str, Any]]:
    rnd = random.Random(7)
    base = datetime.combine(START, datetime.min.time())
    events = []
    for _ in range(120):
        events.append({"user_id": rnd.choice(["u1", "u2", "u3", "u4"]),
                       "merchant_id": rnd.choice(["m1", "m2", "m3", None]),
                       "amount": None if rnd.random() < 0.05 else round(rnd.uniform(1, 100), 2),
                       "status": rnd.choice(["approved", "approved", "declined"]),
                       "event_ts": base + timedelta(seconds=rnd.randrange(4 * 86400))})
    # 'old' is active on day 1 only: past its 2d TTL at T2 (not published then); 'late' buys just before T2
    events.append({"user_id": "old", "merchant_id": "m1", "amount": 5.0, "status": "approved",
                   "event_ts": base + timedelta(hours=5)})
    events.append({"user_id": "late", "merchant_id": "m2", "amount": 9.0, "status": "declined",
                   "event_ts": T2 - timedelta(minutes=20)})
    events.append({"user_id": "only_day3", "merchant_id": "m3", "amount": 1.0, "status": "approved",
                   "event_ts": T1 - timedelta(hours=3)})
    return events


@dataclass
class Published:
    config: RuntimeConfig
    group: FeatureGroup
    events: list[dict[str, Any]]
    runs: list[PublishSummary]
    specs_dir: Path

    def client(self) -> OnlineClient:
        return OnlineClient(self.config, groups=[self.group])


@pytest.fixture(scope="module")
def published(spark, stack: RuntimeConfig, tmp_path_factory: pytest.TempPathFactory) -> Published:  # type: ignore[no-untyped-def]
    suffix = uuid.uuid4().hex[:6]
    config = build_config(dynamodb_table_prefix=f"pub{suffix}_")
    specs = tmp_path_factory.mktemp("specs")
    name = f"online_spend_{suffix}"
    text = SPEC.format(name=name, table=f"online_txns_{suffix}")
    (specs / f"{name}.yaml").write_text(text)
    group = parse_spec_text(text, str(specs / f"{name}.yaml"))
    events = make_events()
    df = spark.createDataFrame(
        [(e["user_id"], e["merchant_id"], e["amount"], e["status"], e["event_ts"]) for e in events],
        "user_id string, merchant_id string, amount double, status string, event_ts timestamp")
    df.write.format("delta").mode("overwrite").save(config.table_path(f"online_txns_{suffix}"))
    backfill(spark, group, START, DAY2, config)
    runs = [publish(spark, group, DAY1, config, progress=False),   # older run first
            publish(spark, group, DAY2, config, progress=True),    # newer run
            publish(spark, group, DAY1, config, progress=False),   # a replay of the older run: nothing changes
            publish(spark, group, DAY2, config, progress=False)]   # the newer run again: idempotent
    return Published(config, group, events, runs, specs)


def expected_at(p: Published, t: datetime) -> dict[str, dict[str, Any]]:
    """Oracle values of the entities still within their TTL at ``t``."""
    ttl = timedelta(days=2)
    out = {}
    for (user,), values in group_values(p.group, p.events, t).items():
        if values["newest_event_us"] + us(datetime.min.replace(year=1970) + ttl) > us(t):
            out[user] = values
    return out


def assert_served(p: Published, t: datetime, users: list[str]) -> dict[str, Any]:
    expected = expected_at(p, t)
    results = p.client().get_features([p.group.name], [{"user_id": u} for u in users], at=t)
    by_user = {}
    for u, res in zip(users, results, strict=True):
        g = res.groups[p.group.name]
        by_user[u] = g
        if u not in expected:
            assert not g.found, f"{u} should be missing at {t}"
            assert g.values["txn_count_1d"] == 0 and g.values["max_amount_max_7d"] == -1.0
            assert g.values["txn_amount_sum_30d"] is None
            continue
        assert g.found, f"{u} missing at {t}"
        want = dict(expected[u])
        assert us(g.event_ts) == want.pop("newest_event_us")
        for col, value in want.items():
            if col == "max_amount_max_7d" and value is None:
                value = -1.0  # the spec's default
            assert same_value(g.values[col], value), f"{col} of {u} at {t}: served {g.values[col]}, oracle {value}"
    return by_user


USERS = ["u1", "u2", "u3", "u4", "old", "late", "only_day3", "never_seen"]


def test_publish_summaries_newest_wins_and_replays_change_nothing(published: Published) -> None:
    older, newer, replay_older, replay_newer = published.runs
    assert older.written == older.entities - older.expired > 0 and older.skipped == 0
    # 'old' is past its TTL at T2 (served as missing) but still written: the item holds its lifetime state
    assert newer.expired == 0 and "old" not in expected_at(published, T2)
    assert newer.written == newer.entities and newer.skipped == 0
    assert replay_older.written == 0 and replay_older.skipped == older.written
    assert replay_newer.written == newer.written and replay_newer.skipped == 0
    assert newer.items_per_s > 0 and newer.source_version == newer.source_version
    assert "skipped (newer kept)" in "\n".join(newer.lines())


def test_values_at_run_time_equal_oracle_and_feature_table(published: Published, spark) -> None:  # type: ignore[no-untyped-def]
    served = assert_served(published, T2, USERS)
    version = table_version(spark, tiles_path(published.config, published.group.name))
    for u in ["u1", "late"]:
        g = served[u]
        assert g.source_version == version and g.as_of == T2.replace(tzinfo=UTC)
        assert g.age_s == 0 and g.stale is False
    rows = spark.read.format("delta").load(features_path(published.config, published.group.name)) \
        .where(f"run_ts = '{T2:%Y-%m-%d %H:%M:%S}'").collect()
    assert rows
    for r in rows:
        row = r.asDict()
        g = served.get(row["user_id"])
        if g is None or not g.found:
            continue
        for col in published.group.output_column_names():
            want = row[col] if not (col == "max_amount_max_7d" and row[col] is None) else -1.0
            assert same_value(g.values[col], want), f"{col} of {row['user_id']}: online {g.values[col]}, Delta {want}"


def test_windows_slide_with_read_time_and_expired_items_are_not_served(published: Published) -> None:
    later = T2 + timedelta(days=1)
    served = assert_served(published, later, USERS)
    assert served["late"].found and served["late"].values["txn_count_1d"] == 0
    assert served["late"].values["txn_count_7d"] >= 1
    assert served["late"].stale is True and served["late"].age_s == 86400
    assert not served["only_day3"].found  # newest event T1 - 3h, TTL 2d: expired by T2 + 1d
    assert_served(published, T2 + timedelta(hours=3, minutes=30), USERS)  # not on a hop boundary
    assert_served(published, T2 + timedelta(minutes=10), ["late", "u1"])


def test_rerunning_a_half_published_batch_converges(published: Published, spark) -> None:  # type: ignore[no-untyped-def]
    client = dynamodb_client(published.config)
    table = f"{published.config.dynamodb_table_prefix}{published.group.name}"
    for u in ["u1", "u3", "late"]:  # as if the run had died before writing these
        client.delete_item(TableName=table, Key={"pk": {"S": u}})
    again = publish(spark, published.group, DAY2, published.config, progress=False, log=False)
    assert again.written == published.runs[1].written and again.skipped == 0
    assert_served(published, T2, USERS)


def test_publish_log_records_each_run(published: Published, spark) -> None:  # type: ignore[no-untyped-def]
    log = spark.read.format("delta").load(published.config.table_path("_weir/publish_log")) \
        .where(f"`group` = '{published.group.name}'").orderBy("finished_at").collect()
    assert [r.ds for r in log][:4] == [DAY1, DAY2, DAY1, DAY2]
    assert [r.items_written for r in log][:4] == [r.written for r in published.runs]


def test_a_stream_event_after_the_ttl_merges_into_the_kept_item(published: Published) -> None:
    """'old' was last active on day 1, past its 2d TTL at both runs: served as missing, but its item is kept.
    A new event streamed after T2 is then served with the older events (lifetime sum, 30d windows), as the
    oracle over all events says. (Runs last: it adds an event to the module's item.)"""
    new = {"user_id": "old", "merchant_id": "m9", "amount": 7.0, "status": "approved",
           "event_ts": T2 + timedelta(hours=1)}
    passes = {"declined_count": [False]}  # its where: status = 'declined'
    tiles = [py_tile_from_rows(published.group, [new], hop, passes) for hop in group_hops(published.group)]
    writer = StreamOnlineWriter(DynamoOnlineStore(published.config), GroupLayout(published.group), "q-old")
    writer.apply({"old": tiles}, 0, us(new["event_ts"]), 99)
    published.events.append(new)
    at = T2 + timedelta(hours=2)
    served = assert_served(published, at, ["old"])["old"]
    assert served.values["lifetime_amount_sum"] == 12.0  # day 1's 5.0 + the new 7.0
    assert served.values["txn_count_7d"] == 2 and served.values["last_merchant_last"] == "m9"

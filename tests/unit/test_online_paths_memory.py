"""The feature client, the stream writer and the daily freshness check over the in-memory online store (no
server): values against the plain-Python oracle, expiry, replays, concurrent writers, stale and missing tables.
The same paths run against the real servers in tests/integration (test_online_server, test_stream_job)."""

from __future__ import annotations

import random
import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from oracle import group_values, us

from weir.compute.layout import expires_at_s, run_time_us
from weir.compute.py_agg import py_tile_from_rows
from weir.compute.windows import group_hops, tile_end
from weir.online.client import OnlineClient
from weir.online.codec import encode_tiles
from weir.online.interface import OnlineItem, StreamPart, StreamState
from weir.online.memory import InMemoryOnlineStore
from weir.pipeline.steps import check_freshness
from weir.runtime import RuntimeConfig, build_config
from weir.spec import parse_spec_text
from weir.stream.merge import GroupLayout, merge_item_tiles
from weir.stream.online import StreamOnlineWriter

SPEC = """
name: mem_spend
entity: {name: user, keys: [user_id]}
source:
  kafka: {topic: mem}
  event_time: ts
  columns: {user_id: string, merchant_id: string, amount: double, ts: timestamp}
features:
  - {name: n, aggregation: count, windows: [1h, 1d, 7d]}
  - {name: total, aggregation: sum, column: amount, windows: [1d, 30d]}
  - {name: top, aggregation: max, column: amount, windows: [7d]}
  - {name: last_merchant, aggregation: last, column: merchant_id}
  - {name: life, aggregation: sum, column: amount}
online: {ttl: 10d, freshness_slo: 1h}
"""
GROUP = parse_spec_text(SPEC)
T0 = datetime(2026, 4, 1)


def events(n: int, seed: int, start: datetime = T0, users: int = 4) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    out = [{"user_id": f"u{rnd.randint(1, users)}", "merchant_id": f"m{rnd.randint(1, 4)}",
            "amount": round(rnd.uniform(1, 100), 2), "ts": start + timedelta(seconds=rnd.randint(0, 5 * 86400))}
           for _ in range(n)]
    return sorted(out, key=lambda e: e["ts"])


def micro_batch(evs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per entity, the tiles build_tiles gives for these events (online form)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for hop in group_hops(GROUP):
        cells: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for e in evs:
            cells.setdefault((e["user_id"], tile_end(us(e["ts"]), hop)), []).append(e)
        for (user, _), rows in cells.items():
            out.setdefault(user, []).append(py_tile_from_rows(GROUP, rows, hop))
    return out


def read(store: InMemoryOnlineStore, users: list[str], at: datetime) -> dict[str, Any]:
    client = OnlineClient(RuntimeConfig(), groups=[GROUP], store=store)
    return {u: r.groups[GROUP.name] for u, r in zip(users, client.get_features([GROUP.name], users, at=at),
                                                    strict=True)}


def assert_oracle(store: InMemoryOnlineStore, evs: list[dict[str, Any]], at: datetime) -> None:
    users = sorted({e["user_id"] for e in evs})
    got = read(store, users, at)
    for (user,), want in group_values(GROUP, evs, at).items():
        assert got[user].found and us(got[user].event_ts) == want["newest_event_us"]
        for col, value in want.items():
            if col != "newest_event_us":
                assert got[user].values[col] == pytest.approx(value), (user, col)


def stream(store: InMemoryOnlineStore, evs: list[dict[str, Any]], batches: int, query: str = "q",
           first_id: int = 0) -> None:
    writer = StreamOnlineWriter(store, GroupLayout(GROUP), query)
    size = -(-len(evs) // batches)
    for i in range(batches):
        chunk = evs[i * size:(i + 1) * size]
        if chunk:
            writer.apply(micro_batch(chunk), first_id + i, us(chunk[-1]["ts"]), i)


# --------------------------------------------------------------------------------------------- the stream writer
@pytest.mark.parametrize("batches", [1, 5])
def test_streamed_values_match_the_oracle(batches: int) -> None:
    store = InMemoryOnlineStore()
    evs = events(150, seed=batches)
    stream(store, evs, batches)
    assert_oracle(store, evs, evs[-1]["ts"])
    assert_oracle(store, evs, evs[-1]["ts"] + timedelta(days=2))  # windows slide with read time


def test_a_replayed_micro_batch_is_counted_once() -> None:
    store = InMemoryOnlineStore()
    evs = events(60, seed=3)
    writer = StreamOnlineWriter(store, GroupLayout(GROUP), "q")
    tiles = micro_batch(evs)
    first = writer.apply(tiles, 0, us(evs[-1]["ts"]), 1)
    again = writer.apply(tiles, 0, us(evs[-1]["ts"]), 1)  # foreachBatch after a crash: same id, same rows
    assert first.written == len(tiles) and (again.written, again.skipped_replay) == (0, len(tiles))
    assert_oracle(store, evs, evs[-1]["ts"])


def test_concurrent_writers_never_lose_events() -> None:
    """Two queries (an old and a new checkpoint, say) write the same entities at once: optimistic concurrency
    re-reads and re-merges on every lost race, so each event is counted once."""
    store = InMemoryOnlineStore()
    evs = events(200, seed=4, users=3)
    halves = [evs[0::2], evs[1::2]]
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            stream(store, halves[i], batches=10, query=f"q{i}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert_oracle(store, evs, evs[-1]["ts"])


def test_stream_and_publish_on_one_item_count_each_event_once() -> None:
    """The publish of day D lands on items the stream already wrote; then the stream goes on."""
    store = InMemoryOnlineStore()
    evs = events(120, seed=6)
    day = evs[len(evs) // 2]["ts"].date()
    run_us = run_time_us(day)
    stream(store, evs[:80], batches=3)
    layout = GroupLayout(GROUP)
    items = []
    for user, tiles in micro_batch([e for e in evs if us(e["ts"]) <= run_us]).items():
        merged, newest = merge_item_tiles(layout, [], tiles)
        assert newest is not None
        items.append(OnlineItem(user, newest, run_us, 5, expires_at_s(GROUP, newest),
                                encode_tiles(merged)))
    assert store.write_items(GROUP.name, items).skipped == 0
    stream(store, evs[80:], batches=2, first_id=3)
    assert_oracle(store, evs, evs[-1]["ts"])


# --------------------------------------------------------------------------------------------- the client
def test_missing_table_expired_and_unknown_entities_get_defaults() -> None:
    store = InMemoryOnlineStore()
    got = read(store, ["u1"], T0)  # the group was never published: every entity is missing
    assert not got["u1"].found and got["u1"].values["n_count_1d"] == 0 and got["u1"].values["total_sum_1d"] is None
    evs = events(20, seed=7, users=1)
    stream(store, evs, batches=1)
    newest = evs[-1]["ts"]
    assert read(store, ["u1", "nobody"], newest)["u1"].found
    assert not read(store, ["nobody"], newest)["nobody"].found
    ttl = timedelta(microseconds=GROUP.online.ttl_us)
    expired = read(store, ["u1"], newest + ttl + timedelta(seconds=1))["u1"]  # still stored, served as missing
    assert not expired.found and expired.values["life_sum"] is None and expired.values["n_count_7d"] == 0
    # the group has lifetime features: the item holds their state, so the TTL sweep never deletes it
    assert store.expire(now_s=(newest + 100 * ttl).replace(tzinfo=UTC).timestamp()) == 0
    assert set(store.get_items(GROUP.name, ["u1"])) == {"u1"}


def test_age_and_stale_come_from_the_newest_part() -> None:
    store = InMemoryOnlineStore()
    evs = events(10, seed=8, users=1)
    writer = StreamOnlineWriter(store, GroupLayout(GROUP), "q")
    run = evs[-1]["ts"] + timedelta(minutes=5)
    writer.apply(micro_batch(evs), 0, us(run), 4)
    fresh = read(store, ["u1"], run + timedelta(minutes=30))["u1"]
    assert fresh.found and fresh.age_s == 1800 and fresh.stale is False and fresh.source_version == 4
    assert read(store, ["u1"], run + timedelta(hours=2))["u1"].stale is True


def test_the_streams_merge_sees_the_batch_cutoff() -> None:
    """The writer's merge drops stream tiles the batch part already covers (ending at or before its run_us)."""
    writer = StreamOnlineWriter(InMemoryOnlineStore(), GroupLayout(GROUP), "q")
    evs = events(30, seed=9, users=1)
    cut = run_time_us(evs[15]["ts"].date())
    state = StreamState("u1", None, None, None, cut - 1, cut, {}, 3, None)
    part = writer.merge_for(micro_batch(evs), us(evs[-1]["ts"]), 2)("u1", state)
    assert isinstance(part, StreamPart) and part.run_us == us(evs[-1]["ts"])
    from weir.online.codec import decode_tiles

    assert all(t["tile_end_us"] > cut for t in decode_tiles(part.tiles))
    assert part.expires_at == expires_at_s(GROUP, us(evs[-1]["ts"]))


# --------------------------------------------------------------------------------------------- freshness check
@pytest.fixture()
def config(tmp_path: Path) -> RuntimeConfig:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "mem_spend.yaml").write_text(SPEC)
    return build_config(state_dir=tmp_path / "state", specs_dir=specs)


def _published(store: InMemoryOnlineStore, day: date, newest: datetime) -> None:
    store.write_items(GROUP.name, [OnlineItem(f"u{i}", us(newest) - i, run_time_us(day), 1,
                                              expires_at_s(GROUP, us(newest)), b"t")
                                   for i in range(3)])


def test_freshness_check_fails_without_items_and_on_an_older_run(config: RuntimeConfig) -> None:
    day = date(2026, 4, 3)
    store = InMemoryOnlineStore(config)
    with pytest.raises(RuntimeError, match=f"online table {config.dynamodb_table_prefix}mem_spend is empty"):
        check_freshness(GROUP.name, day, config, store=store)
    store.apply_stream_tiles(GROUP.name, "q", 0, ["s"], lambda pk, st: StreamPart(b"", None, 1, 1, None))
    with pytest.raises(RuntimeError, match="is empty"):  # a stream part alone is no publish
        check_freshness(GROUP.name, day, config, store=store)
    _published(store, day - timedelta(days=1), datetime(2026, 4, 2, 23))
    with pytest.raises(RuntimeError, match="older than the run of 2026-04-03"):
        check_freshness(GROUP.name, day, config, store=store)


def test_freshness_check_reports_age_against_the_slo(config: RuntimeConfig) -> None:
    day = date(2026, 4, 3)
    store = InMemoryOnlineStore(config)
    newest = datetime(2026, 4, 3, 23, 30, tzinfo=UTC)
    _published(store, day, newest)
    out = check_freshness(GROUP.name, day, config, now=newest + timedelta(minutes=20), store=store)
    assert out["sampled"] == 3 and out["event_age_s"] == 1200 and out["stale"] is False
    out = check_freshness(GROUP.name, day, config, now=newest + timedelta(hours=3), store=store)
    assert out["stale"] is True and out["newest_run_ts"] == "2026-04-04T00:00:00+00:00"

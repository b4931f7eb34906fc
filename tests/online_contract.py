"""The online store's contract (weir.online.interface), as scenarios run against every implementation.

``tests/unit/test_online_memory_store.py`` runs them on the in-memory store, and
``tests/integration/test_online_store_contract.py`` on DynamoOnlineStore against the real local server, so the
fast store the unit tests rely on is held to what the real one does. Stream merges here treat the tiles as an
opaque log (``b"q:0;q:1;"``): the store must not care what they hold; the merge math has its own tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pytest

from weir.online.errors import OnlineStoreError
from weir.online.interface import (
    NOT_FOUND,
    ApplyStats,
    OnlineItem,
    OnlineStore,
    StreamMerge,
    StreamPart,
    StreamState,
    WriteStats,
)
from weir.online.schema import EXPIRES_AT, ITEM_VERSION, STREAM_BATCHES, STREAM_NEWEST, STREAM_TILES

S = 1_000_000  # micros per second
TTL_S = 3600


def batch_item(pk: str, newest_s: int, run_s: int, version: int = 1, tiles: bytes = b"b",
               ttl_s: int = TTL_S) -> OnlineItem:
    return OnlineItem(pk, newest_s * S, run_s * S, version, newest_s + ttl_s, tiles)


def log_merge(query_id: str, batch_id: int, newest_s: int, calls: list[StreamState | None] | None = None,
              ttl_s: int = TTL_S) -> StreamMerge:
    """A merge that appends ``query:batch;`` to the stream tiles; expiry from the newest event of either part."""

    def merge(pk: str, state: StreamState | None) -> StreamPart:
        if calls is not None:
            calls.append(state)
        old = state.tiles if state is not None and state.tiles else b""
        known = [newest_s * S, *((state.stream_newest_us, state.batch_newest_us) if state is not None else ())]
        newest_any = max(n for n in known if n is not None)
        return StreamPart(old + f"{query_id}:{batch_id};".encode(), newest_s * S, newest_s * S, 7,
                          newest_any // S + ttl_s)

    return merge


def expiry(store: OnlineStore, pk: str) -> int:
    return int(store.get_items("g", [pk], (EXPIRES_AT,), consistent=True)[pk][EXPIRES_AT])


def stream_tiles(store: OnlineStore, pk: str) -> bytes:
    return bytes(store.get_items("g", [pk], (STREAM_TILES,), consistent=True)[pk][STREAM_TILES])


# ---------------------------------------------------------------------------------------------- batch parts
def newest_wins_and_reruns_are_idempotent(store: OnlineStore) -> None:
    s = store.write_items("g", [batch_item("a", 200, 10, tiles=b"new"), batch_item("b", 100, 10, tiles=b"b1")])
    assert (s.written, s.skipped) == (2, 0)
    s = store.write_items("g", [batch_item("a", 150, 20, tiles=b"old"), batch_item("b", 100, 9, tiles=b"older")])
    assert (s.written, s.skipped) == (0, 2)
    s = store.write_items("g", [batch_item("b", 100, 11, tiles=b"b2")])
    assert (s.written, s.skipped) == (1, 0)
    s = store.write_items("g", [batch_item("b", 100, 11, tiles=b"b2")])
    assert (s.written, s.skipped) == (1, 0)
    got = store.get_items("g", ["a", "b", "nope"])
    assert set(got) == {"a", "b"}
    assert got["a"]["tiles"] == b"new" and got["a"]["newest_event_us"] == 200 * S
    assert got["b"]["tiles"] == b"b2" and got["b"]["run_us"] == 11 * S
    assert set(got["a"]) == {"pk", "newest_event_us", "run_us", "source_version", "expires_at", "tiles"}


def a_publish_never_lowers_expiry(store: OnlineStore) -> None:
    store.write_items("g", [batch_item("a", 1000, 10, ttl_s=5000)])
    # newer events with a shorter TTL (the spec changed): the values are replaced, the expiry is not lowered
    s = store.write_items("g", [batch_item("a", 2000, 20, tiles=b"newer", ttl_s=100)])
    assert s.written == 1
    assert expiry(store, "a") == 6000
    assert store.get_items("g", ["a"])["a"]["tiles"] == b"newer"


def bad_writes_are_refused(store: OnlineStore) -> None:
    with pytest.raises(OnlineStoreError, match="duplicate key pk='a'"):
        store.write_items("g", [batch_item("a", 1, 1), batch_item("b", 1, 1), batch_item("a", 2, 1)])
    with pytest.raises(OnlineStoreError, match="non-empty"):
        store.write_items("g", [batch_item("", 1, 1)])
    with pytest.raises(OnlineStoreError, match="non-empty"):
        store.get_items("g", ["a", ""])


def a_missing_table_reads_as_not_found(store: OnlineStore) -> None:
    with pytest.raises(OnlineStoreError) as exc:
        store.get_items("never_created", ["a"])
    assert exc.value.code == NOT_FOUND
    assert store.sample_run_times("never_created") == []


def run_times_are_sampled_from_batch_parts(store: OnlineStore) -> None:
    store.write_items("g", [batch_item(f"k{i}", 100 + i, 50) for i in range(5)])
    store.apply_stream_tiles("g", "q", 0, ["stream-only"], log_merge("q", 0, 500))
    got = store.sample_run_times("g")
    assert sorted((r.newest_event_us, r.run_us) for r in got) == [((100 + i) * S, 50 * S) for i in range(5)]
    assert len(store.sample_run_times("g", limit=2)) <= 2


def more_than_100_keys_read_in_one_call(store: OnlineStore) -> None:
    store.write_items("g", (batch_item(f"k{i}", 1000 + i, 5, tiles=bytes([i % 256])) for i in range(250)))
    got = store.get_items("g", [f"k{i}" for i in range(260)], attributes=("newest_event_us",))
    assert len(got) == 250 and got["k249"] == {"pk": "k249", "newest_event_us": 1249 * S}


# --------------------------------------------------------------------------------------------- stream parts
def a_replayed_batch_changes_nothing(store: OnlineStore) -> None:
    s = store.apply_stream_tiles("g", "q", 0, ["a", "b"], log_merge("q", 0, 100))
    assert (s.written, s.skipped_replay, s.conflicts) == (2, 0, 0)
    s = store.apply_stream_tiles("g", "q", 0, ["a", "b"], log_merge("q", 0, 100))
    assert (s.written, s.skipped_replay) == (0, 2)
    s = store.apply_stream_tiles("g", "q", 1, ["a"], log_merge("q", 1, 200))
    assert (s.written, s.skipped_replay) == (1, 0)
    assert stream_tiles(store, "a") == b"q:0;q:1;" and stream_tiles(store, "b") == b"q:0;"
    item = store.get_items("g", ["a"], (STREAM_BATCHES, ITEM_VERSION, STREAM_NEWEST, EXPIRES_AT))["a"]
    assert item[STREAM_BATCHES] == {"q": 1} and item[ITEM_VERSION] == 2
    assert item[STREAM_NEWEST] == 200 * S and item[EXPIRES_AT] == 200 + TTL_S
    # another query (a reset checkpoint) has its own batch ids
    s = store.apply_stream_tiles("g", "q2", 0, ["a"], log_merge("q2", 0, 300))
    assert s.written == 1 and stream_tiles(store, "a") == b"q:0;q:1;q2:0;"


def stream_and_batch_parts_leave_each_other_alone(store: OnlineStore) -> None:
    store.apply_stream_tiles("g", "q", 0, ["a"], log_merge("q", 0, 5000))
    s = store.write_items("g", [batch_item("a", 200, 10, tiles=b"batch")])
    assert (s.written, s.skipped) == (1, 0)  # the stream part never blocks the batch part
    got = store.get_items("g", ["a"], ("tiles", STREAM_TILES, EXPIRES_AT, "run_us"))["a"]
    assert got["tiles"] == b"batch" and got[STREAM_TILES] == b"q:0;" and got["run_us"] == 10 * S
    assert got[EXPIRES_AT] == 5000 + TTL_S  # not lowered to the batch part's


class Between:
    """Wraps a store so that ``action`` runs inside a stream write, between its read and its write (the seam
    the races below need; everything else is the wrapped store's)."""

    def __init__(self, store: OnlineStore, action: Callable[[], Any]) -> None:
        self.store, self.action, self.fired = store, action, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def apply_stream_tiles(self, group: str, query_id: str, batch_id: int, pks: Sequence[str],
                           merge: StreamMerge) -> ApplyStats:
        def merge_then_act(pk: str, state: StreamState | None) -> StreamPart:
            part = merge(pk, state)  # computed from what was read ...
            if not self.fired:
                self.fired += 1
                self.action()  # ... and something lands before it is written
            return part

        return self.store.apply_stream_tiles(group, query_id, batch_id, pks, merge_then_act)


def a_publish_between_the_streams_read_and_write_keeps_its_expiry(store: OnlineStore) -> None:
    """Issue 16, finding 14: a publish that lands after the stream read the item must not have its expiry
    lowered by the stream's write (computed from the older read)."""
    store.apply_stream_tiles("g", "q", 0, ["a"], log_merge("q", 0, 1000))
    assert expiry(store, "a") == 1000 + TTL_S
    published: list[WriteStats] = []
    racing = Between(store, lambda: published.append(store.write_items("g", [batch_item("a", 9000, 8000)])))
    calls: list[StreamState | None] = []
    s = racing.apply_stream_tiles("g", "q", 1, ["a"], log_merge("q", 1, 2000, calls))
    assert published[0].written == 1 and racing.fired == 1
    assert expiry(store, "a") == 9000 + TTL_S  # never lowered to 2000 + TTL
    assert (s.written, s.conflicts) == (1, 1)  # the stream's first write lost the race: read and merged again
    assert calls[1] is not None and calls[1].batch_newest_us == 9000 * S  # the second merge saw the publish
    assert stream_tiles(store, "a") == b"q:0;q:1;"  # the batch is applied once
    assert store.get_items("g", ["a"])["a"]["newest_event_us"] == 9000 * S


def a_late_publish_keeps_the_streams_later_expiry(store: OnlineStore) -> None:
    store.apply_stream_tiles("g", "q", 0, ["a"], log_merge("q", 0, 5000))
    store.apply_stream_tiles("g", "q", 1, ["a"], log_merge("q", 1, 6000))
    s = store.write_items("g", [batch_item("a", 3000, 4000)])  # the day's publish, after the stream moved on
    assert s.written == 1 and expiry(store, "a") == 6000 + TTL_S


def two_stream_writers_never_lose_each_others_batches(store: OnlineStore) -> None:
    store.apply_stream_tiles("g", "q", 0, ["a"], log_merge("q", 0, 100))
    other = lambda: store.apply_stream_tiles("g", "q2", 0, ["a"], log_merge("q2", 0, 150))  # noqa: E731
    s = Between(store, other).apply_stream_tiles("g", "q", 1, ["a"], log_merge("q", 1, 120))
    assert (s.written, s.conflicts) == (1, 1)
    assert stream_tiles(store, "a") == b"q:0;q2:0;q:1;"
    batches = store.get_items("g", ["a"], (STREAM_BATCHES,))["a"][STREAM_BATCHES]
    assert batches == {"q": 1, "q2": 0}


def an_oversized_item_is_set_aside_and_the_rest_written(store: OnlineStore) -> None:
    """One entity whose item would exceed DynamoDB's 400 KB limit neither stops the call nor is half written."""
    def maybe_huge(pk: str, state: StreamState | None) -> StreamPart:
        return StreamPart(b"x" * 400_001 if pk == "big" else b"small", 1, 1, 1, 1)

    s = store.apply_stream_tiles("g", "q", 0, ["a", "big", "c"], maybe_huge)
    assert (s.written, s.too_large) == (2, ["big"])
    assert set(store.get_items("g", ["a", "big", "c"], (STREAM_TILES,), consistent=True)) == {"a", "c"}
    # near the limit the tiles pass the early check and DynamoDB itself refuses the item (the batch part's
    # tiles plus the stream's): the entity keeps its batch part, the others are written
    store.write_items("g", [batch_item("near", 10, 20, tiles=b"t" * 300_000)])
    s2 = store.apply_stream_tiles("g", "q", 1, ["a", "near"], lambda pk, st: StreamPart(
        b"s" * (200_000 if pk == "near" else 5), 30 * S, 30 * S, 1, 30 + TTL_S))
    assert (s2.written, s2.too_large) == (1, ["near"])
    assert STREAM_TILES not in store.get_items("g", ["near"], (STREAM_TILES,), consistent=True)["near"]
    w = store.write_items("g", [batch_item("p1", 10, 20), batch_item("p2", 10, 20, tiles=b"t" * 400_001),
                                batch_item("p3", 10, 20)])
    assert (w.written, w.too_large) == (2, ["p2"])


SCENARIOS: list[Callable[[OnlineStore], None]] = [
    newest_wins_and_reruns_are_idempotent,
    a_publish_never_lowers_expiry,
    bad_writes_are_refused,
    a_missing_table_reads_as_not_found,
    run_times_are_sampled_from_batch_parts,
    more_than_100_keys_read_in_one_call,
    a_replayed_batch_changes_nothing,
    stream_and_batch_parts_leave_each_other_alone,
    a_publish_between_the_streams_read_and_write_keeps_its_expiry,
    a_late_publish_keeps_the_streams_later_expiry,
    two_stream_writers_never_lose_each_others_batches,
    an_oversized_item_is_set_aside_and_the_rest_written,
]

"""DynamoOnlineStore against the real local DynamoDB-compatible server (moto in server mode).

The only fakes here are in the fault-injection tests at the end: a wrapper around the REAL client that raises
throttling errors / returns UnprocessedKeys for the first calls, because the local server never throttles.
That is the documented exception to the no-mocks rule; every other call reaches the server.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from weir.aws import dynamodb_client
from weir.online.errors import OnlineStoreError
from weir.online.store import DynamoOnlineStore, OnlineItem
from weir.runtime import RuntimeConfig, build_config

pytestmark = pytest.mark.integration


@pytest.fixture()
def config(stack: RuntimeConfig) -> RuntimeConfig:
    return build_config(dynamodb_table_prefix=f"t{uuid.uuid4().hex[:8]}_")


def item(pk: str, newest: int, run: int, version: int = 1, blob: bytes = b"x") -> OnlineItem:
    return OnlineItem(pk, newest, run, version, newest // 1_000_000 + 3600, blob)


def test_table_created_once_with_ttl(config: RuntimeConfig) -> None:
    store = DynamoOnlineStore(config)
    name = store.ensure_table("g")
    assert name == f"{config.dynamodb_table_prefix}g"
    assert DynamoOnlineStore(config).ensure_table("g") == name  # second store, table exists: no error
    client = dynamodb_client(config)
    desc = client.describe_table(TableName=name)["Table"]
    assert desc["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED" and ttl["AttributeName"] == "expires_at"


def test_newest_wins_and_reruns_are_idempotent(config: RuntimeConfig) -> None:
    store = DynamoOnlineStore(config)
    s = store.write_items("g", [item("a", 200, 10, blob=b"new"), item("b", 100, 10, blob=b"b1")])
    assert (s.written, s.skipped) == (2, 0)
    # older events (a backfill of the past) never overwrite newer ones
    s = store.write_items("g", [item("a", 150, 20, blob=b"old"), item("b", 100, 9, blob=b"older-run")])
    assert (s.written, s.skipped) == (0, 2)
    # same events, later run: written; the very same run again: written again with the same content
    s = store.write_items("g", [item("b", 100, 11, blob=b"b2")])
    assert (s.written, s.skipped) == (1, 0)
    s = store.write_items("g", [item("b", 100, 11, blob=b"b2")])
    assert (s.written, s.skipped) == (1, 0)
    got = store.get_items("g", ["a", "b", "nope"])
    assert set(got) == {"a", "b"}
    assert got["a"]["tiles"] == b"new" and got["a"]["newest_event_us"] == 200
    assert got["b"]["tiles"] == b"b2" and got["b"]["run_us"] == 11


def test_batch_writes_keep_the_stream_part_and_its_later_expiry(config: RuntimeConfig) -> None:
    store = DynamoOnlineStore(config)
    table = store.ensure_table("g")
    client = dynamodb_client(config)
    newer = 5_000_000_000
    client.update_item(TableName=table, Key={"pk": {"S": "a"}},
                       UpdateExpression="SET stream_tiles = :t, stream_newest_us = :n, expires_at = :x",
                       ExpressionAttributeValues={":t": {"B": b"s"}, ":n": {"N": str(newer)},
                                                  ":x": {"N": str(newer // 1_000_000 + 3600)}})
    s = store.write_items("g", [item("a", 200, 10, blob=b"batch"), item("b", 300, 10)])
    assert (s.written, s.skipped) == (2, 0)
    got = store.get_items("g", ["a", "b"], attributes=("tiles", "stream_tiles", "expires_at", "run_us"))
    assert got["a"]["tiles"] == b"batch" and got["a"]["stream_tiles"] == b"s" and got["a"]["run_us"] == 10
    assert got["a"]["expires_at"] == newer // 1_000_000 + 3600  # not lowered to the batch part's
    assert got["b"]["expires_at"] == item("b", 300, 10).expires_at


def test_duplicate_keys_in_one_call_are_refused(config: RuntimeConfig) -> None:
    store = DynamoOnlineStore(config)
    with pytest.raises(OnlineStoreError, match="duplicate key pk='a'"):
        store.write_items("g", [item("a", 1, 1), item("b", 1, 1), item("a", 2, 1)])
    with pytest.raises(OnlineStoreError, match="non-empty"):
        store.write_items("g", [item("", 1, 1)])


def test_batch_get_more_than_100_keys_with_projection(config: RuntimeConfig) -> None:
    store = DynamoOnlineStore(config)
    s = store.write_items("g", (item(f"k{i}", 1000 + i, 5, blob=bytes([i % 256])) for i in range(250)))
    assert s.written == 250 and s.items_per_s > 0
    keys = [f"k{i}" for i in range(0, 260)]  # 10 missing
    got = store.get_items("g", keys, attributes=("newest_event_us",))
    assert len(got) == 250
    assert got["k249"] == {"pk": "k249", "newest_event_us": 1249}  # only what was asked for


def test_reading_a_table_that_does_not_exist_is_a_clear_error(config: RuntimeConfig) -> None:
    with pytest.raises(OnlineStoreError) as exc:
        DynamoOnlineStore(config).get_items("never_created", ["a"])
    assert exc.value.code == "ResourceNotFoundException"


# ------------------------------------------------------------------------------------ fault injection
class FlakyClient:
    """The real client, except that the first ``fail_puts`` update_item calls raise throttling and the first
    ``partial_gets`` batch_get_item calls return half the keys as UnprocessedKeys (fault injection)."""

    def __init__(self, real: Any, fail_puts: int = 0, partial_gets: int = 0, code: str = "") -> None:
        self.real, self.fail_puts, self.partial_gets = real, fail_puts, partial_gets
        self.code = code or "ProvisionedThroughputExceededException"
        self.put_calls = self.get_calls = 0
        self.exceptions = real.exceptions

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def update_item(self, **kwargs: Any) -> Any:
        self.put_calls += 1
        if self.put_calls <= self.fail_puts:
            status = 500 if self.code == "InternalServerError" else 400
            raise ClientError({"Error": {"Code": self.code, "Message": "injected"},
                               "ResponseMetadata": {"HTTPStatusCode": status}}, "UpdateItem")
        return self.real.update_item(**kwargs)

    def batch_get_item(self, RequestItems: dict[str, Any]) -> Any:
        self.get_calls += 1
        if self.get_calls > self.partial_gets:
            return self.real.batch_get_item(RequestItems=RequestItems)
        (table, req), = RequestItems.items()
        keys = req["Keys"]
        half = len(keys) // 2
        resp = self.real.batch_get_item(RequestItems={table: {**req, "Keys": keys[:half]}})
        resp["UnprocessedKeys"] = {table: {**req, "Keys": keys[half:]}}
        return resp


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException",
                                  "RequestLimitExceeded", "InternalServerError"])
def test_throttled_puts_are_retried_with_backoff(config: RuntimeConfig, code: str) -> None:
    flaky = FlakyClient(dynamodb_client(config, max_attempts=1), fail_puts=5, code=code)
    sleeps: list[float] = []
    store = DynamoOnlineStore(config, client=flaky, max_workers=1, sleep=sleeps.append)  # type: ignore[arg-type]
    s = store.write_items("g", [item(f"k{i}", 1, 1) for i in range(3)])
    assert (s.written, s.retried) == (3, 5)
    assert len(sleeps) == 5 and all(0 <= x <= store.max_delay_s for x in sleeps)
    assert len(store.get_items("g", ["k0", "k1", "k2"])) == 3


def test_retries_are_bounded_then_a_clear_error(config: RuntimeConfig) -> None:
    flaky = FlakyClient(dynamodb_client(config, max_attempts=1), fail_puts=100)
    store = DynamoOnlineStore(config, client=flaky, max_workers=2, max_attempts=4,  # type: ignore[arg-type]
                              sleep=lambda _: None)
    with pytest.raises(OnlineStoreError, match="still failing after 4 attempts"):
        store.write_items("g", [item("a", 1, 1)])


def test_unprocessed_keys_are_resent(config: RuntimeConfig) -> None:
    DynamoOnlineStore(config).write_items("g", [item(f"k{i}", 1, 1) for i in range(150)])
    flaky = FlakyClient(dynamodb_client(config, max_attempts=1), partial_gets=3)
    store = DynamoOnlineStore(config, client=flaky, max_workers=1, sleep=lambda _: None)  # type: ignore[arg-type]
    got = store.get_items("g", [f"k{i}" for i in range(150)])
    assert len(got) == 150 and flaky.get_calls > 2

"""DynamoDB online store: one table per feature group, one item per entity, newest wins.

Why conditional writes and not ``BatchWriteItem``: ``BatchWriteItem`` accepts no condition, so a replayed
or backfilled (older) batch would silently overwrite values computed from newer events, which is the bug in
Feast's DynamoDB store. The publisher sets the item's *batch part* (``tiles``, ``newest_event_us``, ``run_us``,
``source_version``; docs/architecture.md) with ``UpdateItem`` conditioned on ``attribute_not_exists(newest_event_us)
OR newest_event_us < :e OR (newest_event_us = :e AND run_us <= :r)``: newer events win, for the same events the
later run wins, and rerunning a run is idempotent. A failed condition (``ConditionalCheckFailedException``) is
the expected outcome of an older write: counted as *skipped (newer value kept)*, not an error. ``UpdateItem``
(not ``PutItem``) leaves the streaming job's *stream part* of the item alone, so batch and stream never erase
each other's events; the TTL attribute ``expires_at`` is only raised, never lowered below the stream part's.
The alternative (Chronon's) appends values under a timestamped sort key and takes the newest at read time:
unconditional batch writes, but reads become a Query per entity (no BatchGetItem) and old versions need
cleaning; ``bench/bench_online.py`` measures both (docs/benchmarks.md, "Online store"). Single writes cost the
same write units as batched ones; we recover throughput by running them in parallel.

Retries: throttling (``ProvisionedThroughputExceededException``, ``ThrottlingException``,
``RequestLimitExceeded``), 5xx and connection errors are retried here with exponential backoff and full jitter
(the boto client itself makes a single attempt so the counts are exact), at most ``max_attempts`` times; then
:class:`OnlineStoreError`. Reads use ``BatchGetItem`` in chunks of 100 keys with a projection, and resend
``UnprocessedKeys`` with the same backoff. Inputs are validated here (duplicate keys in one call, empty keys)
because the local server is laxer than AWS.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.exceptions import ClientError

from weir.online.errors import OnlineStoreError
from weir.runtime import RuntimeConfig

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

T = TypeVar("T")
log = logging.getLogger(__name__)

RETRYABLE_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "InternalServerError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException",
    "LimitExceededException", "TransactionInProgressException",
})
CONDITION = ("attribute_not_exists(newest_event_us) OR newest_event_us < :e "
             "OR (newest_event_us = :e AND run_us <= :r)")
# the batch part may set the TTL attribute only when the stream part (if any) is not newer
TTL_CONDITION = "attribute_not_exists(stream_newest_us) OR stream_newest_us <= :e"
BATCH_SET = "SET tiles = :t, newest_event_us = :e, run_us = :r, source_version = :s"
TTL_ATTRIBUTE = "expires_at"
BATCH_GET_MAX = 100
ITEM_ATTRIBUTES = ("pk", "newest_event_us", "run_us", "source_version", "expires_at", "tiles")


@dataclass(frozen=True)
class OnlineItem:
    """One entity's item: see docs/architecture.md ("Online item")."""

    pk: str
    newest_event_us: int
    run_us: int
    source_version: int
    expires_at: int
    tiles: bytes

    def to_dynamo(self) -> dict[str, Any]:
        return {
            "pk": {"S": self.pk},
            "newest_event_us": {"N": str(self.newest_event_us)},
            "run_us": {"N": str(self.run_us)},
            "source_version": {"N": str(self.source_version)},
            "expires_at": {"N": str(self.expires_at)},
            "tiles": {"B": self.tiles},
        }


@dataclass
class WriteStats:
    written: int = 0
    skipped: int = 0  # conditional check failed: a newer value is kept
    retried: int = 0  # retry attempts after throttling / 5xx / connection errors
    seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def items_per_s(self) -> float:
        return (self.written + self.skipped) / self.seconds if self.seconds > 0 else 0.0


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


def is_retryable(exc: BaseException) -> bool:
    """Throttling, 5xx and connection problems (worth another try); not validation or condition failures."""
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    if isinstance(exc, BotoConnectionError | HTTPClientError | ConnectionError | TimeoutError):
        return True
    code = _error_code(exc)
    if code in RETRYABLE_CODES:
        return True
    response = getattr(exc, "response", None)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) if isinstance(response, dict) else 0
    return isinstance(status, int) and status >= 500


class DynamoOnlineStore:
    """Tables ``<prefix><group>``; conditional parallel writes, chunked batched reads, bounded retries."""

    def __init__(self, config: RuntimeConfig, client: DynamoDBClient | None = None, max_workers: int = 12,
                 max_attempts: int = 8, base_delay_s: float = 0.05, max_delay_s: float = 5.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        from weir.aws import dynamodb_client

        self.config = config
        self.client: DynamoDBClient = client if client is not None else dynamodb_client(config, max_attempts=1)
        self.max_workers = max(1, max_workers)
        self.max_attempts = max(1, max_attempts)
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.sleep = sleep
        self._ready: set[str] = set()

    def table_name(self, group: str) -> str:
        return f"{self.config.dynamodb_table_prefix}{group}"

    # ------------------------------------------------------------------------------------------ retries
    def _backoff(self, attempt: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
        return random.uniform(0.0, min(self.max_delay_s, self.base_delay_s * (2 ** attempt)))

    def _call(self, what: str, fn: Callable[[], T], stats: WriteStats | None = None) -> T:
        for attempt in range(self.max_attempts):
            try:
                return fn()
            except OnlineStoreError:
                raise
            except Exception as exc:
                if not is_retryable(exc):
                    code = _error_code(exc)
                    if code is None and not hasattr(exc, "response"):
                        raise
                    raise OnlineStoreError(f"{what}: {code}: {exc}", code=code) from exc
                if attempt + 1 >= self.max_attempts:
                    raise OnlineStoreError(
                        code=_error_code(exc), message=f"{what}: still failing after {self.max_attempts} attempts "
                        f"({_error_code(exc) or type(exc).__name__}: {exc}); the table is throttled or the "
                        f"endpoint {self.config.dynamodb_endpoint or 'AWS'} is unreachable. Rerun: writes are "
                        "idempotent and newest-wins.") from exc
                if stats is not None:
                    with stats._lock:
                        stats.retried += 1
                self.sleep(self._backoff(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------------------------------------- tables
    def ensure_table(self, group: str) -> str:
        """Create ``<prefix><group>`` (pk S, on-demand, TTL on ``expires_at``) unless it exists; idempotent."""
        name = self.table_name(group)
        if name in self._ready:
            return name
        client = self.client
        try:
            client.describe_table(TableName=name)
        except client.exceptions.ResourceNotFoundException:
            try:
                client.create_table(
                    TableName=name, BillingMode="PAY_PER_REQUEST",
                    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                    Tags=[{"Key": "weir:group", "Value": group}])
            except client.exceptions.ResourceInUseException:
                pass  # created concurrently
            client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        self._enable_ttl(name)
        self._ready.add(name)
        return name

    def _enable_ttl(self, name: str) -> None:
        """Turn on TTL on ``expires_at``; a local server without TTL (dynalite) only gets a warning.

        Expiry by the server is housekeeping: reads already treat an item past ``expires_at`` as absent.
        """
        client = self.client
        try:
            ttl = client.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
            if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                client.update_time_to_live(TableName=name, TimeToLiveSpecification={
                    "Enabled": True, "AttributeName": TTL_ATTRIBUTE})
        except ClientError as exc:
            if _error_code(exc) != "UnknownOperationException" or not self.config.dynamodb_endpoint:
                raise
            log.warning("%s: the DynamoDB-compatible server at %s has no TTL API; expired items stay stored "
                        "(reads ignore them)", name, self.config.dynamodb_endpoint)

    def drop_table(self, group: str) -> None:
        """Delete the group's table (tests and benchmarks; the publisher's IAM policy should not allow it)."""
        name = self.table_name(group)
        try:
            self.client.delete_table(TableName=name)
        except self.client.exceptions.ResourceNotFoundException:
            pass
        self._ready.discard(name)

    # ------------------------------------------------------------------------------------------- writes
    def write_item(self, table: str, item: OnlineItem, stats: WriteStats) -> bool:
        """Conditionally set the batch part of one item; True if written, False if a newer value was kept.

        First with ``expires_at`` (when no newer stream part exists); if that condition fails, once more without
        it, so a newer stream part keeps its later expiry.
        """
        client = self.client
        values: dict[str, Any] = {":t": {"B": item.tiles}, ":e": {"N": str(item.newest_event_us)},
                                  ":r": {"N": str(item.run_us)}, ":s": {"N": str(item.source_version)}}

        def update(with_ttl: bool) -> bool:
            extra = {":x": {"N": str(item.expires_at)}} if with_ttl else {}
            try:
                client.update_item(
                    TableName=table, Key={"pk": {"S": item.pk}},
                    UpdateExpression=BATCH_SET + (", expires_at = :x" if with_ttl else ""),
                    ConditionExpression=f"({CONDITION}) AND ({TTL_CONDITION})" if with_ttl else CONDITION,
                    ExpressionAttributeValues={**values, **extra})
                return True
            except client.exceptions.ConditionalCheckFailedException:
                return False

        written = (self._call(f"UpdateItem {table} pk={item.pk!r}", lambda: update(True), stats)
                   or self._call(f"UpdateItem {table} pk={item.pk!r}", lambda: update(False), stats))
        with stats._lock:
            if written:
                stats.written += 1
            else:
                stats.skipped += 1
        return written

    def write_items(self, group: str, items: Iterable[OnlineItem],
                    on_done: Callable[[int], None] | None = None) -> WriteStats:
        """Write ``items`` (streamed; at most a few per worker in flight) newest-wins, in parallel.

        A key given twice in one call is refused (:class:`OnlineStoreError`) before the second is sent.
        ``on_done(n)`` is called from this thread as items complete (for progress bars).
        """
        table = self.ensure_table(group)
        stats = WriteStats()
        began = time.perf_counter()
        seen: set[str] = set()
        pending: set[Future[bool]] = set()
        limit = self.max_workers * 4

        def drain(block_until: int) -> None:
            nonlocal pending
            while len(pending) > block_until:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    fut.result()
                if on_done is not None:
                    on_done(len(done))

        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="weir-put") as pool:
            try:
                for item in items:
                    _check_item(item)
                    if item.pk in seen:
                        raise OnlineStoreError(
                            f"duplicate key pk={item.pk!r} in one write to {table}: one item per entity per call")
                    seen.add(item.pk)
                    pending.add(pool.submit(self.write_item, table, item, stats))
                    if len(pending) >= limit:
                        drain(limit // 2)
                drain(0)
            except BaseException:
                for fut in pending:
                    fut.cancel()
                raise
        stats.seconds = time.perf_counter() - began
        return stats

    # -------------------------------------------------------------------------------------------- reads
    def get_items(self, group: str, pks: Sequence[str],
                  attributes: Sequence[str] = ITEM_ATTRIBUTES) -> dict[str, dict[str, Any]]:
        """Items by ``pk`` (missing keys absent), attribute values decoded to int/bytes/str.

        BatchGetItem in chunks of 100 (parallel when there are several), only ``attributes`` projected,
        ``UnprocessedKeys`` resent with backoff.
        """
        unique = list(dict.fromkeys(pks))
        for pk in unique:
            if not isinstance(pk, str) or not pk:
                raise OnlineStoreError(f"bad key {pk!r}: keys are non-empty strings")
        table = self.table_name(group)
        chunks = [unique[i:i + BATCH_GET_MAX] for i in range(0, len(unique), BATCH_GET_MAX)]
        out: dict[str, dict[str, Any]] = {}
        if len(chunks) <= 1:
            results: Iterator[dict[str, dict[str, Any]]] = iter([self._get_chunk(table, c, attributes)
                                                                 for c in chunks])
        else:
            pool = ThreadPoolExecutor(max_workers=min(self.max_workers, len(chunks)), thread_name_prefix="weir-get")
            with pool:
                results = iter(list(pool.map(lambda c: self._get_chunk(table, c, attributes), chunks)))
        for part in results:
            out.update(part)
        return out

    def _get_chunk(self, table: str, pks: Sequence[str], attributes: Sequence[str]) -> dict[str, dict[str, Any]]:
        names = {f"#a{i}": a for i, a in enumerate(dict.fromkeys(["pk", *attributes]))}
        request: dict[str, Any] = {table: {
            "Keys": [{"pk": {"S": pk}} for pk in pks],
            "ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}}
        out: dict[str, dict[str, Any]] = {}
        for attempt in range(self.max_attempts):
            def call(r: dict[str, Any] = request) -> dict[str, Any]:
                return dict(self.client.batch_get_item(RequestItems=r))

            resp = self._call(f"BatchGetItem {table}", call)
            for raw in resp.get("Responses", {}).get(table, []):
                item = {k: _plain(v) for k, v in raw.items()}
                out[str(item["pk"])] = item
            unprocessed: dict[str, Any] = resp.get("UnprocessedKeys") or {}
            if not unprocessed.get(table, {}).get("Keys"):
                return out
            request = {table: {**request[table], "Keys": unprocessed[table]["Keys"]}}
            self.sleep(self._backoff(attempt))
        left = len(request[table]["Keys"])
        raise OnlineStoreError(f"BatchGetItem {table}: {left} keys still unprocessed after {self.max_attempts} "
                               "attempts (table throttled); retry later")


def _check_item(item: OnlineItem) -> None:
    if not isinstance(item.pk, str) or not item.pk:
        raise OnlineStoreError(f"bad item key {item.pk!r}: keys are non-empty strings")
    if len(item.tiles) > 390_000:
        raise OnlineStoreError(f"item pk={item.pk!r} is {len(item.tiles):,} bytes: over DynamoDB's 400 KB limit; "
                               "use a larger hop for the long windows of this group")


def _plain(value: Any) -> Any:
    """A DynamoDB attribute value -> int / str / bytes (the only types Weir's items use)."""
    if "N" in value:
        return int(value["N"])
    if "S" in value:
        return value["S"]
    if "B" in value:
        return bytes(value["B"])
    if "NULL" in value:
        return None
    if "M" in value:
        return {k: _plain(v) for k, v in value["M"].items()}
    raise OnlineStoreError(f"unexpected attribute type in an online item: {value!r}")

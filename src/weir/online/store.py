"""DynamoDB online store: one table per feature group, one item per entity, newest wins.

Every DynamoDB call Weir makes is in this module (:class:`DynamoOnlineStore`, the DynamoDB implementation of
:class:`weir.online.interface.OnlineStore`, whose doc states the semantics; attribute names in
:mod:`weir.online.schema`).

Why conditional writes and not ``BatchWriteItem``: ``BatchWriteItem`` accepts no condition, so a replayed
or backfilled (older) batch would silently overwrite values computed from newer events, which is the bug in
Feast's DynamoDB store. The publisher sets the item's *batch part* (``tiles``, ``newest_event_us``, ``run_us``,
``source_version``; docs/architecture.md) with ``UpdateItem`` conditioned on ``attribute_not_exists(newest_event_us)
OR newest_event_us < :e OR (newest_event_us = :e AND run_us <= :r)``: newer events win, for the same events the
later run wins, and rerunning a run is idempotent. A failed condition (``ConditionalCheckFailedException``) is
the expected outcome of an older write: counted as *skipped (newer value kept)*, not an error. ``UpdateItem``
(not ``PutItem``) leaves the streaming job's *stream part* of the item alone, so batch and stream never erase
each other's events. The TTL attribute ``expires_at`` is set only under ``expires_at <= :x`` (it only rises),
and every write bumps ``item_version``, which the stream's writes are conditioned on.
The alternative (Chronon's) appends values under a timestamped sort key and takes the newest at read time:
unconditional batch writes, but reads become a Query per entity (no BatchGetItem) and old versions need
cleaning; ``bench/bench_online.py`` measures both (docs/benchmarks.md, "Online store"). Single writes cost the
same write units as batched ones; we recover throughput by running them in parallel.

Retries (:mod:`weir.online.retry`): throttling, 5xx and connection errors are retried with exponential backoff
and full jitter (the boto client itself makes a single attempt so the counts are exact), at most
``max_attempts`` times; then :class:`OnlineStoreError`. Reads use ``BatchGetItem`` in chunks of 100 keys with a
projection, and resend ``UnprocessedKeys`` with the same backoff. Inputs are validated
(:mod:`weir.online.interface`: duplicate keys in one call, empty keys) because the local server is laxer than AWS.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from weir.online import schema as s
from weir.online.errors import ItemTooLarge, OnlineStoreError
from weir.online.interface import NOT_FOUND, OnlineItem, RunTimes, UniqueKeys, WriteStats, apply_stream, check_keys
from weir.online.retry import Backoff, error_code, is_item_too_large, is_retryable
from weir.runtime import RuntimeConfig

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from weir.online.interface import ApplyStats, StreamMerge, StreamWrite

log = logging.getLogger(__name__)

CONDITION = (f"attribute_not_exists({s.NEWEST}) OR {s.NEWEST} < :e "
             f"OR ({s.NEWEST} = :e AND {s.RUN} <= :r)")
# the batch part sets the TTL attribute only when that raises it (the stream part may hold a later one)
TTL_CONDITION = f"attribute_not_exists({s.EXPIRES_AT}) OR {s.EXPIRES_AT} <= :x"
BATCH_SET = f"SET {s.TILES} = :t, {s.NEWEST} = :e, {s.RUN} = :r, {s.SOURCE_VERSION} = :s"
BUMP_VERSION = f" ADD {s.ITEM_VERSION} :one"
TTL_ATTRIBUTE = s.EXPIRES_AT
BATCH_GET_MAX = 100
ITEM_ATTRIBUTES = s.ITEM_ATTRIBUTES

__all__ = ["DynamoOnlineStore", "OnlineItem", "WriteStats", "is_retryable"]


class DynamoOnlineStore:
    """Tables ``<prefix><group>``; conditional parallel writes, chunked batched reads, bounded retries."""

    def __init__(self, config: RuntimeConfig, client: DynamoDBClient | None = None, max_workers: int = 12,
                 max_attempts: int = 8, base_delay_s: float = 0.05, max_delay_s: float = 5.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        from weir.aws import dynamodb_client

        self.config = config
        self.client: DynamoDBClient = client if client is not None else dynamodb_client(config, max_attempts=1)
        self.max_workers = max(1, max_workers)
        self.backoff = Backoff(max(1, max_attempts), base_delay_s, max_delay_s, sleep)
        self._ready: set[str] = set()

    @property
    def max_attempts(self) -> int:
        return self.backoff.max_attempts

    @property
    def max_delay_s(self) -> float:
        return self.backoff.max_delay_s

    def table_name(self, group: str) -> str:
        return s.table_name(self.config, group)

    def _call(self, what: str, fn: Callable[[], Any], on_retry: Callable[[], None] | None = None) -> Any:
        return self.backoff.call(what, fn, on_retry, self.config.dynamodb_endpoint)

    # ------------------------------------------------------------------------------------------- tables
    def ensure_table(self, group: str) -> str:
        """Create ``<prefix><group>`` (pk S, on-demand, TTL on ``expires_at``) unless it exists; idempotent."""
        name = self.table_name(group)
        if name in self._ready:
            return name
        client = self.client
        try:
            self._call(f"DescribeTable {name}", lambda: client.describe_table(TableName=name))
        except OnlineStoreError as exc:
            if exc.code != NOT_FOUND:
                raise  # e.g. refused: the error names the credentials and the role policies
            try:
                self._call(f"CreateTable {name}", lambda: client.create_table(
                    TableName=name, BillingMode="PAY_PER_REQUEST",
                    AttributeDefinitions=[{"AttributeName": s.PK, "AttributeType": "S"}],
                    KeySchema=[{"AttributeName": s.PK, "KeyType": "HASH"}],
                    Tags=[{"Key": "weir:group", "Value": group}]))
            except OnlineStoreError as created:
                if created.code != "ResourceInUseException":
                    raise  # else: created concurrently
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
            if error_code(exc) != "UnknownOperationException" or not self.config.dynamodb_endpoint:
                raise
            log.warning("%s: the DynamoDB-compatible server at %s has no TTL API; expired items stay stored "
                        "(reads ignore them)", name, self.config.dynamodb_endpoint)

    def drop_table(self, group: str) -> None:
        """Delete the group's table (tests and benchmarks; the publisher's IAM policy should not allow it)."""
        name = self.table_name(group)
        try:
            self._call(f"DeleteTable {name}", lambda: self.client.delete_table(TableName=name))
        except OnlineStoreError as exc:
            if exc.code != NOT_FOUND:
                raise
        self._ready.discard(name)

    # ------------------------------------------------------------------------------------- batch writes
    def write_item(self, table: str, item: OnlineItem, stats: WriteStats) -> bool:
        """Conditionally set the batch part of one item; True if written, False if a newer value was kept.

        First with ``expires_at`` (when that raises it); if that condition fails, once more without it, so a
        later expiry (the stream part's) stays. An item kept for ever (``expires_at`` None) loses its expiry.
        """
        values: dict[str, Any] = {":t": {"B": item.tiles}, ":e": {"N": str(item.newest_event_us)},
                                  ":r": {"N": str(item.run_us)}, ":s": {"N": str(item.source_version)},
                                  ":one": {"N": "1"}}

        def update(with_ttl: bool) -> bool:
            if item.expires_at is None:  # the only rise left: no expiry at all
                expression, condition, extra = BATCH_SET + BUMP_VERSION + f" REMOVE {s.EXPIRES_AT}", CONDITION, {}
            elif with_ttl:
                expression = BATCH_SET + f", {s.EXPIRES_AT} = :x" + BUMP_VERSION
                condition, extra = f"({CONDITION}) AND ({TTL_CONDITION})", {":x": {"N": str(item.expires_at)}}
            else:
                expression, condition, extra = BATCH_SET + BUMP_VERSION, CONDITION, {}
            return self._update_if(table, item.pk, expression, condition, {**values, **extra})

        what = f"UpdateItem {table} pk={item.pk!r}"
        try:
            written = bool(self._call(what, lambda: update(True), stats.count_retry)
                           or self._call(what, lambda: update(False), stats.count_retry))
        except ItemTooLarge:
            stats.count_too_large(item.pk)  # set aside; the rest of the publish proceeds
            return False
        stats.count(written)
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
        keys = UniqueKeys(table)
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
                    try:
                        keys.add(item)
                    except ItemTooLarge:
                        stats.count_too_large(item.pk)  # set aside; the rest of the publish proceeds
                        continue
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

    # ------------------------------------------------------------------------------------ stream writes
    def apply_stream_tiles(self, group: str, query_id: str, batch_id: int, pks: Sequence[str],
                           merge: StreamMerge) -> ApplyStats:
        """Per entity: consistent read, ``merge``, ``UpdateItem`` of the stream part conditioned on the
        ``item_version`` read (lost race: read and merge again); entities that already hold ``batch_id`` of
        ``query_id`` are skipped. Entities in parallel."""
        table = self.ensure_table(group)

        def read(keys: Sequence[str], stats: ApplyStats) -> dict[str, dict[str, Any]]:
            return self.get_items(group, keys, s.STREAM_READ_ATTRIBUTES, consistent=True, on_retry=stats.count_retry)

        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="weir-stream-put") as pool:
            return apply_stream(pks, query_id, batch_id, merge, read,
                                lambda w, stats: self._write_stream(table, w, stats), pool.map)

    def _write_stream(self, table: str, w: StreamWrite, stats: ApplyStats) -> bool:
        """One conditional ``UpdateItem`` of the stream part; False when ``item_version`` moved since the read."""
        part = w.part
        values: dict[str, Any] = {
            ":t": {"B": part.tiles}, ":r": {"N": str(part.run_us)}, ":s": {"N": str(part.source_version)},
            ":b": {"M": {k: {"N": str(v)} for k, v in w.batches.items()}}, ":nv": {"N": str(w.version)}}
        sets = [f"{s.STREAM_TILES} = :t", f"{s.STREAM_RUN} = :r", f"{s.STREAM_VERSION} = :s",
                f"{s.STREAM_BATCHES} = :b", f"{s.ITEM_VERSION} = :nv"]
        if part.newest_us is not None:
            values[":n"] = {"N": str(part.newest_us)}
            sets.append(f"{s.STREAM_NEWEST} = :n")
        if w.expires_at is not None:
            values[":x"] = {"N": str(w.expires_at)}
            sets.append(f"{s.EXPIRES_AT} = :x")
        update = "SET " + ", ".join(sets) + ("" if part.newest_us is not None else f" REMOVE {s.STREAM_NEWEST}")
        if w.expected_version is None:
            cond = f"attribute_not_exists({s.ITEM_VERSION})"
        else:
            cond = f"{s.ITEM_VERSION} = :v"
            values[":v"] = {"N": str(w.expected_version)}

        return bool(self._call(f"UpdateItem {table} pk={w.pk!r}",
                               lambda: self._update_if(table, w.pk, update, cond, values), stats.count_retry))

    def _update_if(self, table: str, pk: str, expression: str, condition: str, values: dict[str, Any]) -> bool:
        """One conditional ``UpdateItem``: True if applied, False if the condition failed; an item over the size
        limit raises :class:`ItemTooLarge` (the caller sets it aside), anything else goes to ``_call``'s retry."""
        client = self.client
        try:
            client.update_item(TableName=table, Key={s.PK: {"S": pk}}, UpdateExpression=expression,
                               ConditionExpression=condition, ExpressionAttributeValues=values)
            return True
        except client.exceptions.ConditionalCheckFailedException:
            return False
        except client.exceptions.ClientError as exc:
            if is_item_too_large(exc):
                raise ItemTooLarge(pk) from exc
            raise

    # -------------------------------------------------------------------------------------------- reads
    def get_items(self, group: str, pks: Sequence[str], attributes: Sequence[str] = ITEM_ATTRIBUTES,
                  consistent: bool = False, on_retry: Callable[[], None] | None = None,
                  ) -> dict[str, dict[str, Any]]:
        """Items by ``pk`` (missing keys absent), attribute values decoded to int/bytes/str (maps to dicts).

        BatchGetItem in chunks of 100 (parallel when there are several), only ``attributes`` projected,
        ``UnprocessedKeys`` resent with backoff; ``consistent`` for strongly consistent reads.
        """
        unique = check_keys(pks)
        table = self.table_name(group)
        chunks = [unique[i:i + BATCH_GET_MAX] for i in range(0, len(unique), BATCH_GET_MAX)]

        def get(chunk: Sequence[str]) -> dict[str, dict[str, Any]]:
            return self._get_chunk(table, chunk, attributes, consistent, on_retry)

        if len(chunks) <= 1:
            results = [get(c) for c in chunks]
        else:
            with ThreadPoolExecutor(max_workers=min(self.max_workers, len(chunks)),
                                    thread_name_prefix="weir-get") as pool:
                results = list(pool.map(get, chunks))
        out: dict[str, dict[str, Any]] = {}
        for part in results:
            out.update(part)
        return out

    def _get_chunk(self, table: str, pks: Sequence[str], attributes: Sequence[str], consistent: bool,
                   on_retry: Callable[[], None] | None) -> dict[str, dict[str, Any]]:
        names = {f"#a{i}": a for i, a in enumerate(dict.fromkeys([s.PK, *attributes]))}
        request: dict[str, Any] = {table: {
            "Keys": [{s.PK: {"S": pk}} for pk in pks],
            "ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}}
        if consistent:
            request[table]["ConsistentRead"] = True
        out: dict[str, dict[str, Any]] = {}
        for attempt in range(self.max_attempts):
            def call(r: dict[str, Any] = request) -> dict[str, Any]:
                return dict(self.client.batch_get_item(RequestItems=r))

            resp = self._call(f"BatchGetItem {table}", call, on_retry)
            for raw in resp.get("Responses", {}).get(table, []):
                item = {k: _plain(v) for k, v in raw.items()}
                out[str(item[s.PK])] = item
            unprocessed: dict[str, Any] = resp.get("UnprocessedKeys") or {}
            if not unprocessed.get(table, {}).get("Keys"):
                return out
            request = {table: {**request[table], "Keys": unprocessed[table]["Keys"]}}
            if on_retry is not None:
                on_retry()
            self.backoff.pause(attempt)
        left = len(request[table]["Keys"])
        raise OnlineStoreError(f"BatchGetItem {table}: {left} keys still unprocessed after {self.max_attempts} "
                               "attempts (table throttled); retry later")

    def sample_run_times(self, group: str, limit: int = 50) -> list[RunTimes]:
        """One ``Scan`` page of at most ``limit`` items (projection ``newest_event_us, run_us``); [] without a
        table. Items holding only a stream part are left out (the freshness check is about the publish)."""
        table = self.table_name(group)
        try:
            resp = self._call(f"Scan {table}", lambda: self.client.scan(
                TableName=table, Limit=limit, ProjectionExpression="#n, #r",
                ExpressionAttributeNames={"#n": s.NEWEST, "#r": s.RUN}))
        except OnlineStoreError as exc:
            if exc.code == NOT_FOUND:
                return []
            raise
        out = []
        for raw in resp.get("Items", []):
            item = {k: _plain(v) for k, v in raw.items()}
            if isinstance(item.get(s.NEWEST), int) and isinstance(item.get(s.RUN), int):
                out.append(RunTimes(item[s.NEWEST], item[s.RUN]))
        return out


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

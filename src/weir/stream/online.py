"""Apply a micro-batch's tiles to the online items: read, merge, conditional write; a replay changes nothing.

The stream writes only the *stream part* of an item (:mod:`weir.online.parts`); the batch publisher owns the
batch part. Per entity: ``BatchGetItem`` (consistent) the item, merge the micro-batch tiles into the stream
tiles (:func:`weir.stream.merge.merge_item_tiles`, the read path's merge math), dropping tiles that end at or
before the batch part's ``run_us`` (the batch part already counts those events), and ``UpdateItem`` the
stream attributes with

* ``stream_batches``: a map ``query id -> last applied batch id``. An entity whose stored entry is ``>=`` the
  batch id already holds this batch's events and is skipped (foreachBatch is at-least-once);
* ``item_version``: a counter incremented on every stream write, and the condition
  ``attribute_not_exists(item_version)`` (no stream part was read) / ``item_version = :v`` (the version read).
  A concurrent stream writer makes the condition fail: the entity is read and merged again (optimistic
  concurrency), so two writers never lose each other's events. Batch publishes do not touch these attributes.

``stream_run_us`` is the micro-batch's processing time (the values are complete up to then),
``stream_source_version`` the Delta version of ``events/<group>`` holding the batch, and ``expires_at`` the
newest event of either part + ``online.ttl``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from weir.online.codec import decode_tiles, encode_tiles
from weir.online.errors import OnlineStoreError
from weir.online.parts import STREAM_NEWEST, STREAM_RUN, STREAM_TILES, STREAM_VERSION
from weir.online.store import DynamoOnlineStore, is_retryable
from weir.stream.merge import GroupLayout, merge_item_tiles

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

T = TypeVar("T")
VERSION_ATTR = "item_version"
BATCHES_ATTR = "stream_batches"
BATCH_GET_MAX = 100
MAX_CONFLICTS = 20
# what the writer reads of an item (not the batch part's tiles)
READ_NAMES = {"#pk": "pk", "#st": STREAM_TILES, "#sn": STREAM_NEWEST, "#sr": STREAM_RUN, "#n": "newest_event_us",
              "#r": "run_us", "#b": BATCHES_ATTR, "#v": VERSION_ATTR}
PROJECTION = ", ".join(READ_NAMES)


@dataclass
class ApplyStats:
    written: int = 0
    skipped_replay: int = 0  # entity already holds this batch (a replayed batch id)
    conflicts: int = 0  # condition failed: re-read and merged again
    retried: int = 0


@dataclass(frozen=True)
class StoredItem:
    """The parts of an item the stream needs: its own part and the batch part's cutoff."""

    pk: str
    tiles: list[dict[str, Any]]  # stream tiles
    newest_event_us: int | None  # newest event of either part
    run_us: int  # stream part's run time (0 without a stream part)
    cutoff_us: int | None  # the batch part's run_us: it holds every event up to then
    version: int | None
    batches: dict[str, int]


def _num(raw: Mapping[str, Any], name: str) -> int | None:
    return int(raw[name]["N"]) if name in raw else None


def _decode(raw: Mapping[str, Any]) -> StoredItem:
    batches = {k: int(v["N"]) for k, v in raw.get(BATCHES_ATTR, {}).get("M", {}).items()}
    tiles = decode_tiles(bytes(raw[STREAM_TILES]["B"])) if STREAM_TILES in raw else []
    newest = [v for v in (_num(raw, STREAM_NEWEST), _num(raw, "newest_event_us")) if v is not None]
    return StoredItem(raw["pk"]["S"], tiles, max(newest) if newest else None, _num(raw, STREAM_RUN) or 0,
                      _num(raw, "run_us"), _num(raw, VERSION_ATTR), batches)


class StreamOnlineWriter:
    """Applies micro-batch tiles of one group to its DynamoDB table (``<prefix><group>``)."""

    def __init__(self, store: DynamoOnlineStore, layout: GroupLayout, query_id: str, max_workers: int = 8,
                 max_attempts: int = 8, sleep: Callable[[float], None] = time.sleep) -> None:
        self.store = store
        self.client: DynamoDBClient = store.client
        self.layout = layout
        self.group = layout.group
        self.query_id = query_id
        self.table = store.ensure_table(self.group.name)
        self.max_workers = max_workers
        self.max_attempts = max_attempts
        self.sleep = sleep

    # ------------------------------------------------------------------------------------------ retries
    def _call(self, what: str, fn: Callable[[], T], stats: ApplyStats) -> T:
        for attempt in range(self.max_attempts):
            try:
                return fn()
            except Exception as exc:
                if not is_retryable(exc) or attempt + 1 >= self.max_attempts:
                    raise OnlineStoreError(f"{what}: {exc}") from exc
                stats.retried += 1
                self.sleep(random.uniform(0.0, min(5.0, 0.05 * 2 ** attempt)))
        raise AssertionError("unreachable")  # pragma: no cover

    def read(self, pks: Sequence[str], stats: ApplyStats) -> dict[str, StoredItem]:
        """Current items (consistent reads), ``UnprocessedKeys`` resent."""
        out: dict[str, StoredItem] = {}
        for i in range(0, len(pks), BATCH_GET_MAX):
            keys: list[Any] = [{"pk": {"S": pk}} for pk in pks[i:i + BATCH_GET_MAX]]
            for attempt in range(self.max_attempts):
                req: dict[str, Any] = {self.table: {"Keys": keys, "ConsistentRead": True,
                                                    "ProjectionExpression": PROJECTION,
                                                    "ExpressionAttributeNames": READ_NAMES}}

                def call(r: dict[str, Any] = req) -> dict[str, Any]:
                    return dict(self.client.batch_get_item(RequestItems=r))

                resp = self._call(f"BatchGetItem {self.table}", call, stats)
                for raw in resp.get("Responses", {}).get(self.table, []):
                    item = _decode(raw)
                    out[item.pk] = item
                keys = (resp.get("UnprocessedKeys") or {}).get(self.table, {}).get("Keys", [])
                if not keys:
                    break
                stats.retried += 1
                self.sleep(random.uniform(0.0, min(5.0, 0.05 * 2 ** attempt)))
            else:
                raise OnlineStoreError(f"BatchGetItem {self.table}: keys still unprocessed; retry the batch")
        return out

    def _get_one(self, pk: str, stats: ApplyStats) -> StoredItem | None:
        def call() -> dict[str, Any]:
            return dict(self.client.get_item(TableName=self.table, Key={"pk": {"S": pk}}, ConsistentRead=True,
                                             ProjectionExpression=PROJECTION, ExpressionAttributeNames=READ_NAMES))

        resp = self._call(f"GetItem {self.table}", call, stats)
        raw = resp.get("Item")
        return _decode(raw) if raw else None

    # -------------------------------------------------------------------------------------------- apply
    def _put(self, pk: str, stored: StoredItem | None, batch_tiles: Sequence[Mapping[str, Any]], batch_id: int,
             run_us: int, source_version: int, stats: ApplyStats) -> bool:
        """One conditional update of the stream part; False when another stream writer updated it meanwhile."""
        cutoff = stored.cutoff_us if stored else None
        tiles, newest = merge_item_tiles(self.layout, stored.tiles if stored else [], batch_tiles, cutoff)
        blob = encode_tiles(tiles)
        if len(blob) > 390_000:
            raise OnlineStoreError(f"item pk={pk!r} would exceed DynamoDB's 400 KB limit")
        newest_any = max((n for n in (newest, stored.newest_event_us if stored else None) if n is not None),
                         default=None)
        batches = dict(stored.batches) if stored else {}
        batches[self.query_id] = batch_id
        version = (stored.version or 0) + 1 if stored else 1
        values: dict[str, Any] = {
            ":t": {"B": blob}, ":r": {"N": str(max(run_us, stored.run_us if stored else 0))},
            ":s": {"N": str(source_version)}, ":b": {"M": {k: {"N": str(v)} for k, v in batches.items()}},
            ":nv": {"N": str(version)}}
        sets = [f"{STREAM_TILES} = :t", f"{STREAM_RUN} = :r", f"{STREAM_VERSION} = :s", f"{BATCHES_ATTR} = :b",
                f"{VERSION_ATTR} = :nv"]
        if newest is not None:
            values[":n"] = {"N": str(newest)}
            sets.append(f"{STREAM_NEWEST} = :n")
        if newest_any is not None:
            values[":x"] = {"N": str(-(-(newest_any + self.group.online.ttl_us) // 1_000_000))}
            sets.append("expires_at = :x")
        update = "SET " + ", ".join(sets)
        if newest is None:
            update += f" REMOVE {STREAM_NEWEST}"
        if stored is None or stored.version is None:
            cond = f"attribute_not_exists({VERSION_ATTR})"
        else:
            cond = f"{VERSION_ATTR} = :v"
            values[":v"] = {"N": str(stored.version)}

        def put() -> bool:
            try:
                self.client.update_item(TableName=self.table, Key={"pk": {"S": pk}}, UpdateExpression=update,
                                        ConditionExpression=cond, ExpressionAttributeValues=values)
                return True
            except self.client.exceptions.ConditionalCheckFailedException:
                return False

        return self._call(f"UpdateItem {self.table} pk={pk!r}", put, stats)

    def _apply_one(self, pk: str, stored: StoredItem | None, batch_tiles: Sequence[Mapping[str, Any]],
                   batch_id: int, run_us: int, source_version: int, stats: ApplyStats) -> str:
        for _ in range(MAX_CONFLICTS):
            if stored is not None and stored.batches.get(self.query_id, -1) >= batch_id:
                return "skipped"
            if self._put(pk, stored, batch_tiles, batch_id, run_us, source_version, stats):
                return "written"
            stats.conflicts += 1
            stored = self._get_one(pk, stats)
        raise OnlineStoreError(f"item pk={pk!r} of {self.table}: still conflicting after {MAX_CONFLICTS} "
                               "attempts (another writer keeps updating it)")

    def apply(self, tiles_by_pk: Mapping[str, Sequence[Mapping[str, Any]]], batch_id: int, run_us: int,
              source_version: int) -> ApplyStats:
        """Merge each entity's micro-batch tiles into its item; idempotent per (query id, batch id)."""
        stats = ApplyStats()
        pks = sorted(tiles_by_pk)
        stored = self.read(pks, stats)
        with ThreadPoolExecutor(max_workers=self.max_workers, thread_name_prefix="weir-stream-put") as pool:
            results = list(pool.map(lambda pk: self._apply_one(
                pk, stored.get(pk), tiles_by_pk[pk], batch_id, run_us, source_version, stats), pks))
        stats.written = results.count("written")
        stats.skipped_replay = results.count("skipped")
        return stats

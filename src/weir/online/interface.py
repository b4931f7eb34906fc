"""What the online store promises, whatever holds the items: :class:`OnlineStore` and the rules both stores share.

Two implementations: :class:`weir.online.store.DynamoOnlineStore` (every DynamoDB call of Weir) and
:class:`weir.online.memory.InMemoryOnlineStore` (the same semantics in a dict, for fast unit tests).

The semantics (attribute names in :mod:`weir.online.schema`):

* **Batch parts** (the daily publish) are written *newest wins*: an item's batch part is replaced only when the
  new one has newer events, or the same newest event and a later-or-equal run (so rerunning a run is
  idempotent). An older write is *skipped*, not an error. The stream part is left alone.
* **Stream parts** (the streaming job) are read, merged by the caller and written back under *optimistic
  concurrency*: the write holds only if ``item_version`` is still the value read (every write of either part
  bumps it), else the item is read and merged again. Each query id records the last batch id it applied, so a
  replayed micro-batch changes nothing (:func:`stream_step`).
* **Expiry** (``expires_at``, epoch seconds, DynamoDB's TTL attribute) only rises: a publish sets it only when
  that raises it, and a stream write keeps the larger of its own and the one it read. So neither path can cut
  the other's lifetime short, whichever order they land in.
* Reads return what is stored, expired or not (DynamoDB deletes expired items lazily, hours to days late);
  the feature client treats an item past ``expires_at`` as missing.
* A group's table that was never created: ``get_items`` raises :class:`OnlineStoreError` with code
  ``ResourceNotFoundException``; ``sample_run_times`` returns ``[]``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from weir.online.errors import ItemTooLarge, OnlineStoreError
from weir.online.schema import (
    EXPIRES_AT,
    ITEM_ATTRIBUTES,
    ITEM_VERSION,
    MAX_TILES_BYTES,
    NEWEST,
    PK,
    RUN,
    SOURCE_VERSION,
    STREAM_BATCHES,
    STREAM_NEWEST,
    STREAM_RUN,
    STREAM_TILES,
    TILES,
)

# how often one entity's stream write may lose the race to other writers before the batch fails (and is retried
# by Spark from its checkpoint)
MAX_CONFLICTS = 20
NOT_FOUND = "ResourceNotFoundException"


@dataclass(frozen=True)
class OnlineItem:
    """The batch part of one entity's item, as the publisher writes it (docs/architecture.md, "Online item")."""

    pk: str
    newest_event_us: int
    run_us: int
    source_version: int
    expires_at: int | None  # None: kept for ever (a group with lifetime features); see layout.retention_us
    tiles: bytes

    def to_dynamo(self) -> dict[str, Any]:
        """The item in DynamoDB's attribute-value form (benchmarks put it unconditionally for comparison)."""
        item = {
            PK: {"S": self.pk},
            NEWEST: {"N": str(self.newest_event_us)},
            RUN: {"N": str(self.run_us)},
            SOURCE_VERSION: {"N": str(self.source_version)},
            TILES: {"B": self.tiles},
        }
        if self.expires_at is not None:
            item[EXPIRES_AT] = {"N": str(self.expires_at)}
        return item


@dataclass
class _Counts:
    """What the writer threads of one call count together (under a lock): retries and items set aside."""

    retried: int = 0  # retry attempts after throttling / 5xx / connection errors
    too_large: list[str] = field(default_factory=list)  # pks not written: the item would exceed the size limit
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def _add(self, counter: str) -> None:
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)

    def count_retry(self) -> None:
        self._add("retried")

    def count_too_large(self, pk: str) -> None:
        with self._lock:
            self.too_large.append(pk)


@dataclass
class WriteStats(_Counts):
    """Outcome of one ``write_items`` call."""

    written: int = 0
    skipped: int = 0  # conditional check failed: a newer value is kept
    seconds: float = 0.0

    @property
    def items_per_s(self) -> float:
        return (self.written + self.skipped) / self.seconds if self.seconds > 0 else 0.0

    def count(self, written: bool) -> None:
        self._add("written" if written else "skipped")


@dataclass
class ApplyStats(_Counts):
    """Outcome of one ``apply_stream_tiles`` call."""

    written: int = 0
    skipped_replay: int = 0  # entity already holds this batch (a replayed batch id)
    conflicts: int = 0  # condition failed: re-read and merged again

    def count_conflict(self) -> None:
        self._add("conflicts")


@dataclass(frozen=True)
class StreamState:
    """What the stream's read-merge-write reads of one stored item (None fields: attribute absent)."""

    pk: str
    tiles: bytes | None  # the stream part's tiles blob
    stream_newest_us: int | None
    stream_run_us: int | None
    batch_newest_us: int | None  # the batch part's newest event
    batch_run_us: int | None  # the batch part's run time: it holds every event up to then
    batches: Mapping[str, int]  # query id -> last applied batch id
    version: int | None  # item_version
    expires_at: int | None


@dataclass(frozen=True)
class StreamPart:
    """The stream part the caller's merge returns for one item."""

    tiles: bytes
    newest_us: int | None  # None: no stream tile holds an event (the attribute is removed)
    run_us: int
    source_version: int
    expires_at: int | None  # the caller's expiry; the store never lowers the stored one


@dataclass(frozen=True)
class StreamWrite:
    """One conditional stream write: the new attribute values and the ``item_version`` it requires."""

    pk: str
    part: StreamPart
    batches: dict[str, int]
    expected_version: int | None  # None: the item must have no item_version yet
    version: int
    expires_at: int | None


@dataclass(frozen=True)
class RunTimes:
    """One item's batch part times, as the freshness check samples them."""

    newest_event_us: int
    run_us: int


# ``merge(pk, state)`` -> the new stream part; called again after a lost race, with the state read anew
StreamMerge = Callable[[str, StreamState | None], StreamPart]


@runtime_checkable
class OnlineStore(Protocol):
    """The operations Weir's online paths use; see the module doc for the semantics they promise."""

    def table_name(self, group: str) -> str:
        """The group's table name."""
        ...

    def ensure_table(self, group: str) -> str:
        """Create the group's table (with expiry on ``expires_at``) unless it exists; its name. Idempotent."""
        ...

    def drop_table(self, group: str) -> None:
        """Delete the group's table if it exists (tests and benchmarks)."""
        ...

    def write_items(self, group: str, items: Iterable[OnlineItem],
                    on_done: Callable[[int], None] | None = None) -> WriteStats:
        """Write batch parts newest-wins (creating the table); a key given twice in one call is refused."""
        ...

    def apply_stream_tiles(self, group: str, query_id: str, batch_id: int, pks: Sequence[str],
                           merge: StreamMerge) -> ApplyStats:
        """Read each item, ``merge`` it, write the stream part back (replay-safe, optimistic concurrency)."""
        ...

    def get_items(self, group: str, pks: Sequence[str], attributes: Sequence[str] = ITEM_ATTRIBUTES,
                  consistent: bool = False) -> dict[str, dict[str, Any]]:
        """Items by ``pk`` (missing keys absent), only ``attributes`` (and ``pk``), values as int/bytes/str."""
        ...

    def sample_run_times(self, group: str, limit: int = 50) -> list[RunTimes]:
        """The batch part times of up to ``limit`` items (items without a batch part are left out)."""
        ...


# ------------------------------------------------------------------------------------------ shared rules
def check_item(item: OnlineItem) -> None:
    """Refuse what DynamoDB would refuse (the local servers are laxer than AWS): empty keys, oversized tiles."""
    if not isinstance(item.pk, str) or not item.pk:
        raise OnlineStoreError(f"bad item key {item.pk!r}: keys are non-empty strings")
    check_tiles_size(item.pk, item.tiles, "use a larger hop for the long windows of this group")


def check_tiles_size(pk: str, tiles: bytes, fix: str) -> None:
    """Raise :class:`ItemTooLarge` before a write DynamoDB would refuse (callers set that entity aside)."""
    if len(tiles) > MAX_TILES_BYTES:
        raise ItemTooLarge(pk, f"{len(tiles):,} bytes of tiles; {fix}")


def check_keys(pks: Sequence[str]) -> list[str]:
    """The distinct keys of a read, in order; empty or non-string keys refused."""
    unique = list(dict.fromkeys(pks))
    for pk in unique:
        if not isinstance(pk, str) or not pk:
            raise OnlineStoreError(f"bad key {pk!r}: keys are non-empty strings")
    return unique


class UniqueKeys:
    """Refuses a second item for the same key within one ``write_items`` call (which one would win?)."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.seen: set[str] = set()

    def add(self, item: OnlineItem) -> None:
        check_item(item)
        if item.pk in self.seen:
            raise OnlineStoreError(
                f"duplicate key pk={item.pk!r} in one write to {self.table}: one item per entity per call")
        self.seen.add(item.pk)


def stream_state(item: dict[str, Any]) -> StreamState:
    """The stream's view of an item (attribute values as ``OnlineStore.get_items`` returns them)."""
    batches = item.get(STREAM_BATCHES) or {}
    tiles = item.get(STREAM_TILES)
    return StreamState(
        pk=str(item[PK]), tiles=bytes(tiles) if tiles is not None else None,
        stream_newest_us=item.get(STREAM_NEWEST), stream_run_us=item.get(STREAM_RUN),
        batch_newest_us=item.get(NEWEST), batch_run_us=item.get(RUN),
        batches={str(k): int(v) for k, v in batches.items()}, version=item.get(ITEM_VERSION),
        expires_at=item.get(EXPIRES_AT))


def stream_write(pk: str, state: StreamState | None, part: StreamPart, query_id: str, batch_id: int,
                 ) -> StreamWrite:
    """The conditional write that applies ``part``: next version, the batch recorded, expiry never lowered."""
    check_tiles_size(pk, part.tiles, "the stream cannot write this entity")
    batches = dict(state.batches) if state else {}
    batches[query_id] = batch_id
    expected = state.version if state else None
    stored_expiry = state.expires_at if state else None
    expiry = max((x for x in (part.expires_at, stored_expiry) if x is not None), default=None)
    return StreamWrite(pk, part, batches, expected, (expected or 0) + 1, expiry)


def apply_stream(pks: Sequence[str], query_id: str, batch_id: int, merge: StreamMerge,
                 read_items: Callable[[Sequence[str], ApplyStats], dict[str, dict[str, Any]]],
                 write: Callable[[StreamWrite, ApplyStats], bool],
                 each: Callable[[Callable[[str], str], list[str]], Iterable[str]] = map) -> ApplyStats:
    """``apply_stream_tiles`` of any store: one consistent read of every entity's stream state (``read_items``
    projects :data:`weir.online.schema.STREAM_READ_ATTRIBUTES`), then :func:`stream_step` per entity (``each``
    maps it over the entities: in order, or on a store's thread pool), re-reading one entity after a lost race."""
    stats = ApplyStats()
    ordered = check_keys(pks)
    stored = {pk: stream_state(item) for pk, item in read_items(ordered, stats).items()}

    def reread(pk: str) -> StreamState | None:
        item = read_items([pk], stats).get(pk)
        return None if item is None else stream_state(item)

    def one(pk: str) -> str:
        return stream_step(pk, stored.get(pk), query_id, batch_id, merge, lambda w: write(w, stats), reread, stats)

    results = list(each(one, ordered))
    stats.written = results.count("written")
    stats.skipped_replay = results.count("skipped")
    return stats


def stream_step(pk: str, state: StreamState | None, query_id: str, batch_id: int, merge: StreamMerge,
                write: Callable[[StreamWrite], bool], reread: Callable[[str], StreamState | None],
                stats: ApplyStats) -> str:
    """Apply one entity's micro-batch: ``"skipped"`` (a replay), ``"written"``, or ``"too_large"`` (the item would
    exceed DynamoDB's size limit: left as it was, the pk recorded in ``stats``); retried on lost races.

    ``write`` returns False when the version condition failed (another writer got there first); the item is then
    read again (``reread``) and merged again, at most :data:`MAX_CONFLICTS` times.
    """
    for _ in range(MAX_CONFLICTS):
        if state is not None and state.batches.get(query_id, -1) >= batch_id:
            return "skipped"
        try:
            written = write(stream_write(pk, state, merge(pk, state), query_id, batch_id))
        except ItemTooLarge:
            stats.count_too_large(pk)
            return "too_large"
        if written:
            return "written"
        stats.count_conflict()
        state = reread(pk)
    raise OnlineStoreError(f"item pk={pk!r}: still conflicting after {MAX_CONFLICTS} attempts (another writer "
                           "keeps updating it); the micro-batch fails and is retried from the checkpoint")

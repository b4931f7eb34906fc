"""An online store in memory with DynamoDB's semantics, for unit tests of everything that reads or writes items.

Same contract as :class:`weir.online.store.DynamoOnlineStore` (:mod:`weir.online.interface`): newest-wins batch
parts, version-conditioned stream parts with replay skipping, an expiry that only rises, reads that return
expired items until :meth:`InMemoryOnlineStore.expire` runs (as DynamoDB's lazy TTL deletion), a clear error for
a table never created. The conditions below mirror the store's condition expressions one for one; the
integration tests run the same scenarios against the real server. Thread-safe: one lock per store, and a stream
write's read and write are separate critical sections, so concurrent writers race exactly as they do on DynamoDB.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from weir.online import schema as s
from weir.online.capacity import item_size
from weir.online.errors import ITEM_LIMIT_BYTES, ItemTooLarge, OnlineStoreError
from weir.online.interface import NOT_FOUND, RunTimes, UniqueKeys, WriteStats, apply_stream, check_keys
from weir.runtime import RuntimeConfig

if TYPE_CHECKING:
    from weir.online.interface import ApplyStats, OnlineItem, StreamMerge, StreamWrite

Item = dict[str, Any]


def batch_wins(stored: Mapping[str, Any], item: OnlineItem) -> bool:
    """``attribute_not_exists(newest_event_us) OR newest_event_us < :e OR (newest_event_us = :e AND run_us <= :r)``."""
    if s.NEWEST not in stored:
        return True
    newest = int(stored[s.NEWEST])
    return newest < item.newest_event_us or (newest == item.newest_event_us and int(stored[s.RUN]) <= item.run_us)


def raises_expiry(stored: Mapping[str, Any], expires_at: int) -> bool:
    """``attribute_not_exists(expires_at) OR expires_at <= :x``."""
    return s.EXPIRES_AT not in stored or int(stored[s.EXPIRES_AT]) <= expires_at


class InMemoryOnlineStore:
    """Tables of items in a dict; see the module doc. ``config`` only names the tables (default prefix ``weir_``)."""

    def __init__(self, config: RuntimeConfig | None = None) -> None:
        self.config = config or RuntimeConfig()
        self.tables: dict[str, dict[str, Item]] = {}
        self._lock = threading.RLock()

    def table_name(self, group: str) -> str:
        return s.table_name(self.config, group)

    def _table(self, group: str) -> dict[str, Item]:
        name = self.table_name(group)
        table = self.tables.get(name)
        if table is None:
            raise OnlineStoreError(f"{name}: {NOT_FOUND}: the table does not exist; publish the group or run "
                                   "`weir online init` first", code=NOT_FOUND)
        return table

    # ------------------------------------------------------------------------------------------- tables
    def ensure_table(self, group: str) -> str:
        name = self.table_name(group)
        with self._lock:
            self.tables.setdefault(name, {})
        return name

    def drop_table(self, group: str) -> None:
        with self._lock:
            self.tables.pop(self.table_name(group), None)

    def expire(self, now_s: float | None = None) -> int:
        """Delete every item whose ``expires_at`` is before ``now_s`` (default: now), as DynamoDB's TTL sweeper
        eventually does; the number deleted."""
        now = time.time() if now_s is None else now_s
        deleted = 0
        with self._lock:
            for table in self.tables.values():
                for pk in [pk for pk, item in table.items() if s.EXPIRES_AT in item and now > item[s.EXPIRES_AT]]:
                    del table[pk]
                    deleted += 1
        return deleted

    # ------------------------------------------------------------------------------------- batch writes
    def write_items(self, group: str, items: Iterable[OnlineItem],
                    on_done: Callable[[int], None] | None = None) -> WriteStats:
        table_name = self.ensure_table(group)
        stats = WriteStats()
        began = time.perf_counter()
        keys = UniqueKeys(table_name)
        for item in items:
            try:
                keys.add(item)
                stats.count(self._write_batch(self.tables[table_name], item))
            except ItemTooLarge:
                stats.count_too_large(item.pk)  # set aside; the rest of the call proceeds
            if on_done is not None:
                on_done(1)
        stats.seconds = time.perf_counter() - began
        return stats

    def _write_batch(self, table: dict[str, Item], item: OnlineItem) -> bool:
        with self._lock:
            stored = dict(table.get(item.pk, {s.PK: item.pk}))
            if not batch_wins(stored, item):
                return False
            stored.update({s.TILES: bytes(item.tiles), s.NEWEST: item.newest_event_us, s.RUN: item.run_us,
                           s.SOURCE_VERSION: item.source_version})
            if item.expires_at is None:
                stored.pop(s.EXPIRES_AT, None)  # kept for ever: the only rise left
            elif raises_expiry(stored, item.expires_at):
                stored[s.EXPIRES_AT] = item.expires_at
            stored[s.ITEM_VERSION] = int(stored.get(s.ITEM_VERSION, 0)) + 1
            _check_size(item.pk, stored)
            table[item.pk] = stored
            return True

    # ------------------------------------------------------------------------------------ stream writes
    def apply_stream_tiles(self, group: str, query_id: str, batch_id: int, pks: Sequence[str],
                           merge: StreamMerge) -> ApplyStats:
        self.ensure_table(group)

        def read(keys: Sequence[str], _stats: ApplyStats) -> dict[str, Item]:
            return self.get_items(group, keys, s.STREAM_READ_ATTRIBUTES, consistent=True)

        return apply_stream(pks, query_id, batch_id, merge, read, lambda w, _stats: self._write_stream(group, w))

    def _write_stream(self, group: str, w: StreamWrite) -> bool:
        """``item_version = :v`` (or ``attribute_not_exists(item_version)``), then SET the stream part."""
        with self._lock:
            table = self._table(group)
            stored = dict(table.get(w.pk, {s.PK: w.pk}))
            if stored.get(s.ITEM_VERSION) != w.expected_version:
                return False
            part = w.part
            stored.update({s.STREAM_TILES: bytes(part.tiles), s.STREAM_RUN: part.run_us,
                           s.STREAM_VERSION: part.source_version, s.STREAM_BATCHES: dict(w.batches),
                           s.ITEM_VERSION: w.version})
            if part.newest_us is not None:
                stored[s.STREAM_NEWEST] = part.newest_us
            else:
                stored.pop(s.STREAM_NEWEST, None)
            if w.expires_at is not None:
                stored[s.EXPIRES_AT] = w.expires_at
            _check_size(w.pk, stored)
            table[w.pk] = stored
            return True

    # -------------------------------------------------------------------------------------------- reads
    def get_items(self, group: str, pks: Sequence[str], attributes: Sequence[str] = s.ITEM_ATTRIBUTES,
                  consistent: bool = False) -> dict[str, dict[str, Any]]:
        unique = check_keys(pks)
        wanted = {s.PK, *attributes}
        with self._lock:
            table = self._table(group)
            return {pk: {k: (dict(v) if isinstance(v, dict) else v) for k, v in table[pk].items() if k in wanted}
                    for pk in unique if pk in table}

    def sample_run_times(self, group: str, limit: int = 50) -> list[RunTimes]:
        with self._lock:
            try:
                items = list(self._table(group).values())[:limit]
            except OnlineStoreError:
                return []
        return [RunTimes(int(i[s.NEWEST]), int(i[s.RUN])) for i in items if s.NEWEST in i and s.RUN in i]


def _check_size(pk: str, item: Mapping[str, Any]) -> None:
    if item_size(item) > ITEM_LIMIT_BYTES:
        raise ItemTooLarge(pk)

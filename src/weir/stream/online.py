"""Apply a micro-batch's tiles to the online items: read, merge, conditional write; a replay changes nothing.

The stream writes only the *stream part* of an item (:mod:`weir.online.parts`); the batch publisher owns the
batch part. Per entity, the store (:meth:`weir.online.interface.OnlineStore.apply_stream_tiles`) reads the item
consistently and hands it to :meth:`StreamOnlineWriter.merge_for`, which merges the micro-batch tiles into the
stream tiles (:func:`weir.stream.merge.merge_item_tiles`, the read path's merge math), dropping tiles that end at
or before the batch part's ``run_us`` (the batch part already counts those events); the store then writes the
stream part back:

* only if ``item_version`` is still the value read. Every write of either part bumps it, so a concurrent stream
  writer *or a publish* landing between the read and the write makes the write fail: the entity is read and
  merged again (optimistic concurrency), and no writer loses another's events or expiry;
* recording the batch id per query id (``stream_batches``): an entity already holding this batch id is skipped
  (``foreachBatch`` is at-least-once).

``stream_run_us`` is the micro-batch's processing time (the values are complete up to then),
``stream_source_version`` the Delta version of ``events/<group>`` reflected before the batch (its own events
follow in the next commit), and ``expires_at`` the
newest event of either part + ``online.ttl``, never lower than the stored one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from weir.compute.layout import expires_at_s
from weir.online.codec import decode_tiles, encode_tiles
from weir.online.interface import ApplyStats, OnlineStore, StreamMerge, StreamPart, StreamState
from weir.stream.merge import GroupLayout, merge_item_tiles

__all__ = ["ApplyStats", "StreamOnlineWriter"]


class StreamOnlineWriter:
    """Applies micro-batch tiles of one group to its online table (``<prefix><group>``)."""

    def __init__(self, store: OnlineStore, layout: GroupLayout, query_id: str) -> None:
        self.store = store
        self.layout = layout
        self.group = layout.group
        self.query_id = query_id
        self.table = store.ensure_table(self.group.name)

    def merge_for(self, tiles_by_pk: Mapping[str, Sequence[Mapping[str, Any]]], run_us: int,
                  source_version: int) -> StreamMerge:
        """The merge the store calls per entity with what it read (again after a lost race)."""
        def merge(pk: str, stored: StreamState | None) -> StreamPart:
            old = decode_tiles(stored.tiles) if stored is not None and stored.tiles else []
            cutoff = stored.batch_run_us if stored is not None else None
            tiles, newest = merge_item_tiles(self.layout, old, tiles_by_pk[pk], cutoff)
            known = (newest, *((stored.stream_newest_us, stored.batch_newest_us) if stored is not None else ()))
            newest_any = max((n for n in known if n is not None), default=None)
            previous_run = stored.stream_run_us if stored is not None and stored.stream_run_us else 0
            return StreamPart(encode_tiles(tiles), newest, max(run_us, previous_run), source_version,
                              None if newest_any is None else expires_at_s(self.group, newest_any))

        return merge

    def apply(self, tiles_by_pk: Mapping[str, Sequence[Mapping[str, Any]]], batch_id: int, run_us: int,
              source_version: int) -> ApplyStats:
        """Merge each entity's micro-batch tiles into its item; idempotent per (query id, batch id)."""
        return self.store.apply_stream_tiles(self.group.name, self.query_id, batch_id, sorted(tiles_by_pk),
                                             self.merge_for(tiles_by_pk, run_us, source_version))

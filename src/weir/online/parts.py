"""The two parts of an online item and how a read combines them (the lambda architecture, one item per entity).

* the **batch part**, set by the publisher: ``tiles`` (every event up to the run time ``run_us``, a day
  boundary), ``newest_event_us``, ``run_us``, ``source_version`` (the tile table's Delta version);
* the **stream part**, set by the streaming job: ``stream_tiles``, ``stream_newest_us``, ``stream_run_us`` (the
  micro-batch's processing time), ``stream_source_version`` (the ``events/<group>`` Delta version), plus the
  job's bookkeeping ``stream_batches``; ``item_version`` and ``expires_at`` are shared (attribute names:
  :mod:`weir.online.schema`).

A read merges the batch tiles with the stream tiles that *end after* the batch part's ``run_us``: the batch
part covers every event up to ``run_us``, the stream adds what came after, so an event both paths saw is
counted once, whichever path wrote first. Hops divide a day and runs end on day boundaries, so a tile is
entirely before or entirely after ``run_us``. Stream events at or before ``run_us`` that the batch did not
see (not yet in its Delta source) are not served until a rerun of that day includes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from weir.compute.ir import NEWEST_COL
from weir.compute.online_tile import END as TILE_END
from weir.online.codec import decode_tiles
from weir.online.schema import (
    BATCH_ATTRIBUTES,
    EXPIRES_AT,
    NEWEST,
    READ_ATTRIBUTES,
    RUN,
    SOURCE_VERSION,
    STREAM_ATTRIBUTES,
    STREAM_NEWEST,
    STREAM_RUN,
    STREAM_TILES,
    STREAM_VERSION,
    TILES,
)


def item_expiry(item: Mapping[str, Any]) -> int | None:
    """The stored ``expires_at`` (epoch seconds), None when the item has none (kept for ever)."""
    value = item.get(EXPIRES_AT)
    return None if value is None else int(value)


__all__ = [
    "BATCH_ATTRIBUTES",
    "READ_ATTRIBUTES",
    "STREAM_ATTRIBUTES",
    "STREAM_NEWEST",
    "STREAM_RUN",
    "STREAM_TILES",
    "STREAM_VERSION",
    "ItemView",
    "after_cutoff",
    "item_expiry",
    "item_view",
    "newest_in",
]


@dataclass(frozen=True)
class ItemView:
    """What a read serves from one item: the tiles to merge, the newest event among them, and provenance."""

    tiles: list[dict[str, Any]]
    newest_event_us: int
    as_of_us: int  # values are complete up to here (the later of the two parts' run times)
    source_version: int
    expires_at: int | None  # None: the item is kept for ever


def after_cutoff(tiles: Sequence[Mapping[str, Any]], cutoff_us: int | None) -> list[dict[str, Any]]:
    """Tiles whose end is after ``cutoff_us`` (all of them without a cutoff)."""
    return [dict(t) for t in tiles if cutoff_us is None or int(t[TILE_END]) > cutoff_us]


def newest_in(tiles: Sequence[Mapping[str, Any]]) -> int | None:
    values = [int(t[NEWEST_COL]) for t in tiles if t.get(NEWEST_COL) is not None]
    return max(values) if values else None


def item_view(item: Mapping[str, Any]) -> ItemView | None:
    """Combine an item's parts (attribute values as ``OnlineStore.get_items`` returns them)."""
    has_batch = item.get(TILES) is not None
    batch_tiles = decode_tiles(item[TILES]) if has_batch else []
    cutoff = int(item[RUN]) if has_batch else None
    stream_tiles = after_cutoff(decode_tiles(item[STREAM_TILES]), cutoff) if item.get(STREAM_TILES) else []
    stream_newest = newest_in(stream_tiles)
    newest = max((v for v in (int(item[NEWEST]) if has_batch else None, stream_newest)
                  if v is not None), default=None)
    if newest is None:
        return None
    runs = [int(item[RUN])] if has_batch else []
    if stream_tiles and item.get(STREAM_RUN) is not None:
        runs.append(int(item[STREAM_RUN]))
    version = item[SOURCE_VERSION] if has_batch else item.get(STREAM_VERSION, -1)
    return ItemView(batch_tiles + stream_tiles, newest, max(runs, default=0), int(version),
                    item_expiry(item))

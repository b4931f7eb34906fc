"""The online table and item layout: the table name of a group and every attribute name of an item.

One table per feature group, ``<dynamodb_table_prefix><group>``, hash key ``pk`` (:mod:`weir.online.keys`),
one item per entity with two parts (:mod:`weir.online.parts` says how a read combines them):

* the **batch part**, set by the daily publish: ``tiles``, ``newest_event_us``, ``run_us``, ``source_version``;
* the **stream part**, set by the streaming job: ``stream_tiles``, ``stream_newest_us``, ``stream_run_us``,
  ``stream_source_version``, and its replay bookkeeping ``stream_batches`` (query id -> last applied batch id);
* shared: ``expires_at`` (DynamoDB's TTL attribute, epoch seconds; it only ever rises) and ``item_version``
  (bumped by every write of either part, so the stream's read-merge-write sees a publish that landed after its
  read and merges again).
"""

from __future__ import annotations

from weir.runtime import RuntimeConfig

PK = "pk"
# batch part
TILES = "tiles"
NEWEST = "newest_event_us"
RUN = "run_us"
SOURCE_VERSION = "source_version"
# stream part
STREAM_TILES = "stream_tiles"
STREAM_NEWEST = "stream_newest_us"
STREAM_RUN = "stream_run_us"
STREAM_VERSION = "stream_source_version"
STREAM_BATCHES = "stream_batches"
# shared
EXPIRES_AT = "expires_at"
ITEM_VERSION = "item_version"

BATCH_ATTRIBUTES = (NEWEST, RUN, SOURCE_VERSION, TILES)
STREAM_ATTRIBUTES = (STREAM_TILES, STREAM_NEWEST, STREAM_RUN, STREAM_VERSION)
# what a feature read needs
READ_ATTRIBUTES = (*BATCH_ATTRIBUTES, *STREAM_ATTRIBUTES, EXPIRES_AT)
# the batch part with its key and expiry (the default projection of ``OnlineStore.get_items``)
ITEM_ATTRIBUTES = (PK, NEWEST, RUN, SOURCE_VERSION, EXPIRES_AT, TILES)
# what the stream's read-merge-write reads (not the batch part's tiles)
STREAM_READ_ATTRIBUTES = (PK, STREAM_TILES, STREAM_NEWEST, STREAM_RUN, NEWEST, RUN, STREAM_BATCHES, ITEM_VERSION,
                          EXPIRES_AT)

# DynamoDB's item limit is 400 KB; keep room for the key and the other attributes
MAX_TILES_BYTES = 390_000


def table_name(config: RuntimeConfig, group: str) -> str:
    """The online table of ``group``: ``<dynamodb_table_prefix><group>``."""
    return f"{config.dynamodb_table_prefix}{group}"


def expires_at_s(newest_event_us: int, ttl_us: int) -> int:
    """The TTL attribute of an item whose newest event is ``newest_event_us``: epoch seconds, rounded up."""
    return -(-(newest_event_us + ttl_us) // 1_000_000)

"""Streaming: Kafka -> the same tiles and merge math as batch -> DynamoDB, with exactly-once effect.

``start_stream`` / ``run_stream`` (``weir.stream.job``) run a group's Structured Streaming query;
``parse_records`` (``weir.stream.parse``) is the explicit validity check; ``merge_item_tiles``
(``weir.stream.merge``) the pure merge of micro-batch tiles into an online item; ``produce_records`` /
``produce_live`` (``weir.stream.producer``) put events on the topic; ``weir.stream.supervisor`` keeps a job
running in the background. Importing this package imports none of them (names resolve on first use), so the
pure ``weir.stream.merge`` loads without Spark, Kafka or botocore.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from weir.lazy import lazy_getattr

if TYPE_CHECKING:
    from weir.stream.job import BatchMetrics, BatchProcessor, StreamOptions, run_stream, start_stream
    from weir.stream.merge import GroupLayout, merge_item_tiles
    from weir.stream.producer import produce_live, produce_records

_LAZY = {
    "BatchMetrics": "weir.stream.job",
    "BatchProcessor": "weir.stream.job",
    "StreamOptions": "weir.stream.job",
    "run_stream": "weir.stream.job",
    "start_stream": "weir.stream.job",
    "GroupLayout": "weir.stream.merge",
    "merge_item_tiles": "weir.stream.merge",
    "produce_live": "weir.stream.producer",
    "produce_records": "weir.stream.producer",
}

__all__ = [
    "BatchMetrics",
    "BatchProcessor",
    "GroupLayout",
    "StreamOptions",
    "merge_item_tiles",
    "produce_live",
    "produce_records",
    "run_stream",
    "start_stream",
]


__getattr__ = lazy_getattr(__name__, _LAZY)

"""Streaming: Kafka -> the same tiles and merge math as batch -> DynamoDB, with exactly-once effect.

``start_stream`` / ``run_stream`` (``weir.stream.job``) run a group's Structured Streaming query;
``parse_records`` (``weir.stream.parse``) is the explicit validity check; ``merge_item_tiles``
(``weir.stream.merge``) the pure merge of micro-batch tiles into an online item; ``produce_records`` /
``produce_live`` (``weir.stream.producer``) put events on the topic; ``weir.stream.supervisor`` keeps a job
running in the background. Importing this package does not import Spark.
"""

from weir.stream.job import BatchMetrics, BatchProcessor, StreamOptions, run_stream, start_stream
from weir.stream.merge import GroupLayout, merge_item_tiles
from weir.stream.producer import produce_live, produce_records

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

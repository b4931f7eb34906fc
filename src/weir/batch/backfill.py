"""``backfill(spark, group, start, end)`` and the daily run of one day: the batch engine over days, in chunks."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from weir.batch.conflicts import retry_on_conflict
from weir.batch.engine import RangeResult, compute_range
from weir.progress import progress_bar
from weir.runtime import RuntimeConfig, load_config
from weir.spec.loader import as_group
from weir.spec.models import FeatureGroup

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass
class BackfillSummary:
    group: str
    start: date
    end: date
    run_id: str
    events: int = 0  # source rows read
    quarantined: int = 0
    tiles: int = 0
    feature_rows: int = 0
    seconds: float = 0.0
    conflicts_retried: int = 0  # chunks computed again after losing a commit to a concurrent run of the group

    def add(self, chunk: RangeResult) -> None:
        """Count one computed chunk of days."""
        self.events += chunk.events
        self.quarantined += chunk.rejected
        self.tiles += chunk.tiles
        self.feature_rows += chunk.feature_rows

    def lines(self) -> list[str]:
        rate = self.events / self.seconds if self.seconds else 0.0
        return [
            f"group {self.group}: {self.start} .. {self.end} "
            f"({(self.end - self.start).days + 1} days, run {self.run_id})",
            f"  rows read       {self.events:>12,}   ({rate:,.0f} events/s)",
            f"  quarantined     {self.quarantined:>12,}",
            f"  tiles written   {self.tiles:>12,}",
            f"  feature rows    {self.feature_rows:>12,}   (one per entity per day)",
            f"  time            {self.seconds:>11.1f}s",
        ]


def day_chunks(start: date, end: date, chunk_days: int) -> list[tuple[date, date]]:
    """Consecutive [first, last] ranges covering start..end, each at most ``chunk_days`` long."""
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    if chunk_days < 1:
        raise ValueError("chunk_days must be >= 1")
    out = []
    first = start
    while first <= end:
        last = min(end, first + timedelta(days=chunk_days - 1))
        out.append((first, last))
        first = last + timedelta(days=1)
    return out


def backfill(spark: SparkSession, group: FeatureGroup | str, start: date, end: date,
             config: RuntimeConfig | None = None, chunk_days: int = 7, progress: bool = False) -> BackfillSummary:
    """Compute days start..end (inclusive) of ``group``: tiles, feature rows at each day's end, quarantine.

    Rerunning a range replaces exactly that range. Chunks run in date order, each starting from the stored
    tiles and lifetime snapshot the previous one left, so a long backfill equals the same days run one by one.
    Day D holds the events in (D 00:00, D+1 00:00]: to include events at midnight of the first event's date,
    start a day earlier.

    >>> summary = backfill(get_spark(), "user_spend", date(2026, 9, 30), date(2026, 10, 31))
    >>> summary.events, summary.feature_rows
    """
    config = config or load_config()
    group = as_group(group, config.specs_dir)
    summary = BackfillSummary(group.name, start, end, uuid.uuid4().hex[:12])
    began = time.perf_counter()
    with progress_bar(progress, f"backfill {group.name}", "days", (end - start).days + 1) as update:
        for first, last in day_chunks(start, end, chunk_days):
            summary.add(_compute_chunk(spark, group, config, first, last, summary))
            if update is not None:
                update(advance=(last - first).days + 1)
    summary.seconds = time.perf_counter() - began
    return summary


def _compute_chunk(spark: SparkSession, group: FeatureGroup, config: RuntimeConfig, first: date, last: date,
                   summary: BackfillSummary) -> RangeResult:
    """One chunk, computed again if a concurrent run of the group wins a commit (the chunk replaces its days)."""
    def count(_: BaseException) -> None:
        summary.conflicts_retried += 1

    return retry_on_conflict(lambda: compute_range(spark, group, config, first, last, summary.run_id),
                             group.name, first, last, on_retry=count)


def run_day(spark: SparkSession, group: FeatureGroup | str, ds: date, config: RuntimeConfig | None = None,
            ) -> BackfillSummary:
    """The scheduled daily run of day ``ds`` (incremental: day ``ds``'s events plus stored tiles).

    >>> run_day(get_spark(), "user_spend", date(2026, 11, 1)).feature_rows
    """
    return backfill(spark, group, ds, ds, config, chunk_days=1)

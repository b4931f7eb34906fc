"""Table maintenance benchmark: ``VACUUM`` with Spark's default file-listing parallelism vs Weir's.

Run (only Spark is needed, not the local stack):

    .venv/bin/python bench/bench_maintenance.py --tables 4 --appends 12 --rounds 3

Delta's ``VACUUM`` lists a table's files in a Spark stage of ``spark.sql.sources.parallelPartitionDiscovery
.parallelism`` tasks: 10,000 by default, whatever the table's size. ``weir.lake.maintenance`` sets it to a few
tasks per core (``vacuum_listing_tasks``). Each round appends ``--appends`` small files to each of ``--tables``
tables (as stream micro-batches leave them), compacts them, then vacuums half the tables one way and half the
other, alternating which half goes first: both ways run in the same process, on the same kind of table, in turn.
Prints the median seconds per table each way, the ratio, and the command that reproduces them.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from typing import Any

DEFAULT_PARALLELISM = 10_000  # Spark's own default of the setting


def _append_small_files(spark: Any, path: str, appends: int, seed: int) -> None:
    rnd = random.Random(seed)
    for _ in range(appends):
        rows = [(rnd.choice("abcdef"), float(rnd.randint(1, 50)), datetime(2026, 6, 1)
                 + timedelta(minutes=rnd.randrange(3 * 1440))) for _ in range(5)]
        (spark.createDataFrame(rows, "user_id string, amount double, event_ts timestamp").coalesce(1)
         .write.format("delta").mode("append").save(path))


def _timed_vacuum(spark: Any, path: str, listing_tasks: int | None) -> float:
    """Seconds of one ``weir.lake.maintenance.vacuum_table`` (retention 0 h) of ``path``, with its listing
    tasks (None) or ``listing_tasks``: the same call, only the setting differs."""
    from delta.tables import DeltaTable

    from weir.lake.maintenance import vacuum_table

    table = DeltaTable.forPath(spark, path)
    began = time.perf_counter()
    vacuum_table(spark, table, 0.0, listing_tasks)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tables", type=int, default=4, help="tables per round (half vacuumed each way)")
    parser.add_argument("--appends", type=int, default=12, help="small files appended to each table per round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    from delta.tables import DeltaTable

    from weir.lake.maintenance import vacuum_listing_tasks
    from weir.runtime import build_config
    from weir.spark import get_spark

    lake = tempfile.mkdtemp(prefix="weir-bench-maint-")
    config = build_config(lake_path=lake)
    spark = get_spark("weir-bench-maintenance", config)
    spark.sparkContext.setLogLevel("ERROR")
    default: list[float] = []
    weir: list[float] = []
    for r in range(args.rounds):
        paths = [f"{lake}/r{r}_t{i}" for i in range(args.tables)]
        for i, path in enumerate(paths):
            _append_small_files(spark, path, args.appends, seed=r * 100 + i)
            DeltaTable.forPath(spark, path).optimize().executeCompaction()
        for i, path in enumerate(paths):
            first_default = (i + r) % 2 == 0
            (default if first_default else weir).append(_timed_vacuum(spark, path, DEFAULT_PARALLELISM
                                                                      if first_default else None))
        print(f"round {r + 1}/{args.rounds}: default {statistics.median(default):.1f} s, "
              f"weir {statistics.median(weir):.1f} s (medians so far)", file=sys.stderr, flush=True)
    d, w = statistics.median(default), statistics.median(weir)
    print(f"VACUUM of a table of {args.appends} small files compacted into one, {len(default)} + {len(weir)} tables, "
          f"local[{spark.sparkContext.defaultParallelism}]")
    print("| listing tasks | VACUUM seconds per table, median (min-max) |")
    print("| --- | --- |")
    print(f"| {DEFAULT_PARALLELISM} (Spark's default) | {d:.1f} ({min(default):.1f}-{max(default):.1f}) |")
    print(f"| {vacuum_listing_tasks(spark)} (weir.lake.maintenance) | {w:.1f} ({min(weir):.1f}-{max(weir):.1f}) |")
    print(f"ratio default / weir: {d / w:.1f}x")
    print("command: .venv/bin/python bench/bench_maintenance.py " + " ".join(sys.argv[1:]))
    spark.stop()


if __name__ == "__main__":
    main()

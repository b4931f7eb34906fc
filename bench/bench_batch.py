"""Batch engine benchmark: full-backfill throughput, and the incremental daily run vs a full recompute.

Run (the local stack is not needed, only Spark):

    .venv/bin/python bench/bench_batch.py --users 100000 --events 10000000 --days 30

Both measurements run in the same process on the same data, so their ratio is meaningful on a noisy machine.
Prints the figures and the command that reproduces them; copy them into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timedelta


def jvm_peak_rss_mb(spark: object) -> float:
    """Peak resident memory (VmHWM) of the Spark driver JVM, which runs the executors in local mode."""
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()  # type: ignore[attr-defined]
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def spark_transactions(spark: object, lake: str, start: date, days: int, users: int, events: int) -> int:
    """``events`` seeded synthetic transactions over ``days`` from ``start`` for ``users`` users (Zipf-like user
    activity, 5% declines), written as the demo ``transactions`` Delta table, generated in Spark."""
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    assert isinstance(spark, SparkSession)
    t0 = int(datetime.combine(start, datetime.min.time()).timestamp()) * 1_000_000
    span = days * 86_400 * 1_000_000
    df = (spark.range(events, numPartitions=16)
          .withColumn("u", F.floor(F.pow(F.rand(11), F.lit(2.0)) * users).cast("long"))
          .select(F.concat(F.lit("t"), F.col("id")).alias("txn_id"),
                  F.concat(F.lit("u"), F.col("u")).alias("user_id"),
                  F.concat(F.lit("m"), F.floor(F.rand(12) * max(50, users // 100)).cast("long")).alias("merchant_id"),
                  F.element_at(F.array(*[F.lit(c) for c in ("grocery", "travel", "fuel", "online", "dining")]),
                               (F.floor(F.rand(13) * 5) + 1).cast("int")).alias("merchant_category"),
                  F.round(F.exp(F.randn(14) + 3.5), 2).alias("amount"),
                  F.when(F.rand(15) < 0.05, "declined").otherwise("approved").alias("status"),
                  F.timestamp_micros((F.lit(t0) + F.floor(F.rand(16) * span)).cast("long")).alias("event_ts"))
          .withColumn("ds", F.to_date("event_ts")))
    df.write.format("delta").mode("overwrite").partitionBy("ds").save(f"{lake}/transactions")
    return events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--group", default="user_spend")
    parser.add_argument("--reuse-full", action="store_true",
                        help="take the full backfill's time as the full recompute (the same computation: every "
                             "day from raw events) instead of running it a second time; for the 10M run")
    parser.add_argument("--spark-generate", action="store_true",
                        help="generate the transactions in Spark (seeded; for 10M+ events: the Python demo "
                             "generator builds every row in the driver)")
    args = parser.parse_args()

    lake = tempfile.mkdtemp(prefix="weir-bench-batch-")
    os.environ["WEIR_LAKE_PATH"] = lake
    from weir.batch import backfill, run_day
    from weir.demo import generate, write_demo_tables
    from weir.runtime import load_config
    from weir.spark import get_spark
    from weir.spec import find_spec

    config = load_config()
    spark = get_spark("weir-bench-batch", config)
    group = find_spec(args.group, config.specs_dir)
    end = date(2026, 11, 1)
    start = end - timedelta(days=args.days)
    if args.spark_generate:
        n_events = spark_transactions(spark, lake, start, args.days, args.users, args.events)
    else:
        rate = args.events / args.users / args.days
        data = generate(3, datetime.combine(start, datetime.min.time()), args.days, args.users,
                        max(50, args.users // 100), rate)
        write_demo_tables(spark, data, lake)
        n_events = len(data.transactions)
    print(f"data ready: {n_events:,} events", flush=True)
    last = end - timedelta(days=1)

    t0 = time.perf_counter()
    full = backfill(spark, group, start, last, config, chunk_days=args.days)
    full_s = time.perf_counter() - t0
    cores = spark.sparkContext.defaultParallelism

    # The same last day two ways: incremental (that day's events + stored tiles) vs a full recompute of the
    # whole history up to it, as an engine without stored tiles would have to do.
    t0 = time.perf_counter()
    run_day(spark, group, last, config)
    incremental_s = time.perf_counter() - t0
    if args.reuse_full:
        recompute_s = full_s
    else:
        t0 = time.perf_counter()
        backfill(spark, group, start, last, config, chunk_days=args.days)
        recompute_s = time.perf_counter() - t0
    peak_mb = jvm_peak_rss_mb(spark)

    cmd = " ".join([".venv/bin/python", "bench/bench_batch.py", *sys.argv[1:]])
    print(f"command: {cmd}")
    print(f"events: {n_events:,} over {args.days} days, {args.users:,} users, Spark {config.spark_master} "
          f"({cores} cores)")
    print(f"full backfill: {full_s:.1f}s, {n_events / full_s:,.0f} events/s, "
          f"{n_events / full_s / cores:,.0f} events/s/core, {full.feature_rows:,} feature rows")
    print(f"daily run of {last}: incremental {incremental_s:.1f}s vs full recompute {recompute_s:.1f}s: "
          f"ratio {recompute_s / incremental_s:.1f}x"
          + (" (full recompute = the full backfill above)" if args.reuse_full else ""))
    print(f"peak RSS of the Spark JVM (driver, local mode): {peak_mb:,.0f} MB")
    spark.stop()
    shutil.rmtree(lake, ignore_errors=True)


if __name__ == "__main__":
    main()

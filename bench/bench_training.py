"""Training-set benchmark: Weir's point-in-time join vs a naive Spark range join, same spine, same run.

    .venv/bin/python bench/bench_training.py --spine-rows 1000000 --users 100000 --days 30

The naive baseline joins every spine row to every event of its entity in the longest window and aggregates
(what a hand-written point-in-time SQL does). Both compute `user_spend`'s windowed sums and counts; the
ratio of wall times is reported. (Feast's get_historical_features is not part of this run: Feast is not
installed in the project's environment; see docs/benchmarks.md.)
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from datetime import date, datetime, timedelta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spine-rows", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--txns-per-user-per-day", type=float, default=1.0)
    args = parser.parse_args()

    lake = tempfile.mkdtemp(prefix="weir-bench-training-")
    os.environ["WEIR_LAKE_PATH"] = lake
    from pyspark.sql import functions as F

    from weir.batch import backfill
    from weir.demo import generate, write_demo_tables
    from weir.runtime import load_config
    from weir.spark import get_spark
    from weir.spec import find_spec
    from weir.training import build

    config = load_config()
    spark = get_spark("weir-bench-training", config)
    group = find_spec("user_spend", config.specs_dir)
    end = date(2026, 11, 1)
    start = end - timedelta(days=args.days)
    data = generate(5, datetime.combine(start, datetime.min.time()), args.days, args.users,
                    max(50, args.users // 100), args.txns_per_user_per_day)
    write_demo_tables(spark, data, lake)
    backfill(spark, group, start, end - timedelta(days=1), config, chunk_days=args.days)
    span = args.days * 86400
    spine = (spark.range(args.spine_rows)
             .select(F.format_string("u%06d", (F.col("id") % args.users + 1).cast("int")).alias("user_id"),
                     F.timestamp_seconds(F.lit(int(datetime.combine(start, datetime.min.time()).timestamp()))
                                         + (F.col("id") * 7919) % span).alias("ts"),
                     (F.col("id") % 2).alias("label")))
    spine = spine.persist()
    spine.count()
    cols = ["txn_count_1d", "txn_count_7d", "txn_amount_sum_7d", "txn_amount_sum_30d"]

    t0 = time.perf_counter()
    ts = build(spine, [f"user_spend:{c}" for c in cols], spark=spark, config=config, groups=[group])
    ts.df.write.format("noop").mode("overwrite").save()
    weir_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    ev = spark.read.format("delta").load(config.table_path("transactions")).select("user_id", "amount", "event_ts")
    j = spine.alias("s").join(ev.alias("e"), (F.col("s.user_id") == F.col("e.user_id"))
                              & (F.col("e.event_ts") <= F.col("s.ts"))
                              & (F.col("e.event_ts") > F.col("s.ts") - F.expr("INTERVAL 30 DAYS")), "left")
    age = F.col("s.ts").cast("long") - F.col("e.event_ts").cast("long")
    naive = j.groupBy("s.user_id", "s.ts", "s.label").agg(
        F.count(F.when(age < 86400, 1)).alias("txn_count_1d"), F.count(F.when(age < 7 * 86400, 1)).alias("c7"),
        F.sum(F.when(age < 7 * 86400, F.col("amount"))).alias("s7"), F.sum("amount").alias("s30"))
    naive.write.format("noop").mode("overwrite").save()
    naive_s = time.perf_counter() - t0

    cmd = " ".join([".venv/bin/python", "bench/bench_training.py", *sys.argv[1:]])
    print(f"command: {cmd}")
    print(f"spine rows: {args.spine_rows:,}; events: {len(data.transactions):,} over {args.days} days; "
          f"{args.users:,} users; Spark {config.spark_master}")
    print(f"weir training.build: {weir_s:.1f}s ({args.spine_rows:,} rows)")
    print(f"naive range join:    {naive_s:.1f}s")
    print(f"ratio naive / weir:  {naive_s / weir_s:.2f}x")
    spark.stop()
    shutil.rmtree(lake, ignore_errors=True)


if __name__ == "__main__":
    main()

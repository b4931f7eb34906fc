"""The same backfill and publish on a Spark standalone cluster (master + 2 one-core workers) and on local[2].

Run with the local stack up (`weir dev up`, for the publish's DynamoDB):

    .venv/bin/python bench/bench_cluster.py --users 2000 --days 7

Each step is a `weir` CLI run (a driver of its own, as in production), so both times include the driver's
start; the cluster's also include executor launch (a JVM per worker and a Python worker per task) and the
shuffle going through the workers instead of one JVM. Lake on local disk for both, so only the cluster differs.
Prints the figures and the command that reproduces them; copy them into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def write_source(lake: Path, users: int, start: date, days: int) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    from weir.demo.generator import generate

    data = generate(seed=7, start=datetime.combine(start, datetime.min.time()), days=days, n_users=users,
                    n_merchants=max(10, users // 20), txns_per_user_per_day=3.0)
    frame = data.transactions.copy()
    frame["event_ts"] = frame["event_ts"].dt.tz_localize(UTC)
    frame["ds"] = frame["event_ts"].dt.date
    write_deltalake(str(lake / "transactions"), pa.Table.from_pandas(frame, preserve_index=False),
                    partition_by=["ds"])
    print(f"source: {len(frame)} transactions of {users} users over {days} days")


def run_steps(master: str, lake: Path, start: date, days: int, prefix: str) -> dict[str, float]:
    env = {**os.environ, "WEIR_SPARK_MASTER": master, "WEIR_LAKE_PATH": str(lake),
           "WEIR_CHECKPOINT_PATH": str(lake.parent / "checkpoints"), "WEIR_SPARK_JARS_PREINSTALLED": "true",
           "WEIR_DYNAMODB_TABLE_PREFIX": prefix, "WEIR_SPECS_DIR": str(ROOT / "feature_specs"),
           "PYSPARK_PYTHON": sys.executable}
    end = start + timedelta(days=days - 1)
    steps = {"backfill": ["backfill", "user_spend", "--start", start.isoformat(), "--end", end.isoformat()],
             "publish": ["publish", "user_spend", "--date", end.isoformat(), "--no-progress"]}
    out = {}
    for name, args in steps.items():
        began = time.monotonic()
        subprocess.run([sys.executable, "-c", "from weir.cli import main; main()", *args], env=env, check=True,
                       capture_output=True)
        out[name] = time.monotonic() - began
    return out


def main() -> None:
    from weir.devstack.spark_cluster import start_standalone
    from weir.process import free_port

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--days", type=int, default=7)
    args = parser.parse_args()
    start = date(2026, 3, 1)
    with tempfile.TemporaryDirectory(prefix="weir-bench-cluster-") as tmp:
        work = Path(tmp)
        env = {"PYSPARK_PYTHON": sys.executable, "PYTHONPATH": os.environ.get("PYTHONPATH", str(ROOT / "src"))}
        figures = {}
        for label in ("local[2]", "cluster"):
            lake = work / label.replace("[", "").replace("]", "") / "lake"
            write_source(lake, args.users, start, args.days)
            if label == "cluster":
                began = time.monotonic()
                cluster = start_standalone(work / "spark", free_port(), free_port(), [free_port(), free_port()],
                                           env=env)
                print(f"cluster start: {time.monotonic() - began:.1f}s")
                try:
                    figures[label] = run_steps(cluster.master_url, lake, start, args.days, "bench_cl_")
                finally:
                    cluster.stop()
            else:
                figures[label] = run_steps("local[2]", lake, start, args.days, "bench_lo_")
    for label, times in figures.items():
        print(f"{label:9s} " + "  ".join(f"{k} {v:.1f}s" for k, v in times.items()))
    print(f"reproduce: .venv/bin/python bench/bench_cluster.py --users {args.users} --days {args.days}")


if __name__ == "__main__":
    main()

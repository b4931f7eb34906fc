"""Training-set benchmark: Weir vs Feast's get_historical_features vs a naive Spark range join, one run.

    .venv/bin/python bench/bench_training.py --spine-rows 1000000 --users 20000 --days 30 --feast

Every spine row (``row_id``, ``user_id``, ``merchant_id``, ``ts``, ``label``) gets every feature of the three demo
groups (``user_spend``, ``user_repayment``, ``merchant_risk``) as of ``ts``, three ways, each in its own child
process (so each one's peak memory is its own; the parent samples the RSS of every child's process tree):

* **weir**: ``weir.training.build`` (spine times on a run time read the daily feature table's row; other times
  merge stored tiles + raw head events; TTL and defaults as online), output written as parquet;
* **weir_tiles** (``--weir-tiles``): the same with ``use_feature_table=False``: every spine time merges tiles;
* **naive**: a hand-written Spark range join: every distinct (keys, ts) of the spine joined to all raw events
  of its entity up to ``ts``, conditional aggregates per window with Weir's window rule, TTL and defaults,
  joined back to the spine, written as parquet;
* **feast** (``--feast``): Feast's ``get_historical_features(...).to_df()`` with the file (dask) offline store over
  parquet exports of Weir's daily feature tables (``bench/feast_side.py``, run with the Python of the bench-only
  venv ``.bench-venv-feast/``, created on first use from ``bench/requirements-feast.txt``).

The spine times are **day ends** by default (``--spine-times day-end``): there a row of Weir's daily feature
table holds exactly the values as of ``ts``, so all three produce the same training set and the run checks it
(``--check-rows`` spine rows compared column by column). With ``--spine-times any`` (times anywhere in a day)
Weir and naive are exact at ``ts`` while Feast can only return the last daily row before ``ts``; the check then
counts how many values differ. Feast runs under ``--feast-timeout`` seconds and a ``--feast-mem-gb`` RSS cap and
is reported as out of time / memory when it hits them. ``--known-at`` also runs Weir with
``availability="known_at"`` (**weir_known**); with ``--end today --spine-times after-commit`` the data ends today and
the spine times lie after the sources' commit, where both modes see every event (same values, comparable work).
With ``--spine-times any`` the run prints how stale Feast's values are (age of the daily row it returns).
Prepared data (demo tables, backfilled tiles and feature tables, Feast exports) is kept under ``--data DIR`` and
reused by later runs with the same sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from weir.spec.models import FeatureGroup

ROOT = Path(__file__).resolve().parents[1]
FEAST_VENV = ROOT / ".bench-venv-feast"
FEAST_REQUIREMENTS = ROOT / "bench" / "requirements-feast.txt"
GROUPS = ("user_spend", "user_repayment", "merchant_risk")
END = date(2026, 11, 1)  # the demo data's end (exclusive) unless --end today
SEED = 5
FEAST_TYPES = {"bigint": "Int64", "int": "Int32", "double": "Float64", "string": "String",
               "timestamp": "UnixTimestamp", "boolean": "Bool"}


# ------------------------------------------------------------------------------------------------ helpers
def _tree_rss_kb(pid: int) -> int:
    """Resident memory (kB) of ``pid`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/statm") as f:
                pages = int(f.read().split()[1])
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
        rss[int(entry)] = pages * (os.sysconf("SC_PAGE_SIZE") // 1024)
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        total += rss.get(p, 0)
        todo += children.get(p, [])
    return total


def run_child(cmd: list[str], env: dict[str, str], timeout_s: float | None = None,
              mem_cap_mb: float | None = None, log: Path | None = None) -> dict[str, Any]:
    """Run ``cmd`` in its own process group, sampling the RSS of its process tree every 0.5 s.

    Kills the group when it exceeds ``timeout_s`` or ``mem_cap_mb``. The child prints one JSON line prefixed
    ``RESULT `` on stdout; returns it with ``tree_peak_mb``, ``wall_s`` and ``status``.
    """
    out_path = log or Path(tempfile.mkstemp(prefix="weir-bench-child-", suffix=".log")[1])
    began = time.perf_counter()
    with open(out_path, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        peak_kb, status = 0, "ok"
        while proc.poll() is None:
            peak_kb = max(peak_kb, _tree_rss_kb(proc.pid))
            if mem_cap_mb is not None and peak_kb / 1024 > mem_cap_mb:
                status = f"out of memory (RSS cap {mem_cap_mb:,.0f} MB reached)"
            elif timeout_s is not None and time.perf_counter() - began > timeout_s:
                status = f"out of time (limit {timeout_s:,.0f} s)"
            if status != "ok":
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            time.sleep(0.5)
    result: dict[str, Any] = {}
    text = out_path.read_text()
    for line in text.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
    if status == "ok" and proc.returncode != 0:
        status = f"failed (exit {proc.returncode}; log {out_path})"
        if proc.returncode in (-9, 137):
            status = f"killed (exit {proc.returncode}, likely the kernel OOM killer; log {out_path})"
    result.update(tree_peak_mb=peak_kb / 1024, wall_s=time.perf_counter() - began, status=status, log=str(out_path))
    return result


def jvm_peak_rss_mb(spark: SparkSession) -> float:
    """Peak resident memory (VmHWM) of the Spark driver JVM, which runs the executors in local mode."""
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()  # type: ignore[union-attr]
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def ensure_feast_venv() -> Path:
    """The bench-only Feast venv (created on first use); Feast never goes into the project's venv."""
    python = FEAST_VENV / "bin" / "python"
    marker = FEAST_VENV / ".requirements"
    wanted = FEAST_REQUIREMENTS.read_text()
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    print(f"creating {FEAST_VENV} with python3.11 and {FEAST_REQUIREMENTS.name} (one time, ~1-2 min)", flush=True)
    subprocess.run(["python3.11", "-m", "venv", str(FEAST_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "-r", str(FEAST_REQUIREMENTS)], check=True)
    marker.write_text(wanted)
    return python


def _spark(data: Path) -> tuple[SparkSession, Any]:
    os.environ["WEIR_LAKE_PATH"] = str(data / "lake")
    from weir.runtime import load_config
    from weir.spark import get_spark

    config = load_config()
    return get_spark("weir-bench-training", config), config


def _groups(config: Any) -> list[FeatureGroup]:
    from weir.spec import find_spec

    return [find_spec(name, config.specs_dir) for name in GROUPS]


def _end(args: argparse.Namespace) -> date:
    """The day after the data's last day: ``--end`` (``today``: the current UTC day, so that spine times after
    the sources' commit lie right after the data, where ``known_at`` and ``event_time`` see the same events)."""
    if args.end == "today":
        return datetime.now(UTC).date()
    return date.fromisoformat(args.end) if args.end else END


# ------------------------------------------------------------------------------------------------ prepare
#: ``--loads daily``: each day's events are committed this long after the day ends
LOAD_LAG = timedelta(minutes=30)


def split_commit_by_day(table: Path, lag: timedelta) -> int:
    """Rewrite the one commit of a freshly written ``ds``-partitioned table as one commit per day, each dated the
    end of its day plus ``lag``: the log a nightly load leaves (bench only; the data files are unchanged, so
    every figure but the commit times is the same as for one load). Returns the number of commits."""
    log = table / "_delta_log"
    actions = [json.loads(line) for line in (log / f"{0:020d}.json").read_text().splitlines() if line.strip()]
    info = next(a["commitInfo"] for a in actions if "commitInfo" in a)
    head = [a for a in actions if "add" not in a and "commitInfo" not in a]  # protocol, metaData
    by_day: dict[str, list[dict[str, Any]]] = {}
    for a in actions:
        if "add" in a:
            by_day.setdefault(a["add"]["partitionValues"]["ds"], []).append(a)
    for f in log.iterdir():
        if f.is_file():
            f.unlink()
    for version, (ds, adds) in enumerate(sorted(by_day.items())):
        at = datetime.combine(date.fromisoformat(ds) + timedelta(days=1), datetime.min.time()) + lag
        ms = int((at - datetime(1970, 1, 1)).total_seconds() * 1000)
        commit = {**info, "timestamp": ms, "operation": "WRITE",
                  "operationParameters": {"mode": "Overwrite" if version == 0 else "Append",
                                          "partitionBy": info.get("operationParameters", {}).get("partitionBy", "[]")}}
        if "inCommitTimestamp" in info:
            commit["inCommitTimestamp"] = ms
        lines = [{"commitInfo": commit}, *(head if version == 0 else []),
                 *({"add": {**a["add"], "modificationTime": ms}} for a in adds)]
        path = log / f"{version:020d}.json"
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        os.utime(path, (ms / 1000, ms / 1000))
    return len(by_day)


def worker_prepare(args: argparse.Namespace) -> dict[str, Any]:
    """Demo tables, backfill of the three groups, Feast exports of the feature tables (TTL/defaults applied)."""
    data = Path(args.data)
    spark, config = _spark(data)
    from pyspark.sql import functions as F

    from weir.batch import backfill
    from weir.compute.layout import column_defaults
    from weir.compute.spark_agg import output_fields
    from weir.demo import generate, write_demo_tables
    from weir.lake.paths import features_path

    end = _end(args)
    start = end - timedelta(days=args.days)
    demo = generate(SEED, datetime.combine(start, datetime.min.time()), args.days, args.users,
                    max(50, args.users // 100), args.txns_per_user_per_day)
    paths = write_demo_tables(spark, demo, config.lake)
    if args.loads == "daily":
        for name in ("transactions", "repayments"):
            split_commit_by_day(Path(paths[name]), LOAD_LAG)
    backfill_s = {}
    for group in _groups(config):
        t0 = time.perf_counter()
        backfill(spark, group, start, end - timedelta(days=1), config, chunk_days=args.days)
        backfill_s[group.name] = round(time.perf_counter() - t0, 1)
    # Feast reads one parquet file per group: the daily feature table, each row's values as Weir serves them at
    # run_ts, i.e. with the group's TTL rule (newest event older than online.ttl -> defaults) and defaults applied.
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    manifest: dict[str, Any] = {"groups": []}
    for group in _groups(config):
        table = spark.read.format("delta").load(features_path(config, group.name))
        types = dict(output_fields(group))
        _default = column_defaults(group).get
        expired = F.col("newest_event_ts").isNull() | (
            F.unix_micros("newest_event_ts") + F.lit(group.online.ttl_us) <= F.unix_micros("run_ts"))
        cols = []
        for c, _ in output_fields(group):
            d = _default(c)
            value = F.col(c) if d is None else F.coalesce(F.col(c), F.lit(d).cast(types[c]))
            cols.append(F.when(expired, F.lit(d).cast(types[c])).otherwise(value).cast(types[c]).alias(c))
        out = data / "feast" / f"{group.name}.parquet"
        tmp = data / "feast" / f"{group.name}.tmp"
        table.select(*group.key_columns, "run_ts", *cols).coalesce(1).write.mode("overwrite").parquet(str(tmp))
        shutil.move(str(next(tmp.glob("part-*.parquet"))), out)
        shutil.rmtree(tmp)
        manifest["groups"].append({
            "name": group.name, "entity": group.entity.name, "keys": group.key_columns,
            "ttl_s": group.online.ttl_us // 1_000_000, "path": str(out), "timestamp_field": "run_ts",
            "features": [{"name": c, "dtype": FEAST_TYPES[t.simpleString()], "default": _default(c)}
                         for c, t in output_fields(group)],
        })
    (data / "feast" / "manifest.json").write_text(json.dumps(manifest, indent=2))
    n_events = {"transactions": len(demo.transactions), "repayments": len(demo.repayments)}
    spark.stop()
    # the sources' newest commit: every event is in the lake from then on (spine times "after-commit")
    from weir.lake.delta_log import log_snapshot
    from weir.training.known_at import commit_times

    committed = max(max(commit_times(snap).by_file.values()) for name in ("transactions", "repayments")
                    for snap in [log_snapshot(config.table_path(name))] if snap is not None)
    return {"backfill_s": backfill_s, "events": n_events, "merchants": max(50, args.users // 100),
            "committed": committed.isoformat()}


def worker_spine(args: argparse.Namespace) -> dict[str, Any]:
    """The spine as one parquet file: row_id, user_id, merchant_id, ts, label (seeded, reproducible)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng([11, SEED, args.spine_rows])
    n, merchants = args.spine_rows, max(50, args.users // 100)
    start = pd.Timestamp(datetime.combine(_end(args) - timedelta(days=args.days), datetime.min.time()), tz="UTC")
    if args.spine_times == "after-commit":  # after every source commit (known_at == event_time there), till now
        lo = pd.Timestamp(args.committed, tz="UTC") + pd.Timedelta(seconds=1)
        span = max(1, int((pd.Timestamp.now(tz="UTC") - lo) / pd.Timedelta(microseconds=1)))
        ts = lo + pd.to_timedelta(rng.integers(0, span, n), unit="us")
    elif args.spine_times == "day-end":  # one of the feature table's run times: the end of day 1 .. days
        ts = start + pd.to_timedelta(rng.integers(1, args.days + 1, n), unit="D")
    else:  # anywhere in the range, microsecond resolution
        ts = start + pd.to_timedelta(rng.integers(0, args.days * 86_400_000_000, n), unit="us")
    spine = pd.DataFrame({
        "row_id": np.arange(n, dtype=np.int64),
        "user_id": pd.Series(rng.integers(1, args.users + 1, n)).map("u{:06d}".format),
        "merchant_id": pd.Series(rng.integers(1, merchants + 1, n)).map("m{:05d}".format),
        "ts": pd.Series(ts).astype("datetime64[us, UTC]"),
        "label": rng.integers(0, 2, n).astype(np.int32),
    })
    path = Path(args.spine)
    spine.to_parquet(path, index=False, coerce_timestamps="us", allow_truncated_timestamps=False)
    return {"rows": n, "distinct_user_ts": int(spine[["user_id", "ts"]].drop_duplicates().shape[0])}


# ------------------------------------------------------------------------------------------------ weir, naive
def _load_spine(spark: SparkSession, path: str) -> DataFrame:
    spark.conf.set("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
    spine = spark.read.parquet(path).persist()
    spine.count()
    return spine


def worker_weir(args: argparse.Namespace) -> dict[str, Any]:
    spark, config = _spark(Path(args.data))
    from weir.training import build

    spine = _load_spine(spark, args.spine)
    t0 = time.perf_counter()
    ts = build(spine, list(GROUPS), timestamp_col="ts", spark=spark, config=config, groups=_groups(config),
               use_feature_table=not args.no_feature_table, availability=args.availability)
    ts.df.write.mode("overwrite").parquet(args.out)
    seconds = time.perf_counter() - t0
    rows = spark.read.parquet(args.out).count()
    jvm = jvm_peak_rss_mb(spark)
    spark.stop()
    return {"seconds": seconds, "rows": rows, "jvm_peak_mb": jvm,
            "python_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "tiles": {g: v["tiles"] for g, v in ts.lineage["groups"].items()},
            "feature_table_days": {g: v.get("feature_table_days") for g, v in ts.lineage["groups"].items()}}


def naive_group(spine: DataFrame, events: DataFrame, group: FeatureGroup) -> DataFrame:
    """Values of ``group`` at every distinct (keys, ts) of ``spine`` from raw events: range join + aggregates."""
    from pyspark.sql import functions as F

    from weir.compute.hll import order_free_col
    from weir.compute.ir import HLL_LG_K
    from weir.compute.layout import column_defaults
    from weir.compute.spark_agg import output_fields
    from weir.compute.windows import feature_windows
    from weir.spec.models import Aggregation

    _default = column_defaults(group).get
    keys = group.key_columns
    pairs = spine.select(*keys, F.col("ts").alias("__t")).distinct()
    needed = {f.column for f in group.features if f.column} | {
        c for c in group.source.columns if any(f.where and c in f.where for f in group.features)}
    ev = events.select(*[F.col(k).alias(f"__e_{k}") for k in keys], F.col(group.event_time).alias("__ets"),
                       *[F.col(c) for c in sorted(needed - set(keys))])
    lookback = None if any(w.window_us is None for w in feature_windows(group)) else max(
        (w.window_us or 0) + w.hop_us for w in feature_windows(group))
    cond = [F.col(k) == F.col(f"__e_{k}") for k in keys] + [F.col("__ets") <= F.col("__t")]
    if lookback is not None:
        cond.append(F.unix_micros("__ets") > F.unix_micros("__t") - F.lit(lookback))
    j = pairs.join(ev, cond, "left")
    t_us, e_us = F.unix_micros("__t"), F.unix_micros("__ets")
    aggs = []
    for w in feature_windows(group):
        f = w.feature
        ok = F.col("__ets").isNotNull()
        if w.window_us is not None:  # Weir's rule: (floor_hop(t) - w, t]
            ok = ok & (e_us > t_us - F.pmod(t_us, F.lit(w.hop_us)) - F.lit(w.window_us))
        if f.where:
            ok = ok & F.expr(f.where)
        src = F.col(f.column) if f.column else F.lit(1)  # only count may omit the column
        x = F.when(ok, src)
        a = f.aggregation
        if a == Aggregation.COUNT:
            v = F.count(x)
        elif a == Aggregation.SUM:
            v = F.sum(x)
        elif a == Aggregation.AVG:
            v = F.avg(x)
        elif a == Aggregation.MIN:
            v = F.min(x)
        elif a == Aggregation.MAX:
            v = F.max(x)
        elif a == Aggregation.STDDEV:
            v = F.stddev_samp(x)
        elif a in (Aggregation.FIRST, Aggregation.LAST):
            k = -e_us if a == Aggregation.FIRST else e_us
            v = F.max(F.when(ok & src.isNotNull(), F.struct(k.alias("k"), src.alias("v"))))
            v = v.getField("v")
        elif a == Aggregation.APPROX_COUNT_DISTINCT:
            # registers-only estimate, as Weir's (weir.compute.hll): the same for any merge order
            v = F.coalesce(F.hll_sketch_estimate(order_free_col(F.hll_sketch_agg(x, HLL_LG_K))),
                           F.lit(0).cast("long"))
        else:  # pragma: no cover
            raise AssertionError(a)
        aggs.append(v.alias(w.column))
    values = j.groupBy(*keys, "__t").agg(*aggs, F.max("__ets").alias("__newest"))
    types = dict(output_fields(group))
    expired = F.col("__newest").isNull() | (F.unix_micros("__newest") + F.lit(group.online.ttl_us) <= t_us)
    out = []
    for c, _ in output_fields(group):
        d = _default(c)
        value = F.col(c) if d is None else F.coalesce(F.col(c), F.lit(d).cast(types[c]))
        out.append(F.when(expired, F.lit(d).cast(types[c])).otherwise(value).cast(types[c]).alias(c))
    return values.select(*keys, "__t", *out)


def worker_naive(args: argparse.Namespace) -> dict[str, Any]:
    spark, config = _spark(Path(args.data))
    from pyspark.sql import functions as F

    spine = _load_spine(spark, args.spine)
    t0 = time.perf_counter()
    out = spine
    for group in _groups(config):
        assert group.source.delta is not None
        events = spark.read.format("delta").load(config.table_path(group.source.delta))
        values = naive_group(spine, events, group)
        keys = group.key_columns
        renamed = values.select(*[F.col(k).alias(f"__k_{k}") for k in keys], *values.columns[len(keys):])
        cond = [F.col(k) == F.col(f"__k_{k}") for k in keys] + [F.col("ts") == F.col("__t")]
        out = out.join(renamed, cond, "left").drop(*[f"__k_{k}" for k in keys], "__t")
    out.write.mode("overwrite").parquet(args.out)
    seconds = time.perf_counter() - t0
    rows = spark.read.parquet(args.out).count()
    jvm = jvm_peak_rss_mb(spark)
    spark.stop()
    return {"seconds": seconds, "rows": rows, "jvm_peak_mb": jvm,
            "python_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# ------------------------------------------------------------------------------------------------ check
def _sample(path: str, ids: list[int], columns: list[str]) -> Any:
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    table = ds.dataset(path, format="parquet").to_table(columns=["row_id", *columns],
                                                        filter=pc.field("row_id").isin(ids))
    return table.to_pandas().drop_duplicates("row_id").set_index("row_id").sort_index()


def _utc(x: Any) -> Any:
    import pandas as pd

    t = pd.Timestamp(x)
    return t.tz_convert("UTC").tz_localize(None) if t.tzinfo else t


def compare(reference: str, other: str, ids: list[int], columns: list[str], approx: set[str]) -> dict[str, Any]:
    """Per-column mismatches of ``other`` against ``reference`` on the spine rows ``ids``."""
    import math

    import pandas as pd

    a, b = _sample(reference, ids, columns), _sample(other, ids, columns)
    common = a.index.intersection(b.index)
    bad_rows: set[int] = set()
    per_column: dict[str, int] = {}
    for c in columns:
        n = 0
        for rid in common:
            x, y = a.at[rid, c], b.at[rid, c]
            if pd.isna(x) and pd.isna(y):
                continue
            if pd.isna(x) or pd.isna(y):
                same = False
            elif isinstance(x, pd.Timestamp) or isinstance(y, pd.Timestamp):
                same = _utc(x) == _utc(y)
            elif isinstance(x, str) or isinstance(y, str):
                same = x == y
            else:
                tol = 0.02 if c in approx else 1e-9
                same = math.isclose(float(x), float(y), rel_tol=tol, abs_tol=1e-9)
            if not same:
                n += 1
                bad_rows.add(int(rid))
        if n:
            per_column[c] = n
    return {"rows": len(ids), "present": len(common), "matched": len(common) - len(bad_rows),
            "mismatched": len(bad_rows), "columns": per_column, "example_row_ids": sorted(bad_rows)[:5]}


# ------------------------------------------------------------------------------------------------ main
def _staleness(spine: str) -> str:
    """How old the values Feast returns are: the newest daily row at or before ts is as of the day's start."""
    import pandas as pd

    ts = pd.read_parquet(spine, columns=["ts"])["ts"]
    age = (ts - ts.dt.floor("D")).dt.total_seconds() / 3600
    return (f"its values are as of the last day end before ts: {age.mean():.1f} h old on average, up to "
            f"{age.max():.1f} h; {(age > 1).mean():.0%} of spine rows more than 1 h old")


def _fmt_mb(x: float | None) -> str:
    return "-" if x is None else f"{x:,.0f} MB"


def _ratio(a: dict[str, Any], b: dict[str, Any], key: str) -> str:
    if a.get("status") != "ok" or b.get("status") != "ok" or not a.get(key) or not b.get(key):
        return "n/a"
    return f"{b[key] / a[key]:.2f}x"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spine-rows", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--txns-per-user-per-day", type=float, default=1.0)
    parser.add_argument("--spine-times", choices=["day-end", "any", "after-commit"], default="day-end",
                        help="day ends; anywhere in the data's days; or after the sources' commit (till now)")
    parser.add_argument("--end", default="", help="day after the data's last day (ISO date or 'today'); "
                        f"default {END}")
    parser.add_argument("--loads", choices=["once", "daily"], default="once",
                        help="the sources committed in one load, or one commit per day at its end + "
                        f"{int(LOAD_LAG.total_seconds() // 60)} min (a nightly load: known_at reads each day raw)")
    parser.add_argument("--known-at", action="store_true",
                        help="also run Weir with availability='known_at' (weir_known)")
    parser.add_argument("--availability", default="event_time", help=argparse.SUPPRESS)
    parser.add_argument("--committed", help=argparse.SUPPRESS)
    parser.add_argument("--feast", action="store_true", help="also run Feast (creates .bench-venv-feast/)")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive range join")
    parser.add_argument("--no-weir", action="store_true", help="skip Weir (e.g. to probe Feast's limits alone)")
    parser.add_argument("--weir-tiles", action="store_true",
                        help="also run Weir merging tiles at every spine time (use_feature_table=False)")
    parser.add_argument("--no-feature-table", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--feast-timeout", type=float, default=1200.0, help="seconds")
    parser.add_argument("--feast-mem-gb", type=float, default=12.0, help="RSS cap of the Feast process")
    parser.add_argument("--naive-timeout", type=float, default=2400.0, help="seconds")
    parser.add_argument("--driver-memory", default="4g", help="Spark driver memory of the weir and naive runs")
    parser.add_argument("--check-rows", type=int, default=2000, help="spine rows compared across the outputs")
    parser.add_argument("--data", default="", help="keep prepared data here and reuse it (default: a temp dir)")
    parser.add_argument("--worker", choices=["prepare", "spine", "weir", "naive"], help=argparse.SUPPRESS)
    parser.add_argument("--spine", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        worker = {"prepare": worker_prepare, "spine": worker_spine, "weir": worker_weir,
                  "naive": worker_naive}[args.worker]
        print("RESULT " + json.dumps(worker(args), default=str), flush=True)
        return

    cmd = " ".join([".venv/bin/python", "bench/bench_training.py", *sys.argv[1:]])
    data = Path(args.data) if args.data else Path(tempfile.mkdtemp(prefix="weir-bench-training-"))
    data.mkdir(parents=True, exist_ok=True)
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=data))
    base = [sys.executable, str(Path(__file__).resolve()), "--data", str(data), "--users", str(args.users),
            "--days", str(args.days), "--txns-per-user-per-day", str(args.txns_per_user_per_day),
            "--spine-rows", str(args.spine_rows), "--spine-times", args.spine_times, "--end", args.end,
            "--loads", args.loads]
    env = {**os.environ, "WEIR_SPARK_DRIVER_MEMORY": args.driver_memory, "PYTHONUNBUFFERED": "1"}
    load = os.getloadavg()
    print(f"command: {cmd}\ndata: {data}; load average at start {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}", flush=True)

    key = {"users": args.users, "days": args.days, "rate": args.txns_per_user_per_day, "seed": SEED,
           "end": str(_end(args)), **({"loads": args.loads} if args.loads != "once" else {})}
    marker = data / "prepared.json"
    prepared = json.loads(marker.read_text()) if marker.exists() else {}
    if prepared.get("key") != key:
        r = run_child([*base, "--worker", "prepare"], env, log=run_dir / "prepare.log")
        if r["status"] != "ok":
            sys.exit(f"prepare {r['status']}")
        prepared = {"key": key, **r}
        marker.write_text(json.dumps(prepared, default=str))
        print(f"prepared in {r['wall_s']:.0f}s: backfill seconds {r['backfill_s']}", flush=True)
    else:
        print(f"reusing prepared data in {data} ({prepared['events']})", flush=True)
    spine_path = run_dir / "spine.parquet"
    sp = run_child([*base, "--worker", "spine", "--spine", str(spine_path), "--committed",
                    str(prepared.get("committed", ""))], env, log=run_dir / "spine.log")
    if sp["status"] != "ok":
        sys.exit(f"spine {sp['status']}")

    results: dict[str, dict[str, Any]] = {}
    outs = {n: str(run_dir / f"{n}.parquet") for n in ("weir", "weir_tiles", "weir_known", "naive", "feast")}
    if not args.no_weir:
        results["weir"] = run_child([*base, "--worker", "weir", "--spine", str(spine_path), "--out", outs["weir"]],
                                    env, log=run_dir / "weir.log")
        print(f"weir:  {json.dumps(results['weir'], default=str)}", flush=True)
    if args.weir_tiles:
        results["weir_tiles"] = run_child([*base, "--worker", "weir", "--no-feature-table", "--spine", str(spine_path),
                                           "--out", outs["weir_tiles"]], env, log=run_dir / "weir_tiles.log")
        print(f"weir_tiles:  {json.dumps(results['weir_tiles'], default=str)}", flush=True)
    if args.known_at:
        results["weir_known"] = run_child([*base, "--worker", "weir", "--availability", "known_at", "--spine",
                                           str(spine_path), "--out", outs["weir_known"]], env,
                                          log=run_dir / "weir_known.log")
        print(f"weir_known:  {json.dumps(results['weir_known'], default=str)}", flush=True)
    if not args.no_naive:
        results["naive"] = run_child([*base, "--worker", "naive", "--spine", str(spine_path), "--out", outs["naive"]],
                                     env, timeout_s=args.naive_timeout, log=run_dir / "naive.log")
        print(f"naive: {json.dumps(results['naive'], default=str)}", flush=True)
    if args.feast:
        python = ensure_feast_venv()
        fcmd = [str(python), str(ROOT / "bench" / "feast_side.py"), "--manifest", str(data / "feast" / "manifest.json"),
                "--spine", str(spine_path), "--out", outs["feast"], "--repo", str(run_dir / "feast_repo")]
        results["feast"] = run_child(fcmd, {**os.environ, "PYTHONUNBUFFERED": "1"}, timeout_s=args.feast_timeout,
                                     mem_cap_mb=args.feast_mem_gb * 1024, log=run_dir / "feast.log")
        print(f"feast: {json.dumps(results['feast'], default=str)}", flush=True)

    # correctness on a sample of spine rows (all of them for small spines)
    from weir.runtime import load_config
    from weir.spec.models import Aggregation

    groups = _groups(load_config())
    columns = [c.name for g in groups for c in g.output_columns()]
    approx = {c.name for g in groups for c in g.output_columns()
              if c.feature.aggregation == Aggregation.APPROX_COUNT_DISTINCT}
    step = max(1, args.spine_rows // args.check_rows)
    ids = list(range(0, args.spine_rows, step))[: args.check_rows]
    checks = {}
    if results.get("weir", {}).get("status") == "ok":
        for other in ("weir_tiles", "weir_known", "naive", "feast"):
            if results.get(other, {}).get("status") == "ok":
                checks[other] = compare(outs["weir"], outs[other], ids, columns,
                                        approx if other == "naive" else set())

    end_load = os.getloadavg()
    print("\n==== training-set benchmark ====")
    print(f"command: {cmd}")
    print(f"date: {date.today()}, {os.cpu_count()} cores; load average at start {load[0]:.1f}, at end "
          f"{end_load[0]:.1f}; Spark local[2], driver memory {args.driver_memory}")
    print(f"data: {prepared['events']} events over {args.days} days, {args.users:,} users, "
          f"{prepared['merchants']:,} merchants; spine {args.spine_rows:,} rows ({args.spine_times} times, "
          f"{sp['distinct_user_ts']:,} distinct (user, ts)); {len(columns)} feature columns of {', '.join(GROUPS)}")
    print(f"{'':10} {'status':10} {'seconds':>9} {'rows out':>11} {'peak RSS (tree)':>16} {'self-reported':>30}")
    for name, r in results.items():
        selfrep = (f"JVM {_fmt_mb(r.get('jvm_peak_mb'))} + py {_fmt_mb(r.get('python_peak_mb'))}" if 'jvm_peak_mb' in r
                   else f"ru_maxrss {_fmt_mb(r.get('peak_mb'))}" if 'peak_mb' in r else "-")
        secs = f"{r['seconds']:.1f}" if r.get("seconds") is not None and r["status"] == "ok" else "-"
        rows = f"{r['rows']:,}" if r.get("rows") is not None and r["status"] == "ok" else "-"
        print(f"{name:10} {r['status'] if r['status'] == 'ok' else 'FAILED':10} {secs:>9} {rows:>11} "
              f"{_fmt_mb(r['tree_peak_mb']):>16} {selfrep:>30}")
        if r["status"] != "ok":
            print(f"         {r['status']} after {r['wall_s']:.0f}s")
    for other in ("feast", "naive", "weir_tiles", "weir_known"):
        if other in results and "weir" in results:
            print(f"ratio {other}/weir: time {_ratio(results['weir'], results[other], 'seconds')}, "
                  f"peak memory {_ratio(results['weir'], results[other], 'tree_peak_mb')}")
    if "feast" in results and results["feast"].get("status") == "ok":
        f = results["feast"]
        print(f"feast extras: apply {f.get('apply_s', 0):.1f}s, spine to pandas {f.get('load_s', 0):.1f}s "
              f"(not in its time); ns offsets added to {f.get('ts_offsets', 0):,} duplicate (key, ts) rows")
    if args.feast and args.spine_times != "day-end":
        print(f"feast staleness: {_staleness(str(spine_path))}")
    for other, c in checks.items():
        print(f"correctness {other} vs weir on {c['rows']:,} spine rows: {c['present']:,} present, {c['matched']:,} "
              f"matched, {c['mismatched']:,} mismatched; mismatches by column {c['columns']}; "
              f"e.g. row_id {c['example_row_ids']}")
    print(f"outputs and logs: {run_dir}")


if __name__ == "__main__":
    main()

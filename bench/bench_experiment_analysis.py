"""Experiment analysis benchmark: one daily analysis of N exposures, 3 covariates and 2 metrics, timed as the DAG
runs it (the ``analyse_experiment`` spark-submit job, JVM start included), against the task's daily budget.

    .venv/bin/python bench/bench_experiment_analysis.py --exposures 1000000 --docs

Synthetic data, generated in Spark and kept under ``--data`` (reused by later runs of the same size): N users,
each first exposed once in the 10 days before the analysis day, plus 10 % delivered twice (same exposure id) and
20 % exposed again later; a feature group ``bench_activity`` with 3 covariates (30-day spend sum, visit count
and max amount) over about 3 activity events per user before exposure (and one after, which must not count);
2 metrics over an ``bench_orders`` table: revenue (sum, 7 days) and order value (mean, 7 days). Revenue depends
on the pre-exposure spend, so CUPED has something to remove; the treatment adds ``EFFECT`` to each first order.
The run prints the wall time beside the budget, and per metric the plain and the CUPED interval with the
variance reduction; ``--docs`` writes them to docs/benchmarks.md ("## Experiment analysis").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "benchmarks.md"
SECTION = "## Experiment analysis"
DAY = date(2026, 6, 10)
START = datetime(2026, 6, 1)
EFFECT = 1.0
NAME = "bench_exp"
SPEC = """
name: bench_activity
owner: bench
entity: {name: user, keys: [user_id]}
source:
  delta: bench_activity_events
  event_time: event_ts
  columns: {user_id: string, amount: double, event_ts: timestamp}
features:
  - {name: spend, aggregation: sum, column: amount, windows: [30d]}
  - {name: visits, aggregation: count, windows: [30d]}
  - {name: top, aggregation: max, column: amount, windows: [30d]}
online: {ttl: 60d}
schedule: "@daily"
"""
EXPERIMENT = f"""
name: {NAME}
entity: {{name: user, key: user_id}}
salt: bench
start: 2026-06-01T00:00:00Z
end: 2026-07-01T00:00:00Z
variants:
  - {{name: control, weight: 50}}
  - {{name: treatment, weight: 50}}
metrics:
  - {{name: revenue, source: bench_orders, aggregation: sum, column: amount, window: 7d}}
  - {{name: order_value, source: bench_orders, aggregation: mean, column: amount, window: 7d}}
covariates:
  - bench_activity.spend_sum_30d
  - bench_activity.visits_count_30d
  - bench_activity.top_max_30d
"""


def _env(data: Path) -> dict[str, str]:
    return {**os.environ, "WEIR_LAKE_PATH": str(data / "lake"), "WEIR_SPECS_DIR": str(data / "feature_specs"),
            "WEIR_CHECKPOINT_PATH": str(data / "checkpoints")}


def _shift(ts: Any, seconds: Any) -> Any:
    """``ts`` moved by ``seconds`` (a column), to the microsecond."""
    from pyspark.sql import functions as F

    return F.timestamp_micros(F.unix_micros(ts) + (seconds * 1_000_000).cast("long"))


def prepare(data: Path, n: int, seed: int) -> dict[str, int]:
    """Write the specs, the declaration and the three tables (exposures, activity events, orders) with Spark."""
    from pyspark.sql import functions as F

    from weir.experiments.tables import EXPOSURE_PARTITION, EXPOSURE_SCHEMA_DDL
    from weir.lake.paths import exposures_path
    from weir.runtime import build_config
    from weir.spark import get_spark

    (data / "feature_specs").mkdir(parents=True)
    (data / "experiments").mkdir()
    (data / "feature_specs" / "bench_activity.yaml").write_text(SPEC)
    (data / "experiments" / f"{NAME}.yaml").write_text(EXPERIMENT)
    os.environ.update(_env(data))
    config = build_config()
    spark = get_spark("weir-bench-experiments", config)
    start_s = int(START.timestamp())
    users = (spark.range(n).select(
        F.format_string("u%08d", "id").alias("user_id"),
        F.when(F.rand(seed) < 0.5, "treatment").otherwise("control").alias("variant"),
        F.timestamp_seconds(F.lit(start_s) + (F.rand(seed + 1) * 9.9 * 86400).cast("long")).alias("first"),
        F.exp(F.lit(3.0) + F.randn(seed + 2) * 0.5).alias("level"))).persist()

    def exposure(df: Any, ts: Any, salt: str) -> Any:
        return df.select(F.md5(F.concat("user_id", F.lit(salt))).alias("exposure_id"), F.lit(NAME).alias("name"),
                         F.lit("experiment").alias("kind"), F.lit("user").alias("entity"),
                         F.col("user_id").alias("key"),
                         "variant", F.lit("bench").alias("salt"), F.lit("SPLIT").alias("reason"), ts.alias("ts"),
                         F.to_date(ts).alias("ds"), ts.alias("ingested_at"))

    first = exposure(users, F.col("first"), "a")
    again = exposure(users.where(F.rand(seed + 3) < 0.2), F.col("first") + F.expr("INTERVAL 5 HOURS"), "b")
    exposures = first.unionByName(first.where(F.rand(seed + 4) < 0.1)).unionByName(again)
    types = {f.name: f.dataType for f in spark.createDataFrame([], EXPOSURE_SCHEMA_DDL).schema.fields}
    exposures = exposures.select(*[F.col(c).cast(t) for c, t in types.items()])  # the table's columns and types
    exposures.write.format("delta").partitionBy(EXPOSURE_PARTITION).save(exposures_path(config))

    k = F.explode(F.sequence(F.lit(1), F.lit(3))).alias("k")
    before = users.select("user_id", "first", "level", k).select(
        "user_id", (F.col("level") * (F.lit(0.5) + F.rand(seed + 5))).alias("amount"),
        _shift(F.col("first"), -F.rand(seed + 6) * 20 * 86400).alias("event_ts"))
    after = users.select("user_id", F.lit(500.0).alias("amount"),
                         (F.col("first") + F.expr("INTERVAL 2 HOURS")).alias("event_ts"))
    activity = before.unionByName(after)
    activity.write.format("delta").save(config.table_path("bench_activity_events"))

    pre = before.groupBy("user_id").agg(F.sum("amount").alias("pre"))
    lift = F.when(F.col("variant") == "treatment", EFFECT).otherwise(0.0)
    orders = users.join(pre, "user_id").select(
        "user_id", (F.col("pre") * 0.6 + F.randn(seed + 7) + lift).alias("amount"),
        _shift(F.col("first"), F.rand(seed + 8) * 12 * 3600 + 1).alias("event_ts"))
    orders.write.format("delta").save(config.table_path("bench_orders"))
    counts = {"users": n, "exposure_rows": spark.read.format("delta").load(exposures_path(config)).count(),
              "activity_events": spark.read.format("delta").load(config.table_path("bench_activity_events")).count(),
              "orders": spark.read.format("delta").load(config.table_path("bench_orders")).count()}
    (data / "counts.json").write_text(json.dumps(counts))
    spark.stop()
    return counts


def run_job(data: Path) -> tuple[float, dict[str, Any] | None, str]:
    """The DAG task's command (spark-submit of ``analyse_experiment``), timed end to end."""
    from weir.airflow.submit import job_env, parse_result, spark_submit_command
    from weir.runtime import build_config

    os.environ.update(_env(data))
    config = build_config()
    cmd = spark_submit_command(config, "analyse_experiment", ["--group", NAME, "--ds", DAY.isoformat()])
    t0 = time.monotonic()
    proc = subprocess.run(cmd, env=job_env(config), capture_output=True, text=True, cwd=str(ROOT))
    wall = time.monotonic() - t0
    result = next((r for r in map(parse_result, proc.stdout.splitlines()) if r is not None), None)
    return wall, result, proc.stderr[-3000:] if proc.returncode else ""


def results_table(data: Path) -> list[dict[str, Any]]:
    from weir.airflow.experiment_view import latest_results
    from weir.runtime import build_config

    os.environ.update(_env(data))
    return latest_results(build_config()).get(NAME, [])


def _p(p: float) -> str:
    return "< 1e-300" if p == 0 else f"{p:.3g}"


def _half(low: float | None, high: float | None) -> str:
    return "n/a" if low is None or high is None else f"{(high - low) / 2:.4f}"


def report(args: argparse.Namespace, counts: dict[str, int], wall: float, rows: list[dict[str, Any]],
           load: tuple[float, float, float], load_end: tuple[float, float, float]) -> list[str]:
    from weir.airflow.experiment_dags import ANALYSIS_TIMEOUT

    budget = ANALYSIS_TIMEOUT.total_seconds()
    cmd = f".venv/bin/python bench/bench_experiment_analysis.py --exposures {args.exposures}"
    lines = [
        f"Run of {date.today()} on this machine ({os.cpu_count()} cores, Spark `local[2]`), load average "
        f"{load[0]:.1f} at start, {load_end[0]:.1f} at end (the machine is shared). Command:",
        "", "```bash", cmd, "```", "",
        f"Data: {counts['users']:,} exposed users ({counts['exposure_rows']:,} exposure rows with duplicates and "
        f"re-exposures), {counts['activity_events']:,} activity events (3 covariates), {counts['orders']:,} orders "
        f"(2 metrics, 7-day windows); planted effect {EFFECT} on revenue.", "",
        f"**Wall time of the DAG's task (spark-submit, JVM start included): {wall:.0f} s, "
        f"{wall / budget:.0%} of its {budget / 3600:.0f} h budget (the task's execution timeout), "
        f"{wall / 86400:.1%} of the day.**", "",
        "| metric | variant | n | plain delta | plain CI half-width | p | CUPED delta | CUPED CI half-width | "
        "CUPED p | variance reduction |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in sorted(rows, key=lambda r: (r["metric"], r["variant"])):
        if r["is_control"]:
            continue
        lines.append(
            f"| {r['metric']} | {r['variant']} | {r['n']:,} | {r['delta']:.4f} | {_half(r['ci_low'], r['ci_high'])} | "
            f"{_p(r['p_value'])} | {r['cuped_delta']:.4f} | {_half(r['cuped_ci_low'], r['cuped_ci_high'])} | "
            f"{_p(r['cuped_p_value'])} | {r['variance_reduction']:.1%} |")
    srm = rows[0]["srm_p_value"] if rows else None
    lines += ["", f"SRM p-value {srm:.3g} (no mismatch planted)." if srm is not None else "no SRM result"]
    return lines


INTRO = ("`bench/bench_experiment_analysis.py` times one daily analysis as the DAG runs it (the `analyse_experiment` "
         "spark-submit job, JVM start included) on synthetic data (see the script's docstring): first exposures with "
         "duplicates and re-exposures, 3 covariates from a feature group (as of each first exposure, through the "
         "training-set builder), 2 metrics over 7-day windows. The goal (issue #19): 1M exposures within the daily "
         "DAG; the budget taken here is the task's execution timeout, 2 h.")


def write_docs(title: str, lines: list[str]) -> None:
    """Put ``title`` + ``lines`` in place of that subsection of "## Experiment analysis" (created if absent)."""
    import textwrap

    def wrap(line: str) -> str:
        return line if line.startswith(("|", "```", ".venv")) else textwrap.fill(line, 115, break_on_hyphens=False)

    lines = [wrap(line) for line in lines]
    text = DOCS.read_text()
    if SECTION + "\n" not in text:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n{wrap(INTRO)}\n"
    start = text.index(SECTION + "\n")
    end = text.find("\n## ", start + 1)
    end = len(text) if end < 0 else end + 1
    section = text[start:end]
    block = "\n".join([title, "", *lines]).rstrip("\n") + "\n\n"
    at = section.find(title + "\n")
    if at >= 0:
        nxt = section.find("\n### ", at + 1)
        section = section[:at] + block + section[len(section) if nxt < 0 else nxt + 1:]
    else:
        section = section.rstrip("\n") + "\n\n" + block
    DOCS.write_text(text[:start] + section.rstrip("\n") + "\n" + ("\n" + text[end:] if end < len(text) else ""))
    print(f"wrote {DOCS} ({SECTION}: {title})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--exposures", type=int, default=1_000_000, help="exposed users")
    parser.add_argument("--data", default=None, help="where the generated lake is kept (reused)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--fresh", action="store_true", help="regenerate the data")
    parser.add_argument("--docs", action="store_true", help="write the figures to docs/benchmarks.md")
    args = parser.parse_args()
    data = Path(args.data or f"/tmp/weir-bench-experiments-{args.exposures}")
    if args.fresh:
        shutil.rmtree(data, ignore_errors=True)
    t0 = time.monotonic()
    if not (data / "counts.json").exists():
        shutil.rmtree(data, ignore_errors=True)
        counts = prepare(data, args.exposures, args.seed)
        print(f"prepared {counts} in {time.monotonic() - t0:.0f} s under {data}", flush=True)
    else:
        counts = json.loads((data / "counts.json").read_text())
        print(f"reusing {data}: {counts}", flush=True)
    load = os.getloadavg()
    wall, result, error = run_job(data)
    load_end = os.getloadavg()
    if result is None:
        print(f"the analysis job failed after {wall:.0f} s:\n{error}", file=sys.stderr)
        sys.exit(1)
    lines = report(args, counts, wall, results_table(data), load, load_end)
    print("\n==== experiment analysis benchmark ====")
    print("\n".join(lines))
    if args.docs:
        write_docs(f"### {args.exposures:,} exposures", lines)


if __name__ == "__main__":
    main()

"""The result rows of one analysis (``weir.experiments.tables.RESULT_SCHEMA_DDL``) and their idempotent write.

Pure Python up to :func:`write_results`: rows are plain dicts, so they are checked without Spark.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from weir.experiments.stats import MetricResult, SampleRatio
from weir.experiments.tables import RESULT_REPLACE_KEYS, RESULT_SCHEMA_DDL
from weir.lake.paths import experiment_results_path
from weir.runtime import RuntimeConfig

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _f(x: float | None) -> float | None:
    """NaN and infinities are stored as NULL (no value), not as numbers a reader could average."""
    return None if x is None or not math.isfinite(x) else float(x)


def metric_rows(experiment: str, ds: date, metric: str, control: str, arms: Mapping[str, tuple[int, float | None]],
                exposed: Mapping[str, int], results: Sequence[MetricResult], srm: SampleRatio | None,
                covariates: Sequence[str], alpha: float, at: datetime) -> list[dict[str, Any]]:
    """One row per declared variant (``exposed``'s order): its entities with a value (``arms``: n, mean) and,
    for a treatment compared with the control, the plain and CUPED estimates."""
    by_variant = {r.variant: r for r in results}
    rows = []
    for variant in exposed:
        n, mean = arms.get(variant, (0, None))
        r = by_variant.get(variant)
        plain, cuped = (r.plain, r.cuped) if r is not None else (None, None)
        rows.append({
            "experiment": experiment, "ds": ds, "metric": metric, "variant": variant,
            "is_control": variant == control, "exposed": int(exposed[variant]), "n": int(n),
            "mean": _f(mean),
            "delta": _f(plain.delta) if plain else None,
            "ci_low": _f(plain.ci_low) if plain else None, "ci_high": _f(plain.ci_high) if plain else None,
            "relative": _f(plain.relative) if plain else None,
            "relative_ci_low": _f(plain.relative_ci_low) if plain else None,
            "relative_ci_high": _f(plain.relative_ci_high) if plain else None,
            "p_value": _f(plain.p_value) if plain else None,
            "cuped_delta": _f(cuped.delta) if cuped else None,
            "cuped_ci_low": _f(cuped.ci_low) if cuped else None, "cuped_ci_high": _f(cuped.ci_high) if cuped else None,
            "cuped_p_value": _f(cuped.p_value) if cuped else None,
            "variance_reduction": _f(r.variance_reduction) if r is not None else None,
            "covariates": ",".join(covariates) or None,
            "srm_p_value": _f(srm.p_value) if srm else None, "srm_mismatch": bool(srm.mismatch) if srm else False,
            "alpha": alpha, "analysed_at": at,
        })
    return rows


def write_results(spark: SparkSession, config: RuntimeConfig, experiment: str, ds: date,
                  rows: list[dict[str, Any]]) -> str:
    """Replace the rows of (experiment, ds) with ``rows`` in one Delta commit (``replaceWhere``): a rerun of the
    day leaves exactly one analysis of it; other days and experiments are untouched. Returns the table path."""
    path = experiment_results_path(config)
    values = {"experiment": f"'{experiment}'", "ds": f"DATE'{ds.isoformat()}'"}  # names are lower_snake_case
    where = " AND ".join(f"{k} = {values[k]}" for k in RESULT_REPLACE_KEYS)
    df = spark.createDataFrame(rows, schema=RESULT_SCHEMA_DDL)
    df.coalesce(1).write.format("delta").mode("overwrite").option("replaceWhere", where).save(path)
    return path


def read_results(spark: SparkSession, config: RuntimeConfig, experiment: str, ds: date) -> list[dict[str, Any]]:
    """The stored rows of (experiment, ds), as dicts (tests, notebooks)."""
    from pyspark.sql import functions as F

    df = spark.read.format("delta").load(experiment_results_path(config))
    rows = df.where((F.col("experiment") == experiment) & (F.col("ds") == F.lit(ds))).collect()
    return [r.asDict() for r in rows]

"""One experiment's analysis for one day: Spark builds one row per exposed entity (variant, first exposure,
outcomes, covariates as of the first exposure), the driver runs the statistics, the rows go to the lake."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from weir.compute.layout import parse_ds
from weir.experiments import stats
from weir.experiments.analysis.covariates import covariate_column, with_covariates
from weir.experiments.analysis.exposed import N_VARIANTS, VARIANT, first_exposures_df
from weir.experiments.analysis.outcomes import by_source, metric_column, metric_values
from weir.experiments.analysis.results import metric_rows, write_results
from weir.experiments.models import Experiment
from weir.runtime import RuntimeConfig, load_config
from weir.spec.models import FeatureGroup

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)
MIN_PER_ARM = 2  # Welch's test needs two values per arm


def entity_frame(spark: SparkSession, config: RuntimeConfig, experiment: Experiment, ds: date,
                 groups: Sequence[FeatureGroup]) -> tuple[DataFrame, DataFrame, dict[str, Any]]:
    """One row per exposed entity: key, variant, first exposure, ``n_variants``, one column per covariate and
    per metric. Also returns the (persisted) first-exposure frame, to unpersist, and the covariates' lineage."""
    key = experiment.entity.key
    exposed = first_exposures_df(spark, config, experiment, ds).persist()
    frame, lineage = with_covariates(spark, config, experiment, exposed, groups)
    for metrics in by_source(experiment.metrics):
        frame = frame.join(metric_values(spark, config, experiment, metrics, exposed, ds), key, "left")
    return frame, exposed, lineage


def entity_table(spark: SparkSession, config: RuntimeConfig, experiment: Experiment, ds: date,
                 groups: Sequence[FeatureGroup]) -> tuple[Any, dict[str, Any]]:
    """:func:`entity_frame` collected to the driver as a ``pyarrow.Table`` (the statistics run in numpy)."""
    frame, exposed, lineage = entity_frame(spark, config, experiment, ds, groups)
    try:
        return frame.toArrow(), lineage
    finally:
        exposed.unpersist()


def _column(table: Any, name: str) -> NDArray[np.float64]:
    return np.asarray(table.column(name).to_numpy(zero_copy_only=False), dtype=float)


def covariate_matrix(table: Any, columns: Sequence[str]) -> NDArray[np.float64] | None:
    """The covariates as an (entities x covariates) matrix; a missing value becomes its column's mean over all
    exposed entities (still a pre-exposure quantity, so CUPED stays unbiased), a column with none becomes 0."""
    if not columns:
        return None
    x = np.column_stack([_column(table, c) for c in columns])
    for j in range(x.shape[1]):
        col = x[:, j]
        missing = np.isnan(col)
        col[missing] = float(col[~missing].mean()) if (~missing).any() else 0.0
    return x


def analyse_table(experiment: Experiment, day: date, table: Any, alpha: float = 0.05,
                  at: datetime | None = None) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The result rows and a JSON-able summary from the per-entity table of :func:`entity_table`."""
    declared = [v.name for v in experiment.variants]
    variants = np.asarray(table.column(VARIANT).to_pylist(), dtype=object)
    known = np.isin(variants, declared)
    counts = {v: int((variants == v).sum()) for v in declared}
    srm = stats.srm(counts, {v.name: v.weight for v in experiment.variants}) if sum(counts.values()) else None
    x = covariate_matrix(table, [covariate_column(c) for c in experiment.covariates])
    control = experiment.default.name
    now = at or datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    summary_metrics: dict[str, Any] = {}
    for metric in experiment.metrics:
        y = _column(table, metric_column(metric))
        has = known & ~np.isnan(y)
        arms = {v: (int((has & (variants == v)).sum()),
                    float(y[has & (variants == v)].mean()) if (has & (variants == v)).any() else None)
                for v in declared}
        results = _compare(metric.name, y, variants, has, arms, control, x, alpha)
        rows += metric_rows(experiment.name, day, metric.name, control, arms, counts, results, srm,
                            experiment.covariates, alpha, now)
        summary_metrics[metric.name] = {r.variant: {
            "delta": r.plain.delta, "p_value": r.plain.p_value,
            "cuped_delta": r.cuped.delta if r.cuped else None, "cuped_p_value": r.cuped.p_value if r.cuped else None,
            "variance_reduction": r.variance_reduction} for r in results}
    n_variants = np.asarray(table.column(N_VARIANTS).to_numpy(zero_copy_only=False))
    summary = {
        "experiment": experiment.name, "ds": day.isoformat(), "exposed": counts,
        "unknown_variant_entities": int((~known).sum()), "multi_variant_entities": int((n_variants > 1).sum()),
        "srm_p_value": srm.p_value if srm else None, "srm_mismatch": bool(srm.mismatch) if srm else False,
        "metrics": summary_metrics, "rows": len(rows),
    }
    if summary["unknown_variant_entities"]:
        log.warning("%s: %d entities were exposed to variants the declaration does not have; left out",
                    experiment.name, summary["unknown_variant_entities"])
    return rows, summary


def analyse_experiment(experiment: Experiment, ds: str | date, spark: SparkSession | None = None,
                       config: RuntimeConfig | None = None, groups: Sequence[FeatureGroup] | None = None,
                       alpha: float = 0.05, at: datetime | None = None) -> dict[str, Any]:
    """Analyse ``experiment`` as of the end of day ``ds`` and replace that day's rows in the results table.

    Returns a JSON-able summary (the Airflow task's XCom): exposure counts, the SRM check, per metric and
    treatment the plain and CUPED deltas with their p-values and the variance reduction.
    """
    from weir.spark import get_spark
    from weir.spec.loader import load_specs

    day = parse_ds(ds)
    config = config or load_config()
    spark = spark or get_spark("weir-experiment-analysis", config)
    groups = list(groups) if groups is not None else load_specs(config.specs_dir)
    from weir.lake.delta import table_exists
    from weir.lake.paths import exposures_path

    if not table_exists(spark, exposures_path(config)):  # nothing logged yet (e.g. the experiment's first day)
        log.warning("%s: no exposures table at %s yet; nothing to analyse", experiment.name, exposures_path(config))
        write_results(spark, config, experiment.name, day, [])
        return {"experiment": experiment.name, "ds": day.isoformat(), "exposed": {}, "rows": 0,
                "note": f"no exposures table at {exposures_path(config)}"}
    table, lineage = entity_table(spark, config, experiment, day, groups)
    rows, summary = analyse_table(experiment, day, table, alpha, at)
    summary["results_path"] = write_results(spark, config, experiment.name, day, rows)
    summary["covariate_versions"] = {g: info.get("delta_versions") for g, info in lineage.get("groups", {}).items()}
    return summary


def _compare(metric: str, y: NDArray[np.float64], variants: NDArray[Any], has: NDArray[np.bool_],
             arms: dict[str, tuple[int, float | None]], control: str, x: NDArray[np.float64] | None,
             alpha: float) -> list[stats.MetricResult]:
    """Every treatment with enough values against the control (none when the control has too few)."""
    usable = [v for v, (n, _) in arms.items() if n >= MIN_PER_ARM]
    if control not in usable or len(usable) < 2:
        return []
    sel = has & np.isin(variants, usable)
    return stats.analyse(metric, y[sel], variants[sel].astype(str), control,
                         x[sel] if x is not None else None, alpha)


def find_experiment(config: RuntimeConfig, name: str, groups: Sequence[FeatureGroup]) -> Experiment:
    """The declared experiment ``name`` (``experiments/*.yaml`` beside the specs), or a SpecError naming the
    known ones."""
    from weir.experiments.catalog import declarations_dir
    from weir.experiments.loader import load_declarations
    from weir.spec.errors import SpecError

    folder = declarations_dir(config, "experiment")
    found = load_declarations(folder, "experiment", groups) if folder.is_dir() else []
    for decl in found:
        if decl.name == name and isinstance(decl, Experiment):
            return decl
    known = ", ".join(sorted(d.name for d in found)) or "none"
    raise SpecError(f"no experiment named '{name}' (known: {known}); declare it in {folder}/{name}.yaml",
                    file=str(folder))


def analysis_step(name: str, ds: str | date, config: RuntimeConfig | None = None) -> dict[str, Any]:
    """The job's step (``weir/jobs/analyse_experiment.py --group <experiment> --ds D``)."""
    from weir.spec.loader import load_specs

    config = config or load_config()
    groups = load_specs(config.specs_dir)
    return analyse_experiment(find_experiment(config, name, groups), ds, config=config, groups=groups)

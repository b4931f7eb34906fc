"""Outcome metrics per exposed entity: an aggregation of the metric's Delta source over the window after the
entity's first exposure.

An event counts for an entity when its key equals the entity's and its time is in ``(first_exposure,
first_exposure + window]`` and not after the end of the analysis day (a window still open counts what has
happened so far). An event at the very instant of the first exposure belongs to the covariates (they are as of
that instant, inclusive), never to the outcome. Entities without an event in the window get 0 for ``sum``,
``count`` and ``any``, and no value (left out of that metric) for ``mean``, ``max`` and ``min``.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from weir.compute.layout import run_time
from weir.experiments.analysis.exposed import FIRST_TS
from weir.experiments.models import Experiment, Metric
from weir.lake.paths import source_path
from weir.runtime import RuntimeConfig
from weir.spec.durations import parse_duration_us

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

#: aggregations whose value over no events is 0 (the others have none)
ZERO_WHEN_EMPTY = ("sum", "count", "any")


def metric_column(metric: Metric) -> str:
    """The column of ``metric``'s per-entity value in the analysis frame."""
    return f"metric__{metric.name}"


class MetricSourceError(ValueError):
    """A metric's source table lacks a column the declaration needs."""


def _aggregate(metric: Metric, value: Column, seen: Column) -> Column:
    from pyspark.sql import functions as F

    agg = metric.aggregation
    if agg == "sum":
        out = F.coalesce(F.sum(value), F.lit(0.0))
    elif agg == "count":
        out = F.count(value if metric.column else seen).cast("double")
    elif agg == "any":
        hit = (value != 0) if metric.column else F.lit(True)
        out = F.max(F.when(seen.isNotNull() & hit, 1.0).otherwise(0.0))
    else:
        out = {"mean": F.avg, "max": F.max, "min": F.min}[agg](value)
    return out.alias(metric_column(metric))


def metric_values(spark: SparkSession, config: RuntimeConfig, experiment: Experiment, metric: Metric,
                  exposed: DataFrame, ds: date) -> DataFrame:
    """``<entity.key>``, ``metric__<name>`` for every row of ``exposed`` (a left join: no entity is lost)."""
    from pyspark.sql import functions as F

    key = experiment.entity.key
    path = source_path(config, metric.source)
    events = spark.read.format("delta").load(path)
    missing = [c for c in (key, metric.event_time, metric.column) if c and c not in events.columns]
    if missing:
        raise MetricSourceError(
            f"experiment '{experiment.name}': metric '{metric.name}': source {path} has no column(s) "
            f"{', '.join(missing)} (it has: {', '.join(events.columns)}); fix source/column/event_time in "
            f"{experiment.path or 'the declaration'}")
    ev = F.col("__ev_ts")
    events = events.select(F.col(key).cast("string").alias("__ev_key"), F.col(metric.event_time).alias("__ev_ts"),
                           (F.col(metric.column).cast("double") if metric.column else F.lit(1.0)).alias("__ev_v"))
    events = events.where(ev.isNotNull() & (ev <= F.lit(run_time(ds))))
    window_us = parse_duration_us(metric.window)
    first_us = F.unix_micros(F.col(FIRST_TS))
    in_window = ((F.col(key) == F.col("__ev_key")) & (F.unix_micros(ev) > first_us)
                 & (F.unix_micros(ev) <= first_us + F.lit(window_us)))
    joined = exposed.select(key, FIRST_TS).join(events, in_window, "left")
    return joined.groupBy(key).agg(_aggregate(metric, F.col("__ev_v"), ev))

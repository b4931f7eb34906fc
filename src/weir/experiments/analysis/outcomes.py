"""Outcome metrics per exposed entity: an aggregation of the metric's Delta source over the window after the
entity's first exposure.

An event counts for an entity when its key equals the entity's and its time is in ``(first_exposure,
first_exposure + window]`` and not after the end of the analysis day (a window still open counts what has
happened so far). An event at the very instant of the first exposure belongs to the covariates (they are as of
that instant, inclusive), never to the outcome. Entities without an event in the window get 0 for ``sum``,
``count`` and ``any``, and no value (left out of that metric) for ``mean``, ``max`` and ``min``.
"""

from __future__ import annotations

from collections.abc import Sequence
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


def metric_values(spark: SparkSession, config: RuntimeConfig, experiment: Experiment, metrics: Sequence[Metric],
                  exposed: DataFrame, ds: date) -> DataFrame:
    """``<entity.key>``, ``metric__<name>`` per metric for every row of ``exposed`` (a left join: no entity is
    lost). The metrics share one source and event time: the source is read and joined once, each metric then
    aggregates the events of its own window."""
    from pyspark.sql import functions as F

    key = experiment.entity.key
    source, event_time = metrics[0].source, metrics[0].event_time
    if any((m.source, m.event_time) != (source, event_time) for m in metrics):
        raise ValueError("metric_values takes metrics of one source and event time; see by_source()")
    path = source_path(config, source)
    events = spark.read.format("delta").load(path)
    needed = dict.fromkeys([key, event_time, *(m.column for m in metrics if m.column)])
    missing = [c for c in needed if c not in events.columns]
    if missing:
        names = ", ".join(m.name for m in metrics)
        raise MetricSourceError(
            f"experiment '{experiment.name}': metric(s) {names}: source {path} has no column(s) {', '.join(missing)} "
            f"(it has: {', '.join(events.columns)}); fix source/column/event_time in "
            f"{experiment.path or 'the declaration'}")
    ev = F.col("__ev_ts")
    columns = [c for c in needed if c not in (key, event_time)]
    events = events.select(F.col(key).cast("string").alias("__ev_key"), F.col(event_time).alias("__ev_ts"),
                           *[F.col(c).cast("double").alias(f"__ev_{i}") for i, c in enumerate(columns)])
    events = events.where(ev.isNotNull() & (ev <= F.lit(run_time(ds))))
    first_us, ev_us = F.unix_micros(F.col(FIRST_TS)), F.unix_micros(ev)
    longest = max(parse_duration_us(m.window) for m in metrics)
    joined = exposed.select(key, FIRST_TS).join(
        events, (F.col(key) == F.col("__ev_key")) & (ev_us > first_us) & (ev_us <= first_us + F.lit(longest)), "left")
    aggs = []
    for m in metrics:
        inside = ev_us <= first_us + F.lit(parse_duration_us(m.window))
        value = F.col(f"__ev_{columns.index(m.column)}") if m.column else F.lit(1.0)
        aggs.append(_aggregate(m, F.when(inside, value), F.when(inside, ev)))
    return joined.groupBy(key).agg(*aggs)


def by_source(metrics: Sequence[Metric]) -> list[list[Metric]]:
    """The metrics grouped by (source, event time), in declaration order: one read and join per group."""
    groups: dict[tuple[str, str], list[Metric]] = {}
    for m in metrics:
        groups.setdefault((m.source, m.event_time), []).append(m)
    return list(groups.values())

"""CUPED covariates, point in time, from Weir's training-set builder (``weir.training.build``).

The spine is the first exposures: (entity key, ``first_exposure_ts``). Each covariate is the feature's value as
of that instant, exactly as the online store would have served it then (events up to and including it; the
group's defaults for entities it had not seen), never a value computed from later events. A declaration writes
``group.feature_column``; the builder's reference is ``group:feature_column``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from weir.experiments.analysis.exposed import FIRST_TS
from weir.experiments.models import Experiment
from weir.runtime import RuntimeConfig
from weir.spec.models import FeatureGroup

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

NUMERIC = ("tinyint", "smallint", "int", "bigint", "float", "double", "boolean")


def covariate_ref(covariate: str) -> str:
    """``user_repayment.on_time_ratio_avg_90d`` -> ``user_repayment:on_time_ratio_avg_90d``."""
    group, _, column = covariate.partition(".")
    return f"{group}:{column}"


def covariate_column(covariate: str) -> str:
    """The feature column a covariate names (the builder's output column)."""
    return covariate.partition(".")[2]


class CovariateError(ValueError):
    """A covariate that CUPED cannot use."""


def with_covariates(spark: SparkSession, config: RuntimeConfig, experiment: Experiment, exposed: DataFrame,
                    groups: Sequence[FeatureGroup] | None = None) -> tuple[DataFrame, dict[str, Any]]:
    """``exposed`` with one double column per covariate (named as the feature column), and the builder's lineage
    (spec hashes and Delta versions read). Without covariates, ``exposed`` as is."""
    from pyspark.sql import functions as F

    from weir.training import build

    if not experiment.covariates:
        return exposed, {}
    key = experiment.entity.key
    columns = [covariate_column(c) for c in experiment.covariates]
    dup = sorted({c for c in columns if columns.count(c) > 1})
    if dup:
        raise CovariateError(f"experiment '{experiment.name}': covariates of different groups share the column "
                             f"name(s) {', '.join(dup)}; keep one of each")
    key_type = _declared_key_type(experiment, groups)
    spine = exposed.withColumn(key, F.col(key).cast(key_type)) if key_type else exposed
    built = build(spine, [covariate_ref(c) for c in experiment.covariates], timestamp_col=FIRST_TS, spark=spark,
                  config=config, groups=groups)
    types = {f.name: f.dataType.simpleString() for f in built.df.schema.fields}
    bad = [f"{c} ({types[c]})" for c in columns if types[c] not in NUMERIC]
    if bad:
        raise CovariateError(f"experiment '{experiment.name}': covariate(s) {', '.join(bad)} are not numeric; "
                             "CUPED needs numbers: choose count, sum, avg, min or max features")
    out = built.df.select(*[F.col(c).cast("string") if c == key else F.col(c) for c in exposed.columns],
                          *[F.col(c).cast("double").alias(c) for c in columns])
    return out, built.lineage


def _declared_key_type(experiment: Experiment, groups: Sequence[FeatureGroup] | None) -> str | None:
    """The key's type as the covariates' groups declare it (exposure keys are strings); None if unknown."""
    wanted = {c.partition(".")[0] for c in experiment.covariates}
    for g in groups or []:
        if g.name in wanted and experiment.entity.key in g.source.columns:
            declared = g.source.columns[experiment.entity.key].value
            return "bigint" if declared == "long" else str(declared)
    return None

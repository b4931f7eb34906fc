"""Who was exposed, when first and to which variant, from the exposures table (``weir.lake.paths``).

The rule of ``weir.experiments.exposures.first_exposures``, in Spark: each ``exposure_id`` once, then per entity
key the exposure with the smallest ``(ts, exposure_id)``. Only the experiment's own rows, and only exposures up
to the end of the analysis day (``ts <= ds + 1 00:00 UTC``, the run time of the day), so a rerun of an earlier
day sees what that day saw.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from weir.compute.layout import run_time
from weir.experiments.models import Experiment
from weir.lake.paths import exposures_path
from weir.runtime import RuntimeConfig

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

#: the columns of :func:`first_exposures_df` (the entity key column is the declaration's ``entity.key``)
FIRST_TS = "first_exposure_ts"
VARIANT = "variant"
N_VARIANTS = "n_variants"


def first_exposures_df(spark: SparkSession, config: RuntimeConfig, experiment: Experiment, ds: date) -> DataFrame:
    """One row per exposed entity: ``<entity.key>``, ``variant`` (of its first exposure), ``first_exposure_ts``
    and ``n_variants`` (how many variants its exposures name: more than 1 means the salt or weights changed
    mid-experiment, or a logging bug)."""
    from pyspark.sql import functions as F

    end = run_time(ds)  # an exposure at exactly 00:00 of the next day (its ds) still belongs to this day
    rows = (spark.read.format("delta").load(exposures_path(config))
            .where((F.col("name") == experiment.name) & (F.col("ds") <= F.lit(end.date()))
                   & (F.col("ts") <= F.lit(end)))
            .select("exposure_id", "key", "variant", "ts")
            .dropDuplicates(["exposure_id"]))
    first = F.min(F.struct("ts", "exposure_id", "variant"))
    return (rows.groupBy("key")
            .agg(first.alias("__first"), F.countDistinct("variant").alias(N_VARIANTS))
            .select(F.col("key").alias(experiment.entity.key), F.col("__first.variant").alias(VARIANT),
                    F.col("__first.ts").alias(FIRST_TS), N_VARIANTS))

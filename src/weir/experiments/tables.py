"""The columns of the experiment tables in the lake, declared once (paths: ``weir.lake.paths``).

The exposure stream writes ``exposures`` and the daily analysis reads it; both use these names. Pure: no Spark.
"""

from __future__ import annotations

from weir.lake.paths import EXPOSURE_STREAM as EXPOSURE_STREAM  # the stream's name, declared with the lake's tables

#: one row per exposure (an ``Exposure`` record), unique by ``exposure_id``; ``ts`` is the evaluation time (UTC),
#: ``ds`` its day (the partition), ``ingested_at`` when the stream wrote it
EXPOSURE_SCHEMA_DDL = (
    "exposure_id STRING NOT NULL, name STRING NOT NULL, kind STRING NOT NULL, entity STRING NOT NULL, "
    "key STRING NOT NULL, variant STRING NOT NULL, salt STRING, reason STRING, ts TIMESTAMP NOT NULL, "
    "ds DATE NOT NULL, ingested_at TIMESTAMP"
)
EXPOSURE_PARTITION = "ds"

#: one row per (experiment, analysis day ``ds``, metric, variant): the control's row carries its n and mean, a
#: treatment's row its delta against the control, plain and CUPED side by side; the SRM result is repeated on
#: every row of the day. A rerun of the same day replaces that day's rows (``RESULT_REPLACE_KEYS``).
RESULT_SCHEMA_DDL = (
    "experiment STRING NOT NULL, ds DATE NOT NULL, metric STRING NOT NULL, variant STRING NOT NULL, "
    "is_control BOOLEAN NOT NULL, exposed BIGINT NOT NULL, n BIGINT NOT NULL, mean DOUBLE, "
    "delta DOUBLE, ci_low DOUBLE, ci_high DOUBLE, relative DOUBLE, relative_ci_low DOUBLE, relative_ci_high DOUBLE, "
    "p_value DOUBLE, cuped_delta DOUBLE, cuped_ci_low DOUBLE, cuped_ci_high DOUBLE, cuped_p_value DOUBLE, "
    "variance_reduction DOUBLE, covariates STRING, srm_p_value DOUBLE, srm_mismatch BOOLEAN NOT NULL, "
    "alpha DOUBLE NOT NULL, analysed_at TIMESTAMP NOT NULL"
)
RESULT_REPLACE_KEYS = ("experiment", "ds")


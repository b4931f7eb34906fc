"""The columns of the experiment tables in the lake, declared once (paths: ``weir.lake.paths``).

The exposure stream writes ``exposures`` and the daily analysis reads it; both use these names. Pure: no Spark.
"""

from __future__ import annotations

#: one row per exposure (an ``Exposure`` record), unique by ``exposure_id``; ``ts`` is the evaluation time (UTC),
#: ``ds`` its day (the partition), ``ingested_at`` when the stream wrote it
EXPOSURE_SCHEMA_DDL = (
    "exposure_id STRING NOT NULL, name STRING NOT NULL, kind STRING NOT NULL, entity STRING NOT NULL, "
    "key STRING NOT NULL, variant STRING NOT NULL, salt STRING, reason STRING, ts TIMESTAMP NOT NULL, "
    "ds DATE NOT NULL, ingested_at TIMESTAMP"
)
EXPOSURE_PARTITION = "ds"
#: the exposure stream's name: of its checkpoint, dead-letter table (``deadletter/_exposures``) and metrics rows;
#: a feature group's name starts with a letter, so it can never collide with one
EXPOSURE_STREAM = "_exposures"

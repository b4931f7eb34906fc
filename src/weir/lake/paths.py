"""Every table in the lake, named once: its path under the runtime config's lake and its shared columns.

Engines, orchestration and tests ask here for a table's path instead of spelling ``tiles/<group>`` or
``_weir/...`` themselves, so moving the lake (another root, an object store) or renaming a table is one edit.
Pure: no Spark, no Delta.
"""

from __future__ import annotations

from weir.runtime import RuntimeConfig

#: the day partition of every partitioned table (events: the event's day; features: the day of the run)
PARTITION_COL = "ds"
#: the run time of a feature row (the end of its day)
RUN_TS_COL = "run_ts"

# Per-group tables: ``<kind>/<group>``.
TILES = "tiles"
FEATURES = "features"
LIFETIME = "lifetime"
QUARANTINE = "quarantine"
EVENTS = "events"
DEADLETTER = "deadletter"
LATE = "late"

# Platform tables: one per lake, rows name their group.
STREAM_METRICS_TABLE = "_weir/stream_metrics"
PUBLISH_LOG_TABLE = "_weir/publish_log"
VALIDATION_RUNS_TABLE = "_weir/validation_runs"
RUN_STATUS_TABLE = "_weir/run_status"
DEADLETTER_REPLAYS_TABLE = "_weir/deadletter_replays"
TRAINING_LINEAGE_TABLE = "_weir/training_lineage"
ONLINE_QUARANTINE_TABLE = "_weir/online_quarantine"
#: experiments: one row per logged exposure (deduplicated by ``exposure_id``), one row per analysis result
EXPOSURES_TABLE = "exposures"
EXPERIMENT_RESULTS_TABLE = "experiment_results"
#: the exposure stream's name: of its checkpoint, dead-letter table (``deadletter/_exposures``) and metrics rows;
#: a feature group's name starts with a letter, so it can never collide with one
EXPOSURE_STREAM = "_exposures"

#: every per-group table kind and every platform table (what table maintenance compacts and vacuums)
GROUP_TABLES = (EVENTS, TILES, FEATURES, LIFETIME, QUARANTINE, DEADLETTER, LATE)
PLATFORM_TABLES = (STREAM_METRICS_TABLE, VALIDATION_RUNS_TABLE, PUBLISH_LOG_TABLE, DEADLETTER_REPLAYS_TABLE,
                   TRAINING_LINEAGE_TABLE, RUN_STATUS_TABLE, ONLINE_QUARANTINE_TABLE, EXPOSURES_TABLE,
                   EXPERIMENT_RESULTS_TABLE)
SMOKE_PREFIX = "_smoke"


def source_path(config: RuntimeConfig, table: str) -> str:
    """A source table name from a spec, resolved against the lake (an absolute path or URI is kept)."""
    return table if "://" in table or table.startswith("/") else config.table_path(table)


def group_table(kind: str, group: str) -> str:
    """The name (relative to the lake) of the ``kind`` table (``TILES``, ``FEATURES``, ...) of ``group``."""
    return f"{kind}/{group}"


def group_table_path(config: RuntimeConfig, kind: str, group: str) -> str:
    """The path of the ``kind`` table (``TILES``, ``FEATURES``, ...) of ``group``."""
    return config.table_path(group_table(kind, group))


def tiles_path(config: RuntimeConfig, group: str) -> str:
    return group_table_path(config, TILES, group)


def features_path(config: RuntimeConfig, group: str) -> str:
    return group_table_path(config, FEATURES, group)


def lifetime_path(config: RuntimeConfig, group: str) -> str:
    return group_table_path(config, LIFETIME, group)


def quarantine_path(config: RuntimeConfig, group: str) -> str:
    return group_table_path(config, QUARANTINE, group)


def events_path(config: RuntimeConfig, group: str) -> str:
    """Valid events read from Kafka (the event log the next batch run and trainers see)."""
    return group_table_path(config, EVENTS, group)


def deadletter_path(config: RuntimeConfig, group: str) -> str:
    return group_table_path(config, DEADLETTER, group)


def late_path(config: RuntimeConfig, group: str) -> str:
    return group_table_path(config, LATE, group)


def stream_metrics_path(config: RuntimeConfig) -> str:
    """One row per stream micro-batch of every group (high-water mark, counts)."""
    return config.table_path(STREAM_METRICS_TABLE)


def publish_log_path(config: RuntimeConfig) -> str:
    """One row per publish run: what is online, from which tile version."""
    return config.table_path(PUBLISH_LOG_TABLE)


def validation_runs_path(config: RuntimeConfig) -> str:
    """One row per validation run of a feature partition."""
    return config.table_path(VALIDATION_RUNS_TABLE)


def run_status_path(config: RuntimeConfig) -> str:
    """One row per pipeline step attempt (``weir.pipeline.status``): what the Airflow view shows."""
    return config.table_path(RUN_STATUS_TABLE)


def deadletter_replays_path(config: RuntimeConfig) -> str:
    """One row per replayed dead-letter offset (the audit trail of ``weir.stream.replay``)."""
    return config.table_path(DEADLETTER_REPLAYS_TABLE)


def training_lineage_path(config: RuntimeConfig) -> str:
    """The Delta versions each written training set pins (table maintenance keeps them readable)."""
    return config.table_path(TRAINING_LINEAGE_TABLE)


def online_quarantine_path(config: RuntimeConfig) -> str:
    """Entities a publish set aside: their online item would exceed DynamoDB's size limit."""
    return config.table_path(ONLINE_QUARANTINE_TABLE)


def smoke_path(config: RuntimeConfig, run_id: str) -> str:
    """The Delta table one ``weir smoke`` run writes and reads back."""
    return config.table_path(f"{SMOKE_PREFIX}/{run_id}")


def checkpoint_path(config: RuntimeConfig, group: str) -> str:
    """The group's Structured Streaming checkpoint (under the config's checkpoint root, beside the lake)."""
    return f"{config.checkpoints.rstrip('/')}/{group}"


def exposures_path(config: RuntimeConfig) -> str:
    """Every flag and experiment exposure, once per ``exposure_id`` (written by the exposure stream)."""
    return config.table_path(EXPOSURES_TABLE)


def experiment_results_path(config: RuntimeConfig) -> str:
    """One row per (experiment, analysis day, metric, variant): what the daily analysis found."""
    return config.table_path(EXPERIMENT_RESULTS_TABLE)

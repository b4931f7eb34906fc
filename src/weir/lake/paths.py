"""Every table in the lake, named once: its path under the runtime config's lake and its shared columns.

Engines, orchestration and tests ask here for a table's path instead of spelling ``tiles/<group>`` or
``_weir/...`` themselves, so moving the lake (another root, an object store) or renaming a table is one edit.
Pure: no Spark, no Delta.
"""

from __future__ import annotations

from collections.abc import Callable

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


def _group_getter(kind: str, doc: str) -> Callable[[RuntimeConfig, str], str]:
    """``<kind>_path(config, group)``: the path of that group's ``kind`` table (one rule, many names)."""
    def path(config: RuntimeConfig, group: str) -> str:
        return group_table_path(config, kind, group)

    path.__doc__ = doc
    return path


def _platform_getter(table: str, doc: str) -> Callable[[RuntimeConfig], str]:
    """``<table>_path(config)``: the path of one platform table."""
    def path(config: RuntimeConfig) -> str:
        return config.table_path(table)

    path.__doc__ = doc
    return path


tiles_path = _group_getter(TILES, "Daily tiles (partial aggregates) of a group: the batch engine's output.")
features_path = _group_getter(FEATURES, "Feature rows of a group, one per entity and day.")
lifetime_path = _group_getter(LIFETIME, "Lifetime (since-first-event) aggregates of a group.")
quarantine_path = _group_getter(QUARANTINE, "Source rows the batch engine rejected, with the reason.")
events_path = _group_getter(EVENTS, "Valid events read from Kafka (the event log the next batch run and trainers "
                                    "see).")
deadletter_path = _group_getter(DEADLETTER, "Stream records that could not be used, with the reason.")
late_path = _group_getter(LATE, "Stream events that arrived after the allowed lateness.")
stream_metrics_path = _platform_getter(
    STREAM_METRICS_TABLE, "One row per stream micro-batch of every group (high-water mark, counts).")
publish_log_path = _platform_getter(
    PUBLISH_LOG_TABLE, "One row per publish run: what is online, from which tile version.")
validation_runs_path = _platform_getter(VALIDATION_RUNS_TABLE, "One row per validation run of a feature partition.")
run_status_path = _platform_getter(
    RUN_STATUS_TABLE, "One row per pipeline step attempt (``weir.pipeline.status``): what the Airflow view shows.")
deadletter_replays_path = _platform_getter(
    DEADLETTER_REPLAYS_TABLE, "One row per replayed dead-letter offset (the audit trail of ``weir.stream.replay``).")
training_lineage_path = _platform_getter(
    TRAINING_LINEAGE_TABLE, "The Delta versions each written training set pins (table maintenance keeps them "
                            "readable).")
online_quarantine_path = _platform_getter(
    ONLINE_QUARANTINE_TABLE, "Entities a publish set aside: their online item would exceed DynamoDB's size limit.")


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

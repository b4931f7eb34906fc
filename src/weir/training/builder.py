"""Point-in-time-correct training sets: each spine row at time t gets every feature as of t.

Values use the one window rule of ``weir.compute`` (full tiles from the stored tile table, the partial head
tile from raw events in ``(floor_hop(t), t]``), so a training value equals what the online store serves at t
for the same events. A spine time that is a run time of the daily feature table (the end of a computed day)
reads that day's row instead, which holds exactly those values, unless the row is older than a tile it was
computed from (an earlier day rerun with late events), then it merges tiles too. Entities whose newest event
is older than the group's online TTL at t get the defaults, as online. The output records the spec hashes and
the Delta versions it read, so it can be rebuilt exactly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from weir.batch.tables import (
    PARTITION_COL,
    RUN_TS_COL,
    features_path,
    source_path,
    table_exists,
    table_version,
    tiles_path,
    written_at,
)
from weir.compute.ir import HOP_COL, NEWEST_COL, TILE_END_COL
from weir.compute.windows import DAY_US, feature_windows, group_hops
from weir.runtime import RuntimeConfig, load_config
from weir.spec.models import Aggregation, FeatureGroup
from weir.training.refs import GroupRequest, TrainingSetError, check_spine_columns, resolve_refs

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

_T = "__weir_spine_t"
_ROW = "__weir_spine_row"


@dataclass
class TrainingSet:
    """The built DataFrame and what it was built from (spec hashes, Delta versions read)."""

    df: DataFrame
    lineage: dict[str, Any] = field(default_factory=dict)


def _default(group: FeatureGroup, column: str) -> Any:
    feature = next(c.feature for c in group.output_columns() if c.name == column)
    if feature.default is not None:
        return feature.default
    return 0 if feature.aggregation in (Aggregation.COUNT, Aggregation.APPROX_COUNT_DISTINCT) else None


def _read(spark: SparkSession, path: str, version: int | None) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(path)


@dataclass
class _Stored:
    """The batch engine's stored state of a group, at pinned Delta versions."""

    tiles: DataFrame      # tile table (with its ``ds`` partition column)
    features: DataFrame   # daily feature table: one row per entity per run time
    covered: Any          # newest run time of the feature table: tiles of later events are built from events
    feature_days: dict[date, Any]  # ds -> oldest file modification time of the feature table's partition
    tile_days: dict[date, Any]     # ds -> newest file modification time of the tile table's partition


def _stored_state(spark: SparkSession, group: FeatureGroup, config: RuntimeConfig, events: DataFrame,
                  versions: dict[str, int], read: dict[str, int | None]) -> _Stored | None:
    """The stored tiles and feature table, if their days reach back to the group's first event (else tiles
    are rebuilt from events)."""
    from pyspark.sql import functions as F

    from weir.batch.source import run_time

    t_path, f_path = tiles_path(config, group.name), features_path(config, group.name)
    if not (table_exists(spark, t_path) and table_exists(spark, f_path)):
        return None
    t_version = versions.get(t_path, table_version(spark, t_path))
    f_version = versions.get(f_path, table_version(spark, f_path))
    tiles, features = _read(spark, t_path, t_version), _read(spark, f_path, f_version)
    # a run rewrites every hop of its days at once: the coarsest hop's tiles (fewest rows) date the run
    coarsest = tiles.where(F.col(HOP_COL) == F.lit(max(group_hops(group))))
    feature_days, tile_days = written_at(features, newest=False), written_at(coarsest, newest=True)
    if not feature_days or not tile_days:
        return None
    first_event = events.agg(F.min(group.event_time)).first()[0]  # type: ignore[index]
    if first_event is not None and run_time(min(tile_days)) > first_event + timedelta(days=1):
        return None
    read[t_path], read[f_path] = t_version, f_version
    return _Stored(tiles, features, run_time(max(feature_days)), feature_days, tile_days)


def _lookback_days(group: FeatureGroup) -> int | None:
    """Days of tiles a run time's feature row is computed from (None: every earlier day, for lifetime)."""
    spans = [w.window_us for w in feature_windows(group)]
    if any(s is None for s in spans):
        return None
    return -(-max(s for s in spans if s is not None) // DAY_US)


def fresh_feature_days(group: FeatureGroup, feature_days: dict[date, Any], tile_days: dict[date, Any],
                       ) -> tuple[list[date], list[date]]:
    """Days of the feature table whose rows are as new as every tile they were computed from, and the stale ones.

    A rerun of an earlier day (late events) rewrites its tiles but not the rows of the later days whose windows
    include it, until those days are rerun too. Compares file modification times per ``ds`` partition
    (``written_at``: oldest file of a feature day, newest file of a tile day).
    """
    span = _lookback_days(group)
    fresh: list[date] = []
    stale: list[date] = []
    for ds, at in sorted(feature_days.items()):
        lo = date.min if span is None else ds - timedelta(days=span - 1)
        newest = max((m for d, m in tile_days.items() if lo <= d <= ds), default=None)
        (fresh if newest is None or newest <= at else stale).append(ds)
    return fresh, stale


def _feature_rows(features: DataFrame, group: FeatureGroup, days: list[date]) -> DataFrame:
    """Values at the run times of ``days`` from the feature table (one row per entity per run time)."""
    from pyspark.sql import functions as F

    return features.where(F.col(PARTITION_COL).isin(days)).select(
        *group.key_columns, F.col(RUN_TS_COL).alias(_T), *group.output_column_names(), NEWEST_COL)


def _group_values(spark: SparkSession, req: GroupRequest, spine: DataFrame, timestamp_col: str,
                  config: RuntimeConfig, versions: dict[str, int], lineage: dict[str, Any],
                  use_feature_table: bool) -> DataFrame:
    from pyspark.sql import functions as F

    from weir.compute.spark_agg import build_tiles
    from weir.compute.spark_pit import point_in_time_features

    group = req.group
    if not group.source.delta:
        raise TrainingSetError(f"group '{group.name}' has no Delta source: training sets read events from Delta")
    src = source_path(config, group.source.delta)
    if not table_exists(spark, src):
        raise TrainingSetError(f"source table {src} of group '{group.name}' does not exist")
    src_version = versions.get(src, table_version(spark, src))
    all_events = _read(spark, src, src_version)
    for k in group.key_columns:
        all_events = all_events.where(F.col(k).isNotNull())
    read: dict[str, int | None] = {src: src_version}
    stored = _stored_state(spark, group, config, all_events, versions, read)
    info: dict[str, Any] = {"spec_hash": group.spec_hash(), "spec_file": group.path, "delta_versions": read,
                            "tiles": "stored" if stored else "rebuilt"}
    lineage["groups"][group.name] = info

    keyed = spine.select(*group.key_columns, F.col(timestamp_col).alias(_T))
    parts, rest = [], keyed
    if stored is not None and use_feature_table:
        # Spine times on a run time read that day's feature row: the same value the tiles give (tested).
        fresh, stale = fresh_feature_days(group, stored.feature_days, stored.tile_days)
        info["feature_table_days"], info["stale_feature_days"] = len(fresh), [str(d) for d in stale]
        if fresh:
            t = F.col(_T)
            at_run = (t == F.date_trunc("day", t)) & F.date_sub(F.to_date(t), 1).isin(fresh)
            parts.append(_feature_rows(stored.features, group, fresh))
            rest = keyed.where(~at_run)
    if not parts or rest.limit(1).count():
        max_t = rest.agg(F.max(_T)).first()[0]  # type: ignore[index]
        events = all_events.where(F.col(group.event_time) <= F.lit(max_t))
        tiles = None
        if stored is not None:
            newer = events.where(F.col(group.event_time) > F.lit(stored.covered))
            tiles = stored.tiles.drop(PARTITION_COL).where(F.col(TILE_END_COL) <= F.lit(stored.covered)) \
                .unionByName(build_tiles(newer, group))
        parts.append(point_in_time_features(events, rest, group, t_col=_T, tiles=tiles))
    cols = [*group.key_columns, _T, *req.columns, NEWEST_COL]
    values = parts[0].select(*cols)
    for p in parts[1:]:
        values = values.unionByName(p.select(*cols))
    return values


def _served(group: FeatureGroup, columns: list[str], values: DataFrame, t: Column, newest: Column) -> list[Column]:
    """The requested columns as online serves them at ``t``: defaults when the entity's newest event is older
    than the TTL (or it has none), and in place of NULL values where the spec has a default."""
    from pyspark.sql import functions as F

    expired = newest.isNull() | (F.unix_micros(newest) + F.lit(group.online.ttl_us) <= F.unix_micros(t))
    out = []
    for c in columns:
        dtype, default = values.schema[c].dataType, _default(group, c)
        value = F.col(c) if default is None else F.coalesce(F.col(c), F.lit(default).cast(dtype))
        out.append(F.when(expired, F.lit(default)).otherwise(value).cast(dtype).alias(c))
    return out


def build(spine: DataFrame | str, features: Sequence[str], timestamp_col: str = "ts",
          spark: SparkSession | None = None, config: RuntimeConfig | None = None,
          versions: dict[str, int] | None = None, groups: Sequence[FeatureGroup] | None = None,
          use_feature_table: bool = True) -> TrainingSet:
    """The spine's rows with the requested features as of each row's ``timestamp_col``.

    ``spine`` is a DataFrame or a Delta path with the entity keys of every requested group, a timestamp column
    and any label columns (kept as is; duplicate rows are kept). ``features`` are ``group:column`` refs or whole
    group names. ``versions`` pins Delta versions by table path (time travel) to rebuild an earlier set.
    Spine times on a run time (end of a day) the batch engine computed read its feature-table row, unless a
    later rerun of an earlier day made it stale or ``use_feature_table`` is off; other times merge tiles.
    """
    from weir.spark import get_spark
    from weir.spec.loader import load_specs

    config = config or load_config()
    spark = spark or get_spark("weir-training", config)
    specs = {g.name: g for g in (groups if groups is not None else load_specs(config.specs_dir))}
    requests = resolve_refs(features, specs)
    spine_df = spark.read.format("delta").load(spine) if isinstance(spine, str) else spine
    check_spine_columns({f.name: f.dataType.simpleString() for f in spine_df.schema.fields}, timestamp_col, requests)

    from pyspark.sql import functions as F

    lineage: dict[str, Any] = {"features": list(features), "timestamp_col": timestamp_col, "groups": {}}
    if isinstance(spine, str):
        lineage["spine"] = {"path": spine, "delta_version": table_version(spark, spine)}
    out, served = spine_df, []
    for i, req in enumerate(requests):
        # one row per (keys, t) of the group: joined to the spine as is, duplicate spine rows kept
        values = _group_values(spark, req, spine_df, timestamp_col, config, dict(versions or {}), lineage,
                               use_feature_table)
        keys, newest = req.group.key_columns, f"__weir_newest_{i}"
        renamed = values.select(*[F.col(k).alias(f"__weir_k_{k}") for k in keys], _T, *req.columns,
                                F.col(NEWEST_COL).alias(newest))
        cond = [F.col(k) == F.col(f"__weir_k_{k}") for k in keys] + [F.col(timestamp_col) == F.col(_T)]
        out = out.join(renamed, cond, "left").drop(*[f"__weir_k_{k}" for k in keys], _T)
        served += _served(req.group, req.columns, values, F.col(timestamp_col), F.col(newest))
    out = out.select(*spine_df.columns, *served)
    return TrainingSet(out, lineage)


def write_training_set(ts: TrainingSet, path: str, mode: str = "overwrite") -> int:
    """Write the set as a Delta table at ``path``; its lineage goes to the commit and a ``_weir_lineage.json``."""
    from pathlib import Path

    spark = ts.df.sparkSession
    text = json.dumps(ts.lineage, sort_keys=True, default=str)
    (ts.df.write.format("delta").mode(mode).option("overwriteSchema", "true")
     .option("userMetadata", text).save(path))
    version = table_version(spark, path) or 0
    if "://" not in path:
        Path(path, "_weir_lineage.json").write_text(json.dumps({**ts.lineage, "output_version": version},
                                                               indent=2, sort_keys=True, default=str))
    return version

"""Point-in-time-correct training sets: each spine row at time t gets every feature as of t.

Values use the one window rule of ``weir.compute`` (full tiles from the stored tile table, the partial head
tile from raw events in ``(floor_hop(t), t]``), so a training value equals what the online store serves at t
for the same events. Entities whose newest event is older than the group's online TTL at t get the defaults,
as online. The output records the spec hashes and the Delta versions it read, so it can be rebuilt exactly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from weir.batch.tables import features_path, source_path, table_exists, table_version, tiles_path
from weir.runtime import RuntimeConfig, load_config
from weir.spec.models import Aggregation, FeatureGroup
from weir.training.refs import GroupRequest, TrainingSetError, check_spine_columns, resolve_refs

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

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


def _group_values(spark: SparkSession, req: GroupRequest, spine: DataFrame, timestamp_col: str,
                  config: RuntimeConfig, versions: dict[str, int], lineage: dict[str, Any]) -> DataFrame:
    from pyspark.sql import functions as F

    from weir.compute.spark_pit import point_in_time_features

    group = req.group
    if not group.source.delta:
        raise TrainingSetError(f"group '{group.name}' has no Delta source: training sets read events from Delta")
    src = source_path(config, group.source.delta)
    if not table_exists(spark, src):
        raise TrainingSetError(f"source table {src} of group '{group.name}' does not exist")
    src_version = versions.get(src, table_version(spark, src))
    max_t = spine.agg(F.max(timestamp_col)).first()[0]  # type: ignore[index]
    events = _read(spark, src, src_version).where(F.col(group.event_time) <= F.lit(max_t))
    for k in group.key_columns:
        events = events.where(F.col(k).isNotNull())
    read = {src: src_version}
    tiles, how = None, "rebuilt"
    t_path, f_path = tiles_path(config, group.name), features_path(config, group.name)
    if table_exists(spark, t_path) and table_exists(spark, f_path):
        from weir.compute.spark_agg import build_tiles

        t_version = versions.get(t_path, table_version(spark, t_path))
        f_version = versions.get(f_path, table_version(spark, f_path))
        stored = _read(spark, t_path, t_version)
        # computed through the newest run time of the feature table; tiles of later events are built here
        covered = _read(spark, f_path, f_version).agg(F.max("run_ts")).first()[0]  # type: ignore[index]
        lo = stored.agg(F.min("tile_end")).first()[0]  # type: ignore[index]
        first_event = events.agg(F.min(group.event_time)).first()[0]  # type: ignore[index]
        if covered is not None and lo is not None and (first_event is None or lo <= first_event + timedelta(days=1)):
            newer = events.where(F.col(group.event_time) > F.lit(covered))
            tiles = stored.drop("ds").where(F.col("tile_end") <= F.lit(covered)).unionByName(
                build_tiles(newer, group))
            read[t_path], read[f_path] = t_version, f_version
            how = "stored"
    lineage["groups"][group.name] = {"spec_hash": group.spec_hash(), "spec_file": group.path,
                                     "delta_versions": read, "tiles": how}
    keyed = spine.select(*group.key_columns, F.col(timestamp_col).alias(_T))
    values = point_in_time_features(events, keyed, group, t_col=_T, tiles=tiles)
    expired = (F.col("newest_event_ts").isNull() | (
        F.unix_micros("newest_event_ts") + F.lit(group.online.ttl_us) <= F.unix_micros(_T)))
    out = [F.when(expired, F.lit(_default(group, c))).otherwise(
        F.coalesce(F.col(c), F.lit(_default(group, c)).cast(values.schema[c].dataType)) if
        _default(group, c) is not None else F.col(c)).cast(values.schema[c].dataType).alias(c)
        for c in req.columns]
    return values.select(*group.key_columns, _T, *out)


def build(spine: DataFrame | str, features: Sequence[str], timestamp_col: str = "ts",
          spark: SparkSession | None = None, config: RuntimeConfig | None = None,
          versions: dict[str, int] | None = None, groups: Sequence[FeatureGroup] | None = None) -> TrainingSet:
    """The spine's rows with the requested features as of each row's ``timestamp_col``.

    ``spine`` is a DataFrame or a Delta path with the entity keys of every requested group, a timestamp column
    and any label columns (kept as is; duplicate rows are kept). ``features`` are ``group:column`` refs or whole
    group names. ``versions`` pins Delta versions by table path (time travel) to rebuild an earlier set.
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
    out = spine_df
    for req in requests:
        values = _group_values(spark, req, spine_df, timestamp_col, config, dict(versions or {}), lineage)
        keys = req.group.key_columns
        renamed = values.dropDuplicates([*keys, _T]).select(
            *[F.col(k).alias(f"__weir_k_{k}") for k in keys], _T, *req.columns)
        cond = [F.col(k) == F.col(f"__weir_k_{k}") for k in keys] + [F.col(timestamp_col) == F.col(_T)]
        out = out.join(renamed, cond, "left").drop(*[f"__weir_k_{k}" for k in keys], _T)
    out = out.select(*spine_df.columns, *[F.col(c) for r in requests for c in r.columns])
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

"""Point-in-time-correct training sets: each spine row at time t gets every feature as of t.

Values use the one window rule of ``weir.compute`` (full tiles from the stored tile table, the partial head
tile from raw events in ``(floor_hop(t), t]``), so a training value equals what the online store serves at t
for the same events. A spine time that is a run time of the daily feature table (the end of a computed day)
reads that day's row instead, which holds exactly those values, unless the row is older than a tile it was
computed from (an earlier day rerun with late events), then it merges tiles too. Entities whose newest event
is the group's online TTL or more before t (age >= ttl) get the defaults, as online. The output records the
spec hashes and the Delta versions it read, so it can be rebuilt exactly.

With ``availability="known_at"`` an event counts at t only if it was also in the lake at t (the commit time of
its file, ``weir.training.known_at``): values are what the online store could have served at t, without late
events leaking into earlier rows. Stored tiles then answer up to each row's horizon (every earlier event was in
the lake at t and is in them); the tiles after it come from the events that were in the lake at t.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from weir.compute.ir import HOP_COL, NEWEST_COL, TILE_END_COL
from weir.compute.layout import Lookback, column_defaults, lookback_days, run_time
from weir.compute.windows import feature_windows, group_hops
from weir.lake.delta import table_exists, table_version
from weir.lake.delta_log import DeltaLogUnreadable, LogSnapshot, log_snapshot, read_partitions_at
from weir.lake.paths import PARTITION_COL, RUN_TS_COL, features_path, source_path, tiles_path
from weir.runtime import RuntimeConfig, load_config
from weir.spec.models import FeatureGroup
from weir.training.refs import GroupRequest, TrainingSetError, check_spine_columns, resolve_refs

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from weir.training.known_at import SourceFile

log = logging.getLogger(__name__)

_T = "__weir_spine_t"
_ROW = "__weir_spine_row"
#: ``build(availability=...)``: when an event starts to count
AVAILABILITY = ("event_time", "known_at")


@dataclass
class TrainingSet:
    """The built DataFrame and what it was built from (spec hashes, Delta versions read)."""

    df: DataFrame
    lineage: dict[str, Any] = field(default_factory=dict)

    def to_arrow(self) -> Any:
        """The rows as a ``pyarrow.Table`` (collected to the driver; timestamps ``timestamp[us, UTC]``)."""
        return self.df.toArrow()

    def to_pandas(self) -> Any:
        """The rows as a pandas DataFrame, through Arrow (the same types ``read_training_set`` returns)."""
        return self.to_arrow().to_pandas()


def _read(spark: SparkSession, path: str, version: int | None) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(path)


@dataclass
class _Stored:
    """The batch engine's stored state of a group, at pinned Delta versions (read by Spark only when used)."""

    tiles: LogSnapshot     # tile table (with its ``ds`` partition column)
    features: LogSnapshot  # daily feature table: one row per entity per run time
    covered: Any           # newest run time of the feature table: tiles of later events are built from events
    feature_days: dict[date, Any]  # ds -> oldest file modification time of the feature table's partition
    tile_days: dict[date, Any]     # ds -> newest file modification time of the tile table's partition


#: Stored tiles per entity from which a group's full tiles are merged by range frames over each entity's sorted
#: tiles rather than joined to every spine row of the entity (both exact; docs/benchmarks.md, "Training sets":
#: 20,000 users with ~80 tiles each were faster joined, 36 s vs 45 s; 200 merchants with ~490 each by frames,
#: 55 s vs 150 s).
FRAMES_FROM_TILES_PER_ENTITY = 150


def _tiles_per_entity(tiles: LogSnapshot, features: LogSnapshot) -> float | None:
    """Stored tile rows per entity, from the logs' row counts (entities: rows of the newest feature-table day, which
    holds every entity still kept); None when the logs cannot tell."""
    days = features.written_at(newest=True)
    entities = features.records({PARTITION_COL: max(days)}) if days else None
    rows = tiles.records()
    return None if not entities or rows is None else rows / entities


def _by_frames(tiles: LogSnapshot | None, features: LogSnapshot | None) -> bool:
    per_entity = None if tiles is None or features is None else _tiles_per_entity(tiles, features)
    return per_entity is not None and per_entity >= FRAMES_FROM_TILES_PER_ENTITY


@dataclass(frozen=True)
class _SpineTimes:
    """What the spine's timestamps need, from one pass over them."""

    run_days: frozenset[date]  # days whose run time (the end of the day) is a spine time
    other: bool                # some spine time is not the end of a day
    latest: Any                # the latest spine time (None: the spine has none)
    earliest: Any = None       # the earliest spine time


def _spine_times(spine: DataFrame, timestamp_col: str) -> _SpineTimes:
    from pyspark.sql import functions as F

    t = F.col(timestamp_col)
    day = F.when(t == F.date_trunc("day", t), F.date_sub(F.to_date(t), 1)).alias("day")
    rows = spine.where(t.isNotNull()).groupBy(day).agg(F.max(t).alias("latest"), F.min(t).alias("earliest")).collect()
    days = frozenset(r["day"] for r in rows if r["day"] is not None)
    return _SpineTimes(days, any(r["day"] is None for r in rows), max((r["latest"] for r in rows), default=None),
                       min((r["earliest"] for r in rows), default=None))


def _logs(*paths_versions: tuple[str, int | None]) -> list[LogSnapshot | None] | None:
    """The log snapshots of the tables (None for a missing one); None when delta-rs cannot read one."""
    try:
        return [log_snapshot(path, version) for path, version in paths_versions]
    except DeltaLogUnreadable as exc:
        log.warning("%s; training reads it through Spark instead", exc)
        return None


def _events_before(events: Callable[[], DataFrame], source: LogSnapshot | None, event_time: str,
                   bound: datetime) -> bool:
    """Whether the source has events (with keys) before ``bound``: by the log's file statistics when they rule
    it out (no scan), else by scanning the events."""
    lower = source.min_value(event_time) if source is not None else None
    if lower is not None and lower >= bound:
        return False
    from pyspark.sql import functions as F

    first = events().agg(F.min(event_time)).first()[0]  # type: ignore[index]
    return first is not None and first < bound


def _stored_state(group: FeatureGroup, config: RuntimeConfig, events: Callable[[], DataFrame],
                  source: LogSnapshot | None, versions: dict[str, int], read: dict[str, int | None],
                  ) -> _Stored | None:
    """The stored tiles and feature table, if their days reach back to the group's first event (else tiles
    are rebuilt from events). Versions and partition write times come from the Delta logs (no Spark job)."""
    from weir.batch.source import day_start

    t_path, f_path = tiles_path(config, group.name), features_path(config, group.name)
    logs = _logs((t_path, versions.get(t_path)), (f_path, versions.get(f_path)))
    if logs is None or logs[0] is None or logs[1] is None:
        return None
    t_log, f_log = logs[0], logs[1]
    # a run rewrites every hop of its days at once: the coarsest hop's files date it (any hop's, if not a partition)
    coarsest = {HOP_COL: max(group_hops(group))} if HOP_COL in t_log.partition_cols else None
    feature_days = f_log.written_at(newest=False)
    tile_days = t_log.written_at(newest=True, where=coarsest)
    if not feature_days or not tile_days:
        return None
    if _events_before(events, source, group.event_time, day_start(min(tile_days))):
        return None  # tiles do not reach back to the first event
    read[t_path], read[f_path] = t_log.version, f_log.version
    return _Stored(t_log, f_log, run_time(max(feature_days)), feature_days, tile_days)


def fresh_feature_days(group: FeatureGroup, feature_days: dict[date, Any], tile_days: dict[date, Any],
                       ) -> tuple[list[date], list[date]]:
    """Days of the feature table whose rows are as new as every tile they were computed from, and the stale ones.

    A rerun of an earlier day (late events) rewrites its tiles but not the rows of the later days whose windows
    include it, until those days are rerun too. Compares file modification times per ``ds`` partition
    (``LogSnapshot.written_at``: oldest file of a feature day, newest file of a tile day).
    """
    back = lookback_days(feature_windows(group), Lookback.DEPENDS)
    fresh: list[date] = []
    stale: list[date] = []
    for ds, at in sorted(feature_days.items()):
        lo = date.min if back is None else ds - timedelta(days=back)
        newest = max((m for d, m in tile_days.items() if lo <= d <= ds), default=None)
        (fresh if newest is None or newest <= at else stale).append(ds)
    return fresh, stale


def _feature_rows(spark: SparkSession, features: LogSnapshot, group: FeatureGroup, days: list[date]) -> DataFrame:
    """Values at the run times of ``days`` from the feature table (one row per entity per run time)."""
    from pyspark.sql import functions as F

    return read_partitions_at(spark, features, PARTITION_COL, days).select(
        *group.key_columns, F.col(RUN_TS_COL).alias(_T), *group.output_column_names(), NEWEST_COL)


def _source(spark: SparkSession, group: FeatureGroup, config: RuntimeConfig, versions: dict[str, int],
            ) -> tuple[str, int | None, LogSnapshot | None]:
    """The group's source table: path, the version read and its log snapshot (None if delta-rs can't read it)."""
    if not group.source.delta:
        raise TrainingSetError(f"group '{group.name}' has no Delta source: training sets read events from Delta")
    src = source_path(config, group.source.delta)
    logs = _logs((src, versions.get(src)))
    source = logs[0] if logs else None
    if source is None and (logs is not None or not table_exists(spark, src)):
        raise TrainingSetError(f"source table {src} of group '{group.name}' does not exist")
    return src, (source.version if source is not None else versions.get(src, table_version(spark, src))), source


def _group_values(spark: SparkSession, req: GroupRequest, spine: DataFrame, times: _SpineTimes,
                  timestamp_col: str, config: RuntimeConfig, versions: dict[str, int], lineage: dict[str, Any],
                  use_feature_table: bool, availability: str = "event_time") -> DataFrame:
    from pyspark.sql import functions as F

    from weir.compute.spark_agg import build_tiles
    from weir.compute.spark_pit import point_in_time_features

    group = req.group
    src, src_version, source = _source(spark, group, config, versions)
    if availability == "known_at":
        known = _known_at_values(spark, req, spine, times, timestamp_col, src, src_version, source, versions,
                                 lineage, config)
        if known is not None:
            return known
        # every event was in the lake (and in the stored tiles) at the earliest spine time: the event_time values

    def all_events() -> DataFrame:
        from weir.batch.source import valid_events

        return valid_events(_read(spark, src, src_version), group)  # the batch engine's rules and dedup

    read: dict[str, int | None] = {src: src_version}
    stored = _stored_state(group, config, all_events, source, versions, read)
    info: dict[str, Any] = {**lineage["groups"].get(group.name, {}), "spec_hash": group.spec_hash(),
                            "spec_file": group.path, "delta_versions": read, "tiles": "stored" if stored else "rebuilt"}
    lineage["groups"][group.name] = info

    keyed = spine.select(*group.key_columns, F.col(timestamp_col).alias(_T))
    parts, rest, rest_needed = [], keyed, True
    if stored is not None and use_feature_table:
        # Spine times on a run time read that day's feature row: the same value the tiles give (tested).
        fresh, stale = fresh_feature_days(group, stored.feature_days, stored.tile_days)
        info["feature_table_days"], info["stale_feature_days"] = len(fresh), [str(d) for d in stale]
        if fresh:
            t = F.col(_T)
            at_run = (t == F.date_trunc("day", t)) & F.date_sub(F.to_date(t), 1).isin(fresh)
            parts.append(_feature_rows(spark, stored.features, group, sorted(times.run_days & set(fresh))))
            rest = keyed.where(~at_run)
            rest_needed = times.other or not times.run_days <= set(fresh)
    if rest_needed:
        events = all_events().where(F.col(group.event_time) <= F.lit(times.latest))
        tiles = None
        if stored is not None:
            newer = events.where(F.col(group.event_time) > F.lit(stored.covered))
            tiles = (_read(spark, stored.tiles.path, stored.tiles.version).drop(PARTITION_COL)
                     .where(F.col(TILE_END_COL) <= F.lit(stored.covered)).unionByName(build_tiles(newer, group)))
        frames = _by_frames(stored.tiles if stored else None, stored.features if stored else None)
        info["merge"] = "frames" if frames else "join"
        parts.append(point_in_time_features(events, rest, group, t_col=_T, tiles=tiles, frames=frames))
    cols = [*group.key_columns, _T, *req.columns, NEWEST_COL]
    values = parts[0].select(*cols)
    for p in parts[1:]:
        values = values.unionByName(p.select(*cols))
    return values


def _stale_from(files: list[SourceFile], stored: _Stored) -> datetime | None:
    """The earliest event the stored tiles lack: of a file committed after the tiles of a day it holds events of
    were written (or that has no tiles), among the days the stored tiles cover; None when they lack none.

    Compares the file's commit time with the newest write time of each day's tiles, as ``fresh_feature_days``
    compares the feature table with its tiles. A file without statistics may hold events of any day. Not seen: a
    file committed while the run of its day was between reading the source and writing the tiles."""
    from weir.batch.source import day_start

    covered_day = (stored.covered - timedelta(microseconds=1)).date()
    first_day = min(stored.tile_days)
    stale: datetime | None = None
    for f in files:
        lo = f.first_event.date() if f.first_event is not None else first_day
        hi = f.last_event.date() if f.last_event is not None else covered_day
        day, last = max(lo, first_day), min(hi, covered_day)
        while day <= last:
            written = stored.tile_days.get(day)
            if written is None or written < f.committed:
                at = f.first_event or day_start(first_day)
                stale = at if stale is None else min(stale, at)
                break
            day += timedelta(days=1)
    return stale


def _known_at_values(spark: SparkSession, req: GroupRequest, spine: DataFrame, times: _SpineTimes,
                     timestamp_col: str, src: str, src_version: int | None, source: LogSnapshot | None,
                     versions: dict[str, int], lineage: dict[str, Any], config: RuntimeConfig) -> DataFrame | None:
    """Values at each spine t from the events that were in the lake at t (their file's commit time <= t); None
    when every event was in the lake and in the stored tiles at the earliest spine time (the ``event_time``
    values are then the same).

    Stored tiles answer up to each row's horizon (every event before it was in the lake at t and is in the
    tiles: ``weir.training.known_at.horizon_at``); the full tiles after it and the head come from the raw events
    that were in the lake at t."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from weir.batch.source import valid_events
    from weir.compute.event_rules import event_day
    from weir.compute.spark_agg import build_tiles
    from weir.compute.spark_pit import point_in_time_features
    from weir.training.known_at import (
        HORIZON_COL,
        KNOWN_COL,
        SourceFile,
        commit_times,
        horizon_at,
        known_horizons,
        source_files,
        with_known_at,
    )

    group = req.group
    if source is None:
        raise TrainingSetError(f"availability='known_at' reads commit times from the Delta log of {src}, which "
                               f"delta-rs cannot read; build with availability='event_time'")
    times_of = commit_times(source)
    rows = with_known_at(spark, _read(spark, src, src_version), times_of)
    if group.source.event_id is not None:  # an event is known from its first copy on (the copy kept may be later)
        copies = Window.partitionBy(F.col(group.source.event_id), event_day(F.col(group.event_time)))
        rows = rows.withColumn(KNOWN_COL, F.min(KNOWN_COL).over(copies))
    events = valid_events(rows, group, keep=[KNOWN_COL])
    events = events.where((F.col(group.event_time) <= F.lit(times.latest)) & (F.col(KNOWN_COL) <= F.lit(times.latest)))

    def all_events() -> DataFrame:
        return valid_events(_read(spark, src, src_version), group)

    read: dict[str, int | None] = {src: src_version}
    stored = _stored_state(group, config, all_events, source, versions, read)
    files = source_files(source, times_of, group.event_time)
    if any(f.first_event is None or f.last_event is None for f in files):  # no statistics: bound them by a scan
        lo, hi = all_events().agg(F.min(group.event_time), F.max(group.event_time)).first()  # type: ignore[misc]
        files = [SourceFile(f.committed, f.first_event or lo, f.last_event or hi) for f in files
                 if lo is not None or (f.first_event is not None and f.last_event is not None)]
    if stored is not None:
        newer = all_events().where((F.col(group.event_time) > F.lit(stored.covered))
                                   & (F.col(group.event_time) <= F.lit(times.latest)))
        tiles = (_read(spark, stored.tiles.path, stored.tiles.version).drop(PARTITION_COL)
                 .where(F.col(TILE_END_COL) <= F.lit(stored.covered)).unionByName(build_tiles(newer, group)))
        stale = _stale_from(files, stored)
    else:
        tiles, stale = build_tiles(all_events().where(F.col(group.event_time) <= F.lit(times.latest)), group), None
    horizon = horizon_at(files, stale)
    known_info = {"availability": "known_at", "commit_times": times_of.lineage()}
    if times.earliest is None or horizon(times.earliest) is None:
        lineage["groups"][group.name] = {**known_info, "horizon": "none: every event was in the lake and the tiles"}
        return None
    frames = _by_frames(stored.tiles if stored else None, stored.features if stored else None)
    lineage["groups"][group.name] = {
        "spec_hash": group.spec_hash(), "spec_file": group.path, "delta_versions": read,
        "tiles": "stored" if stored else "rebuilt", **known_info, "merge": "frames" if frames else "join"}
    keyed = known_horizons(spark, spine.select(*group.key_columns, F.col(timestamp_col).alias(_T)), _T, horizon,
                           [f.committed for f in files], times.earliest, times.latest)
    values = point_in_time_features(events, keyed, group, t_col=_T, tiles=tiles, known_col=KNOWN_COL,
                                    horizon_col=HORIZON_COL, frames=frames)
    return values.select(*group.key_columns, _T, *req.columns, NEWEST_COL)


def _served(group: FeatureGroup, columns: list[str], values: DataFrame, t: Column, newest: Column) -> list[Column]:
    """The requested columns as online serves them at ``t``: defaults when the entity's newest event is at least
    the TTL old (age >= ttl) or it has none, and in place of NULL values where the spec has a default."""
    from pyspark.sql import functions as F

    from weir.compute.spark_layout import expired

    gone = expired(group, newest, t)
    defaults = column_defaults(group)
    out = []
    for c in columns:
        dtype, default = values.schema[c].dataType, defaults[c]
        value = F.col(c) if default is None else F.coalesce(F.col(c), F.lit(default).cast(dtype))
        out.append(F.when(gone, F.lit(default)).otherwise(value).cast(dtype).alias(c))
    return out


def build(spine: DataFrame | str, features: Sequence[str], timestamp_col: str = "ts",
          spark: SparkSession | None = None, config: RuntimeConfig | None = None,
          versions: dict[str, int] | None = None, groups: Sequence[FeatureGroup] | None = None,
          use_feature_table: bool = True, availability: str = "event_time") -> TrainingSet:
    """The spine's rows with the requested features as of each row's ``timestamp_col``.

    ``spine`` is a DataFrame or a Delta path with the entity keys of every requested group, a timestamp column
    and any label columns (kept as is; duplicate rows are kept). ``features`` are ``group:column`` refs or whole
    group names. ``versions`` pins Delta versions by table path (time travel) to rebuild an earlier set.
    Spine times on a run time (end of a day) the batch engine computed read its feature-table row, unless a
    later rerun of an earlier day made it stale or ``use_feature_table`` is off; other times merge tiles.
    ``availability`` says when an event starts to count: ``"event_time"`` (default) at its event time;
    ``"known_at"`` only once it was also in the lake (its Delta commit), as the online store saw it.

    >>> ts = build("/lake/spines/apps", ["user_spend:txn_amount_sum_7d", "merchant_risk"], timestamp_col="ts")
    >>> ts.df.show(), ts.lineage["groups"]
    """
    from weir.spark import get_spark
    from weir.spec.loader import load_specs

    if availability not in AVAILABILITY:
        raise TrainingSetError(f"availability={availability!r} is not one of {', '.join(AVAILABILITY)}; pass "
                               f"'event_time' (events count at their event time) or 'known_at' (once in the lake)")
    config = config or load_config()
    spark = spark or get_spark("weir-training", config)
    specs = {g.name: g for g in (groups if groups is not None else load_specs(config.specs_dir))}
    requests = resolve_refs(features, specs)
    spine_df = spark.read.format("delta").load(spine) if isinstance(spine, str) else spine
    check_spine_columns({f.name: f.dataType.simpleString() for f in spine_df.schema.fields}, timestamp_col, requests)

    from pyspark.sql import functions as F

    lineage: dict[str, Any] = {"features": list(features), "timestamp_col": timestamp_col, "groups": {},
                               "availability": availability}
    if isinstance(spine, str):
        lineage["spine"] = {"path": spine, "delta_version": table_version(spark, spine)}
    out, served = spine_df, []
    times = _spine_times(spine_df, timestamp_col)
    for i, req in enumerate(requests):
        # one row per (keys, t) of the group: joined to the spine as is, duplicate spine rows kept
        values = _group_values(spark, req, spine_df, times, timestamp_col, config, dict(versions or {}), lineage,
                               use_feature_table, availability)
        keys, newest = req.group.key_columns, f"__weir_newest_{i}"
        renamed = values.select(*[F.col(k).alias(f"__weir_k_{k}") for k in keys], _T, *req.columns,
                                F.col(NEWEST_COL).alias(newest))
        cond = [F.col(k) == F.col(f"__weir_k_{k}") for k in keys] + [F.col(timestamp_col) == F.col(_T)]
        out = out.join(renamed, cond, "left").drop(*[f"__weir_k_{k}" for k in keys], _T)
        served += _served(req.group, req.columns, values, F.col(timestamp_col), F.col(newest))
    out = out.select(*spine_df.columns, *served)
    return TrainingSet(out, lineage)


def write_training_set(ts: TrainingSet, path: str, mode: str = "overwrite", config: RuntimeConfig | None = None,
                       ) -> int:
    """Write the set as a Delta table at ``path``; its lineage goes to the commit and a ``_weir_lineage.json``,
    and the versions it pins to ``_weir/training_lineage`` of ``config``'s lake (table maintenance keeps them).

    Returns the Delta version written.

    >>> version = write_training_set(build(spine_df, ["user_spend"]), "/lake/training/credit_v1")
    """
    from pathlib import Path

    from weir.lake.maintenance import register_training_set

    spark = ts.df.sparkSession
    text = json.dumps(ts.lineage, sort_keys=True, default=str)
    (ts.df.write.format("delta").mode(mode).option("overwriteSchema", "true")
     .option("userMetadata", text).save(path))
    version = table_version(spark, path) or 0
    if "://" not in path:
        Path(path, "_weir_lineage.json").write_text(json.dumps({**ts.lineage, "output_version": version},
                                                               indent=2, sort_keys=True, default=str))
    register_training_set(spark, config or load_config(), path, version, ts.lineage)
    return version

"""Weir's tables in a Spark catalog: ``spark.table("weir.user_spend")`` instead of a lake path.

Feature tables are ``<db>.<group>``, tile tables ``<db>_tiles.<group>``, written training sets
``<db>_training.<name>`` (``db``: ``catalog_database`` of the runtime config, default ``weir``; e.g.
``main.weir`` for a Unity-style three-part name). Every entry is an external Delta table at its lake path, so
dropping one never deletes data. :func:`register` also writes the spec's descriptions as column comments and
the owner and tags as table properties into the Delta table itself (one metadata commit each, only when they
changed), so Spark, delta-rs and any catalog that reads the Delta log show them.

Where the entries live: with ``catalog_metastore_uri`` set (the team's Hive-compatible metastore, or a session
spark-submit configured with its own catalog), they persist there. Locally the default is Spark's in-memory
catalog, which lives as long as the session: :func:`attach` (called by ``weir.spark.get_spark``) re-creates
the entries of every existing table at session start, from the specs and the training-set lineage, without
writing anything. Registration is idempotent: running it after every backfill or publish is harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from weir.compute.ir import NEWEST_COL
from weir.lake.paths import PARTITION_COL, RUN_TS_COL, features_path, tiles_path
from weir.runtime import RuntimeConfig, load_config
from weir.spec.models import FeatureGroup

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

KINDS = ("features", "tiles", "training")


@dataclass(frozen=True)
class CatalogEntry:
    """One Weir table as the catalog names it."""

    name: str   # e.g. weir.user_spend
    path: str   # its Delta location
    kind: str   # features | tiles | training
    group: str | None = None


def table_name(config: RuntimeConfig, kind: str, name: str) -> str:
    """The catalog name of a Weir table: ``weir.<group>``, ``weir_tiles.<group>`` or ``weir_training.<set>``."""
    if kind not in KINDS:
        raise ValueError(f"unknown table kind {kind!r}; use one of {', '.join(KINDS)}")
    db = config.catalog_database
    return f"{db}.{name}" if kind == "features" else f"{db}_{kind}.{name}"


def training_set_name(path: str) -> str:
    """A training set's name: the last part of the path it was written to (``/lake/training/credit_v1``)."""
    return path.rstrip("/").rsplit("/", 1)[-1]


def group_entries(config: RuntimeConfig, group: FeatureGroup) -> list[CatalogEntry]:
    return [CatalogEntry(table_name(config, "features", group.name), features_path(config, group.name), "features",
                         group.name),
            CatalogEntry(table_name(config, "tiles", group.name), tiles_path(config, group.name), "tiles",
                         group.name)]


def _delta_exists(path: str, config: RuntimeConfig) -> bool:
    from weir.lake.delta_log import open_table

    return open_table(path, config, without_files=True) is not None


def written_training_sets(config: RuntimeConfig) -> list[str]:
    """Paths of the training sets ``write_training_set`` recorded in this lake (``_weir/training_lineage``)."""
    from weir.lake.delta_log import open_table
    from weir.lake.paths import training_lineage_path

    table = open_table(training_lineage_path(config), config)
    if table is None:
        return []
    col = table.to_pyarrow_table(columns=["training_set"]).column(0)
    return sorted({p for p in col.to_pylist() if p})


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ident(name: str) -> str:
    return ".".join(f"`{part}`" for part in name.split("."))


def _ensure_entry(spark: SparkSession, entry: CatalogEntry) -> None:
    """The catalog entry of ``entry`` pointing at its path (created, or re-pointed if it moved)."""
    namespace = entry.name.rsplit(".", 1)[0]
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {_ident(namespace)}")
    if spark.catalog.tableExists(entry.name):
        rows = spark.sql(f"DESCRIBE DETAIL {_ident(entry.name)}").select("location").first()
        location = str(rows[0]) if rows else ""
        if location.removeprefix("file:").rstrip("/") == entry.path.removeprefix("file:").rstrip("/"):
            return
        log.warning("catalog table %s pointed at %s; re-pointing it at %s", entry.name, location, entry.path)
        spark.sql(f"DROP TABLE {_ident(entry.name)}")  # external: the data stays
    spark.sql(f"CREATE TABLE IF NOT EXISTS {_ident(entry.name)} USING DELTA LOCATION {_sql_string(entry.path)}")


def column_comments(group: FeatureGroup, kind: str) -> dict[str, str]:
    """What each column of the group's table means, from the spec (the description where the spec has one)."""
    out = {k: f"entity key of {group.entity.name}" for k in group.key_columns}
    out[PARTITION_COL] = "computed day (UTC); the partition"
    if kind == "tiles":
        return out
    out[RUN_TS_COL] = "the instant these values hold at: the end of ds (UTC); a training row at run_ts reads them"
    out[NEWEST_COL] = "newest event time of the entity in the group's longest window (online TTL checks)"
    for c in group.output_columns():
        f = c.feature
        what = (f"{f.aggregation.value} of {f.column or '*'} over {c.window or 'all time'}"
                + (f" where {f.where}" if f.where else ""))
        out[c.name] = f"{f.description} ({what})" if f.description else what
    return out


def table_properties(group: FeatureGroup, kind: str) -> dict[str, str]:
    props = {"weir.group": group.name, "weir.kind": kind, "weir.entity": group.entity.name,
             "weir.owner": group.owner or "", "weir.tags": ",".join(group.tags),
             "weir.spec_version": str(group.version)}
    text = group.description or f"Weir {kind} of feature group {group.name}"
    props["comment"] = text if kind == "features" else f"{text} [{kind}]"
    return props


def _describe(spark: SparkSession, name: str, comments: dict[str, str], props: dict[str, str]) -> int:
    """Set column comments and table properties that differ; returns the metadata commits made (0, 1 or 2)."""
    commits = 0
    schema = spark.table(name).schema
    changed = [(f.name, comments[f.name]) for f in schema.fields
               if f.name in comments and f.metadata.get("comment") != comments[f.name]]
    if changed:
        alters = ", ".join(f"`{c}` COMMENT {_sql_string(text)}" for c, text in changed)
        spark.sql(f"ALTER TABLE {_ident(name)} ALTER COLUMN {alters}")
        commits += 1
    current = {r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES {_ident(name)}").collect()}
    detail = spark.sql(f"DESCRIBE DETAIL {_ident(name)}").select("description").first()
    current["comment"] = (detail[0] if detail else None) or current.get("comment", "")
    todo = {k: v for k, v in props.items() if current.get(k) != v}
    if todo:
        pairs = ", ".join(f"{_sql_string(k)} = {_sql_string(v)}" for k, v in sorted(todo.items()))
        spark.sql(f"ALTER TABLE {_ident(name)} SET TBLPROPERTIES ({pairs})")
        commits += 1
    return commits


def _training_comments(groups: Sequence[FeatureGroup]) -> dict[str, str]:
    out: dict[str, str] = {}
    for g in groups:
        for col, text in column_comments(g, "features").items():
            if col not in (PARTITION_COL, RUN_TS_COL, NEWEST_COL):
                out.setdefault(col, f"{g.name}: {text}")
    return out


def register(spark: SparkSession, groups: Iterable[FeatureGroup], config: RuntimeConfig | None = None,
             training_sets: Iterable[str] | None = None, describe: bool = True) -> list[CatalogEntry]:
    """Register every existing feature and tile table of ``groups`` and the given training sets (default: every
    one written to this lake), with comments and properties unless ``describe`` is off. Idempotent.

    Returns the entries registered; tables not yet written (no backfill yet) are skipped.
    """
    config = config or load_config()
    groups = list(groups)
    done: list[CatalogEntry] = []
    for g in groups:
        for entry in group_entries(config, g):
            if not _delta_exists(entry.path, config):
                continue
            _ensure_entry(spark, entry)
            if describe:
                _describe(spark, entry.name, column_comments(g, entry.kind), table_properties(g, entry.kind))
            done.append(entry)
    paths = written_training_sets(config) if training_sets is None else list(training_sets)
    for path in paths:
        if not _delta_exists(path, config):
            continue
        entry = CatalogEntry(table_name(config, "training", training_set_name(path)), path, "training")
        _ensure_entry(spark, entry)
        if describe:
            _describe(spark, entry.name, _training_comments(groups),
                      {"weir.kind": "training", "comment": f"Weir training set written to {path}"})
        done.append(entry)
    return done


def attach(spark: SparkSession, config: RuntimeConfig | None = None) -> list[CatalogEntry]:
    """Re-create the entries of every existing Weir table in this session's catalog (no Delta writes): what a
    local session needs, since Spark's in-memory catalog starts empty. A broken spec dir or an unreadable
    table only logs a warning: the session still starts."""
    from weir.spec import SpecError, load_specs

    config = config or load_config()
    try:
        groups = load_specs(config.specs_dir) if config.specs_dir.exists() else []
    except SpecError as exc:
        log.warning("catalog: specs in %s not loaded (%s); feature tables not attached", config.specs_dir, exc)
        groups = []
    entries = [e for g in groups for e in group_entries(config, g)]
    try:
        entries += [CatalogEntry(table_name(config, "training", training_set_name(p)), p, "training")
                    for p in written_training_sets(config)]
    except Exception as exc:  # the lineage table unreadable: feature tables still attach
        log.warning("catalog: training sets not attached (lineage table unreadable): %s", exc)
    done = []
    for entry in entries:
        try:
            if _delta_exists(entry.path, config):
                _ensure_entry(spark, entry)
                done.append(entry)
        except Exception as exc:  # one unreadable table must not stop a session from starting
            log.warning("catalog: %s not attached (%s): %s", entry.name, entry.path, exc)
    return done

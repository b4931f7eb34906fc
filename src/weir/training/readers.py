"""Feature tables and training sets read without Spark: pandas, Polars, Arrow and DuckDB through delta-rs.

A trainer names a feature group or a training set; Weir resolves the Delta path from the runtime config, so
notebooks and tools other than Spark see the same rows as ``spark.table(...)``. Timestamps come back as
``timestamp[us, UTC]`` (Spark's session time zone is UTC, so the instants are the same).

>>> read_feature_table("user_spend", as_of=date(2026, 5, 3))              # pandas, the run of 2026-05-03
>>> read_training_set("credit_v1", engine="polars")                        # a written training set, by name
>>> duckdb.sql("select count(*) from ds").show() if (ds := feature_dataset("user_spend")) else None
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal

from weir.compute.layout import run_time
from weir.lake.delta_log import open_table
from weir.lake.paths import PARTITION_COL, features_path
from weir.runtime import RuntimeConfig, load_config
from weir.training.refs import TrainingSetError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as pads
    from deltalake import DeltaTable

Engine = Literal["pandas", "polars", "arrow"]
ENGINES = ("pandas", "polars", "arrow")


def _open(path: str, version: int | None, what: str, config: RuntimeConfig | None = None) -> DeltaTable:
    table = open_table(path, config, version)
    if table is None:
        raise TrainingSetError(f"{what}: no Delta table at {path}; run its backfill (or build it) first, "
                               "or check WEIR_LAKE_PATH")
    return table


def _convert(table: pa.Table, engine: str) -> Any:
    if engine == "arrow":
        return table
    if engine == "pandas":
        return table.to_pandas()
    if engine == "polars":
        import polars as pl

        return pl.from_arrow(table)
    raise ValueError(f"engine {engine!r} is not one of {', '.join(ENGINES)}; for DuckDB query the Arrow table "
                     "or feature_dataset()")


def _run_days(dt: DeltaTable) -> list[date]:
    """The ``ds`` partitions (computed days) the table holds, oldest first."""
    days = {p[PARTITION_COL] for p in dt.partitions()} if PARTITION_COL in dt.metadata().partition_columns else set()
    return sorted(d if isinstance(d, date) else date.fromisoformat(str(d)) for d in days if d is not None)


def _as_of_day(days: list[date], as_of: date | datetime | None, group: str) -> date:
    """The computed day whose run holds the values as of ``as_of``: that day for a date, the newest run at or
    before it for a datetime (naive = UTC), the newest run for None."""
    if not days:
        raise TrainingSetError(f"feature table of '{group}' has no computed day; run `weir backfill {group}` first")
    if as_of is None:
        return days[-1]
    if isinstance(as_of, datetime):
        at = as_of.replace(tzinfo=UTC) if as_of.tzinfo is None else as_of.astimezone(UTC)
        earlier = [d for d in days if run_time(d) <= at]
        if not earlier:
            raise TrainingSetError(f"feature table of '{group}' has no run at or before {as_of} (first run: "
                                   f"{run_time(days[0])}); pass a later as_of or backfill earlier days")
        return earlier[-1]
    if as_of not in days:
        raise TrainingSetError(f"feature table of '{group}' has no run for day {as_of} (computed: {days[0]} .. "
                               f"{days[-1]}, {len(days)} days); backfill it or pass a datetime for the newest "
                               "run before it")
    return as_of


def feature_dataset(group: str, version: int | None = None, config: RuntimeConfig | None = None,
                    ) -> pads.Dataset:
    """The daily feature table of ``group`` as a lazy Arrow dataset (DuckDB and Polars push filters into it):
    one row per entity per run; ``ds`` is the computed day, ``run_ts`` the instant its values hold at."""
    config = config or load_config()
    return _open(features_path(config, group), version, f"feature table of '{group}'", config).to_pyarrow_dataset()


def read_feature_table(group: str, as_of: date | datetime | None = None, engine: Engine = "pandas",
                       version: int | None = None, config: RuntimeConfig | None = None) -> Any:
    """One row per entity of ``group`` with every feature as of one run of the daily feature table.

    ``as_of``: a date reads that day's run (values at the end of the day), a datetime the newest run at or
    before it, None the newest run. ``version`` pins the Delta version (time travel). ``engine``: "pandas",
    "polars" or "arrow".
    """
    import pyarrow.dataset as pads

    config = config or load_config()
    dt = _open(features_path(config, group), version, f"feature table of '{group}'", config)
    day = _as_of_day(_run_days(dt), as_of, group)
    table = dt.to_pyarrow_dataset().to_table(filter=pads.field(PARTITION_COL) == day)
    return _convert(table, engine)


def training_set_path(name_or_path: str, config: RuntimeConfig | None = None) -> str:
    """The Delta path of a written training set: a path is kept, a name (the last part of the path it was
    written to) is looked up among the sets ``write_training_set`` registered in ``_weir/training_lineage``."""
    if "/" in name_or_path:
        return name_or_path
    from weir.catalog import written_training_sets

    config = config or load_config()
    paths = written_training_sets(config)
    hits = [p for p in paths if p.rstrip("/").rsplit("/", 1)[-1] == name_or_path]
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise TrainingSetError(f"no training set named '{name_or_path}' was written to this lake ({config.lake}); "
                               f"known: {', '.join(p.rstrip('/').rsplit('/', 1)[-1] for p in paths) or 'none'}; "
                               "pass its path instead")
    raise TrainingSetError(f"training set name '{name_or_path}' is ambiguous: {', '.join(hits)}; pass the path")


def read_training_set(name_or_path: str, version: int | None = None, engine: Engine = "pandas",
                      config: RuntimeConfig | None = None) -> Any:
    """A training set written by ``write_training_set`` (or ``weir training-set``), by name or path, at its
    newest or a pinned Delta ``version``, as pandas, Polars or Arrow."""
    path = training_set_path(name_or_path, config)
    return _convert(_open(path, version, f"training set '{name_or_path}'", config).to_pyarrow_table(), engine)

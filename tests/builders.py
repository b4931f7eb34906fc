"""Shared test builders, for tests where the data's shape is not the point: events into a Delta source table,
events on the wire (the JSON a Kafka producer sends). The oracle over the same events is ``tests/oracle.py``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

WIRE_TS = "%Y-%m-%dT%H:%M:%S.%fZ"  # event times on the wire: ISO 8601, microseconds, UTC with a Z


def iso_z(dt: datetime) -> str:
    return dt.strftime(WIRE_TS)


def wire(event: Mapping[str, Any], ts_cols: Sequence[str] = ("event_ts",)) -> dict[str, Any]:
    """``event`` as a producer sends it: timestamp columns as ISO 8601 strings (None stays None)."""
    return {k: (iso_z(v) if k in ts_cols and isinstance(v, datetime) else v) for k, v in event.items()}


def schema_columns(schema: str) -> list[str]:
    """The column names of a Spark DDL schema string (``"user_id string, amount double"``)."""
    return [part.strip().split()[0] for part in schema.split(",")]


def source_df(spark: Any, events: Iterable[Mapping[str, Any]], schema: str) -> Any:
    """A DataFrame of ``events`` (dicts) with exactly the columns of ``schema``, in its order."""
    cols = schema_columns(schema)
    return spark.createDataFrame([tuple(e[c] for c in cols) for e in events], schema)


def write_source(spark: Any, path: str, events: Iterable[Mapping[str, Any]], schema: str,
                 mode: str = "overwrite") -> None:
    """Write ``events`` to the Delta table at ``path`` (a group's offline source)."""
    source_df(spark, events, schema).write.format("delta").mode(mode).save(path)

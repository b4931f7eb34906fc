"""Shared test builders, for tests where the data's shape is not the point: events into a Delta source table,
events on the wire (the JSON a Kafka producer sends). The oracle over the same events is ``tests/oracle.py``."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from weir.runtime import RuntimeConfig
    from weir.spec.models import FeatureGroup

WIRE_TS = "%Y-%m-%dT%H:%M:%S.%fZ"  # event times on the wire: ISO 8601, microseconds, UTC with a Z


def iso_z(dt: datetime) -> str:
    return dt.strftime(WIRE_TS)


def wire(event: Mapping[str, Any], ts_cols: Sequence[str] = ("event_ts",)) -> dict[str, Any]:
    """``event`` as a producer sends it: timestamp columns as ISO 8601 strings (None stays None)."""
    return {k: (iso_z(v) if k in ts_cols and isinstance(v, datetime) else v) for k, v in event.items()}


def make_events(n: int, seed: int, users: int = 4, start: datetime = datetime(2026, 2, 10, 9, 0),
                span_h: float = 30, merchants: int = 5) -> list[dict[str, Any]]:
    """``n`` seeded card transactions (txn_id, user_id, merchant_id, amount, status, event_ts) of ``users`` users
    over ``span_h`` hours from ``start``, about a third declined, sorted by event time."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        ts = start + timedelta(seconds=rnd.randint(0, int(span_h * 3600)), microseconds=rnd.randint(0, 999_999))
        out.append({"txn_id": f"t{seed}-{i}", "user_id": f"u{rnd.randint(1, users)}",
                    "merchant_id": f"m{rnd.randint(1, merchants)}", "amount": round(rnd.uniform(1, 300), 2),
                    "status": rnd.choice(["approved", "approved", "declined"]), "event_ts": ts})
    return sorted(out, key=lambda e: e["event_ts"])


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


def isolated_group(spec_text: str, lake_dir: Path, tmp_path: Path, tag: str, **settings: Any,
                   ) -> tuple[RuntimeConfig, FeatureGroup]:
    """(config, group) for a test that runs jobs as child processes: the group's spec in a specs dir of its own,
    and a lake, checkpoints, online table prefix and state dir no other test shares (``tag`` plus a run id).
    ``settings``: more ``build_config`` fields (a private broker's ports, a master)."""
    from weir.runtime import build_config
    from weir.spec import parse_spec_text

    run = uuid.uuid4().hex[:8]
    group = parse_spec_text(spec_text)
    specs = tmp_path / "specs"
    specs.mkdir(exist_ok=True)
    (specs / f"{group.name}.yaml").write_text(spec_text)
    config = build_config(lake_path=str(lake_dir / f"{tag}-{run}"), checkpoint_path=str(lake_dir / f"{tag}-ck-{run}"),
                          dynamodb_table_prefix=f"{tag}{run}_", specs_dir=specs, state_dir=tmp_path / "state",
                          **settings)
    return config, group

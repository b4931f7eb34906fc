"""``weir backfill`` of one small day from the installed wheel, in an empty directory, configured by a profile.

The source (about a hundred demo transactions of that day) is written with delta-rs, so the only Spark run
is the wheel's own backfill; its feature rows are checked against the plain-Python oracle (tests/oracle.py).
The Spark jars are the ones this checkout already resolved (linked into the deployment's state dir).
"""

from __future__ import annotations

import shutil
import subprocess
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import yaml
from oracle import assert_feature_rows_match
from wheel_install import build_wheel, install_wheel, weir_command, wheel_env

from weir.runtime import RuntimeConfig
from weir.spec import load_spec

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DAY = date(2026, 3, 3)


class _Row:
    """What the oracle reads from a collected Spark row: ``row[col]``, ``row.run_ts`` (naive UTC), ``asDict()``."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values
        self.run_ts = _naive_utc(values["run_ts"])

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def asDict(self) -> dict[str, Any]:
        return dict(self._values)


def _naive_utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(tzinfo=None) if ts.tzinfo is not None else ts


def _write_source(path: str) -> list[dict[str, Any]]:
    """Demo transactions of DAY as a Delta table partitioned by ``ds`` (UTC timestamps); the events.

    One day only: a backfill of DAY computes DAY's tiles, so earlier events would need earlier days' tiles."""
    from deltalake import write_deltalake

    from weir.demo.generator import generate

    data = generate(seed=17, start=datetime.combine(DAY, datetime.min.time()), days=1, n_users=30,
                    n_merchants=12, txns_per_user_per_day=4.0)
    frame = data.transactions.copy()
    events = frame.to_dict("records")
    for e in events:
        e["event_ts"] = e["event_ts"].to_pydatetime()
    frame["event_ts"] = frame["event_ts"].dt.tz_localize("UTC")  # Spark `timestamp`, not timestamp_ntz
    frame["ds"] = frame["event_ts"].dt.date
    table = pa.Table.from_pandas(frame, preserve_index=False)
    write_deltalake(path, table, partition_by=["ds"])
    return events


def test_backfill_one_day_from_the_wheel_matches_the_oracle(tmp_path: Path, weir_config: RuntimeConfig) -> None:
    from deltalake import DeltaTable

    from weir.spark_jars import jars_dir, spark_jars

    target = install_wheel(build_wheel(_mkdir(tmp_path / "build")), _mkdir(tmp_path / "site"))
    cwd, state, lake, specs = (_mkdir(tmp_path / n) for n in ("empty", "state", "lake", "specs"))
    shutil.copy2(ROOT / "feature_specs" / "user_spend.yaml", specs / "user_spend.yaml")
    profile = tmp_path / "profile.yaml"
    profile.write_text(yaml.safe_dump({
        "specs_dir": str(specs), "state_dir": str(state), "lake_path": str(lake),
        "checkpoint_path": str(tmp_path / "checkpoints"), "spark_master": "local[2]",
        "spark_driver_memory": "1g", "spark_shuffle_partitions": 2, "maven_repo": weir_config.maven_repo,
        "spark_extra_packages": weir_config.spark_extra_packages}))
    resolved = jars_dir(weir_config)
    spark_jars(weir_config)  # resolved once per checkout (network only the first time)
    linked = state / "jars" / "spark" / resolved.name  # the deployment's jars dir: same coordinates, same key
    linked.parent.mkdir(parents=True)
    linked.symlink_to(resolved, target_is_directory=True)
    events = _write_source(f"{lake}/transactions")

    started = time.monotonic()
    run = subprocess.run(weir_command(target, "backfill", "user_spend", "--start", DAY.isoformat(),
                                      "--end", DAY.isoformat()),
                         capture_output=True, text=True, cwd=cwd, env=wheel_env(target, profile), timeout=600)
    print(f"weir backfill from the wheel: {time.monotonic() - started:.0f}s")
    assert run.returncode == 0, f"weir backfill from the wheel failed:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"

    group = load_spec(specs / "user_spend.yaml")
    rows = [_Row(r) for r in DeltaTable(f"{lake}/features/user_spend").to_pyarrow_table().to_pylist()]
    assert rows, "the backfill wrote no feature rows"
    assert {r.run_ts for r in rows} == {datetime.combine(DAY + timedelta(days=1), datetime.min.time())}
    assert_feature_rows_match(group, events, rows, [DAY])
    assert list(cwd.iterdir()) == []  # nothing written into the working directory


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True)
    return path

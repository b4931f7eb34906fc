"""Table maintenance covers the experiment tables: ``exposures`` and the exposure stream's dead letters grow a
file per micro-batch like a group's tables, so they are compacted and vacuumed too."""

from __future__ import annotations

from pathlib import Path

from weir.lake.maintenance import maintained_tables
from weir.runtime import build_config
from weir.spec import load_specs

ROOT = Path(__file__).resolve().parents[2]


def test_the_exposure_tables_are_maintained_with_the_platform_tables(tmp_path: Path) -> None:
    config = build_config(lake_path=str(tmp_path / "lake"))
    groups = load_specs(ROOT / "feature_specs")
    lake = str(tmp_path / "lake")
    tables = maintained_tables(config, groups)
    assert f"{lake}/exposures" in tables
    assert f"{lake}/deadletter/_exposures" in tables
    assert f"{lake}/deadletter/user_spend" in tables  # the groups' own still are
    assert len(tables) == len(set(tables))


def test_without_platform_tables_only_the_groups_are_maintained(tmp_path: Path) -> None:
    config = build_config(lake_path=str(tmp_path / "lake"))
    tables = maintained_tables(config, load_specs(ROOT / "feature_specs"), platform=False)
    assert not [t for t in tables if t.endswith("/exposures") or t.endswith("/_exposures")]

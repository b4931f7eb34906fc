"""Catalog names, comments and properties from a spec; the readers' day choice and errors (no Spark needed)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from weir.catalog import column_comments, table_name, table_properties, training_set_name
from weir.runtime import build_config
from weir.spec import find_spec
from weir.training import TrainingSetError, read_feature_table, read_training_set
from weir.training.readers import _as_of_day

ROOT = Path(__file__).resolve().parents[2]


def test_table_names_follow_the_configured_database() -> None:
    config = build_config(catalog_database="main.risk")
    assert table_name(config, "features", "user_spend") == "main.risk.user_spend"
    assert table_name(config, "tiles", "user_spend") == "main.risk_tiles.user_spend"
    assert table_name(config, "training", "credit_v1") == "main.risk_training.credit_v1"
    assert training_set_name("/lake/training/credit_v1/") == "credit_v1"
    with pytest.raises(ValueError, match="unknown table kind 'raw'"):
        table_name(config, "raw", "x")


def test_comments_and_properties_come_from_the_spec() -> None:
    group = find_spec("user_spend", ROOT / "feature_specs")
    comments = column_comments(group, "features")
    assert comments["txn_count_1h"] == "count of * over 1h"
    assert comments["last_merchant_last"] == "last of merchant_id over all time"
    assert set(group.output_column_names()) <= set(comments)
    assert "txn_count_1h" not in column_comments(group, "tiles")
    props = table_properties(group, "features")
    assert props["weir.owner"] == "ml-data" and props["weir.tags"] == "payments,consumer"
    assert props["comment"] == group.description


def test_as_of_picks_the_run_that_holds_the_values() -> None:
    days = [date(2026, 5, 1), date(2026, 5, 2), date(2026, 5, 3)]
    assert _as_of_day(days, None, "g") == date(2026, 5, 3)
    assert _as_of_day(days, date(2026, 5, 2), "g") == date(2026, 5, 2)
    assert _as_of_day(days, datetime(2026, 5, 3, 0, 0), "g") == date(2026, 5, 2)  # the run of 05-02 ends then
    assert _as_of_day(days, datetime(2026, 5, 2, 23, 59), "g") == date(2026, 5, 1)
    with pytest.raises(TrainingSetError, match="no run at or before"):
        _as_of_day(days, datetime(2026, 5, 1, 12), "g")
    with pytest.raises(TrainingSetError, match=r"no run for day 2026-04-30 \(computed: 2026-05-01 .. 2026-05-03"):
        _as_of_day(days, date(2026, 4, 30), "g")


def test_readers_name_the_fix_for_missing_tables(tmp_path: Path) -> None:
    config = build_config(lake_path=str(tmp_path / "lake"))
    with pytest.raises(TrainingSetError, match="no Delta table .*run its backfill"):
        read_feature_table("user_spend", config=config)
    with pytest.raises(TrainingSetError, match="no training set named 'credit_v1'.*known: none"):
        read_training_set("credit_v1", config=config)
    with pytest.raises(TrainingSetError, match="no Delta table"):
        read_training_set(str(tmp_path / "nowhere"), config=config)


def test_describe_shows_the_table_names(monkeypatch: pytest.MonkeyPatch) -> None:
    from weir.cli import cli
    from weir.runtime import load_config

    monkeypatch.setenv("WEIR_SPECS_DIR", str(ROOT / "feature_specs"))
    monkeypatch.setenv("COLUMNS", "300")
    load_config.cache_clear()
    try:
        out = CliRunner().invoke(cli, ["describe", "user_spend"])
    finally:
        load_config.cache_clear()
    assert out.exit_code == 0, out.output
    assert "weir.user_spend" in out.output and "weir_tiles.user_spend" in out.output

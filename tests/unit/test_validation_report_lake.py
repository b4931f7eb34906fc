"""Validation reports read back from the lake (``_weir/validation_runs``, written here with delta-rs in the columns
of ``weir.validate.gate.VALIDATION_RUNS_DDL``): the newest run of the day wins, other groups and days are apart,
and a table from before reports were kept in the lake answers None, not an error."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from weir.runtime import RuntimeConfig, build_config
from weir.validate.report import report_from_lake


def _schema(with_report: bool = True) -> Any:
    import pyarrow as pa

    from weir.validate.gate import VALIDATION_RUNS_DDL

    types = {"STRING": pa.string(), "DATE": pa.date32(), "BOOLEAN": pa.bool_(), "BIGINT": pa.int64(),
             "TIMESTAMP": pa.timestamp("us", tz="UTC")}
    fields = [pa.field(name.strip("`"), types[kind]) for name, kind in
              (part.split(" ") for part in VALIDATION_RUNS_DDL.split(", "))]
    return pa.schema([f for f in fields if with_report or f.name != "report_html"])


def _row(group: str, ds: date, at: int, html: str | None) -> dict[str, Any]:
    return {"group": group, "ds": ds, "success": html is None or "PASSED" in html, "report_html": html,
            "validated_at": datetime(2026, 3, 2, at, tzinfo=UTC)}


def _config(tmp_path: Path) -> RuntimeConfig:
    return build_config(state_dir=tmp_path / "state", lake_path=str(tmp_path / "lake"))


def _write(config: RuntimeConfig, rows: list[dict[str, Any]], with_report: bool = True) -> None:
    import pyarrow as pa
    from deltalake import write_deltalake

    from weir.lake.paths import validation_runs_path

    schema = _schema(with_report)
    full = [{name: r.get(name) for name in schema.names} for r in rows]
    write_deltalake(validation_runs_path(config), pa.Table.from_pylist(full, schema=schema), mode="append")


def test_the_newest_run_of_the_day_is_served(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert report_from_lake(config, "g", "2026-03-01") is None  # no table yet
    d1, d2 = date(2026, 3, 1), date(2026, 3, 2)
    _write(config, [_row("g", d1, 5, "<p>FAILED first</p>"), _row("g", d1, 9, "<p>PASSED rerun</p>"),
                    _row("g", d1, 7, "<p>FAILED second</p>"), _row("g", d2, 10, "<p>FAILED next day</p>"),
                    _row("other", d1, 11, "<p>PASSED other group</p>")])
    assert report_from_lake(config, "g", "2026-03-01") == "<p>PASSED rerun</p>"
    assert report_from_lake(config, "g", "2026-03-02") == "<p>FAILED next day</p>"
    assert report_from_lake(config, "other", "2026-03-01") == "<p>PASSED other group</p>"
    assert report_from_lake(config, "g", "2026-03-03") is None


def test_a_table_from_before_reports_in_the_lake_answers_none(tmp_path: Path) -> None:
    config = _config(tmp_path)
    _write(config, [_row("g", date(2026, 3, 1), 5, None)], with_report=False)
    assert report_from_lake(config, "g", "2026-03-01") is None

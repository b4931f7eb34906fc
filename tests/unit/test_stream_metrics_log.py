"""The micro-batch metrics row through delta-rs: one row per (app id, batch id), replays skipped, Spark's
transactions honoured; the event log's version from the log."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from weir.stream.metrics_log import append_metrics_row, log_version


def _row(batch_id: int, query: str = "q1") -> dict[str, Any]:
    t = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    return {"group": "g", "query_id": query, "batch_id": batch_id, "started_at": t, "finished_at": t,
            "seconds": 1.5, "input_rows": 10, "valid_rows": 9, "dead_lettered": 1, "late": 0, "rows_per_s": 6.7,
            "entities_written": 3, "entities_skipped_replay": 0, "write_conflicts": 0,
            "newest_event_ts": datetime(2026, 3, 1, 11, 59), "freshness_s": 60.0, "high_water_mark": None,
            "watermark": None, "events_version": 4, "drops": {"not_json": 1}}


def _rows(path: Path) -> list[dict[str, Any]]:
    from deltalake import DeltaTable

    return sorted(DeltaTable(str(path)).to_pyarrow_table().to_pylist(), key=lambda r: (r["query_id"], r["batch_id"]))


def test_one_row_per_batch_id_and_replays_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "stream_metrics"
    assert log_version(str(path)) is None
    assert append_metrics_row(str(path), "weir-stream:g:q1", 0, _row(0))
    assert append_metrics_row(str(path), "weir-stream:g:q1", 0, {**_row(0), "entities_written": 99})  # a replay
    assert append_metrics_row(str(path), "weir-stream:g:q1", 1, _row(1))
    assert append_metrics_row(str(path), "weir-stream:g:q2", 0, _row(0, "q2"))  # another query starts at 0
    rows = _rows(path)
    assert [(r["query_id"], r["batch_id"], r["entities_written"]) for r in rows] == [
        ("q1", 0, 3), ("q1", 1, 3), ("q2", 0, 3)]
    assert rows[0]["drops"] == [("not_json", 1)] and rows[0]["high_water_mark"] is None
    assert rows[0]["newest_event_ts"] == datetime(2026, 3, 1, 11, 59, tzinfo=UTC)
    assert log_version(str(path)) == 2  # three commits: versions 0, 1, 2

"""LogSnapshot's answers from a hand-made file list (delta-rs's flattened add actions)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from weir.lake.delta_log import LogSnapshot

D1, D2 = date(2026, 3, 1), date(2026, 3, 2)
DAY, WEEK = 86_400_000_000, 604_800_000_000


def _file(ds: date, hop: int, ms: int, first: Any = None, rows: int = 5, name: str = "p.parquet") -> dict[str, Any]:
    return {"path": f"ds={ds}/hop_us={hop}/{name}", "modification_time": ms, "num_records": rows,
            "min.event_ts": first, "partition.ds": ds, "partition.hop_us": hop}


def _snap(files: list[dict[str, Any]], path: str = "/lake/t") -> LogSnapshot:
    return LogSnapshot(path, 3, files, "{}", ("ds", "hop_us"), True)


def test_written_at_picks_newest_or_oldest_file_per_partition_within_where() -> None:
    snap = _snap([_file(D1, DAY, 1_000), _file(D1, DAY, 5_000), _file(D1, WEEK, 9_000), _file(D2, DAY, 2_000)])
    at = datetime.fromtimestamp
    assert snap.written_at(newest=True, where={"hop_us": DAY}) == {
        D1: at(5, tz=UTC).replace(tzinfo=None), D2: at(2, tz=UTC).replace(tzinfo=None)}
    assert snap.written_at(newest=False)[D1] == at(1, tz=UTC).replace(tzinfo=None)
    assert snap.written_at(newest=True)[D1] == at(9, tz=UTC).replace(tzinfo=None)  # the week file counts without where
    assert snap.written_at(newest=True, by=("ds", "hop_us"))[(D1, WEEK)] == at(9, tz=UTC).replace(tzinfo=None)
    assert snap.written_at(newest=True, where={"hop_us": 7}) == {}


def test_min_value_is_the_smallest_file_minimum_in_naive_utc_and_none_without_statistics() -> None:
    early = datetime(2026, 3, 1, 1, 30, tzinfo=UTC)
    snap = _snap([_file(D1, DAY, 1, early), _file(D2, DAY, 1, datetime(2026, 3, 2, tzinfo=UTC)),
                  _file(D2, DAY, 1, None, rows=0)])  # an empty file has no minimum and does not count
    assert snap.min_value("event_ts") == datetime(2026, 3, 1, 1, 30)
    assert _snap([_file(D1, DAY, 1, early), _file(D2, DAY, 1, None)]).min_value("event_ts") is None
    assert _snap([]).min_value("event_ts") is None


def test_file_paths_are_absolute_and_decoded_for_the_chosen_partitions() -> None:
    snap = _snap([_file(D1, DAY, 1, name="a%20b.parquet"), _file(D2, DAY, 1, name="c.parquet"),
                  {**_file(D2, WEEK, 1), "path": "s3://other/bucket/x.parquet"}], path="/lake/t/")
    assert snap.file_paths("ds", {D1}) == [f"/lake/t/ds={D1}/hop_us={DAY}/a b.parquet"]
    assert snap.file_paths("ds", [D2]) == [f"/lake/t/ds={D2}/hop_us={DAY}/c.parquet", "s3://other/bucket/x.parquet"]
    assert snap.file_paths("ds", []) == []

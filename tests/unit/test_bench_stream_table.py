"""The freshness benchmark's small pure pieces (bench/bench_stream.py): quantiles, probe timing, and the docs
table that keeps other runs' rows (old design beside new) while a rerun replaces its own."""

from __future__ import annotations

import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
from bench_stream import TABLE_HEAD, merge_section, pct, probe_freshness_s, row_key  # noqa: E402


def _row(label: str, server: str, users: str, rate: str, value: str) -> str:
    cells = [label, f"{server} (200 writes/s)", users, f"{rate} (990)", "5 s", value, value, "1.0x", "-"]
    assert len(cells) == TABLE_HEAD.count("|") - 1
    return "| " + " | ".join(cells) + " |"


def test_pct_is_the_nearest_rank_quantile() -> None:
    values = [float(v) for v in range(1, 101)]
    assert pct(values, 0.5) == 51.0 and pct(values, 0.99) == 100.0 and pct([3.0], 0.99) == 3.0
    assert math.isnan(pct([], 0.5))


def test_probe_freshness_is_the_first_read_reaching_each_probe_event() -> None:
    seen = [(100, 150), (300, 1_000_320), (400, 2_000_000)]  # (newest event us, seen at us)
    # event 100 seen at 150; 200 first covered by the read of 300 at 1_000_320; 500 never served
    assert probe_freshness_s(seen, [100, 200, 300, 500]) == [50 / 1e6, 1_000_120 / 1e6, 1_000_020 / 1e6]


def test_a_rerun_replaces_its_rows_and_keeps_the_other_designs() -> None:
    first = merge_section("", "old (12-01 00:58)", "load 2", [_row("old (12-01 00:58)", "dynalite", "2,000", "1,000",
                                                                   "a")], "python bench/bench_stream.py --design old")
    assert first.count("old (12-01 00:58)") == 2  # the run line and its row
    second = merge_section(first, "new (12-01 01:40)", "load 3", [
        _row("new (12-01 01:40)", "dynalite", "2,000", "1,000", "b"),
        _row("new (12-01 01:40)", "dynalite", "100,000", "1,000", "c")], "python bench/bench_stream.py")
    assert "| a |" in second and "| b |" in second and "| c |" in second
    assert "`old (12-01 00:58)`" in second and "`new (12-01 01:40)`" in second
    third = merge_section(second, "new (12-01 02:00)", "load 1", [
        _row("new (12-01 02:00)", "dynalite", "2,000", "1,000", "d")], "python bench/bench_stream.py --rates 1000")
    assert "| b |" not in third and "| d |" in third and "| c |" in third and "| a |" in third
    assert "`new (12-01 01:40)`" in third  # still referenced by the 100,000-entity row
    assert row_key(_row("new (x)", "moto", "2,000", "5,000", "e")) == ("new", "moto", "2,000", "5,000")


def test_the_hand_written_findings_survive_a_rerun() -> None:
    first = merge_section("", "old (1)", "h", [_row("old (1)", "moto", "2,000", "1,000", "a")], "python x")
    edited = first.replace("### The old design", "### Findings\n\nThe server is the limit.\n\n### The old design")
    again = merge_section(edited, "new (2)", "h", [_row("new (2)", "moto", "2,000", "1,000", "b")], "python x")
    assert again.count("### Findings\n\nThe server is the limit.") == 1 and "| a |" in again and "| b |" in again

"""Week blocks (weir.batch.blocks): which day tiles a run still needs once blocks cover part of its windows."""

from __future__ import annotations

import random
from datetime import date, timedelta

from weir.batch.blocks import BLOCK_DAYS, block_windows, blocks_inside, is_block_end, needed_days
from weir.compute.windows import DAY_US, day_windows
from weir.spec import FeatureGroup


def _group() -> FeatureGroup:
    return FeatureGroup.model_validate({
        "name": "g", "entity": {"name": "u", "keys": ["k"]},
        "source": {"delta": "t", "event_time": "ts", "columns": {"k": "string", "x": "double", "ts": "timestamp"}},
        "features": [{"name": "a", "aggregation": "count", "windows": ["1h", "1d", "7d", "13d", "14d", "30d"]},
                     {"name": "c", "aggregation": "last", "column": "x"}],
    })


def test_block_windows_are_whole_day_windows_of_two_blocks_or_more() -> None:
    windows = day_windows(_group())
    assert [w.column for w in block_windows(windows)] == ["a_count_14d", "a_count_30d"]
    assert all(w.hop_us == DAY_US for w in block_windows(windows))
    assert [w.hop_us for w in windows if w.column == "a_count_13d"] == [DAY_US]  # a day window, too short


def test_block_ends_are_epoch_aligned_weeks() -> None:
    ends = [d for d in (date(2026, 3, 1) + timedelta(days=i) for i in range(30)) if is_block_end(d)]
    assert ends == [date(2026, 3, 4), date(2026, 3, 11), date(2026, 3, 18), date(2026, 3, 25)]
    assert is_block_end(date(1970, 1, 7)) and not is_block_end(date(1970, 1, 1))


def test_needed_days_and_blocks_cover_every_day_of_every_window_exactly_once() -> None:
    windows = day_windows(_group())
    rnd = random.Random(3)
    all_ends = [d for d in (date(2026, 1, 1) + timedelta(days=i) for i in range(120)) if is_block_end(d)]
    for _ in range(300):
        run = date(2026, 2, 15) + timedelta(days=rnd.randrange(40))
        usable = {e for e in all_ends if rnd.random() < 0.7}
        needed = needed_days(windows, [run], usable)
        assert run in needed
        for w in windows:
            if w.hop_us != DAY_US or w.window_us is None:
                continue
            n = w.window_us // DAY_US
            days = [run - timedelta(days=i) for i in range(n)]
            if w in block_windows(windows):
                inside = blocks_inside(run, n, usable)
                covered = [e - timedelta(days=i) for e in inside for i in range(BLOCK_DAYS)]
                assert len(covered) == len(set(covered)) and set(covered) <= set(days)
                # every day of the window is in one used block or its day tile is read
                assert {d for d in days if d not in covered} <= needed
                # at most BLOCK_DAYS - 1 uncovered days at each end when all blocks are usable
                if usable == set(all_ends):
                    assert len([d for d in days if d not in covered]) <= 2 * (BLOCK_DAYS - 1)
            else:
                assert set(days) <= needed


def test_days_inside_usable_blocks_are_not_read_unless_a_shorter_window_needs_them() -> None:
    windows = day_windows(_group())  # 1d, 7d, 13d on day tiles; 14d and 30d also on blocks
    run = date(2026, 3, 31)
    ends = {date(2026, 3, 4), date(2026, 3, 11), date(2026, 3, 18), date(2026, 3, 25)}
    march = [date(2026, 3, d) for d in range(1, 32)]
    assert sorted(blocks_inside(run, 30, ends)) == [date(2026, 3, 11), date(2026, 3, 18), date(2026, 3, 25)]
    assert sorted(needed_days(windows, [run], ends)) == [*march[1:4], *march[17:]]  # 2-4, 18 (14d), 19-31 (13d)
    assert sorted(needed_days(windows, [run], set())) == march[1:]  # no usable block: all 30 days

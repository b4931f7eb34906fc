"""``horizon_at``: up to when stored tiles answer at t (every event before the horizon was in the lake at t)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from weir.training.builder import _stale_from, _Stored
from weir.training.known_at import SourceFile, horizon_at

T0 = datetime(2026, 11, 1)


def _at(h: float | None) -> datetime | None:
    return None if h is None else T0 + timedelta(hours=h)


def _f(committed_h: float, first_h: float | None, last_h: float | None = None) -> SourceFile:
    at = _at
    return SourceFile(T0 + timedelta(hours=committed_h), at(first_h), at(last_h if last_h is not None else first_h))


def test_the_horizon_is_the_earliest_event_of_the_files_committed_after_t() -> None:
    files = [_f(10, 0, 9), _f(20, 9.5, 19), _f(30, 2, 3), _f(40, 25, 39)]  # the third holds late events
    k = horizon_at(files, floor=None)
    assert k(T0 + timedelta(hours=5)) == T0                               # nothing committed yet: from the start
    assert k(T0 + timedelta(hours=10)) == T0 + timedelta(hours=2)         # a commit lands exactly at t: known
    assert k(T0 + timedelta(hours=29)) == T0 + timedelta(hours=2)         # the late file is still out
    assert k(T0 + timedelta(hours=30)) == T0 + timedelta(hours=25)
    assert k(T0 + timedelta(hours=40)) is None                            # everything was in the lake


def test_the_horizon_never_passes_what_the_stored_tiles_lack_nor_a_file_without_statistics() -> None:
    k = horizon_at([_f(10, 0, 9), _f(20, 12, 19)], floor=T0 + timedelta(hours=3))
    assert k(T0 + timedelta(hours=15)) == T0 + timedelta(hours=3)
    assert k(T0 + timedelta(hours=25)) == T0 + timedelta(hours=3)
    blind = horizon_at([_f(10, 0, 9), _f(20, None, None)], floor=None)
    assert blind(T0 + timedelta(hours=15)) == datetime.min
    assert blind(T0 + timedelta(hours=20)) is None


def _stored(tile_days: dict[date, datetime]) -> _Stored:
    covered = datetime.combine(max(tile_days), datetime.min.time()) + timedelta(days=1)
    return _Stored(tiles=None, features=None, covered=covered, feature_days={}, tile_days=tile_days)  # type: ignore[arg-type]


def test_tiles_are_stale_from_the_first_event_of_a_file_committed_after_its_days_were_tiled() -> None:
    d = [date(2026, 11, 1) + timedelta(days=i) for i in range(3)]
    written = {d[0]: T0 + timedelta(days=1, hours=1), d[1]: T0 + timedelta(days=2, hours=1),
               d[2]: T0 + timedelta(days=3, hours=1)}
    on_time = [_f(23, 1, 22), _f(47, 25, 46), _f(71, 49, 70)]
    assert _stale_from(on_time, _stored(written)) is None
    late = _f(60, 30, 35)  # events of day 2, committed after day 2's tiles were written
    assert _stale_from([*on_time, late], _stored(written)) == T0 + timedelta(hours=30)
    beyond = _f(80, 75, 76)  # events after the stored days: tiles are built for them at training time
    assert _stale_from([*on_time, beyond], _stored(written)) is None
    gap = {d[0]: written[d[0]], d[2]: written[d[2]]}  # no tiles for day 2 at all
    assert _stale_from(on_time, _stored(gap)) == T0 + timedelta(hours=25)
    blind = SourceFile(T0 + timedelta(days=5), None, None)
    assert _stale_from([blind], _stored(written)) == T0

"""Pure window/tile arithmetic (microseconds since the Unix epoch, UTC).

* A tile of hop ``h`` is the interval ``(end - h, end]`` with ``end`` a multiple of ``h``;
  ``tile_end(ts, h) = ceil(ts / h) * h`` (an event exactly on a boundary belongs to the tile ending there).
* A window ``w`` with hop ``h`` read at time ``t`` covers events with ``event_ts`` in
  ``(floor_h(t) - w, t]``: exact when ``t`` is on a hop boundary, otherwise it also includes
  less than one hop of older events at the tail.
* It is the merge of the tiles with ``end - h >= floor_h(t) - w`` and ``end - h < t``, i.e. ends in
  ``[floor_h(t) - w + h, ceil_h(t)]``; the last one (the *head*) may be partial and must only
  contain events ``<= t`` (always true for online reads; batch callers build it from raw rows).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from weir.spec.durations import (
    DAY_US,
    HOUR_US,
    MINUTE_US,
    default_hop_us,
    format_duration,
    format_duration_us,
    parse_duration,
    parse_duration_us,
    to_us,
)
from weir.spec.models import Feature, FeatureGroup

__all__ = [
    "DAY_US",
    "HOUR_US",
    "MINUTE_US",
    "WindowSpec",
    "datetime_to_us",
    "day_windows",
    "default_hop_us",
    "feature_windows",
    "floor_to",
    "format_duration",
    "format_duration_us",
    "group_hops",
    "hop_for",
    "in_window",
    "parse_duration",
    "parse_duration_us",
    "tile_end",
    "tile_in_window",
    "to_us",
    "us_to_datetime",
    "window_bounds",
    "window_tile_range",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def datetime_to_us(dt: datetime) -> int:
    """Aware (or naive = UTC) datetime -> epoch microseconds."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return to_us(dt - _EPOCH)


def us_to_datetime(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def floor_to(ts_us: int, hop_us: int) -> int:
    """Largest multiple of ``hop_us`` <= ``ts_us``."""
    return (ts_us // hop_us) * hop_us


def tile_end(ts_us: int, hop_us: int) -> int:
    """End of the tile holding an event at ``ts_us``: ``ceil(ts / h) * h``."""
    return -((-ts_us) // hop_us) * hop_us


def window_bounds(t_us: int, window_us: int | None, hop_us: int) -> tuple[int | None, int]:
    """Events covered at ``t``: ``(start_exclusive, end_inclusive) = (floor_h(t) - w, t)``; lifetime -> (None, t)."""
    if window_us is None:
        return None, t_us
    return floor_to(t_us, hop_us) - window_us, t_us


def in_window(ts_us: int, t_us: int, window_us: int | None, hop_us: int) -> bool:
    """Whether an event at ``ts_us`` counts in the window read at ``t_us`` (the brute-force rule)."""
    start, end = window_bounds(t_us, window_us, hop_us)
    return ts_us <= end and (start is None or ts_us > start)


def window_tile_range(t_us: int, window_us: int | None, hop_us: int) -> tuple[int | None, int]:
    """Inclusive range ``(min_end, max_end)`` of tile ends to merge at ``t`` (head tile included).

    ``min_end`` is None for a lifetime window. Valid when every stored event is ``<= t``.
    """
    max_end = tile_end(t_us, hop_us)
    if window_us is None:
        return None, max_end
    return floor_to(t_us, hop_us) - window_us + hop_us, max_end


def tile_in_window(tile_end_us: int, t_us: int, window_us: int | None, hop_us: int) -> bool:
    """Whether the tile ending at ``tile_end_us`` (of hop ``hop_us``) is merged for the window at ``t``."""
    start = tile_end_us - hop_us
    if start >= t_us:
        return False
    return window_us is None or start >= floor_to(t_us, hop_us) - window_us


def hop_for(feature: Feature, window_us: int | None) -> int:
    """Tile size for one window of a feature (``hop:`` override or the default)."""
    return feature.hop_us_for(window_us)


class WindowSpec(NamedTuple):
    """One (feature, window) of a group with its output column and hop."""

    column: str
    feature: Feature
    label: str | None
    window_us: int | None
    hop_us: int


def feature_windows(group: FeatureGroup) -> list[WindowSpec]:
    """Every (feature, window) of the group, in output-column order, with its hop."""
    out: list[WindowSpec] = []
    for col in group.output_columns():
        w_us = None if col.window is None else parse_duration_us(col.window)
        out.append(WindowSpec(col.name, col.feature, col.window, w_us, hop_for(col.feature, w_us)))
    return out


def group_hops(group: FeatureGroup) -> list[int]:
    """Sorted distinct hops (microseconds) used by the group's windows."""
    return sorted({w.hop_us for w in feature_windows(group)})


def day_windows(group: FeatureGroup) -> list[WindowSpec]:
    """``feature_windows`` for run times on a day boundary (the batch engine's): whole-day windows use 1d tiles.

    At a midnight ``t`` a window of whole days covers ``(t - w, t]`` with any hop dividing a day, so the day
    tiles hold exactly its events (fewer rows to merge than e.g. 1h tiles). Only when the group already has 1d
    tiles; otherwise the windows are returned unchanged.
    """
    windows = feature_windows(group)
    if DAY_US not in group_hops(group):
        return windows
    return [w._replace(hop_us=DAY_US) if w.window_us is not None and w.window_us % DAY_US == 0
            and DAY_US % w.hop_us == 0 else w for w in windows]

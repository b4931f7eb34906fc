"""The read path's per-group plan: everything about a group a read needs, computed once, and the per-item work.

``py_agg.py_feature_values`` (the reference) re-derives the windows from the spec and scans every tile once per
output column. A :class:`ReadPlan` derives the windows, IR keys, output types and defaults once per group; per
item it groups the tiles by hop once, selects each distinct (hop, window) range once (binary search over tile
ends when they are in order, as both writers store them), and merges with the same arithmetic in the same
order as ``py_merge`` / ``py_finalize``, so the values are identical (``tests/unit/test_online_read_plan.py``
checks them against the reference on random items).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from weir.compute.ir import BINARY, NEWEST_COL, ir_column, ir_parts, output_type
from weir.compute.layout import feature_default
from weir.compute.online_tile import END, HOP, decode_value
from weir.compute.py_agg import hll_estimate, hll_union, py_finalize, py_merge
from weir.compute.windows import datetime_to_us, feature_windows, floor_to
from weir.online.codec import decode_tiles_for_read
from weir.online.parts import item_expiry
from weir.online.schema import NEWEST, RUN, SOURCE_VERSION, STREAM_RUN, STREAM_TILES, STREAM_VERSION, TILES
from weir.spec.models import Aggregation, Feature, FeatureGroup

Tile = Mapping[str, Any]
Merge = Callable[[Sequence[Tile]], Any]  # selected tiles -> finalized (still online-form) value


def _us(v: Any) -> int:
    return datetime_to_us(v) if isinstance(v, datetime) else int(v)


def _present(tiles: Sequence[Tile], key: str) -> list[Any]:
    return [v for v in (t.get(key) for t in tiles) if v is not None]


def _merger(group: FeatureGroup, feature: Feature) -> Merge:
    """``py_finalize(feature, py_merge(group, feature, tiles))`` specialised for the feature's aggregation."""
    agg = feature.aggregation
    n_key, s_key, v_key, sk_key = (ir_column(feature, p) for p in ("n", "s", "v", "sk"))
    if agg == Aggregation.COUNT:
        return lambda tiles: int(sum(_present(tiles, n_key)))
    if agg == Aggregation.SUM:
        def total(tiles: Sequence[Tile]) -> Any:
            s = _present(tiles, s_key)
            return (sum(s) if s else None) if sum(_present(tiles, n_key)) > 0 else None
        return total
    if agg == Aggregation.AVG:
        def mean(tiles: Sequence[Tile]) -> Any:
            n = sum(_present(tiles, n_key))
            return float(sum(_present(tiles, s_key))) / n if n > 0 else None
        return mean
    if agg in (Aggregation.MIN, Aggregation.MAX):
        pick = min if agg == Aggregation.MIN else max

        def extreme(tiles: Sequence[Tile]) -> Any:
            values = _present(tiles, v_key)
            return pick(values) if values else None
        return extreme
    if agg == Aggregation.APPROX_COUNT_DISTINCT:
        return lambda tiles: hll_estimate(hll_union(t.get(sk_key) for t in tiles))
    if agg in (Aggregation.FIRST, Aggregation.LAST):
        ts_key = ir_column(feature, "ts")
        sign = -1 if agg == Aggregation.FIRST else 1

        def chosen(tiles: Sequence[Tile]) -> Any:  # py_agg._pick: the latest (earliest) time, ties by value
            pairs = [(_us(ts), t.get(v_key)) for t in tiles if (ts := t.get(ts_key)) is not None]
            return max(pairs, key=lambda p: (sign * p[0], p[1]))[1] if pairs else None
        return chosen
    # stddev: the reference functions (same results by construction)
    return lambda tiles: py_finalize(feature, py_merge(group, feature, tiles))


@dataclass(frozen=True)
class ColumnPlan:
    name: str
    hop_us: int
    window_us: int | None
    merge: Merge
    kind: str  # output type, for decode_value
    default: Any


class ReadPlan:
    """One group's read plan (build once per group; thread-safe, immutable after construction)."""

    def __init__(self, group: FeatureGroup) -> None:
        self.group = group
        self.columns: dict[str, ColumnPlan] = {}
        for w in feature_windows(group):
            self.columns[w.column] = ColumnPlan(
                w.column, w.hop_us, w.window_us, _merger(group, w.feature), output_type(group, w.feature),
                feature_default(w.feature))
        self.binary_keys = tuple(ir_column(f, p.part) for f in group.features for p in ir_parts(group, f)
                                 if p.type == BINARY)
        self.decodes_values = {c.name for c in self.columns.values() if decode_value(c.kind, 0) != 0}

    def decode(self, blob: bytes) -> list[dict[str, Any]]:
        return decode_tiles_for_read(blob, self.binary_keys)

    def defaults(self, columns: Sequence[str]) -> dict[str, Any]:
        return {c: self.columns[c].default for c in columns}

    def values(self, tiles: Sequence[Tile], t_us: int, columns: Sequence[str]) -> dict[str, Any]:
        """Served values of ``columns`` at ``t_us`` from an item's tiles (every event in them <= ``t_us``)."""
        by_hop: dict[int, list[Tile]] = {}
        for tile in tiles:
            by_hop.setdefault(int(tile[HOP]), []).append(tile)
        ends: dict[int, list[int]] = {}
        chosen: dict[tuple[int, int | None], Sequence[Tile]] = {}
        out: dict[str, Any] = {}
        for name in columns:
            col = self.columns[name]
            key = (col.hop_us, col.window_us)
            selected = chosen.get(key)
            if selected is None:
                selected = chosen[key] = _select(by_hop.get(col.hop_us, []), ends, col.hop_us, col.window_us, t_us)
            v = col.merge(selected)
            if v is not None and name in self.decodes_values:
                v = decode_value(col.kind, v)
            out[name] = col.default if v is None else v
        return out


def _select(tiles: list[Tile], ends_cache: dict[int, list[int]], hop: int, window_us: int | None, t_us: int,
            ) -> Sequence[Tile]:
    """The tiles of one hop merged for a window at ``t`` (``windows.tile_in_window``), in stored order."""
    if not tiles:
        return tiles
    ends = ends_cache.get(hop)
    if ends is None:
        ends = ends_cache[hop] = [int(t[END]) for t in tiles]
    # start = end - hop; kept when start < t and (lifetime or start >= floor_h(t) - w)
    lo = None if window_us is None else floor_to(t_us, hop) - window_us + hop  # end >= lo
    if ends == sorted(ends):
        first = 0 if lo is None else bisect_left(ends, lo)
        last = bisect_right(ends, t_us + hop - 1)  # end - hop < t  <=>  end <= t + hop - 1
        return tiles[first:last]
    return [t for t, e in zip(tiles, ends, strict=True) if e - hop < t_us and (lo is None or e >= lo)]


@dataclass(frozen=True)
class ReadView:
    """:class:`weir.online.parts.ItemView`'s fields for a read (the same rules, tiles decoded by the plan)."""

    tiles: list[dict[str, Any]]
    newest_event_us: int
    as_of_us: int
    source_version: int
    expires_at: int | None  # None: the item is kept for ever


def read_view(plan: ReadPlan, item: Mapping[str, Any]) -> ReadView | None:
    """:func:`weir.online.parts.item_view` for reads: the batch tiles plus the stream tiles ending after the
    batch part's run time; None when neither part holds an event."""
    blob = item.get(TILES)
    has_batch = blob is not None
    tiles = plan.decode(blob) if blob is not None else []
    cutoff = int(item[RUN]) if has_batch else None
    stream_blob = item.get(STREAM_TILES)
    stream = plan.decode(stream_blob) if stream_blob else []
    if cutoff is not None:
        stream = [t for t in stream if int(t[END]) > cutoff]
    newest_values = [int(t[NEWEST_COL]) for t in stream if t.get(NEWEST_COL) is not None]
    stream_newest = max(newest_values) if newest_values else None
    candidates = [v for v in (int(item[NEWEST]) if has_batch else None, stream_newest) if v is not None]
    if not candidates:
        return None
    runs = [int(item[RUN])] if has_batch else []
    if stream and item.get(STREAM_RUN) is not None:
        runs.append(int(item[STREAM_RUN]))
    version = item[SOURCE_VERSION] if has_batch else item.get(STREAM_VERSION, -1)
    return ReadView(tiles + stream, max(candidates), max(runs, default=0), int(version),
                    item_expiry(item))



__all__ = ["ColumnPlan", "ReadPlan", "ReadView", "read_view"]

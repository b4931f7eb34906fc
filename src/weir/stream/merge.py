"""Merging a micro-batch's tiles into an online item's tiles (pure Python, the same merge math as reads).

An online item's stream part (:mod:`weir.online.parts`) holds, per windowed hop, the tiles that can still fall
in a window read at or after its newest event (lifetime IR columns blanked), plus lifetime tiles holding the
IR of the lifetime features, in the batch part's tile shape, so :class:`weir.online.OnlineClient` merges both
the same way:

* a micro-batch tile (from ``weir.compute.spark_agg.build_tiles``) of hop ``h`` ending at ``e`` is merged into
  the stored tile ``(h, e)`` with ``py_agg.py_merge`` for every windowed feature;
* its lifetime IR (hop = the lifetime hop) is merged into the stream part's lifetime tile of the same end
  (kept per hop, so that tiles the batch part already covers can be dropped);
* tiles older than the longest window of their hop, measured from the item's newest event, are dropped:
  ``end - h < floor_h(newest) - w`` can never be read again because reads happen at ``t >= newest``.

Tiles are dicts of JSON scalars (timestamps in IRs as epoch micros, dates as epoch days, HLL as bytes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from weir.compute.ir import NEWEST_COL, ir_column, ir_parts
from weir.compute.layout import lifetime_features, lifetime_hop, longest_window_per_hop, windowed_features_by_hop
from weir.compute.online_tile import END, HOP
from weir.compute.py_agg import py_merge
from weir.compute.windows import feature_windows, floor_to
from weir.spec.models import Feature, FeatureGroup

Tile = dict[str, Any]


class GroupLayout:
    """``weir.compute.layout``'s answers for one group, computed once per group (the merge runs per item)."""

    def __init__(self, group: FeatureGroup) -> None:
        self.group = group
        windows = feature_windows(group)
        self.lifetime: list[Feature] = lifetime_features(group)
        self.windowed_by_hop: dict[int, list[Feature]] = windowed_features_by_hop(windows)
        self.longest: dict[int, int] = longest_window_per_hop(windows)
        self.life_hop: int | None = lifetime_hop(group)
        self.life_cols = [ir_column(f, p.part) for f in self.lifetime for p in ir_parts(group, f)]
        self.all_cols = [ir_column(f, p.part) for f in group.features for p in ir_parts(group, f)]

    def windowed_cols(self, hop: int) -> list[str]:
        return [ir_column(f, p.part) for f in self.windowed_by_hop.get(hop, []) for p in ir_parts(self.group, f)]

    def is_lifetime_tile(self, tile: Mapping[str, Any]) -> bool:
        """The lifetime tile carries lifetime IR; windowed tiles have those columns blanked."""
        if self.life_hop is None or int(tile[HOP]) != self.life_hop:
            return False
        return any(tile.get(c) is not None for c in self.life_cols)


def _clean(tile: Mapping[str, Any]) -> Tile:
    return {k: v for k, v in tile.items() if v is not None}


def _max_opt(*values: Any) -> int | None:
    present = [int(v) for v in values if v is not None]
    return max(present) if present else None


def _merge_features(group: FeatureGroup, feats: Iterable[Feature], irs: Sequence[Mapping[str, Any]]) -> Tile:
    out: Tile = {}
    for f in feats:
        out.update(py_merge(group, f, irs))
    return out


def merge_item_tiles(layout: GroupLayout, stored: Sequence[Mapping[str, Any]],
                     batch: Sequence[Mapping[str, Any]], cutoff_us: int | None = None,
                     ) -> tuple[list[Tile], int | None]:
    """Stored stream tiles + micro-batch tiles -> (new stream tiles, newest event micros among them).

    Tiles ending at or before ``cutoff_us`` (the run time of the item's batch part, which holds every event up
    to then: :mod:`weir.online.parts`) are dropped. Lifetime IR is kept per lifetime-hop tile so that the same
    cutoff applies to it.
    """
    group = layout.group
    windowed: dict[tuple[int, int], list[Mapping[str, Any]]] = {}
    life: dict[int, list[Mapping[str, Any]]] = {}
    for t in stored:
        if cutoff_us is not None and int(t[END]) <= cutoff_us:
            continue
        if layout.is_lifetime_tile(t):
            life.setdefault(int(t[END]), []).append(t)
        else:
            windowed.setdefault((int(t[HOP]), int(t[END])), []).append(t)
    for t in batch:
        if cutoff_us is not None and int(t[END]) <= cutoff_us:
            continue
        hop = int(t[HOP])
        if hop in layout.windowed_by_hop:
            windowed.setdefault((hop, int(t[END])), []).append(t)
        if layout.life_hop is not None and hop == layout.life_hop:
            life.setdefault(int(t[END]), []).append(t)
    newest = _max_opt(*(t.get(NEWEST_COL) for parts in windowed.values() for t in parts),
                      *(t.get(NEWEST_COL) for parts in life.values() for t in parts))
    out: list[Tile] = []
    for (hop, end), parts in sorted(windowed.items()):
        feats = layout.windowed_by_hop.get(hop)
        if not feats or newest is None:
            continue
        if end - hop < floor_to(newest, hop) - layout.longest[hop]:
            continue  # outside every window that can still be read
        tile: Tile = {HOP: hop, END: end, NEWEST_COL: _max_opt(*(p.get(NEWEST_COL) for p in parts))}
        tile.update(_merge_features(group, feats, parts))
        out.append(_clean(tile))
    if layout.life_hop is not None:
        for end, parts in sorted(life.items()):
            tile = {HOP: layout.life_hop, END: end, NEWEST_COL: _max_opt(*(p.get(NEWEST_COL) for p in parts))}
            tile.update(_merge_features(group, layout.lifetime, parts))
            out.append(_clean(tile))
    out.sort(key=lambda t: (t[HOP], t[END]))
    return out, newest

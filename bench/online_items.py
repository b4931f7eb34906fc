"""Online items as they look after 30 days of the demo's data, built by Weir's own pure writers (benchmarks only).

For each shipped group (``feature_specs/``): the demo generator's events (``weir.demo.generate``, the demo's
seed, users, merchants and rate) for 30 days before the run time ``T`` and ``stream_hours`` after it. Per entity:

* the **batch part** as the daily publish lays it out (``weir.online.publish.entity_tiles``, mirrored in Python):
  the tiles of each windowed hop ending in ``(T - longest window of the hop, T]`` with the IR of features not
  windowed on that hop blanked, plus one lifetime tile with the lifetime IR merged over every tile up to ``T``;
  tiles built by ``weir.compute.py_agg.py_tile_from_rows`` and written with ``InMemoryOnlineStore.write_items``;
* the **stream part** written by the real stream writer (``weir.stream.online.StreamOnlineWriter``) micro-batch
  by micro-batch (``trigger_s``) over the events after ``T``; every stream write's item size before and after is
  recorded (what DynamoDB charges an ``UpdateItem``).

``where:`` filters are evaluated by :func:`passes` (the three forms the shipped specs use).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from weir.compute.ir import NEWEST_COL
from weir.compute.layout import expires_at_s, lifetime_features
from weir.compute.online_tile import END, HOP
from weir.compute.py_agg import py_merge, py_tile_from_rows
from weir.compute.windows import datetime_to_us, group_hops, tile_end
from weir.online import schema as s
from weir.online.capacity import item_size
from weir.online.codec import encode_tiles
from weir.online.interface import OnlineItem
from weir.online.keys import entity_pk
from weir.online.memory import InMemoryOnlineStore
from weir.spec import load_specs
from weir.spec.models import Feature, FeatureGroup
from weir.stream.merge import GroupLayout
from weir.stream.online import StreamOnlineWriter

ROOT = Path(__file__).resolve().parents[1]
RUN_T = datetime(2026, 11, 1, tzinfo=UTC)  # the demo's last run time (DemoSettings.end)
SOURCES = {"transactions": "transactions", "repayments": "repayments"}


def passes(where: str, row: Mapping[str, Any]) -> bool:
    """The shipped specs' filters: ``col``, ``col = 'text'``, ``col < other_col`` (a NULL operand fails)."""
    m = re.fullmatch(r"\s*(\w+)\s*(?:(=|<|>|<=|>=|!=)\s*('[^']*'|\w+|[-\d.]+))?\s*", where)
    if not m:
        raise ValueError(f"bench/online_items.py cannot evaluate the filter {where!r}; extend passes()")
    col, op, rhs = m.groups()
    left = row.get(col)
    if op is None:
        return bool(left)
    if rhs.startswith("'"):
        right: Any = rhs.strip("'")
    elif re.fullmatch(r"[-\d.]+", rhs):
        right = float(rhs)
    else:
        right = row.get(rhs)
    if left is None or right is None:
        return False
    return bool({"=": left == right, "!=": left != right, "<": left < right, ">": left > right,
                 "<=": left <= right, ">=": left >= right}[op])


def _tile(group: FeatureGroup, rows: Sequence[Mapping[str, Any]], hop: int) -> dict[str, Any]:
    where = {f.name: [passes(f.where, r) for r in rows] for f in group.features if f.where}
    return py_tile_from_rows(group, rows, hop, where or None)


def _blank(tile: Mapping[str, Any], group: FeatureGroup, keep: Iterable[Feature]) -> dict[str, Any]:
    kept = {f.name for f in keep}
    prefixes = tuple(f"{f.name}__" for f in group.features if f.name not in kept)
    return {k: v for k, v in tile.items() if v is not None and not k.startswith(prefixes)}


def batch_tiles(group: FeatureGroup, layout: GroupLayout, rows: Sequence[Mapping[str, Any]], t_us: int,
                ) -> list[dict[str, Any]]:
    """The batch part's tiles of one entity at run time ``t_us`` (the publish layout, see module doc)."""
    et = group.event_time
    out: list[dict[str, Any]] = []
    for hop, longest in layout.longest.items():
        cells: dict[int, list[Mapping[str, Any]]] = {}
        for r in rows:
            end = tile_end(datetime_to_us(r[et]), hop)
            if t_us - longest < end <= t_us:
                cells.setdefault(end, []).append(r)
        out += [_blank(_tile(group, rs, hop), group, layout.windowed_by_hop[hop]) for rs in cells.values()]
    if layout.life_hop is not None:
        life = lifetime_features(group)
        hop = layout.life_hop
        cells = {}
        for r in rows:
            cells.setdefault(tile_end(datetime_to_us(r[et]), hop), []).append(r)
        day_tiles = [_tile(group, rs, hop) for rs in cells.values()]
        newest = max(int(t[NEWEST_COL]) for t in day_tiles)
        merged: dict[str, Any] = {HOP: hop, END: -(-newest // hop) * hop, NEWEST_COL: newest}
        for f in life:
            merged.update(py_merge(group, f, day_tiles))
        out.append(_blank(merged, group, life))
    return sorted(out, key=lambda t: (t[HOP], t[END]))


def micro_batch_tiles(group: FeatureGroup, rows: Sequence[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per pk, the tiles ``build_tiles`` gives a micro-batch of ``rows`` (online form)."""
    et = group.event_time
    out: dict[str, list[dict[str, Any]]] = {}
    for hop in group_hops(group):
        cells: dict[tuple[str, int], list[Mapping[str, Any]]] = {}
        for r in rows:
            cells.setdefault((entity_pk(group, {k: r[k] for k in group.key_columns}),
                              tile_end(datetime_to_us(r[et]), hop)), []).append(r)
        for (pk, _), rs in cells.items():
            out.setdefault(pk, []).append(_tile(group, rs, hop))
    return out


@dataclass
class GroupItems:
    """One group's items after the simulation, and what its writes cost."""

    group: FeatureGroup
    store: InMemoryOnlineStore
    pks: list[str]
    t_us: int  # the batch part's run time
    end_us: int  # the last stream event
    batch_sizes: list[int] = field(default_factory=list)  # item size after the publish, per entity
    stream_writes: list[tuple[int | None, int]] = field(default_factory=list)  # (before, after) per stream write
    # the same writes' stream attributes only (pk, stream part, bookkeeping, expiry): an item of its own
    stream_part_writes: list[tuple[int | None, int]] = field(default_factory=list)
    stream_events: int = 0
    batches: int = 0

    def items(self) -> dict[str, dict[str, Any]]:
        return self.store.get_items(self.group.name, self.pks, (*s.READ_ATTRIBUTES, s.STREAM_BATCHES,
                                                                s.ITEM_VERSION))


STREAM_PART = (s.PK, s.STREAM_TILES, s.STREAM_NEWEST, s.STREAM_RUN, s.STREAM_VERSION, s.STREAM_BATCHES,
               s.ITEM_VERSION, s.EXPIRES_AT)
BATCH_PART = (s.PK, s.TILES, s.NEWEST, s.RUN, s.SOURCE_VERSION, s.ITEM_VERSION, s.EXPIRES_AT)


def stream_part(item: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes a separate stream item would hold (the "split" layout of bench/bench_cost.py)."""
    return {k: v for k, v in item.items() if k in STREAM_PART}


def batch_part(item: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k in BATCH_PART}


def demo_events(users: int, days: int = 30, stream_hours: float = 12.0, seed: int = 7,
                merchants: int = 300, rate: float = 1.5) -> dict[str, list[dict[str, Any]]]:
    """The demo's events per source table, from ``days`` before :data:`RUN_T` to ``stream_hours`` after it."""
    from weir.demo import generate

    start = RUN_T - timedelta(days=days)
    data = generate(seed, start.replace(tzinfo=None), days + 1, users, merchants, rate)
    limit = RUN_T + timedelta(hours=stream_hours)
    out: dict[str, list[dict[str, Any]]] = {}
    for name in SOURCES:
        frame = getattr(data, name)
        rows = []
        for r in frame.to_dict("records"):
            r = {k: (v.to_pydatetime().replace(tzinfo=UTC) if hasattr(v, "to_pydatetime") else v)
                 for k, v in r.items()}
            if r["event_ts"] <= limit:
                rows.append(r)
        out[name] = sorted(rows, key=lambda r: r["event_ts"])
    return out


def build_group(group: FeatureGroup, events: Sequence[Mapping[str, Any]], trigger_s: float = 60.0,
                max_entities: int | None = None) -> GroupItems:
    """Publish the batch part at :data:`RUN_T`, then stream the later events; see the module doc."""
    t_us = datetime_to_us(RUN_T)
    et = group.event_time
    layout = GroupLayout(group)
    store = InMemoryOnlineStore()
    by_pk: dict[str, list[Mapping[str, Any]]] = {}
    for r in events:
        by_pk.setdefault(entity_pk(group, {k: r[k] for k in group.key_columns}), []).append(r)
    pks = sorted(by_pk)[:max_entities] if max_entities else sorted(by_pk)
    chosen = set(pks)
    result = GroupItems(group, store, pks, t_us, t_us)
    items = []
    for pk in pks:
        before = [r for r in by_pk[pk] if datetime_to_us(r[et]) <= t_us]
        if not before:
            continue
        newest = max(datetime_to_us(r[et]) for r in before)
        if newest + group.online.ttl_us <= t_us:
            continue  # expired: the publish does not write it
        items.append(OnlineItem(pk, newest, t_us, 1, expires_at_s(group, newest),
                                encode_tiles(batch_tiles(group, layout, before, t_us))))
    store.write_items(group.name, items)
    stored = store.get_items(group.name, pks, s.ITEM_ATTRIBUTES)
    result.batch_sizes = [item_size(stored[pk]) for pk in pks if pk in stored]

    writer = StreamOnlineWriter(store, layout, "bench")
    later = [r for r in events if datetime_to_us(r[et]) > t_us
             and entity_pk(group, {k: r[k] for k in group.key_columns}) in chosen]
    step = int(trigger_s * 1_000_000)
    chunks: dict[int, list[Mapping[str, Any]]] = {}
    for r in later:
        chunks.setdefault((datetime_to_us(r[et]) - t_us - 1) // step, []).append(r)
    all_attrs = (*s.READ_ATTRIBUTES, s.STREAM_BATCHES, s.ITEM_VERSION)
    for batch_id, (index, rows) in enumerate(sorted(chunks.items())):
        tiles = micro_batch_tiles(group, rows)
        run_us = t_us + (index + 1) * step
        old = store.get_items(group.name, sorted(tiles), all_attrs)
        writer.apply(tiles, batch_id, run_us, batch_id + 2)
        new = store.get_items(group.name, sorted(tiles), all_attrs)
        for pk in sorted(tiles):
            result.stream_writes.append((item_size(old[pk]) if pk in old else None, item_size(new[pk])))
            before = stream_part(old[pk]) if pk in old else {}
            result.stream_part_writes.append((item_size(before) if s.STREAM_TILES in before else None,
                                              item_size(stream_part(new[pk]))))
        result.stream_events += len(rows)
        result.batches += 1
        result.end_us = max(result.end_us, max(datetime_to_us(r[et]) for r in rows))
    return result


def shipped_groups() -> list[FeatureGroup]:
    return load_specs(ROOT / "feature_specs")

"""Weir's own CPU per entity read (decode + merge + finalize), apart from the DynamoDB round trip.

    .venv/bin/python bench/bench_read_cpu.py [--users 2000] [--repeat 3] [--group user_spend]

Items: ``bench/online_items.py`` (30 days of the demo's events through Weir's writers, then 12 h of stream
micro-batches), read at the last stream event. Per entity, timed with the thread's CPU clock
(``time.thread_time_ns``, so time spent waiting for a shared core is not counted):

* **reference** (the read path before this change, the baseline): ``parts.item_view`` + ``py_feature_values``
  + ``decode_value`` per column, as ``OnlineClient`` did;
* **plan** (the current read path): ``OnlineClient._group_features`` (``weir.online.read_plan``), split into
  decode (both parts' blobs) and merge + finalize.

Every entity's values from both are compared (they must be equal). Prints p50/p99/max in microseconds and the
ratio; ``--write-docs`` puts the table in docs/benchmarks.md ("Online store", "Read CPU per entity").
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from online_items import build_group, demo_events, shipped_groups

from weir.compute.ir import output_type
from weir.compute.layout import feature_default
from weir.compute.online_tile import decode_value
from weir.compute.py_agg import py_feature_values
from weir.online import schema as s
from weir.online.client import OnlineClient
from weir.online.parts import item_view
from weir.online.read_plan import read_view
from weir.runtime import RuntimeConfig
from weir.spec.models import FeatureGroup

ROOT = Path(__file__).resolve().parents[1]


def reference_values(group: FeatureGroup, item: dict[str, Any] | None, t_us: int) -> dict[str, Any] | None:
    """The read path before ReadPlan: item_view + py_feature_values + per-column decode (expiry not applied)."""
    view = item_view(item) if item is not None else None
    if view is None:
        return None
    computed = py_feature_values(group, view.tiles, t_us)
    out = {}
    for c in group.output_columns():
        v = decode_value(output_type(group, c.feature), computed.get(c.name))
        out[c.name] = feature_default(c.feature) if v is None else v
    return out


def cpu_us(fn: Callable[[], object]) -> float:
    t0 = time.thread_time_ns()
    fn()
    return (time.thread_time_ns() - t0) / 1000


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(samples: list[float]) -> str:
    return f"p50 {pct(samples, 0.5):7.1f}  p99 {pct(samples, 0.99):7.1f}  max {max(samples):8.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--group", default="user_spend")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()

    group = next(g for g in shipped_groups() if g.name == args.group)
    events = demo_events(args.users)
    built = build_group(group, events[group.source.delta or "transactions"])
    items = built.items()
    t_us = built.end_us
    client = OnlineClient(RuntimeConfig(), groups=[group], store=built.store)
    plan = client.plans[group.name]
    columns = group.output_column_names()
    present = [pk for pk in built.pks if pk in items]

    mismatches = 0
    for pk in present:
        want = reference_values(group, items[pk], t_us)
        got = client._group_features(group, columns, items[pk], t_us)
        if got.found and want != got.values:
            mismatches += 1
    ref: list[float] = []
    new: list[float] = []
    dec: list[float] = []
    merge: list[float] = []
    for _ in range(args.repeat):
        for pk in present:
            item = items[pk]
            ref.append(cpu_us(lambda item=item: reference_values(group, item, t_us)))  # type: ignore[misc]
            new.append(cpu_us(lambda item=item: client._group_features(group, columns, item, t_us)))  # type: ignore[misc]
            view = read_view(plan, item)
            dec.append(cpu_us(lambda item=item: read_view(plan, item)))  # type: ignore[misc]
            if view is not None:
                merge.append(cpu_us(lambda view=view: plan.values(view.tiles, t_us, columns)))  # type: ignore[misc]

    tiles = sorted(len(v.tiles) for v in (read_view(plan, items[pk]) for pk in present) if v is not None)
    blob = sorted(len(items[pk].get(s.TILES) or b"") + len(items[pk].get(s.STREAM_TILES) or b"") for pk in present)
    cmd = f".venv/bin/python bench/bench_read_cpu.py --users {args.users} --repeat {args.repeat} --group {args.group}"
    load = os.getloadavg()
    header = (f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()} x{os.cpu_count()} cores, load average "
              f"{load[0]:.1f} (shared machine), group {group.name}: {len(present)} items, {len(columns)} columns, "
              f"tiles per item p50 {pct(tiles, 0.5)} p99 {pct(tiles, 0.99)} max {tiles[-1]}, blobs p50 "
              f"{pct(blob, 0.5)} B p99 {pct(blob, 0.99)} B")
    rows = [
        ("reference (before): item_view + py_feature_values", summary(ref)),
        ("plan (now): OnlineClient._group_features, total", summary(new)),
        ("plan: decode (read_view)", summary(dec)),
        ("plan: merge + finalize (ReadPlan.values)", summary(merge)),
        ("ratio reference / plan, p50 and p99",
         f"{pct(ref, 0.5) / pct(new, 0.5):.1f}x and {pct(ref, 0.99) / pct(new, 0.99):.1f}x"),
        ("goal p99 <= 1000 us", "met" if pct(new, 0.99) <= 1000 else "NOT met"),
        ("entities whose values differ (must be 0)", str(mismatches)),
    ]
    print(header)
    print("CPU microseconds per entity (thread CPU clock), over "
          f"{args.repeat} passes of every item:")
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print(f"reproduce: {cmd}")
    if args.write_docs:
        write_docs(header, rows, cmd)
    if mismatches:
        sys.exit(1)


def write_docs(header: str, rows: list[tuple[str, str]], cmd: str) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from docs_section import replace_subsection

    lines = [f"`{cmd}`, {header}.", "", "| CPU per entity read (us) | result |", "| --- | --- |",
             *[f"| {a} | {b} |" for a, b in rows], ""]
    replace_subsection("### Read CPU per entity", lines)


if __name__ == "__main__":
    main()

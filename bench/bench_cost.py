"""DynamoDB cost of the online store: capacity units per event written and per entity read, item sizes, and the
monthly on-demand bill at 1k and 10k events/s, for the shipped groups (``feature_specs/``).

    .venv/bin/python bench/bench_cost.py [--users 2000] [--trigger-seconds 5] [--write-docs]

Items come from ``bench/online_items.py``: 30 days of the demo's events (its users, merchants and rate) published
as the daily publish lays items out, then 12 h of events applied by the real stream writer micro-batch by
micro-batch. Units are computed from item sizes with DynamoDB's rules (``weir.online.capacity``): moto reports
a constant ``ConsumedCapacity`` whatever the size (1 per write, 0.5 per read, 1 per key of a ``BatchGetItem``);
dynalite computes it from the item size, and ``bench/bench_online.py`` checks ``weir.online.capacity`` against
dynalite's figures on the same items. Here:

* stream write of one entity per micro-batch = a strongly consistent read of the whole item (a projection does
  not lower it) + an ``UpdateItem`` charged for the larger of the item before and after;
* daily publish = one ``UpdateItem`` per live entity per day (the item before and after are about the same size;
  a publish whose expiry condition fails is charged twice, not modelled);
* a read = an eventually consistent ``BatchGetItem`` of the whole item per entity.

Per event figures divide by the events of the group's source; the monthly bill scales the demo's per-entity
activity to the event rate (entities grow with the rate), with 730 h a month, and assumes one scoring read of
``user_spend`` + ``merchant_risk`` per transaction. The alternative layout "split" keeps the stream part in its
own item (``pk#s``): a stream write then pays for the small stream item only, a read fetches two items.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from online_items import RUN_T, GroupItems, batch_part, build_group, demo_events, shipped_groups, stream_part

from weir.online import schema as s
from weir.online.capacity import item_size, read_units, update_write_units, write_units

# us-east-1 on-demand prices since the 2024-11-01 cut (aws.amazon.com/dynamodb/pricing, checked 2026-12-01)
WRITE_PRICE_PER_M = 0.625
READ_PRICE_PER_M = 0.125
HOURS_PER_MONTH = 730


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def group_costs(g: GroupItems, events_per_day: float) -> dict[str, float]:
    """Units of one group, per event of its source and per entity read."""
    items = g.items()
    sizes = [item_size(i) for i in items.values()]
    stream_items = [stream_part(i) for i in items.values() if s.STREAM_TILES in i]
    stream_wcu = sum(update_write_units(before, after) for before, after in g.stream_writes)
    stream_rcu = sum(read_units(before, consistent=True) for before, _ in g.stream_writes)
    # split layout: the stream write reads and writes the stream item only
    split_wcu = sum(update_write_units(before, after) for before, after in g.stream_part_writes)
    split_rcu = sum(read_units(before, consistent=True) for before, _ in g.stream_part_writes)
    publish_wcu_day = sum(write_units(item_size(i)) for i in items.values() if s.TILES in i)
    read_whole = [read_units(x) for x in sizes]
    read_split = [read_units(item_size(batch_part(i))) + read_units(item_size(stream_part(i)) if s.STREAM_TILES in i
                                                                    else None) for i in items.values()]
    return {
        "entities": len(items), "events_per_day": events_per_day, "stream_writes": len(g.stream_writes),
        "size_p50": pct(sizes, 0.5), "size_p99": pct(sizes, 0.99), "size_max": max(sizes, default=0),
        "batch_size_p50": pct(g.batch_sizes, 0.5), "batch_size_p99": pct(g.batch_sizes, 0.99),
        "stream_item_p50": pct([item_size(i) for i in stream_items], 0.5),
        "wcu_per_event_stream": stream_wcu / max(1, g.stream_events),
        "rcu_per_event_stream": stream_rcu / max(1, g.stream_events),
        "wcu_per_event_publish": publish_wcu_day / max(1.0, events_per_day),
        "wcu_per_event_split": split_wcu / max(1, g.stream_events),
        "rcu_per_event_split": split_rcu / max(1, g.stream_events),
        "rcu_per_read": sum(read_whole) / max(1, len(read_whole)), "rcu_per_read_p99": pct(read_whole, 0.99),
        "rcu_per_read_split": sum(read_split) / max(1, len(read_split)),
        "writes_per_event": len(g.stream_writes) / max(1, g.stream_events),
        "wcu_per_day": (stream_wcu / max(1, g.stream_events)) * events_per_day + publish_wcu_day,
        "rcu_per_day": (stream_rcu / max(1, g.stream_events)) * events_per_day,
        "wcu_per_day_split": (split_wcu / max(1, g.stream_events)) * events_per_day + publish_wcu_day,
        "rcu_per_day_split": (split_rcu / max(1, g.stream_events)) * events_per_day,
    }


def monthly(rate: float, per_event_wcu: float, per_event_rcu: float, reads_per_event_rcu: float) -> float:
    seconds = HOURS_PER_MONTH * 3600
    wcu = rate * seconds * per_event_wcu
    rcu = rate * seconds * (per_event_rcu + reads_per_event_rcu)
    return wcu / 1e6 * WRITE_PRICE_PER_M + rcu / 1e6 * READ_PRICE_PER_M


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--trigger-seconds", type=float, default=5.0)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()

    events = demo_events(args.users)
    costs: dict[str, dict[str, float]] = {}
    for group in shipped_groups():
        source = events[group.source.delta or ""]
        built = build_group(group, source, trigger_s=args.trigger_seconds)
        per_day = sum(1 for r in source if r["event_ts"] <= RUN_T) / 30
        costs[group.name] = group_costs(built, per_day)
        print(group.name, {k: round(v, 3) for k, v in costs[group.name].items()}, flush=True)

    rows: list[tuple[str, str]] = []
    for name, c in costs.items():
        rows += [
            (f"{name}: item size after the publish p50 / p99",
             f"{c['batch_size_p50']:,.0f} / {c['batch_size_p99']:,.0f} B"),
            (f"{name}: item size after 12 h of stream p50 / p99 / max",
             f"{c['size_p50']:,.0f} / {c['size_p99']:,.0f} / {c['size_max']:,.0f} B ({c['entities']:,.0f} items)"),
            (f"{name}: stream, writes per event (micro-batch coalescing)", f"{c['writes_per_event']:.2f}"),
            (f"{name}: stream, WCU + RCU per event (one item per entity)",
             f"{c['wcu_per_event_stream']:.2f} WCU + {c['rcu_per_event_stream']:.2f} RCU"),
            (f"{name}: stream, WCU + RCU per event (split: stream part in its own item)",
             f"{c['wcu_per_event_split']:.2f} WCU + {c['rcu_per_event_split']:.2f} RCU"),
            (f"{name}: daily publish, WCU per event", f"{c['wcu_per_event_publish']:.2f}"),
            (f"{name}: RCU per entity read (eventually consistent), mean / p99",
             f"{c['rcu_per_read']:.2f} / {c['rcu_per_read_p99']:.1f} (split layout: {c['rcu_per_read_split']:.2f})"),
        ]
    # all groups' writes (stream and publish, repayments included) per transaction: entities scale with the rate
    txn_per_day = sum(1 for r in events["transactions"] if r["event_ts"] <= RUN_T) / 30
    wcu = sum(c["wcu_per_day"] for c in costs.values()) / txn_per_day
    rcu = sum(c["rcu_per_day"] for c in costs.values()) / txn_per_day
    wcu_split = sum(c["wcu_per_day_split"] for c in costs.values()) / txn_per_day
    rcu_split = sum(c["rcu_per_day_split"] for c in costs.values()) / txn_per_day
    scoring = ("user_spend", "merchant_risk")
    reads = sum(costs[g]["rcu_per_read"] for g in scoring)
    reads_split = sum(costs[g]["rcu_per_read_split"] for g in scoring)
    rows += [("all groups, per transaction: writes (stream + daily publish) and the stream's reads",
              f"{wcu:.2f} WCU + {rcu:.2f} RCU (split layout: {wcu_split:.2f} WCU + {rcu_split:.2f} RCU)"),
             ("one scoring read (a user_spend and a merchant_risk entity)",
              f"{reads:.2f} RCU (split: {reads_split:.2f})")]
    for rate in (1000, 10000):
        one = monthly(rate, wcu, rcu, reads)
        split = monthly(rate, wcu_split, rcu_split, reads_split)
        rows.append((f"monthly on-demand at {rate:,} transactions/s (+1 scoring read each)",
                     f"${one:,.0f} (split layout: ${split:,.0f})"))
    cmd = f".venv/bin/python bench/bench_cost.py --users {args.users} --trigger-seconds {args.trigger_seconds:g}"
    header = (f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()} x{os.cpu_count()} cores, demo data: "
              f"{args.users:,} users, 300 merchants, 1.5 transactions per user per day, 30 days + 12 h of stream "
              f"in {args.trigger_seconds:g} s micro-batches; prices us-east-1 on demand ${WRITE_PRICE_PER_M} per "
              f"million write units, ${READ_PRICE_PER_M} per million read units (since 2024-11), {HOURS_PER_MONTH} h "
              "a month; storage not included")
    print("\n" + header)
    width = max(len(a) for a, _ in rows)
    for a, b in rows:
        print(f"  {a:<{width}}  {b}")
    print(f"reproduce: {cmd}")
    if args.write_docs:
        from docs_section import replace_subsection

        replace_subsection("### Cost", [f"`{cmd}`, {header}.", "", "| measure | result |", "| --- | --- |",
                                        *[f"| {a} | {b} |" for a, b in rows], ""])


if __name__ == "__main__":
    main()

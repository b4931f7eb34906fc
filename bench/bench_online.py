"""Online store benchmark: publish throughput and read latency against the configured DynamoDB endpoint.

    .venv/bin/weir dev up            # the local DynamoDB-compatible server (or point WEIR_DYNAMODB_* at AWS)
    .venv/bin/python bench/bench_online.py [--items 2000] [--reads 200] [--write-docs]

Measures, on the same server and the same items (one entity = one ~1-2 KB item of tiles built by weir.compute):
1. writes: Weir's newest-wins conditional PutItem in parallel (``DynamoOnlineStore.write_items``) vs a plain
   sequential ``put_item`` loop (no condition), vs the Chronon-style alternative: BatchWriteItem (no condition)
   under a timestamped sort key, newest taken at read time with a Query per entity;
2. reads: p50/p99 for 1 and 100 entities via the SDK (``OnlineClient.get_features``, values merged at read
   time) and HTTP (FastAPI app in process, TestClient) vs raw boto3 GetItem / BatchGetItem (bytes only), and
   the Chronon-style Query-per-entity read.
Results print as a table; ``--write-docs`` replaces the "Online store" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import platform
import random
import sys
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from weir.aws import dynamodb_client
from weir.compute.py_agg import py_tile_from_rows
from weir.compute.windows import datetime_to_us, group_hops, tile_end
from weir.online.client import OnlineClient
from weir.online.codec import encode_tiles
from weir.online.store import DynamoOnlineStore, OnlineItem
from weir.runtime import build_config
from weir.spec import parse_spec_text

SPEC = """
name: bench_spend
entity: {name: user, keys: [user_id]}
source:
  delta: t
  event_time: event_ts
  columns: {user_id: string, merchant_id: string, amount: double, event_ts: timestamp}
features:
  - {name: txn_count, aggregation: count, windows: [1h, 1d, 7d]}
  - {name: txn_amount, aggregation: sum, column: amount, windows: [1d, 7d, 30d]}
  - {name: max_amount, aggregation: max, column: amount, windows: [7d]}
  - {name: last_merchant, aggregation: last, column: merchant_id}
online: {ttl: 30d}
"""
T = datetime(2026, 3, 5, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]


def make_items(n: int, run: datetime) -> list[OnlineItem]:
    group = parse_spec_text(SPEC)
    rnd = random.Random(1)
    out = []
    for i in range(n):
        rows = [{"user_id": f"u{i}", "merchant_id": f"m{rnd.randrange(50)}", "amount": round(rnd.uniform(1, 99), 2),
                 "event_ts": run - timedelta(seconds=rnd.randrange(20 * 86400))} for _ in range(12)]
        tiles = []
        for hop in group_hops(group):
            by_end: dict[int, list[dict[str, object]]] = {}
            for r in rows:
                by_end.setdefault(tile_end(datetime_to_us(r["event_ts"]), hop), []).append(r)  # type: ignore[arg-type]
            tiles += [py_tile_from_rows(group, rs, hop) for rs in by_end.values()]
        newest = max(datetime_to_us(r["event_ts"]) for r in rows)  # type: ignore[arg-type]
        out.append(OnlineItem(f"u{i}", newest, datetime_to_us(run), 1, newest // 1_000_000 + 30 * 86400,
                              encode_tiles(tiles)))
    return out


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000


def timed(fn: Callable[[], object], n: int) -> list[float]:
    fn()  # warm up
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=2000)
    ap.add_argument("--reads", type=int, default=200)
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()

    prefix = f"bench{uuid.uuid4().hex[:6]}_"
    config = build_config(dynamodb_table_prefix=prefix)
    client = dynamodb_client(config, max_attempts=1)
    store = DynamoOnlineStore(config)
    items = make_items(args.items, T)
    avg_bytes = sum(len(i.tiles) for i in items) / len(items)
    rows: list[tuple[str, str]] = []
    try:
        # ---- writes -----------------------------------------------------------------------------------
        stats = store.write_items("bench_spend", items)
        weir_rate = args.items / stats.seconds
        plain_table = store.ensure_table("bench_plain")
        t0 = time.perf_counter()
        for it in items:
            client.put_item(TableName=plain_table, Item=it.to_dynamo())
        plain_rate = args.items / (time.perf_counter() - t0)
        ts_table = f"{prefix}bench_ts"
        client.create_table(TableName=ts_table, BillingMode="PAY_PER_REQUEST",
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                  {"AttributeName": "sk", "AttributeType": "N"}],
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                       {"AttributeName": "sk", "KeyType": "RANGE"}])
        client.get_waiter("table_exists").wait(TableName=ts_table)
        t0 = time.perf_counter()
        for i in range(0, len(items), 25):
            req = {ts_table: [{"PutRequest": {"Item": {**it.to_dynamo(), "sk": {"N": str(it.newest_event_us)}}}}
                              for it in items[i:i + 25]]}
            while req:
                req = client.batch_write_item(RequestItems=req).get("UnprocessedItems") or {}
        batch_rate = args.items / (time.perf_counter() - t0)
        rows += [("write: Weir conditional PutItem, 12 threads", f"{weir_rate:,.0f} items/s"),
                 ("write: plain put_item loop (no condition)", f"{plain_rate:,.0f} items/s"),
                 ("write: BatchWriteItem + timestamped sort key", f"{batch_rate:,.0f} items/s"),
                 ("ratio Weir / plain loop", f"{weir_rate / plain_rate:.2f}x"),
                 ("ratio Weir / BatchWriteItem", f"{weir_rate / batch_rate:.2f}x")]

        # ---- reads ------------------------------------------------------------------------------------
        online = OnlineClient(config, groups=[parse_spec_text(SPEC)], store=store)
        from fastapi.testclient import TestClient

        from weir.online.server import create_app

        http = TestClient(create_app(config, client=online))
        table = store.table_name("bench_spend")
        rnd = random.Random(2)
        one = lambda: [f"u{rnd.randrange(args.items)}"]  # noqa: E731
        hundred = lambda: [f"u{i}" for i in rnd.sample(range(args.items), 100)]  # noqa: E731
        pool = ThreadPoolExecutor(max_workers=16)

        def query_newest(pk: str) -> object:
            return client.query(TableName=ts_table, KeyConditionExpression="pk = :p",
                                ExpressionAttributeValues={":p": {"S": pk}}, ScanIndexForward=False, Limit=1)

        cases: list[tuple[str, Callable[[], object]]] = [
            ("read 1: raw GetItem", lambda: client.get_item(TableName=table, Key={"pk": {"S": one()[0]}})),
            ("read 1: SDK get_features", lambda: online.get_features("bench_spend", one(), at=T)),
            ("read 1: HTTP POST /features", lambda: http.post(
                "/features", json={"features": ["bench_spend"], "entities": one(), "at": T.isoformat()})),
            ("read 1: Query newest (sort-key design)", lambda: query_newest(one()[0])),
            ("read 100: raw BatchGetItem", lambda: client.batch_get_item(
                RequestItems={table: {"Keys": [{"pk": {"S": k}} for k in hundred()]}})),
            ("read 100: SDK get_features", lambda: online.get_features("bench_spend", hundred(), at=T)),
            ("read 100: HTTP POST /features", lambda: http.post(
                "/features", json={"features": ["bench_spend"], "entities": hundred(), "at": T.isoformat()})),
            ("read 100: 100 Queries, 16 threads (sort-key)", lambda: list(pool.map(query_newest, hundred()))),
        ]
        p50: dict[str, float] = {}
        for name, fn in cases:
            samples = timed(fn, args.reads if "1:" in name else max(20, args.reads // 5))
            p50[name] = pct(samples, 0.5)
            rows.append((name, f"p50 {p50[name]:.2f} ms, p99 {pct(samples, 0.99):.2f} ms"))
        rows += [
            ("ratio SDK/raw, 1 entity", f"{p50['read 1: SDK get_features'] / p50['read 1: raw GetItem']:.2f}x"),
            ("ratio HTTP/raw, 1 entity", f"{p50['read 1: HTTP POST /features'] / p50['read 1: raw GetItem']:.2f}x"),
            ("ratio SDK/raw, 100 entities",
             f"{p50['read 100: SDK get_features'] / p50['read 100: raw BatchGetItem']:.2f}x"),
            ("ratio HTTP/raw, 100 entities",
             f"{p50['read 100: HTTP POST /features'] / p50['read 100: raw BatchGetItem']:.2f}x"),
        ]
        pool.shutdown()
    finally:
        for t in ("bench_spend", "bench_plain", "bench_ts"):
            store.drop_table(t)

    cmd = f".venv/bin/python bench/bench_online.py --items {args.items} --reads {args.reads}"
    header = (f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()} x{__import__('os').cpu_count()} cores, "
              f"endpoint {config.dynamodb_endpoint or 'AWS ' + config.dynamodb_region}, {args.items} items "
              f"of {avg_bytes:,.0f} B (compressed tiles)")
    print(header)
    width = max(len(r[0]) for r in rows)
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    print(f"reproduce: {cmd}")
    if args.write_docs:
        write_docs(header, rows, cmd)


def write_docs(header: str, rows: list[tuple[str, str]], cmd: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = ["## Online store", "", f"`{cmd}` (with `weir dev up`), {header}.", "",
               "| measurement | result |", "| --- | --- |", *[f"| {a} | {b} |" for a, b in rows], "",
               "The local server (moto) is single-process Python: absolute numbers are far below AWS and the "
               "write ratios mostly show client-side parallelism; rerun against AWS for capacity planning.",
               "Choice: conditional PutItem. BatchWriteItem under a timestamped sort key writes faster here "
               "(one request per 25 items to a single-threaded server), but it cannot enforce newest-wins at "
               "write time, its reads need a Query per entity (no BatchGetItem), several times slower for "
               "100 entities, and old versions pile up until cleaned. A daily publish is bounded by the "
               "entity count, not by request count, and on AWS parallel puts scale with threads.", ""]
    start = text.find("## Online store")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + "\n".join(section) + ("" if end < 0 else text[end + 1:])
    else:
        text = text.rstrip("\n") + "\n\n" + "\n".join(section)
    path.write_text(text)
    print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())

"""Online store benchmark: read latency of the SDK and the HTTP server against raw reads, on moto and dynalite.

    .venv/bin/python bench/bench_online.py [--users 2000] [--reads 200] [--servers moto,dynalite] [--write-docs]

Items: ``user_spend`` (``feature_specs/``) as it looks after 30 days of the demo's events plus 12 h of stream
micro-batches (``bench/online_items.py``, Weir's own writers), put on each server unconditionally. On each server,
in one run, p50 and p99 of:

* raw ``GetItem`` (1 entity) and ``BatchGetItem`` (100 entities) with boto3, bytes only: the baseline;
* the SDK, ``OnlineClient.get_features(["user_spend"], ...)`` (``BatchGetItem`` + decode + merge + finalize);
* HTTP, ``POST /features`` through the FastAPI app in process (``TestClient``: no socket, so the figure is the
  server's own work plus the SDK's), with the request timing middleware and metrics as deployed;

and the ratios to the baseline (the goal: <= 1.2x at p99). moto is started on the configured endpoint when
nothing answers there (and stopped after); dynalite runs privately (``weir.devstack.dynalite``). dynalite
reports ``ConsumedCapacity`` from item sizes: its figures are printed beside ``weir.online.capacity``'s for the
same puts and reads (moto reports a constant).
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from online_items import build_group, demo_events, shipped_groups

from weir.aws import dynamodb_client
from weir.compute.windows import us_to_datetime
from weir.online import schema as s
from weir.online.capacity import batch_read_units, item_size, write_units
from weir.online.client import OnlineClient
from weir.online.store import DynamoOnlineStore
from weir.runtime import RuntimeConfig, build_config

GROUP = "user_spend"


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def timed(fn: Callable[[], object], n: int) -> list[float]:
    for _ in range(3):
        fn()  # warm up
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def to_dynamo(item: dict[str, Any]) -> dict[str, Any]:
    """An item as ``get_items`` returns it -> DynamoDB's attribute-value form."""
    def value(v: Any) -> dict[str, Any]:
        if isinstance(v, bytes):
            return {"B": v}
        if isinstance(v, str):
            return {"S": v}
        if isinstance(v, dict):
            return {"M": {k: value(x) for k, x in v.items()}}
        return {"N": str(v)}

    return {k: value(v) for k, v in item.items()}


@contextmanager
def server(name: str, base: RuntimeConfig) -> Iterator[str]:
    """The endpoint of server ``name``: moto on the configured endpoint (started if needed), or a dynalite."""
    if name == "dynalite":
        from weir.devstack.dynalite import dynalite

        with dynalite(base.state_dir) as endpoint:
            yield endpoint
        return
    if name != "moto":
        raise SystemExit(f"--servers: unknown server {name!r}; use moto and/or dynalite")
    from weir.devstack.dynamodb import _dynamodb_answers, start_dynamodb
    from weir.process import stop_process

    try:
        _dynamodb_answers(base)
        yield base.dynamodb_endpoint
    except Exception:  # nothing answers: start one for this run
        start_dynamodb(base)
        try:
            yield base.dynamodb_endpoint
        finally:
            stop_process(base.state_dir / "dynamodb" / "dynamodb.pid")


def run_server(name: str, endpoint: str, items: dict[str, dict[str, Any]], t_us: int, reads: int,
               ) -> list[tuple[str, str]]:
    from fastapi.testclient import TestClient

    from weir.online.server import create_app

    group = next(g for g in shipped_groups() if g.name == GROUP)
    prefix = f"bench{os.getpid()}_"
    config = build_config(dynamodb_endpoint=endpoint, dynamodb_table_prefix=prefix)
    raw = dynamodb_client(config, max_attempts=1)
    store = DynamoOnlineStore(config)
    table = store.ensure_table(GROUP)
    rows: list[tuple[str, str]] = []
    try:
        put_units = 0.0
        for item in items.values():
            resp = raw.put_item(TableName=table, Item=to_dynamo(item), ReturnConsumedCapacity="TOTAL")
            put_units += float(resp.get("ConsumedCapacity", {}).get("CapacityUnits", 0))
        computed_put = sum(write_units(item_size(i)) for i in items.values())
        online = OnlineClient(config, groups=[group], store=store)
        http = TestClient(create_app(config, client=online))
        at = us_to_datetime(t_us).isoformat()
        pks = sorted(items)
        rnd = random.Random(2)
        projection = ", ".join(f"#a{i}" for i in range(len(s.READ_ATTRIBUTES) + 1))
        names = {f"#a{i}": a for i, a in enumerate((s.PK, *s.READ_ATTRIBUTES))}

        def one() -> list[str]:
            return [rnd.choice(pks)]

        def hundred() -> list[str]:
            return rnd.sample(pks, 100)

        def batch_get(keys: list[str], capacity: str = "NONE") -> Any:
            req: dict[str, Any] = {table: {"Keys": [{s.PK: {"S": k}} for k in keys],
                                           "ProjectionExpression": projection, "ExpressionAttributeNames": names}}
            out = raw.batch_get_item(RequestItems=req, ReturnConsumedCapacity=capacity)
            while out.get("UnprocessedKeys"):
                out = raw.batch_get_item(RequestItems=out["UnprocessedKeys"])
            return out

        def post(keys: list[str]) -> Any:
            resp = http.post("/features", json={"features": [GROUP], "entities": keys, "at": at})
            assert resp.status_code == 200, resp.text
            return resp

        sample = hundred()
        reported = batch_get(sample, "TOTAL").get("ConsumedCapacity", [{}])[0].get("CapacityUnits")
        computed_read = batch_read_units([item_size(items[k]) for k in sample])
        cases: list[tuple[str, Callable[[], object]]] = [
            ("read 1: raw GetItem", lambda: raw.get_item(
                TableName=table, Key={s.PK: {"S": one()[0]}}, ProjectionExpression=projection,
                ExpressionAttributeNames=names)),
            ("read 1: SDK get_features", lambda: online.get_features(GROUP, one(), at=at)),
            ("read 1: HTTP POST /features", lambda: post(one())),
            ("read 100: raw BatchGetItem", lambda: batch_get(hundred())),
            ("read 100: SDK get_features", lambda: online.get_features(GROUP, hundred(), at=at)),
            ("read 100: HTTP POST /features", lambda: post(hundred())),
        ]
        p50: dict[str, float] = {}
        p99: dict[str, float] = {}
        for case, fn in cases:
            samples = timed(fn, reads if "1:" in case else max(20, reads // 4))
            p50[case], p99[case] = pct(samples, 0.5), pct(samples, 0.99)
            rows.append((f"{name}, {case}", f"p50 {p50[case]:.2f} ms, p99 {p99[case]:.2f} ms"))
        for n, base_case in (("1", "read 1: raw GetItem"), ("100", "read 100: raw BatchGetItem")):
            for kind in ("SDK get_features", "HTTP POST /features"):
                case = f"read {n}: {kind}"
                ok = p99[case] / p99[base_case] <= 1.2
                rows.append((f"{name}, ratio {kind.split()[0]} / raw, {n} entit{'y' if n == '1' else 'ies'}",
                             f"p99 {p99[case] / p99[base_case]:.2f}x ({'met' if ok else 'not met'}), "
                             f"p50 {p50[case] / p50[base_case]:.2f}x"))
        rows += [
            (f"{name}, ConsumedCapacity reported: {len(items)} PutItem / BatchGetItem of 100",
             f"{put_units:,.1f} WCU / {reported} RCU"),
            (f"{name}, weir.online.capacity for the same calls",
             f"{computed_put:,} WCU / {computed_read:g} RCU"),
        ]
    finally:
        store.drop_table(GROUP)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--reads", type=int, default=200)
    ap.add_argument("--servers", default="moto,dynalite")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()

    group = next(g for g in shipped_groups() if g.name == GROUP)
    built = build_group(group, demo_events(args.users)["transactions"])
    items = built.items()
    sizes = sorted(item_size(i) for i in items.values())
    base = build_config()
    rows: list[tuple[str, str]] = []
    load_before = os.getloadavg()[0]
    for name in args.servers.split(","):
        with server(name, base) as endpoint:
            rows += run_server(name, endpoint, items, built.end_us, args.reads)
    load_after = os.getloadavg()[0]
    cmd = f".venv/bin/python bench/bench_online.py --users {args.users} --reads {args.reads} --servers {args.servers}"
    header = (f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()} x{os.cpu_count()} cores shared (load average "
              f"{load_before:.1f} before, {load_after:.1f} after), servers on loopback: {args.servers}; "
              f"{len(items):,} {GROUP} items (30 days of demo data + 12 h of stream), item size p50 "
              f"{sizes[len(sizes) // 2]:,} B, p99 {sizes[int(0.99 * len(sizes))]:,} B")
    print(header)
    width = max(len(a) for a, _ in rows)
    for a, b in rows:
        print(f"  {a:<{width}}  {b}")
    print(f"reproduce: {cmd}")
    if args.write_docs:
        from docs_section import replace_subsection

        replace_subsection("### Read latency", [f"`{cmd}`, {header}.", "", "| measurement | result |",
                                                "| --- | --- |", *[f"| {a} | {b} |" for a, b in rows], ""])


if __name__ == "__main__":
    sys.exit(main())

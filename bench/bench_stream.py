"""Streaming benchmark: sustained throughput and end-to-end freshness of a group's streaming job.

    .venv/bin/weir dev up
    .venv/bin/python bench/bench_stream.py [--rates 1000,5000] [--seconds 60] [--trigger-seconds 5,30]
                                           [--users 2000] [--backlog 100000] [--servers moto,dynalite]

One Spark session runs, per fixed rate R, the ``user_spend`` streaming job (``weir.stream.start_stream``, the
real job: parse, dead-letter/late checks, event-log append, tiles, DynamoDB merges, metrics) on a fresh topic
while a producer thread sends R events/s for ``--seconds`` with event time = send time. Freshness (event
produced -> value readable from DynamoDB) is measured two ways:

* every event: ``finished_at`` of the micro-batch that wrote it (its online puts are done by then; from the
  ``events/`` and ``_weir/stream_metrics`` Delta tables) minus its event time: p50/p99;
* a probe entity (one event every 0.25 s) polled in DynamoDB every 50 ms (consistent GetItem): the time its
  item's ``stream_newest_us`` first reaches each probe event: p50/p99, independent of Weir's own metrics.

Then the throughput ceiling: a backlog of ``--backlog`` events drained with available-now by the Weir job and,
side by side in the same session, by a baseline query that only parses the same records and appends them to
Delta (no tiles, no online merges): rows/s and the ratio Weir / baseline. ``--write-docs`` replaces the
"Streaming" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from weir.runtime import RuntimeConfig, build_config
from weir.spec import load_spec
from weir.spec.models import FeatureGroup

ROOT = Path(__file__).resolve().parents[1]
PROBE_USER = "probe-user"
PROBE_EVERY_S = 0.25
WARM_UP = "warm-up-"  # txn_id prefix of the warm-up events (not timed)


def now_us() -> int:
    return time.time_ns() // 1000


def iso(us: int) -> str:
    return datetime.fromtimestamp(us / 1e6, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def bench_group(topic: str) -> FeatureGroup:
    base = load_spec(ROOT / "feature_specs" / "user_spend.yaml")
    assert base.source.kafka is not None
    return base.model_copy(update={"source": base.source.model_copy(
        update={"kafka": base.source.kafka.model_copy(update={"topic": topic})})})


def event(i: int, user: str, ts_us: int, rnd: random.Random, prefix: str = "b") -> dict[str, Any]:
    return {"txn_id": f"{prefix}{i}", "user_id": user, "merchant_id": f"m{rnd.randrange(500)}",
            "merchant_category": "grocery", "amount": round(rnd.uniform(1, 400), 2),
            "status": "declined" if rnd.random() < 0.05 else "approved", "event_ts": iso(ts_us)}


@dataclass
class Producer:
    config: RuntimeConfig
    topic: str
    rate: float
    seconds: float
    users: int
    sent: int = 0
    probes: list[int] = field(default_factory=list)  # event times (us) of the probe entity's events
    achieved: float = 0.0

    def run(self) -> None:
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=self.config.kafka_bootstrap_servers.split(","), acks=1,
                                 linger_ms=5, batch_size=256 * 1024)
        rnd = random.Random(7)
        t0 = time.monotonic()
        next_probe = 0.0
        try:
            while (elapsed := time.monotonic() - t0) < self.seconds:
                due = int(elapsed * self.rate) + 1
                while self.sent < due:
                    user = f"u{rnd.randrange(self.users)}"
                    producer.send(self.topic, key=user.encode(),
                                  value=json.dumps(event(self.sent, user, now_us(), rnd)).encode())
                    self.sent += 1
                if elapsed >= next_probe:
                    ts = now_us()
                    producer.send(self.topic, key=PROBE_USER.encode(),
                                  value=json.dumps(event(-len(self.probes) - 1, PROBE_USER, ts, rnd)).encode())
                    self.probes.append(ts)
                    next_probe += PROBE_EVERY_S
                time.sleep(0.002)
            producer.flush(timeout=60)
        finally:
            producer.close(timeout=10)
        self.achieved = self.sent / max(1e-9, time.monotonic() - t0)


class ProbeReader:
    """Polls the probe entity's item; records when each stream_newest_us value was first seen."""

    def __init__(self, config: RuntimeConfig, table: str) -> None:
        from weir.aws import dynamodb_client

        self.client = dynamodb_client(config)
        self.table = table
        self.seen: list[tuple[int, int]] = []  # (stream_newest_us, seen at us)
        self.stop = threading.Event()

    def run(self) -> None:
        last = -1  # the pk of a one-key entity is its key value
        while not self.stop.is_set():
            try:
                resp = self.client.get_item(TableName=self.table, Key={"pk": {"S": PROBE_USER}},
                                            ConsistentRead=True, ProjectionExpression="stream_newest_us")
                item = resp.get("Item")
                if item:
                    newest = int(item["stream_newest_us"]["N"])
                    if newest != last:
                        self.seen.append((newest, now_us()))
                        last = newest
            except Exception:  # the table may not exist yet
                pass
            time.sleep(0.05)

    def freshness_s(self, probes: list[int]) -> list[float]:
        out = []
        for ts in probes:
            first = next((at for newest, at in self.seen if newest >= ts), None)
            if first is not None:
                out.append((first - ts) / 1e6)
        return out


@dataclass
class RateResult:
    rate: float
    achieved: float
    produced: int
    processed: int
    batches: int
    batch_p50: float
    batch_p99: float
    rows_per_s: float
    fresh_p50: float
    fresh_p99: float
    probe_p50: float
    probe_p99: float
    probes_seen: int
    probes_sent: int


def run_rate(spark: Any, base: RuntimeConfig, rate: float, seconds: float, trigger: float, users: int,
             max_catch_up_s: float) -> RateResult:
    from pyspark.sql import functions as F

    from weir.lake.paths import events_path, stream_metrics_path
    from weir.online.store import DynamoOnlineStore
    from weir.stream import StreamOptions, produce_records, start_stream

    run = uuid.uuid4().hex[:6]
    topic = f"bench-stream-{run}"
    group = bench_group(topic)
    config = build_config(**{**base.model_dump(), "lake_path": f"{base.lake}/bench-stream-{run}",
                             "checkpoint_path": f"{base.checkpoints}/bench-stream-{run}",
                             "dynamodb_table_prefix": f"bs{run}_"})
    store = DynamoOnlineStore(config)
    table = store.ensure_table(group.name)
    # warm up: the topic, the JVM's code paths and the table, then the timed run
    rnd = random.Random(1)
    produce_records(config, group, [event(i, f"u{i}", now_us(), rnd, WARM_UP) for i in range(50)])
    query, processor = start_stream(spark, group, config, StreamOptions(
        trigger_seconds=trigger, max_offsets_per_trigger=max(50_000, int(rate * trigger * 4))), store)
    try:
        while processor.last is None:
            if query.exception() is not None:
                raise RuntimeError(str(query.exception()))
            time.sleep(0.2)
        warm_batches = processor.last.batch_id
        probe = ProbeReader(config, table)
        producer = Producer(config, topic, rate, seconds, users)
        threads = [threading.Thread(target=probe.run, daemon=True), threading.Thread(target=producer.run)]
        print(f"rate {rate:,.0f}/s: producing for {seconds:.0f}s (trigger {trigger:g}s)", flush=True)
        for t in threads:
            t.start()
        threads[1].join()
        total = 50 + producer.sent + len(producer.probes)
        deadline = time.monotonic() + max_catch_up_s
        while time.monotonic() < deadline:
            done = spark.read.format("delta").load(stream_metrics_path(config)).agg(F.sum("input_rows")).collect()[0][0]
            if done is not None and int(done) >= total:
                break
            time.sleep(2)
        time.sleep(2 * trigger)
        probe.stop.set()
    finally:
        query.stop()

    metrics = spark.read.format("delta").load(stream_metrics_path(config)).where(F.col("batch_id") > warm_batches)
    events = spark.read.format("delta").load(events_path(config, group.name)).where(
        ~F.col("txn_id").startswith(WARM_UP))
    lat = (events.join(metrics.select("query_id", "batch_id", "finished_at"), ["query_id", "batch_id"])
           .select(((F.unix_micros("finished_at") - F.unix_micros("event_ts")) / 1e6).alias("s")))
    p50, p99, processed = lat.agg(F.percentile_approx("s", 0.5, 10000), F.percentile_approx("s", 0.99, 10000),
                                  F.count(F.lit(1))).collect()[0]
    m = metrics.select("seconds", "input_rows", "started_at", "finished_at").collect()
    durations = [r["seconds"] for r in m]
    span = (max(r["finished_at"] for r in m) - min(r["started_at"] for r in m)).total_seconds() if m else 0.0
    probe_fresh = probe.freshness_s(producer.probes)
    store.drop_table(group.name)
    return RateResult(rate, producer.achieved, producer.sent + len(producer.probes), int(processed), len(m),
                      pct(durations, 0.5), pct(durations, 0.99),
                      sum(r["input_rows"] for r in m) / span if span else 0.0, float(p50), float(p99),
                      pct(probe_fresh, 0.5), pct(probe_fresh, 0.99), len(probe_fresh), len(producer.probes))


def drain_backlog(spark: Any, base: RuntimeConfig, n: int, users: int) -> tuple[float, float, float]:
    """rows/s of the Weir job and of a parse-and-append baseline, draining the same ``n`` records."""
    from weir.online.store import DynamoOnlineStore
    from weir.stream import StreamOptions, produce_records, run_stream
    from weir.stream.job import kafka_reader
    from weir.stream.parse import REASON_COL, parse_records

    run = uuid.uuid4().hex[:6]
    group = bench_group(f"bench-backlog-{run}")
    config = build_config(**{**base.model_dump(), "lake_path": f"{base.lake}/bench-backlog-{run}",
                             "checkpoint_path": f"{base.checkpoints}/bench-backlog-{run}",
                             "dynamodb_table_prefix": f"bb{run}_"})
    rnd = random.Random(3)
    start = now_us() - n * 1000
    produce_records(config, group, (event(i, f"u{rnd.randrange(users)}", start + i * 1000, rnd) for i in range(n)))
    options = StreamOptions(available_now=True, max_offsets_per_trigger=50_000)

    t0 = time.perf_counter()
    base_path = f"{config.lake}/baseline_events"

    def append(df: Any, batch_id: int) -> None:
        parsed = parse_records(df, group)
        parsed.where(parsed[REASON_COL].isNull()).drop("value", "value_str").write.format("delta").mode(
            "append").save(base_path)

    q = (kafka_reader(spark, group, config, options).writeStream.foreachBatch(append)
         .option("checkpointLocation", f"{config.checkpoints}/baseline").trigger(availableNow=True).start())
    q.awaitTermination()
    baseline_s = time.perf_counter() - t0

    store = DynamoOnlineStore(config)
    t0 = time.perf_counter()
    run_stream(spark, group, config, options, store)
    weir_s = time.perf_counter() - t0
    store.drop_table(group.name)
    return n / weir_s, n / baseline_s, weir_s


def rate_rows(server: str, r: RateResult, trigger: float) -> list[tuple[str, str]]:
    goal = 2 * trigger + r.batch_p50
    k = f"{server}, trigger {trigger:g} s, {r.rate:,.0f}/s"
    return [
        (f"{k}: produced (achieved rate)", f"{r.produced:,} ({r.achieved:,.0f}/s)"),
        (f"{k}: processed, micro-batches", f"{r.processed:,} in {r.batches} batches, {r.rows_per_s:,.0f} rows/s"
         + ("" if r.processed >= r.produced else f"; {r.produced - r.processed:,} not processed (did not keep up)")),
        (f"{k}: micro-batch duration p50 / p99", f"{r.batch_p50:.2f} s / {r.batch_p99:.2f} s"),
        (f"{k}: freshness, every event, p50 / p99", f"{r.fresh_p50:.2f} s / {r.fresh_p99:.2f} s"),
        (f"{k}: freshness, DynamoDB probe, p50 / p99",
         f"{r.probe_p50:.2f} s / {r.probe_p99:.2f} s ({r.probes_seen}/{r.probes_sent} probes seen)"),
        (f"{k}: goal p99 < 2 x trigger + batch p50",
         f"{r.fresh_p99:.2f} s vs {goal:.2f} s: ratio {r.fresh_p99 / goal:.2f} "
         f"({'**met**' if r.fresh_p99 < goal else '**not met**'})"),
    ]


@contextmanager
def server_endpoint(name: str, base: RuntimeConfig) -> Iterator[str]:
    """The endpoint of DynamoDB-compatible server ``name``: the dev stack's moto, or a private dynalite."""
    if name == "moto":
        yield base.dynamodb_endpoint
    elif name == "dynalite":
        from weir.devstack.dynalite import dynalite

        with dynalite(base.state_dir) as endpoint:
            yield endpoint
    else:
        raise SystemExit(f"--servers: unknown server {name!r}; use moto and/or dynalite")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rates", default="1000,5000")
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--trigger-seconds", default="5,30", help="trigger intervals to run, comma-separated")
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--backlog", type=int, default=100_000)
    ap.add_argument("--servers", default="moto,dynalite",
                    help="DynamoDB-compatible servers to run against, side by side (moto = the dev stack's)")
    ap.add_argument("--max-catch-up", type=float, default=180.0,
                    help="seconds to wait after producing for the job to process everything (else: backlog left)")
    ap.add_argument("--write-docs", action="store_true")
    args = ap.parse_args()
    cmd = "python bench/bench_stream.py " + " ".join(sys.argv[1:])

    from weir.spark import get_spark

    base = build_config()
    spark = get_spark("weir-bench-stream", base)
    rows: list[tuple[str, str]] = []
    servers = args.servers.split(",")
    for server in servers:
        with server_endpoint(server, base) as endpoint:
            config = build_config(**{**base.model_dump(), "dynamodb_endpoint": endpoint})
            for trigger in (float(t) for t in args.trigger_seconds.split(",")):
                for r in args.rates.split(","):
                    result = run_rate(spark, config, float(r), args.seconds, trigger, args.users,
                                      args.max_catch_up)
                    print(server, f"trigger {trigger:g}s", result, flush=True)
                    rows += rate_rows(server, result, trigger)
            if not args.backlog:
                continue
            weir_rps, base_rps, weir_s = drain_backlog(spark, config, args.backlog, args.users)
            rows += [(f"{server}, backlog {args.backlog:,} events, available-now: Weir job",
                      f"{weir_rps:,.0f} rows/s ({weir_s:.1f} s)"),
                     (f"{server}, same backlog: parse + Delta append only (baseline)", f"{base_rps:,.0f} rows/s"),
                     (f"{server}, ratio Weir / baseline", f"{weir_rps / base_rps:.2f}x")]
    header = (f"{datetime.now(UTC):%Y-%m-%d}, {platform.machine()} x2 cores, Spark local[2], triggers "
              f"{args.trigger_seconds.replace(',', ', ')} s, {args.users:,} users, Kafka 4.1 KRaft, "
              f"DynamoDB-compatible servers on loopback: {', '.join(servers)}")
    width = max(len(a) for a, _ in rows)
    print(f"\n{header}\n" + "\n".join(f"{a:<{width}}  {b}" for a, b in rows) + f"\n\nreproduce: .venv/bin/{cmd}")
    if args.write_docs:
        write_docs(header, rows, cmd)
    spark.stop()


def write_docs(header: str, rows: list[tuple[str, str]], cmd: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text()
    section = "\n".join(["## Streaming", "", f"`.venv/bin/{cmd}` (with `weir dev up`), {header}.", "",
                         "| measurement | result |", "| --- | --- |", *[f"| {a} | {b} |" for a, b in rows], "", ""])
    start = text.find("## Streaming")
    if start < 0:
        text = text.rstrip() + "\n\n" + section
    else:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    path.write_text(text)


if __name__ == "__main__":
    main()

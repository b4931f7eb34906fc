"""Per-phase cost of one micro-batch of the streaming job (issue #15, "a micro-batch at the floor").

    .venv/bin/weir dev up
    .venv/bin/python bench/bench_microbatch.py [--rate 1000] [--seconds 60] [--trigger-seconds 5]
                                               [--users 2000] [--server moto|dynalite]

Runs the real ``user_spend`` streaming job (``weir.stream.start_stream``) on a fresh topic while a producer
sends ``--rate`` events/s for ``--seconds`` (event time = send time), then prints, per phase of the
micro-batch (``BatchProcessor.last_phases``: high-water mark, parse + stats, dead letters, late events, event-log
append, version lookup, tiles, online writes, metrics, total), the median and max seconds over the timed
batches, the batch count and the machine load (``uptime``). A short diagnostic run, not the freshness benchmark
(``bench/bench_stream.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
import uuid
from pathlib import Path

from weir.devstack.dynalite import dynamodb_server
from weir.runtime import RuntimeConfig, build_config
from weir.spec import load_spec
from weir.spec.models import FeatureGroup

ROOT = Path(__file__).resolve().parents[1]


def group_on(topic: str) -> FeatureGroup:
    base = load_spec(ROOT / "feature_specs" / "user_spend.yaml")
    assert base.source.kafka is not None
    return base.model_copy(update={"source": base.source.model_copy(
        update={"kafka": base.source.kafka.model_copy(update={"topic": topic})})})


def produce(config: RuntimeConfig, topic: str, rate: float, seconds: float, users: int) -> int:
    from datetime import UTC, datetime

    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=config.kafka_bootstrap_servers.split(","), acks=1, linger_ms=5)
    rnd = random.Random(7)
    sent, t0 = 0, time.monotonic()
    try:
        while (elapsed := time.monotonic() - t0) < seconds:
            while sent < int(elapsed * rate) + 1:
                user = f"u{rnd.randrange(users)}"
                ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                producer.send(topic, key=user.encode(), value=json.dumps({
                    "txn_id": f"t{sent}", "user_id": user, "merchant_id": f"m{rnd.randrange(500)}",
                    "merchant_category": "grocery", "amount": round(rnd.uniform(1, 400), 2),
                    "status": "approved", "event_ts": ts}).encode())
                sent += 1
            time.sleep(0.002)
        producer.flush(timeout=60)
    finally:
        producer.close(timeout=10)
    return sent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--trigger-seconds", type=float, default=5)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--server", choices=["moto", "dynalite"], default="moto")
    args = ap.parse_args()

    from weir.online.store import DynamoOnlineStore
    from weir.spark import get_spark
    from weir.stream import StreamOptions, produce_records, start_stream

    base = build_config()
    run = uuid.uuid4().hex[:6]
    with dynamodb_server(args.server, base) as url:
        config = build_config(**{**base.model_dump(), "dynamodb_endpoint": url,
                                 "lake_path": f"{base.lake}/bench-mb-{run}",
                                 "checkpoint_path": f"{base.checkpoints}/bench-mb-{run}",
                                 "dynamodb_table_prefix": f"mb{run}_"})
        spark = get_spark("weir-bench-microbatch", config)
        spark.sparkContext.setLogLevel("ERROR")
        group = group_on(f"bench-mb-{run}")
        produce_records(config, group, [{"txn_id": "warm", "user_id": "u0", "merchant_id": "m0",
                                         "merchant_category": "grocery", "amount": 1.0, "status": "approved",
                                         "event_ts": "2026-01-01T00:00:00Z"}])
        phases: list[dict[str, float]] = []
        query, processor = start_stream(spark, group, config, StreamOptions(trigger_seconds=args.trigger_seconds))
        processor.on_batch = lambda m: phases.append({**processor.last_phases, "rows": float(m.input_rows)})
        try:
            while not phases:
                if query.exception() is not None:
                    raise RuntimeError(str(query.exception()))
                time.sleep(0.2)
            warm = len(phases)
            sent = produce(config, f"bench-mb-{run}", args.rate, args.seconds, args.users)
            deadline = time.monotonic() + 300
            while sum(p["rows"] for p in phases[warm:]) < sent and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            query.stop()
            DynamoOnlineStore(config).drop_table(group.name)
    timed = phases[warm + 1:]  # the first timed batch still warms the JVM's code paths
    names = sorted({k for p in timed for k in p} - {"served_at"}, key=lambda k: (k == "total", k == "rows", k))
    print(f"{len(timed)} batches, {sent} events at {args.rate:,.0f}/s, trigger {args.trigger_seconds:g}s, "
          f"{args.server}; load: {os.getloadavg()}")
    print("| phase | median s | max s |\n| --- | --- | --- |")
    for k in names:
        vals = [p.get(k, 0.0) for p in timed]
        print(f"| {k} | {statistics.median(vals):.2f} | {max(vals):.2f} |")
    # seconds from the batch's start until its values are served (code before the online-first order wrote
    # online last, just before the metrics row: there it is the total minus the metrics step)
    served = [p.get("served_at", p["total"] - p.get("metrics", 0.0)) for p in timed]
    print(f"| served after (batch start -> online written) | {statistics.median(served):.2f} | {max(served):.2f} |")


if __name__ == "__main__":
    main()

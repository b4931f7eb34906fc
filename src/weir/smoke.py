"""A smoke pipeline over the real stack: produce to Kafka, read with Spark, write Delta, serve from DynamoDB."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

from weir.lake.paths import smoke_path
from weir.runtime import RuntimeConfig


def run_smoke(config: RuntimeConfig) -> Iterator[str]:
    """Run each step and yield a line per result; raise on the first failure."""
    from kafka import KafkaProducer
    from pyspark.sql import functions as F

    from weir.online.store import DynamoOnlineStore, OnlineItem
    from weir.spark import get_spark

    run_id = uuid.uuid4().hex[:8]
    topic = f"weir_smoke_{run_id}"
    producer = KafkaProducer(bootstrap_servers=config.kafka_bootstrap_servers,
                             value_serializer=lambda v: json.dumps(v).encode())
    for i in range(3):
        producer.send(topic, {"user_id": f"u{i}", "amount": 10.0 * (i + 1)})
    producer.flush()
    producer.close()
    yield f"kafka: produced 3 messages to {topic} at {config.kafka_bootstrap_servers}"

    spark = get_spark("weir-smoke", config)
    raw = (spark.read.format("kafka").option("kafka.bootstrap.servers", config.kafka_bootstrap_servers)
           .option("subscribe", topic).option("startingOffsets", "earliest").load())
    events = raw.select(F.from_json(F.col("value").cast("string"), "user_id STRING, amount DOUBLE").alias("e")) \
        .select("e.*")
    rows = sorted(events.collect(), key=lambda r: r.user_id)
    if len(rows) != 3:
        raise RuntimeError(f"expected 3 messages back from Kafka through Spark, got {len(rows)}")
    yield f"spark: read {len(rows)} messages back through the Kafka source"

    path = smoke_path(config, run_id)
    events.write.format("delta").save(path)
    events.limit(1).write.format("delta").mode("append").save(path)
    v0 = spark.read.format("delta").option("versionAsOf", 0).load(path).count()
    v1 = spark.read.format("delta").load(path).count()
    if (v0, v1) != (3, 4):
        raise RuntimeError(f"Delta time travel: expected 3 rows at version 0 and 4 now, got {v0} and {v1}")
    yield f"delta: wrote {path}, appended; version 0 has {v0} rows, latest {v1}"

    store = DynamoOnlineStore(config)
    table = store.ensure_table("smoke")
    started = time.perf_counter()
    total = sum(r.amount for r in rows)
    now_us = time.time_ns() // 1000
    store.write_items("smoke", [OnlineItem(run_id, now_us, now_us, v1, now_us // 1_000_000 + 3600,
                                           repr(total).encode())])
    item = store.get_items("smoke", [run_id], consistent=True).get(run_id)
    if item is None or float(item["tiles"].decode()) != 60.0:
        raise RuntimeError(f"the online store returned {item} for {run_id} in {table}")
    yield (f"dynamodb: put and got item {run_id} (total 60.0) in {table} at {config.dynamodb_endpoint or 'AWS'} "
           f"in {1000 * (time.perf_counter() - started):.1f} ms")

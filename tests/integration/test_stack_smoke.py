"""Each real part of the local stack, proven end to end: Kafka via Spark, Delta time travel, DynamoDB."""

from __future__ import annotations

import json
import uuid

import pytest

from weir.runtime import RuntimeConfig

pytestmark = pytest.mark.integration


def test_message_produced_with_kafka_python_is_read_back_through_spark(stack: RuntimeConfig, spark) -> None:  # type: ignore[no-untyped-def]
    from kafka import KafkaProducer
    from pyspark.sql import functions as F

    topic = f"smoke_{uuid.uuid4().hex[:8]}"
    producer = KafkaProducer(bootstrap_servers=stack.kafka_bootstrap_servers,
                             value_serializer=lambda v: json.dumps(v).encode(), key_serializer=str.encode)
    sent = [{"user_id": f"u{i}", "amount": i * 1.5} for i in range(5)]
    for event in sent:
        producer.send(topic, key=event["user_id"], value=event)
    producer.flush()
    producer.close()

    df = (spark.read.format("kafka").option("kafka.bootstrap.servers", stack.kafka_bootstrap_servers)
          .option("subscribe", topic).option("startingOffsets", "earliest").load())
    got = [json.loads(r.value) for r in df.select(F.col("value").cast("string")).collect()]
    assert sorted(got, key=lambda e: e["user_id"]) == sent


def test_delta_table_written_appended_and_read_at_an_older_version(spark, weir_config: RuntimeConfig) -> None:  # type: ignore[no-untyped-def]
    path = weir_config.table_path(f"smoke/{uuid.uuid4().hex[:8]}")
    spark.createDataFrame([(1, "a"), (2, "b")], "id INT, v STRING").write.format("delta").save(path)
    spark.createDataFrame([(3, "c")], "id INT, v STRING").write.format("delta").mode("append").save(path)
    old = {r.id for r in spark.read.format("delta").option("versionAsOf", 0).load(path).collect()}
    new = {r.id for r in spark.read.format("delta").load(path).collect()}
    assert old == {1, 2}
    assert new == {1, 2, 3}
    from delta.tables import DeltaTable

    history = DeltaTable.forPath(spark, path).history().select("version", "operation").collect()
    assert sorted(r.version for r in history) == [0, 1]


def test_item_written_and_read_back_through_boto3_at_the_configured_endpoint(stack: RuntimeConfig) -> None:
    from weir.aws import dynamodb_client

    client = dynamodb_client(stack)
    assert client.meta.endpoint_url.rstrip("/") == stack.dynamodb_endpoint.rstrip("/")
    table = f"{stack.dynamodb_table_prefix}smoke_{uuid.uuid4().hex[:6]}"
    client.create_table(TableName=table, BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    client.put_item(TableName=table, Item={"pk": {"S": "u1"}, "n": {"N": "42"}})
    item = client.get_item(TableName=table, Key={"pk": {"S": "u1"}}, ConsistentRead=True)["Item"]
    assert item == {"pk": {"S": "u1"}, "n": {"N": "42"}}
    client.delete_table(TableName=table)


def test_dev_status_reports_running_services(stack: RuntimeConfig) -> None:
    from weir.devstack import stack_status

    status = {s.name: s for s in stack_status(stack)}
    assert status["kafka"].running and status["dynamodb"].running
    assert status["kafka"].endpoint == stack.kafka_bootstrap_servers

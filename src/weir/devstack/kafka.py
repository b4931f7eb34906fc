"""A single-node Apache Kafka broker in KRaft mode on loopback, its jars fetched from Maven Central by Maven."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

from weir.process import DevStackError, port_in_use, read_pid, start_and_wait
from weir.runtime import RuntimeConfig

POM = Path(__file__).with_name("kafka-pom.xml")
LOG4J = Path(__file__).with_name("log4j2.yaml")
MIN_JAVA = 17


def kafka_dir(config: RuntimeConfig) -> Path:
    return config.state_dir / "kafka"


def jars_dir(config: RuntimeConfig) -> Path:
    return config.state_dir / "jars" / "kafka"


def java_binary() -> str:
    """The java to run the broker with, checked to be >= 17 (Kafka 4 needs it)."""
    import os

    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise DevStackError("Java not found: install a JDK >= 17 (apt-get install openjdk-17-jre-headless) "
                            "or set JAVA_HOME")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise DevStackError(f"Java {major or '?'} at {java} is too old: Kafka 4 needs Java >= {MIN_JAVA}; "
                            "set JAVA_HOME to a newer JDK")
    return java


def ensure_jars(config: RuntimeConfig) -> Path:
    """Fetch the broker's jars into the state dir once (Maven resolves them from Maven Central)."""
    target = jars_dir(config)
    if list(target.glob("kafka_2.13-*.jar")):
        return target
    mvn = shutil.which("mvn")
    if not mvn:
        raise DevStackError("Maven (mvn) not found: it fetches the Kafka broker jars once. "
                            "Install it (apt-get install maven) and rerun `weir dev up`.")
    partial = target.with_name("kafka.partial")
    shutil.rmtree(partial, ignore_errors=True)
    cmd = [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies", "-DincludeScope=runtime",
           f"-DoutputDirectory={partial}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise DevStackError("downloading the Kafka broker jars from Maven Central failed "
                            f"(`{' '.join(cmd)}`):\n{(proc.stdout + proc.stderr)[-2000:]}\n"
                            "Check the network or the Maven mirror in ~/.m2/settings.xml, then rerun.")
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def server_properties(config: RuntimeConfig) -> str:
    port, controller = config.kafka_port, config.kafka_controller_port
    data = kafka_dir(config) / "data"
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller}",
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={data}",
        "num.partitions=2",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=4",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=true",
        "log.retention.hours=168",
        "",
    ])


def start_kafka(config: RuntimeConfig) -> int:
    """Start the broker (formatting its storage on first use); return its pid once it answers."""
    home = kafka_dir(config)
    pid_file, log_file = home / "kafka.pid", home / "kafka.log"
    running = read_pid(pid_file)
    if running:
        return running
    for port, var in ((config.kafka_port, "WEIR_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:PORT"),
                      (config.kafka_controller_port, "WEIR_KAFKA_CONTROLLER_PORT")):
        if port_in_use(port):
            raise DevStackError(f"port {port} is already taken (Kafka needs it): stop what uses it "
                                f"(`ss -ltnp | grep {port}`) or move Kafka with {var}")
    java = java_binary()
    jars = ensure_jars(config)
    home.mkdir(parents=True, exist_ok=True)
    props = home / "server.properties"
    props.write_text(server_properties(config))
    classpath = f"{jars}/*"
    if not (home / "data" / "meta.properties").exists():
        fmt = subprocess.run(
            [java, "-cp", classpath, "kafka.tools.StorageTool", "format", "-t", _cluster_id(), "-c", str(props)],
            capture_output=True, text=True, check=False,
        )
        if fmt.returncode != 0:
            raise DevStackError(f"formatting Kafka storage in {home / 'data'} failed:\n{fmt.stdout}{fmt.stderr}")
    cmd = [java, "-Xms256m", "-Xmx768m", "-XX:+UseG1GC", f"-Dlog4j2.configurationFile={LOG4J}",
           "-Dkafka.logs.dir=" + str(home / "logs"), "-cp", classpath, "kafka.Kafka", str(props)]
    return start_and_wait(cmd, pid_file, log_file, lambda: _broker_answers(config), 90, "Kafka broker")


def _cluster_id(new: Callable[[], uuid.UUID] = uuid.uuid4) -> str:
    """A KRaft cluster id: a random UUID in URL-safe base64. Never one that starts with ``-``, as Kafka's own
    ``Uuid.randomUuid`` (1 in 64 would: the storage tool would read it as an option and refuse to format)."""
    import base64

    while True:
        text = base64.urlsafe_b64encode(new().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _broker_answers(config: RuntimeConfig) -> bool:
    if not port_in_use(config.kafka_port):
        return False
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=config.kafka_bootstrap_servers, request_timeout_ms=3000,
                             client_id="weir-dev-health")
    try:
        admin.list_topics()
        return True
    finally:
        admin.close()

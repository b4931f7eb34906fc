"""The demo's flagship: a live stream, and a served value changing seconds after its events.

The group's streaming query runs on a short trigger in the demo's own Spark session; a few transactions of one
customer go to the group's Kafka topic, one at a time, and after each the SDK is polled until the served value
counts it. What is printed is what a caller of the online API sees: event sent -> value changed, in seconds.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from weir.runtime import RuntimeConfig

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from weir.online.client import OnlineClient

Echo = Callable[[str], None]

GROUP = "user_spend"
FEATURE = "txn_count_1h"


@dataclass(frozen=True)
class LiveSettings:
    user: str = "u000001"
    events: int = 3
    trigger_seconds: float = 0.5
    warm_up_timeout_s: float = 300.0  # the query's first batch pays the JVM's warm-up
    timeout_s: float = 60.0  # per event: how long to wait for the served value to change


def _served(client: OnlineClient, user: str) -> int:
    (row,) = client.get_features([f"{GROUP}:{FEATURE}"], [user])
    return int(row.values[FEATURE] or 0)


def _send(config: RuntimeConfig, user: str, amount: float) -> None:
    from weir.spec.loader import as_group
    from weir.stream.producer import produce_records

    event = {"txn_id": f"demo-live-{uuid.uuid4().hex}", "user_id": user, "merchant_id": "m000001",
             "merchant_category": "grocery", "amount": amount, "status": "approved",
             "event_ts": datetime.now(UTC)}
    produce_records(config, as_group(GROUP, config.specs_dir), [event])


def _wait_for(client: OnlineClient, user: str, above: int, timeout_s: float) -> tuple[int, float] | None:
    """Poll the SDK every 100 ms until the served value exceeds ``above``: (value, seconds) or None."""
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        value = _served(client, user)
        if value > above:
            return value, time.monotonic() - began
        time.sleep(0.1)
    return None


def run_live(spark: SparkSession, config: RuntimeConfig, settings: LiveSettings = LiveSettings(),
             echo: Echo = print) -> list[float]:
    """Start the stream, send ``settings.events`` transactions, print each one's time to a changed value.

    Returns the seconds from each send to the changed served value (the demo's freshness, as a caller sees it).
    """
    from weir.online.client import OnlineClient
    from weir.stream.job import StreamOptions, run_stream

    client = OnlineClient(config)
    options = StreamOptions(trigger_seconds=settings.trigger_seconds)
    # run_stream (not start_stream): it restarts the query after Spark's SPARK-55271 on a resumed checkpoint
    runner = threading.Thread(target=run_stream, args=(spark, GROUP, config, options), daemon=True,
                              name="weir-demo-stream")
    runner.start()
    seconds: list[float] = []
    try:
        before = _served(client, settings.user)
        echo(f"   stream {GROUP} started (trigger {settings.trigger_seconds}s); {settings.user} "
             f"{FEATURE} = {before} now")
        _send(config, settings.user, 12.5)  # the first batch pays the query's warm-up: not timed
        seen = _wait_for(client, settings.user, before, settings.warm_up_timeout_s)
        if seen is None:
            raise RuntimeError(f"the stream did not update {settings.user} within {settings.warm_up_timeout_s}s: "
                               f"see `weir stream {GROUP}` output and `weir deadletters list {GROUP}`")
        before = seen[0]
        echo(f"   warm-up event served ({FEATURE} = {before}, after {seen[1]:.1f}s incl. query start)")
        for i in range(settings.events):
            _send(config, settings.user, 20.0 + i)
            seen = _wait_for(client, settings.user, before, settings.timeout_s)
            if seen is None:
                echo(f"   event {i + 1}: not served within {settings.timeout_s}s")
                continue
            before, took = seen
            seconds.append(took)
            echo(f"   event {i + 1} sent -> served {FEATURE} = {before} after {took:.1f}s")
    finally:
        _stop(spark, runner)
    return seconds


def _stop(spark: SparkSession, runner: threading.Thread, timeout_s: float = 60.0) -> None:
    """Stop the group's query when no batch is running (a stop that interrupts a batch makes Spark log a long,
    harmless trace), again if ``run_stream`` restarted it meanwhile, until the runner thread ends."""
    name = f"weir_stream_{GROUP}"
    began = time.monotonic()
    while runner.is_alive() and time.monotonic() - began < timeout_s:
        for query in spark.streams.active:
            if query.name == name and not query.status.get("isTriggerActive"):
                query.stop()
        runner.join(0.05)

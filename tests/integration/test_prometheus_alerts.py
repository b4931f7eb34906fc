"""On call, end to end: a real Prometheus (Debian's package) scrapes a running feature server and streaming job
on loopback, sees their metrics, and fires ``WeirStreamDown`` when the test stalls the stream; a headless
Chromium saves a screenshot of Prometheus's alerts page with the firing alert."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from weir.process import free_port
from weir.runtime import RuntimeConfig, build_config
from weir.spec import parse_spec_text
from weir.spec.models import FeatureGroup

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "prometheus_ui"
SPEC = """
name: prom_stream
entity: {{name: user, keys: [user_id]}}
source:
  delta: unused_source
  kafka: {{topic: {topic}}}
  event_time: event_ts
  columns: {{user_id: string, amount: double, event_ts: timestamp}}
features:
  - {{name: txn_count, aggregation: count, windows: [1h]}}
  - {{name: txn_amount, aggregation: sum, column: amount, windows: [1h]}}
online: {{ttl: 1d, freshness_slo: 10m}}
"""
USERS = ["p1", "p2", "p3"]
N_EVENTS = 24


@dataclass
class Observed:
    config: RuntimeConfig
    group: FeatureGroup
    serve_url: str
    stall: Callable[[], None]


def wait_for(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:  # keep polling; the last error goes into the failure
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(1)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}; last: {last!r}")


def query(config: RuntimeConfig, promql: str) -> dict[str, float]:
    """An instant query: ``{job/label text: value}`` (one entry per series)."""
    from urllib.parse import quote

    from weir.devstack.prometheus import prometheus_api

    data = prometheus_api(config, f"query?query={quote(promql)}")
    return {str(r["metric"]): float(r["value"][1]) for r in data["result"]}


def firing(config: RuntimeConfig, alert: str) -> list[dict[str, Any]]:
    from weir.devstack.prometheus import prometheus_api

    return [a for a in prometheus_api(config, "alerts")["alerts"]
            if a["labels"]["alertname"] == alert and a["state"] == "firing"]


@pytest.fixture(scope="module")
def observed(stack: RuntimeConfig, spark: Any, lake_dir: Path) -> Iterator[Observed]:
    if shutil.which("prometheus") is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus is missing: .ci/run installs Debian's prometheus package")
        pytest.skip("prometheus not installed (apt-get install prometheus)")
    from weir import metrics
    from weir.devstack.prometheus import start_prometheus, stop_prometheus
    from weir.stream import StreamOptions, produce_records
    from weir.stream.job import start_stream
    from weir.stream.monitor import StreamMonitor, active_query_progress

    run = uuid.uuid4().hex[:8]
    config = build_config(lake_path=str(lake_dir / f"prom-{run}"), checkpoint_path=str(lake_dir / f"prom-ck-{run}"),
                          dynamodb_table_prefix=f"pr{run}_", state_dir=str(lake_dir / f"prom-state-{run}"),
                          prometheus_port=free_port())
    group = parse_spec_text(SPEC.format(topic=f"weir-test-prom-{run}"))
    assert group.source.kafka is not None

    # `weir serve` in its own process (its own metrics registry, as in production), reading the test's spec
    specs = lake_dir / f"prom-specs-{run}"
    specs.mkdir()
    (specs / "prom_stream.yaml").write_text(SPEC.format(topic=group.source.kafka.topic))
    serve_port, metrics_port = free_port(), free_port()
    server = subprocess.Popen([str(Path(sys.executable).parent / "weir"), "serve", "--port", str(serve_port)],
                              env={**os.environ, **config.env(), "WEIR_SPECS_DIR": str(specs)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_for(lambda: httpx.get(f"http://127.0.0.1:{serve_port}/healthz").status_code == 200, 60,
             "the feature server")
    stop_metrics = metrics.start_metrics_server(metrics_port)

    query_obj, processor = start_stream(spark, group, config, StreamOptions(trigger_seconds=1))
    processor.on_batch = metrics.record_stream_batch  # as `weir stream --metrics-port` wires it
    metrics.declare_slos([group])
    monitor = StreamMonitor(config, group.name, group.source.kafka.topic,
                            active_query_progress(spark, f"weir_stream_{group.name}"), interval_s=1).start()
    start_prometheus(config, {"weir-serve": [f"127.0.0.1:{serve_port}"],
                              "weir-stream": [f"127.0.0.1:{metrics_port}"]}, interval_s=1)
    now = datetime.now(UTC).replace(tzinfo=None)
    events = [{"user_id": USERS[i % 3], "amount": float(i), "event_ts": (now - timedelta(seconds=N_EVENTS - i))
               .strftime("%Y-%m-%dT%H:%M:%S.%fZ")} for i in range(N_EVENTS)]
    produce_records(config, group, events)
    try:
        yield Observed(config, group, f"http://127.0.0.1:{serve_port}", query_obj.stop)
    finally:
        monitor.stop()
        if query_obj.isActive:
            query_obj.stop()
        server.terminate()
        server.wait(timeout=30)
        stop_metrics()
        stop_prometheus(config)


def test_prometheus_scrapes_serve_and_stream_then_fires_when_the_stream_stalls(observed: Observed) -> None:
    config, g = observed.config, observed.group
    sel = f'{{group="{g.name}", job="weir-stream"}}'
    served = f'{{group="{g.name}", job="weir-serve"}}'
    # the stream applied every produced event (the oracle: what the test produced) and Prometheus scraped it
    wait_for(lambda: sum(query(config, f"weir_stream_input_rows_total{sel}").values()) == N_EVENTS, 400,
             f"Prometheus to see {N_EVENTS} input rows of the stream")
    wait_for(lambda: query(config, f"weir_stream_consumer_lag{sel}") and
             sum(query(config, f"weir_stream_consumer_lag{sel}").values()) == 0, 60, "lag 0 once all is read")
    assert sum(query(config, f"weir_stream_entities_written_total{sel}").values()) >= len(USERS)
    # declared by both the server and the stream (waited for: on a loaded machine a 1 s scrape can time out,
    # and the target's series are missing until its next scrape)
    slo = f'weir_group_freshness_slo_seconds{{group="{g.name}"}}'
    wait_for(lambda: sorted(query(config, slo).values()) == [600, 600], 60, "both targets' freshness SLO series")

    # three reads of all users through the HTTP server: entities counted per group, none defaulted
    for _ in range(3):
        resp = httpx.post(f"{observed.serve_url}/features", json={"features": [g.name], "entities": USERS})
        assert resp.status_code == 200, resp.text
        assert all(r["groups"][g.name]["found"] for r in resp.json()["results"])
    wait_for(lambda: sum(query(config, f"weir_serve_entities_total{served}").values()) == 3 * len(USERS), 30,
             "Prometheus to see the served entities")
    assert not query(config, f"weir_serve_defaults_total{served}")
    assert query(config, 'weir_serve_request_seconds_count{route="/features"}')
    wait_for(lambda: query(config, "up == 1") and not query(config, "up == 0"), 30, "every target up")
    assert not firing(config, "WeirStreamDown")

    observed.stall()  # the query stops; the job's process (and its metrics endpoint) stays up
    alerts = wait_for(lambda: firing(config, "WeirStreamDown"), 90, "WeirStreamDown to fire")
    assert [a["labels"].get("group") for a in alerts] == [g.name]
    assert alerts[0]["annotations"]["runbook"] == "docs/runbook.md#weirstreamdown"


def test_prometheus_alerts_page_shows_the_firing_alert(observed: Observed, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    from weir.devstack.prometheus import alerts_page

    wait_for(lambda: firing(observed.config, "WeirStreamDown"), 90, "WeirStreamDown to fire")
    browser.get(alerts_page(observed.config))
    body = wait_for(lambda: "WeirStreamDown (1 active)" in (t := browser.find_element(By.TAG_NAME, "body").text)
                    and t, 30, "the alerts page to list WeirStreamDown as firing")
    assert "Firing (1)" in body
    assert "WeirFreshnessSLOBreached (0 active)" in body  # every shipped rule is loaded, the others quiet
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "alerts_firing.png"
    browser.save_screenshot(str(path))
    assert path.stat().st_size > 10_000

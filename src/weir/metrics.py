"""Every Prometheus metric Weir exports, declared once, with the helpers that record them.

Three kinds of process export them, each the way the ecosystem scrapes it:

* ``weir serve``: on its own HTTP port at ``/metrics`` (:func:`serve_metrics_app`);
* the streaming job: an exposition server on ``--metrics-port`` (:func:`start_metrics_server`), fed by
  :func:`record_stream_batch` after every micro-batch and by :class:`weir.stream.monitor.StreamMonitor`;
* short-lived batch steps (compute, validate, publish): they finish before a scrape, so
  :func:`export_job_metrics` writes a textfile for node_exporter's textfile collector (``<state>/metrics``) and,
  when ``WEIR_PUSHGATEWAY_URL`` is set, pushes the same samples to a Pushgateway.

Metric names are the contract with ``ops/prometheus/weir-alerts.yml``; change them together.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    make_asgi_app,
    push_to_gateway,
    start_http_server,
    write_to_textfile,
)

if TYPE_CHECKING:
    from weir.online.client import EntityFeatures
    from weir.runtime import RuntimeConfig
    from weir.spec.models import FeatureGroup
    from weir.stream.job import BatchMetrics

REGISTRY = CollectorRegistry(auto_describe=True)
"""The registry of long-running processes (serve, stream); job metrics use a fresh one per export."""

# ------------------------------------------------------------------------------------------- serving
SERVE_LATENCY = Histogram(
    "weir_serve_request_seconds", "Wall time of one feature-server request", ["route"], registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
SERVE_ERRORS = Counter("weir_serve_errors_total", "Requests answered with an error, by kind", ["kind"],
                       registry=REGISTRY)
SERVE_ENTITIES = Counter("weir_serve_entities_total", "Entities served", ["group"], registry=REGISTRY)
SERVE_STALE = Counter("weir_serve_stale_total",
                      "Entity values served older than the group's freshness_slo", ["group"], registry=REGISTRY)
SERVE_DEFAULTS = Counter("weir_serve_defaults_total",
                         "Entities served the group's defaults (no item, or expired by the TTL)", ["group"],
                         registry=REGISTRY)

# ----------------------------------------------------------------------------------------- streaming
STREAM_BATCH_SECONDS = Histogram(
    "weir_stream_batch_seconds", "Wall time of one micro-batch", ["group"], registry=REGISTRY,
    buckets=(0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0))
STREAM_INPUT_ROWS = Counter("weir_stream_input_rows_total", "Kafka records read", ["group"], registry=REGISTRY)
STREAM_ROWS_PER_S = Gauge("weir_stream_rows_per_second", "Input rows per second of the last micro-batch",
                          ["group"], registry=REGISTRY)
STREAM_DEAD_LETTERED = Counter("weir_stream_deadlettered_total", "Records written to the dead-letter table",
                               ["group"], registry=REGISTRY)
STREAM_LATE = Counter("weir_stream_late_total", "Events older than the high-water mark minus allowed lateness",
                      ["group"], registry=REGISTRY)
STREAM_ENTITIES = Counter("weir_stream_entities_written_total", "Online items updated", ["group"],
                          registry=REGISTRY)
STREAM_REPLAYED = Counter("weir_stream_replayed_skipped_total",
                          "Online items left alone because the micro-batch was already applied (a replay)",
                          ["group"], registry=REGISTRY)
STREAM_FRESHNESS = Gauge("weir_stream_freshness_seconds",
                         "End of the last micro-batch minus the newest event it wrote online", ["group"],
                         registry=REGISTRY)
STREAM_LAST_BATCH = Gauge("weir_stream_last_batch_timestamp_seconds", "When the last micro-batch finished",
                          ["group"], registry=REGISTRY)
STREAM_UP = Gauge("weir_stream_up", "1 while the group's streaming query is active, else 0", ["group"],
                  registry=REGISTRY)
STREAM_LAG = Gauge("weir_stream_consumer_lag", "Kafka end offset minus the offset the query has processed",
                   ["group", "topic", "partition"], registry=REGISTRY)
FRESHNESS_SLO = Gauge("weir_group_freshness_slo_seconds", "The group's declared freshness_slo", ["group"],
                      registry=REGISTRY)


def declare_slos(groups: Iterable[FeatureGroup]) -> None:
    """Export each group's ``online.freshness_slo`` so alert rules compare freshness against it per group."""
    for g in groups:
        slo_us = g.online.freshness_slo_us
        if slo_us is not None:
            FRESHNESS_SLO.labels(g.name).set(slo_us / 1e6)


def record_served(results: Iterable[EntityFeatures]) -> None:
    """Count one response's entities, stale values and defaults per group."""
    for entity in results:
        for name, g in entity.groups.items():
            SERVE_ENTITIES.labels(name).inc()
            if not g.found:
                SERVE_DEFAULTS.labels(name).inc()
            elif g.stale:
                SERVE_STALE.labels(name).inc()


def record_stream_batch(m: BatchMetrics) -> None:
    """One finished micro-batch of the streaming job."""
    g = m.group
    STREAM_BATCH_SECONDS.labels(g).observe(m.seconds)
    STREAM_INPUT_ROWS.labels(g).inc(m.input_rows)
    STREAM_ROWS_PER_S.labels(g).set(m.rows_per_s)
    STREAM_DEAD_LETTERED.labels(g).inc(m.dead_lettered)
    STREAM_LATE.labels(g).inc(m.late)
    STREAM_ENTITIES.labels(g).inc(m.entities_written)
    STREAM_REPLAYED.labels(g).inc(m.entities_skipped_replay)
    STREAM_LAST_BATCH.labels(g).set(m.finished_at.timestamp())
    if m.freshness_s is not None:
        STREAM_FRESHNESS.labels(g).set(m.freshness_s)


def serve_metrics_app():  # type: ignore[no-untyped-def]
    """The ASGI app that renders :data:`REGISTRY` (mounted at ``/metrics`` by the feature server)."""
    return make_asgi_app(registry=REGISTRY)


def start_metrics_server(port: int, host: str = "127.0.0.1") -> Callable[[], None]:
    """Expose :data:`REGISTRY` on ``http://host:port/metrics`` from a daemon thread (the streaming job); returns
    the function that stops it."""
    server, thread = start_http_server(port, addr=host, registry=REGISTRY)

    def stop() -> None:
        server.shutdown()
        thread.join(timeout=5)

    return stop


# -------------------------------------------------------------------------------------- batch steps
def textfile_dir(config: RuntimeConfig) -> Path:
    """Where batch steps write their ``.prom`` files (node_exporter's textfile collector reads them)."""
    return Path(config.path_setting("metrics_textfile_dir"))


def export_job_metrics(step: str, group: str, values: Mapping[str, float], success: bool, finished_at: float,
                       textfile_dir: Path, pushgateway: str | None = None) -> Path:
    """Write one batch step's outcome as gauges ``weir_job_<name>{group, step}`` for a textfile collector.

    ``values`` are the step's figures (``seconds``, ``rows``, ``items_written`` ...). Always written:
    ``weir_job_success`` (1/0) and ``weir_job_finished_timestamp_seconds``; on success also
    ``weir_job_last_success_timestamp_seconds``, which the "publish not done for a day" alert reads. The file is
    ``<textfile_dir>/weir_<step>_<group>.prom``, replaced atomically; with ``pushgateway`` the same samples are
    pushed under job ``weir_<step>`` and grouping key ``group``.
    """
    registry = CollectorRegistry()
    labels = {"group": group, "step": step}

    def gauge(name: str, doc: str, value: float) -> None:
        Gauge(name, doc, list(labels), registry=registry).labels(**labels).set(value)

    gauge("weir_job_success", "1 if the step's last run succeeded, else 0", 1.0 if success else 0.0)
    gauge("weir_job_finished_timestamp_seconds", "When the step's last run finished", finished_at)
    if success:
        gauge("weir_job_last_success_timestamp_seconds", "When the step last succeeded", finished_at)
    for name, value in sorted(values.items()):
        gauge(f"weir_job_{name}", f"The step's last run: {name.replace('_', ' ')}", float(value))
    textfile_dir.mkdir(parents=True, exist_ok=True)
    path = textfile_dir / f"weir_{step}_{group}.prom"
    if not success and path.exists():  # keep the last success time across a failure
        last = _last_success(path)
        if last is not None:
            gauge("weir_job_last_success_timestamp_seconds", "When the step last succeeded", last)
    write_to_textfile(str(path), registry)
    if pushgateway:
        push_to_gateway(pushgateway, job=f"weir_{step}", registry=registry, grouping_key={"group": group})
    return path


def _last_success(path: Path) -> float | None:
    for line in path.read_text().splitlines():
        if line.startswith("weir_job_last_success_timestamp_seconds{"):
            return float(line.rsplit(" ", 1)[1])
    return None

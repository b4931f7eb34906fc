"""``weir stream GROUP`` (the streaming job) and ``weir produce GROUP`` (a demo Kafka producer)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from weir.cli.specs import load_group
from weir.runtime import load_config

if TYPE_CHECKING:
    from weir.stream.job import StreamOptions


def stream_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options of every streaming command: ``--available-now``, ``--trigger-seconds``,
    ``--max-offsets-per-trigger`` (read them with :func:`options_from`)."""
    for option in reversed([
        click.option("--available-now", is_flag=True, help="drain what is in the topic now, then stop"),
        click.option("--trigger-seconds", type=float, default=10.0, show_default=True,
                     help="micro-batch interval (ignored with --available-now)"),
        click.option("--max-offsets-per-trigger", type=int, default=50_000, show_default=True,
                     help="at most this many Kafka records per micro-batch")]):
        command = option(command)
    return command


def options_from(available_now: bool, trigger_seconds: float, max_offsets_per_trigger: int) -> StreamOptions:
    """:func:`stream_options`' values as the job's options; a trigger that is not positive is a usage error."""
    from weir.stream.job import StreamOptions

    if trigger_seconds <= 0:
        raise click.BadParameter("must be > 0", param_hint="--trigger-seconds")
    return StreamOptions(trigger_seconds=trigger_seconds, available_now=available_now,
                         max_offsets_per_trigger=max_offsets_per_trigger or None)


def trigger_text(options: StreamOptions) -> str:
    """How the command says it runs: `available-now` or `every <n>s`."""
    return "available-now" if options.available_now else f"every {options.trigger_seconds:g}s"


@click.command("stream")
@click.argument("group")
@stream_options
@click.option("--metrics-port", type=int, default=None,
              help="expose Prometheus metrics (batches, lag, up) on this port at /metrics")
@click.option("--metrics-host", default="127.0.0.1", show_default=True, help="address of the metrics endpoint")
def stream_cmd(group: str, available_now: bool, trigger_seconds: float, max_offsets_per_trigger: int,
               metrics_port: int | None, metrics_host: str) -> None:
    """Run GROUP's streaming job: Kafka -> the online store first, then the event log, dead letters and late
    events."""
    from weir import metrics
    from weir.spark import get_spark
    from weir.stream.job import run_stream
    from weir.stream.monitor import StreamMonitor, active_query_progress

    g = load_group(group)
    if g.source.kafka is None:
        raise click.ClickException(f"group '{g.name}' has no source.kafka topic; add one to {g.path} to stream it")
    options = options_from(available_now, trigger_seconds, max_offsets_per_trigger)
    config = load_config()
    click.echo(f"streaming {g.name} from topic {g.source.kafka.topic} ({trigger_text(options)})")
    spark = get_spark(f"weir-stream-{g.name}", config)
    monitor = None
    if metrics_port is not None:
        metrics.start_metrics_server(metrics_port, metrics_host)
        metrics.declare_slos([g])
        monitor = StreamMonitor(config, g.name, g.source.kafka.topic,
                                active_query_progress(spark, f"weir_stream_{g.name}")).start()
        click.echo(f"metrics on http://{metrics_host}:{metrics_port}/metrics")
    try:
        processor = run_stream(spark, g, config, options,
                               on_batch=metrics.record_stream_batch if metrics_port is not None else None)
    finally:
        if monitor is not None:
            monitor.stop()
    if processor.last is not None:
        click.echo(processor.last.line())


@click.command("produce")
@click.argument("group")
@click.option("--rate", type=float, default=10.0, show_default=True, help="events per second")
@click.option("--seconds", type=float, default=60.0, show_default=True, help="how long to produce")
@click.option("--seed", type=int, default=7, show_default=True)
def produce_cmd(group: str, rate: float, seconds: float, seed: int) -> None:
    """Produce live demo transactions to GROUP's Kafka topic at RATE events/s for SECONDS."""
    from datetime import UTC, datetime

    from weir.demo.generator import iter_transactions_live
    from weir.stream.producer import produce_live, topic_of

    g = load_group(group)
    try:
        topic = topic_of(g)
        events = iter_transactions_live(seed, datetime.now(UTC).replace(tzinfo=None), rate)
        n = produce_live(load_config(), g, events, rate, seconds)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"produced {n} events to {topic}")


COMMANDS = [stream_cmd, produce_cmd]

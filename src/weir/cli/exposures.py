"""``weir experiments stream-exposures``: the exposure topic into the lake's ``exposures`` table
(:mod:`weir.stream.exposures`)."""

from __future__ import annotations

import click

from weir.runtime import load_config


@click.command("stream-exposures")
@click.option("--available-now", is_flag=True, help="drain what is in the topic now, then stop")
@click.option("--trigger-seconds", type=float, default=10.0, show_default=True,
              help="micro-batch interval (ignored with --available-now)")
@click.option("--max-offsets-per-trigger", type=int, default=50_000, show_default=True,
              help="at most this many Kafka records per micro-batch")
@click.option("--topic", default=None, help="the exposure topic [default: weir_exposures]")
def stream_exposures_cmd(available_now: bool, trigger_seconds: float, max_offsets_per_trigger: int,
                         topic: str | None) -> None:
    """Stream the weir_exposures topic into the Delta exposures table: exactly once, each exposure_id once,
    malformed records to deadletter/_exposures."""
    from weir.experiments.exposures import EXPOSURES_TOPIC
    from weir.spark import get_spark
    from weir.stream.exposures import run_exposure_stream
    from weir.stream.job import StreamOptions

    if trigger_seconds <= 0:
        raise click.BadParameter("must be > 0", param_hint="--trigger-seconds")
    config = load_config()
    options = StreamOptions(trigger_seconds=trigger_seconds, available_now=available_now,
                            max_offsets_per_trigger=max_offsets_per_trigger or None)
    topic = topic or EXPOSURES_TOPIC
    click.echo(f"streaming exposures from topic {topic} "
               f"({'available-now' if available_now else f'every {trigger_seconds:g}s'})")
    processor = run_exposure_stream(get_spark("weir-stream-exposures", config), config, options, topic=topic)
    if processor.last is not None:
        click.echo(f"last batch {processor.last.batch_id}: {processor.last.entities_written} exposures written")

"""``weir experiments stream-exposures``: the exposure topic into the lake's ``exposures`` table
(:mod:`weir.stream.exposures`)."""

from __future__ import annotations

import click

from weir.cli.stream import options_from, stream_options, trigger_text
from weir.runtime import load_config


@click.command("stream-exposures")
@stream_options
@click.option("--topic", default=None, help="the exposure topic [default: weir_exposures]")
def stream_exposures_cmd(available_now: bool, trigger_seconds: float, max_offsets_per_trigger: int,
                         topic: str | None) -> None:
    """Stream the weir_exposures topic into the Delta exposures table: exactly once, each exposure_id once,
    malformed records to deadletter/_exposures."""
    from weir.experiments.exposures import EXPOSURES_TOPIC
    from weir.spark import get_spark
    from weir.stream.exposures import run_exposure_stream

    options = options_from(available_now, trigger_seconds, max_offsets_per_trigger)
    config = load_config()
    topic = topic or EXPOSURES_TOPIC
    click.echo(f"streaming exposures from topic {topic} ({trigger_text(options)})")
    processor = run_exposure_stream(get_spark("weir-stream-exposures", config), config, options, topic=topic)
    if processor.last is not None:
        click.echo(f"last batch {processor.last.batch_id}: {processor.last.entities_written} exposures written")

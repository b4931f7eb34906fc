"""``weir smoke``: prove every part of the local stack works together."""

from __future__ import annotations

import click

from weir.runtime import load_config


@click.command("smoke")
def smoke() -> None:
    """Kafka -> Spark -> Delta (with time travel) -> DynamoDB, on the configured stack."""
    from weir.smoke import run_smoke

    for line in run_smoke(load_config()):
        click.echo(line)


COMMANDS = [smoke]

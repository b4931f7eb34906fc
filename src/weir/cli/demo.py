"""``weir demo``: the main job end to end on the configured stack."""

from __future__ import annotations

import click

from weir.runtime import load_config


@click.command("demo")
def demo() -> None:
    """Run the demo pipeline on the local stack (start it first with `weir dev up`)."""
    from weir.smoke import run_smoke

    config = load_config()
    click.echo("== smoke: every part of the stack")
    for line in run_smoke(config):
        click.echo("   " + line)


COMMANDS = [demo]

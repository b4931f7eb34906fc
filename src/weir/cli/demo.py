"""``weir demo``: the main job end to end on the configured stack."""

from __future__ import annotations

import click

from weir.demo.pipeline import DemoSettings
from weir.runtime import load_config

_DEMO = DemoSettings.model_fields


@click.command("demo")
@click.option("--days", default=_DEMO["days"].default, show_default=True, help=_DEMO["days"].description)
@click.option("--users", default=_DEMO["users"].default, show_default=True, help=_DEMO["users"].description)
@click.option("--smoke/--no-smoke", default=True, show_default=True, help="first prove each part of the stack")
def demo(days: int, users: int, smoke: bool) -> None:
    """Generate credit data, backfill, validate, publish and serve every feature group (stack: `weir dev up`)."""
    from weir.demo.pipeline import run_demo
    from weir.smoke import run_smoke

    config = load_config()
    if smoke:
        click.echo("== 0. smoke: every part of the stack")
        for line in run_smoke(config):
            click.echo("   " + line)
    run_demo(config, DemoSettings(days=days, users=users), echo=click.echo)


COMMANDS = [demo]

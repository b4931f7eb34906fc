"""``weir demo``: the main job end to end on the configured stack."""

from __future__ import annotations

import click

from weir.runtime import load_config


@click.command("demo")
@click.option("--days", default=35, show_default=True, help="days of synthetic history")
@click.option("--users", default=2000, show_default=True)
@click.option("--smoke/--no-smoke", default=True, show_default=True, help="first prove each part of the stack")
def demo(days: int, users: int, smoke: bool) -> None:
    """Generate credit data, backfill, validate, publish and serve every feature group (stack: `weir dev up`)."""
    from weir.demo.pipeline import DemoSettings, run_demo
    from weir.smoke import run_smoke

    config = load_config()
    if smoke:
        click.echo("== 0. smoke: every part of the stack")
        for line in run_smoke(config):
            click.echo("   " + line)
    run_demo(config, DemoSettings(days=days, users=users), echo=click.echo)


COMMANDS = [demo]

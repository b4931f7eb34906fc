"""``weir dev up | down | status``: the embedded local stack."""

from __future__ import annotations

import click

from weir.devstack import stack_down, stack_status, stack_up
from weir.process import DevStackError
from weir.runtime import load_config


@click.group("dev")
def dev() -> None:
    """Start, stop and inspect the local stack (Kafka broker, DynamoDB-compatible server)."""


@dev.command("up")
def up() -> None:
    """Start every local service in the background and wait until each is healthy."""
    config = load_config()
    try:
        services = stack_up(config)
    except DevStackError as exc:
        raise click.ClickException(str(exc)) from None
    for s in services:
        click.echo(f"{s.name:<9} up   pid {s.pid:<7} {s.endpoint}")
    click.echo(f"state dir: {config.state_dir}   lake: {config.lake}")


@dev.command("prometheus")
@click.option("--interval", type=float, default=15.0, show_default=True, help="scrape and rule interval (s)")
def prometheus(interval: float) -> None:
    """Start Prometheus with Weir's alert rules, scraping `weir serve` (:8000) and `weir stream --metrics-port
    9108`; `weir dev down` stops it."""
    from weir.devstack.prometheus import DEFAULT_TARGETS, alerts_page, prometheus_url, start_prometheus

    config = load_config()
    try:
        pid = start_prometheus(config, DEFAULT_TARGETS, interval)
    except DevStackError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"prometheus up   pid {pid:<7} {prometheus_url(config)} (alerts: {alerts_page(config)})")


@dev.command("down")
def down() -> None:
    """Stop exactly the services `weir dev up` started (by pid file). Harmless when nothing runs."""
    from weir.devstack.prometheus import stop_prometheus

    config = load_config()
    stopped = stack_down(config)
    if stop_prometheus(config):
        stopped.append("prometheus")
    click.echo("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))


@dev.command("status")
def status() -> None:
    """Tell which local services run, with their pids and endpoints; exit 1 if any is down."""
    services = stack_status(load_config())
    for s in services:
        state = f"up   pid {s.pid}" if s.running else "down"
        click.echo(f"{s.name:<9} {state:<14} {s.endpoint}")
    if not all(s.running for s in services):
        raise SystemExit(1)


COMMANDS = [dev]

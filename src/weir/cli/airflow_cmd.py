"""``weir airflow up | down | status``: a local Airflow running Weir's DAGs and the Weir view."""

from __future__ import annotations

import click

from weir.runtime import load_config


@click.group("airflow")
def airflow_group() -> None:
    """A local Airflow (standalone, SQLite under WEIR_AIRFLOW_HOME) with Weir's DAGs and plugin."""


def _print_login(url: str, password_file: str) -> None:
    click.echo(f"Airflow UI:  {url}   (Weir view: {url}/weir/)")
    click.echo(f"login:       admin, password in {password_file}")


@airflow_group.command("up")
@click.option("--timeout", default=180.0, show_default=True, help="seconds to wait until Airflow is healthy")
def up(timeout: float) -> None:
    """Start api-server, scheduler, dag-processor and triggerer (airflow standalone) in the background."""
    from weir.airflow.local import airflow_home, airflow_up, log_file, password_file
    from weir.process import DevStackError

    config = load_config()
    click.echo(f"starting Airflow (home {airflow_home(config)}, dags {config.project_root / 'dags'}) ...")
    try:
        status = airflow_up(config, timeout_s=timeout)
    except DevStackError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"airflow: running (pid {status.pid}), {status.detail}; log {log_file(config)}")
    _print_login(status.url, str(password_file(config)))
    click.echo("new DAGs start paused: unpause them in the UI or with `airflow dags unpause weir__<group>`")


@airflow_group.command("down")
def down() -> None:
    """Stop the local Airflow started by `weir airflow up` (harmless if none runs)."""
    from weir.airflow.local import airflow_down

    click.echo("airflow: stopped" if airflow_down(load_config()) else "airflow: was not running")


@airflow_group.command("status")
def status() -> None:
    """Whether the local Airflow runs and is healthy."""
    from weir.airflow.local import airflow_status, password_file

    config = load_config()
    s = airflow_status(config)
    if not s.running:
        click.echo("airflow: not running (start it with `weir airflow up`)")
        raise SystemExit(1)
    click.echo(f"airflow: running (pid {s.pid}), {'healthy' if s.healthy else 'NOT healthy'}: {s.detail}")
    _print_login(s.url, str(password_file(config)))


COMMANDS = [airflow_group]

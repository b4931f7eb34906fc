"""``weir backfill`` and ``weir compute``: the batch engine from the command line."""

from __future__ import annotations

from datetime import date, datetime

import click

from weir.cli.specs import load_group
from weir.runtime import load_config


def parse_date(value: str, option: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date; use YYYY-MM-DD", param_hint=option) from None


@click.command("backfill")
@click.argument("group")
@click.option("--start", required=True, help="first day (YYYY-MM-DD), inclusive")
@click.option("--end", required=True, help="last day (YYYY-MM-DD), inclusive")
@click.option("--chunk-days", default=7, show_default=True, help="days computed per Spark pass")
def backfill_cmd(group: str, start: str, end: str, chunk_days: int) -> None:
    """Compute GROUP's tiles and feature rows for every day START..END from its Delta source."""
    from weir.batch import SourceSchemaError, backfill
    from weir.batch.conflicts import ConcurrentRunError
    from weir.spark import get_spark

    g = load_group(group)
    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    if last < first:
        raise click.BadParameter(f"--end {end} is before --start {start}", param_hint="--end")
    try:
        summary = backfill(get_spark(f"weir-backfill-{g.name}"), g, first, last, load_config(),
                           chunk_days=chunk_days, progress=True)
    except (SourceSchemaError, ConcurrentRunError) as exc:
        raise click.ClickException(str(exc)) from None
    for line in summary.lines():
        click.echo(line)


@click.command("compute")
@click.argument("group")
@click.option("--date", "ds", required=True, help="the day to compute (YYYY-MM-DD); features as of its end")
def compute_cmd(group: str, ds: str) -> None:
    """The daily (incremental) compute step of GROUP for one day: that day's events plus the stored tiles."""
    from weir.batch import SourceSchemaError, run_day
    from weir.batch.conflicts import ConcurrentRunError
    from weir.spark import get_spark

    g = load_group(group)
    try:
        summary = run_day(get_spark(f"weir-run-{g.name}"), g, parse_date(ds, "--date"), load_config())
    except (SourceSchemaError, ConcurrentRunError) as exc:
        raise click.ClickException(str(exc)) from None
    for line in summary.lines():
        click.echo(line)


#: ``weir run``, the step's name before it was ``compute`` everywhere (hidden from ``--help``)
run_alias = click.Command("run", params=compute_cmd.params, callback=compute_cmd.callback, hidden=True,
                          help=compute_cmd.help)

COMMANDS = [backfill_cmd, compute_cmd, run_alias]

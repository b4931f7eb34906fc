"""``weir validate-data GROUP --date D``: run a feature group's Great Expectations gate on one day."""

from __future__ import annotations

from datetime import datetime

import click

from weir.runtime import load_config


@click.command("validate-data")
@click.argument("group")
@click.option("--date", "ds", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="partition ds of the feature table to validate")
@click.option("--volume-tolerance", type=float, default=0.5, show_default=True,
              help="allowed row-count change vs the previous partition, as a fraction (0.5 = +-50%)")
@click.option("--no-volume-check", is_flag=True, help="skip the row-count comparison with the previous run")
@click.option("--no-record", is_flag=True, help="do not append the result to _weir/validation_runs")
@click.option("--gx-data-docs", is_flag=True, help="also build GX's own Data Docs site (loads CSS/JS from CDNs)")
def validate_data(group: str, ds: datetime, volume_tolerance: float, no_volume_check: bool, no_record: bool,
                  gx_data_docs: bool) -> None:
    """Validate GROUP's feature table partition --date; exit 1 when any expectation fails."""
    from weir.validate._gx import quiet_gx

    quiet_gx()
    from weir.spark import get_spark
    from weir.spec.errors import SpecError
    from weir.validate.gate import FeatureTableMissing, validate_day

    config = load_config()
    spark = get_spark(f"weir-validate-{group}", config)
    try:
        outcome = validate_day(spark, group, ds.date(), config,
                               volume_tolerance=None if no_volume_check else volume_tolerance,
                               record=not no_record, gx_data_docs=gx_data_docs)
    except (SpecError, FeatureTableMissing) as exc:
        raise click.ClickException(str(exc)) from None
    for line in outcome.summary_lines():
        click.echo(line)
    if not outcome.success:
        raise SystemExit(1)


COMMANDS = [validate_data]

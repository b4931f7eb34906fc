"""``weir maintain [GROUP ...]``: compact and vacuum Weir's tables, keeping training sets' pinned versions."""

from __future__ import annotations

import click

from weir.runtime import load_config


@click.command("maintain")
@click.argument("groups", nargs=-1)
@click.option("--retention-hours", type=float, default=168.0, show_default=True,
              help="VACUUM keeps files removed within this many hours (stretched to keep pinned versions)")
@click.option("--no-optimize", is_flag=True, help="skip compaction")
@click.option("--no-vacuum", is_flag=True, help="skip VACUUM")
@click.option("--ignore-pins", is_flag=True,
              help="vacuum even files that training sets' pinned versions need (those sets stop rebuilding)")
def maintain_cmd(groups: tuple[str, ...], retention_hours: float, no_optimize: bool, no_vacuum: bool,
                 ignore_pins: bool) -> None:
    """Compact (OPTIMIZE) and VACUUM the tables of GROUPS (default: every group) and Weir's internal tables."""
    from weir.cli.specs import load_group, specs_dir
    from weir.lake.maintenance import maintain, maintenance_lines
    from weir.spark import get_spark
    from weir.spec import load_specs

    config = load_config()
    chosen = [load_group(g) for g in groups] if groups else load_specs(specs_dir())
    click.echo(f"maintaining {len(chosen)} group(s): {', '.join(g.name for g in chosen)}")
    reports = maintain(get_spark("weir-maintain", config), config, chosen, retention_hours,
                       optimize=not no_optimize, vacuum=not no_vacuum, ignore_pins=ignore_pins)
    for line in maintenance_lines(reports):
        click.echo(line)


COMMANDS = [maintain_cmd]

"""``weir validate | list | describe``: the feature-spec catalog."""

from __future__ import annotations

from pathlib import Path

import click

from weir.runtime import load_config
from weir.spec import SpecError, find_spec, load_specs, validate_specs


def specs_dir(path: str | None = None) -> Path:
    return Path(path) if path else load_config().specs_dir


def load_group(name: str):  # type: ignore[no-untyped-def]  # returns FeatureGroup
    """The group ``name`` (or a spec file path) from the configured specs dir, as a click error if unknown."""
    try:
        return find_spec(name, specs_dir())
    except SpecError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("validate")
@click.argument("path", required=False)
def validate(path: str | None) -> None:
    """Check every spec under PATH (default: feature_specs/); list each error with file, line, field and fix."""
    target = specs_dir(path)
    errors = validate_specs(target)
    if errors:
        for e in errors:
            click.echo(str(e), err=True)
        raise click.ClickException(f"{len(errors)} problem(s) in {target}")
    groups = load_specs(target)
    click.echo(f"ok: {len(groups)} feature group(s) in {target}: {', '.join(g.name for g in groups)}")


@click.command("list")
def list_groups() -> None:
    """The catalog: every feature group with its entity, source, owner and schedule."""
    from rich.console import Console
    from rich.table import Table

    try:
        groups = load_specs(specs_dir())
    except SpecError as exc:
        raise click.ClickException(str(exc)) from None
    table = Table("group", "entity (keys)", "source", "features", "owner", "schedule")
    for g in groups:
        src = " + ".join(s for s in (g.source.delta and f"delta:{g.source.delta}",
                                     g.source.kafka and f"kafka:{g.source.kafka.topic}") if s)
        table.add_row(g.name, f"{g.entity.name} ({', '.join(g.key_columns)})", src,
                      str(len(g.output_columns())), g.owner or "", g.schedule or "")
    Console().print(table)


@click.command("describe")
@click.argument("group")
def describe(group: str) -> None:
    """Every output column of GROUP with its aggregation, column, window, hop and filter."""
    from rich.console import Console
    from rich.table import Table

    from weir.catalog import table_name
    from weir.compute.windows import feature_windows, format_duration_us
    from weir.lake.paths import features_path, tiles_path

    g = load_group(group)
    config = load_config()
    console = Console()
    console.print(f"[bold]{g.name}[/bold]  {g.description}")
    console.print(f"owner {g.owner}  entity {g.entity.name} keys {g.key_columns}  schedule {g.schedule}  "
                  f"online ttl {g.online.ttl}  spec {g.path}")
    console.print(f"source delta={g.source.delta} kafka={g.source.kafka.topic if g.source.kafka else None} "
                  f"event_time={g.event_time}")
    console.print(f"tables {table_name(config, 'features', g.name)} ({features_path(config, g.name)}), "
                  f"{table_name(config, 'tiles', g.name)} ({tiles_path(config, g.name)})", soft_wrap=True)
    table = Table("column", "aggregation", "of", "window", "hop", "where")
    for w in feature_windows(g):
        f = w.feature
        table.add_row(w.column, f.aggregation.value, f.column or "*", w.label or "lifetime",
                      format_duration_us(w.hop_us), f.where or "")
    console.print(table)


COMMANDS = [validate, list_groups, describe]

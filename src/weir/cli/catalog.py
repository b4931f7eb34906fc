"""``weir catalog register | list``: Weir's tables as named catalog tables (``spark.table("weir.user_spend")``)."""

from __future__ import annotations

import click

from weir.runtime import load_config


@click.group("catalog")
def catalog() -> None:
    """Feature, tile and training-set tables in the Spark catalog, with comments, owner and tags."""


@catalog.command("register")
@click.argument("groups", nargs=-1)
def register_cmd(groups: tuple[str, ...]) -> None:
    """Register the tables of GROUPS (default: every spec) and every written training set. Idempotent."""
    from weir.catalog import register
    from weir.cli.specs import load_group, specs_dir
    from weir.spark import get_spark
    from weir.spec import SpecError, load_specs

    config = load_config()
    try:
        specs = [load_group(g) for g in groups] if groups else load_specs(specs_dir())
    except SpecError as exc:
        raise click.ClickException(str(exc)) from None
    entries = register(get_spark("weir-catalog", config), specs, config)
    for e in entries:
        click.echo(f"{e.name}\t{e.kind}\t{e.path}")
    where = "metastore" if config.catalog_metastore_uri else "session catalog (attached again at each session start)"
    click.echo(f"registered {len(entries)} table(s) in the {where}")


COMMANDS = [catalog]

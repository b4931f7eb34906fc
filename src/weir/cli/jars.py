"""``weir jars resolve``: fetch Spark's extra jars once (``make setup`` runs it), so sessions never resolve."""

from __future__ import annotations

import click

from weir.runtime import load_config


@click.group("jars")
def jars_cmd() -> None:
    """Spark's extra jars (Delta Lake, the Kafka connector), resolved into the state dir."""


@jars_cmd.command("resolve")
def resolve_cmd() -> None:
    """Resolve the jars from Maven Central (or WEIR_MAVEN_REPO) unless this checkout has them already."""
    from weir.spark_jars import SparkJarsError, jars_dir, spark_jars

    config = load_config()
    try:
        jars = spark_jars(config)
    except SparkJarsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{len(jars)} Spark jars in {jars_dir(config)}")


COMMANDS = [jars_cmd]

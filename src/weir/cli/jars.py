"""``weir jars resolve``: fetch Spark's extra jars once (``make setup`` runs it), so sessions never resolve."""

from __future__ import annotations

import click

from weir.runtime import load_config


@click.group("jars")
def jars_cmd() -> None:
    """Spark's extra jars (Delta Lake, the Kafka connector), resolved into the state dir."""


@jars_cmd.command("resolve")
@click.option("--s3a", is_flag=True, help="also the set with hadoop-aws and its AWS SDK bundle (a lake on "
              "s3a://; resolved anyway when WEIR_LAKE_PATH or WEIR_CHECKPOINT_PATH is on s3a://)")
def resolve_cmd(s3a: bool) -> None:
    """Resolve the jars from Maven Central (or WEIR_MAVEN_REPO) unless this checkout has them already."""
    from weir.spark_jars import SparkJarsError, jars_dir, spark_jars, spark_packages

    config = load_config()
    sets = [spark_packages(config)] + ([spark_packages(config, s3a=True)] if s3a and not config.uses_s3a else [])
    for packages in sets:
        try:
            jars = spark_jars(config, packages)
        except SparkJarsError as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"{len(jars)} Spark jars in {jars_dir(config, packages)}")


COMMANDS = [jars_cmd]

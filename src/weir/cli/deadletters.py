"""``weir deadletters list | show | replay GROUP``: look at a group's dead letters and replay them once fixed."""

from __future__ import annotations

from datetime import datetime

import click

from weir.cli.specs import load_group
from weir.runtime import load_config

_since = click.option("--since", type=click.DateTime(), default=None,
                      help="only dead letters written at or after this time (UTC)")
_reason = click.option("--reason", default=None, help="only dead letters whose reason contains this text")


@click.group("deadletters")
def deadletters() -> None:
    """A streaming group's dead-letter table: counts by reason, records, and exactly-once replay."""


@deadletters.command("list")
@click.argument("group")
@_since
@_reason
def list_cmd(group: str, since: datetime | None, reason: str | None) -> None:
    """Dead letters of GROUP counted by reason, replayed or not."""
    from pyspark.sql import functions as F

    df = _selected(group, since, reason)
    rows = (df.groupBy("reason", "replayed").agg(F.count(F.lit(1)).alias("n"),
                                                  F.max("dead_lettered_at").alias("newest"))
            .orderBy(F.col("n").desc()).collect())
    if not rows:
        click.echo("no dead letters")
    for r in rows:
        state = "replayed" if r["replayed"] else "pending "
        click.echo(f"{r['n']:>8}  {state}  newest {r['newest']:%Y-%m-%d %H:%M:%S}  {r['reason']}")


@deadletters.command("show")
@click.argument("group")
@_since
@_reason
@click.option("--limit", type=int, default=20, show_default=True)
def show_cmd(group: str, since: datetime | None, reason: str | None, limit: int) -> None:
    """The newest dead letters of GROUP: Kafka position, reason and the raw record."""
    for r in _selected(group, since, reason).limit(limit).collect():
        raw = bytes(r["value"] or b"").decode("utf-8", errors="replace")
        click.echo(f"{r['topic']}[{r['partition']}]@{r['offset']}  {r['dead_lettered_at']:%Y-%m-%d %H:%M:%S}  "
                   f"{'replayed' if r['replayed'] else 'pending'}  {r['reason']}\n    {raw[:500]}")


@deadletters.command("replay")
@click.argument("group")
@_since
@_reason
def replay_cmd(group: str, since: datetime | None, reason: str | None) -> None:
    """Send GROUP's pending dead letters back through the stream's parse and merge path, exactly once."""
    from weir.spark import get_spark
    from weir.stream.replay import replay

    g = load_group(group)
    config = load_config()
    click.echo(f"replaying dead letters of {g.name} ...")
    result = replay(get_spark(f"weir-replay-{g.name}", config), config, g, since, reason)
    if result.replay_id is None:
        click.echo("nothing to replay: every selected dead letter was replayed before")
        return
    click.echo(f"replay {result.replay_id}: {result.selected} record(s); {result.now_valid} now valid, "
               f"{result.still_invalid} still invalid (dead-lettered again)")


def _selected(group: str, since: datetime | None, reason: str | None):  # type: ignore[no-untyped-def]
    from weir.spark import get_spark
    from weir.stream.replay import dead_letters

    g = load_group(group)
    config = load_config()
    try:
        return dead_letters(get_spark(f"weir-deadletters-{g.name}", config), config, g, since, reason)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None


COMMANDS = [deadletters]

"""``weir training-set``: a point-in-time-correct training set written as a Delta table."""

from __future__ import annotations

import click

from weir.runtime import load_config


@click.command("training-set")
@click.option("--spine", required=True, help="Delta table (path) with entity keys, a timestamp and labels")
@click.option("--features", required=True, multiple=True,
              help="group or group:column; repeat or comma-separate (e.g. user_spend:txn_amount_sum_7d)")
@click.option("--out", required=True, help="output Delta path")
@click.option("--timestamp-col", default="ts", show_default=True, help="the spine's time column")
def training_set(spine: str, features: tuple[str, ...], out: str, timestamp_col: str) -> None:
    """Join every requested feature to each spine row as of that row's time (no future values)."""
    from weir.training import TrainingSetError, build, write_training_set

    refs = [r.strip() for f in features for r in f.split(",") if r.strip()]
    try:
        ts = build(spine, refs, timestamp_col=timestamp_col, config=load_config())
    except TrainingSetError as exc:
        raise click.ClickException(str(exc)) from None
    version = write_training_set(ts, out)
    click.echo(f"wrote {out} (Delta version {version}); lineage: {ts.lineage['groups']}")


COMMANDS = [training_set]

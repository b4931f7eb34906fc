"""The demo: synthetic credit data into Delta, then every feature group backfilled, validated, published, served."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from weir.lake.paths import FEATURES
from weir.runtime import RuntimeConfig

if TYPE_CHECKING:
    from weir.demo.generator import DemoData

Echo = Callable[[str], None]


class DemoSettings(BaseModel):
    """The demo's synthetic history: defaults, bounds and the CLI's help text in one place."""

    model_config = ConfigDict(frozen=True)

    seed: int = Field(7, description="seed of the generator: the same seed, the same data")
    days: int = Field(35, ge=1, description="days of synthetic history")
    users: int = Field(2000, ge=1, description="customers")
    merchants: int = Field(300, ge=1, description="merchants")
    txns_per_user_per_day: float = Field(1.5, ge=0, description="mean card transactions per customer and day")
    end: date = Field(date(2026, 11, 1), description="fixed, so the demo is reproducible (the last computed day "
                                                    "is end - 1)")

    @property
    def start(self) -> date:
        return self.end - timedelta(days=self.days)

    def generate(self) -> DemoData:
        """The demo's tables for these settings."""
        from weir.demo.generator import generate

        return generate(self.seed, datetime.combine(self.start, datetime.min.time()), self.days, self.users,
                        self.merchants, self.txns_per_user_per_day)


def run_demo(config: RuntimeConfig, settings: DemoSettings | None = None, echo: Echo = print) -> None:
    """Generate data, backfill all groups, gate each day's batch with GX, publish the last day, read it back;
    then stream live events and show the served value change seconds later."""
    settings = settings or DemoSettings()
    from weir.batch import backfill
    from weir.demo import write_demo_tables
    from weir.online import OnlineClient
    from weir.online.publish import publish
    from weir.spark import get_spark
    from weir.spec import load_specs
    from weir.validate import gate_or_raise, validate_day

    spark = get_spark("weir-demo", config)
    echo(f"== 1. synthetic credit data: {settings.users} users, {settings.merchants} merchants, "
         f"{settings.days} days from {settings.start} (seed {settings.seed})")
    data = settings.generate()
    for name, path in write_demo_tables(spark, data, config.lake).items():
        echo(f"   {name:<13} {len(data.tables()[name]):>9,} rows -> {path}")

    groups = load_specs(config.specs_dir)
    last_day = settings.end - timedelta(days=1)
    for group in groups:
        echo(f"== 2. backfill {group.name} {settings.start} .. {last_day}")
        summary = backfill(spark, group, settings.start, last_day, config, chunk_days=settings.days, progress=True)
        for line in summary.lines():
            echo("   " + line)
        echo(f"== 3. validate {group.name} {last_day} (Great Expectations)")
        outcome = validate_day(spark, group, last_day, config)
        for line in outcome.summary_lines():
            echo("   " + line)
        gate_or_raise(outcome)
        echo(f"== 4. publish {group.name} {last_day} to DynamoDB (newest wins)")
        published = publish(spark, group, last_day, config, progress=True)
        for line in published.lines():
            echo("   " + line)

    echo("== 5. online reads (windows slide with read time)")
    client = OnlineClient(config, groups=groups)
    as_of = datetime.combine(settings.end, datetime.min.time())
    sample_users = ["u000001", "u000002", "u000003"]
    for when in (as_of, as_of + timedelta(days=1)):
        echo(f"   read at {when.isoformat()}Z")
        for ent in client.get_features(["user_spend:txn_count_1d", "user_spend:txn_amount_sum_7d",
                                        "user_spend:last_merchant_last"], sample_users, at=when):
            g = ent.groups["user_spend"]
            echo(f"     {ent.entity}: {g.values}  newest event {g.event_ts}  stale={g.stale}")
    echo("== 6. live: a stream, and a served value changing seconds after its events")
    from weir.demo.live import run_live

    run_live(spark, config, echo=echo)
    echo("done: feature tables under " + config.table_path(FEATURES) + ", reports under "
         + str(config.state_dir / "reports"))
